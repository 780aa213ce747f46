// KafkaLog: the distributed Log on Apache Kafka through librdkafka.
// Producer: enable.idempotence=true, acks=all, keyed by event+user; an append
// is answered from its delivery report. Reader: a consumer group that commits
// offsets only when told (after the store committed).
//
// Invariants (beyond log.h):
//   - An append is answered ok only from a delivery report without error
//     (acked by all in-sync replicas). A failed report is kPossiblyPersisted
//     unless librdkafka says the record was NOT_PERSISTED.
//   - Appends refused before they reach librdkafka (too many pending, broker
//     known to be down, producer fenced) are answered kNotPersisted at once, on
//     the caller's thread, before Append returns.
//   - At most max_pending appends wait for a delivery report.
//   - A producer that hit a fatal error (lost idempotence sequence) is
//     replaced by a new one within about a second; meanwhile appends are
//     refused kNotPersisted and Health fails.
//
// Thread safety (adds to log.h):
//   - every method: may be called concurrently from any thread.
//   - callbacks: Append's `done` runs on the log's poll thread (delivery
//     reports); on the monitor thread for the records of a producer it
//     replaced; on a thread inside Flush or the destructor (both serve
//     delivery reports too); or inline when refused before the record
//     reaches librdkafka (above).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "log/log.h"

namespace firstcome {

struct KafkaLogOptions {
  std::string brokers = "127.0.0.1:9092";  // host:port[,host:port]
  std::string topic = "firstcome.issuances";
  int partitions = 6;  // used when the topic is created
  std::chrono::milliseconds delivery_timeout{5000};
  std::size_t max_pending = 200000;  // queued appends at most
  // How long the producer waits to fill a batch: concurrent appends share one
  // produce request (Kafka's group commit).
  std::chrono::milliseconds linger{2};
  // Bounds OpenKafkaLog (topic creation) and OpenReader.
  std::chrono::milliseconds open_timeout{15000};
  // Bounds Scan / ScanAll (read every partition up to its end).
  std::chrono::milliseconds scan_timeout{60000};
};

Result<std::unique_ptr<Log>> OpenKafkaLog(const KafkaLogOptions& options);

// Tests: makes a KafkaLog's producer fail as librdkafka does on a fatal
// idempotence error (rd_kafka_test_fatal_error). Invalid for another Log.
Status InjectFatalProducerErrorForTest(Log& log);
// How many times a KafkaLog replaced its producer (-1 for another Log).
std::int64_t ProducerReplacements(Log& log);

}  // namespace firstcome
