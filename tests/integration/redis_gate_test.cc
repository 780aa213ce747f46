// RedisGate against a real, private redis-server (started through
// scripts/services, `Services("redis")`, on a free loopback port): the admit
// and release scripts, NOSCRIPT recovery, two gates (as two API processes)
// racing, snapshot/rebuild, and Redis stopped, hung and started again.
#include "gate/redis_gate.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "support/fixtures.h"
#include "support/process.h"
#include "support/services.h"

namespace firstcome {
namespace {

using std::chrono::milliseconds;
using test::AdmitAndWait;
using test::EventOfThisTest;
using test::FreezeProcess;
using test::Name;
using test::ReleaseAndWait;
using test::RunShell;
using test::Services;
using test::ThawProcess;

Services* services = nullptr;

class RedisGateTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    services = new Services("redis");
    ASSERT_TRUE(services->ok()) << "could not start redis; logs in " << services->dir();
  }
  static void TearDownTestSuite() {
    delete services;
    services = nullptr;
  }

  static std::string Url() { return services->env("FIRSTCOME_REDIS_URL"); }

  static std::unique_ptr<Gate> Open(RedisGateOptions options = {}) {
    if (options.url == RedisGateOptions{}.url) options.url = Url();
    auto gate = OpenRedisGate(options);
    EXPECT_TRUE(gate.ok()) << gate.status().ToString();
    return gate.ok() ? std::move(gate).value() : nullptr;
  }
  static RedisGateOptions NoCache() {
    RedisGateOptions o;
    o.sold_out_cache = milliseconds(0);
    return o;
  }
};

int RedisCli(const std::string& url, const std::string& command) {
  const std::string port = url.substr(url.rfind(':') + 1);
  return RunShell("redis-cli -p " + port + " " + command + " >/dev/null 2>&1");
}

Admission MustAdmit(Gate& gate, const Event& event, const std::string& user) {
  auto r = AdmitAndWait(gate, event, user);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : Admission{};
}

TEST_F(RedisGateTest, AdmitsOnceThenAlreadyIssuedThenSoldOut) {
  auto gate = Open(NoCache());
  ASSERT_TRUE(gate);
  const Event ev = EventOfThisTest(2);
  Admission a = MustAdmit(*gate, ev, "alice");
  EXPECT_EQ(a.verdict, AdmitVerdict::kAdmitted);
  EXPECT_EQ(a.seq, 1);
  EXPECT_EQ(a.user_seq, 1);
  Admission again = MustAdmit(*gate, ev, "alice");
  EXPECT_EQ(again.verdict, AdmitVerdict::kAlreadyIssued);
  EXPECT_EQ(again.held_seqs, std::vector<std::int64_t>{1});
  Admission b = MustAdmit(*gate, ev, "bob");
  EXPECT_EQ(b.verdict, AdmitVerdict::kAdmitted);
  EXPECT_EQ(b.seq, 2);
  EXPECT_EQ(MustAdmit(*gate, ev, "carol").verdict, AdmitVerdict::kSoldOut);
  // A holder still hears already_issued after the sell-out.
  EXPECT_EQ(MustAdmit(*gate, ev, "alice").verdict, AdmitVerdict::kAlreadyIssued);
  EXPECT_EQ(*gate->AdmittedCount(ev), 2);
  EXPECT_EQ(*gate->SeqsOfUser(ev, "bob"), std::vector<std::int64_t>{2});
  EXPECT_TRUE(gate->SeqsOfUser(ev, "carol")->empty());
  EXPECT_TRUE(gate->Health().ok());
}

TEST_F(RedisGateTest, PerUserThree) {
  auto gate = Open(NoCache());
  ASSERT_TRUE(gate);
  const Event ev = EventOfThisTest(10, 3);
  for (int i = 1; i <= 3; ++i) {
    Admission a = MustAdmit(*gate, ev, "u");
    ASSERT_EQ(a.verdict, AdmitVerdict::kAdmitted);
    EXPECT_EQ(a.seq, i);
    EXPECT_EQ(a.user_seq, i);
  }
  Admission fourth = MustAdmit(*gate, ev, "u");
  EXPECT_EQ(fourth.verdict, AdmitVerdict::kAlreadyIssued);
  EXPECT_EQ(fourth.held_seqs, (std::vector<std::int64_t>{1, 2, 3}));
  EXPECT_EQ(MustAdmit(*gate, ev, "v").seq, 4);
  EXPECT_EQ(*gate->AdmittedCount(ev), 4);
}

