// SqliteStore (see sqlite_store.h): the embedded Store on one SQLite file (WAL).
//
// Connections: one for writes (inserts, failures, events), one for short reads
// (status calls must not queue behind a large insert batch; WAL lets them read
// meanwhile), each behind its own mutex; scans with a caller's visitor get a
// connection of their own so the visitor may call the store again.
//
// InsertCoupons, per batch, in one BEGIN IMMEDIATE transaction:
//   - each record: INSERT ... ON CONFLICT DO NOTHING with a prepared statement;
//     no row inserted means the (event, seq) or (event, user, user_seq) exists:
//     the same record is a duplicate (success), anything else is a conflict,
//     reported as failed with the row it collides with;
//   - a record-level error (constraint, e.g. a trigger's RAISE(ABORT), type
//     mismatch, too big) only aborts that statement: the record is reported as
//     failed and the batch goes on; if the error took the transaction with it
//     (RAISE(ROLLBACK)), the batch starts over without the refused records;
//   - any other error (BUSY, LOCKED, IOERR, READONLY, FULL, CANTOPEN, ...) is
//     the store's: roll back, return Unavailable, nothing is inserted;
//   - a failed_events row of a record that is now in coupons is deleted in the
//     same transaction, so `failed` counts only records not persisted.
#include "store/sqlite_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <optional>
#include <utility>

#include "sqlite/sqlite_connection.h"

namespace firstcome {
namespace {

using std::chrono::milliseconds;

constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS events(
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  total INTEGER NOT NULL,
  per_user INTEGER NOT NULL,
  starts_at INTEGER,
  ends_at INTEGER,
  created_at INTEGER NOT NULL);
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
  UNIQUE(event_id, seq));
CREATE INDEX IF NOT EXISTS failed_events_due ON failed_events(dead, next_attempt_at);
CREATE INDEX IF NOT EXISTS failed_events_user ON failed_events(event_id, user_id);
)sql";

constexpr char kFailedColumns[] =
    "id, event_id, seq, user_id, user_seq, coupon_id, issued_at, error, attempts, "
    "next_attempt_at, dead";
constexpr char kEventColumns[] = "id, name, total, per_user, starts_at, ends_at, created_at";

// Errors that belong to one record, not to the store.
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

  Status Open(const std::string& path, milliseconds busy_timeout) {
    if (Status s = SqliteConnection::Open(path, busy_timeout); !s.ok()) return s;
    return Exec("PRAGMA journal_mode=WAL");
  }

  // `sql` must be a string literal (the cache is keyed by its address).
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
  Stmt var(*var##_prepared)

// Steps a statement whose rows (if any) are not needed.
Status Done(Connection& c, Stmt& s, const char* what) {
  int rc = s.Step();
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) return c.Error(what, rc);
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
  return f;
}

class SqliteStore final : public Store {
 public:
  explicit SqliteStore(SqliteStoreOptions options) : options_(std::move(options)) {}

  Status Open() {
    if (Status s = write_.Open(options_.path, options_.busy_timeout); !s.ok()) return s;
    return read_.Open(options_.path, options_.busy_timeout);
  }

  Status Migrate() override {
    std::lock_guard lock(write_mu_);
    return write_.Exec(kSchema);
  }

