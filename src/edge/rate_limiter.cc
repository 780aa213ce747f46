#include "edge/rate_limiter.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

namespace firstcome::edge {

RateLimiter::RateLimiter(RateLimiterOptions options)
    : rate_(std::max(0.0, options.rate_per_second)),
      burst_(options.burst >= 1 ? options.burst : std::max(1.0, rate_)),
      // No more shards than keys, so that each shard holds at least one and
      // the total stays <= max_keys.
      shard_count_(
          std::clamp<std::size_t>(options.shards, 1, std::max<std::size_t>(options.max_keys, 1))),
      shard_capacity_(std::max<std::size_t>(options.max_keys, 1) / shard_count_),
      shards_(new Shard[shard_count_]) {
  if (rate_ > 0) {
    // Sized once so that the hot path never rehashes.
    for (std::size_t i = 0; i < shard_count_; ++i) shards_[i].index.reserve(shard_capacity_);
  }
}

RateLimiter::~RateLimiter() = default;

RateLimiter::Shard& RateLimiter::ShardFor(std::string_view key) {
  // The maps hash the same key again with the low bits; the shard takes the
  // high bits of a multiplicative mix so that the two choices are unrelated.
  const std::uint64_t h = std::hash<std::string_view>{}(key)*0x9E3779B97F4A7C15ull;
  return shards_[(h >> 32) % shard_count_];
}

void RateLimiter::Refill(Bucket& b, Clock::time_point now) const {
  // A clock that goes backwards (it should not; steady) earns nothing.
  if (now > b.updated) {
    const double seconds = std::chrono::duration<double>(now - b.updated).count();
    b.tokens = std::min(burst_, b.tokens + seconds * rate_);
    b.updated = now;
  }
}

RateLimiter::Decision RateLimiter::Allow(std::string_view key, Clock::time_point now) {
  if (rate_ <= 0) return {};
  Shard& shard = ShardFor(key);
  std::lock_guard<std::mutex> lock(shard.mu);

  Bucket* bucket;
  if (auto it = shard.index.find(key); it != shard.index.end()) {
    shard.lru.splice(shard.lru.begin(), shard.lru, it->second);
    bucket = &*it->second;
    Refill(*bucket, now);
  } else {
    if (shard.index.size() < shard_capacity_) {
      Bucket& b = shard.lru.emplace_front();
      b.key.assign(key);
      shard.index.emplace(std::string_view(b.key), shard.lru.begin());
    } else {
      // Full: the least recently used bucket goes. It is the one that has
      // had the longest time to refill, so the most likely to be full again,
      // and a full bucket is exactly what a new key gets: dropping it loses
      // nothing. If it is not full, its key is refused less than it should
      // be once it comes back; that is the price of bounded memory, and
      // better than refusing new keys (which would let a flood of fresh
      // addresses lock out everyone else). Not random: the LRU order is kept
      // anyway, and a random victim could be a client being limited right now.
      ++shard.counters.evicted;
      // The map node and the list node are both reused: no allocation (the
      // string keeps its capacity). The map node is taken out before the
      // string it views changes.
      auto node = shard.index.extract(std::string_view(shard.lru.back().key));
      shard.lru.splice(shard.lru.begin(), shard.lru, std::prev(shard.lru.end()));
      Bucket& b = shard.lru.front();
      b.key.assign(key);
      node.key() = std::string_view(b.key);
      shard.index.insert(std::move(node));
    }
    bucket = &shard.lru.front();
    bucket->tokens = burst_;
    bucket->updated = now;
  }

  if (bucket->tokens >= 1) {
    bucket->tokens -= 1;
    ++shard.counters.allowed;
    return {true, 0};
  }
  ++shard.counters.limited;
  const double wait = std::ceil((1 - bucket->tokens) / rate_);
  const int retry = wait >= std::numeric_limits<int>::max() ? std::numeric_limits<int>::max()
                                                            : static_cast<int>(wait);
  return {false, std::max(1, retry)};
}

RateLimiter::Counters RateLimiter::counters() const {
  Counters total;
  for (std::size_t i = 0; i < shard_count_; ++i) {
    std::lock_guard<std::mutex> lock(shards_[i].mu);
    total.allowed += shards_[i].counters.allowed;
    total.limited += shards_[i].counters.limited;
    total.evicted += shards_[i].counters.evicted;
  }
  return total;
}

std::size_t RateLimiter::size() const {
  std::size_t n = 0;
  for (std::size_t i = 0; i < shard_count_; ++i) {
    std::lock_guard<std::mutex> lock(shards_[i].mu);
    n += shards_[i].index.size();
  }
  return n;
}

}  // namespace firstcome::edge
