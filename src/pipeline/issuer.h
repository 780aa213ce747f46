// Issuer: the CouponService behind the HTTP API. The hot path is
//   catalog lookup → window check → Gate::Admit → Log::Append → answer,
// and a client hears `issued` only after the log said the record is durable.
// When the log cannot take it (definitely not persisted), the gate slot is
// withdrawn before the client hears 503, so a 503 never costs a coupon
// (unless a settler claimed the admission meanwhile: then it is logged and
// the user keeps it). Once the log took the record, the gate hears that the
// admission is no longer pending (Acknowledge, after the answer). When
// the log may have taken it (possibly persisted), the seq stays the user's,
// the client hears 503, and the Resender appends the record again until the
// log confirms it: the coupon a retry then shows is the one that gets stored.
//
// gate and log may be null in a process that only consumes (--role consumer):
// such a process answers issue requests with 503 and still shows events.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "core/metrics.h"
#include "gate/gate.h"
#include "log/log.h"
#include "pipeline/coupon_service.h"
#include "pipeline/event_catalog.h"
#include "pipeline/event_lifecycle.h"
#include "pipeline/resender.h"
#include "store/store.h"

namespace firstcome {

struct IssuerParts {
  EventCatalog* catalog = nullptr;  // required
  Store* store = nullptr;           // required
  Gate* gate = nullptr;             // null: no issuing (and no live gate figures)
  Log* log = nullptr;               // null: no issuing
};

struct IssuerLimits {
  // Admissions waiting for the log at most; beyond, an issue request is
  // answered 503 before the gate is asked, so nothing is taken (why: a log that
  // slows down must not turn a burst into unbounded memory and latency).
  std::int64_t max_in_flight = 10000;
};

class Issuer final : public CouponService, public MetricsSource {
 public:
  explicit Issuer(IssuerParts parts, ResenderOptions resend = {}, IssuerLimits limits = {},
                  LifecycleOptions lifecycle = {});

  Result<EventView> CreateEvent(const Event& event) override;
  Result<EventView> GetEvent(std::string_view event_id) override;
  Result<std::vector<EventView>> ListEvents() override;
  Result<std::vector<CouponView>> CouponsOfUser(std::string_view event_id,
                                                std::string_view user_id) override;
  void Issue(std::string_view event_id, std::string_view user_id, IssueCallback done) override;
  Status Health() override;

  // Operator calls: EventLifecycle's (event_lifecycle.h).
  Result<EventView> CloseEvent(std::string_view event_id) override;
  Result<EventView> OpenEvent(std::string_view event_id) override;
  Result<UpdateAnswer> UpdateEvent(std::string_view event_id, const EventPatch& patch) override;
  Result<RevokeAnswer> RevokeCoupon(std::string_view event_id, std::int64_t seq) override;
  Result<DeleteAnswer> DeleteEvent(std::string_view event_id) override;
  Result<std::vector<FailedEventView>> FailedEvents(std::string_view event_id) override;
  Result<RetryAnswer> RetryFailedEvent(std::string_view event_id, std::int64_t seq) override;
  // Issuing figures (in flight, log failures, resends, log lag). The
  // per-event gauges are EventMetrics' (event_metrics.h).
  void WriteMetrics(MetricsWriter& out) const override;

  // Stops issuing's background work: unconfirmed records get at most `grace`
  // more to be confirmed (call after the HTTP server stopped, before the log
  // is flushed). Also done, with no grace, on destruction.
  void Stop(std::chrono::milliseconds grace);

 private:
  Result<EventView> ViewOf(const Event& event) const;
  void OnAdmitted(std::shared_ptr<const Event> event, std::string user_id, const Admission& a,
                  IssueCallback done);

  IssuerParts parts_;
  const IssuerLimits limits_;
  std::atomic<std::int64_t> overloaded_{0};
  std::atomic<std::int64_t> in_flight_{0};
  std::atomic<std::int64_t> log_failures_{0};
  std::atomic<std::int64_t> released_{0};
  std::unique_ptr<Resender> resender_;  // when this process issues
  EventLifecycle lifecycle_;
};

}  // namespace firstcome
