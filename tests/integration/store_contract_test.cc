// The Store port's contract (src/store/store.h), one suite run against every
// implementation: SqliteStore on a temporary file and MysqlStore on a private
// MariaDB started through scripts/services (tests/support/services.h).
//
// Starts: one mariadbd for the whole binary (port chosen at random, data in a
// temporary folder, stopped at exit). The MariaDB-only cases at the end stop,
// freeze and restart that server to check that the store answers kUnavailable
// within its timeout and recovers with the same object.
//
// Records refused one by one are made real with triggers (SQLite: RAISE(ABORT);
// MariaDB: SIGNAL SQLSTATE '45000'); both refuse user ids starting "refused".
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

Services& Mariadb() { return SharedService("mariadb"); }

// What differs between the implementations under test.
class Backend {
 public:
  virtual ~Backend() = default;
  // A store on an empty database.
  virtual Result<std::unique_ptr<Store>> Open() = 0;
  // Another store object on the same database (a restarted process).
  virtual Result<std::unique_ptr<Store>> Reopen() = 0;
  // Installs a trigger refusing coupons of users whose id starts "refused".
  virtual bool InstallRefusingTrigger() = 0;
  // Replaces the database by the tables of the version before events could
  // change (no closed/incarnation/version, no revocations), with one event
  // "old" and one failed event of it.
  virtual bool InstallPreviousSchema() = 0;
};

// The tables as the version before event lifecycles made them.
constexpr char kPreviousSqliteSchema[] = R"sql(
CREATE TABLE events(id TEXT PRIMARY KEY, name TEXT NOT NULL, total INTEGER NOT NULL,
  per_user INTEGER NOT NULL, starts_at INTEGER, ends_at INTEGER, created_at INTEGER NOT NULL);
CREATE TABLE coupons(event_id TEXT NOT NULL, seq INTEGER NOT NULL, user_id TEXT NOT NULL,
  user_seq INTEGER NOT NULL, coupon_id TEXT NOT NULL, issued_at INTEGER NOT NULL,
  persisted_at INTEGER NOT NULL, UNIQUE(event_id, seq), UNIQUE(event_id, user_id, user_seq));
CREATE TABLE failed_events(id INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL,
  seq INTEGER NOT NULL, user_id TEXT NOT NULL, user_seq INTEGER NOT NULL,
  coupon_id TEXT NOT NULL, issued_at INTEGER NOT NULL, error TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER NOT NULL,
  dead INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
  UNIQUE(event_id, seq));
INSERT INTO events VALUES('old', 'Old', 10, 1, NULL, NULL, 1);
INSERT INTO failed_events(event_id, seq, user_id, user_seq, coupon_id, issued_at, error,
  next_attempt_at, created_at, updated_at) VALUES('old', 3, 'u', 1, 'old-3', 5, 'e', 0, 1, 1);
)sql";

class SqliteBackend : public Backend {
 public:
  Result<std::unique_ptr<Store>> Open() override {
    return OpenSqliteStore({.path = dir_.path() + "/store.db"});
  }
  Result<std::unique_ptr<Store>> Reopen() override { return Open(); }
  bool InstallRefusingTrigger() override {
    sqlite3* db = nullptr;
    bool ok = sqlite3_open((dir_.path() + "/store.db").c_str(), &db) == SQLITE_OK;
    char* error = nullptr;
    ok = ok && sqlite3_exec(db,
                            "CREATE TRIGGER refuse_users BEFORE INSERT ON coupons "
                            "WHEN NEW.user_id LIKE 'refused%' "
                            "BEGIN SELECT RAISE(ABORT, 'user refused by trigger'); END;",
                            nullptr, nullptr, &error) == SQLITE_OK;
    if (error) std::fprintf(stderr, "sqlite trigger: %s\n", error);
    sqlite3_free(error);
    sqlite3_close(db);
    return ok;
  }
  bool InstallPreviousSchema() override {
    std::filesystem::remove(dir_.path() + "/store.db");
    sqlite3* db = nullptr;
    bool ok = sqlite3_open((dir_.path() + "/store.db").c_str(), &db) == SQLITE_OK;
    ok = ok && sqlite3_exec(db, kPreviousSqliteSchema, nullptr, nullptr, nullptr) == SQLITE_OK;
    sqlite3_close(db);
    return ok;
  }

