// KafkaReader (see kafka_reader.h): the LogReader of KafkaLog.
//
// The consumer's main queue is routed to rd_kafka_consumer_poll, so Poll
// serves everything the consumer has to say (records, errors as messages),
// on the thread that calls it.
#include "log/kafka_reader.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "core/durations.h"
#include "log/kafka_client.h"
#include "log/kafka_record.h"

namespace firstcome::kafka {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Tracks, per partition, where the records Poll handed out start and end, so
// Commit and Rewind need no broker round trip to know what to do.
class KafkaReader : public LogReader {
 public:
  KafkaReader(rd_kafka_t* rk, std::string topic, milliseconds timeout)
      : rk_(rk), topic_(std::move(topic)), timeout_(timeout) {}

  ~KafkaReader() override {
    // The last commit lands before the group is left: a new member of the
    // group starts after it.
    if (Status s = AwaitCommit(); !s.ok()) spdlog::warn("{}", s.ToString());
    // Leave the group now (so another member gets the partitions at once),
    // bounded: close asynchronously and serve its queue until a deadline.
    QueuePtr queue(rd_kafka_queue_new(rk_));
    if (rd_kafka_error_t* e = rd_kafka_consumer_close_queue(rk_, queue.get()); e != nullptr) {
      rd_kafka_error_destroy(e);
    } else {
      auto deadline = Clock::now() + timeout_;
      while (!rd_kafka_consumer_closed(rk_) && Clock::now() < deadline) {
        EventPtr ev(rd_kafka_queue_poll(queue.get(), 100));
        if (ev && rd_kafka_event_type(ev.get()) == RD_KAFKA_EVENT_REBALANCE) {
          // Eager protocol: a rebalance during close is always a revoke.
          rd_kafka_assign(rk_, nullptr);
        }
      }
    }
    queue.reset();
    rd_kafka_destroy_flags(rk_, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
  }

  Result<std::vector<Issuance>> Poll(std::size_t max_records, milliseconds wait) override {
    std::vector<Issuance> out;
    if (max_records == 0) return out;
    auto deadline = Clock::now() + wait;
    while (out.size() < max_records) {
      // Wait for the first record only; then take what is already fetched.
      int timeout = out.empty() ? MillisUntil(deadline) : 0;
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_, timeout);
      if (m == nullptr) {
        if (!out.empty() || Clock::now() >= deadline) break;
        continue;
      }
      if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        // Consumer errors are informational (the client retries by itself)
        // unless fatal. One about a partition (an offset reset: records
        // deleted by retention before they were consumed) is worth a warning.
        std::string what = rd_kafka_message_errstr(m);
        rd_kafka_resp_err_t err = m->err;
        const std::int32_t partition = m->partition;
        rd_kafka_message_destroy(m);
        if (err == RD_KAFKA_RESP_ERR__FATAL) return Status::Unavailable("kafka consumer: " + what);
        if (partition >= 0) {
          spdlog::warn("kafka consumer: {}[{}]: {}", topic_, partition, what);
        } else {
          spdlog::debug("kafka consumer: {}", what);
        }
        continue;
      }
      NoteOffset(m->partition, m->offset);
      auto issuance = DecodeMessage(m);
      first_uncommitted_.try_emplace(m->partition, m->offset);
      next_[m->partition] = m->offset + 1;
      if (issuance) {
        out.push_back(std::move(*issuance));
      } else {
        spdlog::warn("kafka consumer: skipped an unreadable record at {}[{}]@{}", topic_,
                     m->partition, m->offset);
      }
      rd_kafka_message_destroy(m);
    }
    return out;
  }

  // Offsets of a partition (no transactions, no compaction) come one after
  // another: a jump forward means records this reader never saw, legitimate
  // only when a rebalance moved the partition to a member that committed
  // past them meanwhile. Said loudly, because a record skipped any other way
  // would be a coupon never stored; backward (a redelivery) is normal.
  void NoteOffset(std::int32_t partition, std::int64_t offset) {
    auto [it, first] = last_seen_.try_emplace(partition, offset);
    if (!first && offset > it->second + 1) {
      spdlog::warn(
          "kafka consumer: {}[{}] went from offset {} to {}: {} record(s) not delivered to this "
          "reader (expected only after a rebalance gave the partition to another member)",
          topic_, partition, it->second, offset, offset - it->second - 1);
    }
    it->second = offset;
  }

