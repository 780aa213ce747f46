// The fixture of the Store port's contract suites (store_contract_test.cc,
// store_lifecycle_test.cc): the same tests run against SqliteStore on a
// temporary file and MysqlStore on the private MariaDB of the test binary
// (SharedService), each from an empty database.
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cstdio>
#include <filesystem>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "store/mysql_store.h"
#include "store/sqlite_store.h"
#include "store/store.h"
#include "support/fixtures.h"
#include "support/services.h"

namespace firstcome::test {

inline Services& Mariadb() { return SharedService("mariadb"); }

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

// bulk_inserts: MariaDB's bulk executions for coupons (the default), or the
// multi-row INSERTs a MySQL server gets ("mariadb_multirow").
class MariadbBackend : public Backend {
 public:
  explicit MariadbBackend(bool bulk_inserts = true) : bulk_inserts_(bulk_inserts) {}
  Result<std::unique_ptr<Store>> Open() override {
    if (!Mariadb().ok()) return Status::Unavailable("mariadb service did not start");
    if (MariadbSql("DROP TABLE IF EXISTS coupons, failed_events, events, revocations, "
                   "events_generation;") != 0) {
      return Status::Unavailable("could not empty the database");
    }
    return Reopen();
  }
  Result<std::unique_ptr<Store>> Reopen() override {
    return OpenMysqlStore({.url = Mariadb().env("FIRSTCOME_MYSQL_URL"),
                           .connections = 4,
                           .bulk_inserts = bulk_inserts_});
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

 private:
  bool bulk_inserts_;
};

class StoreContractTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "sqlite") {
      backend_ = std::make_unique<SqliteBackend>();
    } else {
      backend_ = std::make_unique<MariadbBackend>(GetParam() != "mariadb_multirow");
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

}  // namespace firstcome::test
