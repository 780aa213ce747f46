// MysqlStore: the Store port on MariaDB / MySQL (see store.h for the contract
// and mysql_store.h for the options). The tables and their row mapping are in
// mysql_schema.h, connections and the pool in mysql_connection.h.
//
// InsertCoupons runs in one transaction: INSERT ... ON DUPLICATE KEY UPDATE in
// chunks of rows, each one statement (a bulk execution with array binding on
// MariaDB, a multi-row INSERT elsewhere), with a no-op update (so a duplicate
// counts 0 affected rows while every other error still fails the statement;
// INSERT IGNORE would also turn "value too long" into a silent truncation).
// When a chunk inserts fewer rows than it has, its records are looked up to
// tell duplicates (same record already stored) from conflicts (the seq or the
// user's slot belongs to a different row). When a chunk is refused because of
// a record (a trigger's SIGNAL, a bad value), it is replayed row by row in the
// same transaction so the other records still go in. Coupons that end up
// persisted take their pending failed_events row with them in that same
// transaction.
#include "store/mysql_store.h"

#include <mysqld_error.h>

#include <algorithm>
#include <array>
#include <limits>
#include <unordered_map>
#include <utility>

#include "store/mysql_connection.h"
#include "store/mysql_lifecycle.h"
#include "store/mysql_schema.h"

namespace firstcome {

namespace {

using mysql::BindCoupon;
using mysql::ColumnType;
using mysql::ErrorText;
using mysql::EventFromRow;
using mysql::FailedFromRow;
using mysql::InsertSql;
using mysql::kEventColumns;
using mysql::kEventTypes;
using mysql::kFailedColumns;
using mysql::kFailedTypes;
using mysql::MysqlConnection;
using mysql::MysqlPool;
using mysql::Params;
using mysql::Row;
using mysql::TransactionGuard;

constexpr ColumnType kInt = ColumnType::kInt;
constexpr ColumnType kStr = ColumnType::kStr;

// Multi-row INSERT sizes: a batch is cut greedily into these, so at most five
// statements per connection are ever prepared for inserts and each is reused.
// (Measured on the drain: 128 to 512 rows alike, 2000 cost MariaDB 10-20%
// more CPU per row.)
constexpr std::array<std::size_t, 5> kInsertRows = {512, 128, 32, 8, 1};
// Rows per bulk execution, when the server takes them (MariaDB). Measured:
// 500-row bulk executions took 4.0-4.4 us of mariadbd CPU per row against
// 4.8-6.3 for 500-row multi-row INSERTs, and 2000-row ones 4.8-5.3.
constexpr std::size_t kBulkRows = 512;
constexpr std::size_t kScanPage = 2000;
constexpr std::size_t kMaxDueLimit = 10000;

class MysqlStore final : public Store {
 public:
  MysqlStore(mysql::Endpoint endpoint, int connections, bool bulk_inserts)
      : pool_(std::move(endpoint), connections), bulk_inserts_(bulk_inserts) {
    for (std::size_t rows : kInsertRows) insert_sql_.push_back(InsertSql(rows));
  }

  Status Migrate() override {
    auto c = pool_.Acquire();
    if (!c.ok()) return c.status();
    return mysql::MigrateSchema(**c);
  }

  Status CreateEvent(const Event& event) override {
    if (Status s = ValidateEvent(event); !s.ok()) return s;
    auto c = pool_.Acquire();
    if (!c.ok()) return c.status();
    if (Status s = (*c)->Exec("START TRANSACTION"); !s.ok()) return s;
    TransactionGuard transaction(**c);
    Params p;
    p.Str(event.id).Str(event.name).Int(event.total).Int(event.per_user);
    p.OptionalInt(event.starts_at).OptionalInt(event.ends_at);
    p.Int(event.created_at != 0 ? event.created_at : NowMillis());
    p.Int(event.closed ? 1 : 0).Int(event.incarnation).Int(event.version);
    auto r =
        (*c)->Execute("INSERT INTO events (" + kEventColumns + ") VALUES (?,?,?,?,?,?,?,?,?,?)", p);
    if (!r.ok()) {
      if ((*c)->last_errno() == ER_DUP_ENTRY)
        return Status::Exists("event " + event.id + " exists");
      if ((*c)->record_error()) return Status::Invalid(r.status().message());
      return r.status();
    }
    if (Status s = mysql::BumpGeneration(**c); !s.ok()) return s;
    return transaction.Commit();
  }

