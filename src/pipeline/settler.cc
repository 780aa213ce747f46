#include "pipeline/settler.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "core/thread_name.h"
#include "pipeline/append_all.h"

namespace firstcome {

Result<SettleResult> SettleEvent(const Event& event, Gate& gate, Log& log,
                                 std::chrono::milliseconds age, std::size_t max,
                                 std::chrono::milliseconds append_timeout) {
  SettleResult result;
  if (max == 0) return result;
  auto claimed = gate.ClaimUnlogged(event, age, max);
  if (!claimed.ok()) return claimed.status();
  result.claimed = static_cast<std::int64_t>(claimed->size());
  if (claimed->empty()) return result;
  std::vector<Issuance> failed = AppendAll(log, *claimed, append_timeout);
  // AppendAll keeps the order: what is not in `failed` was acknowledged.
  std::size_t f = 0;
  for (const Issuance& i : *claimed) {
    if (f < failed.size() && failed[f].seq == i.seq) {
      ++f;
      continue;
    }
    ++result.logged;
    // Not waited for: an acknowledgement lost here only makes a later pass
    // append the same record again, which the consumer counts as a duplicate.
    gate.Acknowledge(i, [](Status) {});
  }
  return result;
}

Settler::Settler(EventCatalog& catalog, Gate& gate, Log& log, SettlerOptions options)
    : catalog_(catalog), gate_(gate), log_(log), options_(options) {}

Settler::~Settler() { Stop(); }

std::chrono::milliseconds Settler::interval() const {
  return std::clamp(options_.settle_after / 4, std::chrono::milliseconds(50),
                    std::chrono::milliseconds(2500));
}

void Settler::Start() {
  if (options_.settle_after.count() <= 0 || thread_.joinable()) return;
  thread_ = std::thread([this] { Loop(); });
}

void Settler::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Settler::Loop() {
  NameThisThread("fc-settler");
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, interval(), [this] { return stopping_; })) {
    lock.unlock();
    if (auto pass = RunOnce(); !pass.ok()) {
      failed_passes_.fetch_add(1);
      spdlog::warn("settler: pass failed (tried again in {} ms): {}", interval().count(),
                   pass.status().ToString());
    }
    lock.lock();
  }
}

Result<SettleResult> Settler::RunOnce() {
  SettleResult total;
  auto events = catalog_.List();
  if (!events.ok()) return events.status();
  Status first_error = Status::Ok();
  for (const auto& event : *events) {
    const std::size_t budget =
        options_.max_per_pass - std::min<std::size_t>(options_.max_per_pass, total.claimed);
    if (budget == 0) break;
    auto settled =
        SettleEvent(*event, gate_, log_, options_.settle_after, budget, options_.append_timeout);
    if (!settled.ok()) {
      // One event's failure (a gate timeout) does not stop the others.
      if (first_error.ok()) first_error = settled.status();
      continue;
    }
    total.claimed += settled->claimed;
    total.logged += settled->logged;
    if (settled->claimed > 0) {
      logged_.fetch_add(settled->logged);
      spdlog::warn(
          "settler: event {}: {} admission(s) pending longer than {} ms (their process stopped or "
          "hung before the log answered) appended to the log: {}, not yet: {}; their users keep "
          "them",
          event->id, settled->claimed, options_.settle_after.count(), settled->logged,
          settled->claimed - settled->logged);
    }
  }
  if (!first_error.ok()) return first_error;
  return total;
}

void Settler::WriteMetrics(MetricsWriter& out) const {
  out.Counter("firstcome_settle_logged_total",
              "Admissions left pending by a stopped or hung process, appended to the log by this "
              "process's settler.",
              static_cast<double>(logged_.load()));
  out.Counter("firstcome_settle_failed_passes_total",
              "Settler passes that could not reach the store, the gate or the log.",
              static_cast<double>(failed_passes_.load()));
}

}  // namespace firstcome
