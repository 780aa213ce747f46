// RedisGate admission throughput against a running Redis named by
// FIRSTCOME_REDIS_URL (e.g. `eval "$(scripts/services up --only redis)"`), or
// the primary named by FIRSTCOME_REDIS_SENTINELS (`scripts/services up --ha`),
// with FIRSTCOME_REDIS_WAIT_REPLICAS replicas confirming each batch (the
// hot-event ceiling with and without WAIT, docs/high-availability.md).
//
//   BM_AdmitBlockingCallers   N threads, each waiting for its own answer, like
//                             HTTP handlers; they share the pipelined pool.
//   BM_AdmitWindow            one thread keeping `inflight` requests open.
//   BM_SoldOutViaRedis        every answer sold_out from the script (no cache).
//   BM_SoldOutCached          every answer from the local sold-out flag.
// Admitted users are unique, so every admission writes (and, with the
// service's appendfsync always, is fsynced once per Redis event-loop turn).
#include <benchmark/benchmark.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>

#include "gate/redis_gate.h"

namespace firstcome {
namespace {

std::atomic<std::int64_t> next_user{0};

std::string UserName() {
  std::string name = "bench-";
  name += std::to_string(next_user.fetch_add(1));
  return name;
}

// One gate per (connections, cache) pair for the whole run: opening one costs
// connections and script loads that must not be timed.
Gate* GateFor(int connections, bool cache, benchmark::State& state) {
  static std::mutex mu;
  static std::map<std::pair<int, bool>, std::unique_ptr<Gate>> gates;
  const char* url = std::getenv("FIRSTCOME_REDIS_URL");
  const char* sentinels = std::getenv("FIRSTCOME_REDIS_SENTINELS");
  const char* wait_replicas = std::getenv("FIRSTCOME_REDIS_WAIT_REPLICAS");
  if (url == nullptr && sentinels == nullptr) {
    state.SkipWithError(
        "set FIRSTCOME_REDIS_URL or FIRSTCOME_REDIS_SENTINELS (eval \"$(scripts/services up "
        "--only redis)\")");
    return nullptr;
  }
  std::lock_guard lock(mu);
  auto& gate = gates[{connections, cache}];
  if (!gate) {
    RedisGateOptions options;
    if (url != nullptr) options.url = url;
    if (sentinels != nullptr) {
      options.sentinels = sentinels;
      // No log here: the failover fence has nothing to rebuild from.
      options.check_after_failover = [](Gate&) { return Status::Ok(); };
      options.fence_grace = std::chrono::milliseconds(0);
    }
    if (wait_replicas != nullptr) options.wait_replicas = std::atoi(wait_replicas);
    options.connections = connections;
    options.timeout = std::chrono::milliseconds(5000);
    options.max_queued = 100000;
    options.sold_out_cache = std::chrono::milliseconds(cache ? 60000 : 0);
    auto opened = OpenRedisGate(options);
    if (!opened.ok()) {
      state.SkipWithError(opened.status().ToString().c_str());
      return nullptr;
    }
    gate = std::move(opened).value();
  }
  return gate.get();
}

Event OpenEvent(const std::string& id) {
  return Event{.id = id, .total = kMaxTotal, .per_user = 1};
}

// Blocks the calling thread until its admission is answered.
bool AdmitAndWait(Gate& gate, const Event& event, const std::string& user) {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false, ok = false;
  gate.Admit(event, user, [&](Result<Admission> r) {
    std::lock_guard lock(mu);
    ok = r.ok();
    done = true;
    cv.notify_one();
  });
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return done; });
  return ok;
}

void BM_AdmitBlockingCallers(benchmark::State& state) {
  Gate* gate = GateFor(static_cast<int>(state.range(0)), false, state);
  if (gate == nullptr) return;
  const Event event = OpenEvent("bench-blocking");
  std::int64_t errors = 0;
  for (auto _ : state) {
    if (!AdmitAndWait(*gate, event, UserName())) ++errors;
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["errors"] = benchmark::Counter(static_cast<double>(errors));
}
BENCHMARK(BM_AdmitBlockingCallers)
    ->ArgName("connections")
    ->Arg(1)
    ->Arg(4)
    ->Threads(1)
    ->Threads(16)
    ->Threads(64)
    ->UseRealTime();

// A closed loop with `inflight` requests open at any time.
void AdmitWindow(benchmark::State& state, const Event& event, Gate& gate, bool same_user) {
  const std::int64_t window = state.range(1);
  std::mutex mu;
  std::condition_variable cv;
  std::int64_t open = 0, errors = 0;
  auto answered = [&](Result<Admission> r) {
    std::lock_guard lock(mu);
    errors += r.ok() ? 0 : 1;
    --open;
    cv.notify_one();
  };
  for (auto _ : state) {
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return open < window; });
      ++open;
    }
    gate.Admit(event, same_user ? std::string("late-comer") : UserName(), answered);
  }
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return open == 0; });
  state.SetItemsProcessed(state.iterations());
  state.counters["errors"] = benchmark::Counter(static_cast<double>(errors));
}

void BM_AdmitWindow(benchmark::State& state) {
  Gate* gate = GateFor(static_cast<int>(state.range(0)), false, state);
  if (gate == nullptr) return;
  AdmitWindow(state, OpenEvent("bench-window"), *gate, false);
}
BENCHMARK(BM_AdmitWindow)
    ->ArgNames({"connections", "inflight"})
    ->Args({1, 1})
    ->Args({1, 64})
    ->Args({4, 64})
    ->Args({4, 512})
    ->Args({8, 512})
    ->UseRealTime();

void BM_SoldOutViaRedis(benchmark::State& state) {
  Gate* gate = GateFor(static_cast<int>(state.range(0)), false, state);
  if (gate == nullptr) return;
  const Event event{.id = "bench-sold-out", .total = 1, .per_user = 1};
  AdmitAndWait(*gate, event, "the-winner");
  AdmitWindow(state, event, *gate, true);
}
BENCHMARK(BM_SoldOutViaRedis)->ArgNames({"connections", "inflight"})->Args({4, 512})->UseRealTime();

void BM_SoldOutCached(benchmark::State& state) {
  Gate* gate = GateFor(4, true, state);
  if (gate == nullptr) return;
  const Event event{.id = "bench-sold-out", .total = 1, .per_user = 1};
  AdmitAndWait(*gate, event, "the-winner");
  AdmitAndWait(*gate, event, "primes-the-flag");
  for (auto _ : state) {
    gate->Admit(event, "late-comer", [](Result<Admission> r) { benchmark::DoNotOptimize(r); });
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SoldOutCached)->Threads(1)->Threads(4)->UseRealTime();

}  // namespace
}  // namespace firstcome

BENCHMARK_MAIN();
