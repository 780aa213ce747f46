// Consumer and RetryJob on the real embedded Log and Store (SQLite files in a
// temporary folder); faults are real too: a trigger and an exclusive lock. The
// log's own faults (a reader's Rewind, Commit, Poll or reopening failing) come
// from a FaultInjectionLog around the SQLite log (tests/support/).
#include "pipeline/consumer.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <future>
#include <set>

#include "log/sqlite_log.h"
#include "pipeline/retry_job.h"
#include "store/sqlite_store.h"
#include "support/fault_injection_log.h"
#include "support/fixtures.h"

namespace firstcome {
namespace {

using std::chrono::milliseconds;
using test::CommitFault;
using test::FaultInjectionLog;
using test::InjectedFault;
using test::MakeIssuance;
using test::TempDir;
using test::WaitFor;

class ConsumerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto log = OpenSqliteLog({.path = dir_.path() + "/log.db"});
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    log_ = std::move(log).value();
    auto store = OpenSqliteStore({.path = store_path()});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    ASSERT_TRUE(store_->Migrate().ok());
    ASSERT_TRUE(store_->CreateEvent(Event{.id = "ev", .total = 100000}).ok());
  }
  std::string store_path() const { return dir_.path() + "/store.db"; }

  void Append(int from, int to, const std::string& prefix = "u-") {
    std::vector<std::future<AppendResult>> answers;
    for (int seq = from; seq <= to; ++seq) {
      auto p = std::make_shared<std::promise<AppendResult>>();
      answers.push_back(p->get_future());
      log_->Append(MakeIssuance("ev", prefix + std::to_string(seq), seq),
                   [p](AppendResult r) { p->set_value(r); });
    }
    for (auto& a : answers) ASSERT_TRUE(a.get().status.ok());
  }
  // Appends the records in this order, waiting for each answer.
  void AppendRecords(const std::vector<Issuance>& records) {
    for (const Issuance& r : records) {
      std::promise<AppendResult> p;
      auto f = p.get_future();
      log_->Append(r, [&p](AppendResult result) { p.set_value(std::move(result)); });
      ASSERT_TRUE(f.get().status.ok());
    }
  }
  static Issuance Revocation(Issuance i) {
    i.kind = RecordKind::kRevoke;
    return i;
  }
  std::string HolderOf(std::int64_t seq) {
    auto holder = store_->HolderOfSeq(Event{.id = "ev", .total = 100000}, seq);
    EXPECT_TRUE(holder.ok());
    return holder.ok() && holder->has_value() ? (*holder)->issuance.user_id : "";
  }
  void Exec(sqlite3* db, const char* sql) {
    char* err = nullptr;
    ASSERT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
  }
  EventCounts Counts() {
    auto c = store_->CountsOf("ev");
    EXPECT_TRUE(c.ok());
    return c.ok() ? *c : EventCounts{};
  }

  TempDir dir_;
  std::unique_ptr<Log> log_;
  std::unique_ptr<Store> store_;
};

TEST_F(ConsumerTest, MovesEveryRecordOnceAndRedeliveriesAreDuplicates) {
  Append(1, 5000);
  {
    Consumer consumer(*log_, *store_, {.batch_size = 700});
    ASSERT_TRUE(consumer.Drain(std::chrono::seconds(30)).ok());
    EXPECT_EQ(consumer.stats().rows_inserted.load(), 5000);
  }
  EXPECT_EQ(Counts().persisted, 5000);
  // A different group reads everything again: all duplicates, no new rows.
  Consumer again(*log_, *store_, {.group = "other", .batch_size = 1000});
  ASSERT_TRUE(again.Drain(std::chrono::seconds(30)).ok());
  EXPECT_EQ(again.stats().duplicates.load(), 5000);
  EXPECT_EQ(again.stats().rows_inserted.load(), 0);
  EXPECT_EQ(Counts().persisted, 5000);
}

TEST_F(ConsumerTest, ThrottlesRowsPerSecond) {
  Append(1, 1000);
  Consumer consumer(*log_, *store_, {.batch_size = 100, .max_rows_per_second = 2000});
  auto started = std::chrono::steady_clock::now();
  ASSERT_TRUE(consumer.Drain(std::chrono::seconds(30)).ok());
  auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  EXPECT_GE(seconds, 0.35) << "1000 rows at 2000 rows/s take about half a second";
  EXPECT_EQ(Counts().persisted, 1000);
}

