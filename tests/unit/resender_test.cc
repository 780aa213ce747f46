// Resender on the real embedded Log (a SQLite file in a temporary folder).
// The fault is real too: another connection holds the database's write lock,
// so appends fail until it lets go.
#include "pipeline/resender.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <thread>

#include "log/sqlite_log.h"
#include "support/fixtures.h"

namespace firstcome {
namespace {

using std::chrono::milliseconds;
using test::MakeIssuance;
using test::TempDir;

class ResenderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto log = OpenSqliteLog({.path = path(), .busy_timeout = milliseconds(20)});
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    log_ = std::move(log).value();
  }
  void TearDown() override { Unlock(); }
  std::string path() const { return dir_.path() + "/log.db"; }

  // Takes the write lock from another connection: every append fails.
  void Lock() {
    ASSERT_EQ(sqlite3_open(path().c_str(), &locker_), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(locker_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  }
  void Unlock() {
    if (locker_ == nullptr) return;
    sqlite3_exec(locker_, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(locker_);
    locker_ = nullptr;
  }
  int Logged() {
    int n = 0;
    EXPECT_TRUE(log_->Scan("ev", [&n](const Issuance&) { ++n; }).ok());
    return n;
  }
  static bool WaitFor(const std::function<bool()>& done,
                      milliseconds timeout = milliseconds(5000)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(milliseconds(5));
    }
    return true;
  }

  TempDir dir_;
  std::unique_ptr<Log> log_;
  sqlite3* locker_ = nullptr;
};

TEST_F(ResenderTest, AppendsAgainUntilTheLogConfirms) {
  Lock();
  Resender resender(*log_, {.first_backoff = milliseconds(10), .max_backoff = milliseconds(40)});
  for (int seq = 1; seq <= 3; ++seq) ASSERT_TRUE(resender.Add(MakeIssuance("ev", seq)));
  std::this_thread::sleep_for(milliseconds(200));  // several failed rounds
  EXPECT_EQ(resender.waiting(), 3);
  EXPECT_EQ(resender.confirmed_total(), 0);
  Unlock();
  ASSERT_TRUE(WaitFor([&] { return resender.waiting() == 0; }));
  EXPECT_EQ(resender.confirmed_total(), 3);
  EXPECT_EQ(resender.dropped_total(), 0);
  EXPECT_EQ(Logged(), 3);
}

TEST_F(ResenderTest, StopWithGraceStillConfirmsWhatTheLogTakesInTime) {
  Lock();
  Resender resender(*log_, {.first_backoff = milliseconds(10), .max_backoff = milliseconds(40)});
  ASSERT_TRUE(resender.Add(MakeIssuance("ev", 1)));
  ASSERT_TRUE(resender.Add(MakeIssuance("ev", 2)));
  std::thread unlock([this] {
    std::this_thread::sleep_for(milliseconds(150));
    Unlock();
  });
  resender.Stop(milliseconds(5000));
  unlock.join();
  EXPECT_EQ(resender.confirmed_total(), 2);
  EXPECT_EQ(resender.dropped_total(), 0);
  EXPECT_EQ(Logged(), 2);
  EXPECT_FALSE(resender.Add(MakeIssuance("ev", 3))) << "a stopped resender takes nothing";
  EXPECT_EQ(resender.dropped_total(), 1);
}

TEST_F(ResenderTest, StopWithoutGraceLeavesTheRestToAudit) {
  Lock();
  Resender resender(*log_, {.first_backoff = milliseconds(10), .max_backoff = milliseconds(40)});
  for (int seq = 1; seq <= 4; ++seq) ASSERT_TRUE(resender.Add(MakeIssuance("ev", seq)));
  std::this_thread::sleep_for(milliseconds(50));
  resender.Stop(milliseconds(0));
  EXPECT_EQ(resender.waiting(), 0);
  EXPECT_EQ(resender.confirmed_total(), 0);
  EXPECT_EQ(resender.dropped_total(), 4);
  Unlock();
  EXPECT_EQ(Logged(), 0);
}

TEST_F(ResenderTest, QueueIsBounded) {
  Lock();
  Resender resender(*log_, {.first_backoff = milliseconds(10),
                            .max_backoff = milliseconds(40),
                            .max_records = 2,
                            .batch = 1});
  int refused = 0;
  for (int seq = 1; seq <= 6; ++seq) refused += resender.Add(MakeIssuance("ev", seq)) ? 0 : 1;
  // At most 2 queued plus 1 in a round.
  EXPECT_GE(refused, 3);
  EXPECT_EQ(resender.dropped_total(), refused);
  Unlock();
  ASSERT_TRUE(WaitFor([&] { return resender.waiting() == 0; }));
  EXPECT_EQ(resender.confirmed_total(), 6 - refused);
  EXPECT_EQ(Logged(), 6 - refused);
}

}  // namespace
}  // namespace firstcome
