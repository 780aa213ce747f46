// Consumer failure: real faults in the store of a real `firstcome serve`
// (embedded). A SQLite trigger refuses chosen records (they become failed
// events, retried until persisted, or marked dead and revived by the CLI), and
// another connection holding an exclusive lock takes the whole store away
// (consumption pauses; issuing goes on). Starts: one firstcome process.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <thread>

#include "support/api_client.h"
#include "support/fixtures.h"
#include "support/process.h"

namespace firstcome::test {
namespace {

// Runs SQL on the store file from outside the server, as an operator would.
void Sql(const std::string& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_path.c_str(), &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 10000);
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  std::string msg = err ? err : "";
  sqlite3_free(err);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << msg;
}

const char* kRefuseBad =
    "CREATE TRIGGER refuse_bad BEFORE INSERT ON coupons WHEN NEW.user_id LIKE 'bad-%' "
    "BEGIN SELECT RAISE(ABORT, 'refused by the test trigger'); END;";

void IssueAll(const ApiEndpoint& api, const std::string& event, const std::string& prefix, int n) {
  for (int i = 0; i < n; ++i) {
    auto r = Issue(api, event, prefix + std::to_string(i));
    ASSERT_EQ(r.status, 201) << r.body;
  }
}

class ConsumerFailure : public ::testing::Test {
 protected:
  void StartServer(int max_attempts) {
    server_ = std::make_unique<FirstcomeProcess>(std::vector<std::string>{
        "serve", "--port", std::to_string(port_), "--data-dir", dir_.path(), "--retry-interval-ms",
        "200", "--retry-max-attempts", std::to_string(max_attempts)});
    ASSERT_TRUE(server_->Start());
    ASSERT_TRUE(server_->WaitHealthy(port_)) << "log: " << server_->log_path();
  }
  std::string store_path() const { return dir_.path() + "/store.db"; }

  TempDir dir_;
  int port_ = FreePort();
  ApiEndpoint api_{.port = port_};
  std::unique_ptr<FirstcomeProcess> server_;
};

TEST_F(ConsumerFailure, RefusedRecordsAreRetriedUntilPersisted) {
  StartServer(1000);
  ASSERT_EQ(CreateEvent(api_, "drop", 100).status, 201);
  Sql(store_path(), kRefuseBad);
  IssueAll(api_, "drop", "good-", 20);
  IssueAll(api_, "drop", "bad-", 10);
  ASSERT_TRUE(WaitForField(api_, "drop", "failed", 10))
      << boost::json::serialize(GetEvent(api_, "drop"));
  ASSERT_TRUE(WaitForField(api_, "drop", "persisted", 20));
  auto coupons = UserCoupons(api_, "drop", "bad-3");
  ASSERT_EQ(coupons.size(), 1u);
  EXPECT_EQ(coupons[0].as_object().at("state").as_string(), "failed");
  std::string out;
  EXPECT_EQ(Audit("drop", {"--data-dir", dir_.path()}, &out), 1) << out;
  EXPECT_NE(out.find("refused by the test trigger"), std::string::npos) << out;

  Sql(store_path(), "DROP TRIGGER refuse_bad;");  // the cause is fixed
  ASSERT_TRUE(WaitForField(api_, "drop", "persisted", 30));
  ASSERT_TRUE(WaitForField(api_, "drop", "failed", 0));
  EXPECT_EQ(UserCoupons(api_, "drop", "bad-3")[0].as_object().at("state").as_string(), "persisted");
  EXPECT_EQ(Audit("drop", {"--data-dir", dir_.path()}, &out), 0) << out;
  EXPECT_EQ(server_->Terminate(), 0);
}

TEST_F(ConsumerFailure, DeadEventsAreVisibleAndRevivedOnDemand) {
  StartServer(2);
  ASSERT_EQ(CreateEvent(api_, "drop", 100).status, 201);
  Sql(store_path(), kRefuseBad);
  IssueAll(api_, "drop", "bad-", 5);
  IssueAll(api_, "drop", "good-", 5);
  ASSERT_TRUE(WaitForField(api_, "drop", "dead", 5))
      << boost::json::serialize(GetEvent(api_, "drop"));
  EXPECT_EQ(Field(GetEvent(api_, "drop"), "failed"), 0);
  auto metrics = HttpRequest("127.0.0.1", port_, "GET", "/metrics");
  EXPECT_NE(metrics.body.find("firstcome_event_dead{event=\"drop\"} 5"), std::string::npos)
      << metrics.body;
  std::string out;
  EXPECT_EQ(Audit("drop", {"--data-dir", dir_.path()}, &out), 1) << out;

  EXPECT_EQ(server_->Terminate(), 0);  // graceful: exit code 0
  Sql(store_path(), "DROP TRIGGER refuse_bad;");
  EXPECT_EQ(RunFirstcome({"retry-failed", "--data-dir", dir_.path()}, &out), 0) << out;
  EXPECT_EQ(Audit("drop", {"--data-dir", dir_.path()}, &out), 1) << "dead ones wait: " << out;
  EXPECT_EQ(RunFirstcome({"retry-failed", "--include-dead", "--data-dir", dir_.path()}, &out), 0)
      << out;
  EXPECT_EQ(Audit("drop", {"--data-dir", dir_.path()}, &out), 0) << out;

  StartServer(2);
  auto event = GetEvent(api_, "drop");
  EXPECT_EQ(Field(event, "persisted"), 10);
  EXPECT_EQ(Field(event, "dead"), 0);
  EXPECT_EQ(Field(event, "issued"), 10);
}

TEST_F(ConsumerFailure, LockedStorePausesConsumptionButNotIssuing) {
  StartServer(1000);
  ASSERT_EQ(CreateEvent(api_, "drop", 1000).status, 201);
  sqlite3* locker = nullptr;
  ASSERT_EQ(sqlite3_open(store_path().c_str(), &locker), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(locker, "BEGIN EXCLUSIVE;", nullptr, nullptr, nullptr), SQLITE_OK);
  IssueAll(api_, "drop", "u-", 50);  // the log is separate: answers do not wait for the store
  std::this_thread::sleep_for(std::chrono::seconds(3));
  EXPECT_EQ(server_->running(), true);
  auto metrics = HttpRequest("127.0.0.1", port_, "GET", "/metrics");
  EXPECT_NE(metrics.body.find("firstcome_consumer_paused 1"), std::string::npos) << metrics.body;
  ASSERT_EQ(sqlite3_exec(locker, "COMMIT;", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(locker);
  ASSERT_TRUE(WaitForField(api_, "drop", "persisted", 50));
  std::string out;
  EXPECT_EQ(Audit("drop", {"--data-dir", dir_.path()}, &out), 0) << out;
  EXPECT_EQ(server_->Terminate(), 0);
}

}  // namespace
}  // namespace firstcome::test
