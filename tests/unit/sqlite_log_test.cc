// SqliteLog on real SQLite files in temporary folders: group commit under
// concurrent appends, failure while another connection holds the database
// locked, the bounded queue, readers (poll, commit, rewind, lag, prompt
// wake-up) and reopening.
#include "log/sqlite_log.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/fixtures.h"

namespace firstcome {
namespace {

using std::chrono::milliseconds;
using test::MakeIssuance;
using test::Name;
using test::TempDir;

std::unique_ptr<Log> OpenOrDie(const SqliteLogOptions& options) {
  auto log = OpenSqliteLog(options);
  EXPECT_TRUE(log.ok()) << log.status().ToString();
  return log.ok() ? std::move(log).value() : nullptr;
}

AppendResult AppendNow(Log& log, const Issuance& i) {
  std::promise<AppendResult> p;
  auto f = p.get_future();
  log.Append(i, [&](AppendResult r) { p.set_value(std::move(r)); });
  return f.get();
}

std::vector<Issuance> ScanAll(Log& log) {
  std::vector<Issuance> out;
  EXPECT_TRUE(log.ScanAll([&](const Issuance& i) { out.push_back(i); }).ok());
  return out;
}

// Another connection holding the write lock of the file (what a stuck writer
// in another process looks like).
class ExclusiveLock {
 public:
  explicit ExclusiveLock(const std::string& path) {
    EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK);
    EXPECT_EQ(sqlite3_exec(db_, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);
  }
  ~ExclusiveLock() {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(db_);
  }

 private:
  sqlite3* db_ = nullptr;
};

TEST(SqliteLogTest, GroupCommitsConcurrentAppends) {
  TempDir dir;
  std::atomic<int> transactions{0};
  SqliteLogOptions options{.path = dir.path() + "/log.db"};
  options.on_commit = [&](std::size_t) { ++transactions; };
  auto log = OpenOrDie(options);
  ASSERT_TRUE(log);

  constexpr int kThreads = 8;
  constexpr int kPerThread = 10000;
  std::atomic<int> acked{0}, failed{0};
  auto started = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 1; i <= kPerThread; ++i) {
        // One user per thread with increasing user_seq: order must survive.
        log->Append(MakeIssuance("ev", Name("user-", t), t * kPerThread + i, i),
                    [&](AppendResult r) {
                      if (r.status.ok()) {
                        ++acked;
                      } else {
                        ++failed;
                      }
                    });
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_TRUE(log->Flush(milliseconds(30000)).ok());
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  EXPECT_EQ(acked.load(), kThreads * kPerThread);
  EXPECT_EQ(failed.load(), 0);
  std::printf("[ perf ] %d appends from %d threads in %.3f s = %.0f appends/s, %d transactions\n",
              kThreads * kPerThread, kThreads, seconds, kThreads * kPerThread / seconds,
              transactions.load());
  EXPECT_LT(transactions.load(), kThreads * kPerThread / 20) << "appends must share commits";

  auto records = ScanAll(*log);
  ASSERT_EQ(records.size(), static_cast<std::size_t>(kThreads * kPerThread));
  std::map<std::string, std::int32_t> last_user_seq;
  for (const auto& r : records) {
    EXPECT_EQ(r.user_seq, last_user_seq[r.user_id] + 1) << r.user_id;
    last_user_seq[r.user_id] = r.user_seq;
    EXPECT_EQ(r.coupon_id, CouponId("ev", r.seq));
  }
}

// The commit delay waits only after a batch of concurrent appends: a lone
// append is committed at once however long the delay, and a busy stream is
// carried in batches the size of the delay.
TEST(SqliteLogTest, CommitDelayOnlyWhenAppendsArriveConcurrently) {
  TempDir dir;
  std::mutex mu;
  std::vector<std::size_t> batches;
  SqliteLogOptions options{.path = dir.path() + "/log.db",
                           .commit_delay = std::chrono::microseconds(400000),
                           .commit_delay_after = 4,
                           .commit_delay_before = 128};
  options.on_commit = [&](std::size_t n) {
    std::lock_guard lock(mu);
    batches.push_back(n);
  };
  auto log = OpenOrDie(options);
  ASSERT_TRUE(log);

  // Alone: answered well within the 400 ms delay, twice in a row.
  for (int i = 1; i <= 2; ++i) {
    auto start = std::chrono::steady_clock::now();
    ASSERT_TRUE(AppendNow(*log, MakeIssuance("ev", Name("lone-", i), i, 1)).status.ok());
    EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(200)) << "append " << i;
  }

