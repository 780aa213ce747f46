// The Store port's contract (src/store/store.h), one suite run against every
// implementation: SqliteStore on a temporary file and MysqlStore on a private
// MariaDB started through scripts/services (tests/support/services.h).
//
// Starts: one mariadbd for the whole binary (port chosen at random, data in a
// temporary folder, stopped at exit). The MariaDB-only cases at the end stop,
// freeze and restart that server to check that the store answers kUnavailable
// within its timeout and recovers with the same object.
//
// MariaDB runs twice: with the bulk executions MysqlStore uses on MariaDB
// and with the multi-row INSERTs a MySQL server gets (mariadb_multirow).
// Records refused one by one are made real with triggers (SQLite: RAISE(ABORT);
// MariaDB: SIGNAL SQLSTATE '45000'); both refuse user ids starting "refused".
// The fixture is store_contract_fixture.h; changing and deleting events and
// revoking coupons are store_lifecycle_test.cc's.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "store/mysql_store.h"
#include "store/sqlite_store.h"
#include "store/store.h"
#include "store_contract_fixture.h"
#include "support/fixtures.h"
#include "support/process.h"
#include "support/services.h"

namespace firstcome {
namespace {

using test::FreezeProcess;
using test::MakeEvent;
using test::MakeIssuance;
using test::MakeIssuances;
using test::MariadbSql;
using test::RunShell;
using test::Services;
using test::SharedService;
using test::ThawProcess;
using Clock = std::chrono::steady_clock;

using test::Backend;
using test::Mariadb;
using test::MariadbBackend;
using test::StoreContractTest;

TEST_P(StoreContractTest, MigrateIsIdempotent) {
  EXPECT_TRUE(store_->Migrate().ok());
  EXPECT_TRUE(store_->Migrate().ok());
  EXPECT_TRUE(store_->Health().ok());
  // A second store object on the same database migrates too (a restart).
  ASSERT_TRUE(store_->CreateEvent(MakeEvent("kept", 10)).ok());
  auto again = backend_->Reopen();
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE((*again)->Migrate().ok());
  auto kept = (*again)->GetEvent("kept");
  ASSERT_TRUE(kept.ok());
  EXPECT_TRUE(kept->has_value());
}

TEST_P(StoreContractTest, EventsCreateExistsGetList) {
  Event a = MakeEvent("ev-a", 100, 2);
  a.starts_at = 1'800'000'000'000;
  a.ends_at = 1'800'000'360'000;
  Event b = MakeEvent("ev-b", 5);
  b.created_at = a.created_at + 1;
  ASSERT_TRUE(store_->CreateEvent(a).ok());
  ASSERT_TRUE(store_->CreateEvent(b).ok());
  EXPECT_EQ(store_->CreateEvent(a).code(), Status::Code::kExists);

  auto got = store_->GetEvent("ev-a");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->id, a.id);
  EXPECT_EQ((*got)->name, a.name);
  EXPECT_EQ((*got)->total, 100);
  EXPECT_EQ((*got)->per_user, 2);
  EXPECT_EQ((*got)->starts_at, a.starts_at);
  EXPECT_EQ((*got)->ends_at, a.ends_at);
  EXPECT_EQ((*got)->created_at, a.created_at);
  auto got_b = store_->GetEvent("ev-b");
  ASSERT_TRUE(got_b.ok() && got_b->has_value());
  EXPECT_FALSE((*got_b)->starts_at.has_value());
  EXPECT_FALSE((*got_b)->ends_at.has_value());

  auto missing = store_->GetEvent("no-such-event");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());

  auto list = store_->ListEvents();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].id, "ev-a");
  EXPECT_EQ((*list)[1].id, "ev-b");
}

TEST_P(StoreContractTest, InsertsArePersistedAndCounted) {
  Have({"ev"});
  auto batch = MakeIssuances("ev", 1, 1000);
  std::shuffle(batch.begin(), batch.end(), std::mt19937(7));
  auto out = store_->InsertCoupons(batch);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->inserted, 1000);
  EXPECT_EQ(out->duplicates, 0);
  EXPECT_TRUE(out->failed.empty());
  EXPECT_EQ(Counts("ev").persisted, 1000);
  EXPECT_EQ(Counts("other").persisted, 0);

  auto empty = store_->InsertCoupons({});
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->inserted, 0);
}

