// EventLifecycle: the operator calls of the CouponService (close, open,
// change, revoke a coupon, delete, failed events), each keeping the
// guarantees of docs/design.md ("Operators") across every API process.
//
//   - close / open / change: read-modify-write of the stored event under its
//     version (a concurrent change makes the write miss and the call start
//     again); this process's catalog has the new event at once, every other
//     one within its propagation bound (EventCatalog).
//   - total: the gate holds it (Gate::SetTotal), so a change is exact for
//     every process at once. Gate first (it refuses a total below what is
//     admitted or held), then the store; when the store write fails, the
//     gate is set back to the stored total.
//   - revoke: only a coupon the store knows (persisted or failed) is revoked:
//     a revocation record is appended to the log (durable), then applied to
//     the store (row and failed event gone, the revocation remembered so a
//     late copy of the issuance stays revoked), and only then the gate frees
//     the seq. A seq that is held but not in the store yet is refused as
//     pending.
//   - delete: closes the event, waits out the propagation bound, forgets the
//     incarnation in the gate (stale processes hear "gone"), then deletes the
//     incarnation from the store in one transaction. Log records of it stay
//     (Kafka cannot delete) and are ignored by every reader.
// Every call is blocking (run off the I/O threads).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

#include "gate/gate.h"
#include "log/log.h"
#include "pipeline/coupon_service.h"
#include "pipeline/event_catalog.h"
#include "pipeline/retry_job.h"
#include "store/store.h"

namespace firstcome {

struct LifecycleParts {
  EventCatalog* catalog = nullptr;  // required
  Store* store = nullptr;           // required
  Gate* gate = nullptr;             // null: total, revoke and delete answer 503
  Log* log = nullptr;               // null: revoke answers 503
};

struct LifecycleOptions {
  // How long a deletion waits between closing the event and forgetting it in
  // the gate, so API processes stop admitting first: the catalog's
  // propagation bound with a shared gate, 0 with the in-process one.
  std::chrono::milliseconds propagation_wait{0};
  // Bounds the wait for the log to take a revocation record.
  std::chrono::milliseconds log_timeout{10000};
  RetryOptions retry;  // for "retry now": the same backoff and dead rule
};

class EventLifecycle {
 public:
  using ViewOf = std::function<Result<EventView>(const Event&)>;

  EventLifecycle(LifecycleParts parts, LifecycleOptions options, ViewOf view_of);

  Result<EventView> SetClosed(std::string_view event_id, bool closed);
  Result<UpdateAnswer> Update(std::string_view event_id, const EventPatch& patch);
  Result<RevokeAnswer> Revoke(std::string_view event_id, std::int64_t seq);
  Result<DeleteAnswer> Delete(std::string_view event_id);
  Result<std::vector<FailedEventView>> Failed(std::string_view event_id);
  Result<RetryAnswer> RetryFailed(std::string_view event_id, std::int64_t seq);

 private:
  // The stored event (not the cache's); kNotFound when there is none.
  Result<Event> LoadEvent(std::string_view event_id);
  // Writes `next` over `current` (UpdateEvent under current's version) and
  // puts it in the catalog; false when the stored event changed meanwhile.
  Result<bool> Store(const Event& current, Event& next);
  // Appends one record and waits for the log's answer.
  Status AppendAndWait(const Issuance& record);

  LifecycleParts parts_;
  const LifecycleOptions options_;
  ViewOf view_of_;
};

}  // namespace firstcome
