#include "edge/rate_limiter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace firstcome::edge {
namespace {

using Clock = RateLimiter::Clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

const Clock::time_point kStart = Clock::time_point() + std::chrono::hours(1000);

int AllowedOf(RateLimiter& limiter, std::string_view key, int calls, Clock::time_point now) {
  int allowed = 0;
  for (int i = 0; i < calls; ++i) allowed += limiter.Allow(key, now).allowed ? 1 : 0;
  return allowed;
}

TEST(RateLimiter, AllowsABurstThenRefusesWithRetryAfter) {
  RateLimiter limiter({.rate_per_second = 10, .burst = 20});
  EXPECT_EQ(AllowedOf(limiter, "1.2.3.4", 20, kStart), 20);
  const RateLimiter::Decision d = limiter.Allow("1.2.3.4", kStart);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after_seconds, 1);
  // Other keys have their own bucket.
  EXPECT_TRUE(limiter.Allow("5.6.7.8", kStart).allowed);

  const RateLimiter::Counters c = limiter.counters();
  EXPECT_EQ(c.allowed, 21u);
  EXPECT_EQ(c.limited, 1u);
  EXPECT_EQ(c.evicted, 0u);
  EXPECT_EQ(limiter.size(), 2u);
}

TEST(RateLimiter, RefillsAtTheRateUpToTheBurst) {
  RateLimiter limiter({.rate_per_second = 10, .burst = 20});
  ASSERT_EQ(AllowedOf(limiter, "k", 20, kStart), 20);
  // 100 ms earn one token.
  EXPECT_FALSE(limiter.Allow("k", kStart + milliseconds(50)).allowed);
  EXPECT_TRUE(limiter.Allow("k", kStart + milliseconds(100)).allowed);
  EXPECT_FALSE(limiter.Allow("k", kStart + milliseconds(100)).allowed);
  // 1 s earns 10.
  EXPECT_EQ(AllowedOf(limiter, "k", 15, kStart + milliseconds(1100)), 10);
  // A long pause fills the bucket to the burst, not beyond.
  EXPECT_EQ(AllowedOf(limiter, "k", 50, kStart + seconds(3600)), 20);
}

TEST(RateLimiter, RetryAfterSaysWhenATokenIsBack) {
  RateLimiter slow({.rate_per_second = 0.1, .burst = 1});  // one call per 10 s
  EXPECT_TRUE(slow.Allow("u", kStart).allowed);
  RateLimiter::Decision d = slow.Allow("u", kStart);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after_seconds, 10);
  d = slow.Allow("u", kStart + milliseconds(7500));
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after_seconds, 3);  // 2.5 s, rounded up
  EXPECT_TRUE(slow.Allow("u", kStart + seconds(10)).allowed);

  // Never 0 while refused, even a moment before the token is back.
  RateLimiter fast({.rate_per_second = 1000, .burst = 1});
  EXPECT_TRUE(fast.Allow("u", kStart).allowed);
  d = fast.Allow("u", kStart + std::chrono::microseconds(999));
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after_seconds, 1);
}

TEST(RateLimiter, BurstDefaultsToTheRateAndAtLeastOne) {
  RateLimiter five({.rate_per_second = 5});
  EXPECT_EQ(AllowedOf(five, "k", 10, kStart), 5);
  RateLimiter slow({.rate_per_second = 0.5});
  EXPECT_EQ(AllowedOf(slow, "k", 10, kStart), 1);
}

TEST(RateLimiter, RateZeroIsOff) {
  RateLimiter off({.rate_per_second = 0, .burst = 1});
  EXPECT_FALSE(off.enabled());
  for (int i = 0; i < 1000; ++i) {
    const RateLimiter::Decision d = off.Allow("k", kStart);
    EXPECT_TRUE(d.allowed);
    EXPECT_EQ(d.retry_after_seconds, 0);
  }
  EXPECT_EQ(off.size(), 0u);
  EXPECT_EQ(off.counters().allowed, 0u);
}

TEST(RateLimiter, AClockGoingBackwardsEarnsNothing) {
  RateLimiter limiter({.rate_per_second = 1, .burst = 1});
  EXPECT_TRUE(limiter.Allow("k", kStart).allowed);
  EXPECT_FALSE(limiter.Allow("k", kStart - seconds(100)).allowed);
  EXPECT_FALSE(limiter.Allow("k", kStart + milliseconds(999)).allowed);
  EXPECT_TRUE(limiter.Allow("k", kStart + seconds(1)).allowed);
}