  Status CreateEvent(const Event& event) override {
    std::lock_guard lock(write_mu_);
    FC_PREPARE(s, write_,
               "INSERT INTO events(id, name, total, per_user, starts_at, ends_at, created_at) "
               "VALUES(?, ?, ?, ?, ?, ?, ?)");
    s.Bind(1, event.id)
        .Bind(2, event.name)
        .Bind(3, event.total)
        .Bind(4, std::int64_t{event.per_user});
    s.Bind(5, event.starts_at).Bind(6, event.ends_at).Bind(7, event.created_at);
    int rc = s.Step();
    if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE) {
      return Status::Exists("event '" + event.id + "' exists");
    }
    if (rc != SQLITE_DONE) return write_.Error("create event", rc);
    return Status::Ok();
  }

  Result<std::optional<Event>> GetEvent(std::string_view id) override {
    std::lock_guard lock(read_mu_);
    static const std::string sql =
        std::string("SELECT ") + kEventColumns + " FROM events WHERE id = ?";
    FC_PREPARE(s, read_, sql.c_str());
    s.Bind(1, id);
    int rc = s.Step();
    if (rc == SQLITE_ROW) return std::optional<Event>(EventAt(s));
    if (rc != SQLITE_DONE) return read_.Error("get event", rc);
    return std::optional<Event>();
  }

  Result<std::vector<Event>> ListEvents() override {
    std::lock_guard lock(read_mu_);
    static const std::string sql =
        std::string("SELECT ") + kEventColumns + " FROM events ORDER BY created_at, id";
    FC_PREPARE(s, read_, sql.c_str());
    std::vector<Event> out;
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) out.push_back(EventAt(s));
    if (rc != SQLITE_DONE) return read_.Error("list events", rc);
    return out;
  }

  Result<InsertOutcome> InsertCoupons(std::span<const Issuance> batch) override {
    std::lock_guard lock(write_mu_);
    std::map<std::size_t, std::string> refused;
    // Each pass either commits or refuses one more record (or fails the store),
    // so this ends after at most batch.size() + 1 passes.
    for (;;) {
      InsertOutcome outcome;
      bool restart = false;
      Status s = InsertPass(batch, refused, outcome, restart);
      if (!s.ok()) {
        write_.Rollback();
        return s;
      }
      if (restart) continue;
      for (const auto& [index, error] : refused) outcome.failed.push_back({index, error});
      return outcome;
    }
  }

  Status ScanCoupons(std::string_view event_id,
                     const std::function<void(const Issuance&)>& visit) override {
    Connection c;
    if (Status s = c.Open(options_.path, options_.busy_timeout); !s.ok()) return s;
    FC_PREPARE(s, c,
               "SELECT seq, user_id, user_seq, coupon_id, issued_at FROM coupons "
               "WHERE event_id = ? ORDER BY seq");
    s.Bind(1, event_id);
    int rc;
    Issuance i;
    i.event_id = std::string(event_id);
    while ((rc = s.Step()) == SQLITE_ROW) {
      i.seq = s.Int(0);
      i.user_id = s.Text(1);
      i.user_seq = static_cast<std::int32_t>(s.Int(2));
      i.coupon_id = s.Text(3);
      i.issued_at = s.Int(4);
      visit(i);
    }
    if (rc != SQLITE_DONE) return c.Error("scan coupons", rc);
    return Status::Ok();
  }

  Result<std::vector<StoredCoupon>> CouponsOfUser(std::string_view event_id,
                                                  std::string_view user_id) override {
    std::lock_guard lock(read_mu_);
    // One statement: a consistent view of both tables.
    FC_PREPARE(
        s, read_,
        "SELECT seq, user_seq, coupon_id, 0 FROM coupons WHERE event_id = ?1 AND user_id = ?2 "
        "UNION ALL "
        "SELECT seq, user_seq, coupon_id, 1 FROM failed_events f "
        "WHERE event_id = ?1 AND user_id = ?2 AND NOT EXISTS "
        "(SELECT 1 FROM coupons c WHERE c.event_id = f.event_id AND c.seq = f.seq)");
    // No ORDER BY: with it SQLite walks the (event_id, seq) index through the
    // whole event to get the order for free, and a user lookup turns O(event).
    s.Bind(1, event_id).Bind(2, user_id);
    std::vector<StoredCoupon> out;
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) {
      out.push_back(StoredCoupon{s.Int(0), static_cast<std::int32_t>(s.Int(1)), s.Text(2),
                                 s.Int(3) == 0 ? CouponState::kPersisted : CouponState::kFailed});
    }
    if (rc != SQLITE_DONE) return read_.Error("coupons of user", rc);
    std::sort(out.begin(), out.end(),
              [](const StoredCoupon& a, const StoredCoupon& b) { return a.seq < b.seq; });
    return out;
  }

  Result<EventCounts> CountsOf(std::string_view event_id) override {
    std::lock_guard lock(read_mu_);
    FC_PREPARE(s, read_,
               "SELECT (SELECT count(*) FROM coupons WHERE event_id = ?1), "
               "(SELECT count(*) FROM failed_events WHERE event_id = ?1 AND dead = 0), "
               "(SELECT count(*) FROM failed_events WHERE event_id = ?1 AND dead <> 0)");
    s.Bind(1, event_id);
    int rc = s.Step();
    if (rc != SQLITE_ROW) return read_.Error("counts", rc);
    return EventCounts{s.Int(0), s.Int(1), s.Int(2)};
  }

  Status RecordFailure(const Issuance& issuance, std::string_view error,
                       UnixMillis next_attempt_at) override {
    std::lock_guard lock(write_mu_);
    const UnixMillis now = NowMillis();
    FC_PREPARE(s, write_,
               "INSERT INTO failed_events(event_id, seq, user_id, user_seq, coupon_id, issued_at, "
               "error, attempts, next_attempt_at, dead, created_at, updated_at) "
               "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?8, 0, ?9, ?9) "
               "ON CONFLICT(event_id, seq) DO UPDATE SET user_id = excluded.user_id, "
               "user_seq = excluded.user_seq, coupon_id = excluded.coupon_id, "
               "issued_at = excluded.issued_at, error = excluded.error, "
               "next_attempt_at = excluded.next_attempt_at, updated_at = excluded.updated_at");
    s.Bind(1, issuance.event_id).Bind(2, issuance.seq).Bind(3, issuance.user_id);
    s.Bind(4, std::int64_t{issuance.user_seq}).Bind(5, issuance.coupon_id);
    s.Bind(6, issuance.issued_at).Bind(7, error).Bind(8, next_attempt_at).Bind(9, now);
    return Done(write_, s, "record failure");
  }

  Result<std::vector<FailedEvent>> DueFailures(UnixMillis now, std::size_t limit) override {
    std::lock_guard lock(read_mu_);
    static const std::string sql = std::string("SELECT ") + kFailedColumns +
                                   " FROM failed_events WHERE dead = 0 AND next_attempt_at <= ? "
                                   "ORDER BY next_attempt_at, id LIMIT ?";
    FC_PREPARE(s, read_, sql.c_str());
    s.Bind(1, now).Bind(2, static_cast<std::int64_t>(std::min<std::size_t>(limit, 1 << 30)));
    return Failures(s, "due failures");
  }

  Status ResolveFailure(std::int64_t id) override {
    std::lock_guard lock(write_mu_);
    FC_PREPARE(s, write_, "DELETE FROM failed_events WHERE id = ?");
    s.Bind(1, id);
    // Already gone (the coupon was persisted by a redelivery) is fine too.
    return Done(write_, s, "resolve failure");
  }

  Status RescheduleFailure(std::int64_t id, std::string_view error, UnixMillis next_attempt_at,
                           bool dead) override {
    std::lock_guard lock(write_mu_);
    FC_PREPARE(s, write_,
               "UPDATE failed_events SET attempts = attempts + 1, error = ?2, "
               "next_attempt_at = ?3, dead = ?4, updated_at = ?5 WHERE id = ?1");
    s.Bind(1, id).Bind(2, error).Bind(3, next_attempt_at).Bind(4, std::int64_t{dead ? 1 : 0});
    s.Bind(5, NowMillis());
    if (Status st = Done(write_, s, "reschedule failure"); !st.ok()) return st;
    if (write_.Changes() == 0) return Status::NotFound("no failed event " + std::to_string(id));
    return Status::Ok();
  }

  Result<std::vector<FailedEvent>> FailuresOf(std::string_view event_id) override {
    std::lock_guard lock(read_mu_);
    static const std::string sql = std::string("SELECT ") + kFailedColumns +
                                   " FROM failed_events WHERE event_id = ? ORDER BY seq";
    FC_PREPARE(s, read_, sql.c_str());
    s.Bind(1, event_id);
    return Failures(s, "failures of event");
  }

  Status Health() override {
    std::lock_guard lock(read_mu_);
    FC_PREPARE(s, read_, "SELECT count(*) FROM events");
    int rc = s.Step();
    if (rc != SQLITE_ROW) return read_.Error("health", rc);
    return Status::Ok();
  }

 private:
  Result<std::vector<FailedEvent>> Failures(Stmt& s, const char* what) {
    std::vector<FailedEvent> out;
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) out.push_back(FailedAt(s));
    if (rc != SQLITE_DONE) return read_.Error(what, rc);
    return out;
  }

  // One transaction over the batch, skipping `refused`. Sets `restart` when a
  // record's error rolled the transaction back (the pass must be redone).
  Status InsertPass(std::span<const Issuance> batch, std::map<std::size_t, std::string>& refused,
                    InsertOutcome& outcome, bool& restart) {
    if (Status s = write_.Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
    bool has_failures = false;
    {
      FC_PREPARE(probe, write_, "SELECT EXISTS(SELECT 1 FROM failed_events)");
      int rc = probe.Step();
      if (rc != SQLITE_ROW) return write_.Error("insert coupons", rc);
      has_failures = probe.Int(0) != 0;
    }
    const UnixMillis now = NowMillis();
    for (std::size_t index = 0; index < batch.size(); ++index) {
      if (refused.count(index) != 0) continue;
      const Issuance& i = batch[index];
      int rc;
      {
        FC_PREPARE(s, write_,
                   "INSERT INTO coupons(event_id, seq, user_id, user_seq, coupon_id, issued_at, "
                   "persisted_at) VALUES(?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING");
        s.Bind(1, i.event_id).Bind(2, i.seq).Bind(3, i.user_id).Bind(4, std::int64_t{i.user_seq});
        s.Bind(5, i.coupon_id).Bind(6, i.issued_at).Bind(7, now);
        rc = s.Step();
      }
      if (rc == SQLITE_DONE && write_.Changes() == 1) {
        ++outcome.inserted;
      } else if (rc == SQLITE_DONE) {
        auto existing = Existing(i);
        if (!existing.ok()) return existing.status();
        if (!existing->empty()) {
          refused[index] = *existing;
          continue;
        }
        ++outcome.duplicates;
      } else if (IsRecordError(rc)) {
        refused[index] = write_.Message();
        if (!write_.InTransaction()) {
          restart = true;
          return Status::Ok();
        }
        continue;
      } else {
        return write_.Error("insert coupon", rc);
      }
      if (has_failures) {
        FC_PREPARE(d, write_, "DELETE FROM failed_events WHERE event_id = ? AND seq = ?");
        d.Bind(1, i.event_id).Bind(2, i.seq);
        if (Status s = Done(write_, d, "delete failed event"); !s.ok()) return s;
      }
    }
    if (Status s = write_.Exec("COMMIT"); !s.ok()) return s;
    return Status::Ok();
  }

  // After an insert that changed nothing: "" when the stored row is this very
  // record (a duplicate), otherwise what it collides with.
  Result<std::string> Existing(const Issuance& i) {
    FC_PREPARE(s, write_,
               "SELECT seq, user_id, user_seq FROM coupons WHERE event_id = ?1 AND "
               "(seq = ?2 OR (user_id = ?3 AND user_seq = ?4)) LIMIT 2");
    s.Bind(1, i.event_id).Bind(2, i.seq).Bind(3, i.user_id).Bind(4, std::int64_t{i.user_seq});
    std::string conflict;
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) {
      const std::int64_t seq = s.Int(0);
      const std::string user = s.Text(1);
      const std::int64_t user_seq = s.Int(2);
      if (seq == i.seq && user == i.user_id && user_seq == i.user_seq) return std::string();
      conflict = "conflict: seq " + std::to_string(seq) + " is stored for user '" + user +
                 "' user_seq " + std::to_string(user_seq) + ", not for user '" + i.user_id +
                 "' user_seq " + std::to_string(i.user_seq);
    }
    if (rc != SQLITE_DONE) return write_.Error("look up conflict", rc);
    if (conflict.empty()) conflict = "conflict: the insert changed nothing and no row matches";
    return conflict;
  }

  const SqliteStoreOptions options_;
  std::mutex write_mu_;
  Connection write_;  // guarded by write_mu_ (its statement cache too)
  std::mutex read_mu_;
  Connection read_;  // guarded by read_mu_ (its statement cache too)
};

}  // namespace

Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteStoreOptions& options) {
  if (options.path.empty()) return Status::Invalid("sqlite store: path is empty");
  auto store = std::make_unique<SqliteStore>(options);
  if (Status s = store->Open(); !s.ok()) return s;
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace firstcome
