// Resender: turns "possibly persisted" into "persisted".
//
// When the log could not confirm an append in time but may still have taken
// it (Kafka: the request went out, the ack never came back), the record's seq
// stays with its user: the gate keeps it, and a retry of that user hears
// already_issued with the coupon. That coupon must reach the store whether or
// not the first copy reached the log, so the resender appends the record again,
// with backoff, until the log acknowledges it. A second copy is harmless: the
// consumer counts a duplicate key as done and audit accepts identical records;
// a missing one would be a coupon its holder never sees persisted.
//
// Invariants: every record handed to Add is appended until acknowledged, or,
// when the queue is full or Stop's grace ran out, logged as an error naming
// `audit --repair` (which re-appends what the gate holds and the log lacks).
// Queue bounded by max_records.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "core/metrics.h"
#include "log/log.h"

namespace firstcome {

struct ResenderOptions {
  std::chrono::milliseconds first_backoff{200};  // after a failed round
  std::chrono::milliseconds max_backoff{5000};
  std::size_t max_records = 100000;  // queued at most; beyond: left to audit --repair
  std::size_t batch = 1000;          // appended concurrently per round
  // Called (on the resender's thread) for each record the log acknowledged
  // on a resend; the issuer tells the gate the admission is no longer pending.
  std::function<void(const Issuance&)> confirmed;
};

class Resender {
 public:
  Resender(Log& log, ResenderOptions options);
  ~Resender();  // Stop(0)
  Resender(const Resender&) = delete;
  Resender& operator=(const Resender&) = delete;

  // Queues a record whose first append was not confirmed. Any thread; never
  // blocks on I/O. false: the queue is full (logged; audit --repair settles it).
  bool Add(const Issuance& issuance);

  // Keeps appending what is queued for at most `grace`, then stops; whatever
  // is still unconfirmed is logged. Idempotent.
  void Stop(std::chrono::milliseconds grace);

  std::int64_t waiting() const { return waiting_.load(); }            // queued + in a round
  std::int64_t confirmed_total() const { return confirmed_.load(); }  // acked by a resend
  std::int64_t dropped_total() const { return dropped_.load(); }      // left to audit
  void WriteMetrics(MetricsWriter& out) const;

 private:
  void Loop();
  void Drop(const Issuance& issuance, const char* why);

  Log& log_;
  const ResenderOptions options_;
  std::atomic<std::int64_t> waiting_{0};
  std::atomic<std::int64_t> confirmed_{0};
  std::atomic<std::int64_t> dropped_{0};

  std::mutex mu_;
  std::condition_variable cv_;                        // something queued, or stopping
  std::deque<Issuance> queue_;                        // guarded by mu_
  bool stopping_ = false;                             // guarded by mu_
  std::chrono::steady_clock::time_point give_up_at_;  // guarded by mu_; valid when stopping_
  std::thread thread_;                                // started by the first Add
};

}  // namespace firstcome