TEST_P(StoreContractTest, DuplicatesAreSuccessAndCreateNoRow) {
  Have({"ev"});
  auto batch = MakeIssuances("ev", 1, 700);
  ASSERT_TRUE(store_->InsertCoupons(batch).ok());

  auto again = store_->InsertCoupons(batch);  // a redelivery
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->inserted, 0);
  EXPECT_EQ(again->duplicates, 700);
  EXPECT_TRUE(again->failed.empty());

  // Half old, half new, plus one record twice in the same batch.
  auto mixed = MakeIssuances("ev", 351, 700);
  mixed.push_back(mixed.back());
  auto out = store_->InsertCoupons(mixed);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->inserted, 350);
  EXPECT_EQ(out->duplicates, 351);
  EXPECT_TRUE(out->failed.empty());
  EXPECT_EQ(Counts("ev").persisted, 1050);
  EXPECT_EQ(Scan("ev").size(), 1050u);
}

TEST_P(StoreContractTest, ConflictsAreFailures) {
  Have({"ev"});
  ASSERT_TRUE(store_->InsertCoupons(std::vector{MakeIssuance("ev", "alice", 1)}).ok());
  std::vector<Issuance> batch = {
      MakeIssuance("ev", "bob", 2),
      MakeIssuance("ev", "mallory", 1),  // seq 1 belongs to alice
      MakeIssuance("ev", "carol", 3),
      MakeIssuance("ev", "alice", 4),  // alice's user_seq 1 is seq 1
      MakeIssuance("ev", "alice", 1),  // the same record: a duplicate
  };
  auto out = store_->InsertCoupons(batch);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->inserted, 2);
  EXPECT_EQ(out->duplicates, 1);
  ASSERT_EQ(out->failed.size(), 2u);
  std::vector<std::size_t> idx = {out->failed[0].index, out->failed[1].index};
  std::sort(idx.begin(), idx.end());
  EXPECT_EQ(idx, (std::vector<std::size_t>{1, 3}));
  for (const auto& f : out->failed)
    EXPECT_NE(f.error.find("conflict"), std::string::npos) << f.error;

  auto rows = Scan("ev");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].user_id, "alice");
  EXPECT_EQ(rows[1].user_id, "bob");
  EXPECT_EQ(rows[2].user_id, "carol");
}

TEST_P(StoreContractTest, RecordRefusedByTriggerFailsAloneRestIsInserted) {
  Have({"ev"});
  ASSERT_TRUE(backend_->InstallRefusingTrigger());
  auto batch = MakeIssuances("ev", 1, 600);
  const std::vector<std::size_t> refused = {0, 17, 555};
  for (std::size_t i : refused) batch[i].user_id = "refused-" + std::to_string(i);
  auto out = store_->InsertCoupons(batch);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->inserted, 597);
  EXPECT_EQ(out->duplicates, 0);
  ASSERT_EQ(out->failed.size(), refused.size());
  for (std::size_t k = 0; k < refused.size(); ++k) {
    EXPECT_EQ(out->failed[k].index, refused[k]);
    EXPECT_NE(out->failed[k].error.find("refused by trigger"), std::string::npos)
        << out->failed[k].error;
  }
  EXPECT_EQ(Counts("ev").persisted, 597);
  auto rows = Scan("ev");
  EXPECT_TRUE(std::none_of(rows.begin(), rows.end(),
                           [](const Issuance& i) { return i.user_id.starts_with("refused"); }));
}

