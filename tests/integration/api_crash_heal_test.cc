// An API process killed with -9 in the middle of a burst heals by itself
// (docs/design.md, "API crash self-healing"). Starts: a private Redis, Kafka
// and MariaDB (scripts/services), two `firstcome serve --role api` and one
// `--role consumer`, all with a short settle_after. One API process is killed
// mid-burst; the admissions it left in Redis that never reached Kafka are
// logged by the settlers of the processes still running, without an operator:
// within the bound `firstcome audit` (no --repair) exits 0, issued <= total,
// and every user who heard 201 has that coupon persisted.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <thread>

#include "lifecycle_fixture.h"
#include "loadgen/load_generator.h"
#include "support/http_client.h"
#include "support/services.h"

namespace firstcome::test {
namespace {

constexpr std::int64_t kSettleAfterMs = 3000;

class ApiCrashHealTest : public LifecycleTest {
 protected:
  ApiCrashHealTest() {
    extra_flags_ = {"--settle-after-ms", std::to_string(kSettleAfterMs)};
    // The process to be killed waits longer for a Kafka batch, so more of its
    // admissions are in flight at the kill (the case being healed).
    second_api_flags_ = {"--kafka-linger-ms", "50"};
  }

  // A counter of a process's /metrics (0 when absent).
  static std::int64_t Counter(const ApiEndpoint& api, const std::string& name) {
    const std::string text = "\n" + HttpRequest("127.0.0.1", api.port, "GET", "/metrics").body;
    const auto at = text.find("\n" + name + " ");
    return at == std::string::npos ? 0 : std::stoll(text.substr(at + name.size() + 2));
  }

