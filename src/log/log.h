// The Log port: the durable hand-off between the API (which appends an
// issuance once the gate admitted it) and the consumer (which moves records
// into the store).
//
// Invariants:
//   - Append calls back ok only once the record is durable (SQLite: committed
//     and fsynced in a group-commit transaction; Kafka: acked by all in-sync
//     replicas). Any other outcome is an error Status, and then the record is
//     NOT_PERSISTED unless the Status says otherwise (see AppendError below).
//   - A reader sees every durable record at least once; after Commit, records
//     up to the last Poll are not delivered again to the same group.
// Implementations: SqliteLog (src/log/sqlite_log.*), KafkaLog (src/log/kafka_log.*).
//
// Thread safety:
//   - every Log method: may be called concurrently from any thread.
//   - every LogReader method: from one thread at a time (a reader is not
//     shared; readers of one log are independent of each other).
//   - callbacks: Append's `done` runs exactly once, inline on the calling
//     thread before Append returns when the append is refused at once, else
//     on a log thread (each implementation says which); must not block and
//     must not call Flush (it would wait for itself); may call Append.
//     Scan's and ScanAll's `visit` run on the calling thread; may call back
//     into the log.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/event.h"
#include "core/status.h"

namespace firstcome {

// Why an append failed. kPossiblyPersisted means the record may still reach the
// log (e.g. a Kafka request timed out after it was sent): the caller must not
// hand the seq to anyone else (audit --repair settles it later).
enum class AppendFailure { kNotPersisted, kPossiblyPersisted };

struct AppendResult {
  Status status;  // ok: durable
  AppendFailure failure = AppendFailure::kNotPersisted;
};

class LogReader {
 public:
  virtual ~LogReader() = default;
  // Up to max_records records after the reader's position, waiting at most
  // `wait` for the first. An empty vector means nothing arrived in time.
  virtual Result<std::vector<Issuance>> Poll(std::size_t max_records,
                                             std::chrono::milliseconds wait) = 0;
  // Everything returned by Poll so far has been handled: never deliver it again.
  virtual Status Commit() = 0;
  // Forget what Poll returned since the last Commit: the next Poll starts
  // again from the committed position (used when the store is down).
  virtual Status Rewind() = 0;
  // Records durable in the log but not yet committed by this reader (-1 if unknown).
  virtual std::int64_t Lag() = 0;
};

class Log {
 public:
  using AppendCallback = std::function<void(AppendResult)>;

  virtual ~Log() = default;

  // Hot path. Never blocks the caller on I/O; `done` runs exactly once, after
  // the record is durable or has definitely failed (see Thread safety above).
  // Records of the same (event, user) keep their order.
  virtual void Append(const Issuance& issuance, AppendCallback done) = 0;

  // Waits (at most `timeout`) until every appended record has been answered.
  virtual Status Flush(std::chrono::milliseconds timeout) = 0;

  // Every durable record of one event, in log order (audit, gate rebuild).
  virtual Status Scan(std::string_view event_id,
                      const std::function<void(const Issuance&)>& visit) = 0;

  // Every durable record of every event (memory gate rebuild on start). May be
  // unsupported (Kafka): then Status::Invalid.
  virtual Status ScanAll(const std::function<void(const Issuance&)>& visit) = 0;

  // A reader for the consumer group `group`.
  virtual Result<std::unique_ptr<LogReader>> OpenReader(const std::string& group) = 0;

  // ok when appends can be made durable right now.
  virtual Status Health() = 0;
};

}  // namespace firstcome