  Result<bool> UpdateEvent(const Event& event, std::int64_t expected_version) override {
    if (Status s = ValidateEvent(event); !s.ok()) return s;
    auto c = pool_.Acquire();
    if (!c.ok()) return c.status();
    return mysql::UpdateEventRow(**c, event, expected_version);
  }

  Result<std::int64_t> DeleteEvent(const Event& event) override {
    auto c = pool_.Acquire();
    if (!c.ok()) return c.status();
    return mysql::DeleteEventRows(**c, event);
  }

  Result<std::int64_t> EventsGeneration() override {
    auto c = pool_.Acquire();
    if (!c.ok()) return c.status();
    return mysql::ReadGeneration(**c);
  }

  Status ApplyRevocations(std::span<const Issuance> revocations) override {
    auto c = pool_.Acquire();
    if (!c.ok()) return c.status();
    return mysql::ApplyRevocationRows(**c, revocations);
  }

  Result<std::optional<SeqHolder>> HolderOfSeq(const Event& event, std::int64_t seq) override {
    auto c = pool_.Acquire();
    if (!c.ok()) return c.status();
    return mysql::HolderOfSeqRow(**c, event, seq);
  }

  Result<std::optional<Event>> GetEvent(std::string_view id) override {
    auto c = pool_.Acquire();
    if (!c.ok()) return c.status();
    Params p;
    p.Str(id);
    auto rows =
        (*c)->Query("SELECT " + kEventColumns + " FROM events WHERE id = ?", p, kEventTypes);
    if (!rows.ok()) return rows.status();
    if (rows->empty()) return std::optional<Event>();
    return std::optional<Event>(EventFromRow(rows->front()));
  }

  Result<std::vector<Event>> ListEvents() override {
    auto c = pool_.Acquire();
    if (!c.ok()) return c.status();
    Params p;
    auto rows = (*c)->Query("SELECT " + kEventColumns + " FROM events ORDER BY created_at, id", p,
                            kEventTypes);
    if (!rows.ok()) return rows.status();
    std::vector<Event> events;
    events.reserve(rows->size());
    for (const Row& r : *rows) events.push_back(EventFromRow(r));
    return events;
  }

  Result<InsertOutcome> InsertCoupons(std::span<const Issuance> batch) override {
    InsertOutcome out;
    if (batch.empty()) return out;
    auto lease = pool_.Acquire();
    if (!lease.ok()) return lease.status();
    MysqlConnection& c = **lease;
    if (Status s = c.Exec("START TRANSACTION"); !s.ok()) return s;
    TransactionGuard transaction(c);
    // Records of a deleted incarnation or revoked are dropped first (see
    // mysql_lifecycle.h for why the check holds until the commit).
    auto ignored = mysql::IgnoredRecords(c, batch);
    if (!ignored.ok()) return ignored.status();
    const std::span<const Issuance> whole = batch;
    std::vector<Issuance> kept;
    std::vector<std::size_t> origin;  // index in `whole` of each record of `kept`
    if (std::count(ignored->begin(), ignored->end(), 1) > 0) {
      for (std::size_t i = 0; i < whole.size(); ++i) {
        if ((*ignored)[i]) {
          ++out.ignored;
        } else {
          kept.push_back(whole[i]);
          origin.push_back(i);
        }
      }
      batch = kept;
    }
    const UnixMillis now = NowMillis();
    std::vector<char> persisted(batch.size(), 0);  // inserted now or already there
    const bool bulk = bulk_inserts_ && c.SupportsBulk();

    for (std::size_t pos = 0; pos < batch.size();) {
      // The next chunk, as one bulk execution or one multi-row INSERT: either
      // is one statement, refused or applied as a whole.
      std::size_t rows = 0;
      auto execute = [&]() -> Result<std::uint64_t> {
        if (bulk) {
          rows = std::min(kBulkRows, batch.size() - pos);
          mysql::BulkParams columns = mysql::CouponColumns(batch.subspan(pos, rows), now);
          return c.ExecuteBulk(insert_sql_.back(), columns);
        }
        std::size_t k = 0;
        while (kInsertRows[k] > batch.size() - pos) ++k;
        rows = kInsertRows[k];
        Params p;
        for (std::size_t i = pos; i < pos + rows; ++i) BindCoupon(p, batch[i], now);
        return c.Execute(insert_sql_[k], p);
      };
      auto affected = execute();
      if (affected.ok()) {
        out.inserted += static_cast<std::int64_t>(*affected);
        if (*affected == rows) {
          std::fill(persisted.begin() + pos, persisted.begin() + pos + rows, 1);
        } else if (Status s = Classify(c, batch, pos, rows, *affected, out, persisted); !s.ok()) {
          return s;
        }
      } else if (c.record_error()) {
        // The statement was rolled back, the transaction goes on.
        if (Status s = InsertOneByOne(c, batch, pos, rows, now, out, persisted); !s.ok()) return s;
      } else {
        return affected.status();
      }
      pos += rows;
    }
    if (Status s = ForgetFailures(c, batch, persisted); !s.ok()) return s;
    if (Status s = transaction.Commit(); !s.ok()) return s;
    if (out.ignored > 0) {
      for (auto& f : out.failed) f.index = origin[f.index];
    }
    return out;
  }

