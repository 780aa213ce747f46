// EventCatalog: the events this process knows, cached from the Store so the
// hot path never asks the database.
//
// Events change (closed, reopened, patched, deleted and created again), in
// this process or in another one sharing the store. So the cache is kept
// current two ways:
//   - a change made through this process (Create, Put, Drop) is in the cache
//     before the call returns;
//   - a refresh thread (Start) reads the store's events generation every
//     `refresh_interval` (one cheap query) and, when it moved, lists the
//     events and replaces the cache. So a change made anywhere is seen here
//     within about one interval (the propagation bound, propagation_bound(),
//     holds while the store answers within its timeouts).
// A refresh that raced with a local change is discarded and redone on the
// next tick, so the cache never goes back to an older state of an event this
// process changed itself.
//
// Hot path (Find of a known event): one shared lock and a hash lookup, as
// before events could change; the refresh holds the exclusive lock only to
// swap in a map built outside it. Unknown ids are remembered for a short
// while (bounded), and forgotten on every refresh that saw a change, so a
// flood of bad ids cannot reach the store either.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/event.h"
#include "core/status.h"
#include "store/store.h"

namespace firstcome {

struct CatalogOptions {
  std::chrono::milliseconds unknown_ttl{1000};
  std::chrono::milliseconds refresh_interval{250};
};

class EventCatalog {
 public:
  explicit EventCatalog(Store& store, CatalogOptions options = {});
  ~EventCatalog();
  EventCatalog(const EventCatalog&) = delete;
  EventCatalog& operator=(const EventCatalog&) = delete;

  // Starts the refresh thread (a process that serves; tools need none).
  void Start();
  void Stop();

  // The event, or nullptr when the store does not have it. Errors: kUnavailable.
  Result<std::shared_ptr<const Event>> Find(std::string_view id);
  // Validates and creates a new incarnation of the id (kInvalid, kExists,
  // kUnavailable).
  Result<std::shared_ptr<const Event>> Create(Event event);
  // Every event in the store, as the store has it now.
  Result<std::vector<std::shared_ptr<const Event>>> List();

  // The event as the store has it now, bypassing the cache (operators read,
  // change and write it back).
  Result<std::optional<Event>> Load(std::string_view id);
  // After this process changed the stored event: the cache has it at once.
  void Put(Event event);
  // After this process deleted the event.
  void Drop(std::string_view id);

  // One refresh round (the thread's; tests call it directly).
  Status Refresh();

  // How long a change made elsewhere takes at most to reach this cache while
  // the store answers promptly.
  std::chrono::milliseconds propagation_bound() const { return 4 * options_.refresh_interval; }

 private:
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using Clock = std::chrono::steady_clock;
  using EventMap =
      std::unordered_map<std::string, std::shared_ptr<const Event>, StringHash, std::equal_to<>>;
  static constexpr std::size_t kMaxUnknown = 100000;

  void RefreshLoop();

  Store& store_;
  const CatalogOptions options_;

  std::shared_mutex mu_;
  EventMap known_;  // guarded by mu_
  // guarded by mu_
  std::unordered_map<std::string, Clock::time_point, StringHash, std::equal_to<>> unknown_;
  std::uint64_t local_changes_ = 0;         // guarded by mu_; raised by Create, Put, Drop
  std::optional<std::int64_t> generation_;  // guarded by mu_; the store's, as last applied

  std::mutex thread_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;  // guarded by thread_mu_
  std::thread thread_;
};

}  // namespace firstcome
