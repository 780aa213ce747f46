#include "pipeline/consumer.h"

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>

#include "core/thread_name.h"

namespace firstcome {

namespace {

constexpr int kConsumerNice = 10;

// Adds the microseconds since `since` to `total` and restarts `since`.
void Charge(std::atomic<std::int64_t>& total, std::chrono::steady_clock::time_point& since) {
  const auto now = std::chrono::steady_clock::now();
  total.fetch_add(std::chrono::duration_cast<std::chrono::microseconds>(now - since).count(),
                  std::memory_order_relaxed);
  since = now;
}

}  // namespace

Consumer::Consumer(Log& log, Store& store, ConsumerOptions options)
    : log_(log), store_(store), options_(std::move(options)) {}

Consumer::~Consumer() { Stop(); }

Status Consumer::OpenReader() {
  auto reader = log_.OpenReader(options_.group);
  if (!reader.ok()) return reader.status();
  reader_ = std::move(reader).value();
  return Status::Ok();
}

void Consumer::RestartFromCommitted() {
  Status rewound = reader_->Rewind();
  if (rewound.ok()) return;
  // The reader may still stand after the records just handed out (Kafka: the
  // seek did not happen): its next Poll would skip them and the Commit after
  // it would move the group past records that never reached the store. A new
  // reader starts from the committed position instead.
  spdlog::warn("consumer: rewind failed ({}); reopening the log reader", rewound.ToString());
  reader_.reset();  // first: a second member of the group would share its partitions
  if (Status s = OpenReader(); !s.ok()) {
    spdlog::warn("consumer: could not reopen the log reader, retrying before the next poll: {}",
                 s.ToString());
  }
}

Status Consumer::Start() {
  if (!reader_) {
    if (Status s = OpenReader(); !s.ok()) return s;
  }
  thread_ = std::thread([this] { Loop(); });
  return Status::Ok();
}

void Consumer::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Consumer::SleepFor(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  stop_cv_.wait_for(lock, d, [this] { return stopping_; });
}

// A token bucket with one-batch granularity: after a batch of n rows the next
// batch may start n / rate seconds later. Smooth enough for a database, and
// needs no timer thread.
void Consumer::Throttle(std::size_t rows) {
  if (options_.max_rows_per_second <= 0) return;
  auto now = std::chrono::steady_clock::now();
  if (throttle_until_ > now) {
    SleepFor(std::chrono::duration_cast<std::chrono::milliseconds>(throttle_until_ - now));
    now = std::chrono::steady_clock::now();
  }
  auto cost =
      std::chrono::duration<double>(static_cast<double>(rows) / options_.max_rows_per_second);
  throttle_until_ = std::max(throttle_until_, now - std::chrono::milliseconds(100)) +
                    std::chrono::duration_cast<std::chrono::steady_clock::duration>(cost);
}

Result<std::size_t> Consumer::RunOnce() {
  if (!reader_) {
    if (Status s = OpenReader(); !s.ok()) return s;
  }
  auto phase = std::chrono::steady_clock::now();
  auto polled = reader_->Poll(options_.batch_size, options_.poll_wait);
  Charge(stats_.poll_us, phase);
  if (!polled.ok()) {
    // A failed Poll may still have moved the position (KafkaReader drops what
    // it fetched before a fatal error): start again from the committed one.
    RestartFromCommitted();
    return polled.status();
  }
  std::vector<Issuance>& batch = *polled;
  stats_.lag.store(reader_->Lag(), std::memory_order_relaxed);
  if (batch.empty()) return std::size_t{0};
  Throttle(batch.size());

  phase = std::chrono::steady_clock::now();
  // Revocations first: the store then ignores every copy of a revoked
  // issuance, whether it comes before, in or after this batch, and a new
  // holder's issuance of a revoked seq does not collide with the old row.
  std::vector<Issuance> revocations;
  if (std::any_of(batch.begin(), batch.end(),
                  [](const Issuance& i) { return i.kind == RecordKind::kRevoke; })) {
    auto revoked = std::stable_partition(
        batch.begin(), batch.end(), [](const Issuance& i) { return i.kind == RecordKind::kIssue; });
    revocations.assign(std::make_move_iterator(revoked), std::make_move_iterator(batch.end()));
    batch.erase(revoked, batch.end());
    if (Status s = store_.ApplyRevocations(revocations); !s.ok()) {
      RestartFromCommitted();
      return s;
    }
  }
  auto outcome = store_.InsertCoupons(batch);
  if (!outcome.ok()) {
    RestartFromCommitted();
    return outcome.status();
  }
  // Refused records go to the failed-event table before the position moves:
  // if that is impossible too, the whole batch comes again later.
  const UnixMillis retry_at = NowMillis() + options_.first_retry_delay.count();
  for (const auto& failure : outcome->failed) {
    Status s = store_.RecordFailure(batch[failure.index], failure.error, retry_at);
    if (!s.ok()) {
      RestartFromCommitted();
      return s;
    }
    spdlog::warn("consumer: {} seq {} refused by the store ({}); queued for retry",
                 batch[failure.index].event_id, batch[failure.index].seq, failure.error);
  }
  Charge(stats_.insert_us, phase);
  Status committed = reader_->Commit();
  Charge(stats_.commit_us, phase);
  if (!committed.ok()) {
    // Not fatal: the records are stored; a redelivery is a duplicate.
    spdlog::warn("consumer: commit of the log position failed: {}", committed.ToString());
  }
  stats_.rows_inserted += outcome->inserted;
  stats_.duplicates += outcome->duplicates;
  stats_.ignored += outcome->ignored;
  stats_.revocations += static_cast<std::int64_t>(revocations.size());
  stats_.failed += static_cast<std::int64_t>(outcome->failed.size());
  stats_.batches += 1;
  return batch.size() + revocations.size();
}

void Consumer::Loop() {
  NameThisThread("fc-consumer");
  // Background work yields the CPU to the API: on a small machine a batch
  // insert must not delay the answers of a burst (Linux: nice is per thread).
  // Failing to lower the priority only costs latency, so the result is ignored.
  (void)setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), kConsumerNice);
  auto backoff = std::chrono::milliseconds(100);
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
    }
    auto handled = RunOnce();
    if (handled.ok()) {
      if (stats_.paused.exchange(false)) spdlog::info("consumer: store is back, resuming");
      backoff = std::chrono::milliseconds(100);
      if (*handled > 0 && *handled < options_.batch_size && options_.linger.count() > 0) {
        SleepFor(options_.linger);
      }
      continue;
    }
    if (!stats_.paused.exchange(true)) {
      stats_.store_outages += 1;
      spdlog::error("consumer: paused, {}", handled.status().ToString());
    }
    SleepFor(backoff);
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

