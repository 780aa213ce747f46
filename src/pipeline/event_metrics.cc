#include "pipeline/event_metrics.h"

#include <vector>

namespace firstcome {

void EventMetrics::WriteMetrics(MetricsWriter& out) const {
  auto events = catalog_.List();  // oldest first
  std::vector<EventView> views;
  std::size_t listed = 0;
  if (events.ok()) {
    listed = events->size();
    const std::size_t first = listed > max_events_ ? listed - max_events_ : 0;
    views.reserve(listed - first);
    for (std::size_t i = first; i < listed; ++i) {
      // An event that cannot be viewed now (the store or gate did not
      // answer) is left out of this scrape rather than shown as zero.
      auto view = service_.GetEvent((*events)[i]->id);
      if (view.ok()) views.push_back(std::move(*view));
    }
  }
  out.Gauge("firstcome_events", "Events in the store (-1: the store did not answer).",
            events.ok() ? static_cast<double>(listed) : -1);
  out.Gauge("firstcome_event_metrics_omitted",
            "Events left out of the firstcome_event_* families (only the most recently created "
            "ones are exported, to bound the cost of a scrape).",
            static_cast<double>(listed > max_events_ ? listed - max_events_ : 0));
  struct Figure {
    const char* name;
    const char* help;
    std::int64_t EventView::*field;
  };
  static constexpr Figure kFigures[] = {
      {"firstcome_event_issued", "Coupons of the event made durable in the log (the gate's count).",
       &EventView::issued},
      {"firstcome_event_remaining", "Coupons of the event still to hand out (total - issued).",
       &EventView::remaining},
      {"firstcome_event_persisted", "Coupons of the event in the store.", &EventView::persisted},
      {"firstcome_event_failed", "Failed events of the event not yet persisted, being retried.",
       &EventView::failed},
      {"firstcome_event_dead", "Failed events of the event that ran out of retries.",
       &EventView::dead},
  };
  out.Family("firstcome_event_coupons", "The event's total: coupons it hands out at most.",
             MetricType::kGauge);
  for (const EventView& v : views) {
    out.Sample({{"event", v.event.id}}, static_cast<double>(v.event.total));
  }
  for (const Figure& f : kFigures) {
    out.Family(f.name, f.help, MetricType::kGauge);
    for (const EventView& v : views) {
      out.Sample({{"event", v.event.id}}, static_cast<double>(v.*f.field));
    }
  }
  out.Family("firstcome_event_state",
             "1 for the event's state now (scheduled, open, sold_out, ended, closed).",
             MetricType::kGauge);
  for (const EventView& v : views) {
    out.Sample({{"event", v.event.id}, {"state", v.state}}, 1);
  }
}

}  // namespace firstcome