TEST_P(StoreContractTest, FailedEventLifecycle) {
  Have({"ev"});
  const UnixMillis t0 = 1'900'000'000'000;
  Issuance a = MakeIssuance("ev", "ann", 10), b = MakeIssuance("ev", "ben", 11),
           c = MakeIssuance("ev", "cat", 12);
  ASSERT_TRUE(store_->RecordFailure(a, "boom", t0 + 100).ok());
  ASSERT_TRUE(store_->RecordFailure(b, "bang", t0 + 1000).ok());
  ASSERT_TRUE(store_->RecordFailure(c, "crash", t0 + 500).ok());
  // Recording the same coupon again updates it; no second row.
  ASSERT_TRUE(store_->RecordFailure(a, "boom again", t0 + 100).ok());
  EXPECT_EQ(Counts("ev").failed, 3);

  auto due = store_->DueFailures(t0 + 600, 10);
  ASSERT_TRUE(due.ok()) << due.status().ToString();
  ASSERT_EQ(due->size(), 2u);  // a (t0+100) then c (t0+500); b is not due
  EXPECT_EQ((*due)[0].issuance.user_id, "ann");
  EXPECT_EQ((*due)[0].issuance.seq, 10);
  EXPECT_EQ((*due)[0].issuance.coupon_id, a.coupon_id);
  EXPECT_EQ((*due)[0].issuance.issued_at, a.issued_at);
  EXPECT_EQ((*due)[0].error, "boom again");
  EXPECT_EQ((*due)[0].attempts, 0);
  EXPECT_FALSE((*due)[0].dead);
  EXPECT_EQ((*due)[1].issuance.user_id, "cat");
  const std::int64_t id_a = (*due)[0].id, id_c = (*due)[1].id;

  auto limited = store_->DueFailures(t0 + 600, 1);
  ASSERT_TRUE(limited.ok());
  ASSERT_EQ(limited->size(), 1u);
  EXPECT_EQ((*limited)[0].id, id_a);

  ASSERT_TRUE(store_->RescheduleFailure(id_a, "still failing", t0 + 5000, false).ok());
  ASSERT_TRUE(store_->RescheduleFailure(id_c, "gave up", t0 + 5000, true).ok());
  due = store_->DueFailures(t0 + 2000, 10);
  ASSERT_TRUE(due.ok());
  ASSERT_EQ(due->size(), 1u);
  EXPECT_EQ((*due)[0].issuance.user_id, "ben");
  due = store_->DueFailures(t0 + 9000, 10);
  ASSERT_TRUE(due.ok());
  ASSERT_EQ(due->size(), 2u);  // ben (t0+1000), ann (t0+5000); cat is dead
  EXPECT_EQ((*due)[1].id, id_a);
  EXPECT_EQ((*due)[1].attempts, 1);
  EXPECT_EQ((*due)[1].error, "still failing");
  EXPECT_EQ((*due)[1].next_attempt_at, t0 + 5000);

  EventCounts counts = Counts("ev");
  EXPECT_EQ(counts.failed, 2);
  EXPECT_EQ(counts.dead, 1);
  auto all = store_->FailuresOf("ev");
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_TRUE(std::any_of(all->begin(), all->end(),
                          [&](const FailedEvent& f) { return f.id == id_c && f.dead; }));

  // Resolving removes it.
  ASSERT_TRUE(store_->ResolveFailure(id_a).ok());
  EXPECT_EQ(Counts("ev").failed, 1);
  // Persisting a failed coupon removes its pending row in the same step;
  // resolving it afterwards (what the retry job does) is still fine.
  auto out = store_->InsertCoupons(std::vector{b});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->inserted, 1);
  counts = Counts("ev");
  EXPECT_EQ(counts.persisted, 1);
  EXPECT_EQ(counts.failed, 0);
  EXPECT_EQ(counts.dead, 1);
  auto left = store_->FailuresOf("ev");
  ASSERT_TRUE(left.ok());
  ASSERT_EQ(left->size(), 1u);
  EXPECT_EQ((*left)[0].id, id_c);
  for (const auto& f : *all) {
    if (f.issuance.user_id == "ben") {
      EXPECT_TRUE(store_->ResolveFailure(f.id).ok());
    }
  }
}

