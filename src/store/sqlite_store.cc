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
//     same transaction, so `failed` counts only records not persisted;
//   - a record whose incarnation is not the event's, or that a revocation took
//     back, is ignored (checked in the same transaction).
// Tables, columns and migrations are in sqlite_schema.h.
#include "store/sqlite_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <optional>
#include <utility>

#include "store/sqlite_schema.h"

namespace firstcome {
namespace {

using std::chrono::milliseconds;

using sqlite_store::Connection;
using sqlite_store::Done;
using sqlite_store::EventAt;
using sqlite_store::FailedAt;
using sqlite_store::IsRecordError;
using sqlite_store::kEventColumns;
using sqlite_store::kFailedColumns;
using sqlite_store::Stmt;

class SqliteStore final : public Store {
 public:
  explicit SqliteStore(SqliteStoreOptions options) : options_(std::move(options)) {}

  Status Open() {
    if (Status s = write_.Open(options_.path, options_.busy_timeout); !s.ok()) return s;
    return read_.Open(options_.path, options_.busy_timeout);
  }

  Status Migrate() override {
    std::lock_guard lock(write_mu_);
    return sqlite_store::MigrateSchema(write_);
  }

  Status CreateEvent(const Event& event) override {
    std::lock_guard lock(write_mu_);
    return WriteTransaction([&]() -> Status {
      FC_PREPARE(s, write_,
                 "INSERT INTO events(id, name, total, per_user, starts_at, ends_at, created_at, "
                 "closed, incarnation, version) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
      s.Bind(1, event.id)
          .Bind(2, event.name)
          .Bind(3, event.total)
          .Bind(4, std::int64_t{event.per_user});
      s.Bind(5, event.starts_at).Bind(6, event.ends_at).Bind(7, event.created_at);
      s.Bind(8, std::int64_t{event.closed ? 1 : 0}).Bind(9, event.incarnation);
      s.Bind(10, event.version);
      int rc = s.Step();
      if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE) {
        return Status::Exists("event '" + event.id + "' exists");
      }
      if (rc != SQLITE_DONE) return write_.Error("create event", rc);
      return BumpGeneration();
    });
  }

  Result<bool> UpdateEvent(const Event& event, std::int64_t expected_version) override {
    std::lock_guard lock(write_mu_);
    bool updated = false;
    Status s = WriteTransaction([&]() -> Status {
      FC_PREPARE(
          u, write_,
          "UPDATE events SET name = ?1, total = ?2, starts_at = ?3, ends_at = ?4, "
          "closed = ?5, version = ?8 + 1 WHERE id = ?6 AND incarnation = ?7 AND version = ?8");
      u.Bind(1, event.name).Bind(2, event.total).Bind(3, event.starts_at).Bind(4, event.ends_at);
      u.Bind(5, std::int64_t{event.closed ? 1 : 0}).Bind(6, event.id).Bind(7, event.incarnation);
      u.Bind(8, expected_version);
      if (Status st = Done(write_, u, "update event"); !st.ok()) return st;
      updated = write_.Changes() == 1;
      return updated ? BumpGeneration() : Status::Ok();
    });
    if (!s.ok()) return s;
    return updated;
  }

  Result<std::int64_t> DeleteEvent(const Event& event) override {
    std::lock_guard lock(write_mu_);
    std::int64_t coupons = 0;
    Status s = WriteTransaction([&]() -> Status {
      {
        FC_PREPARE(q, write_,
                   "SELECT (SELECT count(*) FROM coupons WHERE event_id = ?1), "
                   "EXISTS(SELECT 1 FROM events WHERE id = ?1 AND incarnation = ?2)");
        q.Bind(1, event.id).Bind(2, event.incarnation);
        if (int rc = q.Step(); rc != SQLITE_ROW) return write_.Error("delete event", rc);
        if (q.Int(1) == 0) return Status::NotFound("no event '" + event.id + "' of that creation");
        coupons = q.Int(0);
      }
      static constexpr const char* kDeletes[] = {
          "DELETE FROM coupons WHERE event_id = ?1",
          "DELETE FROM failed_events WHERE event_id = ?1",
          "DELETE FROM revocations WHERE event_id = ?1",
          "DELETE FROM events WHERE id = ?1",
      };
      for (const char* sql : kDeletes) {
        FC_PREPARE(d, write_, sql);
        d.Bind(1, event.id);
        if (Status st = Done(write_, d, "delete event"); !st.ok()) return st;
      }
      return BumpGeneration();
    });
    if (!s.ok()) return s;
    return coupons;
  }

