// Operators' calls that change an event, against real processes, embedded and
// distributed (lifecycle_fixture.h): close and open, PATCH of total, name and
// times, and a total raised in the middle of a burst. A change made through
// one API process is honoured by the other within one second (the total at
// once: the gate holds it); nothing is ever over-issued and audit stays clean.
#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "lifecycle_fixture.h"
#include "loadgen/load_generator.h"

namespace firstcome::test {
namespace {

namespace json = boost::json;

std::string EventPath(const std::string& event, const std::string& tail = "") {
  return "/api/v1/events/" + event + tail;
}

TEST_P(LifecycleTest, CloseStopsIssuingEverywhereWithinASecondAndOpenResumesIt) {
  ASSERT_EQ(CreateEvent(a(), "shut", 10000).status, 201);
  ASSERT_EQ(Issue(b(), "shut", "before").status, 201);

  HttpResponse closed = AdminCall(a(), "POST", EventPath("shut", "/close"));
  ASSERT_EQ(closed.status, 200) << closed.body;
  EXPECT_EQ(JsonText(closed.json(), "state"), "closed");
  // The process that closed it refuses at once; the other within a second.
  HttpResponse refused = Issue(a(), "shut", "right-after");
  EXPECT_EQ(refused.status, 403) << refused.body;
  EXPECT_EQ(JsonText(refused.json(), "status"), "not_open");
  EXPECT_NE(JsonText(refused.json(), "detail").find("closed"), std::string::npos) << refused.body;
  int probe = 0;
  const double seconds =
      SecondsUntil([&] { return Issue(b(), "shut", Name("probe-", probe++)).status == 403; });
  std::printf("close honoured by the other process after %.3f s\n", seconds);
  EXPECT_GE(seconds, 0) << "never refused";
  EXPECT_LT(seconds, 1.0);
  EXPECT_EQ(JsonText(GetEvent(b(), "shut"), "state"), "closed");
  EXPECT_EQ(AdminCall(a(), "POST", EventPath("shut", "/close"), "{}").status, 200)
      << "closing twice is fine";

  HttpResponse opened = AdminCall(a(), "POST", EventPath("shut", "/open"));
  ASSERT_EQ(opened.status, 200) << opened.body;
  EXPECT_EQ(JsonText(opened.json(), "state"), "open");
  const double reopened =
      SecondsUntil([&] { return Issue(b(), "shut", Name("after-", probe++)).status == 201; });
  std::printf("open honoured by the other process after %.3f s\n", reopened);
  EXPECT_GE(reopened, 0);
  EXPECT_LT(reopened, 1.0);

  // Closed wins over sold out; opened again, the count decides.
  ASSERT_EQ(CreateEvent(a(), "shut-one", 1).status, 201);
  ASSERT_EQ(Issue(b(), "shut-one", "only").status, 201);
  EXPECT_EQ(JsonText(AdminCall(a(), "POST", EventPath("shut-one", "/close")).json(), "state"),
            "closed");
  EXPECT_EQ(JsonText(AdminCall(a(), "POST", EventPath("shut-one", "/open")).json(), "state"),
            "sold_out");

  EXPECT_EQ(AdminCall(a(), "POST", EventPath("nope", "/close")).status, 404);
  EXPECT_EQ(AdminCall(a(), "POST", EventPath("shut", "/close"), R"({"why":1})").status, 400);
  ExpectPersistedAndAuditClean("shut");
}

TEST_P(LifecycleTest, PatchChangesTotalNameAndTimesForEveryProcess) {
  ASSERT_EQ(CreateEvent(a(), "change", 3).status, 201);
  for (int i = 1; i <= 3; ++i) ASSERT_EQ(Issue(b(), "change", Name("u", i)).status, 201);
  ASSERT_EQ(Issue(b(), "change", "u4").status, 410);

  HttpResponse raised = AdminCall(a(), "PATCH", EventPath("change"), R"({"total":5})");
  ASSERT_EQ(raised.status, 200) << raised.body;
  EXPECT_EQ(Field(raised.json(), "total"), 5);
  EXPECT_EQ(Field(raised.json(), "remaining"), 2);
  // The other process issues the two new coupons (within its sold-out flag's
  // life at most), and not one more.
  int next = 4, issued = 0;
  const double seconds = SecondsUntil([&] {
    HttpResponse r = Issue(b(), "change", Name("u", next));
    if (r.status == 201) {
      ++issued;
      ++next;
    }
    return issued == 2;
  });
  std::printf("raised total honoured by the other process after %.3f s\n", seconds);
  EXPECT_GE(seconds, 0);
  EXPECT_LT(seconds, 1.0);
  EXPECT_EQ(Issue(b(), "change", "late").status, 410);

  HttpResponse below = AdminCall(a(), "PATCH", EventPath("change"), R"({"total":4})");
  EXPECT_EQ(below.status, 409) << below.body;
  EXPECT_EQ(JsonText(below.json(), "error"), "total_below_issued");
  EXPECT_NE(JsonText(below.json(), "detail").find("5"), std::string::npos) << below.body;
  EXPECT_EQ(Field(GetEvent(a(), "change"), "total"), 5) << "a refused change changes nothing";
  EXPECT_EQ(AdminCall(a(), "PATCH", EventPath("change"), R"({"total":5})").status, 200);

  HttpResponse renamed = AdminCall(a(), "PATCH", EventPath("change"),
                                   R"({"name":"Renamed","starts_at":"2099-01-01T00:00:00Z"})");
  ASSERT_EQ(renamed.status, 200) << renamed.body;
  EXPECT_EQ(JsonText(renamed.json(), "name"), "Renamed");
  EXPECT_EQ(JsonText(renamed.json(), "state"), "scheduled");
  EXPECT_GE(SecondsUntil([&] { return JsonText(GetEvent(b(), "change"), "name") == "Renamed"; }),
            0);
  EXPECT_GE(SecondsUntil([&] { return Issue(b(), "change", "early").status == 403; }), 0);
  HttpResponse cleared =
      AdminCall(a(), "PATCH", EventPath("change"), R"({"starts_at":null,"name":null})");
  ASSERT_EQ(cleared.status, 200) << cleared.body;
  EXPECT_TRUE(cleared.json().as_object().at("starts_at").is_null());
  EXPECT_EQ(JsonText(cleared.json(), "name"), "");
  EXPECT_EQ(JsonText(cleared.json(), "state"), "sold_out");
  HttpResponse ended =
      AdminCall(a(), "PATCH", EventPath("change"), R"({"ends_at":"2001-01-01T00:00:00Z"})");
  EXPECT_EQ(JsonText(ended.json(), "state"), "ended");
  EXPECT_EQ(AdminCall(a(), "PATCH", EventPath("change"),
                      R"({"starts_at":"2030-01-01T00:00:00Z","ends_at":"2029-01-01T00:00:00Z"})")
                .status,
            400);
  EXPECT_EQ(AdminCall(a(), "PATCH", EventPath("change"), R"({"per_user":2})").status, 400);
  EXPECT_EQ(AdminCall(a(), "PATCH", EventPath("nope"), R"({"total":9})").status, 404);
  ExpectPersistedAndAuditClean("change");
}

// A burst through every API process sells the event out; the total is raised
// while the burst goes on. Every coupon of the new total is issued, exactly
// once each, and not one more.
TEST_P(LifecycleTest, RaisingTotalMidBurstIssuesExactlyTheNewTotal) {
  constexpr std::int64_t kFirst = 100, kRaised = 300;
  ASSERT_EQ(CreateEvent(a(), "raise", kFirst).status, 201);
  LoadOptions load;
  load.targets.clear();
  for (const ApiEndpoint* api : {&a(), &b()}) {
    load.targets.push_back("http://127.0.0.1:" + std::to_string(api->port));
  }
  load.event_id = "raise";
  load.connections = 64;
  load.requests = 2000;
  load.rate = 500;  // ~4 s: long enough to raise the total in the middle
  load.record_answers = true;
  load.give_up_after = std::chrono::seconds(120);
  std::atomic<bool> load_done{false};
  Result<LoadReport> report = Status::Internal("not run");
  std::thread burst([&] {
    report = RunLoad(load);
    load_done = true;
  });
  bool raised_mid_burst = false;
  const double until_sold_out = SecondsUntil(
      [&] { return Field(GetEvent(a(), "raise"), "issued") >= kFirst; }, std::chrono::seconds(60));
  if (until_sold_out >= 0 && !load_done.load()) {
    HttpResponse r = AdminCall(a(), "PATCH", EventPath("raise"), R"({"total":300})");
    EXPECT_EQ(r.status, 200) << r.body;
    raised_mid_burst = !load_done.load();
  }
  burst.join();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  ASSERT_TRUE(raised_mid_burst) << "the burst ended before the total could be raised";

  std::set<std::int64_t> seqs;
  std::set<std::string> winners;
  std::map<int, int> by_status;
  for (const Answer& ans : report->answers) {
    ++by_status[ans.http_status];
    if (ans.http_status != 201) continue;
    EXPECT_TRUE(winners.insert(ans.user_id).second) << ans.user_id << " issued twice";
    EXPECT_TRUE(seqs.insert(ans.seq).second) << "seq " << ans.seq << " issued twice";
  }
  for (const auto& [status, n] : by_status) {
    EXPECT_TRUE(status == 201 || status == 410) << n << " x " << status;
  }
  // Whatever the burst left is issued now, through both processes, until
  // both say sold out for longer than a sold-out flag lives.
  int top_up = 0, sold_out_in_a_row = 0;
  while (sold_out_in_a_row < 6 && top_up < 1000) {
    HttpResponse r = Issue(top_up % 2 == 0 ? a() : b(), "raise", Name("top-up-", top_up));
    ++top_up;
    if (r.status == 201) {
      sold_out_in_a_row = 0;
      EXPECT_TRUE(seqs.insert(r.json().as_object().at("seq").as_int64()).second);
      continue;
    }
    ASSERT_EQ(r.status, 410) << r.body;
    ++sold_out_in_a_row;
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
  }
  std::printf("raise mid-burst: %d issued by the burst (%d sold out), %zu in all after top-up\n",
              by_status[201], by_status[410], seqs.size());
  EXPECT_EQ(static_cast<std::int64_t>(seqs.size()), kRaised);
  EXPECT_EQ(*seqs.begin(), 1);
  EXPECT_EQ(*seqs.rbegin(), kRaised);
  EXPECT_GT(by_status[201], kFirst) << "the raise was used during the burst";
  EXPECT_EQ(Field(GetEvent(b(), "raise"), "issued"), kRaised);
  EXPECT_EQ(AdminCall(a(), "PATCH", EventPath("raise"), R"({"total":299})").status, 409);
  ExpectPersistedAndAuditClean("raise");
}

INSTANTIATE_TEST_SUITE_P(Deployments, LifecycleTest, ::testing::Values("embedded", "distributed"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace firstcome::test
