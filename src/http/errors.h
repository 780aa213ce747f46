// The one place where outcomes become HTTP: Status::Code (errors of the
// CouponService) and IssueStatus (answers of an issue attempt) are mapped to
// an HTTP status and a machine-readable code here and nowhere else.
//
// Invariant: every error body written by the server is
//   {"error": "<code>", "detail": "<text>"}
// with Content-Type application/json; answers on the issue route also carry
// "status" (api.md: every issue answer carries a status).
#pragma once

#include <string_view>

#include "core/status.h"
#include "http/reply.h"
#include "pipeline/coupon_service.h"

namespace firstcome::http {

// Codes that do not come from a Status (transport and routing refusals).
inline constexpr std::string_view kInvalidRequest = "invalid_request";
inline constexpr std::string_view kNotFound = "not_found";
inline constexpr std::string_view kMethodNotAllowed = "method_not_allowed";
inline constexpr std::string_view kUnauthorized = "unauthorized";
inline constexpr std::string_view kPayloadTooLarge = "payload_too_large";
inline constexpr std::string_view kUnavailable = "unavailable";

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

// The reason phrase of an HTTP status line.
std::string_view ReasonPhrase(int http);

// Fills `reply` with an error body. When `issue_route`, the body also carries
// "status": code.
void SetError(Reply& reply, int http, std::string_view code, std::string_view detail,
              bool issue_route = false);
// The same for a failed Status (never ok).
void SetError(Reply& reply, const Status& status, bool issue_route = false);

}  // namespace firstcome::http
