// KafkaLog on librdkafka's C API (see kafka_log.h for the contract). The
// record format is in kafka_record.h, the consumer-group reader in
// kafka_reader.h, the librdkafka handles and admin calls in kafka_client.h.
//
// Threads: one poll thread serves the producer's callbacks (delivery reports
// answer appends, error_cb notices when every broker is down); one monitor
// thread probes the cluster while it is down so appends come back by
// themselves, and replaces the producer after a fatal error.
//
// Fatal errors: an idempotent producer that lost track of its sequence
// numbers is unusable for good (librdkafka raises ERR__FATAL). Debian's
// librdkafka 2.0.2 can get there after a mere timeout (fixed upstream in 2.3.0,
// PR #4438), so instead of refusing every append until someone restarts the
// process, the monitor builds a new producer (a new producer id), swaps it in,
// and purges the old one: its queued records are answered not persisted (the
// issuer frees their slots), its in-flight ones possibly persisted (the
// issuer resends them). Appends between the error and the swap are refused.
#include "log/kafka_log.h"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "core/durations.h"
#include "core/thread_name.h"
#include "log/kafka_client.h"
#include "log/kafka_reader.h"
#include "log/kafka_record.h"

namespace firstcome {
namespace {

using Clock = std::chrono::steady_clock;
using kafka::ConfPtr;
using kafka::DecodeMessage;
using kafka::EncodeKey;
using kafka::EncodeValue;
using kafka::KeyHasEvent;
using kafka::ListPtr;
using kafka::MessagePtr;
using kafka::NewHandle;
using kafka::SetAll;
using kafka::TopicMetadata;
using std::chrono::milliseconds;

// Health answers are reused this long so /healthz stays cheap.
constexpr milliseconds kHealthCacheFor{1000};
constexpr milliseconds kProbeTimeout{500};

// One librdkafka producer and its topic handle; replaced as a whole after a
// fatal error. Users hold a shared_ptr for the length of a call.
struct Producer {
  rd_kafka_t* rk = nullptr;
  rd_kafka_topic_t* topic = nullptr;
  Producer() = default;
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;
  ~Producer() {
    if (topic != nullptr) rd_kafka_topic_destroy(topic);
    if (rk != nullptr) rd_kafka_destroy(rk);
  }
};

class KafkaLog : public Log {
 public:
  explicit KafkaLog(KafkaLogOptions options) : options_(std::move(options)) {}

  ~KafkaLog() override {
    {
      std::lock_guard lock(monitor_mu_);
      stopping_ = true;
    }
    monitor_cv_.notify_all();
    if (monitor_.joinable()) monitor_.join();  // no rebuild from here on
    if (std::shared_ptr<Producer> p = Current()) {
      // Answer every pending append before the callbacks' owners go away:
      // give in-flight records a chance, then fail the rest.
      rd_kafka_flush(p->rk, TimeoutMillis(std::min(options_.delivery_timeout, milliseconds(5000))));
      rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
      auto deadline = Clock::now() + milliseconds(2000);
      while (pending_.load() > 0 && Clock::now() < deadline) rd_kafka_poll(p->rk, 50);
    }
    if (poller_.joinable()) poller_.join();
  }

  Status Open() {
    auto made = NewProducer();
    if (!made.ok()) return made.status();
    // The threads may replace producer_ from here on: Open keeps its own copy.
    const std::shared_ptr<Producer> p = *made;
    producer_ = std::move(*made);
    poller_ = std::thread([this] { PollLoop(); });
    monitor_ = std::thread([this] { MonitorLoop(); });

    auto deadline = Clock::now() + options_.open_timeout;
    if (Status c =
            kafka::CreateTopic(p->rk, options_.topic, options_.partitions, options_.open_timeout);
        !c.ok()) {
      return c;
    }
    // Wait until the new topic's leaders are known, so the first appends and
    // scans do not race its creation.
    for (;;) {
      auto md = TopicMetadata(p->rk, p->topic, milliseconds(std::max(MillisUntil(deadline), 1)));
      if (md.ok()) break;
      if (Clock::now() >= deadline) return md.status();
      std::this_thread::sleep_for(milliseconds(100));
    }
    return Status::Ok();
  }