Status Consumer::Drain(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto handled = RunOnce();
    if (!handled.ok()) return handled.status();
    if (*handled == 0) return Status::Ok();
  }
  return Status::Unavailable("drain did not finish in time");
}

void Consumer::WriteMetrics(MetricsWriter& out) const {
  const ConsumerStats& s = stats_;
  auto n = [](const std::atomic<std::int64_t>& v) { return static_cast<double>(v.load()); };
  out.Counter("firstcome_consumer_rows_total", "Coupons the consumer inserted into the store.",
              n(s.rows_inserted));
  out.Counter("firstcome_consumer_duplicates_total",
              "Records the store already had (redeliveries), counted as done.", n(s.duplicates));
  out.Counter("firstcome_consumer_failed_total",
              "Records the store refused, queued in failed_events for the retry job.", n(s.failed));
  out.Counter("firstcome_consumer_ignored_total",
              "Records dropped because their event was deleted or their coupon revoked.",
              n(s.ignored));
  out.Counter("firstcome_consumer_revocations_total",
              "Revocation records the consumer applied to the store.", n(s.revocations));
  out.Gauge("firstcome_consumer_lag", "Records durable in the log not yet committed (-1: unknown).",
            n(s.lag));
  out.Gauge("firstcome_consumer_paused", "1 while the store is unavailable and the consumer waits.",
            s.paused.load() ? 1 : 0);
  out.Counter("firstcome_consumer_store_outages_total",
              "Times the consumer paused because the store was unavailable.", n(s.store_outages));
  out.Family("firstcome_consumer_seconds_total",
             "Time the consumer spent per phase of a batch (poll, insert, commit).",
             MetricType::kCounter);
  out.Sample({{"phase", "poll"}}, n(s.poll_us) / 1e6);
  out.Sample({{"phase", "insert"}}, n(s.insert_us) / 1e6);
  out.Sample({{"phase", "commit"}}, n(s.commit_us) / 1e6);
  out.Counter("firstcome_consumer_batches_total", "Batches the consumer stored and committed.",
              n(s.batches));
}

}  // namespace firstcome