 private:
  test::TempDir dir_;
};

class MariadbBackend : public Backend {
 public:
  Result<std::unique_ptr<Store>> Open() override {
    if (!Mariadb().ok()) return Status::Unavailable("mariadb service did not start");
    if (MariadbSql("DROP TABLE IF EXISTS coupons, failed_events, events, revocations, "
                   "events_generation;") != 0) {
      return Status::Unavailable("could not empty the database");
    }
    return Reopen();
  }
  Result<std::unique_ptr<Store>> Reopen() override {
    return OpenMysqlStore({.url = Mariadb().env("FIRSTCOME_MYSQL_URL"), .connections = 4});
  }
  bool InstallRefusingTrigger() override {
    return MariadbSql(
               "DELIMITER //\n"
               "CREATE TRIGGER refuse_users BEFORE INSERT ON coupons FOR EACH ROW BEGIN\n"
               "  IF NEW.user_id LIKE 'refused%' THEN\n"
               "    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'user refused by trigger';\n"
               "  END IF;\n"
               "END //\n"
               "DELIMITER ;\n") == 0;
  }
  bool InstallPreviousSchema() override {
    return MariadbSql(
               "DROP TABLE IF EXISTS coupons, failed_events, events, revocations, "
               "events_generation;"
               "CREATE TABLE events (id VARCHAR(64) NOT NULL, name VARCHAR(200) NOT NULL,"
               " total BIGINT NOT NULL, per_user INT NOT NULL, starts_at BIGINT NULL,"
               " ends_at BIGINT NULL, created_at BIGINT NOT NULL, PRIMARY KEY (id));"
               "CREATE TABLE coupons (event_id VARCHAR(64) NOT NULL, seq BIGINT NOT NULL,"
               " user_id VARCHAR(64) NOT NULL, user_seq INT NOT NULL, coupon_id VARCHAR(96) NOT "
               "NULL, issued_at BIGINT NOT NULL, persisted_at BIGINT NOT NULL,"
               " PRIMARY KEY (event_id, seq), UNIQUE KEY u (event_id, user_id, user_seq));"
               "CREATE TABLE failed_events (id BIGINT NOT NULL AUTO_INCREMENT,"
               " event_id VARCHAR(64) NOT NULL, seq BIGINT NOT NULL, user_id VARCHAR(64) NOT NULL,"
               " user_seq INT NOT NULL, coupon_id VARCHAR(96) NOT NULL, issued_at BIGINT NOT NULL,"
               " error TEXT NOT NULL, attempts INT NOT NULL DEFAULT 0, next_attempt_at BIGINT NOT "
               "NULL, dead TINYINT NOT NULL DEFAULT 0, created_at BIGINT NOT NULL,"
               " updated_at BIGINT NOT NULL, PRIMARY KEY (id), UNIQUE KEY s (event_id, seq));"
               "INSERT INTO events VALUES ('old', 'Old', 10, 1, NULL, NULL, 1);"
               "INSERT INTO failed_events (event_id, seq, user_id, user_seq, coupon_id, issued_at,"
               " error, next_attempt_at, created_at, updated_at)"
               " VALUES ('old', 3, 'u', 1, 'old-3', 5, 'e', 0, 1, 1);") == 0;
  }
};

class StoreContractTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "sqlite") {
      backend_ = std::make_unique<SqliteBackend>();
    } else {
      backend_ = std::make_unique<MariadbBackend>();
    }
    auto store = backend_->Open();
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    ASSERT_TRUE(store_->Migrate().ok());
  }

  std::vector<Issuance> Scan(const std::string& event) {
    std::vector<Issuance> rows;
    Status s = store_->ScanCoupons(event, [&](const Issuance& i) { rows.push_back(i); });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return rows;
  }

  // The store keeps rows only of events it holds: create them (incarnation
  // 0, as MakeIssuance's records).
  void Have(std::initializer_list<const char*> ids) {
    for (const char* id : ids) {
      Status s = store_->CreateEvent(MakeEvent(id, kMaxTotal));
      ASSERT_TRUE(s.ok()) << s.ToString();
    }
  }

  EventCounts Counts(const std::string& event) {
    auto c = store_->CountsOf(event);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? *c : EventCounts{};
  }

  std::unique_ptr<Backend> backend_;
  std::unique_ptr<Store> store_;
};

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

// A database of the version before keeps its events (incarnation 0, open,
// version 1) and takes the new calls after Migrate.
TEST_P(StoreContractTest, MigratesTheTablesOfThePreviousVersion) {
  ASSERT_TRUE(backend_->InstallPreviousSchema());
  auto store = backend_->Reopen();
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  ASSERT_TRUE((*store)->Migrate().ok());
  ASSERT_TRUE((*store)->Migrate().ok());
  auto old = (*store)->GetEvent("old");
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  ASSERT_TRUE(old->has_value());
  EXPECT_EQ((*old)->incarnation, 0);
  EXPECT_FALSE((*old)->closed);
  EXPECT_EQ((*old)->version, 1);
  auto failed = (*store)->FailureOfSeq("old", 3);
  ASSERT_TRUE(failed.ok() && failed->has_value());
  EXPECT_EQ((*failed)->issuance.incarnation, 0);
  EXPECT_TRUE((*store)->EventsGeneration().ok());
  Event closed = **old;
  closed.closed = true;
  EXPECT_TRUE(*(*store)->UpdateEvent(closed, 1));
  EXPECT_EQ((*store)->InsertCoupons(std::vector{MakeIssuance("old", 1)})->inserted, 1);
  EXPECT_EQ(*(*store)->DeleteEvent(**old), 1);
}

TEST_P(StoreContractTest, EventsChangeUnderTheirVersionAndRaiseTheGeneration) {
  auto generation = [&] {
    auto g = store_->EventsGeneration();
    EXPECT_TRUE(g.ok()) << g.status().ToString();
    return g.ok() ? *g : -1;
  };
  const std::int64_t g0 = generation();
  Event e = MakeEvent("ev", 100);
  e.incarnation = 77;
  e.starts_at = 1'800'000'000'000;
  ASSERT_TRUE(store_->CreateEvent(e).ok());
  const std::int64_t g1 = generation();
  EXPECT_NE(g1, g0) << "a creation moves the generation";
  EXPECT_EQ(generation(), g1) << "reads do not";

  Event next = e;
  next.total = 150;
  next.name = "renamed";
  next.closed = true;
  next.starts_at.reset();
  next.ends_at = 1'900'000'000'000;
  auto updated = store_->UpdateEvent(next, 1);
  ASSERT_TRUE(updated.ok()) << updated.status().ToString();
  EXPECT_TRUE(*updated);
  const std::int64_t g2 = generation();
  EXPECT_NE(g2, g1);
  auto got = store_->GetEvent("ev");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->total, 150);
  EXPECT_EQ((*got)->name, "renamed");
  EXPECT_TRUE((*got)->closed);
  EXPECT_FALSE((*got)->starts_at.has_value());
  EXPECT_EQ((*got)->ends_at, next.ends_at);
  EXPECT_EQ((*got)->incarnation, 77);
  EXPECT_EQ((*got)->version, 2);
  EXPECT_EQ((*got)->per_user, 1) << "per_user is not changed";

  // A write based on an older version, or on another incarnation, misses.
  next.total = 999;
  EXPECT_FALSE(*store_->UpdateEvent(next, 1));
  Event other = next;
  other.incarnation = 78;
  EXPECT_FALSE(*store_->UpdateEvent(other, 2));
  Event missing = next;
  missing.id = "missing";
  EXPECT_FALSE(*store_->UpdateEvent(missing, 1));
  EXPECT_EQ(generation(), g2) << "a missed write changes nothing";
  EXPECT_EQ((*store_->GetEvent("ev"))->total, 150);
  next.closed = false;
  EXPECT_TRUE(*store_->UpdateEvent(next, 2));
  got = store_->GetEvent("ev");
  EXPECT_FALSE((*got)->closed);
  EXPECT_EQ((*got)->total, 999);
  EXPECT_EQ((*got)->version, 3);
  EXPECT_EQ((*store_->ListEvents())[0].version, 3);
}