  Status ScanCoupons(std::string_view event_id,
                     const std::function<void(const Issuance&)>& visit) override {
    static constexpr ColumnType kTypes[] = {kInt, kStr, kInt, kStr, kInt};
    const std::string sql =
        "SELECT seq, user_id, user_seq, coupon_id, issued_at FROM coupons"
        " WHERE event_id = ? AND seq > ? ORDER BY seq LIMIT " +
        std::to_string(kScanPage);
    std::int64_t after = std::numeric_limits<std::int64_t>::min();
    for (;;) {
      std::vector<Row> rows;
      {
        // The connection goes back before `visit` runs: a visitor may call
        // the store itself, and pages are independent reads.
        auto c = pool_.Acquire();
        if (!c.ok()) return c.status();
        Params p;
        p.Str(event_id).Int(after);
        auto page = (*c)->Query(sql, p, kTypes);
        if (!page.ok()) return page.status();
        rows = std::move(page).value();
      }
      for (const Row& r : rows) {
        Issuance i;
        i.event_id = std::string(event_id);
        i.seq = r[0].i;
        i.user_id = r[1].s;
        i.user_seq = static_cast<std::int32_t>(r[2].i);
        i.coupon_id = r[3].s;
        i.issued_at = r[4].i;
        visit(i);
      }
      if (rows.size() < kScanPage) return Status::Ok();
      after = rows.back()[0].i;
    }
  }

  Result<std::vector<StoredCoupon>> CouponsOfUser(std::string_view event_id,
                                                  std::string_view user_id) override {
    static constexpr ColumnType kTypes[] = {kInt, kInt, kStr};
    auto c = pool_.Acquire();
    if (!c.ok()) return c.status();
    std::vector<StoredCoupon> coupons;
    for (auto [table, state] : {std::pair{"coupons", CouponState::kPersisted},
                                std::pair{"failed_events", CouponState::kFailed}}) {
      Params p;
      p.Str(event_id).Str(user_id);
      auto rows = (*c)->Query(std::string("SELECT seq, user_seq, coupon_id FROM ") + table +
                                  " WHERE event_id = ? AND user_id = ?",
                              p, kTypes);
      if (!rows.ok()) return rows.status();
      for (const Row& r : *rows) {
        // A failed row whose coupon is persisted is on its way out (it is
        // deleted in the insert's transaction; this covers a concurrent read).
        if (state == CouponState::kFailed &&
            std::any_of(coupons.begin(), coupons.end(),
                        [&](const StoredCoupon& s) { return s.seq == r[0].i; })) {
          continue;
        }
        coupons.push_back({.seq = r[0].i,
                           .user_seq = static_cast<std::int32_t>(r[1].i),
                           .coupon_id = r[2].s,
                           .state = state});
      }
    }
    std::sort(coupons.begin(), coupons.end(),
              [](const StoredCoupon& a, const StoredCoupon& b) { return a.seq < b.seq; });
    return coupons;
  }

  Result<EventCounts> CountsOf(std::string_view event_id) override {
    static constexpr ColumnType kOne[] = {kInt};
    static constexpr ColumnType kTwo[] = {kInt, kInt};
    auto c = pool_.Acquire();
    if (!c.ok()) return c.status();
    EventCounts counts;
    Params p1;
    p1.Str(event_id);
    auto persisted = (*c)->Query("SELECT COUNT(*) FROM coupons WHERE event_id = ?", p1, kOne);
    if (!persisted.ok()) return persisted.status();
    counts.persisted = persisted->front()[0].i;
    Params p2;
    p2.Str(event_id);
    auto failed = (*c)->Query(
        "SELECT dead, COUNT(*) FROM failed_events WHERE event_id = ? GROUP BY dead", p2, kTwo);
    if (!failed.ok()) return failed.status();
    for (const Row& r : *failed) (r[0].i != 0 ? counts.dead : counts.failed) = r[1].i;
    return counts;
  }

