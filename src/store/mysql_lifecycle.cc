#include "store/mysql_lifecycle.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <tuple>

namespace firstcome::mysql {

namespace {

constexpr ColumnType kInt = ColumnType::kInt;
constexpr ColumnType kStr = ColumnType::kStr;

// The incarnation the events table holds for `event_id` (-1: none), read with
// a shared lock that a deletion must wait for.
Result<std::int64_t> LockedIncarnation(MysqlConnection& c, const std::string& event_id) {
  static constexpr ColumnType kTypes[] = {kInt};
  Params p;
  p.Str(event_id);
  auto rows = c.Query("SELECT incarnation FROM events WHERE id = ? LOCK IN SHARE MODE", p, kTypes);
  if (!rows.ok()) return rows.status();
  return rows->empty() ? std::int64_t{-1} : rows->front()[0].i;
}

}  // namespace

Status BumpGeneration(MysqlConnection& c) {
  Params p;
  auto r = c.Execute("UPDATE events_generation SET generation = generation + 1 WHERE one = 1", p);
  return r.ok() ? Status::Ok() : r.status();
}

Result<std::int64_t> ReadGeneration(MysqlConnection& c) {
  static constexpr ColumnType kTypes[] = {kInt};
  Params p;
  auto rows = c.Query("SELECT generation FROM events_generation WHERE one = 1", p, kTypes);
  if (!rows.ok()) return rows.status();
  return rows->empty() ? std::int64_t{0} : rows->front()[0].i;
}

Result<bool> UpdateEventRow(MysqlConnection& c, const Event& event, std::int64_t expected_version) {
  if (Status s = c.Exec("START TRANSACTION"); !s.ok()) return s;
  TransactionGuard transaction(c);
  Params p;
  p.Str(event.name).Int(event.total).OptionalInt(event.starts_at).OptionalInt(event.ends_at);
  p.Int(event.closed ? 1 : 0).Int(expected_version + 1);
  p.Str(event.id).Int(event.incarnation).Int(expected_version);
  // The version always moves, so a matched row always counts as changed.
  auto changed = c.Execute(
      "UPDATE events SET name = ?, total = ?, starts_at = ?, ends_at = ?, closed = ?, version = ?"
      " WHERE id = ? AND incarnation = ? AND version = ?",
      p);
  if (!changed.ok()) {
    if (c.record_error()) return Status::Invalid(changed.status().message());
    return changed.status();
  }
  if (*changed == 0) return false;
  if (Status s = BumpGeneration(c); !s.ok()) return s;
  if (Status s = transaction.Commit(); !s.ok()) return s;
  return true;
}

Result<std::int64_t> DeleteEventRows(MysqlConnection& c, const Event& event) {
  static constexpr ColumnType kOne[] = {kInt};
  if (Status s = c.Exec("START TRANSACTION"); !s.ok()) return s;
  TransactionGuard transaction(c);
  Params lock;
  lock.Str(event.id).Int(event.incarnation);
  auto found =
      c.Query("SELECT 1 FROM events WHERE id = ? AND incarnation = ? FOR UPDATE", lock, kOne);
  if (!found.ok()) return found.status();
  if (found->empty()) return Status::NotFound("no event '" + event.id + "' of that creation");
  Params count;
  count.Str(event.id);
  auto coupons = c.Query("SELECT COUNT(*) FROM coupons WHERE event_id = ?", count, kOne);
  if (!coupons.ok()) return coupons.status();
  static const char* const kDeletes[] = {
      "DELETE FROM coupons WHERE event_id = ?",
      "DELETE FROM failed_events WHERE event_id = ?",
      "DELETE FROM revocations WHERE event_id = ?",
      "DELETE FROM events WHERE id = ?",
  };
  for (const char* sql : kDeletes) {
    Params p;
    p.Str(event.id);
    auto r = c.Execute(sql, p);
    if (!r.ok()) return r.status();
  }
  if (Status s = BumpGeneration(c); !s.ok()) return s;
  if (Status s = transaction.Commit(); !s.ok()) return s;
  return coupons->front()[0].i;
}

Result<std::vector<char>> IgnoredRecords(MysqlConnection& c, std::span<const Issuance> batch) {
  std::vector<char> ignored(batch.size(), 0);
  struct Range {
    std::int64_t incarnation = -1;
    std::int64_t lo = 0, hi = 0;
  };
  std::map<std::string, Range> events;
  for (const Issuance& i : batch) {
    auto [it, fresh] = events.try_emplace(i.event_id, Range{-1, i.seq, i.seq});
    it->second.lo = std::min(it->second.lo, i.seq);
    it->second.hi = std::max(it->second.hi, i.seq);
  }
  static constexpr ColumnType kTypes[] = {kInt, kStr, kInt, kInt};
  using RecordKey = std::tuple<std::int64_t, std::string, std::int64_t, std::int64_t>;
  std::map<std::string, std::set<RecordKey>> revoked;
  for (auto& [event_id, range] : events) {
    auto incarnation = LockedIncarnation(c, event_id);
    if (!incarnation.ok()) return incarnation.status();
    range.incarnation = *incarnation;
    if (range.incarnation < 0) continue;
    // A locking read: a revocation committing meanwhile either came first
    // (and is seen here) or waits for this transaction (and then deletes).
    Params p;
    p.Str(event_id).Int(range.lo).Int(range.hi);
    auto rows = c.Query(
        "SELECT seq, user_id, user_seq, issued_at FROM revocations WHERE event_id = ? AND seq "
        "BETWEEN ? AND ? LOCK IN SHARE MODE",
        p, kTypes);
    if (!rows.ok()) return rows.status();
    for (const Row& r : *rows) revoked[event_id].emplace(r[0].i, r[1].s, r[2].i, r[3].i);
  }
  for (std::size_t k = 0; k < batch.size(); ++k) {
    const Issuance& i = batch[k];
    if (events[i.event_id].incarnation != i.incarnation) {
      ignored[k] = 1;
      continue;
    }
    auto of_event = revoked.find(i.event_id);
    if (of_event != revoked.end() &&
        of_event->second.count(RecordKey{i.seq, i.user_id, i.user_seq, i.issued_at}) != 0) {
      ignored[k] = 1;
    }
  }
  return ignored;
}

Status ApplyRevocationRows(MysqlConnection& c, std::span<const Issuance> revocations) {
  if (revocations.empty()) return Status::Ok();
  if (Status s = c.Exec("START TRANSACTION"); !s.ok()) return s;
  TransactionGuard transaction(c);
  std::map<std::string, std::int64_t> incarnations;
  const UnixMillis now = NowMillis();
  for (const Issuance& r : revocations) {
    auto it = incarnations.find(r.event_id);
    if (it == incarnations.end()) {
      auto incarnation = LockedIncarnation(c, r.event_id);
      if (!incarnation.ok()) return incarnation.status();
      it = incarnations.emplace(r.event_id, *incarnation).first;
    }
    if (it->second != r.incarnation) continue;  // deleted (or another creation): nothing to do
    Params t;
    t.Str(r.event_id).Int(r.seq).Str(r.user_id).Int(r.user_seq).Int(r.issued_at).Int(now);
    auto remembered = c.Execute(
        "INSERT INTO revocations (event_id, seq, user_id, user_seq, issued_at, revoked_at)"
        " VALUES (?,?,?,?,?,?) ON DUPLICATE KEY UPDATE revoked_at = revoked_at",
        t);
    if (!remembered.ok()) return remembered.status();
    for (const char* table : {"coupons", "failed_events"}) {
      Params d;
      d.Str(r.event_id).Int(r.seq).Str(r.user_id).Int(r.user_seq);
      auto deleted =
          c.Execute(std::string("DELETE FROM ") + table +
                        " WHERE event_id = ? AND seq = ? AND user_id = ? AND user_seq = ?",
                    d);
      if (!deleted.ok()) return deleted.status();
    }
  }
  return transaction.Commit();
}

Result<std::optional<SeqHolder>> HolderOfSeqRow(MysqlConnection& c, const Event& event,
                                                std::int64_t seq) {
  static constexpr ColumnType kTypes[] = {kStr, kInt, kStr, kInt};
  for (bool failed : {false, true}) {
    Params p;
    p.Str(event.id).Int(seq);
    if (failed) p.Int(event.incarnation);
    auto rows = c.Query(failed ? "SELECT user_id, user_seq, coupon_id, issued_at FROM failed_events"
                                 " WHERE event_id = ? AND seq = ? AND incarnation = ?"
                               : "SELECT user_id, user_seq, coupon_id, issued_at FROM coupons"
                                 " WHERE event_id = ? AND seq = ?",
                        p, kTypes);
    if (!rows.ok()) return rows.status();
    if (rows->empty()) continue;
    const Row& r = rows->front();
    SeqHolder h;
    h.issuance = Issuance{.event_id = event.id,
                          .user_id = r[0].s,
                          .seq = seq,
                          .user_seq = static_cast<std::int32_t>(r[1].i),
                          .coupon_id = r[2].s,
                          .issued_at = r[3].i,
                          .incarnation = event.incarnation};
    h.failed = failed;
    return std::optional<SeqHolder>(std::move(h));
  }
  return std::optional<SeqHolder>();
}

}  // namespace firstcome::mysql
