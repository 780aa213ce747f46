#include "sqlite/sqlite_connection.h"

#include "core/durations.h"

namespace firstcome {

Status SqliteConnection::Open(const std::string& path, std::chrono::milliseconds busy_timeout) {
  // Before SQLite initializes (the first open; a static's initialization
  // runs once, other openers waiting): no global memory statistics, which
  // take a global mutex on every allocation SQLite makes. Nothing here reads
  // them. Refused harmlessly (SQLITE_MISUSE) if SQLite was initialized already.
  static const int kMemStatusOff = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  (void)kMemStatusOff;
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) return Error("open " + path, rc);
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, TimeoutMillis(busy_timeout));
  return Exec("PRAGMA synchronous=FULL");
}

Status SqliteConnection::Exec(const char* sql) {
  char* msg = nullptr;
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &msg);
  std::string text = msg != nullptr ? msg : "";
  sqlite3_free(msg);
  if (rc != SQLITE_OK) {
    return Status::Unavailable(owner_ + ": " + std::string(sql).substr(0, 40) + ": " + text + " (" +
                               std::to_string(rc) + ")");
  }
  return Status::Ok();
}

Status SqliteConnection::Step(sqlite3_stmt*& stmt, const char* sql) {
  int rc = SQLITE_OK;
  if (stmt == nullptr) {
    rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  }
  if (rc == SQLITE_OK) {
    rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    if (rc == SQLITE_DONE) return Status::Ok();
  }
  // As Exec words it.
  return Status::Unavailable(owner_ + ": " + std::string(sql).substr(0, 40) + ": " +
                             sqlite3_errmsg(db_) + " (" + std::to_string(rc) + ")");
}

Status SqliteConnection::AddColumnIfMissing(const std::string& table, const std::string& column,
                                            const std::string& declaration) {
  sqlite3_stmt* stmt = nullptr;
  const std::string info = "SELECT 1 FROM pragma_table_info('" + table + "') WHERE name = ?";
  int rc = sqlite3_prepare_v2(db_, info.c_str(), -1, &stmt, nullptr);
  if (rc != SQLITE_OK) return Error("table info of " + table, rc);
  sqlite3_bind_text(stmt, 1, column.data(), static_cast<int>(column.size()), SQLITE_TRANSIENT);
  rc = sqlite3_step(stmt);
  sqlite3_finalize(stmt);
  if (rc == SQLITE_ROW) return Status::Ok();
  if (rc != SQLITE_DONE) return Error("table info of " + table, rc);
  const std::string alter = "ALTER TABLE " + table + " ADD COLUMN " + column + " " + declaration;
  return Exec(alter.c_str());
}

Status SqliteConnection::Error(const std::string& what, int rc) const {
  std::string detail = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
  return Status::Unavailable(owner_ + ": " + what + ": " + detail + " (" + std::to_string(rc) +
                             ")");
}

}  // namespace firstcome
