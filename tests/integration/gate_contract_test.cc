// The Gate port's contract (src/gate/gate.h), one suite run against every
// implementation: MemoryGate in-process and RedisGate on a private Redis.
// Checked: admitted never exceeds total (also under concurrent admits and
// releases), per_user, a seq held by at most one user, seqs 1..total, a
// released seq handed out again before a new one, rejections change nothing,
// Snapshot / Rebuild / Forget, pending admissions (claim, withdraw,
// acknowledge), the total the gate holds (SetTotal, also racing
// admissions), incarnations (a forgotten one stays gone, a new one starts
// clean) and IsSeqHeld. Each test has its own event (named after it).
//
// Starts: one redis-server for the whole binary through scripts/services
// (tests/support/fixtures.h, SharedService), on a free port, stopped at exit.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <future>
#include <map>
#include <mutex>
#include <ostream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gate/gate.h"
#include "gate/memory_gate.h"
#include "gate/redis_gate.h"
#include "support/fixtures.h"

namespace firstcome {

// Snapshots compare and print in failures; found by ADL, hence in firstcome.
// Internal linkage: they are this test's, not the port's.
static bool operator==(const GateSnapshot::Holder& a, const GateSnapshot::Holder& b) {
  return a.user_id == b.user_id && a.seqs == b.seqs;
}
static bool operator==(const GateSnapshot& a, const GateSnapshot& b) {
  return a.admitted == b.admitted && a.next_seq == b.next_seq && a.holders == b.holders &&
         a.free_seqs == b.free_seqs;
}
static void PrintTo(const GateSnapshot& s, std::ostream* out) {
  *out << "{admitted " << s.admitted << ", next_seq " << s.next_seq << ", holders";
  for (const auto& h : s.holders) {
    *out << " " << h.user_id << ":";
    for (std::int64_t seq : h.seqs) *out << " " << seq;
  }
  *out << ", free";
  for (std::int64_t seq : s.free_seqs) *out << " " << seq;
  *out << "}";
}

namespace {

using std::chrono::milliseconds;
using test::AdmitAndWait;
using test::EventOfThisTest;
using test::MakeEvent;
using test::Name;
using test::ReleaseAndWait;
using test::SharedService;

class GateContractTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "memory") {
      gate_ = NewMemoryGate();
      return;
    }
    ASSERT_TRUE(SharedService("redis").ok()) << "could not start redis";
    RedisGateOptions options;
    options.url = SharedService("redis").env("FIRSTCOME_REDIS_URL");
    // The local sold-out cache answers from memory for a while by design:
    // the contract is about the gate's own decisions.
    options.sold_out_cache = milliseconds(0);
    auto gate = OpenRedisGate(options);
    ASSERT_TRUE(gate.ok()) << gate.status().ToString();
    gate_ = std::move(gate).value();
  }

  Admission Admit(const Event& event, const std::string& user) {
    auto r = AdmitAndWait(*gate_, event, user);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : Admission{};
  }
  std::vector<std::int64_t> SeqsOf(const Event& event, const std::string& user) {
    auto seqs = gate_->SeqsOfUser(event, user);
    EXPECT_TRUE(seqs.ok()) << seqs.status().ToString();
    if (!seqs.ok()) return {};
    std::sort(seqs->begin(), seqs->end());
    return *seqs;
  }
  std::int64_t Count(const Event& event) {
    auto n = gate_->AdmittedCount(event);
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    return n.ok() ? *n : -1;
  }
  // The snapshot with holders sorted by user and every seq list sorted, so
  // two snapshots compare with ==.
  GateSnapshot Snapshot(const Event& event) {
    auto snap = gate_->Snapshot(event);
    EXPECT_TRUE(snap.ok()) << snap.status().ToString();
    if (!snap.ok()) return {};
    for (auto& h : snap->holders) std::sort(h.seqs.begin(), h.seqs.end());
    std::sort(snap->holders.begin(), snap->holders.end(),
              [](const auto& a, const auto& b) { return a.user_id < b.user_id; });
    std::sort(snap->free_seqs.begin(), snap->free_seqs.end());
    return *snap;
  }
  // Holders' seqs and free seqs are disjoint and together exactly
  // 1..next_seq; the count is the number held and at most total.
  void ExpectConsistent(const Event& event, const GateSnapshot& snap) {
    std::set<std::int64_t> all(snap.free_seqs.begin(), snap.free_seqs.end());
    EXPECT_EQ(all.size(), snap.free_seqs.size()) << "a free seq twice";
    std::int64_t held = 0;
    for (const auto& h : snap.holders) {
      EXPECT_LE(h.seqs.size(), static_cast<std::size_t>(event.per_user)) << h.user_id;
      for (std::int64_t s : h.seqs) {
        EXPECT_TRUE(all.insert(s).second) << "seq " << s << " held twice or held and free";
        ++held;
      }
    }
    EXPECT_EQ(snap.admitted, held);
    EXPECT_LE(snap.admitted, event.total);
    EXPECT_LE(snap.next_seq, event.total);
    EXPECT_EQ(static_cast<std::int64_t>(all.size()), snap.next_seq);
    if (!all.empty()) {
      EXPECT_EQ(*all.begin(), 1);
      EXPECT_EQ(*all.rbegin(), snap.next_seq);
    }
  }

  std::unique_ptr<Gate> gate_;
};

