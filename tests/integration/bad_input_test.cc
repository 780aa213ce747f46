// Bad input against a REAL `firstcome serve --port P --data-dir TMP` process
// (embedded gate, log and store; no external servers): every class of bad
// request is answered 400/404/405/413 with {"error", "detail"} and JSON content
// type, none of them creates or issues anything, and the process keeps serving.
// A second process with FIRSTCOME_ADMIN_TOKEN checks the admin refusal.
#include <gtest/gtest.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "support/api_client.h"
#include "support/fixtures.h"
#include "support/http_client.h"
#include "support/process.h"

namespace firstcome::test {
namespace {

namespace json = boost::json;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using namespace std::chrono_literals;

class BadInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    port_ = FreePort();
    process_ = std::make_unique<FirstcomeProcess>(std::vector<std::string>{
        "serve", "--port", std::to_string(port_), "--data-dir", dir_.path()});
    ASSERT_TRUE(process_->Start());
    ASSERT_TRUE(process_->WaitHealthy(port_)) << "see " << process_->log_path();
    api_.port = port_;
  }
  void TearDown() override {
    if (process_ && process_->running()) {
      EXPECT_EQ(process_->Terminate(), 0);
    }
  }

  HttpResponse Call(const std::string& method, const std::string& target,
                    const std::string& body = "") {
    return HttpRequest("127.0.0.1", port_, method, target, body);
  }

  static void ExpectError(const HttpResponse& r, int status, const std::string& code,
                          bool issue_route = false) {
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_EQ(r.content_type, "application/json");
    json::value v = r.json();
    ASSERT_TRUE(v.is_object()) << r.body;
    EXPECT_EQ(v.at("error"), json::value(code)) << r.body;
    ASSERT_TRUE(v.as_object().contains("detail")) << r.body;
    EXPECT_TRUE(v.at("detail").is_string() && !v.at("detail").as_string().empty()) << r.body;
    if (issue_route) {
      EXPECT_TRUE(v.as_object().contains("status")) << r.body;
    }
  }

  TempDir dir_;
  int port_ = 0;
  ApiEndpoint api_;
  std::unique_ptr<FirstcomeProcess> process_;
};

TEST_F(BadInputTest, CreateEventSweep) {
  const std::vector<std::string> bodies = {
      "",
      "not json",
      "{\"id\":\"x\",",
      "[1,2]",
      "\"a string\"",
      "42",
      "null",
      R"({"total":5})",
      R"({"id":"x"})",
      R"({"id":"x","total":"5"})",
      R"({"id":"x","total":1.5})",
      R"({"id":"x","total":1e3})",
      R"({"id":"x","total":true})",
      R"({"id":"x","total":0})",
      R"({"id":"x","total":-1})",
      R"({"id":"x","total":1000000001})",
      R"({"id":"x","total":99999999999999999999})",
      R"({"id":"x","total":5,"per_user":0})",
      R"({"id":"x","total":5,"per_user":1001})",
      R"({"id":"x","total":5,"per_user":"1"})",
      R"({"id":"bad id","total":5})",
      R"({"id":"","total":5})",
      R"({"id":")" + std::string(65, 'a') + R"(","total":5})",
      R"({"id":5,"total":5})",
      R"({"id":"x","total":5,"name":5})",
      R"({"id":"x","total":5,"starts_at":"tomorrow"})",
      R"({"id":"x","total":5,"starts_at":1764064800})",
      R"({"id":"x","total":5,"starts_at":"2026-11-25T10:00:00Z","ends_at":"2026-11-25T09:00:00Z"})",
      R"({"id":"x","total":5,"per-user":1})",
      std::string(100, '[') + std::string(100, ']'),
  };
  for (const auto& body : bodies) {
    SCOPED_TRACE(body);
    ExpectError(Call("POST", "/api/v1/events", body), 400, "invalid_request");
  }
  auto list = Call("GET", "/api/v1/events");
  ASSERT_EQ(list.status, 200);
  EXPECT_TRUE(list.json().as_array().empty()) << list.body;

  // A good one still works, once.
  auto r = Call("POST", "/api/v1/events",
                R"({"id":"launch","total":2,"starts_at":"2020-01-01T00:00:00Z","ends_at":null})");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.json().at("starts_at"), json::value("2020-01-01T00:00:00Z"));
  EXPECT_TRUE(r.json().at("ends_at").is_null());
  ExpectError(Call("POST", "/api/v1/events", R"({"id":"launch","total":2})"), 409, "event_exists");
}