  Status RecordFailure(const Issuance& issuance, std::string_view error,
                       UnixMillis next_attempt_at) override {
    auto c = pool_.Acquire();
    if (!c.ok()) return c.status();
    const UnixMillis now = NowMillis();
    const std::string text = ErrorText(error);
    Params p;
    p.Str(issuance.event_id).Int(issuance.seq).Str(issuance.user_id).Int(issuance.user_seq);
    p.Str(issuance.coupon_id).Int(issuance.issued_at).Str(text).Int(next_attempt_at);
    p.Int(now).Int(now);
    p.Int(issuance.incarnation).Str(issuance.event_id).Int(issuance.incarnation);
    p.Str(issuance.event_id).Int(issuance.seq).Str(issuance.user_id).Int(issuance.user_seq);
    p.Int(issuance.issued_at);
    // An existing row for the same coupon keeps its schedule, attempts and
    // dead flag: a redelivered record must not reset the retry backoff. One
    // statement with its checks (the event holds this incarnation, the record
    // is not revoked), read with shared locks (INSERT ... SELECT).
    auto r = (*c)->Execute(
        "INSERT INTO failed_events (event_id, seq, user_id, user_seq, coupon_id, issued_at, "
        "error, attempts, next_attempt_at, dead, created_at, updated_at, incarnation) "
        "SELECT ?,?,?,?,?,?,?,0,?,0,?,?,? FROM DUAL "
        "WHERE EXISTS (SELECT 1 FROM events WHERE id = ? AND incarnation = ?) "
        "AND NOT EXISTS (SELECT 1 FROM revocations WHERE event_id = ? AND seq = ? AND "
        "user_id = ? AND user_seq = ? AND issued_at = ?) "
        "ON DUPLICATE KEY UPDATE error = VALUES(error), updated_at = VALUES(updated_at)",
        p);
    if (!r.ok() && (*c)->record_error()) return Status::Invalid(r.status().message());
    return r.ok() ? Status::Ok() : r.status();
  }

  Result<std::vector<FailedEvent>> DueFailures(UnixMillis now, std::size_t limit) override {
    limit = std::min(limit, kMaxDueLimit);
    if (limit == 0) return std::vector<FailedEvent>();
    auto c = pool_.Acquire();
    if (!c.ok()) return c.status();
    Params p;
    p.Int(now).Int(static_cast<std::int64_t>(limit));
    return Failures(**c,
                    "SELECT " + kFailedColumns +
                        " FROM failed_events WHERE dead = 0 AND next_attempt_at <= ?"
                        " ORDER BY next_attempt_at, id LIMIT ?",
                    p);
  }

  Status ResolveFailure(std::int64_t id) override {
    auto c = pool_.Acquire();
    if (!c.ok()) return c.status();
    Params p;
    p.Int(id);
    // Already gone is fine: InsertCoupons deletes the row when it persists
    // the coupon, before the retry job gets to resolve it.
    auto r = (*c)->Execute("DELETE FROM failed_events WHERE id = ?", p);
    return r.ok() ? Status::Ok() : r.status();
  }

  Status RescheduleFailure(std::int64_t id, std::string_view error, UnixMillis next_attempt_at,
                           bool dead) override {
    auto c = pool_.Acquire();
    if (!c.ok()) return c.status();
    const std::string text = ErrorText(error);
    Params p;
    p.Str(text).Int(next_attempt_at).Int(dead ? 1 : 0).Int(NowMillis()).Int(id);
    auto r = (*c)->Execute(
        "UPDATE failed_events SET attempts = attempts + 1, error = ?, next_attempt_at = ?,"
        " dead = ?, updated_at = ? WHERE id = ?",
        p);
    if (!r.ok()) return r.status();
    if (*r == 0) return Status::NotFound("failed event " + std::to_string(id) + " not found");
    return Status::Ok();
  }