TEST_F(RedisGateTest, ReleaseFreesTheSeqAndTheUserSeqForReuse) {
  auto gate = Open(NoCache());
  ASSERT_TRUE(gate);
  const Event ev = EventOfThisTest(3, 2);
  EXPECT_EQ(MustAdmit(*gate, ev, "a").seq, 1);  // a: user_seq 1
  EXPECT_EQ(MustAdmit(*gate, ev, "b").seq, 2);
  EXPECT_EQ(MustAdmit(*gate, ev, "a").seq, 3);  // a: user_seq 2
  EXPECT_EQ(MustAdmit(*gate, ev, "c").verdict, AdmitVerdict::kSoldOut);

  ASSERT_TRUE(ReleaseAndWait(*gate, ev, "a", 1).ok());
  EXPECT_EQ(*gate->AdmittedCount(ev), 2);
  EXPECT_EQ(*gate->SeqsOfUser(ev, "a"), std::vector<std::int64_t>{3});
  // Releasing what the user does not hold changes nothing.
  EXPECT_EQ(ReleaseAndWait(*gate, ev, "a", 1).code(), Status::Code::kNotFound);
  EXPECT_EQ(ReleaseAndWait(*gate, ev, "nobody", 2).code(), Status::Code::kNotFound);
  EXPECT_EQ(*gate->AdmittedCount(ev), 2);

  // The lowest free seq and the free user_seq are handed out again.
  Admission a = MustAdmit(*gate, ev, "a");
  EXPECT_EQ(a.verdict, AdmitVerdict::kAdmitted);
  EXPECT_EQ(a.seq, 1);
  EXPECT_EQ(a.user_seq, 1);
  EXPECT_EQ(MustAdmit(*gate, ev, "c").verdict, AdmitVerdict::kSoldOut);

  ASSERT_TRUE(ReleaseAndWait(*gate, ev, "b", 2).ok());
  Admission c = MustAdmit(*gate, ev, "c");
  EXPECT_EQ(c.seq, 2);
  EXPECT_EQ(c.user_seq, 1);
}

TEST_F(RedisGateTest, SoldOutIsCachedLocallyForTheConfiguredTime) {
  RedisGateOptions cached;
  cached.sold_out_cache = milliseconds(1000);
  auto a = Open(cached);
  auto b = Open(NoCache());
  ASSERT_TRUE(a && b);
  const Event ev = EventOfThisTest(1);
  EXPECT_EQ(MustAdmit(*a, ev, "x").verdict, AdmitVerdict::kAdmitted);
  EXPECT_EQ(MustAdmit(*a, ev, "y").verdict, AdmitVerdict::kSoldOut);
  // Another process frees the slot: `a` does not ask Redis while its flag holds.
  ASSERT_TRUE(ReleaseAndWait(*b, ev, "x", 1).ok());
  EXPECT_EQ(MustAdmit(*a, ev, "y").verdict, AdmitVerdict::kSoldOut);
  std::this_thread::sleep_for(milliseconds(1100));
  Admission y = MustAdmit(*a, ev, "y");
  EXPECT_EQ(y.verdict, AdmitVerdict::kAdmitted);
  EXPECT_EQ(y.seq, 1);
  // A local release drops the flag at once.
  EXPECT_EQ(MustAdmit(*a, ev, "z").verdict, AdmitVerdict::kSoldOut);
  ASSERT_TRUE(ReleaseAndWait(*a, ev, "y", 1).ok());
  EXPECT_EQ(MustAdmit(*a, ev, "z").verdict, AdmitVerdict::kAdmitted);
}

