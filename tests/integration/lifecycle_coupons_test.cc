// Operators' calls on single coupons, against real processes, embedded and
// distributed (lifecycle_fixture.h): failed events listed and retried now
// (a store trigger refuses some users' coupons, as a constraint would), and a
// coupon revoked: its seq goes to the next user, its holder may try again,
// and gate, log and store agree (audit 0). A revocation is refused while the
// coupon is not in the store yet, and done once it is.
#include <thread>

#include "lifecycle_fixture.h"
#include "support/served_firstcome.h"

namespace firstcome::test {
namespace {

namespace json = boost::json;

std::string EventPath(const std::string& event, const std::string& tail = "") {
  return "/api/v1/events/" + event + tail;
}

std::int64_t SeqOf(const HttpResponse& issued) {
  const json::value v = issued.json();
  return v.is_object() && v.as_object().contains("seq") ? v.as_object().at("seq").as_int64() : -1;
}

// The failed events of `event` by user, as GET .../failed lists them.
std::map<std::string, json::object> FailedByUser(const ApiEndpoint& api, const std::string& event) {
  std::map<std::string, json::object> out;
  HttpResponse r = AdminCall(api, "GET", EventPath(event, "/failed"));
  EXPECT_EQ(r.status, 200) << r.body;
  const json::value v = r.json();
  if (!v.is_object() || !v.as_object().contains("failed")) return out;
  for (const json::value& f : v.as_object().at("failed").as_array()) {
    out[std::string(f.as_object().at("user_id").as_string())] = f.as_object();
  }
  return out;
}

// The retry job runs every 200 ms and gives up after two attempts, so refused
// coupons die within seconds.
class FailedEventsTest : public LifecycleTest {
 protected:
  FailedEventsTest() { extra_flags_ = {"--retry-interval-ms", "200", "--retry-max-attempts", "2"}; }
};

TEST_P(FailedEventsTest, ListedWithEveryFieldAndRetriedNowDeadOnesToo) {
  ASSERT_EQ(CreateEvent(a(), "fail", 100).status, 201);
  RefuseBadUsers();
  std::map<std::string, std::int64_t> seq_of;
  for (const char* user : {"good-1", "bad-1", "good-2", "bad-2", "bad-3"}) {
    HttpResponse r = Issue(a(), "fail", user);
    ASSERT_EQ(r.status, 201) << r.body;
    seq_of[user] = SeqOf(r);
  }
  ASSERT_TRUE(WaitForField(a(), "fail", "dead", 3, std::chrono::seconds(90)))
      << json::serialize(GetEvent(a(), "fail"));

  auto failed = FailedByUser(b(), "fail");
  ASSERT_EQ(failed.size(), 3u);
  for (const char* user : {"bad-1", "bad-2", "bad-3"}) {
    SCOPED_TRACE(user);
    ASSERT_TRUE(failed.count(user));
    const json::object& f = failed[user];
    EXPECT_EQ(f.at("seq").as_int64(), seq_of[user]);
    EXPECT_EQ(f.at("coupon_id").as_string(), "fail-" + std::to_string(seq_of[user]));
    EXPECT_NE(std::string(f.at("error").as_string()).find("refused by the test"), std::string::npos)
        << json::serialize(f);
    EXPECT_EQ(f.at("attempts").as_int64(), 2);
    EXPECT_TRUE(f.at("dead").as_bool());
    ASSERT_TRUE(f.at("next_attempt_at").is_string());
    EXPECT_TRUE(ParseRfc3339(std::string(f.at("next_attempt_at").as_string())).ok());
  }

  // Still refused: one more attempt, the answer says why.
  const std::string retry_bad1 =
      EventPath("fail", "/failed/" + std::to_string(seq_of["bad-1"]) + "/retry");
  HttpResponse still = AdminCall(a(), "POST", retry_bad1);
  ASSERT_EQ(still.status, 200) << still.body;
  EXPECT_EQ(Field(still.json(), "seq"), seq_of["bad-1"]);
  EXPECT_FALSE(still.json().as_object().at("persisted").as_bool());
  EXPECT_NE(JsonText(still.json(), "error").find("refused by the test"), std::string::npos);
  EXPECT_EQ(FailedByUser(a(), "fail")["bad-1"].at("attempts").as_int64(), 3);

  AcceptAllUsers();  // the cause is fixed
  HttpResponse done = AdminCall(b(), "POST", retry_bad1, "{}");
  ASSERT_EQ(done.status, 200) << done.body;
  EXPECT_TRUE(done.json().as_object().at("persisted").as_bool());
  EXPECT_FALSE(done.json().as_object().contains("error"));
  EXPECT_EQ(FailedByUser(a(), "fail").size(), 2u);
  HttpResponse again = AdminCall(a(), "POST", retry_bad1);
  EXPECT_EQ(again.status, 404) << again.body;
  EXPECT_EQ(JsonText(again.json(), "error"), "failed_event_not_found");
  EXPECT_EQ(AdminCall(a(), "POST",
                      EventPath("fail", "/failed/" + std::to_string(seq_of["good-1"]) + "/retry"))
                .status,
            404)
      << "a persisted coupon has no failed event";
  EXPECT_EQ(AdminCall(a(), "POST", EventPath("nope", "/failed/1/retry")).status, 404);
  EXPECT_EQ(AdminCall(a(), "GET", EventPath("nope", "/failed")).status, 404);
  EXPECT_EQ(AdminCall(a(), "POST", EventPath("fail", "/failed/x/retry")).status, 400);

  for (const char* user : {"bad-2", "bad-3"}) {
    HttpResponse r = AdminCall(
        a(), "POST", EventPath("fail", "/failed/" + std::to_string(seq_of[user]) + "/retry"));
    EXPECT_TRUE(r.json().as_object().at("persisted").as_bool()) << r.body;
  }
  EXPECT_TRUE(FailedByUser(a(), "fail").empty());
  const json::value event = GetEvent(b(), "fail");
  EXPECT_EQ(Field(event, "persisted"), 5);
  EXPECT_EQ(Field(event, "failed"), 0);
  EXPECT_EQ(Field(event, "dead"), 0);
  EXPECT_EQ(JsonText(UserCoupons(b(), "fail", "bad-3")[0], "state"), "persisted");
  ExpectPersistedAndAuditClean("fail");
}

TEST_P(LifecycleTest, RevokedSeqGoesToTheNextUserAndTheHolderMayTryAgain) {
  ASSERT_EQ(CreateEvent(a(), "rv", 3).status, 201);
  std::map<std::string, std::int64_t> seq_of;
  for (const char* user : {"u1", "u2", "u3"}) {
    HttpResponse r = Issue(a(), "rv", user);
    ASSERT_EQ(r.status, 201) << r.body;
    seq_of[user] = SeqOf(r);
  }
  ASSERT_EQ(Issue(b(), "rv", "u4").status, 410);
  ASSERT_TRUE(WaitForField(a(), "rv", "persisted", 3, std::chrono::seconds(90)));

  const std::string revoke_u2 = EventPath("rv", "/coupons/" + std::to_string(seq_of["u2"]));
  HttpResponse revoked = AdminCall(a(), "DELETE", revoke_u2);
  ASSERT_EQ(revoked.status, 200) << revoked.body;
  const json::value body = revoked.json();
  const json::value what = JsonMember(body, "revoked");
  EXPECT_EQ(Field(what, "seq"), seq_of["u2"]);
  EXPECT_EQ(JsonText(what, "user_id"), "u2");
  EXPECT_EQ(JsonText(what, "coupon_id"), "rv-" + std::to_string(seq_of["u2"]));
  EXPECT_TRUE(UserCoupons(b(), "rv", "u2").empty()) << "the coupon is gone from the user's list";
  EXPECT_EQ(Field(GetEvent(b(), "rv"), "issued"), 2);

  // The freed seq goes to the next user, through the other process (once its
  // sold-out flag expired).
  HttpResponse next;
  EXPECT_GE(SecondsUntil([&] { return (next = Issue(b(), "rv", "u4")).status == 201; }), 0);
  EXPECT_EQ(SeqOf(next), seq_of["u2"]);
  EXPECT_EQ(Issue(a(), "rv", "u2").status, 410) << "sold out again";
  ASSERT_EQ(AdminCall(a(), "PATCH", EventPath("rv"), R"({"total":4})").status, 200);
  HttpResponse back = Issue(a(), "rv", "u2");
  ASSERT_EQ(back.status, 201) << "the holder may try again: " << back.body;
  EXPECT_EQ(SeqOf(back), 4);

  HttpResponse nobody = AdminCall(a(), "DELETE", EventPath("rv", "/coupons/5"));
  EXPECT_EQ(nobody.status, 404) << nobody.body;
  EXPECT_EQ(JsonText(nobody.json(), "error"), "coupon_not_found");
  EXPECT_EQ(AdminCall(a(), "DELETE", EventPath("nope", "/coupons/1")).status, 404);
  EXPECT_EQ(AdminCall(a(), "DELETE", EventPath("rv", "/coupons/0")).status, 400);
  ExpectPersistedAndAuditClean("rv");
  std::string out;
  RunAudit("rv", &out);
  EXPECT_NE(out.find("1 revocations"), std::string::npos) << out;
}

// A coupon not in the store yet cannot be revoked (a copy of its issuance
// could still arrive after the revocation): 409 coupon_pending, and once the
// consumer stored it, the revocation goes through. Revoking a coupon whose
// record the store refused takes its failed event with it.
TEST_P(LifecycleTest, PendingCouponsWaitAndFailedOnesAreRevokedWithTheirFailedEvent) {
  ASSERT_EQ(CreateEvent(a(), "pend", 10).status, 201);
  ASSERT_EQ(Issue(a(), "pend", "first").status, 201);
  ASSERT_TRUE(WaitForField(a(), "pend", "persisted", 1, std::chrono::seconds(90)));
  PauseConsumption();
  HttpResponse issued = Issue(a(), "pend", "pending");
  ASSERT_EQ(issued.status, 201) << issued.body;
  const std::string path = EventPath("pend", "/coupons/" + std::to_string(SeqOf(issued)));
  HttpResponse pending = AdminCall(a(), "DELETE", path);
  EXPECT_EQ(pending.status, 409) << pending.body;
  EXPECT_EQ(JsonText(pending.json(), "error"), "coupon_pending");
  ResumeConsumption();
  ASSERT_TRUE(WaitForField(a(), "pend", "persisted", 2, std::chrono::seconds(90)));
  HttpResponse revoked = AdminCall(b(), "DELETE", path);
  ASSERT_EQ(revoked.status, 200) << revoked.body;

  RefuseBadUsers();
  HttpResponse bad = Issue(a(), "pend", "bad-1");
  ASSERT_EQ(bad.status, 201);
  ASSERT_TRUE(WaitForField(a(), "pend", "failed", 1, std::chrono::seconds(90)));
  HttpResponse failed_revoked =
      AdminCall(a(), "DELETE", EventPath("pend", "/coupons/" + std::to_string(SeqOf(bad))));
  ASSERT_EQ(failed_revoked.status, 200) << failed_revoked.body;
  EXPECT_EQ(Field(GetEvent(a(), "pend"), "failed"), 0);
  EXPECT_TRUE(FailedByUser(a(), "pend").empty());
  EXPECT_TRUE(UserCoupons(a(), "pend", "bad-1").empty());
  AcceptAllUsers();
  // The revoked seqs are handed out again and stored for their new holders.
  EXPECT_EQ(Issue(b(), "pend", "new-1").status, 201);
  EXPECT_EQ(Issue(b(), "pend", "new-2").status, 201);
  ExpectPersistedAndAuditClean("pend");
  EXPECT_EQ(Field(GetEvent(a(), "pend"), "persisted"), 3);
}

INSTANTIATE_TEST_SUITE_P(Deployments, LifecycleTest, ::testing::Values("embedded", "distributed"),
                         [](const auto& info) { return info.param; });
INSTANTIATE_TEST_SUITE_P(Deployments, FailedEventsTest,
                         ::testing::Values("embedded", "distributed"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace firstcome::test
