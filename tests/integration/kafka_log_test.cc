// KafkaLog against a real single-node Kafka (scripts/services, started once
// for this binary; each test uses its own topic). Covers: many concurrent
// appends all acked (throughput printed), a consumer group that never sees a
// committed record again, rewind, per-event scans, a fatal producer error
// (the producer is replaced), and the broker stopped and started again:
// appends refused fast, then accepted, nothing acked lost.
#include "log/kafka_log.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "support/fixtures.h"
#include "support/services.h"

namespace firstcome::test {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

Services* services = nullptr;

// Collects append answers from the log's threads.
class Answers {
 public:
  Log::AppendCallback Callback() {
    return [this](AppendResult r) {
      std::lock_guard lock(mu_);
      if (r.status.ok()) {
        ++ok_;
      } else if (r.failure == AppendFailure::kNotPersisted) {
        ++not_persisted_;
      } else {
        ++possibly_;
      }
      cv_.notify_all();
    };
  }
  bool WaitFor(int total, milliseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return ok_ + not_persisted_ + possibly_ >= total; });
  }
  int ok() {
    std::lock_guard lock(mu_);
    return ok_;
  }
  int not_persisted() {
    std::lock_guard lock(mu_);
    return not_persisted_;
  }
  int possibly() {
    std::lock_guard lock(mu_);
    return possibly_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int ok_ = 0, not_persisted_ = 0, possibly_ = 0;
};

// One append, answered synchronously (bounded by the log's delivery timeout).
AppendResult AppendAndWait(Log& log, const Issuance& i) {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<AppendResult> result;
  log.Append(i, [&](AppendResult r) {
    std::lock_guard lock(mu);
    result = std::move(r);
    cv.notify_all();
  });
  std::unique_lock lock(mu);
  EXPECT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return result.has_value(); }))
      << "append never answered";
  return result.value_or(AppendResult{Status::Internal("no answer")});
}

// Polls until `want` records arrived or `timeout` passed.
std::vector<Issuance> PollAtLeast(LogReader& reader, std::size_t want, milliseconds timeout) {
  std::vector<Issuance> all;
  auto deadline = Clock::now() + timeout;
  while (all.size() < want && Clock::now() < deadline) {
    auto got = reader.Poll(1000, milliseconds(500));
    EXPECT_TRUE(got.ok()) << got.status().ToString();
    if (!got.ok()) break;
    all.insert(all.end(), got->begin(), got->end());
  }
  return all;
}

class KafkaLogTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    services = new Services("kafka");
    ASSERT_TRUE(services->ok()) << "scripts/services up failed; logs in " << services->dir();
  }
  static void TearDownTestSuite() {
    delete services;
    services = nullptr;
  }

  void SetUp() override { ASSERT_TRUE(services && services->ok()); }

  std::unique_ptr<Log> Open(const std::string& topic) {
    KafkaLogOptions o;
    o.brokers = services->env("FIRSTCOME_KAFKA_BROKERS");
    o.topic = topic;
    o.partitions = 6;
    o.delivery_timeout = milliseconds(3000);
    auto log = OpenKafkaLog(o);
    EXPECT_TRUE(log.ok()) << log.status().ToString();
    return log.ok() ? std::move(log).value() : nullptr;
  }
};