// The short-circuit answers what the script would: holders (also those
// admitted through another process) hear already_issued with their seqs.
TEST_F(RedisGateTest, CachedSoldOutStillTellsHoldersTheirCoupons) {
  RedisGateOptions cached;
  cached.sold_out_cache = milliseconds(5000);
  auto a = Open(cached);
  auto b = Open(NoCache());
  ASSERT_TRUE(a && b);
  const Event ev = EventOfThisTest(2);
  EXPECT_EQ(MustAdmit(*a, ev, "x").verdict, AdmitVerdict::kAdmitted);
  EXPECT_EQ(MustAdmit(*b, ev, "w").verdict, AdmitVerdict::kAdmitted);
  EXPECT_EQ(MustAdmit(*a, ev, "y").verdict, AdmitVerdict::kSoldOut);  // flag set
  Admission w = MustAdmit(*a, ev, "w");
  EXPECT_EQ(w.verdict, AdmitVerdict::kAlreadyIssued);
  EXPECT_EQ(w.held_seqs, std::vector<std::int64_t>{2});
  Admission x = MustAdmit(*a, ev, "x");
  EXPECT_EQ(x.verdict, AdmitVerdict::kAlreadyIssued);
  EXPECT_EQ(x.held_seqs, std::vector<std::int64_t>{1});
  EXPECT_EQ(MustAdmit(*a, ev, "z").verdict, AdmitVerdict::kSoldOut);
  // And they come from the cache: with Redis's copy gone, `a` still answers so.
  ASSERT_TRUE(b->Forget(ev).ok());
  EXPECT_EQ(MustAdmit(*a, ev, "w").verdict, AdmitVerdict::kAlreadyIssued);
  EXPECT_EQ(MustAdmit(*a, ev, "v").verdict, AdmitVerdict::kSoldOut);
}

TEST_F(RedisGateTest, RecoversFromScriptFlush) {
  auto gate = Open(NoCache());
  ASSERT_TRUE(gate);
  const Event ev = EventOfThisTest(10);
  EXPECT_EQ(MustAdmit(*gate, ev, "before").seq, 1);
  ASSERT_EQ(RedisCli(Url(), "SCRIPT FLUSH"), 0);
  Admission after = MustAdmit(*gate, ev, "after");
  EXPECT_EQ(after.verdict, AdmitVerdict::kAdmitted);
  EXPECT_EQ(after.seq, 2);
  ASSERT_EQ(RedisCli(Url(), "SCRIPT FLUSH"), 0);
  EXPECT_TRUE(ReleaseAndWait(*gate, ev, "after", 2).ok());
  EXPECT_EQ(*gate->AdmittedCount(ev), 1);
}

