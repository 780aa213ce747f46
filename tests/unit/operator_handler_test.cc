// The operator calls of ApiHandler (operator_handler.cc) without sockets:
// routes and methods, the admin check on every one, the checks made before
// the service is called (bodies, seqs in the path, the delete confirmation),
// the answer bodies of docs/api.md "Operators", and the refusals' statuses
// and codes (errors.h). The service behind is the scripted fake of
// api_handler_fixture.h.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "http/errors.h"
#include "http/routes.h"
#include "unit/api_handler_fixture.h"

namespace firstcome::http {
namespace {

using test_fixture::ApiHandlerTest;
using test_fixture::Request;
namespace json = boost::json;

class OperatorHandlerTest : public ApiHandlerTest {
 protected:
  OperatorHandlerTest() { AddEvent("launch"); }

  struct Call {
    Method method;
    std::string target;
    std::string body;
  };
  // One valid call of each operator route, as a client sends it.
  static std::vector<Call> EveryCall() {
    return {{Method::kPost, "/api/v1/events/launch/close", ""},
            {Method::kPost, "/api/v1/events/launch/open", "{}"},
            {Method::kPatch, "/api/v1/events/launch", R"({"total":20})"},
            {Method::kDelete, "/api/v1/events/launch/coupons/7", ""},
            {Method::kDelete, "/api/v1/events/launch?confirm=launch", ""},
            {Method::kGet, "/api/v1/events/launch/failed", ""},
            {Method::kPost, "/api/v1/events/launch/failed/2/retry", ""}};
  }
};

TEST(OperatorRoutes, MatchEveryShapeAndNothingElse) {
  struct Case {
    std::string target;
    Route route;
    std::string seq;
  };
  for (const Case& k : std::vector<Case>{
           {"/api/v1/events/e/close", Route::kEventClose, ""},
           {"/api/v1/events/e/open", Route::kEventOpen, ""},
           {"/api/v1/events/e/coupons/12", Route::kCoupon, "12"},
           {"/api/v1/events/e/failed", Route::kFailed, ""},
           {"/api/v1/events/e/failed/3/retry", Route::kFailedRetry, "3"},
           {"/api/v1/events/e?confirm=e", Route::kEvent, ""},
           {"/api/v1/events/e/failed/3", Route::kNotFound, ""},
           {"/api/v1/events/e/failed/3/retry/x", Route::kNotFound, ""},
           {"/api/v1/events/e/coupons", Route::kNotFound, ""},
           {"/api/v1/events/e/close/now", Route::kNotFound, ""},
           {"/api/v1/events/e/failed//retry", Route::kNotFound, ""},
       }) {
    SCOPED_TRACE(k.target);
    RouteMatch m = MatchRoute(k.target);
    EXPECT_EQ(m.route, k.route);
    EXPECT_EQ(m.seq, k.seq);
    if (k.route != Route::kNotFound) {
      EXPECT_EQ(m.event_id, "e");
    }
  }
}

TEST(OperatorRoutes, QueryParameterDecodes) {
  EXPECT_EQ(QueryParameter("/x?confirm=launch", "confirm"), "launch");
  EXPECT_EQ(QueryParameter("/x?a=1&confirm=a%3Ab%40c&b=2", "confirm"), "a:b@c");
  EXPECT_EQ(QueryParameter("/x?confirm=", "confirm"), "");
  EXPECT_EQ(QueryParameter("/x?confirm", "confirm"), "");
  EXPECT_EQ(QueryParameter("/x?confirmed=launch", "confirm"), std::nullopt);
  EXPECT_EQ(QueryParameter("/x", "confirm"), std::nullopt);
  EXPECT_EQ(QueryParameter("/x?confirm=a%4", "confirm"), std::nullopt);
  EXPECT_EQ(QueryParameter("/x?confirm=a%zz", "confirm"), std::nullopt);
}

TEST_F(OperatorHandlerTest, EveryCallIsAnAdminCall) {
  for (const Call& c : EveryCall()) {
    SCOPED_TRACE(c.target);
    Reply r = Run(Request(c.method, c.target, c.body, /*loopback=*/false));
    EXPECT_EQ(last_next_, ApiHandler::Next::kReply);
    ExpectError(r, 401, "unauthorized");
  }
  EXPECT_TRUE(service_.operator_calls.empty());

  Rebuild({.admin_token = "s3cret"});
  for (const Call& c : EveryCall()) {
    SCOPED_TRACE(c.target);
    ApiRequest wrong = Request(c.method, c.target, c.body, /*loopback=*/true);
    wrong.authorization = "Bearer nope";
    ExpectError(Run(wrong), 401, "unauthorized");
    ApiRequest right = Request(c.method, c.target, c.body, /*loopback=*/false);
    right.authorization = "Bearer s3cret";
    Reply r = Run(right);
    EXPECT_EQ(last_next_, ApiHandler::Next::kBlocking);
    EXPECT_EQ(r.status, 200) << r.body;
  }
  EXPECT_EQ(
      service_.operator_calls,
      (std::vector<std::string>{"close launch", "open launch", "update launch", "revoke 7 launch",
                                "delete launch", "failed launch", "retry 2 launch"}));
}

TEST_F(OperatorHandlerTest, WrongMethodsAre405WithAllow) {
  struct Case {
    Method method;
    std::string target;
    std::string allow;
  };
  for (const Case& k :
       std::vector<Case>{{Method::kGet, "/api/v1/events/launch/close", "POST"},
                         {Method::kDelete, "/api/v1/events/launch/open", "POST"},
                         {Method::kGet, "/api/v1/events/launch/coupons/1", "DELETE"},
                         {Method::kPost, "/api/v1/events/launch/failed", "GET"},
                         {Method::kGet, "/api/v1/events/launch/failed/1/retry", "POST"},
                         {Method::kPost, "/api/v1/events/launch", "GET, PATCH, DELETE"},
                         {Method::kPatch, "/api/v1/events", "GET, POST"}}) {
    SCOPED_TRACE(k.target);
    Reply r = Run(Request(k.method, k.target));
    ExpectError(r, 405, "method_not_allowed");
    ASSERT_NE(r.allow, nullptr);
    EXPECT_EQ(std::string(r.allow), k.allow);
  }
  EXPECT_TRUE(service_.operator_calls.empty());
}

TEST_F(OperatorHandlerTest, BadInputIs400WithoutCallingTheService) {
  for (const Call& c : std::vector<Call>{
           {Method::kPost, "/api/v1/events/launch/close", "not json"},
           {Method::kPost, "/api/v1/events/launch/close", R"({"reason":"x"})"},
           {Method::kPost, "/api/v1/events/launch/open", "[]"},
           {Method::kPatch, "/api/v1/events/launch", ""},
           {Method::kPatch, "/api/v1/events/launch", R"({"per_user":2})"},
           {Method::kPatch, "/api/v1/events/launch", R"({"id":"other"})"},
           {Method::kPatch, "/api/v1/events/launch", R"({"total":0})"},
           {Method::kPatch, "/api/v1/events/launch", R"({"total":1000000001})"},
           {Method::kPatch, "/api/v1/events/launch", R"({"total":"5"})"},
           {Method::kPatch, "/api/v1/events/launch", R"({"total":5.5})"},
           {Method::kPatch, "/api/v1/events/launch", R"({"name":7})"},
           {Method::kPatch, "/api/v1/events/launch", R"({"starts_at":"tomorrow"})"},
           {Method::kPatch, "/api/v1/events/launch", R"({"total":5,"total":6})"},
           {Method::kDelete, "/api/v1/events/launch/coupons/0", ""},
           {Method::kDelete, "/api/v1/events/launch/coupons/-1", ""},
           {Method::kDelete, "/api/v1/events/launch/coupons/1x", ""},
           {Method::kDelete, "/api/v1/events/launch/coupons/1000000001", ""},
           {Method::kDelete, "/api/v1/events/launch/coupons/99999999999999999999", ""},
           {Method::kPost, "/api/v1/events/launch/failed/abc/retry", ""},
           {Method::kPost, "/api/v1/events/launch/failed/2/retry", R"({"now":true})"},
           {Method::kDelete, "/api/v1/events/launch", ""},
           {Method::kDelete, "/api/v1/events/launch?confirm=", ""},
           {Method::kDelete, "/api/v1/events/launch?confirm=lunch", ""},
           {Method::kDelete, "/api/v1/events/launch?confirm=launch2", ""},
           {Method::kDelete, "/api/v1/events/launch?confirmed=launch", ""},
           {Method::kDelete, "/api/v1/events/bad%20id?confirm=bad%20id", ""},
       }) {
    SCOPED_TRACE(c.target + " " + c.body);
    Reply r = Run(Request(c.method, c.target, c.body));
    EXPECT_EQ(last_next_, ApiHandler::Next::kReply);
    ExpectError(r, 400, "invalid_request");
  }
  EXPECT_TRUE(service_.operator_calls.empty());
  Reply r = Run(Request(Method::kDelete, "/api/v1/events/launch"));
  EXPECT_NE(Body(r).at("detail").as_string().find("confirm=launch"), std::string::npos) << r.body;
}

TEST_F(OperatorHandlerTest, PatchPassesOnlyTheGivenFields) {
  Reply r = Run(Request(Method::kPatch, "/api/v1/events/launch",
                        R"({"total":25,"name":"Launch","starts_at":null,)"
                        R"("ends_at":"2026-11-25T10:00:00Z"})"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r).at("id"), json::value("launch"));
  const EventPatch& p = service_.last_patch;
  EXPECT_EQ(p.total, 25);
  EXPECT_EQ(p.name, "Launch");
  ASSERT_TRUE(p.starts_at.has_value());
  EXPECT_FALSE(p.starts_at->has_value()) << "null clears the time";
  ASSERT_TRUE(p.ends_at.has_value());
  EXPECT_EQ(*p.ends_at, std::optional<UnixMillis>(1795600800000));

  ASSERT_EQ(Run(Request(Method::kPatch, "/api/v1/events/launch", R"({"name":null})")).status, 200);
  EXPECT_FALSE(service_.last_patch.total.has_value());
  EXPECT_EQ(service_.last_patch.name, "");
  EXPECT_FALSE(service_.last_patch.starts_at.has_value()) << "absent: unchanged";
  ASSERT_EQ(Run(Request(Method::kPatch, "/api/v1/events/launch", "{}")).status, 200);
}

TEST_F(OperatorHandlerTest, AnswersHaveTheContractsShape) {
  Reply r = Run(Request(Method::kPost, "/api/v1/events/launch/close"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r).at("id"), json::value("launch"));
  EXPECT_TRUE(Body(r).as_object().contains("state"));

  r = Run(Request(Method::kDelete, "/api/v1/events/launch/coupons/7"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r),
            json::parse(R"({"revoked":{"seq":7,"user_id":"u-9","coupon_id":"launch-7"}})"));

  r = Run(Request(Method::kDelete, "/api/v1/events/launch?confirm=launch"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r), json::parse(R"({"deleted":"launch","coupons":4})"));

  r = Run(Request(Method::kGet, "/api/v1/events/launch/failed"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r), json::parse(R"({"event_id":"launch","failed":[{"seq":2,"user_id":"u-2",)"
                                 R"("coupon_id":"launch-2","error":"refused","attempts":3,)"
                                 R"("next_attempt_at":"2025-11-25T10:00:00Z","dead":true}]})"));

  r = Run(Request(Method::kPost, "/api/v1/events/launch/failed/2/retry", "{}"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r), json::parse(R"({"seq":2,"persisted":false,"error":"still refused"})"));
}

TEST_F(OperatorHandlerTest, RefusalsAndErrorsMapToTheirCodes) {
  service_.update_refusal = OperatorStatus::kTotalBelowIssued;
  ExpectError(Run(Request(Method::kPatch, "/api/v1/events/launch", R"({"total":1})")), 409,
              "total_below_issued");
  service_.revoke_refusal = OperatorStatus::kCouponNotFound;
  ExpectError(Run(Request(Method::kDelete, "/api/v1/events/launch/coupons/3")), 404,
              "coupon_not_found");
  service_.revoke_refusal = OperatorStatus::kCouponPending;
  ExpectError(Run(Request(Method::kDelete, "/api/v1/events/launch/coupons/3")), 409,
              "coupon_pending");
  service_.retry_refusal = OperatorStatus::kFailedEventNotFound;
  ExpectError(Run(Request(Method::kPost, "/api/v1/events/launch/failed/3/retry")), 404,
              "failed_event_not_found");

  // Unknown events are 404 event_not_found on every call; a store outage 503.
  for (const Call& c : EveryCall()) {
    SCOPED_TRACE(c.target);
    std::string target = c.target;
    for (std::size_t at; (at = target.find("launch")) != std::string::npos;) {
      target.replace(at, 6, "nope");
    }
    ExpectError(Run(Request(c.method, target, c.body)), 404, "event_not_found");
  }
  service_.down = Status::Unavailable("the store is down");
  for (const Call& c : EveryCall()) {
    SCOPED_TRACE(c.target);
    ExpectError(Run(Request(c.method, c.target, c.body)), 503, "unavailable");
  }
}

TEST(ErrorsTest, OperatorRefusalsMapInOnePlace) {
  struct Case {
    OperatorStatus status;
    int http;
    std::string code;
  };
  for (const Case& k :
       std::vector<Case>{{OperatorStatus::kTotalBelowIssued, 409, "total_below_issued"},
                         {OperatorStatus::kCouponNotFound, 404, "coupon_not_found"},
                         {OperatorStatus::kCouponPending, 409, "coupon_pending"},
                         {OperatorStatus::kFailedEventNotFound, 404, "failed_event_not_found"}}) {
    HttpOutcome o = OutcomeOf(k.status);
    EXPECT_EQ(o.http, k.http) << k.code;
    EXPECT_EQ(o.code, k.code);
  }
}

}  // namespace
}  // namespace firstcome::http