TEST_P(StoreContractTest, CouponsOfUserListsPersistedAndFailed) {
  Have({"ev"});
  ASSERT_TRUE(store_
                  ->InsertCoupons(std::vector{MakeIssuance("ev", "dora", 3, 1),
                                              MakeIssuance("ev", "dora", 9, 2),
                                              MakeIssuance("ev", "eve", 4, 1)})
                  .ok());
  ASSERT_TRUE(store_->RecordFailure(MakeIssuance("ev", "dora", 5, 3), "later", NowMillis()).ok());
  auto mine = store_->CouponsOfUser("ev", "dora");
  ASSERT_TRUE(mine.ok()) << mine.status().ToString();
  ASSERT_EQ(mine->size(), 3u);
  std::vector<StoredCoupon> sorted = *mine;
  std::sort(sorted.begin(), sorted.end(), [](auto& x, auto& y) { return x.seq < y.seq; });
  EXPECT_EQ(sorted[0].seq, 3);
  EXPECT_EQ(sorted[0].user_seq, 1);
  EXPECT_EQ(sorted[0].coupon_id, CouponId("ev", 3));
  EXPECT_EQ(sorted[0].state, CouponState::kPersisted);
  EXPECT_EQ(sorted[1].seq, 5);
  EXPECT_EQ(sorted[1].state, CouponState::kFailed);
  EXPECT_EQ(sorted[2].seq, 9);
  EXPECT_EQ(sorted[2].user_seq, 2);
  EXPECT_EQ(sorted[2].state, CouponState::kPersisted);

  auto nobody = store_->CouponsOfUser("ev", "nobody");
  ASSERT_TRUE(nobody.ok());
  EXPECT_TRUE(nobody->empty());
  auto other_event = store_->CouponsOfUser("other", "dora");
  ASSERT_TRUE(other_event.ok());
  EXPECT_TRUE(other_event->empty());
}

TEST_P(StoreContractTest, ScanCouponsInSeqOrderPerEvent) {
  Have({"ev-a", "ev-b"});
  auto a = MakeIssuances("ev-a", 1, 5000);
  auto b = MakeIssuances("ev-b", 1, 300);
  std::vector<Issuance> all = a;
  all.insert(all.end(), b.begin(), b.end());
  std::shuffle(all.begin(), all.end(), std::mt19937(11));
  for (std::size_t i = 0; i < all.size(); i += 1000) {
    std::span<const Issuance> part(all.data() + i, std::min<std::size_t>(1000, all.size() - i));
    ASSERT_TRUE(store_->InsertCoupons(part).ok());
  }
  auto rows = Scan("ev-a");
  ASSERT_EQ(rows.size(), 5000u);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    ASSERT_EQ(rows[i].seq, static_cast<std::int64_t>(i + 1));
    ASSERT_EQ(rows[i].event_id, "ev-a");
    ASSERT_EQ(rows[i].user_id, a[i].user_id);
    ASSERT_EQ(rows[i].user_seq, a[i].user_seq);
    ASSERT_EQ(rows[i].coupon_id, a[i].coupon_id);
    ASSERT_EQ(rows[i].issued_at, a[i].issued_at);
  }
  EXPECT_EQ(Scan("ev-b").size(), 300u);
  EXPECT_TRUE(Scan("none").empty());
}

TEST_P(StoreContractTest, Throughput20000RowBatch) {
  Have({"ev-big", "ev-512"});
  auto big = MakeIssuances("ev-big", 1, 20000);
  auto start = Clock::now();
  auto out = store_->InsertCoupons(big);
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->inserted, 20000);

  // The consumer's shape: batches of 512 rows, one transaction each.
  auto more = MakeIssuances("ev-512", 1, 20480);
  start = Clock::now();
  for (std::size_t i = 0; i < more.size(); i += 512) {
    auto part = store_->InsertCoupons(std::span<const Issuance>(more.data() + i, 512));
    ASSERT_TRUE(part.ok()) << part.status().ToString();
  }
  double seconds_512 = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("[ %s ] one 20000-row batch: %.0f rows/s (%.1f ms); 40 batches of 512: %.0f rows/s\n",
              GetParam().c_str(), 20000 / seconds, seconds * 1000, 20480 / seconds_512);
  RecordProperty("rows_per_second_20000", static_cast<int>(20000 / seconds));
  RecordProperty("rows_per_second_512", static_cast<int>(20480 / seconds_512));
  EXPECT_EQ(Counts("ev-big").persisted, 20000);
  EXPECT_EQ(Counts("ev-512").persisted, 20480);
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreContractTest,
                         ::testing::Values("sqlite", "mariadb", "mariadb_multirow"),
                         [](const auto& info) { return info.param; });

