// Consumer and RetryJob on the real embedded Log and Store (SQLite files in a
// temporary folder); faults are real too: a trigger and an exclusive lock.
#include "pipeline/consumer.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <future>

#include "log/sqlite_log.h"
#include "pipeline/retry_job.h"
#include "store/sqlite_store.h"
#include "support/fixtures.h"

namespace firstcome {
namespace {

using test::MakeIssuance;
using test::TempDir;

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

}  // namespace
}  // namespace firstcome