TEST_F(ConsumerTest, RefusedRecordsBecomeFailedEventsAndTheRestIsStored) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(store_path().c_str(), &db), SQLITE_OK);
  Exec(db,
       "CREATE TRIGGER refuse BEFORE INSERT ON coupons WHEN NEW.user_id LIKE 'bad-%' "
       "BEGIN SELECT RAISE(ABORT, 'refused'); END;");
  Append(1, 50, "good-");
  Append(51, 60, "bad-");
  Consumer consumer(*log_, *store_, {});
  ASSERT_TRUE(consumer.Drain(std::chrono::seconds(30)).ok());
  EXPECT_EQ(Counts().persisted, 50);
  EXPECT_EQ(Counts().failed, 10);

  RetryJob retry(*store_, {.max_attempts = 2});
  auto round = retry.RunOnce(std::numeric_limits<UnixMillis>::max());
  ASSERT_TRUE(round.ok());
  EXPECT_EQ(round->rescheduled, 10);
  round = retry.RunOnce(std::numeric_limits<UnixMillis>::max());
  ASSERT_TRUE(round.ok());
  EXPECT_EQ(round->dead, 10);
  EXPECT_EQ(Counts().dead, 10);
  EXPECT_EQ(Counts().failed, 0);

  Exec(db, "DROP TRIGGER refuse;");
  sqlite3_close(db);
  round = retry.RunOnce(std::numeric_limits<UnixMillis>::max());
  ASSERT_TRUE(round.ok());
  EXPECT_EQ(round->resolved, 0) << "dead events wait for an operator";
  round = retry.ReviveDead();
  ASSERT_TRUE(round.ok());
  EXPECT_EQ(round->resolved, 10);
  EXPECT_EQ(Counts().persisted, 60);
  EXPECT_EQ(Counts().dead, 0);
}

// Revocation records: the store row of the revoked issuance goes, a later copy
// of it stays out, and the seq's next holder is stored. In one batch (the
// revocations applied first) or in separate ones.
TEST_F(ConsumerTest, RevocationsTakeRowsBackAndLateCopiesStayOut) {
  const Issuance ann = MakeIssuance("ev", "ann", 1);
  const Issuance bob = MakeIssuance("ev", "bob", 1);
  AppendRecords({ann, MakeIssuance("ev", "cat", 2)});
  Consumer consumer(*log_, *store_, {});
  ASSERT_TRUE(consumer.Drain(std::chrono::seconds(30)).ok());
  ASSERT_EQ(HolderOf(1), "ann");
  AppendRecords({ann, Revocation(ann), bob, ann});  // a resent copy before and after
  ASSERT_TRUE(consumer.Drain(std::chrono::seconds(30)).ok());
  EXPECT_EQ(HolderOf(1), "bob");
  EXPECT_EQ(HolderOf(2), "cat");
  EXPECT_EQ(Counts().persisted, 2);
  EXPECT_EQ(Counts().failed, 0);
  EXPECT_EQ(consumer.stats().revocations.load(), 1);
  EXPECT_EQ(consumer.stats().ignored.load(), 2) << "both copies of the revoked issuance";
  // Redelivered from the start (another group): the same outcome.
  Consumer again(*log_, *store_, {.group = "again"});
  ASSERT_TRUE(again.Drain(std::chrono::seconds(30)).ok());
  EXPECT_EQ(HolderOf(1), "bob");
  EXPECT_EQ(Counts().persisted, 2);
  EXPECT_EQ(Counts().failed, 0);
}