TEST_P(GateContractTest, AdmitsEachSeqOnceUpToTotalThenSoldOut) {
  const Event ev = EventOfThisTest(5);
  EXPECT_TRUE(gate_->Health().ok());
  EXPECT_EQ(Count(ev), 0);
  for (int i = 1; i <= 5; ++i) {
    Admission a = Admit(ev, Name("u", i));
    ASSERT_EQ(a.verdict, AdmitVerdict::kAdmitted) << i;
    EXPECT_EQ(a.seq, i) << "seqs are handed out 1..total";
    EXPECT_EQ(a.user_seq, 1);
  }
  EXPECT_EQ(Admit(ev, "late").verdict, AdmitVerdict::kSoldOut);
  EXPECT_EQ(Count(ev), 5);
  // A holder hears already_issued with its seq, also after the sell-out.
  Admission again = Admit(ev, "u3");
  EXPECT_EQ(again.verdict, AdmitVerdict::kAlreadyIssued);
  EXPECT_EQ(again.held_seqs, std::vector<std::int64_t>{3});
  EXPECT_EQ(SeqsOf(ev, "u3"), std::vector<std::int64_t>{3});
  EXPECT_TRUE(SeqsOf(ev, "late").empty());
  ExpectConsistent(ev, Snapshot(ev));
}

TEST_P(GateContractTest, PerUserLimit) {
  const Event ev = EventOfThisTest(10, 3);
  std::set<std::int32_t> user_seqs;
  for (int i = 1; i <= 3; ++i) {
    Admission a = Admit(ev, "alice");
    ASSERT_EQ(a.verdict, AdmitVerdict::kAdmitted) << i;
    EXPECT_EQ(a.seq, i);
    user_seqs.insert(a.user_seq);
  }
  EXPECT_EQ(user_seqs, (std::set<std::int32_t>{1, 2, 3}));
  Admission fourth = Admit(ev, "alice");
  EXPECT_EQ(fourth.verdict, AdmitVerdict::kAlreadyIssued);
  std::sort(fourth.held_seqs.begin(), fourth.held_seqs.end());
  EXPECT_EQ(fourth.held_seqs, (std::vector<std::int64_t>{1, 2, 3}));
  EXPECT_EQ(SeqsOf(ev, "alice"), (std::vector<std::int64_t>{1, 2, 3}));
  Admission bob = Admit(ev, "bob");
  EXPECT_EQ(bob.seq, 4);
  EXPECT_EQ(bob.user_seq, 1);
  EXPECT_EQ(Count(ev), 4);
}

TEST_P(GateContractTest, RejectionsChangeNothing) {
  const Event ev = EventOfThisTest(2);
  ASSERT_EQ(Admit(ev, "a").verdict, AdmitVerdict::kAdmitted);
  const GateSnapshot one = Snapshot(ev);
  EXPECT_EQ(Admit(ev, "a").verdict, AdmitVerdict::kAlreadyIssued);
  EXPECT_EQ(Snapshot(ev), one);
  ASSERT_EQ(Admit(ev, "b").verdict, AdmitVerdict::kAdmitted);
  const GateSnapshot full = Snapshot(ev);
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(Admit(ev, Name("late-", i)).verdict, AdmitVerdict::kSoldOut);
  EXPECT_EQ(Admit(ev, "b").verdict, AdmitVerdict::kAlreadyIssued);
  EXPECT_EQ(Snapshot(ev), full);
  // So is a release of what the user does not hold.
  EXPECT_FALSE(ReleaseAndWait(*gate_, ev, "a", 2).ok());
  EXPECT_FALSE(ReleaseAndWait(*gate_, ev, "nobody", 1).ok());
  EXPECT_EQ(Snapshot(ev), full);
  ExpectConsistent(ev, full);
}