TEST_F(BadInputTest, IssueSweep) {
  ASSERT_EQ(CreateEvent(api_, "launch", 2).status, 201);
  const std::vector<std::string> bodies = {
      "",
      "{",
      "[]",
      "\"u-1\"",
      "null",
      "{}",
      R"({"user_id":5})",
      R"({"user_id":null})",
      R"({"user_id":true})",
      R"({"user_id":""})",
      R"({"user_id":"a b"})",
      R"({"user_id":["u"]})",
      R"({"user":"u-1"})",
      R"({"user_id":")" + std::string(65, 'u') + R"("})",
  };
  for (const auto& body : bodies) {
    SCOPED_TRACE(body);
    ExpectError(Call("POST", "/api/v1/events/launch/issue", body), 400, "invalid_request", true);
  }
  ExpectError(Call("POST", "/api/v1/events/bad!id/issue", R"({"user_id":"u-1"})"), 400,
              "invalid_request", true);
  ExpectError(Call("POST", "/api/v1/events/nope/issue", R"({"user_id":"u-1"})"), 404,
              "event_not_found", true);
  ExpectError(Call("POST", "/api/v1/events/launch/issue", std::string(8 * 1024 * 1024, 'x')), 413,
              "payload_too_large", true);
  // Nothing was issued by any of them; the real statuses still work.
  EXPECT_EQ(Field(GetEvent(api_, "launch"), "remaining"), 2);
  auto r = Issue(api_, "launch", "u-1");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.json().at("status"), json::value("issued"));
  r = Issue(api_, "launch", "u-1");
  ExpectError(r, 409, "already_issued", true);
  EXPECT_EQ(r.json().at("coupons").as_array().size(), 1u);
  ASSERT_EQ(Issue(api_, "launch", "u-2").status, 201);
  r = Issue(api_, "launch", "u-3");
  ExpectError(r, 410, "sold_out", true);
  EXPECT_EQ(r.json().at("status"), json::value("sold_out"));

  ASSERT_EQ(Call("POST", "/api/v1/events",
                 R"({"id":"later","total":5,"starts_at":"2099-01-01T00:00:00Z"})")
                .status,
            201);
  r = Issue(api_, "later", "u-1");
  ExpectError(r, 403, "not_open", true);
  EXPECT_EQ(r.json().at("status"), json::value("not_open"));
}

TEST_F(BadInputTest, PathsMethodsAndTransport) {
  ASSERT_EQ(CreateEvent(api_, "launch", 2).status, 201);
  for (const char* path : {"/", "/api/v1", "/api/v1/events/", "/api/v1/events/a/b",
                           "/api/v1/events/a/users/", "/api/v2/events"}) {
    SCOPED_TRACE(path);
    ExpectError(Call("GET", path), 404, "not_found");
  }
  ExpectError(Call("GET", "/api/v1/events/nope"), 404, "event_not_found");
  ExpectError(Call("GET", "/api/v1/events/bad%20id"), 400, "invalid_request");
  ExpectError(Call("GET", "/api/v1/events/nope/users/u-1"), 404, "event_not_found");
  ExpectError(Call("GET", "/api/v1/events/launch/users/u%201"), 400, "invalid_request");
  ExpectError(Call("DELETE", "/api/v1/events"), 405, "method_not_allowed");
  ExpectError(Call("GET", "/api/v1/events/launch/issue"), 405, "method_not_allowed");
  ExpectError(Call("POST", "/api/v1/events", std::string(8 * 1024 * 1024, 'x')), 413,
              "payload_too_large");

  // Garbage instead of HTTP, and a request cut off mid-way: answered or
  // closed, never a crash.
  for (const std::string& bytes :
       {std::string("THIS IS NOT HTTP\r\n\r\n"), std::string("GET /healthz HTTP/1.1\r\nHo"),
        std::string("POST /api/v1/events/launch/issue HTTP/1.1\r\nContent-Length: 100\r\n\r\n{")}) {
    boost::asio::io_context ioc;
    beast::tcp_stream s(ioc);
    s.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port_));
    boost::asio::write(s, boost::asio::buffer(bytes));
    s.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_send);
    beast::flat_buffer buf;
    bhttp::response<bhttp::string_body> res;
    beast::error_code ec;
    s.expires_after(15s);
    bhttp::read(s, buf, res, ec);
    if (!ec) {
      EXPECT_EQ(res.result_int(), 400) << res.body();
    }
  }
  EXPECT_EQ(Call("GET", "/healthz").status, 200);
  EXPECT_EQ(Field(GetEvent(api_, "launch"), "remaining"), 2);
  EXPECT_TRUE(process_->running());
}

TEST(BadInputAdminTest, AdminTokenRefusals) {
  TempDir dir;
  int port = FreePort();
  FirstcomeProcess p({"serve", "--port", std::to_string(port), "--data-dir", dir.path()},
                     {"FIRSTCOME_ADMIN_TOKEN=s3cret"});
  ASSERT_TRUE(p.Start());
  ASSERT_TRUE(p.WaitHealthy(port)) << "see " << p.log_path();
  const std::string body = R"({"id":"launch","total":5})";
  for (const std::string& auth : {std::string(), std::string("Bearer wrong"),
                                  std::string("Bearer s3cre"), std::string("s3cret")}) {
    SCOPED_TRACE(auth);
    auto r = HttpRequest("127.0.0.1", port, "POST", "/api/v1/events", body, auth);
    EXPECT_EQ(r.status, 401) << r.body;
    EXPECT_EQ(r.json().at("error"), json::value("unauthorized"));
  }
  EXPECT_EQ(HttpRequest("127.0.0.1", port, "POST", "/api/v1/events", body, "Bearer s3cret").status,
            201);
  EXPECT_EQ(p.Terminate(), 0);
}

}  // namespace
}  // namespace firstcome::test
