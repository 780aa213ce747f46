// The operator calls of the Issuer (EventLifecycle) on the embedded pipeline:
// memory gate, SQLite log and store in a temporary folder, a consumer drained
// by hand, and audit comparing the live gate with log and store. Covers the
// order of each call's steps where a failure in the middle matters (a total
// set back in the gate when the store refuses the change; a revocation whose
// last step did not happen, mended by audit --repair), revocations and
// deletions as rebuild and audit count them.
#include "pipeline/event_lifecycle.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <future>
#include <map>
#include <tuple>

#include "gate/memory_gate.h"
#include "log/sqlite_log.h"
#include "pipeline/audit.h"
#include "pipeline/consumer.h"
#include "pipeline/issuer.h"
#include "pipeline/log_replay.h"
#include "store/sqlite_store.h"
#include "support/fixtures.h"
#include "unit/embedded_fixture.h"

namespace firstcome {

// Snapshots compare in expectations (holders and seqs in the order the gate
// gives them: both sides come from a MemoryGate).
static bool operator==(const GateSnapshot& a, const GateSnapshot& b) {
  auto key = [](const GateSnapshot& s) {
    std::map<std::string, std::vector<std::int64_t>> holders;
    for (const auto& h : s.holders) {
      auto seqs = h.seqs;
      std::sort(seqs.begin(), seqs.end());
      holders[h.user_id] = seqs;
    }
    auto free = s.free_seqs;
    std::sort(free.begin(), free.end());
    return std::make_tuple(s.admitted, s.next_seq, s.total, holders, free);
  };
  return key(a) == key(b);
}

namespace {

using std::chrono::milliseconds;
using test::AdmitAndWait;
using test::ReleaseAndWait;
using test::TempDir;

class EventLifecycleTest : public test::EmbeddedTest<> {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(OpenParts({.busy_timeout = milliseconds(300)}, ResenderOptions{},
                                      IssuerLimits{},
                                      LifecycleOptions{.retry = {.max_attempts = 3}}));
    consumer_ = std::make_unique<Consumer>(*log_, *store_, ConsumerOptions{});
  }

  Event Create(const std::string& id, std::int64_t total) {
    auto view = issuer_->CreateEvent(Event{.id = id, .total = total});
    EXPECT_TRUE(view.ok()) << view.status().ToString();
    return view.ok() ? view->event : Event{};
  }
  Result<IssueAnswer> Issue(const std::string& event, const std::string& user) {
    std::promise<Result<IssueAnswer>> p;
    auto f = p.get_future();
    issuer_->Issue(event, user, [&](Result<IssueAnswer> r) { p.set_value(std::move(r)); });
    return f.get();
  }
  std::int64_t IssuedSeq(const std::string& event, const std::string& user) {
    auto r = Issue(event, user);
    EXPECT_TRUE(r.ok() && r->status == IssueStatus::kIssued) << user;
    return r.ok() ? r->seq : -1;
  }
  void Drain() { ASSERT_TRUE(consumer_->Drain(std::chrono::seconds(30)).ok()); }
  Event Stored(const std::string& id) {
    auto e = catalog_->Load(id);
    EXPECT_TRUE(e.ok() && e->has_value());
    return e.ok() && e->has_value() ? **e : Event{};
  }
  AuditReport Audit(const std::string& id, bool repair = false) {
    auto report = AuditEvent(Stored(id), gate_.get(), *log_, *store_,
                             AuditOptions{.repair = repair, .gate_is_shared = true});
    EXPECT_TRUE(report.ok()) << report.status().ToString();
    return report.ok() ? *report : AuditReport{};
  }
  // A new memory gate rebuilt from the log, as `serve` does on start.
  GateSnapshot RebuiltFromLog(const Event& event) {
    LogReplay replay(event);
    EXPECT_TRUE(log_->ScanAll([&](const Issuance& i) { replay.Apply(i); }).ok());
    replay.Finish();
    EXPECT_TRUE(replay.conflicts().empty());
    auto fresh = NewMemoryGate();
    EXPECT_TRUE(fresh->Rebuild(event, replay.LiveRecords()).ok());
    return *fresh->Snapshot(event);
  }
  static std::vector<std::int64_t> SeqsHeld(const GateSnapshot& snap) {
    std::vector<std::int64_t> seqs;
    for (const auto& h : snap.holders) seqs.insert(seqs.end(), h.seqs.begin(), h.seqs.end());
    std::sort(seqs.begin(), seqs.end());
    return seqs;
  }

