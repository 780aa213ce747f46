#include "pipeline/retry_job.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>

#include "core/thread_name.h"

namespace firstcome {

RetryJob::RetryJob(Store& store, RetryOptions options) : store_(store), options_(options) {}

RetryJob::~RetryJob() { Stop(); }

void RetryJob::Start() {
  thread_ = std::thread([this] {
    NameThisThread("fc-retry");
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, options_.interval, [this] { return stopping_; })) {
      lock.unlock();
      auto round = RunOnce(NowMillis());
      if (!round.ok()) {
        spdlog::warn("retry job: {}", round.status().ToString());
      } else if (round->resolved + round->dead > 0) {
        spdlog::info("retry job: {} persisted, {} rescheduled, {} dead", round->resolved,
                     round->rescheduled, round->dead);
      }
      lock.lock();
    }
  });
}

void RetryJob::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

// Saturating: `now` may be the far future (RunOnce's "everything is due") and
// the delays any configured size; the sum never wraps into the past.
UnixMillis NextAttemptAt(const RetryOptions& options, UnixMillis now, int attempts) {
  const std::int64_t max_delay = std::max<std::int64_t>(options.max_delay.count(), 0);
  std::int64_t delay = std::clamp<std::int64_t>(options.first_delay.count(), 0, max_delay);
  for (int i = 1; i < attempts && delay < max_delay; ++i) {
    delay = delay > max_delay / 2 ? max_delay : delay * 2;
  }
  UnixMillis at = 0;
  if (__builtin_add_overflow(now, delay, &at)) return std::numeric_limits<UnixMillis>::max();
  return at;
}

Result<RetryAttempt> AttemptFailedEvent(Store& store, const RetryOptions& options,
                                        const FailedEvent& failed, UnixMillis now) {
  RetryAttempt result;
  auto outcome = store.InsertCoupons(std::span<const Issuance>(&failed.issuance, 1));
  if (!outcome.ok()) return outcome.status();
  if (outcome->failed.empty()) {
    if (Status s = store.ResolveFailure(failed.id); !s.ok()) return s;
    result.ignored = outcome->ignored > 0;
    result.persisted = !result.ignored;
    return result;
  }
  const int attempts = failed.attempts + 1;
  result.dead = failed.dead || attempts >= options.max_attempts;
  result.error = outcome->failed.front().error;
  if (Status s = store.RescheduleFailure(failed.id, result.error,
                                         NextAttemptAt(options, now, attempts), result.dead);
      !s.ok()) {
    return s;
  }
  if (result.dead && !failed.dead) {
    spdlog::error("retry job: {} seq {} user {} marked dead after {} attempts: {}",
                  failed.issuance.event_id, failed.issuance.seq, failed.issuance.user_id, attempts,
                  result.error);
  }
  return result;
}

Status RetryJob::Attempt(const FailedEvent& failed, UnixMillis now, RetryRound& round) {
  auto attempt = AttemptFailedEvent(store_, options_, failed, now);
  if (!attempt.ok()) return attempt.status();
  if (attempt->persisted || attempt->ignored) {
    ++round.resolved;
  } else if (attempt->dead) {
    ++round.dead;
  } else {
    ++round.rescheduled;
  }
  return Status::Ok();
}

Result<RetryRound> RetryJob::RunOnce(UnixMillis now) { return RunOnce(now, now); }

Result<RetryRound> RetryJob::RunOnce(UnixMillis due_until, UnixMillis now) {
  RetryRound round;
  auto due = store_.DueFailures(due_until, options_.batch);
  if (!due.ok()) return due.status();
  for (const FailedEvent& failed : *due) {
    // The store being down ends the round: the rest are tried next time.
    if (Status s = Attempt(failed, now, round); !s.ok()) return s;
  }
  resolved_total_ += round.resolved;
  dead_total_ += round.dead;
  return round;
}

Result<RetryRound> RetryJob::ReviveDead() {
  RetryRound round;
  auto events = store_.ListEvents();
  if (!events.ok()) return events.status();
  const UnixMillis now = NowMillis();
  for (const Event& event : *events) {
    auto failures = store_.FailuresOf(event.id);
    if (!failures.ok()) return failures.status();
    for (const FailedEvent& failed : *failures) {
      if (!failed.dead) continue;
      if (Status s = Attempt(failed, now, round); !s.ok()) return s;
    }
  }
  resolved_total_ += round.resolved;
  return round;
}

void RetryJob::WriteMetrics(MetricsWriter& out) const {
  out.Counter("firstcome_retry_resolved_total", "Failed events the retry job persisted.",
              static_cast<double>(resolved_total()));
  out.Counter("firstcome_retry_dead_total", "Failed events marked dead after the last attempt.",
              static_cast<double>(dead_total()));
}

}  // namespace firstcome
