// ApiHandler without sockets: every route and answer of api.md is driven
// through Handle / StartIssue / AnswerIssue / RunBlocking against a scripted
// fake CouponService, as the transport would drive it. The socket side
// (parsing, keep-alive, timeouts, the blocking queue) is http_server_test's.
#include "http/api_handler.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "http/errors.h"
#include "http/request_id.h"
#include "http/request_metrics.h"
#include "support/jwt_signer.h"
#include "unit/api_handler_fixture.h"

namespace firstcome::http {
namespace {

using test_fixture::ApiHandlerTest;
using test_fixture::Request;
namespace json = boost::json;

TEST_F(ApiHandlerTest, HealthzOkAndUnavailable) {
  Rebuild({.role = "api"});
  Reply r = Run(Request(Method::kGet, "/healthz"));
  EXPECT_EQ(last_next_, ApiHandler::Next::kBlocking);
  EXPECT_EQ(call_.route, Route::kHealthz);
  EXPECT_EQ(r.status, 200);
  EXPECT_STREQ(r.content_type, kJsonType);
  EXPECT_EQ(Body(r), json::parse(R"({"status":"ok","role":"api"})"));

  service_.down = Status::Unavailable("the log is down");
  r = Run(Request(Method::kGet, "/healthz"));
  ExpectError(r, 503, "unavailable", /*with_status=*/true);
  EXPECT_EQ(Body(r).at("detail"), json::value("the log is down"));
}

TEST_F(ApiHandlerTest, MetricsAreTextWithTheServiceFigures) {
  metrics_.Record(0, Route::kIssue, 410, 1000);
  Reply r = Run(Request(Method::kGet, "/metrics"));
  EXPECT_EQ(last_next_, ApiHandler::Next::kBlocking);
  EXPECT_EQ(r.status, 200);
  EXPECT_STREQ(r.content_type, kPrometheusType);
  EXPECT_NE(r.body.find("firstcome_http_requests_total{route=\"issue\",status=\"410\"} 1"),
            std::string::npos)
      << r.body;
  EXPECT_NE(r.body.find("firstcome_fake_metric 1"), std::string::npos);
}

TEST_F(ApiHandlerTest, UnknownPathIs404WhateverTheMethod) {
  for (Method m : {Method::kGet, Method::kPost, Method::kOther}) {
    Reply r = Run(Request(m, "/api/v1/nope"));
    EXPECT_EQ(last_next_, ApiHandler::Next::kReply);
    EXPECT_EQ(call_.route, Route::kNotFound);
    ExpectError(r, 404, "not_found");
  }
}

TEST_F(ApiHandlerTest, WrongMethodIs405WithAllow) {
  struct Case {
    Method method;
    std::string target;
    std::string allow;
  };
  for (const Case& k : std::vector<Case>{{Method::kOther, "/api/v1/events", "GET, POST"},
                                         {Method::kGet, "/api/v1/events/a/issue", "POST"},
                                         {Method::kPost, "/api/v1/events/a", "GET, PATCH, DELETE"},
                                         {Method::kPost, "/api/v1/events/a/users/u", "GET"},
                                         {Method::kOther, "/healthz", "GET"},
                                         {Method::kPost, "/metrics", "GET"}}) {
    SCOPED_TRACE(k.target);
    Reply r = Run(Request(k.method, k.target));
    EXPECT_EQ(last_next_, ApiHandler::Next::kReply);
    ExpectError(r, 405, "method_not_allowed");
    ASSERT_NE(r.allow, nullptr);
    EXPECT_EQ(std::string(r.allow), k.allow);
  }
  EXPECT_EQ(service_.issue_calls, 0);
}

TEST_F(ApiHandlerTest, CreateGetAndList) {
  Reply r = Run(Request(Method::kPost, "/api/v1/events", R"({"id":"launch","total":5})"));
  EXPECT_EQ(last_next_, ApiHandler::Next::kBlocking);
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(Body(r).at("id"), json::value("launch"));
  ASSERT_EQ(service_.created.size(), 1u);
  EXPECT_EQ(service_.created[0].total, 5);

  ExpectError(Run(Request(Method::kPost, "/api/v1/events", R"({"id":"launch","total":5})")), 409,
              "event_exists");

  r = Run(Request(Method::kGet, "/api/v1/events/launch"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r).at("id"), json::value("launch"));
  ExpectError(Run(Request(Method::kGet, "/api/v1/events/nope")), 404, "event_not_found");

  r = Run(Request(Method::kGet, "/api/v1/events"));
  ASSERT_EQ(r.status, 200);
  ASSERT_TRUE(Body(r).is_array());
  EXPECT_EQ(Body(r).as_array().size(), 1u);

  service_.down = Status::Unavailable("the store is down");
  ExpectError(Run(Request(Method::kGet, "/api/v1/events")), 503, "unavailable");
  ExpectError(Run(Request(Method::kGet, "/api/v1/events/launch")), 503, "unavailable");
}

TEST_F(ApiHandlerTest, CreateRefusesABadBodyWithoutCallingTheService) {
  for (const char* body : {"", "not json", "[1]", R"({"total":5})", R"({"id":"bad id","total":5})",
                           R"({"id":"x","total":0})", R"({"id":"x","total":5,"extra":1})"}) {
    SCOPED_TRACE(body);
    Reply r = Run(Request(Method::kPost, "/api/v1/events", body));
    EXPECT_EQ(last_next_, ApiHandler::Next::kReply);
    ExpectError(r, 400, "invalid_request");
  }
  EXPECT_TRUE(service_.created.empty());
  Reply r = Run(Request(Method::kPost, "/api/v1/events", R"({"id":"bad id","total":5})"));
  EXPECT_EQ(Body(r).at("detail"),
            json::value("\"id\" must be 1-64 characters of A-Z a-z 0-9 . _ - : @"));
}

TEST_F(ApiHandlerTest, WithoutTokenAdminOnlyFromLoopback) {
  const std::string body = R"({"id":"launch","total":5})";
  Reply r = Run(Request(Method::kPost, "/api/v1/events", body, /*loopback=*/false));
  EXPECT_EQ(last_next_, ApiHandler::Next::kReply);
  ExpectError(r, 401, "unauthorized");
  EXPECT_FALSE(r.www_authenticate);
  EXPECT_TRUE(service_.created.empty());
  // A token given without one configured changes nothing.
  ApiRequest with_token = Request(Method::kPost, "/api/v1/events", body, false);
  with_token.authorization = "Bearer anything";
  ExpectError(Run(with_token), 401, "unauthorized");

  EXPECT_EQ(Run(Request(Method::kPost, "/api/v1/events", body, /*loopback=*/true)).status, 201);
  // Reads are not admin calls.
  EXPECT_EQ(Run(Request(Method::kGet, "/api/v1/events/launch", "", false)).status, 200);
  EXPECT_EQ(Run(Request(Method::kGet, "/api/v1/events", "", false)).status, 200);
}

TEST_F(ApiHandlerTest, WithTokenAdminNeedsTheBearerTokenFromAnywhere) {
  Rebuild({.admin_token = "s3cret"});
  const std::string body = R"({"id":"launch","total":5})";
  for (bool loopback : {true, false}) {
    for (const char* auth : {"", "Bearer wrong", "Bearer s3cre", "Bearer s3cret2", "s3cret",
                             "Basic s3cret", "Bearer  s3cret"}) {
      SCOPED_TRACE(std::string(auth) + (loopback ? " loopback" : " remote"));
      ApiRequest req = Request(Method::kPost, "/api/v1/events", body, loopback);
      req.authorization = auth;
      Reply r = Run(req);
      ExpectError(r, 401, "unauthorized");
      EXPECT_TRUE(r.www_authenticate);
    }
  }
  EXPECT_TRUE(service_.created.empty());
  ApiRequest req = Request(Method::kPost, "/api/v1/events", body, /*loopback=*/false);
  req.authorization = "Bearer s3cret";
  EXPECT_EQ(Run(req).status, 201);
  // A bad body is still checked after a good token.
  req.body = "{}";
  ExpectError(Run(req), 400, "invalid_request");
}

TEST_F(ApiHandlerTest, IssueAnswersMapToStatuses) {
  AddEvent("launch");
  struct Case {
    IssueStatus status;
    int http;
    std::string code;
  };
  for (const Case& k : std::vector<Case>{{IssueStatus::kAlreadyIssued, 409, "already_issued"},
                                         {IssueStatus::kSoldOut, 410, "sold_out"},
                                         {IssueStatus::kNotOpen, 403, "not_open"},
                                         {IssueStatus::kUnavailable, 503, "unavailable"}}) {
    SCOPED_TRACE(k.code);
    IssueAnswer a;
    a.status = k.status;
    a.detail = "why";
    service_.issue_result = a;
    Reply r = Issue("launch", R"({"user_id":"u-1"})");
    EXPECT_EQ(last_next_, ApiHandler::Next::kIssue);
    EXPECT_EQ(call_.route, Route::kIssue);
    ExpectError(r, k.http, k.code, /*with_status=*/true);
    // The service left the ids empty: the request's are shown.
    EXPECT_EQ(Body(r).at("event_id"), json::value("launch"));
    EXPECT_EQ(Body(r).at("user_id"), json::value("u-1"));
  }

  IssueAnswer issued;
  issued.status = IssueStatus::kIssued;
  issued.event_id = "launch";
  issued.user_id = "u-42";
  issued.seq = 7;
  issued.coupon_id = CouponId("launch", 7);
  service_.issue_result = issued;
  Reply r = Issue("launch", R"({"user_id":"u-42"})");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(Body(r).at("status"), json::value("issued"));
  EXPECT_EQ(Body(r).at("coupon_id"), json::value("launch-7"));
  EXPECT_EQ(Body(r).at("seq").as_int64(), 7);
  EXPECT_EQ(service_.last_event, "launch");
  EXPECT_EQ(service_.last_user, "u-42");

  service_.issue_result = Status::NotFound("no event nope");
  ExpectError(Issue("nope", R"({"user_id":"u-1"})"), 404, "event_not_found", true);
  service_.issue_result = Status::Invalid("user_id must be 1-64 characters");
  ExpectError(Issue("launch", R"({"user_id":"u-1"})"), 400, "invalid_request", true);
}

TEST_F(ApiHandlerTest, IssueRefusesABadBodyWithoutCallingTheService) {
  for (const char* body : {"", "{", "[]", "{}", R"({"user_id":5})", R"({"user_id":""})",
                           R"({"user_id":"a b"})", R"({"user":"u-1"})"}) {
    SCOPED_TRACE(body);
    Reply r = Issue("launch", body);
    EXPECT_EQ(last_next_, ApiHandler::Next::kReply);
    ExpectError(r, 400, "invalid_request", /*with_status=*/true);
  }
  EXPECT_EQ(Body(Issue("launch", R"({"user_id":"a b"})")).at("detail"),
            json::value("\"user_id\" must be 1-64 characters of A-Z a-z 0-9 . _ - : @"));
  EXPECT_EQ(service_.issue_calls, 0);
}

// A body naming a key twice is refused (400) instead of last-wins: a proxy
// that keeps the first would otherwise read another user than Firstcome.
TEST_F(ApiHandlerTest, DuplicateKeysAreRefusedAtEveryDepth) {
  for (const char* body :
       {R"({"user_id":"u-1","user_id":"u-2"})", R"({"user_id":"u-1","x":{"a":1,"a":2}})",
        R"({"user_id":"u-1","x":[{"b":1},{"c":{"d":1,"d":1}}]})"}) {
    SCOPED_TRACE(body);
    ExpectError(Issue("launch", body), 400, "invalid_request", /*with_status=*/true);
  }
  EXPECT_EQ(Body(Issue("launch", R"({"user_id":"u-1","user_id":"u-2"})")).at("detail"),
            json::value("the body names \"user_id\" more than once"));
  EXPECT_EQ(service_.issue_calls, 0);
  // The same key in sibling or nested objects is not a duplicate.
  Issue("launch", R"({"user_id":"u-1","x":{"user_id":1},"y":[{"a":1},{"a":2}]})");
  EXPECT_EQ(service_.issue_calls, 1);
  EXPECT_EQ(service_.last_user, "u-1");
  ExpectError(Run(Request(Method::kPost, "/api/v1/events", R"({"id":"e","total":3,"total":5})")),
              400, "invalid_request");
  EXPECT_TRUE(service_.created.empty());
}

TEST_F(ApiHandlerTest, InvalidIdsInThePathAre400) {
  const std::string long_id(65, 'e');
  for (const std::string& id : {std::string("bad%20id"), std::string("bad!id"), long_id}) {
    SCOPED_TRACE(id);
    Reply r = Run(Request(Method::kGet, "/api/v1/events/" + id));
    EXPECT_EQ(last_next_, ApiHandler::Next::kReply);
    ExpectError(r, 400, "invalid_request");
    EXPECT_EQ(Body(r).at("detail"),
              json::value("the event id in the path must be 1-64 characters of A-Z a-z 0-9 . _ - "
                          ": @"));
    ExpectError(Issue(id, R"({"user_id":"u-1"})"), 400, "invalid_request", /*with_status=*/true);
    ExpectError(Run(Request(Method::kGet, "/api/v1/events/" + id + "/users/u-1")), 400,
                "invalid_request");
    r = Run(Request(Method::kGet, "/api/v1/events/launch/users/" + id));
    ExpectError(r, 400, "invalid_request");
    EXPECT_EQ(Body(r).at("detail"),
              json::value("the user id in the path must be 1-64 characters of A-Z a-z 0-9 . _ - "
                          ": @"));
  }
  EXPECT_EQ(service_.issue_calls, 0);
}

TEST_F(ApiHandlerTest, UserCoupons) {
  AddEvent("launch");
  Reply r = Run(Request(Method::kGet, "/api/v1/events/launch/users/u-1?x=1"));
  EXPECT_EQ(last_next_, ApiHandler::Next::kBlocking);
  EXPECT_EQ(call_.route, Route::kUserCoupons);
  ASSERT_EQ(r.status, 200) << r.body;
  json::value v = Body(r);
  EXPECT_EQ(v.at("event_id"), json::value("launch"));
  EXPECT_EQ(v.at("user_id"), json::value("u-1"));
  ASSERT_EQ(v.at("coupons").as_array().size(), 1u);
  EXPECT_EQ(v.at("coupons").at(0).at("state"), json::value("persisted"));
  EXPECT_EQ(service_.last_user, "u-1");
  ExpectError(Run(Request(Method::kGet, "/api/v1/events/nope/users/u-1")), 404, "event_not_found");
}

TEST_F(ApiHandlerTest, TransportRefusalsAreShapedByTheRoute) {
  Reply r;
  ApiRequest request = Request(Method::kPost, "/api/v1/events/launch/issue");
  ApiHandler::Refuse(request, Refusal::kPayloadTooLarge, "too big", call_, r);
  EXPECT_EQ(call_.route, Route::kIssue);
  ExpectError(r, 413, "payload_too_large", /*with_status=*/true);
  EXPECT_TRUE(IsValidRequestId(r.request_id)) << r.request_id;
  request = Request(Method::kPost, "/api/v1/events");
  request.request_id = "from-the-client";
  ApiHandler::Refuse(request, Refusal::kPayloadTooLarge, "too big", call_, r);
  EXPECT_EQ(call_.route, Route::kEvents);
  EXPECT_TRUE(call_.admin);
  ExpectError(r, 413, "payload_too_large");
  EXPECT_EQ(r.request_id, "from-the-client");
  ApiHandler::Refuse(Request(Method::kOther, ""), Refusal::kMalformed, "not HTTP", call_, r);
  EXPECT_EQ(call_.route, Route::kNotFound);
  ExpectError(r, 400, "invalid_request");
}

TEST_F(ApiHandlerTest, EveryAnswerCarriesARequestId) {
  AddEvent("launch");
  ApiRequest given = Request(Method::kGet, "/api/v1/events/launch");
  given.request_id = "4bf92f35-77b3-4da6-a3ce-929d0e0e4736";
  EXPECT_EQ(Run(given).request_id, "4bf92f35-77b3-4da6-a3ce-929d0e0e4736");
  // None given (or an unsafe one, which the parser drops): a new one each time.
  const std::string a = Run(Request(Method::kGet, "/api/v1/events/launch")).request_id;
  const std::string b = Issue("launch", R"({"user_id":"u-1"})").request_id;
  const std::string c = Run(Request(Method::kGet, "/nope")).request_id;
  EXPECT_TRUE(IsValidRequestId(a)) << a;
  EXPECT_TRUE(IsValidRequestId(b)) << b;
  EXPECT_TRUE(IsValidRequestId(c)) << c;
  EXPECT_NE(a, b);
  EXPECT_NE(b, c);
  // A refusal written after a clear() keeps the request's id.
  Rebuild({.user_auth = UserAuth::kHeader, .trusted_proxies = *edge::ParseCidrList("10.0.0.0/8")});
  AddEvent("launch");
  ApiRequest coupons = Request(Method::kGet, "/api/v1/events/launch/users/u-1");
  coupons.loopback = false;
  coupons.request_id = "kept";
  Reply refused = Run(coupons);
  EXPECT_EQ(refused.status, 401) << refused.body;
  EXPECT_EQ(refused.request_id, "kept");
}

TEST_F(ApiHandlerTest, OpenApiIsAnAdminCall) {
  Rebuild({.admin_token = "t0ken"});
  ApiRequest request = Request(Method::kGet, "/api/v1/openapi.json");
  ExpectError(Run(request), 401, "unauthorized");
  request.authorization = "Bearer t0ken";
  Reply r = Run(request);
  EXPECT_EQ(r.status, 200);
  EXPECT_STREQ(r.content_type, kJsonType);
  json::value v = Body(r);
  EXPECT_EQ(v.at("openapi"), json::value("3.1.0"));
  EXPECT_TRUE(v.at("paths").as_object().contains("/api/v1/events/{id}/issue"));
  EXPECT_TRUE(call_.admin);
  ExpectError(Run(Request(Method::kPost, "/api/v1/openapi.json")), 405, "method_not_allowed");
}

TEST_F(ApiHandlerTest, DashboardPageScriptAndStyle) {
  // No token configured: loopback clients only, like every admin call.
  ExpectError(Run(Request(Method::kGet, "/dashboard", "", /*loopback=*/false)), 401,
              "unauthorized");
  Reply page = Run(Request(Method::kGet, "/dashboard"));
  EXPECT_EQ(page.status, 200);
  EXPECT_STREQ(page.content_type, "text/html; charset=utf-8");
  EXPECT_NE(page.body.find("content=\"none\""), std::string::npos) << "no token to ask for";
  EXPECT_EQ(page.body.find("{{ADMIN_TOKEN}}"), std::string::npos);
  ASSERT_NE(page.headers, nullptr);
  EXPECT_NE(std::string(page.headers)
                .find("Content-Security-Policy: default-src 'none'; "
                      "script-src 'self'"),
            std::string::npos);
  EXPECT_EQ(page.body.find("<script>"), std::string::npos) << "no inline script";
  // A token configured: the page (no data) is served to anyone and asks for it.
  Rebuild({.admin_token = "t0ken"});
  page = Run(Request(Method::kGet, "/dashboard", "", /*loopback=*/false));
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("content=\"required\""), std::string::npos);
  Reply script = Run(Request(Method::kGet, "/dashboard/dashboard.js?v=1"));
  EXPECT_EQ(script.status, 200);
  EXPECT_STREQ(script.content_type, "text/javascript; charset=utf-8");
  EXPECT_NE(script.body.find("sessionStorage"), std::string::npos);
  EXPECT_EQ(script.body.find("eval("), std::string::npos);
  Reply style = Run(Request(Method::kGet, "/dashboard/dashboard.css"));
  EXPECT_EQ(style.status, 200);
  EXPECT_STREQ(style.content_type, "text/css; charset=utf-8");
  ExpectError(Run(Request(Method::kGet, "/dashboard/other.js")), 404, "not_found");
  ExpectError(Run(Request(Method::kPost, "/dashboard")), 405, "method_not_allowed");
}

TEST(RequestIdTest, SafeIdsOnly) {
  EXPECT_TRUE(IsValidRequestId("a"));
  EXPECT_TRUE(IsValidRequestId("4bf92f35-77b3-4da6-a3ce-929d0e0e4736"));
  EXPECT_TRUE(IsValidRequestId("01ARZ3NDEKTSV4RRFFQ69G5FAV"));
  EXPECT_TRUE(IsValidRequestId("Zm9vYmFy+/=.:_@"));
  EXPECT_TRUE(IsValidRequestId(std::string(kMaxRequestIdLength, 'x')));
  EXPECT_FALSE(IsValidRequestId(""));
  EXPECT_FALSE(IsValidRequestId(std::string(kMaxRequestIdLength + 1, 'x')));
  const std::string bad_ids[] = {"a b",  "a\"b", "a\\b",        "a\nb",
                                 "a\rb", "a\tb", "<x>",         "a;b",
                                 "a,b",  "a{b}", "caf\xc3\xa9", std::string("a\0b", 3)};
  for (const std::string& bad : bad_ids) {
    EXPECT_FALSE(IsValidRequestId(bad)) << bad;
  }
}

TEST(RequestIdTest, GeneratedIdsAreSafeAndUniqueAcrossThreads) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 70000;  // more than one block of counters each
  std::vector<std::vector<std::string>> ids(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&ids, t] {
      std::string id;
      for (int i = 0; i < kPerThread; ++i) {
        NewRequestId(id);
        ids[t].push_back(id);
      }
    });
  }
  for (auto& t : threads) t.join();
  std::set<std::string> all;
  std::string prefix;
  for (const auto& list : ids) {
    for (const std::string& id : list) {
      ASSERT_TRUE(IsValidRequestId(id)) << id;
      ASSERT_EQ(id[8], '-') << id;
      if (prefix.empty()) prefix = id.substr(0, 8);
      EXPECT_EQ(id.substr(0, 8), prefix) << "one prefix per process";
      all.insert(id);
    }
  }
  EXPECT_EQ(all.size(), static_cast<std::size_t>(kThreads * kPerThread));
}

