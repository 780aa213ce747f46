#include "store/sqlite_schema.h"

namespace firstcome::sqlite_store {

namespace {

constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS events(
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  total INTEGER NOT NULL,
  per_user INTEGER NOT NULL,
  starts_at INTEGER,
  ends_at INTEGER,
  created_at INTEGER NOT NULL,
  closed INTEGER NOT NULL DEFAULT 0,
  incarnation INTEGER NOT NULL DEFAULT 0,
  version INTEGER NOT NULL DEFAULT 1);
CREATE TABLE IF NOT EXISTS coupons(
  event_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  user_id TEXT NOT NULL,
  user_seq INTEGER NOT NULL,
  coupon_id TEXT NOT NULL,
  issued_at INTEGER NOT NULL,
  persisted_at INTEGER NOT NULL,
  UNIQUE(event_id, seq),
  UNIQUE(event_id, user_id, user_seq));
CREATE TABLE IF NOT EXISTS failed_events(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  event_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  user_id TEXT NOT NULL,
  user_seq INTEGER NOT NULL,
  coupon_id TEXT NOT NULL,
  issued_at INTEGER NOT NULL,
  error TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  dead INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  incarnation INTEGER NOT NULL DEFAULT 0,
  UNIQUE(event_id, seq));
CREATE INDEX IF NOT EXISTS failed_events_due ON failed_events(dead, next_attempt_at);
CREATE INDEX IF NOT EXISTS failed_events_user ON failed_events(event_id, user_id);
CREATE TABLE IF NOT EXISTS revocations(
  event_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  user_id TEXT NOT NULL,
  user_seq INTEGER NOT NULL,
  issued_at INTEGER NOT NULL,
  revoked_at INTEGER NOT NULL,
  PRIMARY KEY(event_id, seq, user_id, user_seq, issued_at));
CREATE TABLE IF NOT EXISTS events_generation(
  one INTEGER PRIMARY KEY CHECK(one = 1),
  generation INTEGER NOT NULL);
INSERT OR IGNORE INTO events_generation(one, generation) VALUES(1, 0);
)sql";

}  // namespace

bool IsRecordError(int rc) {
  switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_TOOBIG:
    case SQLITE_RANGE:
      return true;
    default:
      return false;
  }
}

Status Done(Connection& c, Stmt& s, const char* what) {
  int rc = s.Step();
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) return c.Error(what, rc);
  return Status::Ok();
}

Status MigrateSchema(Connection& c) {
  if (Status s = c.Exec(kSchema); !s.ok()) return s;
  // Files made before events could be closed, changed or deleted.
  struct Column {
    const char* table;
    const char* name;
    const char* declaration;
  };
  static constexpr Column kAdded[] = {
      {"events", "closed", "INTEGER NOT NULL DEFAULT 0"},
      {"events", "incarnation", "INTEGER NOT NULL DEFAULT 0"},
      {"events", "version", "INTEGER NOT NULL DEFAULT 1"},
      {"failed_events", "incarnation", "INTEGER NOT NULL DEFAULT 0"},
  };
  for (const Column& col : kAdded) {
    if (Status s = c.AddColumnIfMissing(col.table, col.name, col.declaration); !s.ok()) return s;
  }
  return Status::Ok();
}

Event EventAt(const Stmt& s) {
  Event e;
  e.id = s.Text(0);
  e.name = s.Text(1);
  e.total = s.Int(2);
  e.per_user = static_cast<std::int32_t>(s.Int(3));
  e.starts_at = s.OptInt(4);
  e.ends_at = s.OptInt(5);
  e.created_at = s.Int(6);
  e.closed = s.Int(7) != 0;
  e.incarnation = s.Int(8);
  e.version = s.Int(9);
  return e;
}

FailedEvent FailedAt(const Stmt& s) {
  FailedEvent f;
  f.id = s.Int(0);
  f.issuance.event_id = s.Text(1);
  f.issuance.seq = s.Int(2);
  f.issuance.user_id = s.Text(3);
  f.issuance.user_seq = static_cast<std::int32_t>(s.Int(4));
  f.issuance.coupon_id = s.Text(5);
  f.issuance.issued_at = s.Int(6);
  f.error = s.Text(7);
  f.attempts = static_cast<std::int32_t>(s.Int(8));
  f.next_attempt_at = s.Int(9);
  f.dead = s.Int(10) != 0;
  f.issuance.incarnation = s.Int(11);
  return f;
}

}  // namespace firstcome::sqlite_store