  // Tests: fails the producer as librdkafka does on a fatal idempotence error.
  Status InjectFatalError() {
    rd_kafka_resp_err_t err = rd_kafka_test_fatal_error(
        Current()->rk, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, "injected by a test");
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return Status::Invalid(std::string("kafka: ") + rd_kafka_err2str(err));
    }
    return Status::Ok();
  }

  std::int64_t rebuilds() const { return rebuilds_.load(); }

 private:
  Result<std::shared_ptr<Producer>> NewProducer() {
    ConfPtr conf(rd_kafka_conf_new());
    Status s = SetAll(
        conf.get(),
        {{"bootstrap.servers", options_.brokers},
         {"client.id", "firstcome"},
         {"enable.idempotence", "true"},
         {"acks", "all"},
         {"linger.ms", std::to_string(options_.linger.count())},
         {"message.timeout.ms",
          std::to_string(std::max<long>(options_.delivery_timeout.count(), 1))},
         {"request.timeout.ms",
          std::to_string(std::max<long>(options_.delivery_timeout.count(), 1))},
         // Our own bound (max_pending) refuses first; this is a backstop.
         {"queue.buffering.max.messages",
          std::to_string(std::clamp<std::size_t>(options_.max_pending + 1000, 1000, 10'000'000))},
         {"socket.nagle.disable", "true"},
         // Come back quickly after a broker restart.
         {"reconnect.backoff.ms", "100"},
         {"reconnect.backoff.max.ms", "1000"},
         {"log.connection.close", "false"}});
    if (!s.ok()) return s;
    rd_kafka_conf_set_opaque(conf.get(), this);
    rd_kafka_conf_set_dr_msg_cb(conf.get(), &KafkaLog::OnDelivery);
    rd_kafka_conf_set_error_cb(conf.get(), &KafkaLog::OnError);
    auto rk = NewHandle(RD_KAFKA_PRODUCER, std::move(conf));
    if (!rk.ok()) return rk.status();
    auto p = std::make_shared<Producer>();
    p->rk = *rk;
    p->topic = rd_kafka_topic_new(p->rk, options_.topic.c_str(), nullptr);
    if (p->topic == nullptr) {
      return Status::Invalid("kafka: topic " + options_.topic + ": " +
                             rd_kafka_err2str(rd_kafka_last_error()));
    }
    return p;
  }

  std::shared_ptr<Producer> Current() {
    std::lock_guard lock(producer_mu_);
    return producer_;
  }

 public:
  void Append(const Issuance& issuance, AppendCallback done) override {
    auto refuse = [&done](std::string why) {
      done(AppendResult{Status::Unavailable(std::move(why)), AppendFailure::kNotPersisted});
    };
    if (fatal_.load(std::memory_order_relaxed))
      return refuse("kafka: producer failed, being replaced: " + FatalError());
    if (brokers_down_.load(std::memory_order_relaxed)) return refuse("kafka: no broker reachable");
    if (pending_.fetch_add(1, std::memory_order_relaxed) >= options_.max_pending) {
      pending_.fetch_sub(1, std::memory_order_relaxed);
      return refuse("kafka: too many appends waiting for the broker");
    }
    auto waiting = std::make_unique<AppendCallback>(std::move(done));
    const std::string key = EncodeKey(issuance);
    std::string value = EncodeValue(issuance);
    const std::shared_ptr<Producer> producer = Current();
    rd_kafka_resp_err_t err = rd_kafka_producev(
        producer->rk, RD_KAFKA_V_RKT(producer->topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY(key.data(), key.size()), RD_KAFKA_V_VALUE(value.data(), value.size()),
        RD_KAFKA_V_OPAQUE(waiting.get()), RD_KAFKA_V_END);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      pending_.fetch_sub(1, std::memory_order_relaxed);
      done = std::move(*waiting);
      return refuse(std::string("kafka: ") + rd_kafka_err2str(err));
    }
    waiting.release();  // answered (and freed) by OnDelivery
  }

  Status Flush(milliseconds timeout) override {
    rd_kafka_resp_err_t err = rd_kafka_flush(Current()->rk, TimeoutMillis(timeout));
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return Status::Unavailable(std::string("kafka flush: ") + rd_kafka_err2str(err));
    }
    return Status::Ok();
  }

