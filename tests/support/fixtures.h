// Test fixtures shared by the unit and integration tests: events and
// issuances built the same way everywhere, temporary folders, and the real
// servers (Redis, MariaDB, Kafka) one test binary starts once and shares
// between its suites.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/event.h"
#include "gate/gate.h"
#include "support/services.h"

namespace firstcome::test {

// An event open now and forever, named after its id.
Event MakeEvent(std::string id, std::int64_t total, std::int32_t per_user = 1);
// An id for the running test alone ("ev-" + suite and test name, made valid),
// so tests sharing one server never see each other's events.
std::string ThisTestEventId();
// MakeEvent(ThisTestEventId(), total, per_user).
Event EventOfThisTest(std::int64_t total, std::int32_t per_user = 1);

// One coupon: coupon_id derived from (event, seq), issued_at a fixed function
// of seq (deterministic across runs).
Issuance MakeIssuance(std::string event, std::string user, std::int64_t seq,
                      std::int32_t user_seq = 1);
// MakeIssuance(event, "user-<seq>", seq): each seq for its own user.
Issuance MakeIssuance(std::string event, std::int64_t seq);
// Seqs from..from+count-1 of `event`, as MakeIssuance(event, seq) makes them.
std::vector<Issuance> MakeIssuances(const std::string& event, std::int64_t from,
                                    std::int64_t count);

// prefix + n. Why not "x" + std::to_string(n): GCC 12 warns (-Wrestrict, a
// known false positive) on that pattern, and warnings are errors here.
std::string Name(std::string_view prefix, std::int64_t n);

// Polls `done` every 5 ms until it is true (returns true) or `timeout` passed.
bool WaitFor(const std::function<bool()>& done,
             std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));

// Gate calls answered through a callback, waited for (at most `limit`; a
// test failure and an Internal status when no answer came).
Result<Admission> AdmitAndWait(Gate& gate, const Event& event, std::string_view user,
                               std::chrono::milliseconds limit = std::chrono::seconds(10));
Status ReleaseAndWait(Gate& gate, const Event& event, std::string_view user, std::int64_t seq,
                      std::chrono::milliseconds limit = std::chrono::seconds(10));

// A fresh folder under /tmp, removed by the destructor (kept when the
// environment has FIRSTCOME_KEEP_TEST_DIRS, for post-mortems).
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// One private server of each kind per test binary ("redis", "mariadb",
// "kafka"), started through scripts/services on first use and stopped at exit,
// so every suite of the binary shares it. Check ok() before use.
Services& SharedService(const std::string& name);

// The shared MariaDB: its port, and SQL run through the mariadb client as the
// test user (0 on success).
std::string MariadbPort();
int MariadbSql(const std::string& sql);

}  // namespace firstcome::test