  Result<std::optional<FailedEvent>> FailureOfSeq(std::string_view event_id,
                                                  std::int64_t seq) override {
    auto c = pool_.Acquire();
    if (!c.ok()) return c.status();
    Params p;
    p.Str(event_id).Int(seq);
    auto found = Failures(
        **c, "SELECT " + kFailedColumns + " FROM failed_events WHERE event_id = ? AND seq = ?", p);
    if (!found.ok()) return found.status();
    if (found->empty()) return std::optional<FailedEvent>();
    return std::optional<FailedEvent>(std::move(found->front()));
  }

  Result<std::vector<FailedEvent>> FailuresOf(std::string_view event_id) override {
    auto c = pool_.Acquire();
    if (!c.ok()) return c.status();
    Params p;
    p.Str(event_id);
    return Failures(
        **c, "SELECT " + kFailedColumns + " FROM failed_events WHERE event_id = ? ORDER BY seq", p);
  }

  Status Health() override {
    auto c = pool_.Acquire();
    if (!c.ok()) return c.status();
    return (*c)->Ping();
  }

 private:
  static Result<std::vector<FailedEvent>> Failures(MysqlConnection& c, const std::string& sql,
                                                   Params& p) {
    auto rows = c.Query(sql, p, kFailedTypes);
    if (!rows.ok()) return rows.status();
    std::vector<FailedEvent> failed;
    failed.reserve(rows->size());
    for (const Row& r : *rows) failed.push_back(FailedFromRow(r));
    return failed;
  }

  // A chunk [pos, pos+rows) inserted only `inserted` of its rows: look each
  // record up to tell duplicates (the same record is stored) from conflicts.
  Status Classify(MysqlConnection& c, std::span<const Issuance> batch, std::size_t pos,
                  std::size_t rows, std::uint64_t inserted, InsertOutcome& out,
                  std::vector<char>& persisted) {
    // What is stored under each record's (event, seq). Why ranges: a
    // redelivered batch is mostly consecutive seqs of one event, so one
    // indexed range read per event replaces hundreds of point reads; sparse
    // seqs fall back to point reads.
    struct Stored {
      std::string user_id;
      std::int64_t user_seq;
    };
    struct Span {
      std::int64_t lo, hi;
      std::size_t count = 0;
    };
    static constexpr ColumnType kTypes[] = {kInt, kStr, kInt};
    std::unordered_map<std::string_view, Span> spans;
    for (std::size_t i = pos; i < pos + rows; ++i) {
      auto [it, fresh] = spans.try_emplace(batch[i].event_id, Span{batch[i].seq, batch[i].seq});
      it->second.lo = std::min(it->second.lo, batch[i].seq);
      it->second.hi = std::max(it->second.hi, batch[i].seq);
      ++it->second.count;
    }
    std::unordered_map<std::string_view, std::unordered_map<std::int64_t, Stored>> stored;
    auto collect = [&](std::string_view event_id, const std::vector<Row>& found) {
      for (const Row& r : found) stored[event_id][r[0].i] = {r[1].s, r[2].i};
    };
    for (const auto& [event_id, span] : spans) {
      if (static_cast<std::uint64_t>(span.hi) - static_cast<std::uint64_t>(span.lo) <=
          4 * span.count + 64) {
        Params p;
        p.Str(event_id).Int(span.lo).Int(span.hi);
        auto found = c.Query(
            "SELECT seq, user_id, user_seq FROM coupons WHERE event_id = ? AND seq BETWEEN ? AND ?",
            p, kTypes);
        if (!found.ok()) return found.status();
        collect(event_id, *found);
        continue;
      }
      for (std::size_t i = pos; i < pos + rows; ++i) {
        if (batch[i].event_id != event_id) continue;
        Params p;
        p.Str(event_id).Int(batch[i].seq);
        auto found = c.Query(
            "SELECT seq, user_id, user_seq FROM coupons WHERE event_id = ? AND seq = ?", p, kTypes);
        if (!found.ok()) return found.status();
        collect(event_id, *found);
      }
    }
    std::int64_t same = 0;
    for (std::size_t i = pos; i < pos + rows; ++i) {
      const Issuance& rec = batch[i];
      const auto& of_event = stored[rec.event_id];
      auto hit = of_event.find(rec.seq);
      if (hit != of_event.end() && hit->second.user_id == rec.user_id &&
          hit->second.user_seq == rec.user_seq) {
        persisted[i] = 1;
        ++same;
        continue;
      }
      std::string error;
      if (hit != of_event.end()) {
        error = "conflict: seq " + std::to_string(rec.seq) + " of event " + rec.event_id +
                " is already issued to user " + hit->second.user_id + " (user_seq " +
                std::to_string(hit->second.user_seq) + ")";
      } else {
        error = "conflict: user " + rec.user_id + " already holds user_seq " +
                std::to_string(rec.user_seq) + " of event " + rec.event_id + " under another seq";
      }
      out.failed.push_back({.index = i, .error = std::move(error)});
    }
    // Rows that match but were not inserted by this statement were there
    // before (or earlier in this batch): duplicates.
    out.duplicates += same - static_cast<std::int64_t>(inserted);
    return Status::Ok();
  }

