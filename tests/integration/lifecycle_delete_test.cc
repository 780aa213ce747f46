// Deleting an event (a rehearsal) against real processes, embedded and
// distributed (lifecycle_fixture.h): only with the confirmation parameter;
// the gate state, the store rows and the log records' effect all go, and the
// id created again starts clean at seq 1 with a clean audit (the old records
// stay in the log, of another incarnation). An API process whose catalog has
// not seen the deletion cannot admit anyone into the deleted event.
#include "lifecycle_fixture.h"
#include "support/served_firstcome.h"

namespace firstcome::test {
namespace {

namespace json = boost::json;

const std::string kPath = "/api/v1/events/rehearsal";

std::int64_t SeqOf(const HttpResponse& issued) { return Field(issued.json(), "seq"); }

TEST_P(LifecycleTest, DeleteNeedsTheConfirmationAndTheIdStartsAgainClean) {
  ASSERT_EQ(CreateEvent(a(), "rehearsal", 5).status, 201);
  for (int i = 1; i <= 3; ++i) ASSERT_EQ(Issue(a(), "rehearsal", Name("u", i)).status, 201);
  ASSERT_TRUE(WaitForField(a(), "rehearsal", "persisted", 3, std::chrono::seconds(90)));

  for (const std::string& target :
       {kPath, kPath + "?confirm=", kPath + "?confirm=other", kPath + "?confirmed=rehearsal"}) {
    HttpResponse refused = AdminCall(a(), "DELETE", target);
    EXPECT_EQ(refused.status, 400) << target << ": " << refused.body;
    EXPECT_EQ(JsonText(refused.json(), "error"), "invalid_request");
  }
  EXPECT_EQ(Field(GetEvent(a(), "rehearsal"), "persisted"), 3) << "nothing was deleted";
  EXPECT_EQ(AdminCall(a(), "DELETE", "/api/v1/events/nope?confirm=nope").status, 404);

  HttpResponse deleted = AdminCall(a(), "DELETE", kPath + "?confirm=rehearsal");
  ASSERT_EQ(deleted.status, 200) << deleted.body;
  EXPECT_EQ(deleted.json(), json::parse(R"({"deleted":"rehearsal","coupons":3})"));
  EXPECT_EQ(HttpRequest("127.0.0.1", a().port, "GET", kPath).status, 404);
  EXPECT_GE(
      SecondsUntil([&] { return HttpRequest("127.0.0.1", b().port, "GET", kPath).status == 404; }),
      0);
  HttpResponse gone = Issue(b(), "rehearsal", "late");
  EXPECT_EQ(gone.status, 404) << gone.body;

  // Created again: a clean start, whatever the old incarnation left.
  ASSERT_EQ(CreateEvent(b(), "rehearsal", 5).status, 201);
  // Each process sees the new event once its catalog caught up (a one that
  // was just told "no such event" remembers that for a moment).
  EXPECT_GE(
      SecondsUntil([&] { return HttpRequest("127.0.0.1", a().port, "GET", kPath).status == 200; }),
      0);
  for (int i = 1; i <= 5; ++i) {
    HttpResponse r = Issue(a(), "rehearsal", Name("u", i));
    ASSERT_EQ(r.status, 201) << r.body;
    EXPECT_EQ(SeqOf(r), i);
  }
  EXPECT_EQ(Issue(b(), "rehearsal", "u6").status, 410);
  ExpectPersistedAndAuditClean("rehearsal");
  const json::array mine = UserCoupons(b(), "rehearsal", "u1");
  ASSERT_EQ(mine.size(), 1u) << "only the new coupon";
  EXPECT_EQ(Field(mine[0], "seq"), 1);
  EXPECT_EQ(Field(GetEvent(b(), "rehearsal"), "persisted"), 5);

  if (!distributed()) {
    // The in-process gate is rebuilt from the log on start: only the new
    // incarnation's records count.
    RestartEmbedded();
    EXPECT_EQ(Field(GetEvent(a(), "rehearsal"), "issued"), 5);
    EXPECT_EQ(Issue(a(), "rehearsal", "u7").status, 410);
    EXPECT_EQ(Issue(a(), "rehearsal", "u3").status, 409);
    ExpectPersistedAndAuditClean("rehearsal");
  }
}

// The second API process refreshes its catalog only every 10 s, so it still
// has the deleted event when the deletion is done. The gate's gone marker
// refuses its admissions (404), including after the id was created again,
// until its catalog catches up; then it issues the new event from seq 1.
class StaleCatalogTest : public LifecycleTest {
 protected:
  StaleCatalogTest() { second_api_flags_ = {"--catalog-refresh-ms", "10000"}; }
};

TEST_P(StaleCatalogTest, AProcessThatMissedTheDeletionCannotAdmitIntoIt) {
  ASSERT_EQ(CreateEvent(a(), "stale", 5).status, 201);
  ASSERT_EQ(Issue(b(), "stale", "before").status, 201);  // b caches the event
  HttpResponse deleted = AdminCall(a(), "DELETE", "/api/v1/events/stale?confirm=stale");
  ASSERT_EQ(deleted.status, 200) << deleted.body;
  EXPECT_EQ(JsonText(GetEvent(b(), "stale"), "id"), "stale") << "b has not seen it";
  for (int i = 0; i < 5; ++i) {
    HttpResponse r = Issue(b(), "stale", Name("stale-", i));
    EXPECT_EQ(r.status, 404) << r.body;
  }
  ASSERT_EQ(CreateEvent(a(), "stale", 5).status, 201);
  EXPECT_EQ(Issue(b(), "stale", "stale-x").status, 404) << "still the old incarnation";
  HttpResponse first;
  const double seconds =
      SecondsUntil([&] { return (first = Issue(b(), "stale", "fresh")).status == 201; },
                   std::chrono::seconds(30));
  std::printf("the stale process issued the new event after %.1f s\n", seconds);
  ASSERT_GE(seconds, 0);
  EXPECT_EQ(SeqOf(first), 1);
  ExpectPersistedAndAuditClean("stale");
}

INSTANTIATE_TEST_SUITE_P(Deployments, LifecycleTest, ::testing::Values("embedded", "distributed"),
                         [](const auto& info) { return info.param; });
INSTANTIATE_TEST_SUITE_P(Deployments, StaleCatalogTest, ::testing::Values("distributed"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace firstcome::test