  Status Scan(std::string_view event_id,
              const std::function<void(const Issuance&)>& visit) override {
    return ScanTopic(&event_id, visit);
  }

  Status ScanAll(const std::function<void(const Issuance&)>& visit) override {
    return ScanTopic(nullptr, visit);
  }

  Result<std::unique_ptr<LogReader>> OpenReader(const std::string& group) override {
    return kafka::OpenKafkaReader(options_, group);
  }

  Status Health() override {
    if (fatal_.load()) {
      return Status::Unavailable("kafka: producer failed, being replaced: " + FatalError());
    }
    std::lock_guard lock(health_mu_);
    auto now = Clock::now();
    if (health_at_ && now - *health_at_ < kHealthCacheFor) return health_;
    health_ = Probe(kProbeTimeout);
    health_at_ = Clock::now();
    return health_;
  }

 private:
  static void OnDelivery(rd_kafka_t* rk, const rd_kafka_message_t* m, void* opaque) {
    auto* self = static_cast<KafkaLog*>(opaque);
    std::unique_ptr<AppendCallback> done(static_cast<AppendCallback*>(m->_private));
    AppendResult result;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      self->MarkUp();
    } else {
      result.status = Status::Unavailable(std::string("kafka: ") + rd_kafka_err2str(m->err));
      // Only librdkafka knows whether the broker may have written it.
      result.failure = rd_kafka_message_status(m) == RD_KAFKA_MSG_STATUS_NOT_PERSISTED
                           ? AppendFailure::kNotPersisted
                           : AppendFailure::kPossiblyPersisted;
    }
    self->pending_.fetch_sub(1, std::memory_order_relaxed);
    if (done) (*done)(std::move(result));
  }

  static void OnError(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
    auto* self = static_cast<KafkaLog*>(opaque);
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
      // The idempotent producer lost its sequence: nothing it sends from now
      // on can be trusted. Refuse appends until the monitor replaced it.
      if (rk != self->Current()->rk) return;  // one already replaced
      char buf[512];
      if (rd_kafka_fatal_error(rk, buf, sizeof buf) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        std::snprintf(buf, sizeof buf, "%s", reason);
      }
      {
        std::lock_guard lock(self->fatal_mu_);
        self->fatal_reason_ = buf;
      }
      self->fatal_.store(true);
      spdlog::error("kafka: fatal producer error: {}; replacing the producer", buf);
      self->monitor_cv_.notify_all();
      return;
    }
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
      // Not trusted alone: a broker closing idle connections says the same.
      // The monitor confirms with a request before appends are refused.
      self->suspect_.store(true);
      self->monitor_cv_.notify_all();
      return;
    }
    spdlog::debug("kafka: {}: {}", rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err)),
                  reason);
  }

  void MarkUp() {
    suspect_.store(false, std::memory_order_relaxed);
    if (brokers_down_.load(std::memory_order_relaxed) && brokers_down_.exchange(false)) {
      spdlog::info("kafka: a broker answers again; accepting appends");
    }
  }

  void MarkDown(const std::string& why) {
    if (!brokers_down_.exchange(true)) {
      spdlog::warn("kafka: no broker answers ({}); refusing appends until one does", why);
    }
  }
  std::string FatalError() {
    std::lock_guard lock(fatal_mu_);
    return fatal_reason_;
  }

  // Builds a new producer, swaps it in, then answers everything the failed
  // one still holds (purged: queued → not persisted, in flight → possibly
  // persisted) and destroys it. On the monitor thread; if no new producer
  // can be built, fatal_ stays set and the monitor tries again next round.
  void ReplaceProducer() {
    auto made = NewProducer();
    if (!made.ok()) {
      spdlog::error("kafka: could not build a new producer: {}", made.status().ToString());
      return;
    }
    std::shared_ptr<Producer> old;
    {
      std::lock_guard lock(producer_mu_);
      old = std::exchange(producer_, std::move(*made));
    }
    fatal_.store(false);
    rebuilds_.fetch_add(1);
    spdlog::warn("kafka: producer replaced after a fatal error; accepting appends again");
    rd_kafka_purge(old->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    // Delivery reports of the purged records, and the last users' calls.
    const auto deadline = Clock::now() + std::max(options_.delivery_timeout, milliseconds(5000));
    while ((rd_kafka_outq_len(old->rk) > 0 || old.use_count() > 1) && Clock::now() < deadline) {
      rd_kafka_poll(old->rk, 50);
    }
    if (old.use_count() > 1) {
      spdlog::warn("kafka: the replaced producer is still in use; it goes with its last user");
    }
  }

  // One metadata round trip: ok when a broker answers and the topic exists.
  Status Probe(milliseconds timeout) {
    const std::shared_ptr<Producer> p = Current();
    auto md = TopicMetadata(p->rk, p->topic, timeout);
    if (md.ok()) MarkUp();
    return md.ok() ? Status::Ok() : md.status();
  }

  void PollLoop() {
    NameThisThread("fc-kafka-poll");
    for (;;) {
      {
        std::lock_guard lock(monitor_mu_);
        if (stopping_) return;
      }
      rd_kafka_poll(Current()->rk, 100);
    }
  }

  // Replaces a failed producer. After librdkafka reported every broker down,
  // and for as long as that is confirmed, asks every so often whether one
  // answers: the producer itself says nothing when a connection comes up again.
  void MonitorLoop() {
    NameThisThread("fc-kafka-mon");
    std::unique_lock lock(monitor_mu_);
    while (!stopping_) {
      monitor_cv_.wait_for(lock, milliseconds(250));
      if (stopping_) break;
      if (fatal_.load()) {
        lock.unlock();
        ReplaceProducer();
        lock.lock();
        continue;
      }
      if (!(suspect_.load() || brokers_down_.load())) continue;
      lock.unlock();
      const std::shared_ptr<Producer> p = Current();
      const rd_kafka_metadata_t* raw = nullptr;
      // Any answer will do (even "unknown topic"): the question is whether a
      // broker is reachable.
      rd_kafka_resp_err_t err =
          rd_kafka_metadata(p->rk, 0, p->topic, &raw, TimeoutMillis(kProbeTimeout));
      if (raw != nullptr) rd_kafka_metadata_destroy(raw);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        MarkUp();
      } else {
        MarkDown(rd_kafka_err2str(err));
      }
      lock.lock();
    }
  }

  // Reads every partition from its start up to the end it had when the scan
  // began, with a consumer outside any group (nothing is committed).
  Status ScanTopic(const std::string_view* event_id,
                   const std::function<void(const Issuance&)>& visit) {
    auto deadline = Clock::now() + options_.scan_timeout;
    const std::shared_ptr<Producer> producer = Current();
    auto md = TopicMetadata(producer->rk, producer->topic,
                            std::min(options_.scan_timeout, milliseconds(5000)));
    if (!md.ok()) return md.status();
    const int partitions = (*md)->topics[0].partition_cnt;

    ConfPtr conf(rd_kafka_conf_new());
    Status s = SetAll(conf.get(), {{"bootstrap.servers", options_.brokers},
                                   {"client.id", "firstcome-scan"},
                                   // assign() needs a group in librdkafka 2.0;
                                   // it is never joined and nothing is committed.
                                   {"group.id", "firstcome-scan"},
                                   {"enable.auto.commit", "false"},
                                   {"enable.auto.offset.store", "false"},
                                   {"enable.partition.eof", "true"},
                                   {"fetch.wait.max.ms", "50"},
                                   {"log.connection.close", "false"}});
    if (!s.ok()) return s;
    auto made = NewHandle(RD_KAFKA_CONSUMER, std::move(conf));
    if (!made.ok()) return made.status();
    std::unique_ptr<rd_kafka_t, void (*)(rd_kafka_t*)> rk(*made, [](rd_kafka_t* h) {
      rd_kafka_destroy_flags(h, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    });
    rd_kafka_poll_set_consumer(rk.get());

    // The end of each partition now: records appended later are not waited for.
    std::map<std::int32_t, std::int64_t> end;
    ListPtr assign(rd_kafka_topic_partition_list_new(partitions));
    for (int p = 0; p < partitions; ++p) {
      int64_t low = 0, high = 0;
      rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
          rk.get(), options_.topic.c_str(), p, &low, &high, std::max(MillisUntil(deadline), 1));
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return Status::Unavailable(std::string("kafka scan: watermarks: ") + rd_kafka_err2str(err));
      }
      if (high <= low) continue;
      end[p] = high;
      rd_kafka_topic_partition_list_add(assign.get(), options_.topic.c_str(), p)->offset = low;
    }
    if (end.empty()) return Status::Ok();
    if (rd_kafka_resp_err_t err = rd_kafka_assign(rk.get(), assign.get());
        err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return Status::Unavailable(std::string("kafka scan: assign: ") + rd_kafka_err2str(err));
    }
    while (!end.empty()) {
      int timeout = MillisUntil(deadline);
      if (timeout <= 0) return Status::Unavailable("kafka scan: timed out");
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk.get(), std::min(timeout, 500));
      if (m == nullptr) continue;
      const MessagePtr msg(m);
      auto it = end.find(m->partition);
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        if (it != end.end() && m->offset >= it->second) end.erase(it);
        continue;
      }
      if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
          return Status::Unavailable(std::string("kafka scan: ") + rd_kafka_message_errstr(m));
        }
        continue;
      }
      if (it == end.end() || m->offset >= it->second) continue;
      if (event_id == nullptr || KeyHasEvent(m, *event_id)) {
        if (auto issuance = DecodeMessage(m)) {
          if (event_id == nullptr || issuance->event_id == *event_id) visit(*issuance);
        } else {
          spdlog::warn("kafka scan: skipped an unreadable record at {}[{}]@{}", options_.topic,
                       m->partition, m->offset);
        }
      }
      if (m->offset + 1 >= it->second) end.erase(it);
    }
    return Status::Ok();
  }

  const KafkaLogOptions options_;
  std::mutex producer_mu_;
  std::shared_ptr<Producer> producer_;  // guarded by producer_mu_; set by Open
  std::thread poller_;                  // started by Open, joined by the destructor
  std::thread monitor_;                 // started by Open, joined by the destructor

  std::mutex monitor_mu_;
  std::condition_variable monitor_cv_;  // monitor: stopping, suspect_ or fatal_ set
  bool stopping_ = false;               // guarded by monitor_mu_

  // Atomics, no lock: Append reads them on every call.
  std::atomic<std::size_t> pending_{0};    // appends waiting for a delivery report
  std::atomic<bool> suspect_{false};       // librdkafka said every broker is down
  std::atomic<bool> brokers_down_{false};  // ... and a request confirmed it: refuse appends
  std::atomic<bool> fatal_{false};         // the producer failed; the monitor replaces it
  std::atomic<std::int64_t> rebuilds_{0};  // producers replaced so far
  std::mutex fatal_mu_;
  std::string fatal_reason_;  // guarded by fatal_mu_

  std::mutex health_mu_;
  std::optional<Clock::time_point> health_at_;  // guarded by health_mu_
  Status health_;                               // guarded by health_mu_
};

}  // namespace

Result<std::unique_ptr<Log>> OpenKafkaLog(const KafkaLogOptions& options) {
  if (options.brokers.empty()) return Status::Invalid("kafka: no brokers given");
  if (options.topic.empty()) return Status::Invalid("kafka: no topic given");
  if (options.partitions < 1) return Status::Invalid("kafka: partitions must be at least 1");
  if (options.max_pending < 1) return Status::Invalid("kafka: max_pending must be at least 1");
  auto log = std::make_unique<KafkaLog>(options);
  if (Status s = log->Open(); !s.ok()) return s;
  return std::unique_ptr<Log>(std::move(log));
}

Status InjectFatalProducerErrorForTest(Log& log) {
  auto* kafka = dynamic_cast<KafkaLog*>(&log);
  if (kafka == nullptr) return Status::Invalid("not a KafkaLog");
  return kafka->InjectFatalError();
}

std::int64_t ProducerReplacements(Log& log) {
  auto* kafka = dynamic_cast<KafkaLog*>(&log);
  return kafka == nullptr ? -1 : kafka->rebuilds();
}

}  // namespace firstcome
