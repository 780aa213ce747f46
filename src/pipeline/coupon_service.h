// CouponService: what the HTTP layer (and the CLI) can ask of Firstcome. It is
// the only thing src/http depends on besides src/core, so the HTTP layer never
// sees which Gate, Log or Store is behind it.
#pragma once

#include <cstdint>
#include <functional>
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
  std::string state;  // scheduled | open | sold_out | ended
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

class CouponService {
 public:
  using IssueCallback = std::function<void(Result<IssueAnswer>)>;

  virtual ~CouponService() = default;

  // Blocking calls (admin and status paths; run them off the I/O threads).
  // Errors: kInvalid (400), kExists (409), kNotFound (404), kUnavailable (503).
  virtual Result<EventView> CreateEvent(const Event& event) = 0;
  virtual Result<EventView> GetEvent(std::string_view event_id) = 0;
  virtual Result<std::vector<EventView>> ListEvents() = 0;
  virtual Result<std::vector<CouponView>> CouponsOfUser(std::string_view event_id,
                                                        std::string_view user_id) = 0;

  // Hot path, asynchronous: `done` runs exactly once, possibly inline, possibly
  // on another thread. Errors: kNotFound (unknown event), kInvalid (bad user id).
  // A 503 is an answer (IssueStatus::kUnavailable), not an error.
  virtual void Issue(std::string_view event_id, std::string_view user_id, IssueCallback done) = 0;

  // ok when every dependency this process needs answers.
  virtual Status Health() = 0;
};

}  // namespace firstcome
