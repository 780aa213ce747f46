#include "pipeline/event_catalog.h"

#include <spdlog/spdlog.h>

#include "core/thread_name.h"

namespace firstcome {

EventCatalog::EventCatalog(Store& store, CatalogOptions options)
    : store_(store), options_(options) {}

EventCatalog::~EventCatalog() { Stop(); }

void EventCatalog::Start() {
  std::lock_guard lock(thread_mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { RefreshLoop(); });
}

void EventCatalog::Stop() {
  {
    std::lock_guard lock(thread_mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void EventCatalog::RefreshLoop() {
  NameThisThread("fc-catalog");
  bool failing = false;
  std::unique_lock lock(thread_mu_);
  while (!stop_cv_.wait_for(lock, options_.refresh_interval, [this] { return stopping_; })) {
    lock.unlock();
    Status s = Refresh();
    // Said once per outage, not every tick.
    if (!s.ok() && !failing) {
      spdlog::warn("event catalog: refresh failed, changes made elsewhere wait: {}", s.ToString());
    } else if (s.ok() && failing) {
      spdlog::info("event catalog: refreshing again");
    }
    failing = !s.ok();
    lock.lock();
  }
}

Status EventCatalog::Refresh() {
  // The generation first: a change committed after it moves it again, so
  // the next round lists once more.
  auto generation = store_.EventsGeneration();
  if (!generation.ok()) return generation.status();
  std::uint64_t changes_seen;
  {
    std::shared_lock lock(mu_);
    if (generation_ == *generation) return Status::Ok();
    changes_seen = local_changes_;
  }
  auto events = store_.ListEvents();
  if (!events.ok()) return events.status();
  EventMap fresh;
  {
    std::shared_lock lock(mu_);
    for (Event& e : *events) {
      // Unchanged events keep their object (callers may hold it).
      auto it = known_.find(e.id);
      if (it != known_.end() && it->second->incarnation == e.incarnation &&
          it->second->version == e.version) {
        fresh.emplace(e.id, it->second);
      } else {
        std::string id = e.id;
        fresh.emplace(std::move(id), std::make_shared<const Event>(std::move(e)));
      }
    }
  }
  std::unique_lock lock(mu_);
  // A local change since the listing began may be newer than the listing.
  if (local_changes_ != changes_seen) return Status::Ok();
  known_.swap(fresh);
  unknown_.clear();
  generation_ = *generation;
  lock.unlock();  // the old map is freed outside the lock
  return Status::Ok();
}

Result<std::shared_ptr<const Event>> EventCatalog::Find(std::string_view id) {
  std::uint64_t changes_seen;
  {
    std::shared_lock lock(mu_);
    if (auto it = known_.find(id); it != known_.end()) return it->second;
    if (auto it = unknown_.find(id); it != unknown_.end() && Clock::now() < it->second) {
      return std::shared_ptr<const Event>();
    }
    changes_seen = local_changes_;
  }
  auto found = store_.GetEvent(id);
  if (!found.ok()) return found.status();
  std::unique_lock lock(mu_);
  if (found->has_value()) {
    auto shared = std::make_shared<const Event>(std::move(**found));
    // A local change meanwhile (Put, Drop) is newer than this read.
    if (local_changes_ == changes_seen) {
      auto [it, inserted] = known_.try_emplace(shared->id, shared);
      unknown_.erase(shared->id);
      return it->second;
    }
    return shared;
  }
  // Bounded: a flood of distinct unknown ids only ever costs one reset.
  if (unknown_.size() >= kMaxUnknown) unknown_.clear();
  unknown_[std::string(id)] = Clock::now() + options_.unknown_ttl;
  return std::shared_ptr<const Event>();
}

Result<std::shared_ptr<const Event>> EventCatalog::Create(Event event) {
  if (Status s = ValidateEvent(event); !s.ok()) return s;
  if (event.created_at == 0) event.created_at = NowMillis();
  event.incarnation = NewIncarnation();
  event.version = 1;
  event.closed = false;
  if (Status s = store_.CreateEvent(event); !s.ok()) return s;
  auto shared = std::make_shared<const Event>(std::move(event));
  std::unique_lock lock(mu_);
  ++local_changes_;
  known_[shared->id] = shared;  // replaces a deleted incarnation still cached
  unknown_.erase(shared->id);
  return shared;
}

Result<std::vector<std::shared_ptr<const Event>>> EventCatalog::List() {
  auto events = store_.ListEvents();
  if (!events.ok()) return events.status();
  std::vector<std::shared_ptr<const Event>> out;
  out.reserve(events->size());
  for (auto& e : *events) out.push_back(std::make_shared<const Event>(std::move(e)));
  return out;
}

Result<std::optional<Event>> EventCatalog::Load(std::string_view id) { return store_.GetEvent(id); }

void EventCatalog::Put(Event event) {
  auto shared = std::make_shared<const Event>(std::move(event));
  std::unique_lock lock(mu_);
  ++local_changes_;
  known_[shared->id] = std::move(shared);
}

void EventCatalog::Drop(std::string_view id) {
  std::unique_lock lock(mu_);
  ++local_changes_;
  if (auto it = known_.find(id); it != known_.end()) known_.erase(it);
}

}  // namespace firstcome
