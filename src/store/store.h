// The Store port: the system of record. Holds event definitions (so every API
// process sees every event), the coupons, and the failed-event table.
//
// Invariants: coupons has UNIQUE(event_id, seq) and UNIQUE(event_id, user_id,
// user_seq). Inserting a record that is already there (same event, seq, user,
// user_seq) is a success ("duplicate"): retries and redeliveries never create a
// second row. A record that collides with a *different* row (same seq, other
// user) is a conflict: it is reported as failed, never silently dropped.
// Implementations: SqliteStore (src/store/sqlite_store.*), MysqlStore
// (src/store/mysql_store.*). All calls are blocking and bounded by timeouts.
//
// Thread safety:
//   - every Store method: may be called concurrently from any thread.
//   - callbacks: ScanCoupons' `visit` runs on the calling thread, with no
//     store lock or pooled connection held; may block (only the scan waits)
//     and may call back into the store.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/event.h"
#include "core/status.h"

namespace firstcome {

struct InsertOutcome {
  std::int64_t inserted = 0;
  std::int64_t duplicates = 0;
  struct Failure {
    std::size_t index;  // into the batch passed to InsertCoupons
    std::string error;
  };
  std::vector<Failure> failed;  // records the store refused one by one
};

struct FailedEvent {
  std::int64_t id = 0;
  Issuance issuance;
  std::string error;
  std::int32_t attempts = 0;
  UnixMillis next_attempt_at = 0;
  bool dead = false;
};

struct EventCounts {
  std::int64_t persisted = 0;  // rows in coupons
  std::int64_t failed = 0;     // failed_events not yet persisted and not dead
  std::int64_t dead = 0;       // failed_events given up on
};

enum class CouponState { kPersisted, kFailed };

struct StoredCoupon {
  std::int64_t seq = 0;
  std::int32_t user_seq = 0;
  std::string coupon_id;
  CouponState state = CouponState::kPersisted;
};

class Store {
 public:
  virtual ~Store() = default;

  // Creates tables (idempotent). Called once on start.
  virtual Status Migrate() = 0;

  // Events. CreateEvent fails with kExists when the id is taken.
  virtual Status CreateEvent(const Event& event) = 0;
  virtual Result<std::optional<Event>> GetEvent(std::string_view id) = 0;
  virtual Result<std::vector<Event>> ListEvents() = 0;

  // One transaction for the batch where possible; when the batch fails
  // because of some records, the others are still inserted and the refused
  // ones are listed in `failed`. An error Status means the store itself is
  // unavailable and nothing is known to be inserted (the caller retries).
  virtual Result<InsertOutcome> InsertCoupons(std::span<const Issuance> batch) = 0;

  // Every persisted coupon of an event, in seq order (audit, gate rebuild).
  virtual Status ScanCoupons(std::string_view event_id,
                             const std::function<void(const Issuance&)>& visit) = 0;

  // Persisted and failed coupons of one user.
  virtual Result<std::vector<StoredCoupon>> CouponsOfUser(std::string_view event_id,
                                                          std::string_view user_id) = 0;

  virtual Result<EventCounts> CountsOf(std::string_view event_id) = 0;

  // Failed events. RecordFailure inserts one with attempts = 0 (or updates the
  // error of an existing one for the same event+seq); the retry job takes due
  // ones (not dead, next_attempt_at <= now, oldest first), then resolves or
  // reschedules them. RescheduleFailure increments attempts by one.
  virtual Status RecordFailure(const Issuance& issuance, std::string_view error,
                               UnixMillis next_attempt_at) = 0;
  virtual Result<std::vector<FailedEvent>> DueFailures(UnixMillis now, std::size_t limit) = 0;
  virtual Status ResolveFailure(std::int64_t id) = 0;
  virtual Status RescheduleFailure(std::int64_t id, std::string_view error,
                                   UnixMillis next_attempt_at, bool dead) = 0;
  // All failed events of one event, dead ones included (audit, operators).
  virtual Result<std::vector<FailedEvent>> FailuresOf(std::string_view event_id) = 0;

  // ok when the store answers right now.
  virtual Status Health() = 0;
};

}  // namespace firstcome