TEST_P(GateContractTest, ReleasedSeqIsHandedOutAgainBeforeANewOne) {
  const Event ev = EventOfThisTest(6, 2);
  for (int i = 1; i <= 4; ++i) ASSERT_EQ(Admit(ev, Name("u", i)).seq, i);
  ASSERT_TRUE(ReleaseAndWait(*gate_, ev, "u3", 3).ok());
  ASSERT_TRUE(ReleaseAndWait(*gate_, ev, "u2", 2).ok());
  EXPECT_EQ(Count(ev), 2);
  EXPECT_TRUE(SeqsOf(ev, "u2").empty());
  GateSnapshot snap = Snapshot(ev);
  EXPECT_EQ(snap.free_seqs, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(snap.next_seq, 4);
  ExpectConsistent(ev, snap);
  // Free seqs first (lowest first), then new ones.
  EXPECT_EQ(Admit(ev, "x").seq, 2);
  EXPECT_EQ(Admit(ev, "y").seq, 3);
  EXPECT_EQ(Admit(ev, "z").seq, 5);
  // A user who gave a seq back may be admitted again, and gets a free user_seq.
  Admission u1 = Admit(ev, "u1");
  ASSERT_EQ(u1.verdict, AdmitVerdict::kAdmitted);
  EXPECT_EQ(u1.seq, 6);
  EXPECT_EQ(u1.user_seq, 2);
  ASSERT_TRUE(ReleaseAndWait(*gate_, ev, "u1", 1).ok());
  Admission back = Admit(ev, "u1");
  EXPECT_EQ(back.seq, 1);
  EXPECT_EQ(back.user_seq, 1) << "the released user_seq is free again";
  EXPECT_EQ(Admit(ev, "w").verdict, AdmitVerdict::kSoldOut);
  ExpectConsistent(ev, Snapshot(ev));
}

// Many threads admit (and some release at once) for overlapping users: the
// count never passes total, no seq is held twice, seqs stay dense.
TEST_P(GateContractTest, ConcurrentAdmitsAndReleasesKeepTheInvariants) {
  constexpr std::int64_t kTotal = 60;
  constexpr int kThreads = 6, kPerThread = 120, kUsers = 50;
  const Event ev = EventOfThisTest(kTotal, 2);
  std::mutex mu;
  std::map<std::int64_t, std::string> holder_of;  // seq -> user, as the answers say
  std::atomic<int> errors{0}, sold_out{0}, over{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string user = Name("user-", (t * 37 + i * 11) % kUsers);
        auto r = AdmitAndWait(*gate_, ev, user);
        if (!r.ok()) {
          ++errors;
          continue;
        }
        if (r->verdict == AdmitVerdict::kSoldOut) ++sold_out;
        if (r->verdict != AdmitVerdict::kAdmitted) continue;
        bool release = i % 4 == 0;
        {
          std::lock_guard lock(mu);
          auto [it, fresh] = holder_of.emplace(r->seq, user);
          EXPECT_TRUE(fresh) << "seq " << r->seq << " given to " << user << " while " << it->second
                             << " holds it";
          EXPECT_GE(r->seq, 1);
          EXPECT_LE(r->seq, kTotal);
          if (static_cast<std::int64_t>(holder_of.size()) > kTotal) ++over;
          if (release) holder_of.erase(r->seq);  // before the gate frees it
        }
        if (release && !ReleaseAndWait(*gate_, ev, user, r->seq).ok()) ++errors;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(over.load(), 0) << "more seqs held at once than total";
  EXPECT_GT(sold_out.load(), 0) << "the event should have sold out";
  GateSnapshot snap = Snapshot(ev);
  ExpectConsistent(ev, snap);
  EXPECT_EQ(snap.admitted, static_cast<std::int64_t>(holder_of.size()));
  EXPECT_EQ(Count(ev), snap.admitted);
  for (const auto& h : snap.holders) {
    for (std::int64_t s : h.seqs) EXPECT_EQ(holder_of[s], h.user_id) << "seq " << s;
  }
}

TEST_P(GateContractTest, SnapshotRebuildRoundTripAndBadInput) {
  const Event ev = EventOfThisTest(30, 2);
  std::vector<Issuance> admitted, kept;
  for (int i = 0; i < 20; ++i) {
    const std::string user = Name("r", i % 12);
    Admission a = Admit(ev, user);
    ASSERT_EQ(a.verdict, AdmitVerdict::kAdmitted);
    admitted.push_back(test::MakeIssuance(ev.id, user, a.seq, a.user_seq));
  }
  // Free seqs below the top one.
  for (const Issuance& i : admitted) {
    if (i.seq % 4 == 0 && i.seq < 20) {
      ASSERT_TRUE(ReleaseAndWait(*gate_, ev, i.user_id, i.seq).ok());
    } else {
      kept.push_back(i);
    }
  }
  const GateSnapshot before = Snapshot(ev);
  EXPECT_EQ(before.admitted, static_cast<std::int64_t>(kept.size()));
  EXPECT_EQ(before.next_seq, 20);
  EXPECT_EQ(before.free_seqs, (std::vector<std::int64_t>{4, 8, 12, 16}));
  ExpectConsistent(ev, before);

  // Rebuild replaces whatever is there: a stale admission disappears.
  ASSERT_EQ(Admit(ev, "stale").seq, 4);
  ASSERT_TRUE(gate_->Rebuild(ev, kept).ok());
  EXPECT_EQ(Snapshot(ev), before);
  EXPECT_TRUE(SeqsOf(ev, "stale").empty());

  // Bad input is refused and leaves the state alone.
  Issuance zero = kept.front();
  zero.seq = 0;
  Issuance beyond = kept.front();
  beyond.seq = ev.total + 1;
  Issuance other = kept.front();
  other.event_id = "some-other-event";
  Issuance taken = kept.back();
  taken.user_id = "thief";  // a seq held by someone else in the same rebuild
  for (const auto& bad : std::vector<std::vector<Issuance>>{
           {zero}, {beyond}, {other}, {kept.front(), kept.front()}, {kept.back(), taken}}) {
    EXPECT_EQ(gate_->Rebuild(ev, bad).code(), Status::Code::kInvalid);
  }
  EXPECT_EQ(Snapshot(ev), before);

  // The rebuilt gate behaves: lowest free seq first.
  EXPECT_EQ(Admit(ev, "newcomer").seq, 4);
  // Rebuild from nothing empties the event.
  ASSERT_TRUE(gate_->Rebuild(ev, {}).ok());
  EXPECT_EQ(Count(ev), 0);
  EXPECT_EQ(Admit(ev, "fresh").seq, 1);
}

TEST_P(GateContractTest, ForgetDropsOneEventOnly) {
  const Event gone = EventOfThisTest(5);
  Event kept = gone;
  kept.id += "-kept";
  ASSERT_EQ(Admit(gone, "a").seq, 1);
  ASSERT_EQ(Admit(gone, "b").seq, 2);
  ASSERT_TRUE(ReleaseAndWait(*gate_, gone, "a", 1).ok());
  ASSERT_EQ(Admit(kept, "a").seq, 1);
  const GateSnapshot kept_before = Snapshot(kept);

  ASSERT_TRUE(gate_->Forget(gone).ok());
  EXPECT_EQ(Count(gone), 0);
  EXPECT_TRUE(SeqsOf(gone, "b").empty());
  GateSnapshot empty = Snapshot(gone);
  EXPECT_EQ(empty.admitted, 0);
  EXPECT_EQ(empty.next_seq, 0);
  EXPECT_TRUE(empty.holders.empty());
  EXPECT_TRUE(empty.free_seqs.empty());
  EXPECT_EQ(Snapshot(kept), kept_before);
  // The forgotten incarnation admits nobody again (a process whose catalog
  // still has it hears gone); forgetting twice is fine.
  EXPECT_EQ(Admit(gone, "c").verdict, AdmitVerdict::kGone);
  EXPECT_EQ(Count(gone), 0);
  EXPECT_TRUE(gate_->Forget(gone).ok());
  EXPECT_TRUE(gate_->Forget(gone).ok());
  EXPECT_EQ(Admit(gone, "c").verdict, AdmitVerdict::kGone);
  // Only an explicit rebuild (audit --repair) brings it back.
  ASSERT_TRUE(gate_->Rebuild(gone, {}).ok());
  EXPECT_EQ(Admit(gone, "d").seq, 1);
}

TEST_P(GateContractTest, ANewIncarnationStartsCleanAndAForgottenOneStaysGone) {
  Event first = EventOfThisTest(3);
  first.incarnation = 101;
  ASSERT_EQ(Admit(first, "a").seq, 1);
  ASSERT_EQ(Admit(first, "b").seq, 2);
  ASSERT_TRUE(gate_->Forget(first).ok());
  Event second = first;
  second.incarnation = 202;  // the id deleted and created again
  EXPECT_EQ(Count(second), 0);
  EXPECT_TRUE(SeqsOf(second, "a").empty());
  Admission a = Admit(second, "a");
  ASSERT_EQ(a.verdict, AdmitVerdict::kAdmitted);
  EXPECT_EQ(a.seq, 1) << "a new incarnation starts at seq 1";
  EXPECT_EQ(Admit(second, "b").seq, 2);
  EXPECT_EQ(Admit(second, "c").seq, 3);
  EXPECT_EQ(Admit(second, "d").verdict, AdmitVerdict::kSoldOut);
  // The old one: refused whatever is asked, and nothing of it leaks into the new one.
  EXPECT_EQ(Admit(first, "z").verdict, AdmitVerdict::kGone);
  auto total = gate_->SetTotal(first, 10);
  ASSERT_TRUE(total.ok()) << total.status().ToString();
  EXPECT_EQ(total->verdict, TotalChange::Verdict::kGone);
  EXPECT_FALSE(ReleaseAndWait(*gate_, first, "a", 1).ok());
  EXPECT_EQ(Count(second), 3);
  ExpectConsistent(second, Snapshot(second));
}

TEST_P(GateContractTest, SetTotalRaisesAndLowersForEveryoneAtOnce) {
  const Event ev = EventOfThisTest(5);  // Event::total only seeds the gate's total
  for (int i = 1; i <= 5; ++i) ASSERT_EQ(Admit(ev, Name("u", i)).seq, i);
  EXPECT_EQ(Admit(ev, "late").verdict, AdmitVerdict::kSoldOut);

  auto change = gate_->SetTotal(ev, 8);
  ASSERT_TRUE(change.ok()) << change.status().ToString();
  EXPECT_EQ(change->verdict, TotalChange::Verdict::kChanged);
  EXPECT_EQ(Snapshot(ev).total, 8);
  for (int i = 6; i <= 8; ++i) EXPECT_EQ(Admit(ev, Name("u", i)).seq, i) << "raised total";
  EXPECT_EQ(Admit(ev, "late").verdict, AdmitVerdict::kSoldOut);

  // Below what is admitted: refused, nothing changes.
  const GateSnapshot full = Snapshot(ev);
  change = gate_->SetTotal(ev, 7);
  ASSERT_TRUE(change.ok());
  EXPECT_EQ(change->verdict, TotalChange::Verdict::kBelowAdmitted);
  EXPECT_EQ(change->admitted, 8);
  EXPECT_EQ(Snapshot(ev), full);
  EXPECT_EQ(Snapshot(ev).total, 8);

  // Down to what is admitted once the top seq is free: it is dropped.
  ASSERT_TRUE(ReleaseAndWait(*gate_, ev, "u8", 8).ok());
  change = gate_->SetTotal(ev, 7);
  ASSERT_TRUE(change.ok());
  EXPECT_EQ(change->verdict, TotalChange::Verdict::kChanged);
  GateSnapshot snap = Snapshot(ev);
  EXPECT_EQ(snap.total, 7);
  EXPECT_EQ(snap.next_seq, 7);
  EXPECT_TRUE(snap.free_seqs.empty());
  ExpectConsistent(MakeEvent(ev.id, 7), snap);
  EXPECT_EQ(Admit(ev, "late").verdict, AdmitVerdict::kSoldOut);

  // A free seq below a held one: the count allows 6, seq 7 is held.
  ASSERT_TRUE(ReleaseAndWait(*gate_, ev, "u3", 3).ok());
  change = gate_->SetTotal(ev, 6);
  ASSERT_TRUE(change.ok());
  EXPECT_EQ(change->verdict, TotalChange::Verdict::kBelowHeldSeq);
  EXPECT_EQ(change->next_seq, 7);
  EXPECT_EQ(Snapshot(ev).total, 7);
  // Raising again: the free seq first, then new ones up to the new total.
  ASSERT_EQ(gate_->SetTotal(ev, 9)->verdict, TotalChange::Verdict::kChanged);
  EXPECT_EQ(Admit(ev, "x").seq, 3);
  EXPECT_EQ(Admit(ev, "y").seq, 8);
  EXPECT_EQ(Admit(ev, "z").seq, 9);
  EXPECT_EQ(Admit(ev, "w").verdict, AdmitVerdict::kSoldOut);
  ExpectConsistent(MakeEvent(ev.id, 9), Snapshot(ev));
  EXPECT_EQ(gate_->SetTotal(ev, 0).status().code(), Status::Code::kInvalid);
}

TEST_P(GateContractTest, TotalSetBeforeTheFirstAdmissionIsTheGates) {
  const Event ev = EventOfThisTest(1);
  ASSERT_EQ(gate_->SetTotal(ev, 3)->verdict, TotalChange::Verdict::kChanged);
  for (int i = 1; i <= 3; ++i) EXPECT_EQ(Admit(ev, Name("u", i)).seq, i);
  EXPECT_EQ(Admit(ev, "late").verdict, AdmitVerdict::kSoldOut);
}

TEST_P(GateContractTest, IsSeqHeldFollowsAdmissionsAndReleases) {
  const Event ev = EventOfThisTest(5);
  for (int i = 1; i <= 3; ++i) ASSERT_EQ(Admit(ev, Name("u", i)).seq, i);
  ASSERT_TRUE(ReleaseAndWait(*gate_, ev, "u2", 2).ok());
  for (auto [seq, held] : std::vector<std::pair<std::int64_t, bool>>{
           {0, false}, {1, true}, {2, false}, {3, true}, {4, false}, {6, false}}) {
    auto got = gate_->IsSeqHeld(ev, seq);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(*got, held) << "seq " << seq;
  }
}

// Pending admissions (gate.h; docs/design.md, "API crash self-healing"):
// claimed only when old enough, oldest first, as the record the issuer
// would write; Withdraw refused once claimed; Acknowledge only removes that
// very admission; Release takes its pending entry with it.
TEST_P(GateContractTest, PendingAdmissionsAreClaimedWithdrawnAndAcknowledged) {
  const Event ev = EventOfThisTest(10);
  auto wait = [](auto call) {
    auto done = std::make_shared<std::promise<Status>>();
    call([done](Status s) { done->set_value(std::move(s)); });
    return done->get_future().get();
  };
  auto record = [&](const std::string& user, const Admission& a) {
    return Issuance{.event_id = ev.id,
                    .user_id = user,
                    .seq = a.seq,
                    .user_seq = a.user_seq,
                    .coupon_id = CouponId(ev.id, a.seq),
                    .issued_at = a.admitted_at,
                    .incarnation = ev.incarnation};
  };
  auto claim = [&](milliseconds age) {
    auto c = gate_->ClaimUnlogged(ev, age, 100);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? *c : std::vector<Issuance>{};
  };
  const Admission a = Admit(ev, "a");
  std::this_thread::sleep_for(milliseconds(5));  // a is the oldest
  const Admission b = Admit(ev, "b");
  const Admission c = Admit(ev, "c");
  ASSERT_GT(a.admitted_at, 0);
  EXPECT_TRUE(claim(std::chrono::hours(1)).empty()) << "too young";
  ASSERT_TRUE(wait([&](auto cb) { gate_->Acknowledge(record("b", b), cb); }).ok());
  ASSERT_TRUE(wait([&](auto cb) { gate_->Withdraw(ev, "c", c.seq, cb); }).ok());
  EXPECT_TRUE(SeqsOf(ev, "c").empty());

  auto claimed = claim(milliseconds(0));
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].user_id, "a");
  EXPECT_EQ(claimed[0].seq, a.seq);
  EXPECT_EQ(claimed[0].user_seq, a.user_seq);
  EXPECT_EQ(claimed[0].issued_at, a.admitted_at);
  EXPECT_EQ(claimed[0].incarnation, ev.incarnation);
  Status refused = wait([&](auto cb) { gate_->Withdraw(ev, "a", a.seq, cb); });
  EXPECT_EQ(refused.code(), Status::Code::kExists) << refused.ToString();
  EXPECT_EQ(SeqsOf(ev, "a"), std::vector<std::int64_t>{a.seq});
  EXPECT_EQ(claim(milliseconds(0)).size(), 1u) << "claimed stays pending until acknowledged";
  Issuance other = record("a", a);
  other.issued_at += 1;  // another admission of the same seq and user
  ASSERT_TRUE(wait([&](auto cb) { gate_->Acknowledge(other, cb); }).ok());
  EXPECT_EQ(claim(milliseconds(0)).size(), 1u);
  ASSERT_TRUE(wait([&](auto cb) { gate_->Acknowledge(record("a", a), cb); }).ok());
  EXPECT_TRUE(claim(milliseconds(0)).empty());

  const Admission d = Admit(ev, "d");
  ASSERT_TRUE(ReleaseAndWait(*gate_, ev, "d", d.seq).ok());
  EXPECT_TRUE(claim(milliseconds(0)).empty()) << "a release takes the pending entry";
  Admit(ev, "e");
  ASSERT_TRUE(gate_->Rebuild(ev, {}).ok());
  EXPECT_TRUE(claim(milliseconds(0)).empty()) << "a rebuild replaces pending admissions";
  ExpectConsistent(ev, Snapshot(ev));
}

