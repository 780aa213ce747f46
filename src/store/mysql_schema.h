// The tables MysqlStore keeps on MariaDB / MySQL, and the one place that knows
// their columns: the DDL, the column lists of the SELECTs, and the mapping
// between rows and Event / FailedEvent / Issuance values. Internal to
// src/store: only the MySQL store's files include it.
//
// Schema (same logical schema as SqliteStore): events (closed, incarnation,
// version beside the definition), coupons keyed by (event_id, seq) with
// UNIQUE(event_id, user_id, user_seq), failed_events with UNIQUE(event_id,
// seq), revocations keyed by the whole revoked record, and events_generation
// (one row, raised with every change to events). Ids are ASCII (core/event.h), so they are stored
// as ascii_bin: one byte per character, binary comparison like SQLite's.
// Times are Unix milliseconds in BIGINT columns.
//
// Invariants: EventFromRow reads rows selected with kEventColumns (typed
// kEventTypes), FailedFromRow rows selected with kFailedColumns (typed
// kFailedTypes); BindCoupon binds the seven parameters of one row of
// InsertSql, in its column order, and CouponColumns the same seven as columns.
#pragma once

#include <array>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "core/event.h"
#include "store/mysql_connection.h"
#include "store/store.h"

namespace firstcome::mysql {

// CREATE TABLE IF NOT EXISTS of every table, in order (idempotent).
extern const std::array<const char*, 5> kSchema;

// Creates every table (kSchema), adds the columns older versions did not have
// and the generation row.
Status MigrateSchema(MysqlConnection& c);

inline const std::string kEventColumns =
    "id, name, total, per_user, starts_at, ends_at, created_at, closed, incarnation, version";
inline constexpr ColumnType kEventTypes[] = {
    ColumnType::kStr, ColumnType::kStr, ColumnType::kInt, ColumnType::kInt, ColumnType::kInt,
    ColumnType::kInt, ColumnType::kInt, ColumnType::kInt, ColumnType::kInt, ColumnType::kInt};

inline const std::string kFailedColumns =
    "id, event_id, user_id, seq, user_seq, coupon_id, issued_at, error, attempts, "
    "next_attempt_at, dead, incarnation";
inline constexpr ColumnType kFailedTypes[] = {ColumnType::kInt, ColumnType::kStr, ColumnType::kStr,
                                              ColumnType::kInt, ColumnType::kInt, ColumnType::kStr,
                                              ColumnType::kInt, ColumnType::kStr, ColumnType::kInt,
                                              ColumnType::kInt, ColumnType::kInt, ColumnType::kInt};

Event EventFromRow(const Row& r);
FailedEvent FailedFromRow(const Row& r);

// A multi-row INSERT of `rows` coupons; a duplicate of a stored row affects 0
// rows instead of failing the statement (a no-op ON DUPLICATE KEY UPDATE).
std::string InsertSql(std::size_t rows);
// Binds one coupon row of InsertSql, persisted at `now`.
void BindCoupon(Params& p, const Issuance& c, UnixMillis now);
// The columns of InsertSql(1) for a bulk execution of `coupons`, persisted
// at `now`. The strings are not copied: `coupons` must outlive the result.
BulkParams CouponColumns(std::span<const Issuance> coupons, UnixMillis now);

// An error text fit for failed_events.error: at most 2000 bytes of valid UTF-8
// (invalid bytes become '?'), so the utf8mb4 column in strict mode takes it.
std::string ErrorText(std::string_view in);

}  // namespace firstcome::mysql
