// The tables SqliteStore keeps, and the one place that knows their columns:
// the DDL and its migration from older files, the column lists of the
// SELECTs, the mapping from rows to Event / FailedEvent, and the cached
// prepared statements the store runs them with. Internal to src/store: only
// the SQLite store's files include it.
//
// Schema: events (closed, incarnation, version beside the definition),
// coupons with UNIQUE(event_id, seq) and UNIQUE(event_id, user_id, user_seq),
// failed_events with UNIQUE(event_id, seq), revocations (the issuances taken
// back, keyed by the whole record), and events_generation (one row, raised
// with every change to events).
//
// Invariants: EventAt reads rows selected with kEventColumns, FailedAt rows
// selected with kFailedColumns (both in this order).
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "core/event.h"
#include "sqlite/sqlite_connection.h"
#include "store/store.h"

namespace firstcome::sqlite_store {

inline constexpr char kEventColumns[] =
    "id, name, total, per_user, starts_at, ends_at, created_at, closed, incarnation, version";
inline constexpr char kFailedColumns[] =
    "id, event_id, seq, user_id, user_seq, coupon_id, issued_at, error, attempts, "
    "next_attempt_at, dead, incarnation";

// Errors that belong to one record, not to the store.
bool IsRecordError(int rc);

// A prepared statement borrowed from a Connection's cache; reset and
// unbound when it goes out of scope so the next user finds it clean.
class Stmt {
 public:
  explicit Stmt(sqlite3_stmt* s) : s_(s) {}
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt() {
    if (s_ != nullptr) {
      sqlite3_reset(s_);
      sqlite3_clear_bindings(s_);
    }
  }
  sqlite3_stmt* get() const { return s_; }

  Stmt& Bind(int i, std::string_view v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Bind(int i, std::int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  Stmt& Bind(int i, const std::optional<std::int64_t>& v) {
    if (v) {
      sqlite3_bind_int64(s_, i, *v);
    } else {
      sqlite3_bind_null(s_, i);
    }
    return *this;
  }
  int Step() { return sqlite3_step(s_); }

  std::int64_t Int(int col) const { return sqlite3_column_int64(s_, col); }
  std::optional<std::int64_t> OptInt(int col) const {
    if (sqlite3_column_type(s_, col) == SQLITE_NULL) return std::nullopt;
    return Int(col);
  }
  std::string Text(int col) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, col));
    return p != nullptr ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s_, col)))
                        : std::string();
  }

 private:
  sqlite3_stmt* s_;
};

// The store's connections: errors read "sqlite store: ...", statements are
// prepared once and cached.
// No lock of its own: its owner's mutex guards it with its cache.
class Connection : public SqliteConnection {
 public:
  Connection() : SqliteConnection("sqlite store") {}
  ~Connection() {
    for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
  }

  Status Open(const std::string& path, std::chrono::milliseconds busy_timeout) {
    if (Status s = SqliteConnection::Open(path, busy_timeout); !s.ok()) return s;
    return Exec("PRAGMA journal_mode=WAL");
  }

  // `sql` must be a string literal or otherwise outlive the connection (the
  // cache is keyed by its address).
  Result<sqlite3_stmt*> Prepare(const char* sql) {
    auto it = cache_.find(sql);
    if (it != cache_.end()) return it->second;
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(get(), sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) return Error("prepare", rc);
    cache_.emplace(sql, stmt);
    return stmt;
  }

  std::string Message() const { return sqlite3_errmsg(get()); }
  int Changes() const { return sqlite3_changes(get()); }

 private:
  std::map<const char*, sqlite3_stmt*> cache_;
};

// Declares `var`, a Stmt for the cached statement `sql` of `conn`, or returns
// the preparation error from the enclosing function (a macro because it must
// return from its caller).
#define FC_PREPARE(var, conn, sql)                          \
  auto var##_prepared = (conn).Prepare(sql);                \
  if (!var##_prepared.ok()) return var##_prepared.status(); \
  ::firstcome::sqlite_store::Stmt var(*var##_prepared)

// Steps a statement whose rows (if any) are not needed.
Status Done(Connection& c, Stmt& s, const char* what);

// Creates every table and index (idempotent) and adds the columns older
// versions did not have.
Status MigrateSchema(Connection& c);

Event EventAt(const Stmt& s);
FailedEvent FailedAt(const Stmt& s);

}  // namespace firstcome::sqlite_store
