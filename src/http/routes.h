// Routing of the HTTP API v1 without regular expressions: a request path is
// split on '/' once and matched against the fixed shapes of api.md.
//
// Path parameters are views into the path given to MatchRoute; they are not
// validated here (ApiHandler checks them with CheckId and answers 400).
#pragma once

#include <cstddef>
#include <string_view>

namespace firstcome::http {

enum class Route : unsigned char {
  kNotFound,     // no such path
  kHealthz,      // GET /healthz
  kMetrics,      // GET /metrics
  kEvents,       // GET, POST /api/v1/events
  kEvent,        // GET /api/v1/events/{id}
  kIssue,        // POST /api/v1/events/{id}/issue
  kUserCoupons,  // GET /api/v1/events/{id}/users/{user_id}
  kDashboard,    // GET /dashboard, /dashboard/dashboard.js, /dashboard/dashboard.css
  kOpenApi,      // GET /api/v1/openapi.json
};
inline constexpr std::size_t kRouteCount = 9;

enum class Method : unsigned char { kGet, kPost, kOther };

struct RouteMatch {
  Route route = Route::kNotFound;
  std::string_view path;  // the target without its query string
  std::string_view event_id;
  std::string_view user_id;
};

// `target` is the request-target; a query string is ignored.
RouteMatch MatchRoute(std::string_view target);

// Whether `route` answers `method`, and its Allow header value.
bool Allows(Route route, Method method);
const char* AllowHeader(Route route);

// A stable label for metrics ("issue", "event", …).
const char* RouteName(Route route);

// Whether `method` on `route` is an admin call (docs/api.md, "Admin" and
// "Operators"): the handler checks the admin credentials and logs its answer.
bool IsAdminCall(Route route, Method method);

}  // namespace firstcome::http