// The order the design must survive: the new holder's issuance of a seq
// reaches the store before the old holder's revocation (another Kafka
// partition). It is a conflict, kept as a failed event; the revocation frees
// the seq; the retry job then stores the new holder. Nothing is lost.
TEST_F(ConsumerTest, ANewHolderStoredBeforeTheOldRevocationConvergesThroughTheRetryJob) {
  const Issuance ann = MakeIssuance("ev", "ann", 1);
  AppendRecords({ann});
  Consumer consumer(*log_, *store_, {});
  ASSERT_TRUE(consumer.Drain(std::chrono::seconds(30)).ok());
  AppendRecords({MakeIssuance("ev", "bob", 1)});
  ASSERT_TRUE(consumer.Drain(std::chrono::seconds(30)).ok());
  EXPECT_EQ(HolderOf(1), "ann");
  EXPECT_EQ(Counts().failed, 1) << "bob's record collides with ann's row";
  AppendRecords({Revocation(ann)});
  ASSERT_TRUE(consumer.Drain(std::chrono::seconds(30)).ok());
  EXPECT_EQ(Counts().persisted, 0);
  EXPECT_EQ(Counts().failed, 1) << "the revocation leaves bob's failed event alone";
  RetryJob retry(*store_, {});
  auto round = retry.RunOnce(std::numeric_limits<UnixMillis>::max());
  ASSERT_TRUE(round.ok());
  EXPECT_EQ(round->resolved, 1);
  EXPECT_EQ(HolderOf(1), "bob");
  EXPECT_EQ(Counts().failed, 0);
}

TEST_F(ConsumerTest, RecordsOfADeletedIncarnationAreDropped) {
  Issuance old = MakeIssuance("ev", "old", 1);
  old.incarnation = 12345;  // the events table holds incarnation 0
  AppendRecords({old, MakeIssuance("ev", "now", 2)});
  Consumer consumer(*log_, *store_, {});
  ASSERT_TRUE(consumer.Drain(std::chrono::seconds(30)).ok());
  EXPECT_EQ(Counts().persisted, 1);
  EXPECT_EQ(Counts().failed, 0);
  EXPECT_EQ(consumer.stats().ignored.load(), 1);
  ASSERT_TRUE(consumer.Drain(std::chrono::seconds(30)).ok());
  EXPECT_EQ(consumer.stats().ignored.load(), 1) << "ignored records are committed past";
}

TEST_F(ConsumerTest, LockedStoreRewindsAndNothingIsLost) {
  Append(1, 200);
  sqlite3* locker = nullptr;
  ASSERT_EQ(sqlite3_open(store_path().c_str(), &locker), SQLITE_OK);
  Exec(locker, "BEGIN EXCLUSIVE;");
  Consumer consumer(*log_, *store_, {.batch_size = 100});
  EXPECT_FALSE(consumer.Drain(std::chrono::seconds(10)).ok());
  Exec(locker, "COMMIT;");
  sqlite3_close(locker);
  ASSERT_TRUE(consumer.Drain(std::chrono::seconds(30)).ok());
  EXPECT_EQ(Counts().persisted, 200);
}

TEST_F(ConsumerTest, BackgroundLoopPersistsWhatArrives) {
  Consumer consumer(*log_, *store_, {.poll_wait = std::chrono::milliseconds(20)});
  ASSERT_TRUE(consumer.Start().ok());
  Append(1, 300);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (Counts().persisted < 300 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  consumer.Stop();
  EXPECT_EQ(Counts().persisted, 300);
}

// A trickle after a partial batch waits for the linger and then goes in one
// transaction; the first record after a quiet spell goes at once.
TEST_F(ConsumerTest, LingerGathersATrickleIntoOneBatch) {
  using std::chrono::milliseconds;
  Consumer consumer(
      *log_, *store_,
      {.batch_size = 1000, .linger = milliseconds(1000), .poll_wait = milliseconds(20)});
  ASSERT_TRUE(consumer.Start().ok());
  auto wait_persisted = [&](std::int64_t n, milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (Counts().persisted < n && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(5));
    }
    return Counts().persisted >= n;
  };
  const auto t0 = std::chrono::steady_clock::now();
  Append(1, 1);
  ASSERT_TRUE(wait_persisted(1, milliseconds(5000)));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, milliseconds(300)) << "a lone record waited";
  for (int seq = 2; seq <= 41; ++seq) {  // a trickle of 40 over ~200 ms, during the linger
    Append(seq, seq);
    std::this_thread::sleep_for(milliseconds(5));
  }
  ASSERT_TRUE(wait_persisted(41, milliseconds(5000)));
  consumer.Stop();
  // One batch for the first record, one or two for the trickle (it may
  // straddle the end of the linger); without the linger, about one per record.
  EXPECT_LE(consumer.stats().batches.load(), 3);
}