TEST_P(StoreContractTest, DeleteTakesTheIncarnationWithEverythingAndIgnoresItsRecordsAfter) {
  Event e = MakeEvent("ev", 100);
  e.incarnation = 5;
  Have({"kept"});
  ASSERT_TRUE(store_->CreateEvent(e).ok());
  auto of = [](Issuance i, std::int64_t incarnation) {
    i.incarnation = incarnation;
    return i;
  };
  std::vector<Issuance> batch;
  for (int seq = 1; seq <= 4; ++seq) batch.push_back(of(MakeIssuance("ev", seq), 5));
  ASSERT_EQ(store_->InsertCoupons(batch)->inserted, 4);
  ASSERT_TRUE(store_->InsertCoupons(std::vector{MakeIssuance("kept", 1)}).ok());
  ASSERT_TRUE(store_->RecordFailure(of(MakeIssuance("ev", 9), 5), "refused", NowMillis()).ok());
  Issuance revoked = of(MakeIssuance("ev", 4), 5);
  revoked.kind = RecordKind::kRevoke;
  ASSERT_TRUE(store_->ApplyRevocations(std::vector{revoked}).ok());
  EXPECT_EQ(Counts("ev").persisted, 3);
  EXPECT_EQ(Counts("ev").failed, 1);
  const std::int64_t before = *store_->EventsGeneration();

  Event wrong = e;
  wrong.incarnation = 6;
  EXPECT_EQ(store_->DeleteEvent(wrong).status().code(), Status::Code::kNotFound);
  auto deleted = store_->DeleteEvent(e);
  ASSERT_TRUE(deleted.ok()) << deleted.status().ToString();
  EXPECT_EQ(*deleted, 3);
  EXPECT_NE(*store_->EventsGeneration(), before);
  EXPECT_FALSE(store_->GetEvent("ev")->has_value());
  EXPECT_EQ(Counts("ev").persisted, 0);
  EXPECT_EQ(Counts("ev").failed + Counts("ev").dead, 0);
  EXPECT_TRUE(Scan("ev").empty());
  EXPECT_EQ(Counts("kept").persisted, 1) << "other events are untouched";
  EXPECT_EQ(store_->DeleteEvent(e).status().code(), Status::Code::kNotFound);

  // Records of the deleted incarnation arriving late (Kafka keeps them) are
  // ignored, before and after the id is created again.
  auto late = store_->InsertCoupons(batch);
  ASSERT_TRUE(late.ok());
  EXPECT_EQ(late->ignored, 4);
  EXPECT_EQ(late->inserted + late->duplicates, 0);
  EXPECT_TRUE(late->failed.empty());
  Event again = e;
  again.incarnation = 8;
  ASSERT_TRUE(store_->CreateEvent(again).ok());
  late = store_->InsertCoupons(batch);
  EXPECT_EQ(late->ignored, 4);
  ASSERT_TRUE(store_->RecordFailure(batch[0], "late failure", NowMillis()).ok());
  EXPECT_EQ(Counts("ev").failed, 0) << "a failure of a deleted incarnation is not recorded";
  ASSERT_TRUE(store_->ApplyRevocations(std::vector{revoked}).ok());
  auto fresh = store_->InsertCoupons(std::vector{of(MakeIssuance("ev", "new-1", 1), 8)});
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh->inserted, 1) << "the new incarnation starts clean at seq 1";
  EXPECT_EQ(Scan("ev").size(), 1u);
  EXPECT_EQ(Scan("ev")[0].user_id, "new-1");
}

