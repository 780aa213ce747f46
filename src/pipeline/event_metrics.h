// EventMetrics: the per-event gauges of GET /metrics (firstcome_event_*), the
// figures of the event object (GET /api/v1/events/{id}) for each event.
//
// Why a bound: each event's figures cost a gate and a store query, and a
// series per event and figure in every scrape. Only the `max_events` most
// recently created events are exported; firstcome_events says how many exist
// and firstcome_event_metrics_omitted how many were left out, so a scrape
// costs at most max_events views whatever the store holds.
#pragma once

#include <cstddef>

#include "core/metrics.h"
#include "pipeline/coupon_service.h"
#include "pipeline/event_catalog.h"

namespace firstcome {

class EventMetrics final : public MetricsSource {
 public:
  static constexpr std::size_t kDefaultMaxEvents = 100;

  // `catalog` lists the events, `service` computes each one's view (the
  // same figures and state as the API answers). Both must outlive this.
  EventMetrics(EventCatalog& catalog, CouponService& service,
               std::size_t max_events = kDefaultMaxEvents)
      : catalog_(catalog), service_(service), max_events_(max_events) {}

  void WriteMetrics(MetricsWriter& out) const override;

 private:
  EventCatalog& catalog_;
  CouponService& service_;
  const std::size_t max_events_;
};

}  // namespace firstcome