TEST(ErrorsTest, RefusalsMapInOnePlace) {
  struct Case {
    Refusal refusal;
    int http;
    std::string code;
  };
  for (const Case& k : std::vector<Case>{{Refusal::kMalformed, 400, "invalid_request"},
                                         {Refusal::kUnauthorized, 401, "unauthorized"},
                                         {Refusal::kNotFound, 404, "not_found"},
                                         {Refusal::kMethodNotAllowed, 405, "method_not_allowed"},
                                         {Refusal::kPayloadTooLarge, 413, "payload_too_large"},
                                         {Refusal::kUnavailable, 503, "unavailable"},
                                         {Refusal::kInternal, 500, "internal"}}) {
    HttpOutcome o = OutcomeOf(k.refusal);
    EXPECT_EQ(o.http, k.http) << k.code;
    EXPECT_EQ(o.code, k.code);
    EXPECT_NE(ReasonPhrase(o.http), "Unknown") << k.http;
  }
}

}  // namespace
}  // namespace firstcome::http

namespace firstcome::http {
namespace {

constexpr std::string_view kJwtSecret = "0123456789abcdef0123456789abcdef";

class ApiIdentityTest : public ApiHandlerTest {
 protected:
  ApiIdentityTest() : signer_(test::JwtSigner::Hs256(std::string(kJwtSecret))) {
    AddEvent("launch");
  }