// MariaDB outages: the same store object answers kUnavailable within its
// timeout while the server is down or frozen, and works again afterwards.
class MariadbOutageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MariadbBackend backend;
    auto store = backend.Open();
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    ASSERT_TRUE(store_->Migrate().ok());
    ASSERT_TRUE(store_->CreateEvent(MakeEvent("ev", 100000)).ok());
    ASSERT_TRUE(store_->InsertCoupons(MakeIssuances("ev", 1, 100)).ok());
  }

  // Every kind of call must fail fast with kUnavailable.
  void ExpectUnavailableWithin(std::chrono::milliseconds limit) {
    auto batch = MakeIssuances("ev", 1000, 50);
    auto check = [&](const char* what, auto&& call) {
      auto start = Clock::now();
      Status s = call();
      auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
      EXPECT_EQ(s.code(), Status::Code::kUnavailable) << what << ": " << s.ToString();
      EXPECT_LE(took.count(), limit.count()) << what << " took " << took.count() << " ms";
    };
    check("Health", [&] { return store_->Health(); });
    check("InsertCoupons", [&] { return store_->InsertCoupons(batch).status(); });
    check("CountsOf", [&] { return store_->CountsOf("ev").status(); });
    check("GetEvent", [&] { return store_->GetEvent("ev").status(); });
    check("RecordFailure", [&] { return store_->RecordFailure(batch[0], "x", 0); });
    check("ScanCoupons", [&] { return store_->ScanCoupons("ev", [](const Issuance&) {}); });
  }

  void ExpectWorksAgain() {
    // The very first call after the restart already works: connections from
    // before the outage were retired when the first of them broke.
    EXPECT_TRUE(store_->Health().ok());
    auto out = store_->InsertCoupons(MakeIssuances("ev", 1, 200));
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    EXPECT_EQ(out->inserted, 100);
    EXPECT_EQ(out->duplicates, 100);
    auto counts = store_->CountsOf("ev");
    ASSERT_TRUE(counts.ok());
    EXPECT_EQ(counts->persisted, 200);  // nothing of the refused batch went in
  }

  std::unique_ptr<Store> store_;  // timeout 3000 ms (the default)
};

TEST_F(MariadbOutageTest, StoppedServerThenRestarted) {
  ASSERT_TRUE(Mariadb().Stop("mariadb"));
  ExpectUnavailableWithin(std::chrono::milliseconds(3500));
  ASSERT_TRUE(Mariadb().Start("mariadb"));
  ExpectWorksAgain();
}

TEST_F(MariadbOutageTest, FrozenServerTimesOut) {
  // SIGSTOP: the socket stays open but nothing answers; only the client's
  // read/write timeouts end the calls.
  std::string pid;
  ASSERT_EQ(RunShell("cat " + Mariadb().dir() + "/mariadb/mariadb.pid", &pid), 0);
  pid.erase(pid.find_last_not_of(" \n") + 1);
  ASSERT_TRUE(FreezeProcess(std::stoi(pid)));
  auto start = Clock::now();
  Status s = store_->Health();
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  auto counts = store_->CountsOf("ev");
  ThawProcess(std::stoi(pid));
  EXPECT_EQ(s.code(), Status::Code::kUnavailable) << s.ToString();
  EXPECT_LE(took.count(), 3 * 3000 + 500) << "Health took " << took.count() << " ms";
  EXPECT_EQ(counts.status().code(), Status::Code::kUnavailable);
  std::printf("[ mariadb ] frozen server: Health answered %s after %lld ms\n", s.ToString().c_str(),
              static_cast<long long>(took.count()));
  ExpectWorksAgain();
}

}  // namespace
}  // namespace firstcome
