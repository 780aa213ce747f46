// Consumer: moves issuances from the Log into the Store, in batches, at a
// bounded rate — the reason the log exists is that a burst at the API never
// becomes a burst at the database. Revocation records of a batch are applied
// before its issuances (the store then ignores the revoked ones, see
// Store::ApplyRevocations), and records of a deleted event are ignored by
// the store.
//
// Invariants: the reader's position is committed only after the store has
// committed the batch (or recorded its refused records as failed events), so a
// crash anywhere redelivers, and redelivered records are duplicates, which the
// store treats as done. When the store itself is unavailable the consumer
// pauses (rewinds and backs off) instead of dropping anything. A reader whose
// Rewind failed is never polled or committed again (its position may be past
// records that were never stored): it is replaced by a new one opened at the
// group's committed position.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "core/metrics.h"
#include "log/log.h"
#include "store/store.h"

namespace firstcome {

struct ConsumerOptions {
  std::string group = "firstcome-store";
  std::size_t batch_size = 2000;
  double max_rows_per_second = 0;  // 0: no limit
  // After a batch smaller than batch_size (the consumer has caught up), wait
  // this long before the next poll, so a steady stream reaches the store in
  // fewer, larger transactions (each costs an fsync) instead of one per few
  // records. The first record after a quiet spell is not delayed. 0: off.
  std::chrono::milliseconds linger{0};
  std::chrono::milliseconds poll_wait{100};
  std::chrono::milliseconds max_backoff{5000};        // while the store is down
  std::chrono::milliseconds first_retry_delay{1000};  // for records recorded as failed
};

struct ConsumerStats {
  std::atomic<std::int64_t> rows_inserted{0};
  std::atomic<std::int64_t> duplicates{0};
  std::atomic<std::int64_t> failed{0};
  std::atomic<std::int64_t> ignored{0};      // deleted event or revoked coupon
  std::atomic<std::int64_t> revocations{0};  // revocation records applied
  std::atomic<std::int64_t> batches{0};
  std::atomic<std::int64_t> store_outages{0};
  std::atomic<std::int64_t> lag{-1};
  std::atomic<bool> paused{false};
  // Where the time goes, per phase of RunOnce (microseconds, summed): tells
  // an operator whether the log, the database or the offset commit limits.
  std::atomic<std::int64_t> poll_us{0};
  std::atomic<std::int64_t> insert_us{0};
  std::atomic<std::int64_t> commit_us{0};
};

class Consumer final : public MetricsSource {
 public:
  Consumer(Log& log, Store& store, ConsumerOptions options);
  ~Consumer();

  Status Start();
  // Finishes the batch in hand (at most a few seconds) and stops.
  void Stop();
  // Runs until the reader finds nothing more (or `timeout`); for tools and tests.
  Status Drain(std::chrono::milliseconds timeout);

  const ConsumerStats& stats() const { return stats_; }
  void WriteMetrics(MetricsWriter& out) const override;

 private:
  // One poll → insert → commit round. Returns the number of records handled,
  // or an error when the round had to be rewound. Opens the reader first when
  // there is none (a replacement could not be opened earlier).
  Result<std::size_t> RunOnce();
  // Opens reader_ at the group's committed position.
  Status OpenReader();
  // Makes the next Poll start again from the committed position: rewinds, or,
  // when that fails, drops the reader and opens a new one (left null when
  // that fails too; RunOnce tries again before its next poll).
  void RestartFromCommitted();
  void Loop();
  void Throttle(std::size_t rows);
  void SleepFor(std::chrono::milliseconds d);

  Log& log_;
  Store& store_;
  const ConsumerOptions options_;
  std::unique_ptr<LogReader> reader_;  // null: to be opened before the next poll
  ConsumerStats stats_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::chrono::steady_clock::time_point throttle_until_{};
};

}  // namespace firstcome