TEST_F(KafkaLogTest, ConcurrentAppendsAreAckedAndReadOncePerGroup) {
  auto log = Open("t.concurrent");
  ASSERT_TRUE(log);
  ASSERT_TRUE(log->Health().ok()) << log->Health().ToString();

  constexpr int kThreads = 8, kPerThread = 5000, kTotal = kThreads * kPerThread;
  Answers answers;
  auto started = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int k = 0; k < kPerThread; ++k) {
        log->Append(MakeIssuance("ev", 1 + t * kPerThread + k), answers.Callback());
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_TRUE(answers.WaitFor(kTotal, std::chrono::seconds(120)));
  double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  std::printf("[kafka] %d concurrent appends (%d threads) acked in %.2f s: %.0f appends/s\n",
              kTotal, kThreads, seconds, kTotal / seconds);
  EXPECT_EQ(answers.ok(), kTotal);
  ASSERT_TRUE(log->Flush(milliseconds(5000)).ok());

  std::set<std::int64_t> seqs;
  {
    auto reader = log->OpenReader("g1");
    ASSERT_TRUE(reader.ok()) << reader.status().ToString();
    auto t0 = Clock::now();
    auto got = PollAtLeast(**reader, kTotal, std::chrono::seconds(60));
    std::printf("[kafka] consumer read %zu records in %.2f s\n", got.size(),
                std::chrono::duration<double>(Clock::now() - t0).count());
    for (const auto& i : got) {
      EXPECT_EQ(i.event_id, "ev");
      EXPECT_EQ(i.coupon_id, CouponId("ev", i.seq));
      EXPECT_EQ(i.user_id, "user-" + std::to_string(i.seq));
      seqs.insert(i.seq);
    }
    EXPECT_EQ(got.size(), static_cast<std::size_t>(kTotal));  // no duplicates from one producer
    ASSERT_TRUE((*reader)->Commit().ok());
    EXPECT_EQ((*reader)->Lag(), 0);
  }
  EXPECT_EQ(seqs.size(), static_cast<std::size_t>(kTotal));
  EXPECT_EQ(*seqs.begin(), 1);
  EXPECT_EQ(*seqs.rbegin(), kTotal);

  // The same group again: everything was committed, nothing comes back.
  auto again = log->OpenReader("g1");
  ASSERT_TRUE(again.ok());
  auto old = PollAtLeast(**again, 1, std::chrono::seconds(6));
  EXPECT_TRUE(old.empty()) << old.size() << " committed records delivered again";
  // A new record does come.
  ASSERT_TRUE(AppendAndWait(*log, MakeIssuance("ev", kTotal + 1)).status.ok());
  auto fresh = PollAtLeast(**again, 1, std::chrono::seconds(20));
  ASSERT_EQ(fresh.size(), 1u);
  EXPECT_EQ(fresh[0].seq, kTotal + 1);
}

TEST_F(KafkaLogTest, RewindDeliversUncommittedRecordsAgain) {
  auto log = Open("t.rewind");
  ASSERT_TRUE(log);
  Answers answers;
  for (int k = 1; k <= 100; ++k) log->Append(MakeIssuance("rw", k), answers.Callback());
  ASSERT_TRUE(answers.WaitFor(100, std::chrono::seconds(30)));
  ASSERT_EQ(answers.ok(), 100);
  auto reader = log->OpenReader("g-rewind");
  ASSERT_TRUE(reader.ok());
  auto first = PollAtLeast(**reader, 100, std::chrono::seconds(30));
  ASSERT_EQ(first.size(), 100u);
  ASSERT_TRUE((*reader)->Commit().ok());

  for (int k = 101; k <= 150; ++k)
    ASSERT_TRUE(AppendAndWait(*log, MakeIssuance("rw", k)).status.ok());
  auto second = PollAtLeast(**reader, 50, std::chrono::seconds(20));
  ASSERT_EQ(second.size(), 50u);
  EXPECT_EQ((*reader)->Lag(), 50);
  // The store was down: forget them, they must come again (and only they).
  ASSERT_TRUE((*reader)->Rewind().ok());
  auto redelivered = PollAtLeast(**reader, 50, std::chrono::seconds(20));
  std::set<std::int64_t> a, b;
  for (const auto& i : second) a.insert(i.seq);
  for (const auto& i : redelivered) b.insert(i.seq);
  EXPECT_EQ(redelivered.size(), 50u);
  EXPECT_EQ(a, b);
  EXPECT_EQ(*b.begin(), 101);
  ASSERT_TRUE((*reader)->Commit().ok());
  EXPECT_EQ((*reader)->Lag(), 0);
  EXPECT_TRUE(PollAtLeast(**reader, 1, milliseconds(1500)).empty());
}