  // Ten at once make a batch of 10 (>= 4): the next commit waits 400 ms and
  // takes everything that arrived meanwhile in one transaction.
  std::atomic<int> acked{0};
  for (int i = 0; i < 10; ++i) {
    log->Append(MakeIssuance("ev", Name("burst-", i), 100 + i, 1), [&](AppendResult r) {
      if (r.status.ok()) ++acked;
    });
  }
  ASSERT_TRUE(log->Flush(milliseconds(5000)).ok());
  for (int i = 0; i < 30; ++i) {
    log->Append(MakeIssuance("ev", Name("late-", i), 200 + i, 1), [&](AppendResult r) {
      if (r.status.ok()) ++acked;
    });
  }
  ASSERT_TRUE(log->Flush(milliseconds(5000)).ok());
  EXPECT_EQ(acked.load(), 40);
  std::lock_guard lock(mu);
  ASSERT_GE(batches.size(), 4u);
  EXPECT_EQ(batches[0], 1u);
  EXPECT_EQ(batches[1], 1u);
  EXPECT_EQ(batches.back(), 30u) << "the delayed commit carries all 30";
  EXPECT_EQ(ScanAll(*log).size(), 42u);
}

TEST(SqliteLogTest, ScanFiltersByEventInLogOrder) {
  TempDir dir;
  auto log = OpenOrDie({.path = dir.path() + "/log.db"});
  ASSERT_TRUE(log);
  ASSERT_TRUE(AppendNow(*log, MakeIssuance("a", "u1", 1)).status.ok());
  ASSERT_TRUE(AppendNow(*log, MakeIssuance("b", "u1", 1)).status.ok());
  ASSERT_TRUE(AppendNow(*log, MakeIssuance("a", "u2", 2)).status.ok());
  std::vector<std::int64_t> seqs;
  ASSERT_TRUE(log->Scan("a", [&](const Issuance& i) { seqs.push_back(i.seq); }).ok());
  EXPECT_EQ(seqs, (std::vector<std::int64_t>{1, 2}));
  int none = 0;
  ASSERT_TRUE(log->Scan("zzz", [&](const Issuance&) { ++none; }).ok());
  EXPECT_EQ(none, 0);
  EXPECT_EQ(ScanAll(*log).size(), 3u);
}

TEST(SqliteLogTest, LockedDatabaseAnswersUnavailableAndAcksNothing) {
  TempDir dir;
  const std::string path = dir.path() + "/log.db";
  auto log = OpenOrDie({.path = path, .busy_timeout = milliseconds(200)});
  ASSERT_TRUE(log);
  ASSERT_TRUE(AppendNow(*log, MakeIssuance("ev", "before", 1)).status.ok());
  {
    ExclusiveLock lock(path);
    std::atomic<int> ok{0}, unavailable{0};
    for (int i = 0; i < 50; ++i) {
      log->Append(MakeIssuance("ev", Name("u", i), 100 + i), [&](AppendResult r) {
        if (r.status.ok()) {
          ++ok;
        } else {
          EXPECT_EQ(r.status.code(), Status::Code::kUnavailable);
          EXPECT_EQ(r.failure, AppendFailure::kNotPersisted);
          ++unavailable;
        }
      });
    }
    ASSERT_TRUE(log->Flush(milliseconds(20000)).ok());
    EXPECT_EQ(ok.load(), 0);
    EXPECT_EQ(unavailable.load(), 50);
    EXPECT_EQ(log->Health().code(), Status::Code::kUnavailable);
  }
  EXPECT_TRUE(log->Health().ok());
  ASSERT_TRUE(AppendNow(*log, MakeIssuance("ev", "after", 2)).status.ok());
  auto records = ScanAll(*log);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].user_id, "before");
  EXPECT_EQ(records[1].user_id, "after");
}

TEST(SqliteLogTest, QueueIsBounded) {
  TempDir dir;
  const std::string path = dir.path() + "/log.db";
  auto log = OpenOrDie({.path = path, .max_pending = 10, .busy_timeout = milliseconds(300)});
  ASSERT_TRUE(log);
  std::atomic<int> refused_inline{0};
  {
    ExclusiveLock lock(path);
    for (int i = 0; i < 30; ++i) {
      bool inline_answer = false;
      std::thread::id me = std::this_thread::get_id();
      log->Append(MakeIssuance("ev", Name("u", i), i + 1), [&, me](AppendResult r) {
        if (std::this_thread::get_id() == me) {
          inline_answer = true;
          EXPECT_EQ(r.status.code(), Status::Code::kUnavailable);
        }
      });
      if (inline_answer) ++refused_inline;
    }
    ASSERT_TRUE(log->Flush(milliseconds(20000)).ok());
  }
  EXPECT_EQ(refused_inline.load(), 20);
}

