// RateLimiter: one token bucket per key (a client address or a user id), for
// `rate_limit_ip` and `rate_limit_user`.
//
// A bucket holds at most `burst` tokens and gains `rate_per_second` tokens a
// second; a call takes one token or is refused. A key seen for the first time
// starts with a full bucket.
//
// Invariants:
//  - Memory is bounded: never more than max_keys buckets. Buckets live in
//    shards chosen by the key's hash, each with its own mutex and at most
//    max_keys / shards buckets; a full shard evicts before it inserts.
//  - The lock is held only for one lookup and one update. A key already
//    present costs no allocation, and once a shard is full an insertion
//    reuses the evicted bucket's memory (its string grows only when the new
//    key is longer than any it held before).
//  - rate_per_second == 0 turns the limiter off: every call is allowed,
//    nothing is stored and nothing is counted.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace firstcome::edge {

struct RateLimiterOptions {
  double rate_per_second = 0;  // 0 = off
  // Tokens a full bucket holds; values below 1 mean max(1, rate_per_second).
  double burst = 0;
  std::size_t max_keys = 100'000;
  std::size_t shards = 64;
};

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  struct Decision {
    bool allowed = true;
    int retry_after_seconds = 0;  // >= 1 when refused: when one token will be back
  };

  struct Counters {
    std::uint64_t allowed = 0;
    std::uint64_t limited = 0;
    std::uint64_t evicted = 0;  // buckets dropped to make room for new keys
  };

  explicit RateLimiter(RateLimiterOptions options);
  ~RateLimiter();
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  Decision Allow(std::string_view key, Clock::time_point now);

  bool enabled() const { return rate_ > 0; }
  // Sums over the shards (each read under its lock): for metrics, not hot.
  Counters counters() const;
  std::size_t size() const;  // buckets held now
  std::size_t capacity() const { return shard_capacity_ * shard_count_; }

 private:
  struct Bucket {
    std::string key;
    double tokens = 0;
    Clock::time_point updated;
  };
  // Most recently used first. The map's keys view the list nodes' strings,
  // which stay put while the node lives (std::list never moves nodes).
  struct Shard {
    std::mutex mu;
    std::list<Bucket> lru;
    std::unordered_map<std::string_view, std::list<Bucket>::iterator> index;
    Counters counters;
  };

  Shard& ShardFor(std::string_view key);
  // Adds the tokens earned since b.updated (never above burst_).
  void Refill(Bucket& b, Clock::time_point now) const;

  const double rate_;
  const double burst_;
  const std::size_t shard_count_;
  const std::size_t shard_capacity_;
  std::unique_ptr<Shard[]> shards_;
};

}  // namespace firstcome::edge