  // The chunk was refused as a whole because of some record: replay it one
  // row at a time so only the refused records fail.
  Status InsertOneByOne(MysqlConnection& c, std::span<const Issuance> batch, std::size_t pos,
                        std::size_t rows, UnixMillis now, InsertOutcome& out,
                        std::vector<char>& persisted) {
    const std::string& single = insert_sql_.back();
    for (std::size_t i = pos; i < pos + rows; ++i) {
      Params p;
      BindCoupon(p, batch[i], now);
      auto affected = c.Execute(single, p);
      if (affected.ok()) {
        out.inserted += static_cast<std::int64_t>(*affected);
        if (*affected == 1) {
          persisted[i] = 1;
        } else if (Status s = Classify(c, batch, i, 1, 0, out, persisted); !s.ok()) {
          return s;
        }
      } else if (c.record_error()) {
        out.failed.push_back({.index = i, .error = "refused: " + affected.status().message()});
      } else {
        return affected.status();
      }
    }
    return Status::Ok();
  }

  // Deletes the failed_events rows of coupons that are now persisted (same
  // event, seq and user). One indexed range read per event in the batch; in
  // the common case it finds nothing and deletes nothing.
  Status ForgetFailures(MysqlConnection& c, std::span<const Issuance> batch,
                        const std::vector<char>& persisted) {
    struct Range {
      std::int64_t lo, hi;
      std::unordered_map<std::int64_t, const std::string*> users;  // seq -> user_id
    };
    std::unordered_map<std::string_view, Range> events;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (!persisted[i]) continue;
      const Issuance& rec = batch[i];
      auto [it, fresh] = events.try_emplace(rec.event_id, Range{rec.seq, rec.seq, {}});
      it->second.lo = std::min(it->second.lo, rec.seq);
      it->second.hi = std::max(it->second.hi, rec.seq);
      it->second.users.emplace(rec.seq, &rec.user_id);
    }
    static constexpr ColumnType kTypes[] = {kInt, kInt, kStr};
    for (const auto& [event_id, range] : events) {
      Params p;
      p.Str(event_id).Int(range.lo).Int(range.hi);
      auto rows = c.Query(
          "SELECT id, seq, user_id FROM failed_events WHERE event_id = ? AND seq BETWEEN ? AND ?",
          p, kTypes);
      if (!rows.ok()) return rows.status();
      for (const Row& r : *rows) {
        auto it = range.users.find(r[1].i);
        if (it == range.users.end() || *it->second != r[2].s) continue;
        Params d;
        d.Int(r[0].i);
        auto deleted = c.Execute("DELETE FROM failed_events WHERE id = ?", d);
        if (!deleted.ok()) return deleted.status();
      }
    }
    return Status::Ok();
  }

  MysqlPool pool_;
  const bool bulk_inserts_;
  // One per kInsertRows entry; the last (one row) is also the bulk statement.
  std::vector<std::string> insert_sql_;
};

}  // namespace

Result<std::unique_ptr<Store>> OpenMysqlStore(const MysqlStoreOptions& options) {
  auto endpoint = mysql::ParseMysqlUrl(options.url);
  if (!endpoint.ok()) return endpoint.status();
  if (options.connections < 1) return Status::Invalid("mysql store needs at least 1 connection");
  if (options.timeout.count() <= 0) return Status::Invalid("mysql store timeout must be positive");
  endpoint->timeout = options.timeout;
  // No connection is opened here: the first call (Migrate, on start) opens
  // one and reports an unreachable server as kUnavailable.
  return std::unique_ptr<Store>(std::make_unique<MysqlStore>(
      std::move(endpoint).value(), options.connections, options.bulk_inserts));
}

}  // namespace firstcome