  // Admissions pending in Redis for the event (all incarnations of its id).
  static std::int64_t PendingInRedis(const std::string& event) {
    const std::string url = SharedService("redis").env("FIRSTCOME_REDIS_URL");
    const std::string cli = "redis-cli -p " + url.substr(url.rfind(':') + 1);
    std::string out;
    if (RunShell(cli + " --scan --pattern 'fc:{" + event + "}:*:pending' | while read k; do " +
                     cli + " HLEN \"$k\"; done",
                 &out) != 0) {
      return -1;
    }
    std::int64_t total = 0;
    for (std::size_t at = 0; at < out.size();) {
      const std::size_t end = out.find('\n', at);
      const std::string line = out.substr(at, end == std::string::npos ? end : end - at);
      if (!line.empty()) total += std::stoll(line);
      if (end == std::string::npos) break;
      at = end + 1;
    }
    return total;
  }
};

TEST_P(ApiCrashHealTest, KilledApiProcessHealsWithoutAnOperator) {
  // Small enough to sell out soon after the kill: from then on the live
  // process admits nothing, so what stays pending is the killed one's.
  constexpr std::int64_t kTotal = 2000;
  ASSERT_EQ(CreateEvent(a(), "heal", kTotal).status, 201);
  LoadOptions load;
  load.targets = {"http://127.0.0.1:" + std::to_string(a().port),
                  "http://127.0.0.1:" + std::to_string(b().port)};
  load.event_id = "heal";
  load.connections = 300;
  load.duration = std::chrono::milliseconds(5000);
  load.distribution = UserDistribution::kUnique;
  load.record_answers = true;
  load.give_up_after = std::chrono::seconds(60);

  Result<LoadReport> report = Status::Internal("load did not run");
  std::thread burst([&] { report = RunLoad(load); });
  // Kill b() once the burst is well under way.
  const bool underway = WaitForFieldAtLeast(a(), "heal", "issued", 800, std::chrono::seconds(30));
  ApiProcess(1).Kill9();
  const std::int64_t issued_at_kill = Field(GetEvent(a(), "heal"), "issued");
  // No operator from here on. Healed: nothing pending any more, and the
  // surviving settlers logged something (the burst goes on meanwhile).
  const auto settled_total = [&] {
    return Counter(a(), "firstcome_settle_logged_total") +
           Counter(consumer_api(), "firstcome_settle_logged_total");
  };
  const double healed_s =
      SecondsUntil([&] { return settled_total() > 0 && PendingInRedis("heal") == 0; },
                   std::chrono::milliseconds(kSettleAfterMs + 30000));
  burst.join();
  ASSERT_TRUE(underway) << "the burst did not get going";
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  // ...and `firstcome audit` (no --repair) exits 0 once the consumer stored
  // everything: the time after the burst it took.
  const double audit_clean_s = SecondsUntil(
      [&] {
        std::string out;
        return RunAudit("heal", &out) == 0;
      },
      std::chrono::seconds(90));

  std::map<std::string, std::int64_t> answered;  // user -> seq told
  std::set<std::int64_t> told_seqs;
  for (const Answer& a : report->answers) {
    if (a.http_status != 201) continue;
    EXPECT_TRUE(answered.emplace(a.user_id, a.seq).second) << a.user_id << " told twice";
    EXPECT_TRUE(told_seqs.insert(a.seq).second) << "seq " << a.seq << " told twice";
  }
  std::string out;
  const int audit = RunAudit("heal", &out);
  // What the killed process left, as the surviving settlers logged it.
  const std::int64_t healed = settled_total();
  const std::int64_t issued = Field(GetEvent(a(), "heal"), "issued");
  const std::int64_t persisted = Field(GetEvent(a(), "heal"), "persisted");
  std::printf(
      "kill -9 of one of two API processes at %lld issued; answered 201: %zu; issued but no 201 "
      "received (the killed process's, and answers cut off by the burst's end): %lld; appends by "
      "the surviving settlers, no operator: "
      "%lld (two settlers may both log one record: a duplicate); nothing pending %.2f s after "
      "the kill (settle_after %lld ms); audit clean %.2f s after the burst; issued %lld of %lld, "
      "persisted %lld; audit exit %d\n",
      static_cast<long long>(issued_at_kill), answered.size(),
      static_cast<long long>(issued - static_cast<std::int64_t>(answered.size())),
      static_cast<long long>(healed), healed_s, static_cast<long long>(kSettleAfterMs),
      audit_clean_s, static_cast<long long>(issued), static_cast<long long>(kTotal),
      static_cast<long long>(persisted), audit);

  EXPECT_GT(healed, 0) << "the kill left nothing to heal: the test proved nothing";
  ASSERT_GE(healed_s, 0) << "pending admissions were not settled";
  // The bound: settle_after, one pass (settle_after / 4) and the appends;
  // slack for a loaded machine (and for the sell-out, after which nothing
  // new is pending).
  EXPECT_LE(healed_s, kSettleAfterMs / 1000.0 * 1.25 + 5.0);
  ASSERT_GE(audit_clean_s, 0) << "audit never came clean without --repair";
  EXPECT_EQ(audit, 0) << out;
  EXPECT_LE(issued, kTotal);
  EXPECT_EQ(persisted, issued);
  // Every admission was answered 201 or healed, except the killed process's
  // that reached the log with their 201 lost in the kill.
  EXPECT_GE(issued, static_cast<std::int64_t>(answered.size()));

  // Every user who heard 201 has that coupon, persisted, as the user would ask.
  for (const auto& [user, seq] : answered) {
    auto coupons = UserCoupons(a(), "heal", user);
    ASSERT_EQ(coupons.size(), 1u) << user << " lost the coupon it was told about";
    EXPECT_EQ(coupons[0].as_object().at("seq").as_int64(), seq) << user;
    EXPECT_EQ(coupons[0].as_object().at("state").as_string(), "persisted") << user;
  }
}

INSTANTIATE_TEST_SUITE_P(Distributed, ApiCrashHealTest, ::testing::Values("distributed"));

}  // namespace
}  // namespace firstcome::test
