// Routing of the HTTP API v1 without regular expressions: a request path is
// split on '/' once and matched against the fixed shapes of api.md.
//
// Path parameters are views into the path given to MatchRoute; they are not
// validated here (ApiHandler checks them with CheckId and answers 400).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace firstcome::http {

enum class Route : unsigned char {
  kNotFound,     // no such path
  kHealthz,      // GET /healthz
  kMetrics,      // GET /metrics
  kEvents,       // GET, POST /api/v1/events
  kEvent,        // GET, PATCH, DELETE /api/v1/events/{id}
  kIssue,        // POST /api/v1/events/{id}/issue
  kUserCoupons,  // GET /api/v1/events/{id}/users/{user_id}
  kDashboard,    // GET /dashboard, /dashboard/dashboard.js, /dashboard/dashboard.css
  kOpenApi,      // GET /api/v1/openapi.json
  // Operators (docs/api.md, "Operators"):
  kEventClose,   // POST /api/v1/events/{id}/close
  kEventOpen,    // POST /api/v1/events/{id}/open
  kCoupon,       // DELETE /api/v1/events/{id}/coupons/{seq}
  kFailed,       // GET /api/v1/events/{id}/failed
  kFailedRetry,  // POST /api/v1/events/{id}/failed/{seq}/retry
};
inline constexpr std::size_t kRouteCount = 14;

enum class Method : unsigned char { kGet, kPost, kPatch, kDelete, kOther };

struct RouteMatch {
  Route route = Route::kNotFound;
  std::string_view path;  // the target without its query string
  std::string_view event_id;
  std::string_view user_id;
  std::string_view seq;  // kCoupon, kFailedRetry: as written in the path
};

// `target` is the request-target; a query string is ignored.
RouteMatch MatchRoute(std::string_view target);

// The value of query parameter `name` of `target`, %-decoded ('+' stays '+');
// nullopt when the target has no such parameter or it does not decode.
std::optional<std::string> QueryParameter(std::string_view target, std::string_view name);

// Whether `route` answers `method`, and its Allow header value.
bool Allows(Route route, Method method);
const char* AllowHeader(Route route);

// A stable label for metrics ("issue", "event", …).
const char* RouteName(Route route);

// Whether `method` on `route` is an admin call (docs/api.md, "Admin" and
// "Operators"): the handler checks the admin credentials and logs its answer.
bool IsAdminCall(Route route, Method method);

}  // namespace firstcome::http