// Two gates, as two API processes would have, hammered by many threads
// firing overlapping requests for repeated users.
TEST_F(RedisGateTest, TwoGatesManyThreadsNeverOverIssue) {
  RedisGateOptions options = NoCache();
  options.timeout = milliseconds(5000);
  auto first = Open(options);
  auto second = Open(options);
  ASSERT_TRUE(first && second);
  // 100 users x 2 each could take 200: the event sells out (150) while users
  // are still coming back for their second coupon.
  constexpr std::int64_t kTotal = 150;
  constexpr int kThreads = 16, kPerThread = 400, kUsers = 100;
  const Event ev = EventOfThisTest(kTotal, 2);

  std::mutex mu;
  std::map<std::string, std::set<std::int64_t>> seqs_of;
  std::map<std::string, std::set<std::int32_t>> user_seqs_of;
  std::set<std::int64_t> all_seqs;
  std::atomic<int> admitted{0}, already{0}, sold_out{0}, errors{0}, answered{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Gate& gate = t % 2 == 0 ? *first : *second;
      for (int i = 0; i < kPerThread; ++i) {
        const std::string user = Name("user-", (t * 131 + i * 17) % kUsers);
        gate.Admit(ev, user, [&, user](Result<Admission> r) {
          if (!r.ok()) {
            ++errors;
          } else if (r->verdict == AdmitVerdict::kAdmitted) {
            ++admitted;
            std::lock_guard lock(mu);
            EXPECT_TRUE(all_seqs.insert(r->seq).second) << "seq " << r->seq << " twice";
            seqs_of[user].insert(r->seq);
            EXPECT_TRUE(user_seqs_of[user].insert(r->user_seq).second);
          } else if (r->verdict == AdmitVerdict::kAlreadyIssued) {
            ++already;
          } else {
            ++sold_out;
          }
          ++answered;
        });
      }
    });
  }
  for (auto& t : threads) t.join();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (answered < kThreads * kPerThread && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  ASSERT_EQ(answered.load(), kThreads * kPerThread);
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(admitted.load(), kTotal);
  EXPECT_EQ(already.load() + sold_out.load(), kThreads * kPerThread - kTotal);
  EXPECT_GT(sold_out.load(), 0);
  std::lock_guard lock(mu);
  ASSERT_EQ(all_seqs.size(), static_cast<std::size_t>(kTotal));
  EXPECT_EQ(*all_seqs.begin(), 1);
  EXPECT_EQ(*all_seqs.rbegin(), kTotal);
  for (const auto& [user, seqs] : seqs_of) {
    EXPECT_LE(seqs.size(), 2u) << user;
    EXPECT_EQ(*user_seqs_of[user].rbegin(), static_cast<std::int32_t>(seqs.size())) << user;
  }
  EXPECT_EQ(*first->AdmittedCount(ev), kTotal);
  auto snap = second->Snapshot(ev);
  ASSERT_TRUE(snap.ok()) << snap.status().ToString();
  EXPECT_EQ(snap->admitted, kTotal);
  EXPECT_EQ(snap->next_seq, kTotal);
  EXPECT_TRUE(snap->free_seqs.empty());
  EXPECT_EQ(snap->holders.size(), seqs_of.size());
}

TEST_F(RedisGateTest, SnapshotRebuildRoundTrip) {
  auto gate = Open(NoCache());
  ASSERT_TRUE(gate);
  const Event ev = EventOfThisTest(1500, 2);
  std::vector<Issuance> issuances;
  // Enough holders to need several HSCAN pages and ZRANGE chunks.
  for (int i = 0; i < 1200; ++i) {
    const std::string user = Name("r", i % 700);
    Admission a = MustAdmit(*gate, ev, user);
    ASSERT_EQ(a.verdict, AdmitVerdict::kAdmitted);
    issuances.push_back({ev.id, user, a.seq, a.user_seq, CouponId(ev.id, a.seq), 0});
  }
  // Release every third seq below the top one, so free seqs exist.
  std::vector<Issuance> kept;
  for (const auto& i : issuances) {
    if (i.seq % 3 == 0 && i.seq < 1200) {
      ASSERT_TRUE(ReleaseAndWait(*gate, ev, i.user_id, i.seq).ok());
    } else {
      kept.push_back(i);
    }
  }
  auto before = gate->Snapshot(ev);
  ASSERT_TRUE(before.ok()) << before.status().ToString();
  EXPECT_EQ(before->admitted, static_cast<std::int64_t>(kept.size()));
  EXPECT_EQ(before->next_seq, 1200);
  EXPECT_EQ(before->free_seqs.size(), 399u);

  ASSERT_TRUE(gate->Forget(ev).ok());
  EXPECT_EQ(*gate->AdmittedCount(ev), 0);
  ASSERT_TRUE(gate->Rebuild(ev, kept).ok());
  auto after = gate->Snapshot(ev);
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_EQ(after->admitted, before->admitted);
  EXPECT_EQ(after->next_seq, before->next_seq);
  EXPECT_EQ(after->free_seqs, before->free_seqs);
  ASSERT_EQ(after->holders.size(), before->holders.size());
  for (std::size_t i = 0; i < after->holders.size(); ++i) {
    EXPECT_EQ(after->holders[i].user_id, before->holders[i].user_id);
    auto x = after->holders[i].seqs, y = before->holders[i].seqs;
    std::sort(x.begin(), x.end());
    std::sort(y.begin(), y.end());
    EXPECT_EQ(x, y) << after->holders[i].user_id;
  }
  // The rebuilt gate behaves: lowest free seq first, per-user limit kept.
  Admission next = MustAdmit(*gate, ev, "newcomer");
  EXPECT_EQ(next.seq, 3);
  const std::string& holder = kept.front().user_id;
  const auto held = gate->SeqsOfUser(ev, holder);
  if (held->size() == 2) {
    EXPECT_EQ(MustAdmit(*gate, ev, holder).verdict, AdmitVerdict::kAlreadyIssued);
  }

  // Bad input is refused and leaves the state alone.
  Issuance bad = kept.front();
  bad.seq = 0;
  EXPECT_EQ(gate->Rebuild(ev, {bad}).code(), Status::Code::kInvalid);
  EXPECT_EQ(gate->Rebuild(ev, {kept[0], kept[0]}).code(), Status::Code::kInvalid);
  bad = kept.front();
  bad.event_id = "other";
  EXPECT_EQ(gate->Rebuild(ev, {bad}).code(), Status::Code::kInvalid);
  EXPECT_EQ(*gate->AdmittedCount(ev), before->admitted + 1);

  // Rebuild from nothing empties the event.
  ASSERT_TRUE(gate->Rebuild(ev, {}).ok());
  EXPECT_EQ(MustAdmit(*gate, ev, "fresh").seq, 1);
}

