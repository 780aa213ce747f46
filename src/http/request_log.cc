// ApiHandler::Answered: the log lines about answered requests. Apart from
// api_handler.cc because it is the one place deciding what of a request is
// logged; everything else of the handler stays free of logging.
//
// What is logged: every admin call (who, what, the status; refusals at most
// kRefusalsPerSecond a second, so a flood of bad tokens cannot flood the
// log) and every 500. Each line carries the request id (core/log_context.h).
// Never logged: the Authorization header, the user header, bodies, the query
// string (the path stops at '?'), so no token, JWT or secret can reach a log.
// 503s and 429s are counted in /metrics, not logged one by one: under
// overload a line per request would make things worse.
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <string_view>

#include "core/log_context.h"
#include "http/api_handler.h"

namespace firstcome::http {

namespace {

constexpr std::size_t kMaxLoggedPath = 200;
constexpr std::int64_t kRefusalsPerSecond = 20;

const char* MethodName(Method m) {
  switch (m) {
    case Method::kGet:
      return "GET";
    case Method::kPost:
      return "POST";
    case Method::kPatch:
      return "PATCH";
    case Method::kDelete:
      return "DELETE";
    case Method::kOther:
      break;
  }
  return "other";
}

// The path of `target`: no query string, at most kMaxLoggedPath bytes.
std::string_view PathOf(std::string_view target) {
  target = target.substr(0, target.find('?'));
  return target.substr(0, kMaxLoggedPath);
}

// Admits at most kRefusalsPerSecond refusal lines per second (all threads);
// *suppressed gets how many the previous second left out.
bool RefusalLogAllowed(std::int64_t* suppressed) {
  static std::atomic<std::int64_t> window{0};
  static std::atomic<std::int64_t> used{0};
  static std::atomic<std::int64_t> dropped{0};
  const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::steady_clock::now().time_since_epoch())
                               .count();
  std::int64_t seen = window.load(std::memory_order_relaxed);
  if (seen != now && window.compare_exchange_strong(seen, now)) {
    used.store(0, std::memory_order_relaxed);
    *suppressed = dropped.exchange(0, std::memory_order_relaxed);
  }
  if (used.fetch_add(1, std::memory_order_relaxed) < kRefusalsPerSecond) return true;
  dropped.fetch_add(1, std::memory_order_relaxed);
  return false;
}

}  // namespace

void ApiHandler::Answered(const ApiRequest& request, const ApiCall& call,
                          const Reply& reply) const {
  if (!call.admin && reply.status != 500) return;  // the hot path ends here
  ScopedRequestId scope(reply.request_id);
  const std::string client = ClientOf(request).to_string();
  const std::string_view path = PathOf(request.target);
  if (!call.admin) {
    spdlog::error("http: {} {} answered 500 (client {})", MethodName(call.method), path, client);
    return;
  }
  if (reply.status < 400) {
    spdlog::info("admin: {} {} answered {} (client {})", MethodName(call.method), path,
                 reply.status, client);
    return;
  }
  std::int64_t suppressed = 0;
  const bool allowed = RefusalLogAllowed(&suppressed);
  if (suppressed > 0) {
    spdlog::warn("admin: {} more refused admin calls were not logged", suppressed);
  }
  if (!allowed) return;
  auto log = reply.status >= 500 ? spdlog::level::err : spdlog::level::warn;
  spdlog::log(log, "admin: {} {} answered {} (client {})", MethodName(call.method), path,
              reply.status, client);
}

}  // namespace firstcome::http
