// One SQLite connection, shared by the SQLite log and the SQLite store.
//
// Not thread-safe: each owner uses it from one thread at a time (or under its
// own mutex). Errors come back as Status::Unavailable prefixed with the
// owner's name ("sqlite log", "sqlite store"), with SQLite's message and code.
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <string>
#include <utility>

#include "core/status.h"

namespace firstcome {

class SqliteConnection {
 public:
  explicit SqliteConnection(std::string owner) : owner_(std::move(owner)) {}
  SqliteConnection(const SqliteConnection&) = delete;
  SqliteConnection& operator=(const SqliteConnection&) = delete;
  ~SqliteConnection() {
    sqlite3_finalize(begin_);
    sqlite3_finalize(commit_);
    sqlite3_close_v2(db_);
  }

  // Opens (creating) `path` with extended result codes, the busy timeout and
  // synchronous=FULL: a committed transaction survives power loss.
  Status Open(const std::string& path, std::chrono::milliseconds busy_timeout);

  sqlite3* get() const { return db_; }
  Status Exec(const char* sql);
  // Exec("BEGIN IMMEDIATE") and Exec("COMMIT") (same answers), through
  // statements prepared once per connection: every batch of the log writer
  // and the consumer runs both, and parsing them each time showed.
  Status BeginImmediate() { return Step(begin_, "BEGIN IMMEDIATE"); }
  Status Commit() { return Step(commit_, "COMMIT"); }
  Status Error(const std::string& what, int rc) const;
  // Migration of a table made by an older version: adds `column` with its
  // declaration (e.g. "INTEGER NOT NULL DEFAULT 0") unless the table has it.
  Status AddColumnIfMissing(const std::string& table, const std::string& column,
                            const std::string& declaration);
  bool InTransaction() const { return !sqlite3_get_autocommit(db_); }
  // Rolls back the open transaction, if any (after a failed statement SQLite
  // may already have rolled it back by itself).
  void Rollback() {
    // Best effort: callers roll back on the way out with the error that made
    // them; should ROLLBACK fail too, the next BEGIN on this connection fails
    // and reports it.
    if (InTransaction()) (void)Exec("ROLLBACK");
  }

 private:
  // Runs the statement `sql`, prepared into *stmt on first use.
  Status Step(sqlite3_stmt*& stmt, const char* sql);

  std::string owner_;
  sqlite3* db_ = nullptr;           // owned; no lock: see the top
  sqlite3_stmt* begin_ = nullptr;   // owned, prepared on first use
  sqlite3_stmt* commit_ = nullptr;  // owned, prepared on first use
};

}  // namespace firstcome