  // Sends the offsets and returns; the broker's answer is awaited by the
  // next Commit (or the destructor), so the round trip overlaps the next
  // batch's poll and store insert instead of adding to them. Returns the
  // failure of the previous commit, if it failed. A crash before the answer
  // redelivers the batch, as a crash before Commit always did (duplicates).
  Status Commit() override {
    Status previous = AwaitCommit();
    DropUnassigned();
    if (next_.empty()) return previous;
    ListPtr offsets(rd_kafka_topic_partition_list_new(static_cast<int>(next_.size())));
    for (const auto& [partition, offset] : next_) {
      rd_kafka_topic_partition_list_add(offsets.get(), topic_.c_str(), partition)->offset = offset;
    }
    // rd_kafka_commit(sync) has no timeout of its own: commit through a queue
    // and wait on it (in AwaitCommit) with ours.
    QueuePtr queue(rd_kafka_queue_new(rk_));
    rd_kafka_resp_err_t err =
        rd_kafka_commit_queue(rk_, offsets.get(), queue.get(), nullptr, nullptr);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return Status::Unavailable(std::string("kafka commit: ") + rd_kafka_err2str(err));
    }
    commit_queue_ = std::move(queue);
    commit_sent_ = Clock::now();
    // Counted as committed now (Lag); forgotten again if the commit fails.
    in_flight_ = next_;
    for (const auto& [partition, offset] : next_) committed_[partition] = offset;
    next_.clear();
    first_uncommitted_.clear();
    return previous;
  }

  // Waits (at most the timeout, from when it was sent) for the commit in
  // flight, if any; its error, if it failed.
  Status AwaitCommit() {
    if (!commit_queue_) return Status::Ok();
    QueuePtr queue = std::move(commit_queue_);
    std::map<std::int32_t, std::int64_t> offsets = std::move(in_flight_);
    in_flight_.clear();
    auto failed = [&](std::string what) {
      // The group may still be at an older offset: Lag asks the broker again.
      for (const auto& [partition, offset] : offsets) committed_.erase(partition);
      return Status::Unavailable("kafka commit: " + what);
    };
    EventPtr ev(rd_kafka_queue_poll(queue.get(), MillisUntil(commit_sent_ + timeout_)));
    if (!ev) return failed("timed out");
    if (rd_kafka_event_error(ev.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return failed(rd_kafka_event_error_string(ev.get()));
    }
    if (const rd_kafka_topic_partition_list_t* result =
            rd_kafka_event_topic_partition_list(ev.get())) {
      for (int k = 0; k < result->cnt; ++k) {
        if (result->elems[k].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
          return failed("partition " + std::to_string(result->elems[k].partition) + ": " +
                        rd_kafka_err2str(result->elems[k].err));
        }
      }
    }
    return Status::Ok();
  }

  Status Rewind() override {
    if (first_uncommitted_.empty()) return Status::Ok();
    ListPtr seek(rd_kafka_topic_partition_list_new(static_cast<int>(first_uncommitted_.size())));
    for (const auto& [partition, offset] : first_uncommitted_) {
      rd_kafka_topic_partition_list_add(seek.get(), topic_.c_str(), partition)->offset = offset;
    }
    // Seeking also drops what was already fetched past that point.
    rd_kafka_error_t* e = rd_kafka_seek_partitions(rk_, seek.get(), TimeoutMillis(timeout_));
    if (e != nullptr) {
      std::string what = rd_kafka_error_string(e);
      rd_kafka_error_destroy(e);
      return Status::Unavailable("kafka rewind: " + what);
    }
    // A partition that is no longer ours needs no seek: its new owner starts
    // from the committed offset anyway. One of ours that was not sought
    // would go on after the records just handed out: a failed rewind (the
    // consumer then opens a new reader at the committed position).
    const std::optional<std::set<std::int32_t>> mine = Assigned();
    for (int k = 0; k < seek->cnt; ++k) {
      const rd_kafka_topic_partition_t& p = seek->elems[k];
      if (p.err != RD_KAFKA_RESP_ERR_NO_ERROR && (!mine || mine->contains(p.partition))) {
        return Status::Unavailable("kafka rewind: partition " + std::to_string(p.partition) + ": " +
                                   rd_kafka_err2str(p.err));
      }
    }
    next_.clear();
    first_uncommitted_.clear();
    last_seen_.clear();
    return Status::Ok();
  }

  // The partitions assigned to this reader now (none: that cannot be read).
  std::optional<std::set<std::int32_t>> Assigned() {
    rd_kafka_topic_partition_list_t* raw = nullptr;
    if (rd_kafka_assignment(rk_, &raw) != RD_KAFKA_RESP_ERR_NO_ERROR) return std::nullopt;
    ListPtr assigned(raw);
    std::set<std::int32_t> mine;
    for (int k = 0; k < assigned->cnt; ++k) mine.insert(assigned->elems[k].partition);
    return mine;
  }

  // After a rebalance took partitions away, their positions are another
  // member's business (it starts from the committed offset): committing them
  // would fail every later commit.
  void DropUnassigned() {
    const std::optional<std::set<std::int32_t>> assigned = Assigned();
    if (!assigned) return;
    const std::set<std::int32_t>& mine = *assigned;
    std::erase_if(next_, [&](const auto& kv) { return !mine.contains(kv.first); });
    std::erase_if(first_uncommitted_, [&](const auto& kv) { return !mine.contains(kv.first); });
    std::erase_if(last_seen_, [&](const auto& kv) { return !mine.contains(kv.first); });
  }

  std::int64_t Lag() override {
    rd_kafka_topic_partition_list_t* raw = nullptr;
    if (rd_kafka_assignment(rk_, &raw) != RD_KAFKA_RESP_ERR_NO_ERROR) return -1;
    ListPtr assigned(raw);
    if (assigned->cnt == 0) return -1;
    // Committed offsets this reader does not know yet are asked for once.
    ListPtr unknown(rd_kafka_topic_partition_list_new(assigned->cnt));
    for (int k = 0; k < assigned->cnt; ++k) {
      if (!committed_.contains(assigned->elems[k].partition)) {
        rd_kafka_topic_partition_list_add(unknown.get(), topic_.c_str(),
                                          assigned->elems[k].partition);
      }
    }
    if (unknown->cnt > 0) {
      if (rd_kafka_committed(rk_, unknown.get(),
                             TimeoutMillis(std::min(timeout_, milliseconds(1000)))) !=
          RD_KAFKA_RESP_ERR_NO_ERROR) {
        return -1;
      }
      for (int k = 0; k < unknown->cnt; ++k) {
        committed_[unknown->elems[k].partition] = unknown->elems[k].offset;  // may be INVALID
      }
    }
    std::int64_t lag = 0;
    for (int k = 0; k < assigned->cnt; ++k) {
      std::int32_t p = assigned->elems[k].partition;
      int64_t low = 0, high = 0;
      // Cached from fetch responses: no request.
      if (rd_kafka_get_watermark_offsets(rk_, topic_.c_str(), p, &low, &high) !=
              RD_KAFKA_RESP_ERR_NO_ERROR ||
          high < 0) {
        return -1;
      }
      std::int64_t from = committed_[p] >= 0 ? committed_[p] : std::max<int64_t>(low, 0);
      lag += std::max<std::int64_t>(high - from, 0);
    }
    return lag;
  }

 private:
  // No lock: a reader is used by one thread at a time (log.h) and shares
  // nothing with other threads.
  rd_kafka_t* rk_;  // owned: destroyed by ~KafkaReader
  const std::string topic_;
  const milliseconds timeout_;
  std::map<std::int32_t, std::int64_t> next_;               // after the last record returned
  std::map<std::int32_t, std::int64_t> first_uncommitted_;  // first returned since Commit
  std::map<std::int32_t, std::int64_t> committed_;          // as known to this reader
  std::map<std::int32_t, std::int64_t> last_seen_;          // last offset Poll saw (NoteOffset)
  QueuePtr commit_queue_;  // the answer to the commit in flight (null: none)
  std::map<std::int32_t, std::int64_t> in_flight_;  // the offsets of that commit
  Clock::time_point commit_sent_{};
};

}  // namespace

