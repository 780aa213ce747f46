// The Store port: the system of record. Holds event definitions (so every API
// process sees every event), the coupons, the failed-event table and the
// revocations.
//
// Invariants: coupons has UNIQUE(event_id, seq) and UNIQUE(event_id, user_id,
// user_seq). Inserting a record that is already there (same event, seq, user,
// user_seq) is a success ("duplicate"): retries and redeliveries never create a
// second row. A record that collides with a *different* row (same seq, other
// user) is a conflict: it is reported as failed, never silently dropped.
// Rows (coupons, failed events, revocations) exist only for the incarnation
// the events table holds: a record of another incarnation (its event deleted,
// maybe created again) and a record a revocation took back are ignored by
// every write, checked in the write's own transaction, so a deletion or a
// revocation racing with the consumer can never leave such a row behind.
// Every change to the events table raises the events generation in the same
// transaction (EventsGeneration: one cheap read tells a cache it is current).
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
  // Neither inserted nor failed: of an incarnation the events table does not
  // hold (deleted event), or revoked (ApplyRevocations). Dropping them is right.
  std::int64_t ignored = 0;
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

// Who holds a seq as far as the store knows: its coupon row, else its
// failed-event row (incarnation: the event's).
struct SeqHolder {
  Issuance issuance;
  bool failed = false;  // the record is in failed_events (not persisted yet)
};

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
  // Stores name, total, starts_at, ends_at and closed of `event` on the row of
  // its id and incarnation, if that row's version is still expected_version;
  // the version becomes expected_version + 1. False (nothing changed) when
  // there is no such row: changed meanwhile, or deleted.
  virtual Result<bool> UpdateEvent(const Event& event, std::int64_t expected_version) = 0;
  // Deletes the event's incarnation with its coupons, failed events and
  // revocations, in one transaction. Returns how many coupons went; kNotFound
  // when the events table does not hold that incarnation.
  virtual Result<std::int64_t> DeleteEvent(const Event& event) = 0;
  // A number that changes whenever the events table does (creation, update,
  // deletion). One cheap read.
  virtual Result<std::int64_t> EventsGeneration() = 0;

  // One transaction for the batch where possible; when the batch fails
  // because of some records, the others are still inserted and the refused
  // ones are listed in `failed`. An error Status means the store itself is
  // unavailable and nothing is known to be inserted (the caller retries).
  virtual Result<InsertOutcome> InsertCoupons(std::span<const Issuance> batch) = 0;

  // Takes back issuances (records of kind kRevoke, or the issuances
  // themselves): each one's coupon row and failed-event row go when they are
  // that very record (seq, user, user_seq), and the revocation is remembered
  // so that later copies of the issuance (same seq, user, user_seq and
  // issued_at) are ignored by InsertCoupons and RecordFailure. One
  // transaction; idempotent. Records of another incarnation are ignored.
  virtual Status ApplyRevocations(std::span<const Issuance> revocations) = 0;

  // The holder of `seq`: its coupon row, else its failed-event row; nullopt
  // when neither exists.
  virtual Result<std::optional<SeqHolder>> HolderOfSeq(const Event& event, std::int64_t seq) = 0;

  // Every persisted coupon of an event, in seq order (audit, gate rebuild).
  virtual Status ScanCoupons(std::string_view event_id,
                             const std::function<void(const Issuance&)>& visit) = 0;

  // Persisted and failed coupons of one user.
  virtual Result<std::vector<StoredCoupon>> CouponsOfUser(std::string_view event_id,
                                                          std::string_view user_id) = 0;

  virtual Result<EventCounts> CountsOf(std::string_view event_id) = 0;

  // Failed events. RecordFailure inserts one with attempts = 0 (or updates the
  // error of an existing one for the same event+seq); nothing when the record
  // is ignored (see InsertOutcome::ignored). The retry job takes due ones (not
  // dead, next_attempt_at <= now, oldest first), then resolves or reschedules
  // them. RescheduleFailure increments attempts by one.
  virtual Status RecordFailure(const Issuance& issuance, std::string_view error,
                               UnixMillis next_attempt_at) = 0;
  virtual Result<std::vector<FailedEvent>> DueFailures(UnixMillis now, std::size_t limit) = 0;
  virtual Status ResolveFailure(std::int64_t id) = 0;
  virtual Status RescheduleFailure(std::int64_t id, std::string_view error,
                                   UnixMillis next_attempt_at, bool dead) = 0;
  // All failed events of one event, dead ones included (audit, operators).
  virtual Result<std::vector<FailedEvent>> FailuresOf(std::string_view event_id) = 0;
  // The failed event of one seq, if any.
  virtual Result<std::optional<FailedEvent>> FailureOfSeq(std::string_view event_id,
                                                          std::int64_t seq) = 0;

  // ok when the store answers right now.
  virtual Status Health() = 0;
};

}  // namespace firstcome
