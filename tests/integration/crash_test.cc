// Crash: kill -9 a real `firstcome serve` (embedded) in the middle of a burst,
// restart it on the same data folder, and check that every user who heard
// `issued` still has that coupon and seq, no seq appears twice, the counts
// agree and audit exits 0. Starts: one firstcome process, twice.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <thread>

#include "loadgen/load_generator.h"
#include "store/sqlite_store.h"
#include "support/api_client.h"
#include "support/fixtures.h"
#include "support/process.h"

namespace firstcome::test {
namespace {

TEST(Crash, KillNineMidBurstLosesNothingThatWasAnswered) {
  TempDir dir;
  const int port = FreePort();
  const std::vector<std::string> args = {"serve", "--port", std::to_string(port), "--data-dir",
                                         dir.path()};
  ApiEndpoint api{.port = port};
  LoadOptions load;
  load.targets = {"http://127.0.0.1:" + std::to_string(port)};
  load.event_id = "crash";
  load.connections = 200;
  load.duration = std::chrono::milliseconds(2500);
  load.distribution = UserDistribution::kUnique;
  load.record_answers = true;

  Result<LoadReport> report = Status::Internal("load did not run");
  {
    FirstcomeProcess server(args);
    ASSERT_TRUE(server.Start());
    ASSERT_TRUE(server.WaitHealthy(port)) << "log: " << server.log_path();
    ASSERT_EQ(CreateEvent(api, "crash", 1000000).status, 201);
    std::thread burst([&] { report = RunLoad(load); });
    std::this_thread::sleep_for(std::chrono::milliseconds(800));
    server.Kill9();
    burst.join();
  }
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  std::map<std::string, std::int64_t> answered;  // user -> seq told
  std::set<std::int64_t> told_seqs;
  for (const Answer& a : report->answers) {
    if (a.http_status != 201) continue;
    EXPECT_TRUE(answered.emplace(a.user_id, a.seq).second) << a.user_id;
    EXPECT_TRUE(told_seqs.insert(a.seq).second) << "seq " << a.seq << " told twice";
  }
  ASSERT_GT(answered.size(), 100u) << "the burst should have issued before the kill";
  std::printf("issued before kill -9: %zu (transport errors after the kill: %lld)\n",
              answered.size(), static_cast<long long>(report->transport_errors));

  FirstcomeProcess restarted(args);
  ASSERT_TRUE(restarted.Start());
  ASSERT_TRUE(restarted.WaitHealthy(port)) << "log: " << restarted.log_path();

  // The log may hold a few more than were answered (committed, answer lost).
  auto event = GetEvent(api, "crash");
  const std::int64_t issued = Field(event, "issued");
  EXPECT_GE(issued, static_cast<std::int64_t>(answered.size()));
  EXPECT_LE(issued, static_cast<std::int64_t>(answered.size()) + load.connections);
  ASSERT_TRUE(WaitForField(api, "crash", "persisted", issued));

  // Every answered user, checked in the store file itself (one scan: asking
  // the API once per user would take minutes for tens of thousands of users).
  {
    auto store = OpenSqliteStore({.path = dir.path() + "/store.db"});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    std::map<std::string, std::int64_t> stored;  // user -> seq
    std::set<std::int64_t> stored_seqs;
    ASSERT_TRUE((*store)
                    ->ScanCoupons("crash",
                                  [&](const Issuance& c) {
                                    EXPECT_TRUE(stored.emplace(c.user_id, c.seq).second)
                                        << c.user_id << " stored twice";
                                    EXPECT_TRUE(stored_seqs.insert(c.seq).second)
                                        << "seq " << c.seq << " stored twice";
                                  })
                    .ok());
    EXPECT_EQ(static_cast<std::int64_t>(stored.size()), issued);
    for (const auto& [user, seq] : answered) {
      auto it = stored.find(user);
      ASSERT_NE(it, stored.end()) << user << " lost the coupon it was told about";
      EXPECT_EQ(it->second, seq) << user;
    }
  }
  // And a sample through the API, as a user would ask.
  int asked = 0;
  for (auto it = answered.begin(); it != answered.end() && asked < 200; ++it, ++asked) {
    // A 503 (or no answer) is the contract's "try again", not an answer about
    // the coupon: asked again, a few times. A 200 is judged as it comes.
    HttpResponse r;
    for (int attempt = 0; attempt < 5; ++attempt) {
      r = AdminCall(api, "GET", "/api/v1/events/crash/users/" + it->first);
      if (r.status != 503 && r.status != 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    ASSERT_EQ(r.status, 200) << it->first << ": " << r.body;
    auto answer = r.json();
    ASSERT_TRUE(answer.is_object() && answer.as_object().contains("coupons")) << r.body;
    const auto& coupons = answer.as_object().at("coupons").as_array();
    ASSERT_EQ(coupons.size(), 1u) << it->first << " lost the coupon it was told about: " << r.body;
    EXPECT_EQ(coupons[0].as_object().at("seq").as_int64(), it->second) << it->first;
    EXPECT_EQ(coupons[0].as_object().at("state").as_string(), "persisted") << it->first;
  }
  std::string out;
  EXPECT_EQ(Audit("crash", {"--data-dir", dir.path()}, &out), 0) << out;

  // Issuing goes on after the restart and never hands out a seq twice.
  for (int i = 0; i < 50; ++i) {
    auto r = Issue(api, "crash", "after-" + std::to_string(i));
    ASSERT_EQ(r.status, 201) << r.body;
    std::int64_t seq = r.json().as_object().at("seq").as_int64();
    EXPECT_FALSE(told_seqs.count(seq)) << "seq " << seq << " reused after restart";
    told_seqs.insert(seq);
  }
  ASSERT_TRUE(WaitForField(api, "crash", "persisted", issued + 50));
  EXPECT_EQ(Audit("crash", {"--data-dir", dir.path()}, &out), 0) << out;
  EXPECT_EQ(restarted.Terminate(), 0);
}

}  // namespace
}  // namespace firstcome::test
