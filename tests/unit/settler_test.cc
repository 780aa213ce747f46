// Settling pending admissions (src/pipeline/settler.*, the Gate's pending
// admissions) on the embedded parts: MemoryGate, a SQLite log in a temporary
// folder, SQLite store. Covers the rules docs/design.md ("API crash
// self-healing") argues: an admission stays pending until the log took its
// record; a settler logs the old ones with the very record the issuer would
// have written and never releases; an issuer slower than settle_after can no
// longer withdraw a claimed admission (so no seq is handed out twice); two
// settlers on one record only make a duplicate; the work per pass is bounded.
#include "pipeline/settler.h"

#include <gtest/gtest.h>

#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "gate/memory_gate.h"
#include "log/sqlite_log.h"
#include "pipeline/event_catalog.h"
#include "pipeline/issuer.h"
#include "pipeline/log_replay.h"
#include "store/sqlite_store.h"
#include "support/fixtures.h"
#include "unit/embedded_fixture.h"

namespace firstcome {
namespace {

using std::chrono::milliseconds;
using test::AdmitAndWait;
using test::MakeEvent;
using test::TempDir;

// A log that holds back the first append of one user (its answer comes when
// the test says, as from a slow API process's Kafka producer) and forwards
// everything else to a real SQLite log.
class SlowLog final : public Log {
 public:
  explicit SlowLog(std::unique_ptr<Log> base) : base_(std::move(base)) {}
  void HoldFirstAppendOf(std::string user) {
    std::lock_guard lock(mu_);
    hold_user_ = std::move(user);
  }
  bool holding() {
    std::lock_guard lock(mu_);
    return held_.has_value();
  }
  // Answers the held append: with `reaches_log` the record goes to the log
  // and the answer is the log's; otherwise it is answered not persisted.
  void AnswerHeld(bool reaches_log) {
    std::pair<Issuance, AppendCallback> held;
    {
      std::lock_guard lock(mu_);
      ASSERT_TRUE(held_.has_value());
      held = std::move(*held_);
      held_.reset();
    }
    if (reaches_log) return base_->Append(held.first, std::move(held.second));
    held.second(
        AppendResult{Status::Unavailable("injected: not persisted"), AppendFailure::kNotPersisted});
  }

  void Append(const Issuance& issuance, AppendCallback done) override {
    {
      std::lock_guard lock(mu_);
      if (!hold_user_.empty() && issuance.user_id == hold_user_) {
        hold_user_.clear();
        held_.emplace(issuance, std::move(done));
        return;
      }
    }
    base_->Append(issuance, std::move(done));
  }
  Status Flush(milliseconds timeout) override { return base_->Flush(timeout); }
  Status Scan(std::string_view event_id,
              const std::function<void(const Issuance&)>& visit) override {
    return base_->Scan(event_id, visit);
  }
  Status ScanAll(const std::function<void(const Issuance&)>& visit) override {
    return base_->ScanAll(visit);
  }
  Result<std::unique_ptr<LogReader>> OpenReader(const std::string& group) override {
    return base_->OpenReader(group);
  }
  Status Health() override { return base_->Health(); }

 private:
  std::unique_ptr<Log> base_;
  std::mutex mu_;
  std::string hold_user_;                                    // guarded by mu_
  std::optional<std::pair<Issuance, AppendCallback>> held_;  // guarded by mu_
};

class SettlerTest : public test::EmbeddedTest<SlowLog> {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(OpenParts({}));
    auto created = catalog_->Create(MakeEvent("drop", 100));
    ASSERT_TRUE(created.ok()) << created.status().ToString();
    event_ = **created;
  }

  Admission Admit(const std::string& user) {
    auto a = AdmitAndWait(*gate_, event_, user);
    EXPECT_TRUE(a.ok() && a->verdict == AdmitVerdict::kAdmitted) << user;
    return a.ok() ? *a : Admission{};
  }
  Result<SettleResult> Settle(milliseconds age = milliseconds(0), std::size_t max = 1000) {
    return SettleEvent(event_, *gate_, *log_, age, max, std::chrono::seconds(10));
  }
  Status WithdrawAndWait(const std::string& user, std::int64_t seq) {
    std::promise<Status> p;
    gate_->Withdraw(event_, user, seq, [&](Status s) { p.set_value(std::move(s)); });
    return p.get_future().get();
  }
  // Every record of the event in the log, in log order.
  std::vector<Issuance> Logged() {
    std::vector<Issuance> out;
    EXPECT_TRUE(log_->Scan("drop", [&](const Issuance& i) { out.push_back(i); }).ok());
    return out;
  }

