#include "pipeline/audit.h"

#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <set>

#include "pipeline/append_all.h"
#include "pipeline/log_replay.h"
#include "pipeline/settler.h"

namespace firstcome {

namespace {

constexpr std::size_t kMaxListed = 20;
// Repair's appends wait this long for the log at most.
constexpr std::chrono::seconds kRepairAppendTimeout{30};
// Pending admissions a repair settles at most (every one an event can have).
constexpr std::size_t kMaxSettledByRepair = 10'000'000;

// Collects difference lines of one kind, listing the first few in full.
class Findings {
 public:
  Findings(std::vector<std::string>& out, std::string kind) : out_(out), kind_(std::move(kind)) {}
  ~Findings() {
    if (count_ > kMaxListed) {
      out_.push_back("... and " + std::to_string(count_ - kMaxListed) + " more: " + kind_);
    }
  }
  void Add(const std::string& line) {
    if (++count_ <= kMaxListed) out_.push_back(line);
  }

 private:
  std::vector<std::string>& out_;
  std::string kind_;
  std::size_t count_ = 0;
};

std::string Who(const Issuance& i) {
  return "seq " + std::to_string(i.seq) + " (user " + i.user_id + ")";
}

bool SameRecord(const Issuance& a, const Issuance& b) {
  return a.seq == b.seq && a.user_id == b.user_id && a.user_seq == b.user_seq;
}

// Checks one source's records on their own: seq range, seq issued twice, users
// over their limit, count over the total. Returns the records by seq.
std::map<std::int64_t, Issuance> CheckSource(const Event& event, const std::string& source,
                                             const std::vector<Issuance>& records,
                                             std::vector<std::string>& differences) {
  std::map<std::int64_t, Issuance> by_seq;
  std::map<std::string, std::set<std::int64_t>> by_user;
  Findings range(differences, source + " seqs out of range");
  Findings twice(differences, source + " seqs held by two users");
  for (const Issuance& r : records) {
    if (r.seq < 1 || r.seq > event.total)
      range.Add(source + ": " + Who(r) + " is outside 1.." + std::to_string(event.total));
    auto [it, inserted] = by_seq.try_emplace(r.seq, r);
    if (!inserted && !SameRecord(it->second, r)) {
      twice.Add(source + ": seq " + std::to_string(r.seq) + " given to both " + it->second.user_id +
                " and " + r.user_id);
    }
    by_user[r.user_id].insert(r.seq);
  }
  Findings over(differences, source + " users over their limit");
  for (const auto& [user, seqs] : by_user) {
    if (static_cast<std::int64_t>(seqs.size()) > event.per_user) {
      over.Add(source + ": user " + user + " holds " + std::to_string(seqs.size()) +
               " coupons, limit " + std::to_string(event.per_user));
    }
  }
  if (static_cast<std::int64_t>(by_seq.size()) > event.total) {
    differences.push_back(source + ": " + std::to_string(by_seq.size()) + " coupons, total is " +
                          std::to_string(event.total));
  }
  return by_seq;
}

}  // namespace

Result<AuditReport> AuditEvent(const Event& event, Gate* gate, Log& log, Store& store,
                               const AuditOptions& options) {
  AuditReport report;
  if (options.repair && gate != nullptr && options.gate_is_shared) {
    // First what the settlers would do after settle_after: every pending
    // admission, whatever its age, is logged (the user keeps it), with the
    // record its issuer would have written. A live process's in-flight
    // admission is logged twice at worst (a duplicate).
    auto settled = SettleEvent(event, *gate, log, std::chrono::milliseconds(0), kMaxSettledByRepair,
                               kRepairAppendTimeout);
    if (!settled.ok()) return settled.status();
    if (settled->claimed != settled->logged) {
      return Status::Unavailable("audit: the log did not take every pending admission");
    }
    if (settled->claimed > 0) {
      report.repairs.push_back(std::to_string(settled->logged) +
                               " pending admissions appended to the log (settled)");
    }
  }
  // The log as the consumer and the store count it: this incarnation's
  // records, revoked issuances taken out (log_replay.h).
  LogReplay replay(event);
  if (Status s = log.Scan(event.id, [&](const Issuance& i) { replay.Apply(i); }); !s.ok()) {
    return s;
  }
  replay.Finish();
  const std::vector<Issuance> log_records = replay.LiveRecords();
  std::vector<Issuance> store_rows;
  if (Status s = store.ScanCoupons(event.id, [&](const Issuance& i) { store_rows.push_back(i); });
      !s.ok()) {
    return s;
  }
  auto failures = store.FailuresOf(event.id);
  if (!failures.ok()) return failures.status();
  std::map<std::int64_t, const FailedEvent*> failed_by_seq;
  for (const FailedEvent& f : *failures) {
    failed_by_seq[f.issuance.seq] = &f;
    (f.dead ? report.dead : report.failed) += 1;
  }
  report.log_records = replay.records();
  report.log_revocations = replay.revocations();
  report.store_rows = static_cast<std::int64_t>(store_rows.size());

  auto& diff = report.differences;
  {
    Findings twice(diff, "log seqs given to two users");
    for (const auto& [holder, other] : replay.conflicts()) {
      twice.Add("log: seq " + std::to_string(other.seq) + " given to both " + holder.user_id +
                " and " + other.user_id);
    }
  }
  auto logged = CheckSource(event, "log", log_records, diff);
  auto stored = CheckSource(event, "store", store_rows, diff);

  // Everything that was ever handed out, as far as log and store know.
  std::map<std::int64_t, Issuance> known = logged;
  for (const auto& [seq, row] : stored) known.try_emplace(seq, row);

  std::vector<Issuance> to_persist;
  {
    Findings missing(diff, "logged but never persisted");
    Findings failing(diff, "failed events not yet persisted");
    for (const auto& [seq, rec] : logged) {
      auto s = stored.find(seq);
      if (s != stored.end()) {
        if (!SameRecord(s->second, rec)) {
          diff.push_back("seq " + std::to_string(seq) + ": the log says user " + rec.user_id +
                         ", the store says user " + s->second.user_id);
        }
        continue;
      }
      if (auto f = failed_by_seq.find(seq); f != failed_by_seq.end()) {
        failing.Add(Who(rec) + ": " + (f->second->dead ? "dead" : "failed") + " after " +
                    std::to_string(f->second->attempts) + " attempts: " + f->second->error);
      } else {
        missing.Add(Who(rec) + ": in the log, never persisted");
      }
      to_persist.push_back(rec);
    }
  }
  {
    Findings unlogged(diff, "persisted but not in the log");
    for (const auto& [seq, row] : stored) {
      if (!logged.count(seq)) unlogged.Add(Who(row) + ": persisted but not in the log");
    }
  }

  bool rebuild_gate = false;
  bool fix_total = false;
  std::vector<Issuance> to_log;
  std::vector<std::pair<std::string, std::int64_t>> to_release;  // (user, seq)
  if (gate != nullptr && options.gate_is_shared) {
    auto snap = gate->Snapshot(event);
    if (!snap.ok()) return snap.status();
    report.gate_admitted = snap->admitted;
    std::map<std::int64_t, std::string> held;
    std::int64_t held_count = 0;
    {
      Findings twice(diff, "gate seqs held by two users");
      for (const auto& h : snap->holders) {
        for (std::int64_t seq : h.seqs) {
          ++held_count;
          auto [it, inserted] = held.try_emplace(seq, h.user_id);
          if (!inserted) {
            twice.Add("gate: seq " + std::to_string(seq) + " held by both " + it->second + " and " +
                      h.user_id);
          }
        }
      }
    }
    if (held_count != snap->admitted) {
      diff.push_back("gate: count says " + std::to_string(snap->admitted) +
                     " admitted, holders hold " + std::to_string(held_count));
      rebuild_gate = true;
    }
    // The gate holds the total (0: not set yet, it takes the store's on the
    // first admission). A total change whose store write failed and whose
    // gate could not be set back leaves them apart.
    if (snap->total != 0 && snap->total != event.total) {
      diff.push_back("gate: total " + std::to_string(snap->total) + ", the store says " +
                     std::to_string(event.total));
      fix_total = true;
    }
    Findings only_gate(diff, "admitted by the gate but not in the log");
    Findings revoked(diff, "revoked in the log but still held by the gate");
    Findings lost(diff, "unknown to the gate");
    for (const auto& [seq, user] : held) {
      auto k = known.find(seq);
      if (k == known.end() && replay.Revoked(seq, user)) {
        // A revocation whose last step (freeing the seq in the gate) failed.
        revoked.Add("seq " + std::to_string(seq) + " (user " + user +
                    "): revoked in the log, still held by the gate");
        to_release.emplace_back(user, seq);
      } else if (k == known.end()) {
        only_gate.Add("seq " + std::to_string(seq) + " (user " + user +
                      "): admitted by the gate, not in the log");
        Issuance i{.event_id = event.id,
                   .user_id = user,
                   .seq = seq,
                   .coupon_id = CouponId(event.id, seq),
                   .issued_at = NowMillis(),
                   .incarnation = event.incarnation};
        to_log.push_back(std::move(i));
      } else if (k->second.user_id != user) {
        diff.push_back("seq " + std::to_string(seq) + ": the gate says user " + user +
                       ", the log/store says user " + k->second.user_id);
        rebuild_gate = true;
      }
    }
    for (const auto& [seq, rec] : known) {
      if (!held.count(seq)) {
        lost.Add(Who(rec) + ": in the log/store, unknown to the gate (gate lost state)");
        rebuild_gate = true;
      }
    }
  } else if (gate == nullptr || !options.gate_is_shared) {
    report.notes.push_back(
        "gate: in-process (memory); it is rebuilt from the log at every start, so the log is its "
        "state");
  }

  if (!options.repair) return report;

  for (const auto& [user, seq] : to_release) {
    std::mutex mu;
    std::condition_variable cv;
    std::optional<Status> released;
    gate->Release(event, user, seq, [&](Status s) {
      std::lock_guard lock(mu);
      released = std::move(s);
      cv.notify_one();
    });
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return released.has_value(); });
    if (!released->ok()) return *released;
    report.repairs.push_back("seq " + std::to_string(seq) + " (user " + user +
                             "): freed in the gate (it was revoked)");
  }

  // Gate-only admissions that were not pending (settled above): an admission
  // made before pending admissions existed. user_seq is derived from the
  // user's other coupons.
  for (Issuance& i : to_log) {
    std::int32_t n = 0;
    for (const auto& [seq, rec] : known) n += rec.user_id == i.user_id ? 1 : 0;
    i.user_seq = n + 1;
  }
  if (!AppendAll(log, to_log, kRepairAppendTimeout).empty()) {
    return Status::Unavailable("audit: the log did not take the gate-only admissions");
  }
  for (const Issuance& i : to_log) {
    known.emplace(i.seq, i);
    to_persist.push_back(i);
    report.repairs.push_back(Who(i) + ": appended to the log");
  }
  if (!to_persist.empty()) {
    auto outcome = store.InsertCoupons(to_persist);
    if (!outcome.ok()) return outcome.status();
    for (const auto& f : outcome->failed) {
      Status s = store.RecordFailure(to_persist[f.index], f.error, NowMillis());
      if (!s.ok()) return s;
    }
    report.repairs.push_back(std::to_string(outcome->inserted) + " records persisted, " +
                             std::to_string(outcome->failed.size()) +
                             " refused (queued for the retry job)");
  }
  if (fix_total && !rebuild_gate) {  // a rebuild sets the store's total too
    auto set = gate->SetTotal(event, event.total);
    if (!set.ok()) return set.status();
    report.repairs.push_back(set->verdict == TotalChange::Verdict::kChanged
                                 ? "gate total set to the store's, " + std::to_string(event.total)
                                 : "gate total left alone: the store's total " +
                                       std::to_string(event.total) +
                                       " is below what the gate holds; change the total again");
  }
  if (rebuild_gate && gate != nullptr) {
    std::vector<Issuance> all;
    all.reserve(known.size());
    for (auto& [seq, rec] : known) all.push_back(rec);
    if (Status s = gate->Rebuild(event, all); !s.ok()) return s;
    report.repairs.push_back("gate rebuilt from log and store: " + std::to_string(all.size()) +
                             " coupons, next seq after " +
                             std::to_string(all.empty() ? 0 : all.back().seq));
  }
  return report;
}

std::string AuditReport::ToText(const Event& event) const {
  std::string out = "audit of event " + event.id + " (total " + std::to_string(event.total) +
                    ", per_user " + std::to_string(event.per_user) + ")\n";
  if (gate_admitted >= 0) out += "  gate:  " + std::to_string(gate_admitted) + " admitted\n";
  out += "  log:   " + std::to_string(log_records) + " records";
  if (log_revocations > 0) out += " (" + std::to_string(log_revocations) + " revocations)";
  out += "\n";
  out += "  store: " + std::to_string(store_rows) + " persisted, " + std::to_string(failed) +
         " failed, " + std::to_string(dead) + " dead\n";
  for (const auto& n : notes) out += "  note: " + n + "\n";
  if (differences.empty()) {
    out += "result: gate, log and store agree\n";
  } else {
    out += "differences:\n";
    for (const auto& d : differences) out += "  - " + d + "\n";
    out += "result: " + std::to_string(differences.size()) + " difference(s)\n";
  }
  if (!repairs.empty()) {
    out += "repairs:\n";
    for (const auto& r : repairs) out += "  + " + r + "\n";
  }
  return out;
}

}  // namespace firstcome