Result<std::unique_ptr<LogReader>> OpenKafkaReader(const KafkaLogOptions& options,
                                                   const std::string& group) {
  if (group.empty()) return Status::Invalid("kafka: a reader needs a group");
  ConfPtr conf(rd_kafka_conf_new());
  Status s = SetAll(conf.get(), {{"bootstrap.servers", options.brokers},
                                 {"client.id", "firstcome-consumer"},
                                 {"group.id", group},
                                 {"enable.auto.commit", "false"},
                                 {"enable.auto.offset.store", "false"},
                                 {"auto.offset.reset", "earliest"},
                                 {"enable.partition.eof", "false"},
                                 {"session.timeout.ms", "10000"},
                                 {"heartbeat.interval.ms", "1000"},
                                 // Low latency for small batches; big ones
                                 // fill fetch.min.bytes at once anyway.
                                 {"fetch.wait.max.ms", "50"},
                                 {"reconnect.backoff.ms", "100"},
                                 {"reconnect.backoff.max.ms", "1000"},
                                 {"log.connection.close", "false"}});
  if (!s.ok()) return s;
  auto rk = NewHandle(RD_KAFKA_CONSUMER, std::move(conf));
  if (!rk.ok()) return rk.status();
  // Route the main queue to consumer_poll so one call serves everything.
  rd_kafka_poll_set_consumer(*rk);
  auto reader = std::make_unique<KafkaReader>(
      *rk, options.topic, std::max(options.delivery_timeout, milliseconds(1000)));
  ListPtr topics(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(topics.get(), options.topic.c_str(), RD_KAFKA_PARTITION_UA);
  if (rd_kafka_resp_err_t err = rd_kafka_subscribe(*rk, topics.get());
      err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::Unavailable(std::string("kafka subscribe: ") + rd_kafka_err2str(err));
  }
  return std::unique_ptr<LogReader>(std::move(reader));
}

}  // namespace firstcome::kafka
