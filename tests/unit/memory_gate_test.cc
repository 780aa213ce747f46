// MemoryGate: the Gate invariants (gate.h) under many threads, release and
// free-seq reuse, snapshot and rebuild. In-process only.
#include "gate/memory_gate.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/fixtures.h"

namespace firstcome {
namespace {

using test::MakeEvent;
using test::Name;

Admission AdmitNow(Gate& gate, const Event& event, std::string_view user) {
  Admission out;
  bool called = false;
  gate.Admit(event, user, [&](Result<Admission> r) {
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    out = *r;
    called = true;
  });
  EXPECT_TRUE(called) << "the memory gate calls back inline";
  return out;
}

Status ReleaseNow(Gate& gate, const Event& event, std::string_view user, std::int64_t seq) {
  Status out = Status::Internal("not called");
  gate.Release(event, user, seq, [&](Status s) { out = std::move(s); });
  return out;
}

TEST(MemoryGateTest, AdmitsUpToTotalThenSoldOutAndHoldersHearAlreadyIssued) {
  auto gate = NewMemoryGate();
  Event ev = MakeEvent("e1", 3);
  for (int i = 1; i <= 3; ++i) {
    Admission a = AdmitNow(*gate, ev, Name("u", i));
    EXPECT_EQ(a.verdict, AdmitVerdict::kAdmitted);
    EXPECT_EQ(a.seq, i);
    EXPECT_EQ(a.user_seq, 1);
  }
  EXPECT_EQ(AdmitNow(*gate, ev, "u4").verdict, AdmitVerdict::kSoldOut);
  Admission again = AdmitNow(*gate, ev, "u2");
  EXPECT_EQ(again.verdict, AdmitVerdict::kAlreadyIssued);
  EXPECT_EQ(again.held_seqs, std::vector<std::int64_t>{2});
  EXPECT_EQ(*gate->AdmittedCount(ev), 3);
  EXPECT_EQ(*gate->SeqsOfUser(ev, "u3"), std::vector<std::int64_t>{3});
  EXPECT_TRUE(gate->SeqsOfUser(ev, "nobody")->empty());
  EXPECT_TRUE(gate->Health().ok());
}

TEST(MemoryGateTest, WithoutPendingTrackingNothingIsClaimedAndWithdrawReleases) {
  auto tracking = NewMemoryGate();
  auto plain = NewMemoryGate({.track_pending = false});
  Event ev = MakeEvent("e1", 2);
  for (Gate* gate : {tracking.get(), plain.get()}) {
    Admission a = AdmitNow(*gate, ev, "u1");
    ASSERT_EQ(a.verdict, AdmitVerdict::kAdmitted);
    auto claimed = gate->ClaimUnlogged(ev, std::chrono::milliseconds(0), 10);
    ASSERT_TRUE(claimed.ok());
    Status withdrawn = Status::Internal("not called");
    gate->Withdraw(ev, "u1", a.seq, [&](Status s) { withdrawn = std::move(s); });
    if (gate == tracking.get()) {
      // The settler's claim keeps the seq the user's (gate.h).
      EXPECT_EQ(claimed->size(), 1u);
      EXPECT_EQ(withdrawn.code(), Status::Code::kExists);
      EXPECT_EQ(*gate->AdmittedCount(ev), 1);
    } else {
      EXPECT_TRUE(claimed->empty());
      EXPECT_TRUE(withdrawn.ok()) << withdrawn.ToString();
      EXPECT_EQ(*gate->AdmittedCount(ev), 0);
    }
  }
}

TEST(MemoryGateTest, PerUserLimitAndUserSeq) {
  auto gate = NewMemoryGate();
  Event ev = MakeEvent("e2", 10, 3);
  for (int i = 1; i <= 3; ++i) {
    Admission a = AdmitNow(*gate, ev, "alice");
    ASSERT_EQ(a.verdict, AdmitVerdict::kAdmitted);
    EXPECT_EQ(a.user_seq, i);
  }
  Admission a = AdmitNow(*gate, ev, "alice");
  EXPECT_EQ(a.verdict, AdmitVerdict::kAlreadyIssued);
  EXPECT_EQ(a.held_seqs, (std::vector<std::int64_t>{1, 2, 3}));
  // Releasing the middle one frees user_seq 2 and seq 2 for the next ask.
  ASSERT_TRUE(ReleaseNow(*gate, ev, "alice", 2).ok());
  EXPECT_EQ(*gate->SeqsOfUser(ev, "alice"), (std::vector<std::int64_t>{1, 3}));
  Admission b = AdmitNow(*gate, ev, "alice");
  EXPECT_EQ(b.verdict, AdmitVerdict::kAdmitted);
  EXPECT_EQ(b.seq, 2);
  EXPECT_EQ(b.user_seq, 2);
}

TEST(MemoryGateTest, RejectsBadInputWithoutCrashing) {
  auto gate = NewMemoryGate();
  Event ev = MakeEvent("e3", 5);
  std::optional<Status> got;
  gate->Admit(ev, "", [&](Result<Admission> r) { got = r.status(); });
  EXPECT_EQ(got->code(), Status::Code::kInvalid);
  gate->Admit(ev, std::string(500, 'x'), [&](Result<Admission> r) { got = r.status(); });
  EXPECT_EQ(got->code(), Status::Code::kInvalid);
  Event bad = MakeEvent("e4", 0);
  gate->Admit(bad, "u", [&](Result<Admission> r) { got = r.status(); });
  EXPECT_EQ(got->code(), Status::Code::kInvalid);
  EXPECT_EQ(ReleaseNow(*gate, ev, "u", 1).code(), Status::Code::kNotFound);
  AdmitNow(*gate, ev, "u");
  EXPECT_EQ(ReleaseNow(*gate, ev, "u", 99).code(), Status::Code::kNotFound);
  EXPECT_EQ(ReleaseNow(*gate, ev, "other", 1).code(), Status::Code::kNotFound);
}

TEST(MemoryGateTest, ReleasedSeqsAreReusedLowestFirst) {
  auto gate = NewMemoryGate();
  Event ev = MakeEvent("e5", 5);
  for (int i = 1; i <= 5; ++i) AdmitNow(*gate, ev, Name("u", i));
  ASSERT_TRUE(ReleaseNow(*gate, ev, "u4", 4).ok());
  ASSERT_TRUE(ReleaseNow(*gate, ev, "u2", 2).ok());
  EXPECT_EQ(*gate->AdmittedCount(ev), 3);
  auto snap = gate->Snapshot(ev);
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(snap->free_seqs, (std::vector<std::int64_t>{2, 4}));
  EXPECT_EQ(snap->next_seq, 5);
  EXPECT_EQ(AdmitNow(*gate, ev, "x").seq, 2);
  EXPECT_EQ(AdmitNow(*gate, ev, "y").seq, 4);
  EXPECT_EQ(AdmitNow(*gate, ev, "z").verdict, AdmitVerdict::kSoldOut);
  // The released user may come back (and gets nothing left here).
  EXPECT_EQ(AdmitNow(*gate, ev, "u2").verdict, AdmitVerdict::kSoldOut);
}

TEST(MemoryGateTest, ManyThreadsAdmitExactlyTotalDenseSeqs) {
  auto gate = NewMemoryGate();
  constexpr std::int64_t kTotal = 5000;
  Event ev = MakeEvent("race", kTotal, 2);
  constexpr int kThreads = 8;
  // Fewer users than coupons, so every verdict comes whatever the threads'
  // interleaving: a user's asks are serialized by its shard's lock, so one
  // asked before the sell-out is admitted, and its second admission is its
  // second ask; 5,000 coupons over 3,000 users leave at least 2,000 holding
  // two, whose later asks hear already_issued, and at least 1,000 holding
  // fewer, whose asks after the sell-out hear sold_out. (With more users
  // than coupons, threads in step could sell out before anyone asked twice:
  // no already_issued, which a TSan run once saw.)
  constexpr int kUsers = 3000;
  static_assert(kUsers < kTotal && kUsers * 2 > kTotal);
  std::mutex mu;
  std::vector<std::int64_t> seqs;
  std::map<std::string, int> per_user;
  std::atomic<int> sold_out{0}, already{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 3; ++round) {
        // Every thread asks every user once a round, each from its own
        // starting point: a user's asks come from all the threads.
        for (int i = 0; i < kUsers; ++i) {
          std::string user = Name("u-", (i + t * kUsers / kThreads) % kUsers);
          gate->Admit(ev, user, [&](Result<Admission> r) {
            ASSERT_TRUE(r.ok());
            if (r->verdict == AdmitVerdict::kAdmitted) {
              std::lock_guard lock(mu);
              seqs.push_back(r->seq);
              ++per_user[user];
            } else if (r->verdict == AdmitVerdict::kSoldOut) {
              ++sold_out;
            } else {
              ++already;
            }
          });
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_EQ(static_cast<std::int64_t>(seqs.size()), kTotal);
  std::sort(seqs.begin(), seqs.end());
  for (std::int64_t i = 0; i < kTotal; ++i) ASSERT_EQ(seqs[i], i + 1);
  for (const auto& [user, n] : per_user) ASSERT_LE(n, 2) << user;
  EXPECT_EQ(*gate->AdmittedCount(ev), kTotal);
  EXPECT_GT(sold_out.load(), 0);
  EXPECT_GT(already.load(), 0);

  auto snap = gate->Snapshot(ev);
  ASSERT_TRUE(snap.ok());
  std::int64_t held = 0;
  for (const auto& h : snap->holders) {
    held += static_cast<std::int64_t>(h.seqs.size());
    EXPECT_EQ(h.seqs.size(), static_cast<std::size_t>(per_user[h.user_id]));
  }
  EXPECT_EQ(held, kTotal);
  EXPECT_TRUE(snap->free_seqs.empty());
}

TEST(MemoryGateTest, ConcurrentReleaseAndAdmitKeepCountAndSeqs) {
  auto gate = NewMemoryGate();
  constexpr std::int64_t kTotal = 200;
  Event ev = MakeEvent("churn", kTotal);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20000; ++i) {
        std::string user = Name("t", t) + Name("-", i % 300);
        Admission a = AdmitNow(*gate, ev, user);
        if (a.verdict == AdmitVerdict::kAdmitted && i % 2 == 0) {
          ASSERT_TRUE(ReleaseNow(*gate, ev, user, a.seq).ok());
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  auto snap = gate->Snapshot(ev);
  ASSERT_TRUE(snap.ok());
  std::set<std::int64_t> all(snap->free_seqs.begin(), snap->free_seqs.end());
  std::int64_t held = 0;
  for (const auto& h : snap->holders) {
    for (auto s : h.seqs) {
      ASSERT_TRUE(all.insert(s).second) << "seq " << s << " twice";
      ++held;
    }
  }
  EXPECT_EQ(held, snap->admitted);
  EXPECT_LE(snap->admitted, kTotal);
  EXPECT_LE(snap->next_seq, kTotal);
  // Held and free together are exactly 1..next_seq.
  EXPECT_EQ(static_cast<std::int64_t>(all.size()), snap->next_seq);
  if (!all.empty()) {
    EXPECT_EQ(*all.rbegin(), snap->next_seq);
  }
}

TEST(MemoryGateTest, RebuildFromIssuances) {
  auto gate = NewMemoryGate();
  Event ev = MakeEvent("rb", 10, 2);
  AdmitNow(*gate, ev, "stale");  // replaced by the rebuild
  std::vector<Issuance> issuances = {
      {"rb", "a", 1, 1, CouponId("rb", 1), 0},
      {"rb", "b", 3, 1, CouponId("rb", 3), 0},
      {"rb", "a", 6, 2, CouponId("rb", 6), 0},
  };
  ASSERT_TRUE(gate->Rebuild(ev, issuances).ok());
  auto snap = gate->Snapshot(ev);
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(snap->admitted, 3);
  EXPECT_EQ(snap->next_seq, 6);
  EXPECT_EQ(snap->free_seqs, (std::vector<std::int64_t>{2, 4, 5}));
  EXPECT_EQ(snap->holders.size(), 2u);
  EXPECT_TRUE(gate->SeqsOfUser(ev, "stale")->empty());
  EXPECT_EQ(AdmitNow(*gate, ev, "a").verdict, AdmitVerdict::kAlreadyIssued);
  Admission b = AdmitNow(*gate, ev, "b");
  EXPECT_EQ(b.seq, 2);
  EXPECT_EQ(b.user_seq, 2);
  EXPECT_EQ(AdmitNow(*gate, ev, "c").seq, 4);
  EXPECT_EQ(AdmitNow(*gate, ev, "d").seq, 5);
  EXPECT_EQ(AdmitNow(*gate, ev, "e").seq, 7);

  // Invalid input leaves the state untouched.
  std::vector<Issuance> dup = {{"rb", "a", 1, 1, "", 0}, {"rb", "b", 1, 1, "", 0}};
  EXPECT_EQ(gate->Rebuild(ev, dup).code(), Status::Code::kInvalid);
  std::vector<Issuance> beyond = {{"rb", "a", 11, 1, "", 0}};
  EXPECT_EQ(gate->Rebuild(ev, beyond).code(), Status::Code::kInvalid);
  std::vector<Issuance> other = {{"zz", "a", 1, 1, "", 0}};
  EXPECT_EQ(gate->Rebuild(ev, other).code(), Status::Code::kInvalid);
  EXPECT_EQ(*gate->AdmittedCount(ev), 7);

  ASSERT_TRUE(gate->Forget(ev).ok());
  EXPECT_EQ(*gate->AdmittedCount(ev), 0);
  EXPECT_EQ(AdmitNow(*gate, ev, "a").verdict, AdmitVerdict::kGone) << "a deleted incarnation";
  Event again = ev;
  again.incarnation = ev.incarnation + 1;  // the id created anew
  EXPECT_EQ(AdmitNow(*gate, again, "a").seq, 1);
}

TEST(MemoryGateTest, ManyUsersGrowAndShrinkTheTables) {
  auto gate = NewMemoryGate();
  constexpr int kUsers = 100000;
  Event ev = MakeEvent("big", kUsers);
  for (int i = 0; i < kUsers; ++i) {
    ASSERT_EQ(AdmitNow(*gate, ev, Name("u-", i)).seq, i + 1);
  }
  // Release every other user (exercises backward-shift deletion and compaction).
  for (int i = 0; i < kUsers; i += 2) {
    ASSERT_TRUE(ReleaseNow(*gate, ev, Name("u-", i), i + 1).ok()) << i;
  }
  for (int i = 0; i < kUsers; ++i) {
    auto seqs = gate->SeqsOfUser(ev, Name("u-", i));
    ASSERT_TRUE(seqs.ok());
    if (i % 2 == 0) {
      ASSERT_TRUE(seqs->empty()) << i;
    } else {
      ASSERT_EQ(*seqs, std::vector<std::int64_t>{i + 1}) << i;
    }
  }
  EXPECT_EQ(*gate->AdmittedCount(ev), kUsers / 2);
  EXPECT_EQ(AdmitNow(*gate, ev, "new").seq, 1);
}

}  // namespace
}  // namespace firstcome
