// Events and log records: the values that flow through the pipeline. No I/O here.
//
// Invariants: an Event that passed ValidateEvent has a valid id, 1 <= total <=
// kMaxTotal and 1 <= per_user <= kMaxPerUser. An Issuance names one coupon:
// seq is in 1..total, user_seq in 1..per_user, and coupon_id is a pure
// function of (event_id, seq), so any component can derive it.
//
// An event id may be deleted and created again; each creation is one
// incarnation, named by a number unique to it (never reused, so it is an
// identity, not an order). Every record carries its event's incarnation, and
// records of an incarnation that is no longer the event's are ignored by every
// reader (consumer, rebuild, audit): a deleted event leaves no effect even
// where its records cannot be deleted (Kafka).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace firstcome {

inline constexpr std::int64_t kMaxTotal = 1'000'000'000;
inline constexpr std::int32_t kMaxPerUser = 1000;
inline constexpr std::size_t kMaxIdLength = 64;

// Milliseconds since the Unix epoch (UTC).
using UnixMillis = std::int64_t;

struct Event {
  std::string id;
  std::string name;
  std::int64_t total = 0;
  std::int32_t per_user = 1;
  std::optional<UnixMillis> starts_at;
  std::optional<UnixMillis> ends_at;
  UnixMillis created_at = 0;
  // Closed by an operator: nothing is issued, whatever the window and count.
  bool closed = false;
  // Which creation of this id (see the top); 0 for events created before
  // incarnations existed (their records carry 0 too).
  std::int64_t incarnation = 0;
  // Raised by one on every change of the stored event (close, open, patch).
  std::int64_t version = 1;
};

enum class EventPhase { kScheduled, kOpen, kEnded, kClosed };

// Where `now` falls relative to the event's window; kClosed whenever the
// event is closed, whatever the time (sold-out is decided by counts, not by
// time, so it is not a phase).
EventPhase PhaseAt(const Event& event, UnixMillis now);

// A new incarnation number: random, in 1..2^53-1 (so it also survives a trip
// through a JavaScript number).
std::int64_t NewIncarnation();

// What a log record says: a coupon was issued, or an issued one was revoked
// (by an operator; the seq is free again).
enum class RecordKind : std::uint8_t { kIssue, kRevoke };

// One log record. kIssue: the coupon (event, seq) is the user's. kRevoke: the
// issuance with these very fields (seq, user, user_seq, issued_at) is taken
// back; later copies of it (a resent record) stay revoked.
struct Issuance {
  std::string event_id;
  std::string user_id;
  std::int64_t seq = 0;       // 1..total, unique per event
  std::int32_t user_seq = 0;  // 1..per_user, unique per (event, user)
  std::string coupon_id;      // CouponId(event_id, seq)
  UnixMillis issued_at = 0;   // kRevoke: the revoked issuance's
  std::int64_t incarnation = 0;
  RecordKind kind = RecordKind::kIssue;
};

// The rule every identifier (event id, user id) follows, worded for error
// messages. Keep in step with kMaxIdLength and IsValidId.
inline constexpr std::string_view kIdRule = "1-64 characters of A-Z a-z 0-9 . _ - : @";

// Whether `id` follows kIdRule.
bool IsValidId(std::string_view id);

// Ok when IsValidId(id); otherwise Invalid("<what> must be <kIdRule>"), e.g.
// CheckId("user_id", id). The one place the message is worded.
Status CheckId(std::string_view what, std::string_view id);

// Checks id, total, per_user, name length and that ends_at > starts_at.
Status ValidateEvent(const Event& event);

std::string CouponId(std::string_view event_id, std::int64_t seq);

UnixMillis NowMillis();

// RFC 3339 ("2026-11-25T10:00:00Z", "2026-11-25T10:00:00.250+09:00").
Result<UnixMillis> ParseRfc3339(std::string_view text);
// Always UTC with a 'Z'; milliseconds only when non-zero.
std::string FormatRfc3339(UnixMillis millis);

}  // namespace firstcome
