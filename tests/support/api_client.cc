#include "support/api_client.h"

#include <thread>

#include "support/process.h"

namespace firstcome::test {

namespace {
std::string AdminAuthorization(const ApiEndpoint& api) {
  return api.admin_token.empty() ? "" : "Bearer " + api.admin_token;
}
}  // namespace

HttpResponse CreateEvent(const ApiEndpoint& api, const std::string& id, std::int64_t total,
                         int per_user) {
  boost::json::object body{{"id", id}, {"total", total}, {"per_user", per_user}};
  return HttpRequest(api.host, api.port, "POST", "/api/v1/events", boost::json::serialize(body),
                     AdminAuthorization(api));
}

boost::json::value GetEvent(const ApiEndpoint& api, const std::string& id) {
  auto r =
      HttpRequest(api.host, api.port, "GET", "/api/v1/events/" + id, "", AdminAuthorization(api));
  return r.status == 200 ? r.json() : boost::json::value();
}

HttpResponse Issue(const ApiEndpoint& api, const std::string& event_id,
                   const std::string& user_id) {
  boost::json::object body{{"user_id", user_id}};
  return HttpRequest(api.host, api.port, "POST", "/api/v1/events/" + event_id + "/issue",
                     boost::json::serialize(body));
}

HttpResponse AdminCall(const ApiEndpoint& api, const std::string& method, const std::string& target,
                       const std::string& body) {
  return HttpRequest(api.host, api.port, method, target, body, AdminAuthorization(api));
}

boost::json::array UserCoupons(const ApiEndpoint& api, const std::string& event_id,
                               const std::string& user_id) {
  auto r =
      HttpRequest(api.host, api.port, "GET", "/api/v1/events/" + event_id + "/users/" + user_id, "",
                  AdminAuthorization(api));
  auto v = r.json();
  if (!v.is_object() || !v.as_object().contains("coupons")) return {};
  return v.as_object().at("coupons").as_array();
}

std::int64_t Field(const boost::json::value& event, const std::string& field) {
  if (!event.is_object()) return -1;
  const auto* v = event.as_object().if_contains(field);
  return v != nullptr && v->is_int64() ? v->as_int64() : -1;
}

namespace {
template <typename Done>
bool WaitFor(const ApiEndpoint& api, const std::string& event_id, const std::string& field,
             std::chrono::milliseconds timeout, Done done) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done(Field(GetEvent(api, event_id), field))) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}
}  // namespace

bool WaitForField(const ApiEndpoint& api, const std::string& event_id, const std::string& field,
                  std::int64_t value, std::chrono::milliseconds timeout) {
  return WaitFor(api, event_id, field, timeout, [&](std::int64_t v) { return v == value; });
}

bool WaitForFieldAtLeast(const ApiEndpoint& api, const std::string& event_id,
                         const std::string& field, std::int64_t value,
                         std::chrono::milliseconds timeout) {
  return WaitFor(api, event_id, field, timeout, [&](std::int64_t v) { return v >= value; });
}

int Audit(const std::string& event_id, const std::vector<std::string>& extra, std::string* out,
          const std::vector<std::string>& env) {
  std::vector<std::string> args = {"audit", "--event", event_id};
  args.insert(args.end(), extra.begin(), extra.end());
  return RunFirstcome(args, out, env);
}

}  // namespace firstcome::test