// A FaultInjectionLog around the SQLite log, a store that gives up on a lock
// quickly, and a check on every commit that reached the log: the records it
// committed must all be in the store already (else a crash right after it
// would lose them).
class ConsumerFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto base = OpenSqliteLog({.path = dir_.path() + "/log.db"});
    ASSERT_TRUE(base.ok()) << base.status().ToString();
    log_ = std::make_unique<FaultInjectionLog>(std::move(base).value());
    auto store = OpenSqliteStore({.path = store_path(), .busy_timeout = milliseconds(50)});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    ASSERT_TRUE(store_->Migrate().ok());
    ASSERT_TRUE(store_->CreateEvent(Event{.id = "ev", .total = 100000}).ok());
    log_->OnCommit([this](const std::vector<Issuance>& committed) {
      std::lock_guard lock(mu_);
      for (const Issuance& i : committed) {
        committed_.insert(i.seq);
        auto held = store_->CouponsOfUser("ev", i.user_id);
        if (!held.ok() || held->empty()) unstored_at_commit_.insert(i.seq);
      }
    });
  }
  void TearDown() override { Unlock(); }
  std::string store_path() const { return dir_.path() + "/store.db"; }

  // Seqs from..to, each for its own user, confirmed by the log.
  void Append(int from, int to) {
    for (int seq = from; seq <= to; ++seq) {
      log_->Append(MakeIssuance("ev", seq),
                   [](AppendResult r) { EXPECT_TRUE(r.status.ok()) << r.status.ToString(); });
    }
    ASSERT_TRUE(log_->Flush(std::chrono::seconds(10)).ok());
  }
  // Another connection takes the store's write lock: every insert fails.
  void Lock() {
    ASSERT_EQ(sqlite3_open(store_path().c_str(), &locker_), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(locker_, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);
  }
  void Unlock() {
    if (locker_ == nullptr) return;
    EXPECT_EQ(sqlite3_exec(locker_, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(locker_);
    locker_ = nullptr;
  }
  std::int64_t Persisted() {
    auto c = store_->CountsOf("ev");
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? c->persisted : -1;
  }
  // Every commit so far held only stored records, and together they cover
  // seqs 1..n.
  void ExpectCommittedOnlyStoredAndAll(int n) {
    std::lock_guard lock(mu_);
    EXPECT_TRUE(unstored_at_commit_.empty())
        << unstored_at_commit_.size()
        << " records were committed before they were stored, from seq "
        << *unstored_at_commit_.begin();
    EXPECT_EQ(committed_.size(), static_cast<std::size_t>(n));
  }

  TempDir dir_;
  std::unique_ptr<FaultInjectionLog> log_;
  std::unique_ptr<Store> store_;
  sqlite3* locker_ = nullptr;
  std::mutex mu_;
  std::set<std::int64_t> committed_;           // guarded by mu_
  std::set<std::int64_t> unstored_at_commit_;  // guarded by mu_
};

// The store is down, and the rewind after the failed insert fails too: the
// reader is replaced by one at the committed position, so the refused batch
// comes again and the position never passes it.
TEST_F(ConsumerFaultTest, FailedRewindReopensTheReaderAndTheBatchComesAgain) {
  Append(1, 300);
  Consumer consumer(*log_, *store_, {.batch_size = 100});
  Lock();
  log_->rewinds().FailNext(1, InjectedFault("seek failed"));
  EXPECT_FALSE(consumer.Drain(std::chrono::seconds(10)).ok());
  EXPECT_EQ(log_->rewinds().injected(), 1);
  EXPECT_EQ(log_->open_readers().calls(), 2) << "the reader must be replaced";
  Unlock();
  ASSERT_TRUE(consumer.Drain(std::chrono::seconds(30)).ok());
  EXPECT_EQ(Persisted(), 300);
  EXPECT_EQ(consumer.stats().rows_inserted.load(), 300);
  EXPECT_EQ(log_->uses_after_failed_rewind(), 0);
  ExpectCommittedOnlyStoredAndAll(300);
}

// Same, in the background loop, and reopening fails twice as well: the loop
// has no reader for a while, opens one before its next poll (with backoff),
// and loses nothing.
TEST_F(ConsumerFaultTest, ReopenFailuresAreRetriedByTheLoop) {
  Append(1, 300);
  Consumer consumer(
      *log_, *store_,
      {.batch_size = 100, .poll_wait = milliseconds(20), .max_backoff = milliseconds(100)});
  log_->rewinds().FailNext(1, InjectedFault("seek failed"));
  // Open 1 is Start's; 2 replaces the reader whose rewind failed; 3 is the
  // loop's first try before a poll.
  log_->open_readers().FailNumber(2, InjectedFault("broker unreachable"));
  log_->open_readers().FailNumber(3, InjectedFault("broker unreachable"));
  Lock();
  ASSERT_TRUE(consumer.Start().ok());
  ASSERT_TRUE(WaitFor([&] { return log_->open_readers().calls() >= 4; }))
      << "the loop stopped trying to open a reader";
  EXPECT_EQ(log_->open_readers().injected(), 2);
  EXPECT_TRUE(consumer.stats().paused.load());
  Unlock();
  ASSERT_TRUE(WaitFor([&] { return Persisted() == 300; }));
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard lock(mu_);
    return committed_.size() == 300;
  }));
  consumer.Stop();
  EXPECT_EQ(log_->rewinds().injected(), 1);
  EXPECT_EQ(log_->uses_after_failed_rewind(), 0);
  EXPECT_FALSE(consumer.stats().paused.load());
  ExpectCommittedOnlyStoredAndAll(300);
}

