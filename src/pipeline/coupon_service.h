// CouponService: what the HTTP layer (and the CLI) can ask of Firstcome. It is
// the only thing src/http depends on besides src/core, so the HTTP layer never
// sees which Gate, Log or Store is behind it.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/event.h"
#include "core/status.h"

namespace firstcome {

// An event with its live figures, as GET /api/v1/events/{id} shows it.
struct EventView {
  Event event;
  std::int64_t issued = 0;
  std::int64_t remaining = 0;
  std::int64_t persisted = 0;
  std::int64_t failed = 0;
  std::int64_t dead = 0;
  std::string state;  // scheduled | open | sold_out | ended | closed
};

struct CouponView {
  std::string coupon_id;
  std::int64_t seq = 0;
  std::string state;  // pending | persisted | failed
};

enum class IssueStatus { kIssued, kAlreadyIssued, kSoldOut, kNotOpen, kUnavailable };

struct IssueAnswer {
  IssueStatus status = IssueStatus::kUnavailable;
  std::string event_id;
  std::string user_id;
  std::string coupon_id;            // kIssued
  std::int64_t seq = 0;             // kIssued
  std::vector<CouponView> coupons;  // kAlreadyIssued
  std::string detail;               // human text for kNotOpen / kUnavailable
};

// What an operator asks to change of an event (PATCH): unset fields stay.
struct EventPatch {
  std::optional<std::int64_t> total;
  std::optional<std::string> name;
  // Set: the new time, or nullopt inside to clear it.
  std::optional<std::optional<UnixMillis>> starts_at;
  std::optional<std::optional<UnixMillis>> ends_at;
};

// Answers of operator calls that are refusals of the request, not errors of
// the service (errors.h maps each to its HTTP status and code).
enum class OperatorStatus {
  kDone,
  kTotalBelowIssued,     // the new total is below what is admitted or held
  kCouponNotFound,       // nobody holds that seq
  kCouponPending,        // held, but not in the store yet: try again shortly
  kFailedEventNotFound,  // no failed event for that seq
};

struct UpdateAnswer {
  OperatorStatus status = OperatorStatus::kDone;
  std::string detail;
  EventView view;  // kDone
};

struct RevokeAnswer {
  OperatorStatus status = OperatorStatus::kDone;
  std::string detail;
  std::int64_t seq = 0;  // kDone: what was revoked
  std::string user_id;
  std::string coupon_id;
};

struct DeleteAnswer {
  std::string event_id;
  std::int64_t coupons = 0;  // coupon rows deleted with it
};

struct FailedEventView {
  std::int64_t seq = 0;
  std::string user_id;
  std::string coupon_id;
  std::string error;
  std::int32_t attempts = 0;
  UnixMillis next_attempt_at = 0;
  bool dead = false;
};

struct RetryAnswer {
  OperatorStatus status = OperatorStatus::kDone;
  std::string detail;
  std::int64_t seq = 0;
  bool persisted = false;
  std::string error;  // when not persisted: why
};

class CouponService {
 public:
  // By rvalue reference: the answer is built once and read where it is
  // written out, not moved again at each hop of the callback chain (each
  // move of an IssueAnswer moves four strings and a vector).
  using IssueCallback = std::function<void(Result<IssueAnswer>&&)>;

  virtual ~CouponService() = default;

  // Blocking calls (admin and status paths; run them off the I/O threads).
  // Errors: kInvalid (400), kExists (409), kNotFound (404), kUnavailable (503).
  virtual Result<EventView> CreateEvent(const Event& event) = 0;
  virtual Result<EventView> GetEvent(std::string_view event_id) = 0;
  virtual Result<std::vector<EventView>> ListEvents() = 0;
  virtual Result<std::vector<CouponView>> CouponsOfUser(std::string_view event_id,
                                                        std::string_view user_id) = 0;

  // Operator calls (docs/api.md, "Operators"); blocking. Errors as above; a
  // refusal of the request itself is the answer's OperatorStatus.
  virtual Result<EventView> CloseEvent(std::string_view event_id) = 0;
  virtual Result<EventView> OpenEvent(std::string_view event_id) = 0;
  virtual Result<UpdateAnswer> UpdateEvent(std::string_view event_id, const EventPatch& patch) = 0;
  virtual Result<RevokeAnswer> RevokeCoupon(std::string_view event_id, std::int64_t seq) = 0;
  virtual Result<DeleteAnswer> DeleteEvent(std::string_view event_id) = 0;
  virtual Result<std::vector<FailedEventView>> FailedEvents(std::string_view event_id) = 0;
  virtual Result<RetryAnswer> RetryFailedEvent(std::string_view event_id, std::int64_t seq) = 0;

  // Hot path, asynchronous: `done` runs exactly once, possibly inline, possibly
  // on another thread. Errors: kNotFound (unknown event), kInvalid (bad user id).
  // A 503 is an answer (IssueStatus::kUnavailable), not an error.
  virtual void Issue(std::string_view event_id, std::string_view user_id, IssueCallback done) = 0;

  // ok when every dependency this process needs answers.
  virtual Status Health() = 0;
};

}  // namespace firstcome
