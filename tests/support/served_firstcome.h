// ServedFirstcome: one real `firstcome serve` on a free port in a temporary
// folder, with extra flags, stopped with SIGTERM at the end (exit code 0
// expected); and JsonMember, a lookup that fails an expectation instead of
// throwing. For integration tests that start one server per test.
#pragma once

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "support/api_client.h"
#include "support/fixtures.h"
#include "support/process.h"

namespace firstcome::test {

// Stops a firstcome process at the end of a test, if it still runs: SIGTERM,
// not SIGKILL, and it must exit 0 (no crash, no leak under ASan on the way
// out). A consumer then leaves its Kafka consumer group, so the next test's
// consumer is given the partitions at once instead of after this one's
// session timeout (10 s).
inline void ExpectCleanStop(FirstcomeProcess& p) {
  if (p.running()) {
    EXPECT_EQ(p.Terminate(), 0) << "log: " << p.log_path();
  }
}

class ServedFirstcome {
 public:
  // `flags` come after --port and --data-dir; `admin_token` is what `api`
  // sends on admin calls (not a server flag); `env` as FirstcomeProcess takes it.
  explicit ServedFirstcome(std::vector<std::string> flags, std::string admin_token = "",
                           std::vector<std::string> env = {}) {
    api.port = port;
    api.admin_token = std::move(admin_token);
    std::vector<std::string> args = {"serve", "--port", std::to_string(port), "--data-dir",
                                     dir.path()};
    args.insert(args.end(), flags.begin(), flags.end());
    process = std::make_unique<FirstcomeProcess>(std::move(args), std::move(env));
  }
  ~ServedFirstcome() { ExpectCleanStop(*process); }
  ::testing::AssertionResult Start() {
    if (!process->Start() || !process->WaitHealthy(port)) {
      return ::testing::AssertionFailure() << "not healthy; log: " << process->log_path();
    }
    return ::testing::AssertionSuccess();
  }

  TempDir dir;
  int port = FreePort();
  ApiEndpoint api;
  std::unique_ptr<FirstcomeProcess> process;
};

// v[key], or null when v is not an object or has no such member.
inline boost::json::value JsonMember(const boost::json::value& v, std::string_view key) {
  if (!v.is_object()) return nullptr;
  const boost::json::value* m = v.as_object().if_contains(key);
  return m != nullptr ? *m : boost::json::value();
}

}  // namespace firstcome::test
