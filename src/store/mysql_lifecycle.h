// The statements of MysqlStore for changing and deleting events and revoking
// coupons, and the checks its writes make against them, each on one leased
// connection. Internal to src/store: only mysql_store.cc includes it.
//
// Locking (InnoDB, REPEATABLE READ): a write that must not outlive a deletion
// or a revocation reads the event's row and the revocations it depends on
// with locking reads (LOCK IN SHARE MODE); DeleteEventRows takes the event's
// row FOR UPDATE, and ApplyRevocationRows inserts into the revocations the
// readers lock. So each pair is ordered: the later one sees the earlier one's
// commit (and then ignores its records, or deletes what the other inserted).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "core/event.h"
#include "core/status.h"
#include "store/mysql_connection.h"
#include "store/store.h"

namespace firstcome::mysql {

// In a transaction: raises the events generation.
Status BumpGeneration(MysqlConnection& c);
Result<std::int64_t> ReadGeneration(MysqlConnection& c);

// Store::UpdateEvent and Store::DeleteEvent, each one transaction.
Result<bool> UpdateEventRow(MysqlConnection& c, const Event& event, std::int64_t expected_version);
Result<std::int64_t> DeleteEventRows(MysqlConnection& c, const Event& event);

// In a transaction: for each record of `batch`, 1 when it is to be ignored
// (its incarnation is not the event's, or a revocation took it back).
Result<std::vector<char>> IgnoredRecords(MysqlConnection& c, std::span<const Issuance> batch);

// Store::ApplyRevocations, one transaction.
Status ApplyRevocationRows(MysqlConnection& c, std::span<const Issuance> revocations);

// Store::HolderOfSeq.
Result<std::optional<SeqHolder>> HolderOfSeqRow(MysqlConnection& c, const Event& event,
                                                std::int64_t seq);

}  // namespace firstcome::mysql
