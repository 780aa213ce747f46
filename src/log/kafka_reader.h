// The reader of KafkaLog: a consumer-group member that commits offsets only
// when told. Internal to src/log: KafkaLog::OpenReader is its only caller.
//
// Invariants (beyond log.h's LogReader): once a Commit has been answered, the
// group's committed offset of each partition this reader still owns is one
// past the last record Poll returned from it before that Commit. Commit sends
// the offsets and returns; the next Commit or the destructor waits for the
// answer (so a new reader of the group starts after the last commit), and a
// commit that failed is reported by the next Commit; after Rewind, the next
// Poll starts each such partition again at the first record returned since
// the last Commit.
// Partitions a rebalance took away are left to their new owner, which starts
// from the committed offset. A record that does not decode is skipped
// (logged), never returned. Poll waits at most its `wait`; Commit, Rewind,
// Lag and the destructor (leaving the group) at most the log's
// delivery_timeout, but at least 1 s.
//
// Thread safety:
//   - every method: from one thread at a time (as log.h says); a reader shares
//     nothing with the KafkaLog that opened it (it has its own consumer).
//   - callbacks: none; consumer errors reach Poll as messages on the calling
//     thread (fatal ones are returned, others logged).
#pragma once

#include <memory>
#include <string>

#include "log/kafka_log.h"
#include "log/log.h"

namespace firstcome::kafka {

// Joins the consumer group `group` on options.topic (from its earliest record
// when the group has no committed offset yet).
Result<std::unique_ptr<LogReader>> OpenKafkaReader(const KafkaLogOptions& options,
                                                   const std::string& group);

}  // namespace firstcome::kafka