TEST(RateLimiter, MemoryStaysBoundedUnderAMillionKeys) {
  RateLimiter limiter({.rate_per_second = 1, .burst = 2, .max_keys = 1000, .shards = 16});
  EXPECT_LE(limiter.capacity(), 1000u);
  std::string key;
  for (int i = 0; i < 1'000'000; ++i) {
    key = "10.";
    key += std::to_string(i);
    ASSERT_TRUE(limiter.Allow(key, kStart).allowed);
  }
  EXPECT_LE(limiter.size(), 1000u);
  EXPECT_GE(limiter.size(), 900u);  // the shards fill up roughly evenly
  const RateLimiter::Counters c = limiter.counters();
  EXPECT_EQ(c.allowed, 1'000'000u);
  EXPECT_EQ(c.evicted, 1'000'000u - limiter.size());
}

TEST(RateLimiter, EvictsTheLeastRecentlyUsedBucket) {
  // One shard holding two buckets, so the order is observable.
  RateLimiter limiter({.rate_per_second = 1, .burst = 1, .max_keys = 2, .shards = 1});
  EXPECT_TRUE(limiter.Allow("a", kStart).allowed);
  EXPECT_TRUE(limiter.Allow("b", kStart).allowed);
  EXPECT_FALSE(limiter.Allow("a", kStart).allowed);  // a is now the most recent
  EXPECT_TRUE(limiter.Allow("c", kStart).allowed);   // evicts b
  EXPECT_EQ(limiter.counters().evicted, 1u);
  EXPECT_EQ(limiter.size(), 2u);
  EXPECT_FALSE(limiter.Allow("a", kStart).allowed);  // a kept its empty bucket
  EXPECT_FALSE(limiter.Allow("c", kStart).allowed);
  EXPECT_TRUE(limiter.Allow("b", kStart).allowed);  // b starts again, full (evicts a)
  EXPECT_TRUE(limiter.Allow("a", kStart).allowed);  // and a was evicted in turn
}

TEST(RateLimiter, MaxKeysSmallerThanShards) {
  RateLimiter limiter({.rate_per_second = 1, .burst = 1, .max_keys = 3, .shards = 64});
  for (int i = 0; i < 100; ++i) (void)limiter.Allow(std::to_string(i), kStart);
  EXPECT_LE(limiter.size(), 3u);
  EXPECT_GE(limiter.size(), 1u);
}

TEST(RateLimiter, EmptyAndLongKeysAreKeysLikeOthers) {
  RateLimiter limiter({.rate_per_second = 1, .burst = 1});
  EXPECT_TRUE(limiter.Allow("", kStart).allowed);
  EXPECT_FALSE(limiter.Allow("", kStart).allowed);
  const std::string long_key(1000, 'x');
  EXPECT_TRUE(limiter.Allow(long_key, kStart).allowed);
  EXPECT_FALSE(limiter.Allow(long_key, kStart).allowed);
}

TEST(RateLimiter, ThreadsShareOneBucketExactly) {
  // Time frozen: across all threads exactly `burst` calls pass per key.
  RateLimiter limiter({.rate_per_second = 1, .burst = 500, .max_keys = 10'000});
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        if (limiter.Allow("shared", kStart).allowed) ++allowed;
        // Private keys churn the maps of the other shards at the same time.
        // Appended, not "t" + to_string(t): GCC 12 warns falsely (-Wrestrict) on that.
        std::string key = std::to_string(t);
        key += '-';
        key += std::to_string(i);
        (void)limiter.Allow(key, kStart);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(allowed.load(), 500);
  const RateLimiter::Counters c = limiter.counters();
  EXPECT_EQ(c.allowed + c.limited, 4u * 2000u * 2u);
  EXPECT_EQ(c.limited, 4u * 2000u - 500u);
  EXPECT_EQ(limiter.size(), 1u + 4u * 2000u);
}

TEST(RateLimiter, ThreadsWithEvictionKeepTheBound) {
  RateLimiter limiter({.rate_per_second = 5, .burst = 10, .max_keys = 256, .shards = 8});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50'000; ++i) {
        (void)limiter.Allow(std::to_string(t * 1'000'000 + i % 3000), kStart + milliseconds(i));
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_LE(limiter.size(), 256u);
  const RateLimiter::Counters c = limiter.counters();
  EXPECT_EQ(c.allowed + c.limited, 200'000u);
  EXPECT_GT(c.evicted, 0u);
}

}  // namespace
}  // namespace firstcome::edge
