// RetryJob's schedule: the backoff doubles up to its bound and never wraps,
// even from the far-future "now" of an on-demand pass (UBSan found the signed
// overflow there), and an on-demand pass reschedules from the clock so the
// serving job still reaches what keeps failing. Real SQLite store.
#include "pipeline/retry_job.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <limits>

#include "store/sqlite_store.h"
#include "support/fixtures.h"

namespace firstcome {
namespace {

using std::chrono::milliseconds;
constexpr UnixMillis kFar = std::numeric_limits<UnixMillis>::max();

TEST(NextAttemptAt, DoublesUpToTheBound) {
  const RetryOptions o{.first_delay = milliseconds(1000), .max_delay = milliseconds(5000)};
  EXPECT_EQ(NextAttemptAt(o, 100, 1), 1100);
  EXPECT_EQ(NextAttemptAt(o, 100, 2), 2100);
  EXPECT_EQ(NextAttemptAt(o, 100, 3), 4100);
  EXPECT_EQ(NextAttemptAt(o, 100, 4), 5100);
  EXPECT_EQ(NextAttemptAt(o, 100, 1000000), 5100);
}

TEST(NextAttemptAt, SaturatesInsteadOfWrapping) {
  const RetryOptions o{.first_delay = milliseconds(1000), .max_delay = milliseconds(300000)};
  EXPECT_EQ(NextAttemptAt(o, kFar, 1), kFar);
  EXPECT_EQ(NextAttemptAt(o, kFar - 10, 5), kFar);
  const RetryOptions huge{.first_delay = milliseconds(kFar / 3), .max_delay = milliseconds(kFar)};
  EXPECT_EQ(NextAttemptAt(huge, 0, 3), kFar) << "the doubling saturates at max_delay";
  EXPECT_EQ(NextAttemptAt(huge, 5, 64), kFar);
  const RetryOptions odd{.first_delay = milliseconds(-5), .max_delay = milliseconds(10)};
  EXPECT_EQ(NextAttemptAt(odd, 7, 3), 7) << "a negative delay counts as none";
}

TEST(RetryJob, OnDemandPassReschedulesFromTheClock) {
  test::TempDir dir;
  const std::string path = dir.path() + "/store.db";
  auto opened = OpenSqliteStore({.path = path});
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  auto store = std::move(opened).value();
  ASSERT_TRUE(store->Migrate().ok());
  ASSERT_TRUE(store->CreateEvent(Event{.id = "ev", .total = 10}).ok());
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "CREATE TRIGGER refuse BEFORE INSERT ON coupons "
                         "BEGIN SELECT RAISE(ABORT, 'refused'); END;",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  const Issuance issuance = test::MakeIssuance("ev", "u", 1);
  ASSERT_TRUE(store->RecordFailure(issuance, "refused", 0).ok());

  RetryJob job(*store, {.first_delay = milliseconds(1000), .max_attempts = 100});
  const UnixMillis before = NowMillis();
  auto round = job.RunOnce(kFar, NowMillis());
  ASSERT_TRUE(round.ok()) << round.status().ToString();
  EXPECT_EQ(round->rescheduled, 1);
  auto failures = store->FailuresOf("ev");
  ASSERT_TRUE(failures.ok());
  ASSERT_EQ(failures->size(), 1u);
  const UnixMillis next = failures->front().next_attempt_at;
  EXPECT_GE(next, before + 1000);
  EXPECT_LE(next, NowMillis() + 300000) << "within the serving job's reach";

  // The single-argument pass schedules from its own "now": saturated, still due.
  round = job.RunOnce(kFar);
  ASSERT_TRUE(round.ok());
  EXPECT_EQ(round->rescheduled, 1);
  failures = store->FailuresOf("ev");
  ASSERT_TRUE(failures.ok());
  EXPECT_EQ(failures->front().next_attempt_at, kFar);
  round = job.RunOnce(kFar);
  ASSERT_TRUE(round.ok());
  EXPECT_EQ(round->rescheduled, 1) << "a saturated schedule is due at the far future";
}

}  // namespace
}  // namespace firstcome