TEST(SqliteLogTest, ReaderPollCommitRewindLag) {
  TempDir dir;
  auto log = OpenOrDie({.path = dir.path() + "/log.db"});
  ASSERT_TRUE(log);
  for (int i = 1; i <= 5; ++i)
    ASSERT_TRUE(AppendNow(*log, MakeIssuance("ev", Name("u", i), i)).status.ok());
  auto reader = log->OpenReader("consumers");
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  LogReader& r = **reader;
  EXPECT_EQ(r.Lag(), 5);

  auto first = r.Poll(3, milliseconds(0));
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->size(), 3u);
  EXPECT_EQ((*first)[0].seq, 1);
  EXPECT_EQ((*first)[2].seq, 3);
  ASSERT_TRUE(r.Commit().ok());
  EXPECT_EQ(r.Lag(), 2);

  auto second = r.Poll(10, milliseconds(0));
  ASSERT_EQ(second->size(), 2u);
  EXPECT_EQ((*second)[0].seq, 4);
  ASSERT_TRUE(r.Rewind().ok());
  EXPECT_EQ(r.Lag(), 2);
  auto again = r.Poll(10, milliseconds(0));
  ASSERT_EQ(again->size(), 2u);
  EXPECT_EQ((*again)[0].seq, 4);
  ASSERT_TRUE(r.Commit().ok());
  EXPECT_EQ(r.Lag(), 0);
  EXPECT_TRUE(r.Poll(10, milliseconds(50))->empty());

  // Another group starts at the beginning.
  auto other = log->OpenReader("audit");
  ASSERT_TRUE(other.ok());
  EXPECT_EQ((*other)->Poll(100, milliseconds(0))->size(), 5u);

  // A waiting Poll wakes as soon as a record is committed.
  auto waiter = std::async(std::launch::async, [&] {
    auto started = std::chrono::steady_clock::now();
    auto got = r.Poll(10, milliseconds(10000));
    return std::make_pair(std::move(got), std::chrono::steady_clock::now() - started);
  });
  std::this_thread::sleep_for(milliseconds(100));
  ASSERT_TRUE(AppendNow(*log, MakeIssuance("ev", "late", 6)).status.ok());
  auto [got, took] = waiter.get();
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].user_id, "late");
  EXPECT_LT(took, milliseconds(2000));
}

TEST(SqliteLogTest, ReopenKeepsRecordsAndCursor) {
  TempDir dir;
  const std::string path = dir.path() + "/log.db";
  {
    auto log = OpenOrDie({.path = path});
    ASSERT_TRUE(log);
    for (int i = 1; i <= 4; ++i)
      log->Append(MakeIssuance("ev", Name("u", i), i), [](AppendResult) {});
    ASSERT_TRUE(log->Flush(milliseconds(10000)).ok());
    auto reader = log->OpenReader("g");
    ASSERT_TRUE(reader.ok());
    ASSERT_EQ((*reader)->Poll(2, milliseconds(0))->size(), 2u);
    ASSERT_TRUE((*reader)->Commit().ok());
    ASSERT_EQ((*reader)->Poll(2, milliseconds(0))->size(), 2u);  // not committed
  }
  auto log = OpenOrDie({.path = path});
  ASSERT_TRUE(log);
  EXPECT_EQ(ScanAll(*log).size(), 4u);
  auto reader = log->OpenReader("g");
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ((*reader)->Lag(), 2);
  auto rest = (*reader)->Poll(10, milliseconds(0));
  ASSERT_EQ(rest->size(), 2u);
  EXPECT_EQ((*rest)[0].seq, 3);

  // A second opener of the same file (what `firstcome audit` does while the
  // server runs) sees the same records.
  auto second = OpenOrDie({.path = path});
  ASSERT_TRUE(second);
  EXPECT_EQ(ScanAll(*second).size(), 4u);
  ASSERT_TRUE(AppendNow(*second, MakeIssuance("ev", "from-second", 5)).status.ok());
  EXPECT_EQ(ScanAll(*log).size(), 5u);
  EXPECT_EQ((*reader)->Poll(10, milliseconds(2000))->size(), 1u);
}

// A file made by the version before (no incarnation and kind columns) keeps
// its records, read as issues of incarnation 0, and takes new records.
TEST(SqliteLogTest, MigratesAFileOfThePreviousVersion) {
  TempDir dir;
  const std::string path = dir.path() + "/log.db";
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "CREATE TABLE records(pos INTEGER PRIMARY KEY, event_id TEXT NOT NULL, "
                         "user_id TEXT NOT NULL, seq INTEGER NOT NULL, user_seq INTEGER NOT NULL, "
                         "issued_at INTEGER NOT NULL);"
                         "CREATE TABLE cursors(grp TEXT PRIMARY KEY, pos INTEGER NOT NULL);"
                         "INSERT INTO records VALUES(1, 'ev', 'old', 1, 1, 77);",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto log = OpenOrDie({.path = path});
  ASSERT_TRUE(log);
  Issuance revoke = MakeIssuance("ev", "old", 1);
  revoke.issued_at = 77;
  revoke.incarnation = 0;
  revoke.kind = RecordKind::kRevoke;
  ASSERT_TRUE(AppendNow(*log, revoke).status.ok());
  auto records = ScanAll(*log);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].user_id, "old");
  EXPECT_EQ(records[0].kind, RecordKind::kIssue);
  EXPECT_EQ(records[0].incarnation, 0);
  EXPECT_EQ(records[1].kind, RecordKind::kRevoke);
  EXPECT_EQ(records[1].issued_at, 77);
}

TEST(SqliteLogTest, RejectsBadOptions) {
  EXPECT_FALSE(OpenSqliteLog({.path = ""}).ok());
  EXPECT_FALSE(OpenSqliteLog({.path = "/nonexistent-dir/x/log.db"}).ok());
}

}  // namespace
}  // namespace firstcome
