// SqliteStore on real SQLite files in temporary folders: events, batched
// inserts with duplicates and conflicts, a trigger refusing single records,
// a locked database (another connection in BEGIN EXCLUSIVE), the failed-event
// lifecycle, concurrent callers and insert throughput.
#include "store/sqlite_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
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

void Sql(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  EXPECT_EQ(rc, SQLITE_OK) << (err != nullptr ? err : "");
  sqlite3_free(err);
  sqlite3_close(db);
}

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = OpenSqliteStore({.path = path(), .busy_timeout = milliseconds(200)});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    ASSERT_TRUE(store_->Migrate().ok());
    ASSERT_TRUE(store_->Migrate().ok()) << "Migrate is idempotent";
  }
  // The store keeps rows only of events it holds (incarnation 0, as
  // MakeIssuance's records).
  void Have(std::initializer_list<const char*> ids) {
    for (const char* id : ids) {
      Status s = store_->CreateEvent(test::MakeEvent(id, kMaxTotal));
      ASSERT_TRUE(s.ok()) << s.ToString();
    }
  }
  std::string path() const { return dir_.path() + "/store.db"; }

  TempDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(SqliteStoreTest, Events) {
  Event e;
  e.id = "drop-1";
  e.name = "Drop";
  e.total = 100;
  e.per_user = 2;
  e.starts_at = 1000;
  e.created_at = 5;
  ASSERT_TRUE(store_->CreateEvent(e).ok());
  EXPECT_EQ(store_->CreateEvent(e).code(), Status::Code::kExists);
  auto got = store_->GetEvent("drop-1");
  ASSERT_TRUE(got.ok());
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->name, "Drop");
  EXPECT_EQ((*got)->total, 100);
  EXPECT_EQ((*got)->per_user, 2);
  EXPECT_EQ((*got)->starts_at, std::optional<UnixMillis>(1000));
  EXPECT_FALSE((*got)->ends_at.has_value());
  EXPECT_FALSE(store_->GetEvent("nope")->has_value());
  Event e2 = e;
  e2.id = "drop-2";
  e2.created_at = 6;
  ASSERT_TRUE(store_->CreateEvent(e2).ok());
  auto all = store_->ListEvents();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[1].id, "drop-2");
  EXPECT_TRUE(store_->Health().ok());
}

TEST_F(SqliteStoreTest, InsertsDuplicatesAndConflicts) {
  Have({"ev", "other"});
  std::vector<Issuance> batch = {MakeIssuance("ev", "a", 1), MakeIssuance("ev", "b", 2),
                                 MakeIssuance("ev", "c", 3)};
  auto first = store_->InsertCoupons(batch);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->inserted, 3);
  EXPECT_EQ(first->duplicates, 0);
  EXPECT_TRUE(first->failed.empty());

  std::vector<Issuance> second = {
      MakeIssuance("ev", "a", 1),      // redelivery: duplicate
      MakeIssuance("ev", "x", 2),      // seq 2 belongs to b: conflict
      MakeIssuance("ev", "c", 9),      // c already has user_seq 1 (as seq 3): conflict
      MakeIssuance("ev", "d", 4),      // new
      MakeIssuance("other", "a", 1)};  // another event: new
  auto out = store_->InsertCoupons(second);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->inserted, 2);
  EXPECT_EQ(out->duplicates, 1);
  ASSERT_EQ(out->failed.size(), 2u);
  EXPECT_EQ(out->failed[0].index, 1u);
  EXPECT_NE(out->failed[0].error.find("conflict"), std::string::npos) << out->failed[0].error;
  EXPECT_NE(out->failed[0].error.find("'b'"), std::string::npos) << out->failed[0].error;
  EXPECT_EQ(out->failed[1].index, 2u);

  std::vector<std::int64_t> seqs;
  ASSERT_TRUE(store_->ScanCoupons("ev", [&](const Issuance& i) { seqs.push_back(i.seq); }).ok());
  EXPECT_EQ(seqs, (std::vector<std::int64_t>{1, 2, 3, 4}));
  EXPECT_EQ(store_->CountsOf("ev")->persisted, 4);
  auto mine = store_->CouponsOfUser("ev", "b");
  ASSERT_EQ(mine->size(), 1u);
  EXPECT_EQ((*mine)[0].seq, 2);
  EXPECT_EQ((*mine)[0].coupon_id, CouponId("ev", 2));
  EXPECT_EQ((*mine)[0].state, CouponState::kPersisted);
}

