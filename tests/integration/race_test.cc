// Race: 2,000 concurrent client connections against a real `firstcome serve`
// process (embedded gate, SQLite log and store), 100 coupons, users repeated
// several times. Starts: one firstcome process.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "loadgen/load_generator.h"
#include "support/api_client.h"
#include "support/fixtures.h"
#include "support/process.h"

namespace firstcome::test {
namespace {

TEST(Race, TwoThousandConnectionsGetExactlyTheTotal) {
  TempDir dir;
  const int port = FreePort();
  FirstcomeProcess server({"serve", "--port", std::to_string(port), "--data-dir", dir.path()});
  ASSERT_TRUE(server.Start());
  ASSERT_TRUE(server.WaitHealthy(port)) << "log: " << server.log_path();
  ApiEndpoint api{.port = port};
  ASSERT_EQ(CreateEvent(api, "race", 100).status, 201);

  LoadOptions load;
  load.targets = {"http://127.0.0.1:" + std::to_string(port)};
  load.event_id = "race";
  load.connections = 2000;
  load.requests = 8000;
  load.distribution = UserDistribution::kRepeated;
  load.users = 1500;  // each user asks about 5 times, from different connections
  load.record_answers = true;
  auto report = RunLoad(load);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->transport_errors, 0);
  EXPECT_GE(report->connects, 2000) << "all 2000 connections must really have been open";

  std::set<std::int64_t> seqs;
  std::set<std::string> winners;
  std::map<int, int> by_status;
  for (const Answer& a : report->answers) {
    ++by_status[a.http_status];
    if (a.http_status != 201) continue;
    EXPECT_TRUE(winners.insert(a.user_id).second) << a.user_id << " issued twice";
    EXPECT_TRUE(seqs.insert(a.seq).second) << "seq " << a.seq << " issued twice";
  }
  EXPECT_EQ(by_status[201], 100);
  EXPECT_EQ(winners.size(), 100u);
  ASSERT_EQ(seqs.size(), 100u);
  EXPECT_EQ(*seqs.begin(), 1);
  EXPECT_EQ(*seqs.rbegin(), 100);
  for (const auto& [status, n] : by_status) {
    EXPECT_TRUE(status == 201 || status == 409 || status == 410)
        << n << " answers with status " << status;
  }

  ASSERT_TRUE(WaitForField(api, "race", "persisted", 100))
      << boost::json::serialize(GetEvent(api, "race"));
  auto event = GetEvent(api, "race");
  EXPECT_EQ(Field(event, "issued"), 100);
  EXPECT_EQ(Field(event, "remaining"), 0);
  EXPECT_EQ(event.as_object().at("state").as_string(), "sold_out");

  // Every winner sees their coupon, persisted, with the seq they were told.
  for (const Answer& a : report->answers) {
    if (a.http_status != 201) continue;
    auto coupons = UserCoupons(api, "race", a.user_id);
    ASSERT_EQ(coupons.size(), 1u) << a.user_id;
    EXPECT_EQ(coupons[0].as_object().at("seq").as_int64(), a.seq);
    EXPECT_EQ(coupons[0].as_object().at("state").as_string(), "persisted");
  }
  std::string out;
  EXPECT_EQ(Audit("race", {"--data-dir", dir.path()}, &out), 0) << out;
  EXPECT_EQ(server.Terminate(), 0);
}

}  // namespace
}  // namespace firstcome::test
