// The one place where outcomes become HTTP: Status::Code (errors of the
// CouponService), IssueStatus (answers of an issue attempt), OperatorStatus
// (refusals of operator calls) and Refusal (what the transport and the handler
// refuse on their own) are mapped to an HTTP status and a machine-readable
// code here and nowhere else.
//
// Invariant: every error body written by the server is
//   {"error": "<code>", "detail": "<text>"}
// with Content-Type application/json; answers on the issue route (and a
// failing /healthz) also carry "status": "<code>" (api.md: every issue answer
// carries a status).
#pragma once

#include <string_view>

#include "core/status.h"
#include "http/reply.h"
#include "pipeline/coupon_service.h"

namespace firstcome::http {

// Statuses of successful answers (their bodies are the resource).
inline constexpr int kHttpOk = 200;
inline constexpr int kHttpCreated = 201;

// The Retry-After header of `reply` in seconds, 0 for none: the reply's own
// value, else 1 for every 503 and 429.
int RetryAfterSeconds(const Reply& reply);

// Refusals that do not come from a Status or an IssueStatus.
enum class Refusal {
  kMalformed,         // 400 invalid_request: not parseable as HTTP
  kUnauthorized,      // 401 unauthorized: an admin call without the right credentials
  kUnauthenticated,   // 401 unauthenticated: no, bad or expired user credentials
  kForbidden,         // 403 forbidden: another user's id
  kRateLimited,       // 429 rate_limited: over rate_limit_ip or rate_limit_user
  kNotFound,          // 404 not_found: no such path
  kMethodNotAllowed,  // 405 method_not_allowed: the path exists, the method does not
  kPayloadTooLarge,   // 413 payload_too_large: the body is over the limit
  kUnavailable,       // 503 unavailable: overloaded (connections, blocking queue) or unhealthy
  kInternal,          // 500 internal: an exception escaped a service call
};

struct HttpOutcome {
  int http;
  std::string_view code;
};

// kInvalid → 400 invalid_request, kNotFound → 404 event_not_found (every
// service lookup is by event), kExists → 409 event_exists, kUnavailable → 503
// unavailable, kInternal → 500 internal.
HttpOutcome OutcomeOf(Status::Code code);

// kIssued → 201 issued, kAlreadyIssued → 409 already_issued, kSoldOut → 410
// sold_out, kNotOpen → 403 not_open, kUnavailable → 503 unavailable.
HttpOutcome OutcomeOf(IssueStatus status);

// As commented on each Refusal.
HttpOutcome OutcomeOf(Refusal refusal);

// kDone → 200, kTotalBelowIssued → 409 total_below_issued, kCouponNotFound →
// 404 coupon_not_found, kCouponPending → 409 coupon_pending,
// kFailedEventNotFound → 404 failed_event_not_found.
HttpOutcome OutcomeOf(OperatorStatus status);

// The reason phrase of an HTTP status line.
std::string_view ReasonPhrase(int http);

// Fills `reply` with an error body. When `with_status`, the body also carries
// "status": code (issue route answers, a failing /healthz).
void SetError(Reply& reply, Refusal refusal, std::string_view detail, bool with_status = false);
// The same for a failed Status (never ok).
void SetError(Reply& reply, const Status& status, bool with_status = false);
// The same for an operator call's refusal (never kDone).
void SetError(Reply& reply, OperatorStatus status, std::string_view detail);

}  // namespace firstcome::http
