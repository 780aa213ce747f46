// EventCatalog: the events this process knows, cached from the Store so the
// hot path never asks the database. Events are immutable once created, so a
// cached positive answer never goes stale; unknown ids are remembered for a
// short while (bounded) so a flood of bad ids cannot reach the store either.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/event.h"
#include "core/status.h"
#include "store/store.h"

namespace firstcome {

class EventCatalog {
 public:
  explicit EventCatalog(Store& store,
                        std::chrono::milliseconds unknown_ttl = std::chrono::milliseconds(1000));

  // The event, or nullptr when the store does not have it. Errors: kUnavailable.
  Result<std::shared_ptr<const Event>> Find(std::string_view id);
  // Validates and creates (kInvalid, kExists, kUnavailable).
  Result<std::shared_ptr<const Event>> Create(Event event);
  // Every event in the store (and refreshes the cache).
  Result<std::vector<std::shared_ptr<const Event>>> List();

 private:
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using Clock = std::chrono::steady_clock;
  static constexpr std::size_t kMaxUnknown = 100000;

  std::shared_ptr<const Event> Remember(Event event);

  Store& store_;
  const std::chrono::milliseconds unknown_ttl_;
  std::shared_mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<const Event>, StringHash, std::equal_to<>> known_;
  std::unordered_map<std::string, Clock::time_point, StringHash, std::equal_to<>> unknown_;
};

}  // namespace firstcome
