// The deployments the lifecycle tests run against, each a set of real
// processes: "embedded" is one `firstcome serve` (memory gate, SQLite log and
// store); "distributed" is two `--role api` processes and one `--role
// consumer` on a private Redis, Kafka and MariaDB (SharedService: started
// once per test binary, stopped at exit). Tests call through apis.front() and check through
// apis.back(): in the distributed deployment those are different processes.
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <boost/json.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "support/api_client.h"
#include "support/fixtures.h"
#include "support/process.h"
#include "support/served_firstcome.h"

namespace firstcome::test {

class LifecycleTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "embedded") {
      apis_.push_back(Start("all", {}));
      return;
    }
    for (const char* name : {"redis", "mariadb", "kafka"}) {
      ASSERT_TRUE(SharedService(name).ok())
          << name << " did not start; logs in " << SharedService(name).dir();
    }
    apis_.push_back(Start("api", Env()));
    apis_.push_back(Start("api", Env(), 0, second_api_flags_));
    consumer_api_ = Start("consumer", Env());
    consumer_ = processes_.back().get();
  }

  void TearDown() override {
    if (locker_ != nullptr) {
      sqlite3_close(locker_);  // rolls the lock back
      locker_ = nullptr;
    }
    if (consumer_ != nullptr && consumer_->running()) {
      ThawProcess(consumer_->pid());
      ExpectCleanStop(*consumer_);
    }
  }

  bool distributed() const { return GetParam() == "distributed"; }
  const ApiEndpoint& a() const { return apis_.front(); }
  const ApiEndpoint& b() const { return apis_.back(); }

  // `firstcome audit` of this deployment; its exit code, the report in *out.
  int RunAudit(const std::string& event, std::string* out,
               const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = extra;
    if (!distributed()) {
      args.push_back("--data-dir");
      args.push_back(first_data_dir_);
    }
    return Audit(event, args, out, distributed() ? Env() : std::vector<std::string>{});
  }

  // Waits until every coupon issued is in the store, then audits: 0 expected.
  void ExpectPersistedAndAuditClean(const std::string& event) {
    const std::int64_t issued = Field(GetEvent(a(), event), "issued");
    EXPECT_TRUE(WaitForField(a(), event, "persisted", issued, std::chrono::seconds(90)))
        << boost::json::serialize(GetEvent(a(), event));
    std::string out;
    EXPECT_EQ(RunAudit(event, &out), 0) << out;
  }

  // Polls `call` every 25 ms until it returns true; the time it took, or -1
  // when `limit` passed first.
  static double SecondsUntil(const std::function<bool()>& call,
                             std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    const auto start = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - start < limit) {
      if (call()) {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    return -1;
  }

  static std::vector<std::string> Env() {
    return {"FIRSTCOME_GATE=redis",
            "FIRSTCOME_LOG=kafka",
            "FIRSTCOME_STORE=mysql",
            "FIRSTCOME_REDIS_URL=" + SharedService("redis").env("FIRSTCOME_REDIS_URL"),
            "FIRSTCOME_KAFKA_BROKERS=" + SharedService("kafka").env("FIRSTCOME_KAFKA_BROKERS"),
            "FIRSTCOME_MYSQL_URL=" + SharedService("mariadb").env("FIRSTCOME_MYSQL_URL")};
  }

  // The store refuses coupons of users whose id starts with "bad-" (a
  // trigger, as a constraint an operator added would), until AcceptAllUsers.
  void RefuseBadUsers() {
    if (distributed()) {
      ASSERT_EQ(MariadbSql("DROP TRIGGER IF EXISTS refuse_bad;\n"
                           "DELIMITER //\n"
                           "CREATE TRIGGER refuse_bad BEFORE INSERT ON coupons FOR EACH ROW BEGIN\n"
                           "  IF NEW.user_id LIKE 'bad-%' THEN\n"
                           "    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused by the test';\n"
                           "  END IF;\n"
                           "END //\n"
                           "DELIMITER ;\n"),
                0);
    } else {
      StoreSql(
          "CREATE TRIGGER refuse_bad BEFORE INSERT ON coupons WHEN NEW.user_id LIKE 'bad-%' "
          "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;");
    }
  }
  void AcceptAllUsers() {
    if (distributed()) {
      ASSERT_EQ(MariadbSql("DROP TRIGGER IF EXISTS refuse_bad;"), 0);
    } else {
      StoreSql("DROP TRIGGER refuse_bad;");
    }
  }

  // Stops the consumer from moving records into the store (embedded: another
  // connection holds the store locked; distributed: the consumer process is
  // stopped with SIGSTOP) until ResumeConsumption. Issuing goes on.
  void PauseConsumption() {
    if (distributed()) {
      ASSERT_TRUE(FreezeProcess(consumer_->pid()));
      return;
    }
    ASSERT_EQ(sqlite3_open((first_data_dir_ + "/store.db").c_str(), &locker_), SQLITE_OK);
    sqlite3_busy_timeout(locker_, 10000);
    ASSERT_EQ(sqlite3_exec(locker_, "BEGIN EXCLUSIVE;", nullptr, nullptr, nullptr), SQLITE_OK);
  }
  void ResumeConsumption() {
    if (distributed()) {
      ASSERT_TRUE(ThawProcess(consumer_->pid()));
      return;
    }
    ASSERT_EQ(sqlite3_exec(locker_, "COMMIT;", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(locker_);
    locker_ = nullptr;
  }

  // Embedded: stops the server (SIGTERM, exit 0) and starts it again on the
  // same port and data: the gate is rebuilt from the log.
  void RestartEmbedded() {
    ASSERT_FALSE(distributed());
    ASSERT_EQ(processes_.front()->Terminate(), 0);
    processes_.clear();
    apis_.clear();
    apis_.push_back(Start("all", {}, first_port_));
  }

  // The process behind API i (0: a(); distributed, 1: b()), to kill it.
  FirstcomeProcess& ApiProcess(std::size_t i) { return *processes_.at(i); }
  // Distributed: the consumer process's HTTP endpoint (/metrics, /healthz).
  const ApiEndpoint& consumer_api() const { return consumer_api_; }

  // Extra flags for every process (set before SetUp; e.g. the retry job's pace).
  std::vector<std::string> extra_flags_;
  // Extra flags for the second API process of the distributed deployment.
  std::vector<std::string> second_api_flags_;

 private:
  ApiEndpoint Start(const std::string& role, const std::vector<std::string>& env, int port = 0,
                    const std::vector<std::string>& flags = {}) {
    if (port == 0) port = FreePort();
    // An embedded restart keeps its data; every other process has its own folder.
    const std::string data_dir =
        port == first_port_ ? first_data_dir_ : dir_.path() + "/" + std::to_string(port);
    if (first_data_dir_.empty()) {
      first_data_dir_ = data_dir;
      first_port_ = port;
    }
    std::vector<std::string> args = {"serve",      "--role", role, "--port", std::to_string(port),
                                     "--data-dir", data_dir};
    args.insert(args.end(), extra_flags_.begin(), extra_flags_.end());
    args.insert(args.end(), flags.begin(), flags.end());
    auto p = std::make_unique<FirstcomeProcess>(args, env);
    EXPECT_TRUE(p->Start());
    EXPECT_TRUE(p->WaitHealthy(port, std::chrono::seconds(60))) << "log: " << p->log_path();
    processes_.push_back(std::move(p));
    return ApiEndpoint{.port = port};
  }

  // SQL on the embedded store file, from outside the server.
  void StoreSql(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((first_data_dir_ + "/store.db").c_str(), &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    char* err = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    const std::string message = err != nullptr ? err : "";
    sqlite3_free(err);
    sqlite3_close(db);
    ASSERT_EQ(rc, SQLITE_OK) << message;
  }

  TempDir dir_;
  std::string first_data_dir_;
  int first_port_ = 0;
  FirstcomeProcess* consumer_ = nullptr;  // distributed
  ApiEndpoint consumer_api_;              // distributed
  sqlite3* locker_ = nullptr;             // embedded, while consumption is paused
  std::vector<std::unique_ptr<FirstcomeProcess>> processes_;
  std::vector<ApiEndpoint> apis_;
};

inline std::string JsonText(const boost::json::value& v, std::string_view key) {
  if (!v.is_object()) return "";
  const auto* m = v.as_object().if_contains(key);
  return m != nullptr && m->is_string() ? std::string(m->as_string()) : "";
}

}  // namespace firstcome::test
