// MemoryGate: cost of one decision and memory per admitted user.
//
//   BM_Admit          every call admits a new user (total large enough).
//   BM_SoldOut        every call is a new user of a sold-out event: the hot
//                     path once a drop is over.
//   BM_AlreadyIssued  every call is a user who already holds a coupon.
//   BM_BytesPerUser   heap growth (mallinfo2) for 1,000,000 admitted users with
//                     per_user = 1 and ids like "u-123456"; counter bytes_per_user.
// Thread counts 1 and 2 (the HTTP server calls the gate from its I/O threads).
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <atomic>
#include <string>
#include <vector>

#include "gate/memory_gate.h"

namespace firstcome {
namespace {

constexpr int kNames = 1 << 20;

// Precomputed so that building ids is not timed.
const std::vector<std::string>& Names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    v.reserve(kNames);
    for (int i = 0; i < kNames; ++i) {
      std::string s = "u-";
      s += std::to_string(100000 + i);
      v.push_back(std::move(s));
    }
    return v;
  }();
  return names;
}

Event MakeEvent(std::string id, std::int64_t total) {
  Event e;
  e.id = std::move(id);
  e.total = total;
  e.per_user = 1;
  return e;
}

std::atomic<int> event_counter{0};

void BM_Admit(benchmark::State& state) {
  static std::unique_ptr<Gate> gate;
  static Event event;
  const auto& names = Names();
  if (state.thread_index() == 0) {
    gate = NewMemoryGate();
    event = MakeEvent("admit-" + std::to_string(event_counter++), kMaxTotal);
  }
  // Each thread its own slice of users; a fresh event when the slice is used up.
  const int threads = state.threads();
  std::size_t i = static_cast<std::size_t>(state.thread_index());
  std::int64_t admitted = 0;
  Event local;
  for (auto _ : state) {
    if (i >= names.size()) {
      state.PauseTiming();
      i = static_cast<std::size_t>(state.thread_index());
      local = MakeEvent("admit-more-" + std::to_string(event_counter++), kMaxTotal);
      state.ResumeTiming();
    }
    const Event& ev = local.id.empty() ? event : local;
    gate->Admit(ev, names[i], [&](Result<Admission> r) {
      admitted += r.ok() && r->verdict == AdmitVerdict::kAdmitted;
    });
    i += static_cast<std::size_t>(threads);
  }
  state.counters["admitted"] = benchmark::Counter(static_cast<double>(admitted));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Admit)->Threads(1)->Threads(2)->UseRealTime();

void BM_SoldOut(benchmark::State& state) {
  static std::unique_ptr<Gate> gate;
  static Event event;
  const auto& names = Names();
  if (state.thread_index() == 0) {
    gate = NewMemoryGate();
    event = MakeEvent("sold", 100);
    for (int i = 0; i < 100; ++i) {
      gate->Admit(event, "early-" + std::to_string(i), [](Result<Admission>) {});
    }
  }
  std::size_t i = static_cast<std::size_t>(state.thread_index());
  std::int64_t sold_out = 0;
  for (auto _ : state) {
    gate->Admit(event, names[i & (kNames - 1)], [&](Result<Admission> r) {
      sold_out += r.ok() && r->verdict == AdmitVerdict::kSoldOut;
    });
    i += static_cast<std::size_t>(state.threads());
  }
  if (sold_out != state.iterations()) state.SkipWithError("expected only sold_out");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SoldOut)->Threads(1)->Threads(2)->UseRealTime();

void BM_AlreadyIssued(benchmark::State& state) {
  static std::unique_ptr<Gate> gate;
  static Event event;
  constexpr int kHolders = 10000;
  const auto& names = Names();
  if (state.thread_index() == 0) {
    gate = NewMemoryGate();
    event = MakeEvent("held", kHolders);
    for (int i = 0; i < kHolders; ++i) gate->Admit(event, names[i], [](Result<Admission>) {});
  }
  std::size_t i = static_cast<std::size_t>(state.thread_index());
  for (auto _ : state) {
    gate->Admit(event, names[i % kHolders],
                [](Result<Admission> r) { benchmark::DoNotOptimize(r); });
    i += static_cast<std::size_t>(state.threads());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AlreadyIssued)->Threads(1)->Threads(2)->UseRealTime();

void BM_BytesPerUser(benchmark::State& state) {
  constexpr int kUsers = 1'000'000;
  for (auto _ : state) {
    malloc_trim(0);
    const std::size_t before = mallinfo2().uordblks;
    auto gate = NewMemoryGate();
    Event event = MakeEvent("memory", kUsers);
    std::string user;
    std::int64_t admitted = 0;
    for (int i = 0; i < kUsers; ++i) {
      user = "u-";
      user += std::to_string(100000 + i);
      gate->Admit(event, user, [&](Result<Admission> r) {
        admitted += r.ok() && r->verdict == AdmitVerdict::kAdmitted;
      });
    }
    const std::size_t after = mallinfo2().uordblks;
    if (admitted != kUsers) state.SkipWithError("not every user was admitted");
    state.counters["bytes_per_user"] =
        static_cast<double>(after - before) / static_cast<double>(kUsers);
  }
}
BENCHMARK(BM_BytesPerUser)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace firstcome

BENCHMARK_MAIN();
