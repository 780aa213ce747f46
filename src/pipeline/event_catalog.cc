#include "pipeline/event_catalog.h"

namespace firstcome {

EventCatalog::EventCatalog(Store& store, std::chrono::milliseconds unknown_ttl)
    : store_(store), unknown_ttl_(unknown_ttl) {}

std::shared_ptr<const Event> EventCatalog::Remember(Event event) {
  auto shared = std::make_shared<const Event>(std::move(event));
  std::unique_lock lock(mu_);
  auto [it, inserted] = known_.try_emplace(shared->id, shared);
  if (auto u = unknown_.find(shared->id); u != unknown_.end()) unknown_.erase(u);
  return it->second;
}

Result<std::shared_ptr<const Event>> EventCatalog::Find(std::string_view id) {
  {
    std::shared_lock lock(mu_);
    if (auto it = known_.find(id); it != known_.end()) return it->second;
    if (auto it = unknown_.find(id); it != unknown_.end() && Clock::now() < it->second) {
      return std::shared_ptr<const Event>();
    }
  }
  auto found = store_.GetEvent(id);
  if (!found.ok()) return found.status();
  if (found->has_value()) return Remember(std::move(**found));
  std::unique_lock lock(mu_);
  // Bounded: a flood of distinct unknown ids only ever costs one reset.
  if (unknown_.size() >= kMaxUnknown) unknown_.clear();
  unknown_[std::string(id)] = Clock::now() + unknown_ttl_;
  return std::shared_ptr<const Event>();
}

Result<std::shared_ptr<const Event>> EventCatalog::Create(Event event) {
  if (Status s = ValidateEvent(event); !s.ok()) return s;
  if (event.created_at == 0) event.created_at = NowMillis();
  if (Status s = store_.CreateEvent(event); !s.ok()) return s;
  return Remember(std::move(event));
}

Result<std::vector<std::shared_ptr<const Event>>> EventCatalog::List() {
  auto events = store_.ListEvents();
  if (!events.ok()) return events.status();
  std::vector<std::shared_ptr<const Event>> out;
  out.reserve(events->size());
  for (auto& e : *events) out.push_back(Remember(std::move(e)));
  return out;
}

}  // namespace firstcome
