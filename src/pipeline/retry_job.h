// RetryJob: re-processes failed events until they are persisted, with
// exponential backoff; after max_attempts an event is marked dead, which the
// event status and /metrics show to operators. Runs on a timer inside `serve`
// and once on demand as `firstcome retry-failed`.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "core/metrics.h"
#include "store/store.h"

namespace firstcome {

struct RetryOptions {
  std::chrono::milliseconds interval{1000};
  std::chrono::milliseconds first_delay{1000};  // backoff after the 1st failed retry
  std::chrono::milliseconds max_delay{300000};
  int max_attempts = 10;
  std::size_t batch = 500;
};

// What one attempt at a failed event did.
struct RetryAttempt {
  bool persisted = false;  // in the store now (or it already was)
  bool ignored = false;    // revoked, or its event deleted: the failed event is gone
  bool dead = false;       // still failing and out of attempts (or was dead already)
  std::string error;       // when still failing: the store's reason
};

// One attempt at `failed`: inserts its record, then resolves the failed event
// (persisted or ignored) or reschedules it with backoff, marking it dead once
// it reached options.max_attempts. Used by the retry job and by an operator's
// "retry now". Errors: the store is unavailable (nothing changed).
// When a failed event that has failed `attempts` times is tried next:
// first_delay doubling up to max_delay after `now`, saturating (never wraps).
UnixMillis NextAttemptAt(const RetryOptions& options, UnixMillis now, int attempts);

Result<RetryAttempt> AttemptFailedEvent(Store& store, const RetryOptions& options,
                                        const FailedEvent& failed, UnixMillis now);

struct RetryRound {
  std::int64_t resolved = 0;     // persisted (or found already persisted)
  std::int64_t rescheduled = 0;  // still failing, tried again later
  std::int64_t dead = 0;         // gave up this round
};

class RetryJob final : public MetricsSource {
 public:
  RetryJob(Store& store, RetryOptions options);
  ~RetryJob();

  void Start();
  void Stop();

  // One pass over the failed events due at `now` (all pending ones when `now`
  // is in the far future). Errors: the store is unavailable.
  Result<RetryRound> RunOnce(UnixMillis now);
  // The failed events due at `due_until` (the far future: all pending ones),
  // the still-failing ones rescheduled from `now` (the clock), so that an
  // on-demand pass does not push them out of the running job's reach.
  Result<RetryRound> RunOnce(UnixMillis due_until, UnixMillis now);

  // Tries every dead failed event once more (an operator's decision, after
  // fixing the cause). Still-failing ones stay dead.
  Result<RetryRound> ReviveDead();

  std::int64_t resolved_total() const { return resolved_total_.load(); }
  std::int64_t dead_total() const { return dead_total_.load(); }
  void WriteMetrics(MetricsWriter& out) const override;

 private:
  // AttemptFailedEvent, counted in `round`.
  Status Attempt(const FailedEvent& failed, UnixMillis now, RetryRound& round);

  Store& store_;
  const RetryOptions options_;
  std::atomic<std::int64_t> resolved_total_{0};
  std::atomic<std::int64_t> dead_total_{0};
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
};

}  // namespace firstcome