  Event event_;
};

TEST_F(SettlerTest, AnAdmissionIsPendingUntilTheLogTookItsRecord) {
  const Admission alice = Admit("alice");
  const Admission bob = Admit("bob");
  EXPECT_GT(alice.admitted_at, 0);
  // Bob's record reached the log (as the issuer acknowledges after a 201).
  gate_->Acknowledge(Issuance{.event_id = "drop",
                              .user_id = "bob",
                              .seq = bob.seq,
                              .user_seq = bob.user_seq,
                              .issued_at = bob.admitted_at,
                              .incarnation = event_.incarnation},
                     [](Status) {});
  // Young admissions are left alone.
  auto young = gate_->ClaimUnlogged(event_, std::chrono::hours(1), 100);
  ASSERT_TRUE(young.ok());
  EXPECT_TRUE(young->empty());

  auto settled = Settle();
  ASSERT_TRUE(settled.ok()) << settled.status().ToString();
  EXPECT_EQ(settled->claimed, 1);
  EXPECT_EQ(settled->logged, 1);
  // The record the issuer would have written: same seq, user_seq, issued_at.
  const auto logged = Logged();
  ASSERT_EQ(logged.size(), 1u);
  EXPECT_EQ(logged[0].user_id, "alice");
  EXPECT_EQ(logged[0].seq, alice.seq);
  EXPECT_EQ(logged[0].user_seq, alice.user_seq);
  EXPECT_EQ(logged[0].issued_at, alice.admitted_at);
  EXPECT_EQ(logged[0].incarnation, event_.incarnation);
  // Logged, not released: alice keeps the seq, and nothing is pending now.
  EXPECT_EQ(*gate_->SeqsOfUser(event_, "alice"), std::vector<std::int64_t>{alice.seq});
  EXPECT_EQ(*gate_->AdmittedCount(event_), 2);
  EXPECT_EQ(Settle()->claimed, 0);
}

TEST_F(SettlerTest, WithdrawBeforeAClaimReleasesAndAfterItIsRefused) {
  const Admission early = Admit("early");
  ASSERT_TRUE(WithdrawAndWait("early", early.seq).ok());
  EXPECT_EQ(Settle()->claimed, 0) << "a withdrawn admission is not pending";
  EXPECT_EQ(Admit("next").seq, early.seq) << "the seq went back to the pool";

  const Admission late = Admit("late");
  auto claimed = gate_->ClaimUnlogged(event_, milliseconds(0), 100);
  ASSERT_TRUE(claimed.ok());
  ASSERT_EQ(claimed->size(), 2u);  // "next" and "late"
  Status refused = WithdrawAndWait("late", late.seq);
  EXPECT_EQ(refused.code(), Status::Code::kExists) << refused.ToString();
  EXPECT_EQ(*gate_->SeqsOfUser(event_, "late"), std::vector<std::int64_t>{late.seq});
  EXPECT_EQ(WithdrawAndWait("nobody", late.seq).code(), Status::Code::kNotFound);
  // A claimed admission stays pending (claimed again) until acknowledged.
  EXPECT_EQ(gate_->ClaimUnlogged(event_, milliseconds(0), 100)->size(), 2u);
  // Release (a revocation's) is unconditional and takes the pending entry.
  ASSERT_TRUE(test::ReleaseAndWait(*gate_, event_, "late", late.seq).ok());
  EXPECT_EQ(gate_->ClaimUnlogged(event_, milliseconds(0), 100)->size(), 1u);
}

// The slow-but-alive process: its append is still under way when the settler
// claims and logs the admission; then its own append fails. It must not
// release the seq (the settler's copy is in the log): it answers 503 and the
// user keeps the coupon, which a retry shows.
TEST_F(SettlerTest, ASlowIssuerWhoseAppendFailsAfterTheClaimKeepsTheSeqForItsUser) {
  log_->HoldFirstAppendOf("slow");
  std::promise<Result<IssueAnswer>> answered;
  issuer_->Issue("drop", "slow", [&](Result<IssueAnswer> a) { answered.set_value(std::move(a)); });
  ASSERT_TRUE(log_->holding());
  auto settled = Settle();
  ASSERT_TRUE(settled.ok());
  EXPECT_EQ(settled->logged, 1);

  log_->AnswerHeld(false);  // the slow process's own append: not persisted
  auto answer = answered.get_future().get();
  ASSERT_TRUE(answer.ok());
  EXPECT_EQ(answer->status, IssueStatus::kUnavailable);
  const auto logged = Logged();
  ASSERT_EQ(logged.size(), 1u);
  EXPECT_EQ(*gate_->SeqsOfUser(event_, "slow"), std::vector<std::int64_t>{logged[0].seq});
  // The next user gets another seq: the settled one is never handed out twice.
  std::promise<Result<IssueAnswer>> next;
  issuer_->Issue("drop", "next", [&](Result<IssueAnswer> a) { next.set_value(std::move(a)); });
  auto next_answer = next.get_future().get();
  ASSERT_TRUE(next_answer.ok());
  EXPECT_EQ(next_answer->status, IssueStatus::kIssued);
  EXPECT_NE(next_answer->seq, logged[0].seq);
  std::promise<Result<IssueAnswer>> retry;
  issuer_->Issue("drop", "slow", [&](Result<IssueAnswer> a) { retry.set_value(std::move(a)); });
  auto retry_answer = retry.get_future().get();
  ASSERT_TRUE(retry_answer.ok());
  EXPECT_EQ(retry_answer->status, IssueStatus::kAlreadyIssued);
}

// The same race, but the slow append succeeds: the user hears 201, and the
// log holds two identical copies, which count as one.
TEST_F(SettlerTest, ASlowIssuerWhoseAppendSucceedsMakesOnlyADuplicate) {
  log_->HoldFirstAppendOf("slow");
  std::promise<Result<IssueAnswer>> answered;
  issuer_->Issue("drop", "slow", [&](Result<IssueAnswer> a) { answered.set_value(std::move(a)); });
  ASSERT_TRUE(Settle().ok());
  log_->AnswerHeld(true);
  auto answer = answered.get_future().get();
  ASSERT_TRUE(answer.ok());
  EXPECT_EQ(answer->status, IssueStatus::kIssued);
  const auto logged = Logged();
  ASSERT_EQ(logged.size(), 2u);
  EXPECT_EQ(logged[0].seq, logged[1].seq);
  EXPECT_EQ(logged[0].user_seq, logged[1].user_seq);
  EXPECT_EQ(logged[0].issued_at, logged[1].issued_at) << "the same issuance, not a second one";
  LogReplay replay(event_);
  for (const Issuance& i : logged) replay.Apply(i);
  replay.Finish();
  EXPECT_EQ(replay.live().size(), 1u);
  EXPECT_TRUE(replay.conflicts().empty());
  EXPECT_EQ(Settle()->claimed, 0) << "acknowledged by whoever came first";
}

TEST_F(SettlerTest, TwoSettlersOnTheSameRecordsOnlyMakeDuplicates) {
  std::map<std::int64_t, Admission> admitted;
  for (int i = 0; i < 50; ++i) {
    Admission a = Admit(test::Name("u", i));
    admitted[a.seq] = a;
  }
  Result<SettleResult> first = Status::Internal("not run");
  Result<SettleResult> second = Status::Internal("not run");
  std::thread t1([&] { first = Settle(); });
  std::thread t2([&] { second = Settle(); });
  t1.join();
  t2.join();
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_GE(first->logged + second->logged, 50);
  std::map<std::int64_t, int> copies;
  for (const Issuance& i : Logged()) {
    ++copies[i.seq];
    ASSERT_TRUE(admitted.count(i.seq)) << i.seq;
    EXPECT_EQ(i.issued_at, admitted[i.seq].admitted_at);
  }
  EXPECT_EQ(copies.size(), 50u);
  for (const auto& [seq, n] : copies) EXPECT_LE(n, 2) << "seq " << seq;
  EXPECT_EQ(*gate_->AdmittedCount(event_), 50);
  EXPECT_EQ(Settle()->claimed, 0);
}

TEST_F(SettlerTest, APassSettlesOnlyOldAdmissionsAndAtMostItsBound) {
  for (int i = 0; i < 25; ++i) Admit(test::Name("u", i));
  Settler settler(*catalog_, *gate_, *log_,
                  SettlerOptions{.settle_after = milliseconds(200), .max_per_pass = 10});
  auto young = settler.RunOnce();
  ASSERT_TRUE(young.ok()) << young.status().ToString();
  EXPECT_EQ(young->claimed, 0) << "younger than settle_after";
  std::this_thread::sleep_for(milliseconds(250));
  std::int64_t passes = 0, logged = 0;
  for (; logged < 25 && passes < 10; ++passes) {
    auto pass = settler.RunOnce();
    ASSERT_TRUE(pass.ok());
    EXPECT_LE(pass->claimed, 10);
    logged += pass->logged;
  }
  EXPECT_EQ(logged, 25);
  EXPECT_EQ(passes, 3);
  EXPECT_EQ(Logged().size(), 25u);
  EXPECT_EQ(settler.interval(), milliseconds(50));
}

}  // namespace
}  // namespace firstcome
