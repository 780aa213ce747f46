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
  // At most three segments follow: {id}, {id}/issue, {id}/users/{user_id}.
  // Empty segments ("//", a trailing '/') match nothing.
  std::string_view seg[3];
  std::size_t n = 0;
  while (true) {
    if (n == 3) return m;
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
    case Route::kIssue:
      return method == Method::kPost;
    case Route::kHealthz:
    case Route::kMetrics:
    case Route::kEvent:
    case Route::kUserCoupons:
    case Route::kDashboard:
    case Route::kOpenApi:
      return method == Method::kGet;
  }
  return false;
}

const char* AllowHeader(Route route) {
  switch (route) {
    case Route::kEvents:
      return "GET, POST";
    case Route::kIssue:
      return "POST";
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
      return method == Method::kGet;
    case Route::kNotFound:
    case Route::kHealthz:
    case Route::kMetrics:
    case Route::kEvent:
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
  }
  return "unknown";
}

}  // namespace firstcome::http
