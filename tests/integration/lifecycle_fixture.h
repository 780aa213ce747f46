// The deployments the lifecycle tests run against, each a set of real
// processes: "embedded" is one `firstcome serve` (memory gate, SQLite log and
// store); "distributed" is two `--role api` processes and one `--role
// consumer` on a private Redis, Kafka and MariaDB (scripts/services, started
// once per test binary). Tests call through apis.front() and check through
// apis.back(): in the distributed deployment those are different processes.
#pragma once

#include <gtest/gtest.h>

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
#include "support/services.h"

namespace firstcome::test {

class LifecycleTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void TearDownTestSuite() {
    delete services_;
    services_ = nullptr;
  }

  void SetUp() override {
    if (GetParam() == "embedded") {
      apis_.push_back(Start("all", {}));
      return;
    }
    if (services_ == nullptr) services_ = new Services("redis,mariadb,kafka");
    ASSERT_TRUE(services_->ok()) << "scripts/services up failed; logs in " << services_->dir();
    apis_.push_back(Start("api", Env()));
    apis_.push_back(Start("api", Env()));
    Start("consumer", Env());
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
            "FIRSTCOME_REDIS_URL=" + services_->env("FIRSTCOME_REDIS_URL"),
            "FIRSTCOME_KAFKA_BROKERS=" + services_->env("FIRSTCOME_KAFKA_BROKERS"),
            "FIRSTCOME_MYSQL_URL=" + services_->env("FIRSTCOME_MYSQL_URL")};
  }

  // Extra flags for every process (e.g. the retry job's pace).
  std::vector<std::string> extra_flags_;

 private:
  ApiEndpoint Start(const std::string& role, const std::vector<std::string>& env) {
    const int port = FreePort();
    const std::string data_dir = dir_.path() + "/" + std::to_string(port);
    if (first_data_dir_.empty()) first_data_dir_ = data_dir;
    std::vector<std::string> args = {"serve",      "--role", role, "--port", std::to_string(port),
                                     "--data-dir", data_dir};
    args.insert(args.end(), extra_flags_.begin(), extra_flags_.end());
    auto p = std::make_unique<FirstcomeProcess>(args, env);
    EXPECT_TRUE(p->Start());
    EXPECT_TRUE(p->WaitHealthy(port, std::chrono::seconds(60))) << "log: " << p->log_path();
    processes_.push_back(std::move(p));
    return ApiEndpoint{.port = port};
  }

  static inline Services* services_ = nullptr;
  TempDir dir_;
  std::string first_data_dir_;
  std::vector<std::unique_ptr<FirstcomeProcess>> processes_;
  std::vector<ApiEndpoint> apis_;
};

inline std::string JsonText(const boost::json::value& v, std::string_view key) {
  if (!v.is_object()) return "";
  const auto* m = v.as_object().if_contains(key);
  return m != nullptr && m->is_string() ? std::string(m->as_string()) : "";
}

}  // namespace firstcome::test
