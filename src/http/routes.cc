#include "http/routes.h"

namespace firstcome::http {

RouteMatch MatchRoute(std::string_view target) {
  RouteMatch m;
  if (std::size_t q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
  m.path = target;
  if (target == "/healthz") {
    m.route = Route::kHealthz;
    return m;
  }
  if (target == "/metrics") {
    m.route = Route::kMetrics;
    return m;
  }
  if (target == "/dashboard" || target == "/dashboard/dashboard.js" ||
      target == "/dashboard/dashboard.css") {
    m.route = Route::kDashboard;
    return m;
  }
  if (target == "/api/v1/openapi.json") {
    m.route = Route::kOpenApi;
    return m;
  }
  constexpr std::string_view kEvents = "/api/v1/events";
  if (target.substr(0, kEvents.size()) != kEvents) return m;
  std::string_view rest = target.substr(kEvents.size());
  if (rest.empty()) {
    m.route = Route::kEvents;
    return m;
  }
  if (rest.front() != '/') return m;
  rest.remove_prefix(1);
  // At most four segments follow: {id}, {id}/issue, {id}/users/{user_id},
  // {id}/failed/{seq}/retry, ... Empty segments ("//", a trailing '/') match
  // nothing.
  std::string_view seg[4];
  std::size_t n = 0;
  while (true) {
    if (n == 4) return m;
    std::size_t slash = rest.find('/');
    seg[n++] = rest.substr(0, slash);
    if (seg[n - 1].empty()) return m;
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  m.event_id = seg[0];
  if (n == 1) {
    m.route = Route::kEvent;
  } else if (n == 2 && seg[1] == "issue") {
    m.route = Route::kIssue;
  } else if (n == 3 && seg[1] == "users") {
    m.route = Route::kUserCoupons;
    m.user_id = seg[2];
  } else if (n == 2 && seg[1] == "close") {
    m.route = Route::kEventClose;
  } else if (n == 2 && seg[1] == "open") {
    m.route = Route::kEventOpen;
  } else if (n == 2 && seg[1] == "failed") {
    m.route = Route::kFailed;
  } else if (n == 3 && seg[1] == "coupons") {
    m.route = Route::kCoupon;
    m.seq = seg[2];
  } else if (n == 4 && seg[1] == "failed" && seg[3] == "retry") {
    m.route = Route::kFailedRetry;
    m.seq = seg[2];
  } else {
    m = RouteMatch{};
  }
  return m;
}

bool Allows(Route route, Method method) {
  switch (route) {
    case Route::kNotFound:
      return true;  // answered 404 whatever the method
    case Route::kEvents:
      return method == Method::kGet || method == Method::kPost;
    case Route::kEvent:
      return method == Method::kGet || method == Method::kPatch || method == Method::kDelete;
    case Route::kIssue:
    case Route::kEventClose:
    case Route::kEventOpen:
    case Route::kFailedRetry:
      return method == Method::kPost;
    case Route::kCoupon:
      return method == Method::kDelete;
    case Route::kHealthz:
    case Route::kMetrics:
    case Route::kUserCoupons:
    case Route::kDashboard:
    case Route::kOpenApi:
    case Route::kFailed:
      return method == Method::kGet;
  }
  return false;
}

const char* AllowHeader(Route route) {
  switch (route) {
    case Route::kEvents:
      return "GET, POST";
    case Route::kEvent:
      return "GET, PATCH, DELETE";
    case Route::kIssue:
    case Route::kEventClose:
    case Route::kEventOpen:
    case Route::kFailedRetry:
      return "POST";
    case Route::kCoupon:
      return "DELETE";
    default:
      return "GET";
  }
}

bool IsAdminCall(Route route, Method method) {
  // No default: a new route must say whether it is an admin call.
  switch (route) {
    case Route::kEvents:
      return method == Method::kPost;
    case Route::kDashboard:
    case Route::kOpenApi:
    case Route::kFailed:
      return method == Method::kGet;
    case Route::kEvent:
      return method == Method::kPatch || method == Method::kDelete;
    case Route::kEventClose:
    case Route::kEventOpen:
    case Route::kFailedRetry:
      return method == Method::kPost;
    case Route::kCoupon:
      return method == Method::kDelete;
    case Route::kNotFound:
    case Route::kHealthz:
    case Route::kMetrics:
    case Route::kIssue:
    case Route::kUserCoupons:
      return false;
  }
  return false;
}

const char* RouteName(Route route) {
  switch (route) {
    case Route::kNotFound:
      return "not_found";
    case Route::kHealthz:
      return "healthz";
    case Route::kMetrics:
      return "metrics";
    case Route::kEvents:
      return "events";
    case Route::kEvent:
      return "event";
    case Route::kIssue:
      return "issue";
    case Route::kUserCoupons:
      return "user_coupons";
    case Route::kDashboard:
      return "dashboard";
    case Route::kOpenApi:
      return "openapi";
    case Route::kEventClose:
      return "event_close";
    case Route::kEventOpen:
      return "event_open";
    case Route::kCoupon:
      return "coupon";
    case Route::kFailed:
      return "failed";
    case Route::kFailedRetry:
      return "failed_retry";
  }
  return "unknown";
}

namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::optional<std::string> QueryParameter(std::string_view target, std::string_view name) {
  const std::size_t q = target.find('?');
  if (q == std::string_view::npos) return std::nullopt;
  std::string_view query = target.substr(q + 1);
  if (std::size_t hash = query.find('#'); hash != std::string_view::npos) {
    query = query.substr(0, hash);
  }
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const std::size_t eq = pair.find('=');
    if (pair.substr(0, eq) != name) continue;
    std::string_view raw = eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    std::string value;
    value.reserve(raw.size());
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] != '%') {
        value += raw[i];
        continue;
      }
      if (i + 2 >= raw.size()) return std::nullopt;  // a cut escape
      const int hi = HexValue(raw[i + 1]), lo = HexValue(raw[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      value += static_cast<char>(hi * 16 + lo);
      i += 2;
    }
    return value;
  }
  return std::nullopt;
}

}  // namespace firstcome::http