  Result<std::int64_t> EventsGeneration() override {
    std::lock_guard lock(read_mu_);
    FC_PREPARE(s, read_, "SELECT generation FROM events_generation WHERE one = 1");
    int rc = s.Step();
    if (rc == SQLITE_ROW) return s.Int(0);
    if (rc == SQLITE_DONE) return std::int64_t{0};
    return read_.Error("events generation", rc);
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
    // One statement, so the checks (the event holds this incarnation, the
    // record is not revoked) and the insert are one atomic step.
    FC_PREPARE(s, write_,
               "INSERT INTO failed_events(event_id, seq, user_id, user_seq, coupon_id, issued_at, "
               "error, attempts, next_attempt_at, dead, created_at, updated_at, incarnation) "
               "SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?8, 0, ?9, ?9, ?10 "
               "WHERE EXISTS(SELECT 1 FROM events WHERE id = ?1 AND incarnation = ?10) "
               "AND NOT EXISTS(SELECT 1 FROM revocations WHERE event_id = ?1 AND seq = ?2 AND "
               "user_id = ?3 AND user_seq = ?4 AND issued_at = ?6) "
               "ON CONFLICT(event_id, seq) DO UPDATE SET user_id = excluded.user_id, "
               "user_seq = excluded.user_seq, coupon_id = excluded.coupon_id, "
               "issued_at = excluded.issued_at, error = excluded.error, "
               "next_attempt_at = excluded.next_attempt_at, updated_at = excluded.updated_at, "
               "incarnation = excluded.incarnation");
    s.Bind(1, issuance.event_id).Bind(2, issuance.seq).Bind(3, issuance.user_id);
    s.Bind(4, std::int64_t{issuance.user_seq}).Bind(5, issuance.coupon_id);
    s.Bind(6, issuance.issued_at).Bind(7, error).Bind(8, next_attempt_at).Bind(9, now);
    s.Bind(10, issuance.incarnation);
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

  Result<std::optional<FailedEvent>> FailureOfSeq(std::string_view event_id,
                                                  std::int64_t seq) override {
    std::lock_guard lock(read_mu_);
    static const std::string sql = std::string("SELECT ") + kFailedColumns +
                                   " FROM failed_events WHERE event_id = ? AND seq = ?";
    FC_PREPARE(s, read_, sql.c_str());
    s.Bind(1, event_id).Bind(2, seq);
    auto found = Failures(s, "failure of seq");
    if (!found.ok()) return found.status();
    if (found->empty()) return std::optional<FailedEvent>();
    return std::optional<FailedEvent>(std::move(found->front()));
  }

  Status ApplyRevocations(std::span<const Issuance> revocations) override {
    std::lock_guard lock(write_mu_);
    return WriteTransaction([&]() -> Status {
      Incarnations incarnations;
      const UnixMillis now = NowMillis();
      for (const Issuance& r : revocations) {
        auto current = incarnations.Of(*this, r.event_id);
        if (!current.ok()) return current.status();
        if (*current != r.incarnation) continue;  // deleted (or another creation): nothing to do
        {
          FC_PREPARE(t, write_,
                     "INSERT OR IGNORE INTO revocations(event_id, seq, user_id, user_seq, "
                     "issued_at, revoked_at) VALUES(?, ?, ?, ?, ?, ?)");
          t.Bind(1, r.event_id).Bind(2, r.seq).Bind(3, r.user_id);
          t.Bind(4, std::int64_t{r.user_seq}).Bind(5, r.issued_at).Bind(6, now);
          if (Status st = Done(write_, t, "remember revocation"); !st.ok()) return st;
        }
        static constexpr const char* kDeletes[] = {
            "DELETE FROM coupons WHERE event_id = ? AND seq = ? AND user_id = ? AND user_seq = ?",
            "DELETE FROM failed_events WHERE event_id = ? AND seq = ? AND user_id = ? AND "
            "user_seq = ?",
        };
        for (const char* sql : kDeletes) {
          FC_PREPARE(d, write_, sql);
          d.Bind(1, r.event_id).Bind(2, r.seq).Bind(3, r.user_id).Bind(4, std::int64_t{r.user_seq});
          if (Status st = Done(write_, d, "revoke"); !st.ok()) return st;
        }
      }
      return Status::Ok();
    });
  }

  Result<std::optional<SeqHolder>> HolderOfSeq(const Event& event, std::int64_t seq) override {
    std::lock_guard lock(read_mu_);
    // One statement: a consistent view of both tables.
    FC_PREPARE(s, read_,
               "SELECT user_id, user_seq, coupon_id, issued_at, 0 FROM coupons "
               "WHERE event_id = ?1 AND seq = ?2 "
               "UNION ALL SELECT user_id, user_seq, coupon_id, issued_at, 1 FROM failed_events "
               "WHERE event_id = ?1 AND seq = ?2 AND incarnation = ?3 ORDER BY 5 LIMIT 1");
    s.Bind(1, event.id).Bind(2, seq).Bind(3, event.incarnation);
    int rc = s.Step();
    if (rc == SQLITE_DONE) return std::optional<SeqHolder>();
    if (rc != SQLITE_ROW) return read_.Error("holder of seq", rc);
    SeqHolder h;
    h.issuance = Issuance{.event_id = event.id,
                          .user_id = s.Text(0),
                          .seq = seq,
                          .user_seq = static_cast<std::int32_t>(s.Int(1)),
                          .coupon_id = s.Text(2),
                          .issued_at = s.Int(3),
                          .incarnation = event.incarnation};
    h.failed = s.Int(4) != 0;
    return std::optional<SeqHolder>(std::move(h));
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
    if (Status s = write_.BeginImmediate(); !s.ok()) return s;
    bool has_failures = false, has_revocations = false;
    {
      FC_PREPARE(probe, write_,
                 "SELECT EXISTS(SELECT 1 FROM failed_events), EXISTS(SELECT 1 FROM revocations)");
      int rc = probe.Step();
      if (rc != SQLITE_ROW) return write_.Error("insert coupons", rc);
      has_failures = probe.Int(0) != 0;
      has_revocations = probe.Int(1) != 0;
    }
    Incarnations incarnations;
    const UnixMillis now = NowMillis();
    for (std::size_t index = 0; index < batch.size(); ++index) {
      if (refused.count(index) != 0) continue;
      const Issuance& i = batch[index];
      // Checked inside this transaction: a deletion or revocation either
      // committed before (the record is ignored) or waits for this commit
      // (and then removes what it inserted).
      auto incarnation = incarnations.Of(*this, i.event_id);
      if (!incarnation.ok()) return incarnation.status();
      if (*incarnation != i.incarnation) {
        ++outcome.ignored;
        continue;
      }
      if (has_revocations) {
        auto revoked = Revoked(i);
        if (!revoked.ok()) return revoked.status();
        if (*revoked) {
          ++outcome.ignored;
          continue;
        }
      }
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
    if (Status s = write_.Commit(); !s.ok()) return s;
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

  // Runs `body` in one BEGIN IMMEDIATE transaction on the write connection
  // (write_mu_ held): committed when it returns ok, rolled back otherwise.
  template <class Body>
  Status WriteTransaction(Body body) {
    if (Status s = write_.BeginImmediate(); !s.ok()) return s;
    if (Status s = body(); !s.ok()) {
      write_.Rollback();
      return s;
    }
    if (Status s = write_.Commit(); !s.ok()) {
      write_.Rollback();
      return s;
    }
    return Status::Ok();
  }

  // In a write transaction: every change to events raises the generation.
  Status BumpGeneration() {
    FC_PREPARE(s, write_, "UPDATE events_generation SET generation = generation + 1");
    return Done(write_, s, "events generation");
  }

  // The incarnation each event of a write transaction has in the events
  // table, read once per event (-1: no such event, which no record matches).
  class Incarnations {
   public:
    Result<std::int64_t> Of(SqliteStore& store, const std::string& event_id) {
      if (auto it = known_.find(event_id); it != known_.end()) return it->second;
      FC_PREPARE(s, store.write_, "SELECT incarnation FROM events WHERE id = ?");
      s.Bind(1, event_id);
      int rc = s.Step();
      std::int64_t incarnation = -1;
      if (rc == SQLITE_ROW) {
        incarnation = s.Int(0);
      } else if (rc != SQLITE_DONE) {
        return store.write_.Error("incarnation of " + event_id, rc);
      }
      known_.emplace(event_id, incarnation);
      return incarnation;
    }

   private:
    std::map<std::string, std::int64_t> known_;
  };

  // In a write transaction: whether a revocation took this very issuance back.
  Result<bool> Revoked(const Issuance& i) {
    FC_PREPARE(s, write_,
               "SELECT 1 FROM revocations WHERE event_id = ? AND seq = ? AND user_id = ? AND "
               "user_seq = ? AND issued_at = ?");
    s.Bind(1, i.event_id).Bind(2, i.seq).Bind(3, i.user_id).Bind(4, std::int64_t{i.user_seq});
    s.Bind(5, i.issued_at);
    int rc = s.Step();
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return write_.Error("look up revocation", rc);
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