TEST_P(StoreContractTest, RevocationsTakeTheRecordBackAndIgnoreItsLateCopies) {
  Have({"ev"});
  Issuance a = MakeIssuance("ev", "ann", 5);
  Issuance b = MakeIssuance("ev", "bob", 6);
  ASSERT_EQ(store_->InsertCoupons(std::vector{a, b})->inserted, 2);
  auto holder = store_->HolderOfSeq(MakeEvent("ev", 1), 5);
  ASSERT_TRUE(holder.ok()) << holder.status().ToString();
  ASSERT_TRUE(holder->has_value());
  EXPECT_EQ((*holder)->issuance.user_id, "ann");
  EXPECT_EQ((*holder)->issuance.user_seq, 1);
  EXPECT_EQ((*holder)->issuance.issued_at, a.issued_at);
  EXPECT_EQ((*holder)->issuance.coupon_id, a.coupon_id);
  EXPECT_FALSE((*holder)->failed);
  EXPECT_FALSE(store_->HolderOfSeq(MakeEvent("ev", 1), 7)->has_value());

  Issuance revoke = a;
  revoke.kind = RecordKind::kRevoke;
  ASSERT_TRUE(store_->ApplyRevocations(std::vector{revoke}).ok());
  ASSERT_TRUE(store_->ApplyRevocations(std::vector{revoke}).ok()) << "idempotent";
  EXPECT_FALSE(store_->HolderOfSeq(MakeEvent("ev", 1), 5)->has_value());
  EXPECT_TRUE(store_->CouponsOfUser("ev", "ann")->empty());
  EXPECT_EQ(Counts("ev").persisted, 1);

  // A late copy of ann's issuance (a resend) is ignored; the seq goes to the
  // next holder, whose record is not touched by ann's revocation.
  auto copy = store_->InsertCoupons(std::vector{a});
  ASSERT_TRUE(copy.ok());
  EXPECT_EQ(copy->ignored, 1);
  Issuance c = MakeIssuance("ev", "cat", 5);
  ASSERT_EQ(store_->InsertCoupons(std::vector{c})->inserted, 1);
  ASSERT_TRUE(store_->ApplyRevocations(std::vector{revoke}).ok());
  EXPECT_EQ((*store_->HolderOfSeq(MakeEvent("ev", 1), 5))->issuance.user_id, "cat");
  ASSERT_TRUE(store_->RecordFailure(a, "late", NowMillis()).ok());
  EXPECT_EQ(Counts("ev").failed, 0) << "a revoked record never becomes a failed event";
  // ann asking again later gets a new issuance (another issued_at): stored.
  Issuance again = MakeIssuance("ev", "ann", 7);
  again.issued_at = a.issued_at + 1;
  again.seq = 7;
  EXPECT_EQ(store_->InsertCoupons(std::vector{again})->inserted, 1);

  // A failed event is a holder too, and the revocation takes it with it.
  Issuance d = MakeIssuance("ev", "dan", 8);
  ASSERT_TRUE(store_->RecordFailure(d, "refused", NowMillis()).ok());
  holder = store_->HolderOfSeq(MakeEvent("ev", 1), 8);
  ASSERT_TRUE(holder->has_value());
  EXPECT_TRUE((*holder)->failed);
  EXPECT_EQ((*holder)->issuance.user_id, "dan");
  auto failed = store_->FailureOfSeq("ev", 8);
  ASSERT_TRUE(failed.ok() && failed->has_value());
  EXPECT_EQ((*failed)->error, "refused");
  EXPECT_FALSE(store_->FailureOfSeq("ev", 9)->has_value());
  Issuance revoke_d = d;
  revoke_d.kind = RecordKind::kRevoke;
  ASSERT_TRUE(store_->ApplyRevocations(std::vector{revoke_d}).ok());
  EXPECT_FALSE(store_->FailureOfSeq("ev", 8)->has_value());
  EXPECT_EQ(Counts("ev").failed, 0);
  EXPECT_EQ(store_->InsertCoupons(std::vector{d})->ignored, 1);
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreContractTest, ::testing::Values("sqlite", "mariadb"),
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
