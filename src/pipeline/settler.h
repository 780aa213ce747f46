// Settler: heals, without an operator, what an API process left behind when
// it was killed (or hung) between the gate's admission and the log's answer.
//
// Every admission is pending in the gate until the log acknowledged its
// record (gate.h). A pending admission older than `settle_after` belongs to a
// process that died or is far slower than any append may take; the settler
// claims it in the gate (from then on the issuing process can no longer
// withdraw it) and appends its record, the very issuance the issuer would
// have appended (same seq, user, user_seq and issued_at), then acknowledges
// it. So the user keeps the seq (a retry hears already_issued, the coupon
// reaches the store) and no seq is ever handed out twice. Why logging and not
// releasing, and why it is safe against a slow process and against two
// settlers: docs/design.md, "API crash self-healing".
//
// Runs in every process that shares a gate (Start), one pass every
// interval(), at most max_per_pass records a pass; audit --repair runs the
// same SettleEvent with age 0.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>

#include "core/metrics.h"
#include "gate/gate.h"
#include "log/log.h"
#include "pipeline/event_catalog.h"

namespace firstcome {

struct SettlerOptions {
  // Age at which a pending admission is settled; 0: the settler is off.
  std::chrono::milliseconds settle_after{10000};
  std::size_t max_per_pass = 1000;  // records claimed per pass, over all events
  // Wait for the log's answers to one event's appends at most this long.
  std::chrono::milliseconds append_timeout{10000};
};

struct SettleResult {
  std::int64_t claimed = 0;  // pending admissions claimed (earlier claims too)
  std::int64_t logged = 0;   // of them, acknowledged by the log
};

// Claims up to `max` pending admissions of `event` at least `age` old,
// appends their records, and acknowledges those the log took. Records the log
// did not take stay claimed and pending, for the next pass. Blocking. Errors:
// the gate is unavailable (nothing claimed).
Result<SettleResult> SettleEvent(const Event& event, Gate& gate, Log& log,
                                 std::chrono::milliseconds age, std::size_t max,
                                 std::chrono::milliseconds append_timeout);

class Settler final : public MetricsSource {
 public:
  Settler(EventCatalog& catalog, Gate& gate, Log& log, SettlerOptions options);
  ~Settler() override;  // Stop()
  Settler(const Settler&) = delete;
  Settler& operator=(const Settler&) = delete;

  // Starts the pass thread (nothing when settle_after is 0). Stop joins it.
  void Start();
  void Stop();

  // One pass over every stored event (the thread's; tests call it directly).
  Result<SettleResult> RunOnce();

  // Time between passes: a quarter of settle_after, within 50 ms..2.5 s.
  std::chrono::milliseconds interval() const;

  void WriteMetrics(MetricsWriter& out) const override;

 private:
  void Loop();

  EventCatalog& catalog_;
  Gate& gate_;
  Log& log_;
  const SettlerOptions options_;
  std::atomic<std::int64_t> logged_{0};
  std::atomic<std::int64_t> failed_passes_{0};

  std::mutex mu_;
  std::condition_variable cv_;  // stopping
  bool stopping_ = false;       // guarded by mu_
  std::thread thread_;
};

}  // namespace firstcome