TEST_F(SqliteStoreTest, TriggerRefusesSingleRecordsAndTheRestIsInserted) {
  Have({"ev"});
  Sql(path(),
      "CREATE TRIGGER refuse_bad BEFORE INSERT ON coupons WHEN NEW.user_id LIKE 'bad-%' "
      "BEGIN SELECT RAISE(ABORT, 'refused by the test trigger'); END;");
  std::vector<Issuance> batch;
  for (int i = 1; i <= 10; ++i)
    batch.push_back(MakeIssuance("ev", Name(i % 3 == 0 ? "bad-" : "ok-", i), i));
  auto out = store_->InsertCoupons(batch);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->inserted, 7);
  ASSERT_EQ(out->failed.size(), 3u);
  EXPECT_EQ(out->failed[0].index, 2u);
  EXPECT_NE(out->failed[0].error.find("refused by the test trigger"), std::string::npos);

  // A trigger that takes the whole transaction with it: the batch is redone
  // without that record.
  Sql(path(),
      "CREATE TRIGGER refuse_hard BEFORE INSERT ON coupons WHEN NEW.user_id = 'hard' "
      "BEGIN SELECT RAISE(ROLLBACK, 'rolled back by the test trigger'); END;");
  std::vector<Issuance> more = {MakeIssuance("ev", "ok-a", 11), MakeIssuance("ev", "hard", 12),
                                MakeIssuance("ev", "ok-b", 13)};
  auto out2 = store_->InsertCoupons(more);
  ASSERT_TRUE(out2.ok()) << out2.status().ToString();
  EXPECT_EQ(out2->inserted, 2);
  ASSERT_EQ(out2->failed.size(), 1u);
  EXPECT_EQ(out2->failed[0].index, 1u);
  EXPECT_EQ(store_->CountsOf("ev")->persisted, 9);
}

TEST_F(SqliteStoreTest, LockedDatabaseIsUnavailableAndInsertsNothing) {
  Have({"ev"});
  sqlite3* locker = nullptr;
  ASSERT_EQ(sqlite3_open(path().c_str(), &locker), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(locker, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);
  std::vector<Issuance> batch = {MakeIssuance("ev", "a", 1), MakeIssuance("ev", "b", 2)};
  auto started = std::chrono::steady_clock::now();
  auto out = store_->InsertCoupons(batch);
  EXPECT_LT(std::chrono::steady_clock::now() - started, milliseconds(3000))
      << "busy_timeout bounds";
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), Status::Code::kUnavailable);
  EXPECT_EQ(store_->RecordFailure(batch[0], "x", 0).code(), Status::Code::kUnavailable);
  ASSERT_EQ(sqlite3_exec(locker, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(locker);

  EXPECT_EQ(store_->CountsOf("ev")->persisted, 0);
  auto again = store_->InsertCoupons(batch);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->inserted, 2);
}