TEST_F(RedisGateTest, OddUserIdsAreStoredVerbatim) {
  auto gate = Open(NoCache());
  ASSERT_TRUE(gate);
  const Event ev = EventOfThisTest(5, 2);
  const std::string odd = std::string("a,b:c d\"e\n", 10) + std::string(1, '\0') + "}{";
  EXPECT_EQ(MustAdmit(*gate, ev, odd).seq, 1);
  EXPECT_EQ(MustAdmit(*gate, ev, odd).seq, 2);
  EXPECT_EQ(MustAdmit(*gate, ev, odd).verdict, AdmitVerdict::kAlreadyIssued);
  EXPECT_EQ(*gate->SeqsOfUser(ev, odd), (std::vector<std::int64_t>{1, 2}));
  EXPECT_TRUE(gate->SeqsOfUser(ev, "a")->empty());
}

TEST_F(RedisGateTest, FullQueueAnswersUnavailableAndEveryCallbackRunsOnce) {
  RedisGateOptions options = NoCache();
  options.connections = 1;
  options.max_queued = 4;
  auto gate = Open(options);
  ASSERT_TRUE(gate);
  const Event ev = EventOfThisTest(100000);
  constexpr int kRequests = 2000;
  std::atomic<int> answered{0}, refused{0}, admitted{0};
  for (int i = 0; i < kRequests; ++i) {
    gate->Admit(ev, Name("q", i), [&](Result<Admission> r) {
      if (!r.ok()) {
        EXPECT_EQ(r.status().code(), Status::Code::kUnavailable);
        ++refused;
      } else {
        ++admitted;
      }
      ++answered;
    });
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (answered < kRequests && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  EXPECT_EQ(answered.load(), kRequests);
  EXPECT_GT(refused.load(), 0);
  EXPECT_EQ(*gate->AdmittedCount(ev), admitted.load());
}

TEST_F(RedisGateTest, OpenRefusesBadUrlsAndUnreachableRedis) {
  for (const char* url :
       {"http://127.0.0.1:1", "redis://", "redis://host:notaport", "redis://127.0.0.1:99999",
        "redis://127.0.0.1:6379/x", "redis://user:pw@127.0.0.1:1"}) {
    RedisGateOptions o;
    o.url = url;
    auto gate = OpenRedisGate(o);
    EXPECT_EQ(gate.status().code(), Status::Code::kInvalid) << url;
  }
  RedisGateOptions o;
  o.url = "redis://127.0.0.1:1";  // nothing listens on port 1
  o.timeout = milliseconds(300);
  auto gate = OpenRedisGate(o);
  EXPECT_EQ(gate.status().code(), Status::Code::kUnavailable);
}

// Runs on its own Redis: it stops, hangs and restarts it.
TEST(RedisGateFaults, StoppedOrHungRedisAnswersUnavailableInTimeAndRecovers) {
  Services own("redis");
  ASSERT_TRUE(own.ok());
  RedisGateOptions options;
  options.url = own.env("FIRSTCOME_REDIS_URL");
  options.timeout = milliseconds(300);
  options.sold_out_cache = milliseconds(0);
  auto opened = OpenRedisGate(options);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  Gate& gate = **opened;
  const Event ev{.id = "faults", .total = 100, .per_user = 1};
  EXPECT_EQ(MustAdmit(gate, ev, "early").seq, 1);

  auto timed = [&](const std::function<Status()>& call) {
    const auto start = std::chrono::steady_clock::now();
    Status s = call();
    return std::pair{s, std::chrono::steady_clock::now() - start};
  };
  auto admit_status = [&](const std::string& user) {
    auto r = AdmitAndWait(gate, ev, user, milliseconds(5000));
    return r.ok() ? Status::Ok() : r.status();
  };

  ASSERT_TRUE(own.Stop("redis"));
  for (int i = 0; i < 5; ++i) {
    auto [s, took] = timed([&] { return admit_status(Name("down-", i)); });
    EXPECT_EQ(s.code(), Status::Code::kUnavailable) << s.ToString();
    EXPECT_LT(took, milliseconds(1500));
  }
  auto [health, took] = timed([&] { return gate.Health(); });
  EXPECT_EQ(health.code(), Status::Code::kUnavailable);
  EXPECT_LT(took, milliseconds(1500));
  EXPECT_EQ(gate.AdmittedCount(ev).status().code(), Status::Code::kUnavailable);

  ASSERT_TRUE(own.Start("redis"));
  Status recovered = Status::Unavailable("not yet");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!recovered.ok() && std::chrono::steady_clock::now() < deadline) {
    recovered = admit_status("after-restart");
    if (!recovered.ok()) std::this_thread::sleep_for(milliseconds(100));
  }
  ASSERT_TRUE(recovered.ok()) << recovered.ToString();
  // appendfsync always: the admission made before the stop survived it.
  EXPECT_EQ(MustAdmit(gate, ev, "early").verdict, AdmitVerdict::kAlreadyIssued);
  EXPECT_EQ(*gate.AdmittedCount(ev), 2);
  EXPECT_TRUE(gate.Health().ok());

  // Hung, not dead (SIGSTOP): connections stay open, replies never come; the
  // read timeout must turn that into Unavailable.
  std::string pid;
  ASSERT_EQ(RunShell("cat " + own.dir() + "/redis/redis.pid", &pid), 0);
  ASSERT_TRUE(FreezeProcess(std::stoi(pid)));
  for (int i = 0; i < 3; ++i) {
    auto [s, t] = timed([&] { return admit_status(Name("hung-", i)); });
    EXPECT_EQ(s.code(), Status::Code::kUnavailable) << s.ToString();
    EXPECT_LT(t, milliseconds(2000));
  }
  auto [hung_health, hung_took] = timed([&] { return gate.Health(); });
  EXPECT_EQ(hung_health.code(), Status::Code::kUnavailable);
  EXPECT_LT(hung_took, milliseconds(2000));
  ASSERT_TRUE(ThawProcess(std::stoi(pid)));
  recovered = Status::Unavailable("not yet");
  const auto deadline2 = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!recovered.ok() && std::chrono::steady_clock::now() < deadline2) {
    recovered = admit_status("after-hang");
    if (!recovered.ok()) std::this_thread::sleep_for(milliseconds(100));
  }
  EXPECT_TRUE(recovered.ok()) << recovered.ToString();
  // Writes that timed out may have run on the server after SIGCONT: the count
  // can only be larger than what was confirmed, never smaller.
  EXPECT_GE(*gate.AdmittedCount(ev), 3);
}

}  // namespace
}  // namespace firstcome