// A failed commit is not fatal: the records are stored, the next commit
// covers them, and what a later reader of the group gets again is only
// duplicates.
TEST_F(ConsumerFaultTest, FailedCommitsLoseNothingAndRedeliveriesAreDuplicates) {
  Append(1, 400);
  log_->commits().FailNumber(1, CommitFault::kNotCommitted);
  log_->commits().FailNumber(2, CommitFault::kCommittedAnswerLost);
  log_->commits().FailNumber(4, CommitFault::kNotCommitted);  // the last batch's
  {
    Consumer consumer(*log_, *store_, {.batch_size = 100});
    ASSERT_TRUE(consumer.Drain(std::chrono::seconds(30)).ok());
    EXPECT_EQ(consumer.stats().rows_inserted.load(), 400);
    EXPECT_EQ(consumer.stats().duplicates.load(), 0);
  }
  EXPECT_EQ(log_->commits().injected(), 3);
  EXPECT_EQ(Persisted(), 400);
  {
    std::lock_guard lock(mu_);
    EXPECT_EQ(committed_.size(), 300u) << "commits 2 and 3 took the first three batches";
  }
  // A restarted consumer starts after the last commit that reached the log.
  Consumer again(*log_, *store_, {.batch_size = 100});
  ASSERT_TRUE(again.Drain(std::chrono::seconds(30)).ok());
  EXPECT_EQ(again.stats().duplicates.load(), 100);
  EXPECT_EQ(again.stats().rows_inserted.load(), 0);
  EXPECT_EQ(Persisted(), 400);
  ExpectCommittedOnlyStoredAndAll(400);
}

// A failed poll hands out nothing and moves nothing.
TEST_F(ConsumerFaultTest, FailedPollsAreRetried) {
  Append(1, 250);
  Consumer consumer(*log_, *store_, {.batch_size = 100});
  log_->polls().FailNumber(1, InjectedFault());
  log_->polls().FailNumber(3, InjectedFault());
  EXPECT_FALSE(consumer.Drain(std::chrono::seconds(10)).ok());
  EXPECT_FALSE(consumer.Drain(std::chrono::seconds(10)).ok());
  ASSERT_TRUE(consumer.Drain(std::chrono::seconds(30)).ok());
  EXPECT_EQ(log_->polls().injected(), 2);
  EXPECT_EQ(Persisted(), 250);
  ExpectCommittedOnlyStoredAndAll(250);
}

}  // namespace
}  // namespace firstcome
