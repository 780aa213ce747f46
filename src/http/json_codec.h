// JSON ↔ core types for the HTTP API v1 (docs/api.md): strict parsing of the
// request bodies and writing of the answer bodies.
//
// Parsing is strict on purpose: a body that is not a JSON object, a field of
// the wrong JSON type ("total": "5", 1.5, true), a missing field, an unknown
// field of the admin body, a number out of range or an id failing IsValidId is
// refused with Status::Invalid and a detail naming the field. Writers append
// to a caller-owned string so a warm session answers without allocating.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/event.h"
#include "core/status.h"
#include "pipeline/coupon_service.h"

namespace firstcome::http {

// POST /api/v1/events body → Event (validated with ValidateEvent too).
Result<Event> ParseCreateEvent(std::string_view body);

// PATCH /api/v1/events/{id} body → the fields to change: "total" (an integer
// 1..1000000000), "name" (a string; null: empty), "starts_at" and "ends_at"
// (RFC 3339; null clears the time). Any other field is refused. Whether the
// changed event is valid (ends_at after starts_at) is checked with the stored
// event by the service.
Result<EventPatch> ParseEventPatch(std::string_view body);

// The body of operator POSTs that take no input: empty, or an empty object.
Status ParseEmptyBody(std::string_view body);

// POST /api/v1/events/{id}/issue body → the user id (a view into `body`'s
// parse, copied into *user_id). Cheap: parses on a stack buffer.
// With `user_id_required` false (the user comes from a token or a gateway
// header) the body may be empty or omit user_id; *user_id is then empty.
Status ParseIssueBody(std::string_view body, std::string* user_id, bool user_id_required = true);

// Appends `text` as a JSON string literal (quotes included).
void AppendJsonString(std::string& out, std::string_view text);

// The event object of api.md (plus "dead" and "created_at").
void AppendEventView(std::string& out, const EventView& view);
void AppendEventList(std::string& out, const std::vector<EventView>& views);
// [{"coupon_id": …, "seq": …, "state": …}, …]
void AppendCoupons(std::string& out, const std::vector<CouponView>& coupons);
// GET /api/v1/events/{id}/users/{user_id} body.
void AppendUserCoupons(std::string& out, std::string_view event_id, std::string_view user_id,
                       const std::vector<CouponView>& coupons);
// Operator answers (docs/api.md, "Operators").
// {"revoked": {"seq", "user_id", "coupon_id"}}
void AppendRevoked(std::string& out, const RevokeAnswer& answer);
// {"deleted": id, "coupons": n}
void AppendDeleted(std::string& out, const DeleteAnswer& answer);
// {"event_id": …, "failed": [{"seq", "user_id", "coupon_id", "error", "attempts",
// "next_attempt_at", "dead"}, …]}
void AppendFailedEvents(std::string& out, std::string_view event_id,
                        const std::vector<FailedEventView>& failed);
// {"seq", "persisted"[, "error"]}
void AppendRetryAnswer(std::string& out, const RetryAnswer& answer);

// The body of an issue answer; `status_name` and the error code come from
// errors.h (OutcomeOf), so the mapping stays in one place.
void AppendIssueAnswer(std::string& out, std::string_view status_name, const IssueAnswer& answer);

}  // namespace firstcome::http