TEST_F(KafkaLogTest, ScansOneEventAtATime) {
  auto log = Open("t.scan");
  ASSERT_TRUE(log);
  for (int k = 1; k <= 30; ++k) log->Append(MakeIssuance("alpha", k), [](AppendResult) {});
  for (int k = 1; k <= 20; ++k) log->Append(MakeIssuance("beta", k), [](AppendResult) {});
  ASSERT_TRUE(log->Flush(milliseconds(10000)).ok());

  std::set<std::int64_t> alpha, beta;
  Status s = log->Scan("alpha", [&](const Issuance& i) {
    EXPECT_EQ(i.event_id, "alpha");
    alpha.insert(i.seq);
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  s = log->Scan("beta", [&](const Issuance& i) {
    EXPECT_EQ(i.event_id, "beta");
    beta.insert(i.seq);
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(alpha.size(), 30u);
  EXPECT_EQ(beta.size(), 20u);
  int nothing = 0;
  ASSERT_TRUE(
      log->Scan("alph", [&](const Issuance&) { ++nothing; }).ok());  // a prefix is not a match
  EXPECT_EQ(nothing, 0);
  int all = 0;
  ASSERT_TRUE(log->ScanAll([&](const Issuance&) { ++all; }).ok());
  EXPECT_EQ(all, 50);
}

// A fatal producer error, raised with librdkafka's own test facility (the
// error an idempotent producer gets when it loses its sequence numbers; the
// Debian librdkafka 2.0.2 can hit it after a timeout): appends are answered,
// never hung; the log replaces its producer by itself and takes appends again;
// every acked record is in the topic exactly once.
TEST_F(KafkaLogTest, FatalProducerErrorReplacesTheProducer) {
  auto log = Open("t.fatal");
  ASSERT_TRUE(log);
  std::set<std::int64_t> acked;
  for (int k = 1; k <= 100; ++k) {
    if (AppendAndWait(*log, MakeIssuance("fatal", k)).status.ok()) acked.insert(k);
  }
  ASSERT_EQ(acked.size(), 100u);

  std::mutex mu;
  std::condition_variable cv;
  std::map<std::int64_t, AppendResult> during;
  constexpr int kDuring = 200;
  for (int k = 0; k < kDuring; ++k) {
    if (k == kDuring / 2) {
      ASSERT_TRUE(InjectFatalProducerErrorForTest(*log).ok());
    }
    const std::int64_t seq = 1000 + k;
    log->Append(MakeIssuance("fatal", seq), [&, seq](AppendResult r) {
      std::lock_guard lock(mu);
      during.emplace(seq, std::move(r));
      cv.notify_all();
    });
    std::this_thread::sleep_for(milliseconds(1));
  }
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(15), [&] {
      return during.size() == kDuring;
    })) << "appends around the fatal error were never answered";
    int refused = 0;
    for (auto& [seq, r] : during) {
      if (r.status.ok()) {
        acked.insert(seq);
      } else {
        ++refused;
      }
    }
    std::printf("[kafka] appends around the fatal error: %zu ok, %d refused\n",
                during.size() - refused, refused);
    EXPECT_GE(refused, 1) << "appends right after the error must be refused";
  }

  // The producer is replaced without anyone restarting anything.
  const auto t0 = Clock::now();
  bool back = false;
  std::int64_t seq = 5000;
  while (!back && Clock::now() - t0 < std::chrono::seconds(10)) {
    ++seq;
    back = AppendAndWait(*log, MakeIssuance("fatal", seq)).status.ok();
    if (back) {
      acked.insert(seq);
    } else {
      std::this_thread::sleep_for(milliseconds(20));
    }
  }
  ASSERT_TRUE(back) << "the log never took appends again after a fatal error";
  std::printf("[kafka] appends accepted again %.2f s after the fatal error was seen\n",
              std::chrono::duration<double>(Clock::now() - t0).count());
  EXPECT_EQ(ProducerReplacements(*log), 1);
  EXPECT_TRUE(log->Health().ok());
  for (int k = 1; k <= 100; ++k) {
    ++seq;
    if (AppendAndWait(*log, MakeIssuance("fatal", seq)).status.ok()) acked.insert(seq);
  }
  EXPECT_EQ(acked.count(seq), 1u);

  std::map<std::int64_t, int> copies;
  ASSERT_TRUE(log->Scan("fatal", [&](const Issuance& i) { ++copies[i.seq]; }).ok());
  for (std::int64_t s : acked) {
    EXPECT_EQ(copies[s], 1) << "acked seq " << s << " found " << copies[s] << " times";
  }
}

// Last: it restarts the broker.
TEST_F(KafkaLogTest, BrokerDownRefusesFastThenRecoversWithoutLoss) {
  auto log = Open("t.outage");
  ASSERT_TRUE(log);
  std::set<std::int64_t> acked;
  for (int k = 1; k <= 200; ++k) {
    if (AppendAndWait(*log, MakeIssuance("out", k)).status.ok()) acked.insert(k);
  }
  ASSERT_EQ(acked.size(), 200u);

  // Appends keep coming while the broker stops: each is answered (ok, not
  // persisted or possibly persisted) within the delivery timeout, none hangs.
  std::mutex mu;
  std::map<std::int64_t, std::optional<AppendResult>> during;
  std::atomic<bool> stopped{false};
  std::thread writer([&] {
    for (std::int64_t s = 10'000; !stopped.load(); ++s) {
      {
        std::lock_guard lock(mu);
        during[s];
      }
      log->Append(MakeIssuance("out", s), [&, s](AppendResult r) {
        std::lock_guard lock(mu);
        during[s] = std::move(r);
      });
      std::this_thread::sleep_for(milliseconds(2));
    }
  });
  std::this_thread::sleep_for(milliseconds(300));
  auto stop_started = Clock::now();
  ASSERT_TRUE(services->Stop("kafka"));
  std::printf("[kafka] broker stopped in %.2f s\n",
              std::chrono::duration<double>(Clock::now() - stop_started).count());
  stopped = true;
  writer.join();
  auto all_answered = [&] {
    std::lock_guard lock(mu);
    return std::all_of(during.begin(), during.end(),
                       [](auto& kv) { return kv.second.has_value(); });
  };
  auto answer_deadline = Clock::now() + std::chrono::seconds(10);
  while (!all_answered() && Clock::now() < answer_deadline)
    std::this_thread::sleep_for(milliseconds(50));
  ASSERT_TRUE(all_answered()) << "appends made while the broker stopped were never answered";
  {
    int ok = 0, not_persisted = 0, possibly = 0;
    std::lock_guard lock(mu);
    for (auto& [s, r] : during) {
      if (r->status.ok()) {
        ++ok;
        acked.insert(s);
      } else if (r->failure == AppendFailure::kNotPersisted) {
        ++not_persisted;
      } else {
        ++possibly;
      }
    }
    std::printf("[kafka] appends across the stop: %d ok, %d not_persisted, %d possibly_persisted\n",
                ok, not_persisted, possibly);
  }

  // Appends while it is down: each answered quickly, never ok, never a hang.
  std::int64_t seq = 1000;
  double slowest = 0, total_ms = 0;
  int attempts = 0, not_persisted = 0;
  for (; attempts < 20; ++attempts) {
    auto t0 = Clock::now();
    AppendResult r = AppendAndWait(*log, MakeIssuance("out", ++seq));
    double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    slowest = std::max(slowest, ms);
    total_ms += ms;
    EXPECT_FALSE(r.status.ok());
    if (!r.status.ok() && r.failure == AppendFailure::kNotPersisted) ++not_persisted;
    std::this_thread::sleep_for(milliseconds(50));
  }
  std::printf("[kafka] broker down: %d appends, %d not_persisted, mean %.1f ms, slowest %.1f ms\n",
              attempts, not_persisted, total_ms / attempts, slowest);
  EXPECT_EQ(not_persisted, attempts);
  // The first may wait for librdkafka to notice; none waits the full delivery timeout.
  EXPECT_LT(slowest, 2500.0);
  EXPECT_FALSE(log->Health().ok());

  auto start_started = Clock::now();
  ASSERT_TRUE(services->Start("kafka"));
  std::printf("[kafka] broker started in %.2f s\n",
              std::chrono::duration<double>(Clock::now() - start_started).count());
  auto back_started = Clock::now();
  bool back = false;
  while (Clock::now() - back_started < std::chrono::seconds(60)) {
    ++seq;
    if (AppendAndWait(*log, MakeIssuance("out", seq)).status.ok()) {
      acked.insert(seq);
      back = true;
      break;
    }
    std::this_thread::sleep_for(milliseconds(200));
  }
  ASSERT_TRUE(back) << "appends still refused 60 s after the broker came back";
  std::printf("[kafka] appends accepted again %.2f s after the broker was up\n",
              std::chrono::duration<double>(Clock::now() - back_started).count());
  for (int k = 0; k < 50; ++k) {
    ++seq;
    AppendResult r = AppendAndWait(*log, MakeIssuance("out", seq));
    EXPECT_TRUE(r.status.ok()) << r.status.ToString();
    if (r.status.ok()) acked.insert(seq);
  }

  std::set<std::int64_t> in_log;
  Status scanned = log->Scan("out", [&](const Issuance& i) { in_log.insert(i.seq); });
  ASSERT_TRUE(scanned.ok()) << scanned.ToString();
  for (std::int64_t s : acked) EXPECT_TRUE(in_log.contains(s)) << "acked seq " << s << " lost";
  for (std::int64_t s = 1001; s <= 1020; ++s) {
    EXPECT_FALSE(in_log.contains(s)) << "refused seq " << s << " is in the log";
  }
  EXPECT_TRUE(log->Health().ok());
}

}  // namespace
}  // namespace firstcome::test