  std::unique_ptr<Consumer> consumer_;
};

TEST_F(EventLifecycleTest, CloseAndOpenDecideIssuingWhateverTheWindow) {
  Create("ev", 5);
  ASSERT_EQ(IssuedSeq("ev", "a"), 1);
  auto closed = issuer_->CloseEvent("ev");
  ASSERT_TRUE(closed.ok()) << closed.status().ToString();
  EXPECT_EQ(closed->state, "closed");
  EXPECT_TRUE(Stored("ev").closed);
  EXPECT_EQ(Stored("ev").version, 2);
  auto refused = Issue("ev", "b");
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->status, IssueStatus::kNotOpen);
  EXPECT_EQ(refused->detail, "closed by an operator");
  auto opened = issuer_->OpenEvent("ev");
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(opened->state, "open");
  EXPECT_EQ(IssuedSeq("ev", "b"), 2);
  EXPECT_EQ(issuer_->CloseEvent("nope").status().code(), Status::Code::kNotFound);
}

TEST_F(EventLifecycleTest, TotalChangesGoThroughTheGateAndComeBackWhenTheStoreRefuses) {
  Create("ev", 2);
  ASSERT_EQ(IssuedSeq("ev", "a"), 1);
  ASSERT_EQ(IssuedSeq("ev", "b"), 2);
  auto below = issuer_->UpdateEvent("ev", EventPatch{.total = 1});
  ASSERT_TRUE(below.ok());
  EXPECT_EQ(below->status, OperatorStatus::kTotalBelowIssued);
  EXPECT_NE(below->detail.find("2 coupons issued"), std::string::npos) << below->detail;
  EXPECT_EQ(gate_->Snapshot(Stored("ev"))->total, 2);

  // The store refuses the write (locked): the gate holds the stored total again.
  sqlite3* locker = nullptr;
  ASSERT_EQ(sqlite3_open((dir_.path() + "/store.db").c_str(), &locker), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(locker, "BEGIN EXCLUSIVE;", nullptr, nullptr, nullptr), SQLITE_OK);
  auto locked = issuer_->UpdateEvent("ev", EventPatch{.total = 10});
  EXPECT_EQ(locked.status().code(), Status::Code::kUnavailable);
  EXPECT_EQ(gate_->Snapshot(Stored("ev"))->total, 2);
  auto sold_out = Issue("ev", "c");
  EXPECT_EQ(sold_out->status, IssueStatus::kSoldOut) << "no stock leaked from the failed change";
  ASSERT_EQ(sqlite3_exec(locker, "ROLLBACK;", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(locker);

  auto raised = issuer_->UpdateEvent("ev", EventPatch{.total = 3, .name = "Three"});
  ASSERT_TRUE(raised.ok()) << raised.status().ToString();
  EXPECT_EQ(raised->status, OperatorStatus::kDone);
  EXPECT_EQ(raised->view.event.total, 3);
  EXPECT_EQ(raised->view.remaining, 1);
  EXPECT_EQ(Stored("ev").name, "Three");
  EXPECT_EQ(gate_->Snapshot(Stored("ev"))->total, 3);
  EXPECT_EQ(IssuedSeq("ev", "c"), 3);
  auto bad = issuer_->UpdateEvent(
      "ev", EventPatch{.starts_at = std::optional<UnixMillis>(2000), .ends_at = 1000});
  EXPECT_EQ(bad.status().code(), Status::Code::kInvalid);
}

TEST_F(EventLifecycleTest, RevocationFreesTheSeqAndRebuildAndAuditAgree) {
  const Event ev = Create("ev", 3);
  for (const char* user : {"a", "b", "c"}) IssuedSeq("ev", user);
  Drain();
  auto revoked = issuer_->RevokeCoupon("ev", 2);
  ASSERT_TRUE(revoked.ok()) << revoked.status().ToString();
  ASSERT_EQ(revoked->status, OperatorStatus::kDone) << revoked->detail;
  EXPECT_EQ(revoked->user_id, "b");
  EXPECT_EQ(revoked->coupon_id, "ev-2");
  EXPECT_TRUE(issuer_->CouponsOfUser("ev", "b")->empty());
  EXPECT_TRUE(Audit("ev").clean()) << Audit("ev").ToText(ev);
  EXPECT_EQ(IssuedSeq("ev", "d"), 2) << "the freed seq goes to the next user";
  EXPECT_EQ(Issue("ev", "b")->status, IssueStatus::kSoldOut);
  Drain();
  AuditReport report = Audit("ev");
  EXPECT_TRUE(report.clean()) << report.ToText(ev);
  EXPECT_EQ(report.log_revocations, 1);
  EXPECT_EQ(RebuiltFromLog(Stored("ev")), *gate_->Snapshot(ev)) << "a restart rebuilds the same";

  auto nobody = issuer_->RevokeCoupon("ev", 3 + 1);
  ASSERT_TRUE(nobody.ok());
  EXPECT_EQ(nobody->status, OperatorStatus::kCouponNotFound);
  // Not in the store yet: refused until the consumer stored it.
  ASSERT_EQ(issuer_->UpdateEvent("ev", EventPatch{.total = 4})->status, OperatorStatus::kDone);
  const std::int64_t fresh = IssuedSeq("ev", "e");
  auto pending = issuer_->RevokeCoupon("ev", fresh);
  ASSERT_TRUE(pending.ok());
  EXPECT_EQ(pending->status, OperatorStatus::kCouponPending);
  Drain();
  EXPECT_EQ(issuer_->RevokeCoupon("ev", fresh)->status, OperatorStatus::kDone);
  Drain();
  EXPECT_TRUE(Audit("ev").clean());
}

// What a revocation leaves when its last step (freeing the seq in the gate)
// did not happen: audit sees it, --repair frees the seq.
TEST_F(EventLifecycleTest, ARevocationTheGateMissedIsFoundAndMendedByAudit) {
  const Event ev = Create("ev", 3);
  IssuedSeq("ev", "a");
  const std::int64_t seq = IssuedSeq("ev", "b");
  Drain();
  auto holder = store_->HolderOfSeq(ev, seq);
  ASSERT_TRUE(holder.ok() && holder->has_value());
  Issuance revocation = (*holder)->issuance;
  revocation.kind = RecordKind::kRevoke;
  std::promise<AppendResult> appended;
  log_->Append(revocation, [&](AppendResult r) { appended.set_value(r); });
  ASSERT_TRUE(appended.get_future().get().status.ok());
  ASSERT_TRUE(store_->ApplyRevocations(std::vector{revocation}).ok());
  AuditReport before = Audit("ev");
  ASSERT_FALSE(before.clean());
  EXPECT_NE(before.ToText(ev).find("revoked in the log, still held by the gate"), std::string::npos)
      << before.ToText(ev);
  AuditReport repaired = Audit("ev", /*repair=*/true);
  EXPECT_NE(repaired.ToText(ev).find("freed in the gate"), std::string::npos)
      << repaired.ToText(ev);
  EXPECT_TRUE(Audit("ev").clean()) << Audit("ev").ToText(ev);
  EXPECT_EQ(IssuedSeq("ev", "c"), seq);
}

// A total change that failed half-way and could not be set back leaves the
// gate's total apart from the store's: audit sees it, --repair settles it.
TEST_F(EventLifecycleTest, AGateTotalApartFromTheStoresIsFoundAndMendedByAudit) {
  const Event ev = Create("ev", 5);
  IssuedSeq("ev", "a");
  Drain();
  ASSERT_EQ(gate_->SetTotal(ev, 9)->verdict, TotalChange::Verdict::kChanged);
  AuditReport before = Audit("ev");
  EXPECT_NE(before.ToText(ev).find("gate: total 9, the store says 5"), std::string::npos)
      << before.ToText(ev);
  Audit("ev", /*repair=*/true);
  EXPECT_EQ(gate_->Snapshot(ev)->total, 5);
  EXPECT_TRUE(Audit("ev").clean());
}

TEST_F(EventLifecycleTest, DeleteForgetsTheIncarnationAndTheIdStartsAgainClean) {
  const Event old = Create("ev", 5);
  IssuedSeq("ev", "a");
  IssuedSeq("ev", "b");
  Drain();
  auto deleted = issuer_->DeleteEvent("ev");
  ASSERT_TRUE(deleted.ok()) << deleted.status().ToString();
  EXPECT_EQ(deleted->event_id, "ev");
  EXPECT_EQ(deleted->coupons, 2);
  EXPECT_EQ(issuer_->GetEvent("ev").status().code(), Status::Code::kNotFound);
  EXPECT_EQ(Issue("ev", "c").status().code(), Status::Code::kNotFound);
  // A process that still had the old event would hear "gone" from the gate.
  EXPECT_EQ(AdmitAndWait(*gate_, old, "stale")->verdict, AdmitVerdict::kGone);
  EXPECT_EQ(issuer_->DeleteEvent("ev").status().code(), Status::Code::kNotFound);

  const Event again = Create("ev", 5);
  EXPECT_NE(again.incarnation, old.incarnation);
  EXPECT_EQ(IssuedSeq("ev", "a"), 1) << "the new event starts at seq 1";
  Drain();
  auto event = issuer_->GetEvent("ev");
  EXPECT_EQ(event->persisted, 1);
  AuditReport report = Audit("ev");
  EXPECT_TRUE(report.clean()) << report.ToText(again);
  EXPECT_EQ(report.log_records, 1) << "the old incarnation's records do not count";
  EXPECT_EQ(SeqsHeld(RebuiltFromLog(again)), std::vector<std::int64_t>{1});
}

TEST_F(EventLifecycleTest, FailedEventsAreListedAndRetriedNow) {
  Create("ev", 10);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_.path() + "/store.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "CREATE TRIGGER refuse BEFORE INSERT ON coupons WHEN NEW.user_id LIKE "
                         "'bad-%' BEGIN SELECT RAISE(ABORT, 'no bad users'); END;",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  IssuedSeq("ev", "good");
  const std::int64_t bad = IssuedSeq("ev", "bad-1");
  Drain();
  auto failed = issuer_->FailedEvents("ev");
  ASSERT_TRUE(failed.ok());
  ASSERT_EQ(failed->size(), 1u);
  EXPECT_EQ((*failed)[0].seq, bad);
  EXPECT_EQ((*failed)[0].user_id, "bad-1");
  EXPECT_NE((*failed)[0].error.find("no bad users"), std::string::npos);
  EXPECT_FALSE((*failed)[0].dead);
  for (int attempt = 1; attempt <= 3; ++attempt) {
    auto retried = issuer_->RetryFailedEvent("ev", bad);
    ASSERT_TRUE(retried.ok());
    EXPECT_FALSE(retried->persisted);
    EXPECT_NE(retried->error.find("no bad users"), std::string::npos);
  }
  EXPECT_TRUE((*issuer_->FailedEvents("ev"))[0].dead) << "after max_attempts";
  ASSERT_EQ(sqlite3_exec(db, "DROP TRIGGER refuse;", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto done = issuer_->RetryFailedEvent("ev", bad);
  ASSERT_TRUE(done.ok());
  EXPECT_TRUE(done->persisted) << "dead ones too";
  EXPECT_TRUE(issuer_->FailedEvents("ev")->empty());
  EXPECT_EQ(issuer_->RetryFailedEvent("ev", bad)->status, OperatorStatus::kFailedEventNotFound);
  EXPECT_EQ(issuer_->FailedEvents("nope").status().code(), Status::Code::kNotFound);
  EXPECT_TRUE(Audit("ev").clean());
}

}  // namespace
}  // namespace firstcome