TEST_F(SqliteStoreTest, FailedEventLifecycle) {
  Have({"ev"});
  const Issuance bad = MakeIssuance("ev", "u1", 7);
  ASSERT_TRUE(store_->RecordFailure(bad, "first error", 100).ok());
  ASSERT_TRUE(store_->RecordFailure(bad, "second error", 150).ok());  // same (event, seq)
  auto all = store_->FailuresOf("ev");
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].error, "second error");
  EXPECT_EQ((*all)[0].attempts, 0);
  EXPECT_EQ((*all)[0].issuance.user_id, "u1");
  EXPECT_EQ((*all)[0].issuance.coupon_id, CouponId("ev", 7));
  EXPECT_EQ(store_->CountsOf("ev")->failed, 1);

  EXPECT_TRUE(store_->DueFailures(149, 10)->empty());
  auto due = store_->DueFailures(150, 10);
  ASSERT_EQ(due->size(), 1u);
  const std::int64_t id = (*due)[0].id;

  ASSERT_TRUE(store_->RescheduleFailure(id, "third error", 500, false).ok());
  auto after = store_->FailuresOf("ev");
  EXPECT_EQ((*after)[0].attempts, 1);
  EXPECT_EQ((*after)[0].next_attempt_at, 500);
  EXPECT_EQ(store_->RescheduleFailure(id + 1000, "x", 0, false).code(), Status::Code::kNotFound);

  // The user sees it as failed until it is persisted.
  auto mine = store_->CouponsOfUser("ev", "u1");
  ASSERT_EQ(mine->size(), 1u);
  EXPECT_EQ((*mine)[0].state, CouponState::kFailed);

  ASSERT_TRUE(store_->RescheduleFailure(id, "gave up", 600, true).ok());
  auto counts = store_->CountsOf("ev");
  EXPECT_EQ(counts->failed, 0);
  EXPECT_EQ(counts->dead, 1);
  EXPECT_TRUE(store_->DueFailures(1'000'000, 10)->empty()) << "dead ones are not due";

  // Persisting the coupon deletes its failed row in the same transaction.
  auto out = store_->InsertCoupons(std::span<const Issuance>(&bad, 1));
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->inserted, 1);
  counts = store_->CountsOf("ev");
  EXPECT_EQ(counts->persisted, 1);
  EXPECT_EQ(counts->failed, 0);
  EXPECT_EQ(counts->dead, 0);
  mine = store_->CouponsOfUser("ev", "u1");
  ASSERT_EQ(mine->size(), 1u);
  EXPECT_EQ((*mine)[0].state, CouponState::kPersisted);
  EXPECT_TRUE(store_->ResolveFailure(id).ok()) << "resolving a gone row is fine";

  // Due ones come oldest first.
  ASSERT_TRUE(store_->RecordFailure(MakeIssuance("ev", "u2", 8), "e", 300).ok());
  ASSERT_TRUE(store_->RecordFailure(MakeIssuance("ev", "u3", 9), "e", 200).ok());
  due = store_->DueFailures(1000, 10);
  ASSERT_EQ(due->size(), 2u);
  EXPECT_EQ((*due)[0].issuance.seq, 9);
  ASSERT_TRUE(store_->ResolveFailure((*due)[0].id).ok());
  EXPECT_EQ(store_->DueFailures(1000, 10)->size(), 1u);
}

TEST_F(SqliteStoreTest, ConcurrentCallersAndThroughput) {
  Have({"side", "perf"});
  constexpr int kRows = 200000;
  constexpr int kBatch = 5000;
  std::atomic<bool> done{false};
  std::atomic<int> reads{0};
  std::thread reader([&] {
    while (!done.load()) {
      ASSERT_TRUE(store_->CountsOf("perf").ok());
      ASSERT_TRUE(store_->CouponsOfUser("perf", "u-17").ok());
      ++reads;
    }
  });
  std::thread failures([&] {
    for (int i = 0; i < 200; ++i) {
      ASSERT_TRUE(store_->RecordFailure(MakeIssuance("side", Name("u", i), i + 1), "e", 0).ok());
    }
  });
  auto started = std::chrono::steady_clock::now();
  std::vector<Issuance> batch;
  for (int start = 0; start < kRows; start += kBatch) {
    batch.clear();
    for (int i = start; i < start + kBatch; ++i)
      batch.push_back(MakeIssuance("perf", Name("u-", i), i + 1));
    auto out = store_->InsertCoupons(batch);
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    ASSERT_EQ(out->inserted, kBatch);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  done = true;
  reader.join();
  failures.join();
  std::printf("[ perf ] %d rows in batches of %d: %.3f s = %.0f rows/s (%d concurrent reads)\n",
              kRows, kBatch, seconds, kRows / seconds, reads.load());
  EXPECT_EQ(store_->CountsOf("perf")->persisted, kRows);
  EXPECT_EQ(store_->CountsOf("side")->failed, 200);
}

}  // namespace
}  // namespace firstcome