  void UseJwt(std::string admin_token = "") {
    auto v = edge::JwtVerifier::Create(
        {.algorithm = edge::JwtAlgorithm::kHs256, .secret = std::string(kJwtSecret)});
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    Rebuild({.admin_token = std::move(admin_token),
             .user_auth = UserAuth::kJwt,
             .jwt = std::make_shared<const edge::JwtVerifier>(std::move(*v))});
  }

  std::string Token(const std::string& sub, std::int64_t exp_from_now_s = 600) const {
    const std::int64_t now = NowMillis() / 1000;
    return signer_.Sign(R"({"sub":")" + sub + R"(","exp":)" + std::to_string(now + exp_from_now_s) +
                        "}");
  }

  static ApiRequest WithBearer(ApiRequest r, const std::string& token) {
    r.authorization = "Bearer " + token;
    return r;
  }

  static ApiRequest From(ApiRequest r, const char* peer) {
    r.peer = boost::asio::ip::make_address(peer);
    r.loopback = edge::IsLoopback(r.peer);
    return r;
  }

  test::JwtSigner signer_;
};

TEST_F(ApiIdentityTest, JwtModeIssuesForTheTokensSubject) {
  UseJwt();
  const std::string path = "/api/v1/events/launch/issue";
  Run(WithBearer(Request(Method::kPost, path, ""), Token("u-7")));
  EXPECT_EQ(service_.last_user, "u-7");
  Run(WithBearer(Request(Method::kPost, path, R"({"user_id":"u-7"})"), Token("u-7")));
  EXPECT_EQ(service_.issue_calls, 2);

  Reply missing = Run(Request(Method::kPost, path, "{}"));
  ExpectError(missing, 401, "unauthenticated", /*with_status=*/true);
  EXPECT_TRUE(missing.www_authenticate);
  ExpectError(Run(WithBearer(Request(Method::kPost, path, "{}"), Token("u-7", -3600))), 401,
              "unauthenticated", true);
  ExpectError(Run(WithBearer(Request(Method::kPost, path, "{}"), Token("u-7") + "x")), 401,
              "unauthenticated", true);
  ExpectError(Run(WithBearer(Request(Method::kPost, path, R"({"user_id":"u-8"})"), Token("u-7"))),
              403, "forbidden", true);
  EXPECT_EQ(service_.issue_calls, 2);
}

TEST_F(ApiIdentityTest, JwtModeReadsOnlyYourOwnCouponsUnlessAdmin) {
  UseJwt("adm1n");
  ExpectError(
      Run(WithBearer(Request(Method::kGet, "/api/v1/events/launch/users/u-8"), Token("u-7"))), 403,
      "forbidden");
  Reply own =
      Run(WithBearer(Request(Method::kGet, "/api/v1/events/launch/users/u-7"), Token("u-7")));
  EXPECT_EQ(own.status, 200) << own.body;
  Reply admin = Run(WithBearer(Request(Method::kGet, "/api/v1/events/launch/users/u-8"), "adm1n"));
  EXPECT_EQ(admin.status, 200) << admin.body;
  Reply none = Run(Request(Method::kGet, "/api/v1/events/launch/users/u-8"));
  ExpectError(none, 401, "unauthenticated");
}

TEST_F(ApiIdentityTest, HeaderModeBelievesTrustedProxiesOnly) {
  auto trusted = edge::ParseCidrList("10.0.0.0/8");
  ASSERT_TRUE(trusted.ok());
  Rebuild({.user_auth = UserAuth::kHeader, .trusted_proxies = std::move(*trusted)});
  ApiRequest r = From(Request(Method::kPost, "/api/v1/events/launch/issue", ""), "10.1.2.3");
  r.user_header = "u-9";
  Run(r);
  EXPECT_EQ(service_.last_user, "u-9");
  ApiRequest untrusted = From(r, "192.0.2.1");
  ExpectError(Run(untrusted), 401, "unauthenticated", true);
  r.user_header = "u-9,u-10";  // the header twice
  ExpectError(Run(r), 401, "unauthenticated", true);
  EXPECT_EQ(service_.issue_calls, 1);
}

TEST_F(ApiIdentityTest, AdminFromLoopbackUsesTheClientAddressBehindAProxy) {
  auto trusted = edge::ParseCidrList("127.0.0.1/32");
  ASSERT_TRUE(trusted.ok());
  Rebuild({.trusted_proxies = std::move(*trusted)});
  const std::string body = R"({"id":"e1","total":5})";
  ApiRequest direct = From(Request(Method::kPost, "/api/v1/events", body), "127.0.0.1");
  EXPECT_EQ(Run(direct).status, 201);
  ApiRequest forwarded = direct;
  forwarded.forwarded_for = "203.0.113.9";
  ExpectError(Run(forwarded), 401, "unauthorized");
}

TEST_F(ApiIdentityTest, RateLimitsAnswer429BeforeTheServiceIsAsked) {
  auto trusted = edge::ParseCidrList("127.0.0.1/32");
  ASSERT_TRUE(trusted.ok());
  Rebuild({.trusted_proxies = std::move(*trusted), .rate_limit_ip = 5, .rate_limit_user = 1000});
  ApiRequest r = From(Request(Method::kPost, "/api/v1/events/launch/issue", ""), "127.0.0.1");
  r.forwarded_for = "198.51.100.1";
  int limited = 0;
  for (int i = 0; i < 50; ++i) {
    r.body = R"({"user_id":"u-)" + std::to_string(i) + R"("})";
    Reply reply = Run(r);
    if (reply.status == 429) {
      ++limited;
      ExpectError(reply, 429, "rate_limited", /*with_status=*/true);
      EXPECT_GE(reply.retry_after_s, 1);
    }
  }
  EXPECT_GE(limited, 35);                    // burst 2x5 = 10, then refused
  EXPECT_LE(service_.issue_calls, 50 - 35);  // refused requests never reach the service
  r.forwarded_for = "198.51.100.2";          // another client is served
  r.body = R"({"user_id":"other"})";
  EXPECT_NE(Run(r).status, 429);
  Reply metrics = Run(Request(Method::kGet, "/metrics"));
  EXPECT_NE(metrics.body.find("firstcome_rate_limited_total{limit=\"ip\"} "), std::string::npos);
}

}  // namespace
}  // namespace firstcome::http