// Admissions and releases race a total that is lowered and raised again and
// again: no more are ever admitted than the gate's total (checked on every
// snapshot where a snapshot is one point in time: the memory gate's; Redis's
// scripts are atomic by construction), seqs stay dense in 1..total, and a
// raise at the end is used up to the last coupon.
TEST_P(GateContractTest, ConcurrentAdmitsAndTotalChangesNeverOverIssue) {
  const Event ev = EventOfThisTest(30);
  constexpr int kThreads = 4, kUsersPerThread = 8, kChanges = 200;
  std::atomic<int> errors{0};
  std::atomic<bool> done{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; !done.load(); ++i) {
        const std::string user = Name("user-", t * kUsersPerThread + i % kUsersPerThread);
        auto r = AdmitAndWait(*gate_, ev, user);
        if (!r.ok()) ++errors;
        if (r.ok() && r->verdict == AdmitVerdict::kAdmitted && i % 2 == 0 &&
            !ReleaseAndWait(*gate_, ev, user, r->seq).ok()) {
          ++errors;
        }
      }
    });
  }
  int changed = 0, refused = 0;
  for (int k = 0; k < kChanges; ++k) {
    const std::int64_t total = k % 2 == 0 ? 12 : 30;
    auto c = gate_->SetTotal(ev, total);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    (c->verdict == TotalChange::Verdict::kChanged ? changed : refused) += 1;
    if (GetParam() == "memory") {
      GateSnapshot snap = Snapshot(ev);
      EXPECT_LE(snap.admitted, snap.total) << "over-issued";
      ExpectConsistent(MakeEvent(ev.id, snap.total), snap);
    }
  }
  done = true;
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_GT(changed, 0);
  ASSERT_EQ(gate_->SetTotal(ev, 60)->verdict, TotalChange::Verdict::kChanged);
  for (int i = 0; Count(ev) < 60; ++i) {
    ASSERT_LT(i, 100) << "a raise must be usable to the last coupon";
    Admit(ev, Name("after-", i));
  }
  EXPECT_EQ(Admit(ev, "late").verdict, AdmitVerdict::kSoldOut);
  GateSnapshot snap = Snapshot(ev);
  EXPECT_EQ(snap.admitted, 60);
  ExpectConsistent(MakeEvent(ev.id, 60), snap);
  std::printf("total changes racing admissions: %d applied, %d refused\n", changed, refused);
}

INSTANTIATE_TEST_SUITE_P(Gates, GateContractTest, ::testing::Values("memory", "redis"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace firstcome
