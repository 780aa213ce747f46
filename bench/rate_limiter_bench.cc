// RateLimiter: cost of one decision on the request path.
//
//   BM_KnownKey     every call is one of 1,000 known clients (the steady state:
//                   lookup, refill, take a token).
//   BM_OneHotKey    every call is the same key: all threads on one shard lock.
//   BM_NewKeyEvict  every call is a new key into a full limiter (an address
//                   flood): evict the LRU bucket and reuse it.
//   BM_Off          rate 0: the price of the limiter being configured off.
// Thread counts 1 and 2 (the HTTP server calls it from its I/O threads).
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "edge/rate_limiter.h"

namespace firstcome::edge {
namespace {

using Clock = RateLimiter::Clock;

const std::vector<std::string>& Addresses() {
  static const std::vector<std::string> addresses = [] {
    std::vector<std::string> v;
    for (int i = 0; i < (1 << 20); ++i) {
      // Appended: GCC 12 warns falsely (-Wrestrict) on "literal" + std::string.
      std::string a = "10.";
      a += std::to_string(i >> 16);
      a += '.';
      a += std::to_string((i >> 8) & 255);
      a += '.';
      a += std::to_string(i & 255);
      v.push_back(std::move(a));
    }
    return v;
  }();
  return addresses;
}

void BM_KnownKey(benchmark::State& state) {
  // Function-local statics: built once, thread-safely, shared by the threads.
  static RateLimiter limiter({.rate_per_second = 1e6, .burst = 2e6});
  const auto& keys = Addresses();
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * 7919;
  for (auto _ : state) {
    benchmark::DoNotOptimize(limiter.Allow(keys[i++ % 1000], Clock::now()));
  }
}
BENCHMARK(BM_KnownKey)->Threads(1)->Threads(2)->UseRealTime();

void BM_OneHotKey(benchmark::State& state) {
  static RateLimiter limiter({.rate_per_second = 1e6, .burst = 2e6});
  for (auto _ : state) {
    benchmark::DoNotOptimize(limiter.Allow("10.0.0.1", Clock::now()));
  }
}
BENCHMARK(BM_OneHotKey)->Threads(1)->Threads(2)->UseRealTime();

void BM_NewKeyEvict(benchmark::State& state) {
  static RateLimiter limiter({.rate_per_second = 10, .burst = 20, .max_keys = 10'000});
  const auto& keys = Addresses();
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * (keys.size() / 2);
  for (auto _ : state) {
    benchmark::DoNotOptimize(limiter.Allow(keys[i++ % keys.size()], Clock::now()));
  }
  state.counters["evicted"] = static_cast<double>(limiter.counters().evicted);
}
BENCHMARK(BM_NewKeyEvict)->Threads(1)->Threads(2)->UseRealTime();

void BM_Off(benchmark::State& state) {
  static RateLimiter limiter({.rate_per_second = 0});
  for (auto _ : state) {
    benchmark::DoNotOptimize(limiter.Allow("10.0.0.1", Clock::now()));
  }
}
BENCHMARK(BM_Off)->Threads(1)->UseRealTime();

}  // namespace
}  // namespace firstcome::edge

BENCHMARK_MAIN();
