// RedisGate's sold-out short-circuit: per event, a flag that the event sold
// out, trusted for a short TTL, so admissions to a sold-out event are answered
// in the API process without a round trip. Internal to src/gate.
//
// It answers exactly what the admit script would: a user who holds per_user
// coupons hears already_issued (with the seqs), everyone else sold_out. So
// with the flag it keeps the event's holders as read from Redis when it sold
// out.
//
// Why a short TTL is safe: an event's gate only moves toward sold-out; it
// opens again only by a release (a failed log write or a revocation, here or
// in another API process), a raised total or a rebuild. A local one drops the
// flag at once (Forget); one elsewhere is noticed within the TTL, and until
// then a freed slot merely waits a little for its next taker. Nothing is ever
// over-issued. A flag belongs to one incarnation of the event.
//
// Thread safety:
//   - every method: may be called concurrently from any thread (one mutex).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/event.h"
#include "gate/gate.h"

namespace firstcome::redis {

// user -> the seqs the user holds, in stored order.
using Holders = std::unordered_map<std::string, std::vector<std::int64_t>>;

class SoldOutCache {
 public:
  using Clock = std::chrono::steady_clock;

  // A ttl <= 0 turns the cache off: it never answers and never remembers.
  explicit SoldOutCache(std::chrono::milliseconds ttl) : ttl_(ttl) {}

  bool enabled() const { return ttl_.count() > 0; }

  // True, with *a set as the script would answer, while the event's flag is
  // fresh. An expired flag answers false from then on (until Remember).
  bool Answer(const Event& event, std::string_view user_id, Admission* a);

  // True when the flag of the event's incarnation is still fresh: then its TTL
  // starts again and its holders stay as they are (no need to read them again).
  bool Extend(const std::string& event_id, std::int64_t incarnation, Clock::time_point now);

  // Flags the event's incarnation sold out from `now` on, with its holders.
  void Remember(const std::string& event_id, std::int64_t incarnation, Holders holders,
                Clock::time_point now);

  void Forget(const std::string& event_id);

 private:
  static constexpr std::size_t kMaxEntries = 10000;

  struct SoldOut {
    std::int64_t incarnation = 0;  // a flag answers for this incarnation only
    Clock::time_point until;       // trusted until then; {} once expired
    std::shared_ptr<const Holders> holders;
  };

  const std::chrono::milliseconds ttl_;
  std::mutex mu_;
  std::unordered_map<std::string, SoldOut> sold_out_;  // guarded by mu_
};

}  // namespace firstcome::redis
