// HttpServer in-process on port 0 against a hand-written fake CouponService:
// every route and status of api.md, the bad-input classes, body limit,
// admin rules, keep-alive and pipelining, timeouts, the connection bound and
// graceful stop. The fake stands in for the pipeline only to test HTTP logic.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>

#include "http/request_id.h"
#include "http/server.h"
#include "support/http_client.h"

namespace firstcome {
namespace {

using test::HttpRequest;
using test::HttpResponse;
namespace json = boost::json;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = boost::asio::ip::tcp;
using namespace std::chrono_literals;

// Events whose id names a behaviour: "soldout" answers sold_out, "closed"
// not_open, "flaky" unavailable, "slow" issues after 300 ms on another
// thread, "async" issues at once on another thread; others issue inline.
class FakeCouponService : public CouponService, public MetricsSource {
 public:
  ~FakeCouponService() override {
    for (auto& t : threads_) t.join();
  }

  Result<EventView> CreateEvent(const Event& event) override {
    std::lock_guard lock(mu_);
    if (events_.count(event.id)) return Status::Exists("event " + event.id + " exists");
    Event e = event;
    e.created_at = 1764064800000;
    events_[e.id] = e;
    return ViewOf(e);
  }
  Result<EventView> GetEvent(std::string_view id) override {
    std::lock_guard lock(mu_);
    auto it = events_.find(std::string(id));
    if (it == events_.end()) return Status::NotFound("no event " + std::string(id));
    return ViewOf(it->second);
  }
  Result<std::vector<EventView>> ListEvents() override {
    std::lock_guard lock(mu_);
    std::vector<EventView> out;
    for (auto& [id, e] : events_) out.push_back(ViewOf(e));
    return out;
  }
  Result<std::vector<CouponView>> CouponsOfUser(std::string_view event_id,
                                                std::string_view user_id) override {
    std::lock_guard lock(mu_);
    if (!events_.count(std::string(event_id))) return Status::NotFound("no such event");
    return holders_[std::string(event_id) + "/" + std::string(user_id)];
  }
  void Issue(std::string_view event_id, std::string_view user_id, IssueCallback done) override {
    std::string e(event_id), u(user_id);
    {
      std::lock_guard lock(mu_);
      if (!events_.count(e)) return done(Status::NotFound("no event " + e));
    }
    if (e == "slow" || e == "async") {
      std::lock_guard lock(mu_);
      auto delay = e == "slow" ? 300ms : 0ms;
      threads_.emplace_back([this, e, u, delay, done = std::move(done)] {
        std::this_thread::sleep_for(delay);
        done(Decide(e, u));
      });
      return;
    }
    done(Decide(e, u));
  }
  // Operator calls are ApiHandler's (api_handler_test); not used here.
  Result<EventView> CloseEvent(std::string_view) override { return NotHere(); }
  Result<EventView> OpenEvent(std::string_view) override { return NotHere(); }
  Result<UpdateAnswer> UpdateEvent(std::string_view, const EventPatch&) override {
    return NotHere();
  }
  Result<RevokeAnswer> RevokeCoupon(std::string_view, std::int64_t) override { return NotHere(); }
  Result<DeleteAnswer> DeleteEvent(std::string_view) override { return NotHere(); }
  Result<std::vector<FailedEventView>> FailedEvents(std::string_view) override { return NotHere(); }
  Result<RetryAnswer> RetryFailedEvent(std::string_view, std::int64_t) override {
    return NotHere();
  }
  static Status NotHere() { return Status::Unavailable("not used by this test"); }
  Status Health() override {
    return healthy_ ? Status::Ok() : Status::Unavailable("the log is down");
  }
  void WriteMetrics(MetricsWriter& out) const override {
    out.Gauge("firstcome_fake_metric", "A figure of the fake service.", 1);
  }

  std::atomic<bool> healthy_{true};

 private:
  IssueAnswer Decide(const std::string& e, const std::string& u) {
    std::lock_guard lock(mu_);
    IssueAnswer a;
    a.event_id = e;
    a.user_id = u;
    if (e == "soldout") {
      a.status = IssueStatus::kSoldOut;
    } else if (e == "closed") {
      a.status = IssueStatus::kNotOpen;
      a.detail = "starts at 2099-01-01T00:00:00Z";
    } else if (e == "flaky") {
      a.status = IssueStatus::kUnavailable;
    } else {
      auto& held = holders_[e + "/" + u];
      if (!held.empty()) {
        a.status = IssueStatus::kAlreadyIssued;
        a.coupons = held;
        for (CouponView& c : a.coupons) c.state.clear();  // as the Issuer: the gate has no state
        return a;
      }
      a.status = IssueStatus::kIssued;
      a.seq = ++issued_[e];
      a.coupon_id = CouponId(e, a.seq);
      held.push_back({a.coupon_id, a.seq, "pending"});
    }
    return a;
  }
  EventView ViewOf(const Event& e) {
    EventView v;
    v.event = e;
    v.issued = issued_[e.id];
    v.remaining = e.total - v.issued;
    v.state = "open";
    return v;
  }

  std::mutex mu_;
  std::map<std::string, Event> events_;
  std::map<std::string, std::int64_t> issued_;
  std::map<std::string, std::vector<CouponView>> holders_;
  std::vector<std::thread> threads_;
};

// A raw keep-alive connection: sends bytes as given, reads answers in order.
class RawConnection {
 public:
  explicit RawConnection(int port, const std::string& host = "127.0.0.1") : stream_(ioc_) {
    stream_.connect(tcp::endpoint(boost::asio::ip::make_address(host), port));
  }
  void Send(const std::string& bytes) {
    stream_.expires_after(10s);
    boost::asio::write(stream_, boost::asio::buffer(bytes));
  }
  // Status 0 when the connection closed or failed instead.
  bhttp::response<bhttp::string_body> Read() {
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    beast::error_code ec;
    stream_.expires_after(10s);
    bhttp::read(stream_, buffer_, parser, ec);
    if (ec) return {};
    return parser.release();
  }
  // True when the server closed the connection within `within`.
  bool ClosedByServer(std::chrono::milliseconds within) {
    char c;
    beast::error_code ec;
    stream_.expires_after(within);
    stream_.read_some(boost::asio::buffer(&c, 1), ec);
    return ec == boost::asio::error::eof || ec == boost::asio::error::connection_reset;
  }

 private:
  boost::asio::io_context ioc_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
};

std::string Get(const std::string& target) {
  return "GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n";
}

std::string Post(const std::string& target, const std::string& body) {
  return "POST " + target + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer({}); }
  void TearDown() override {
    if (server_) server_->Stop(1s);
  }

  void StartServer(HttpServerOptions options) {
    if (server_) server_->Stop(1s);
    options.bind_address = options.bind_address == "0.0.0.0" ? "127.0.0.1" : options.bind_address;
    options.port = 0;
    options.threads = options.threads == 0 ? 2 : options.threads;
    options.api.metrics = &service_;
    server_ = std::make_unique<HttpServer>(options, service_);
    ASSERT_TRUE(server_->Start().ok());
    port_ = server_->port();
    ASSERT_NE(port_, 0);
  }

  HttpResponse Call(const std::string& method, const std::string& target,
                    const std::string& body = "", const std::string& auth = "") {
    return HttpRequest("127.0.0.1", port_, method, target, body, auth);
  }
  HttpResponse Create(const std::string& body, const std::string& auth = "") {
    return Call("POST", "/api/v1/events", body, auth);
  }
  HttpResponse Issue(const std::string& event, const std::string& body) {
    return Call("POST", "/api/v1/events/" + event + "/issue", body);
  }
  void MakeEvent(const std::string& id, int total = 10) {
    auto r = Create(R"({"id":")" + id + R"(","total":)" + std::to_string(total) + "}");
    ASSERT_EQ(r.status, 201) << r.body;
  }

  // An error answer: the status, the code, a detail, JSON content type.
  static void ExpectError(const HttpResponse& r, int status, const std::string& code,
                          bool issue_route = false) {
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_EQ(r.content_type, "application/json");
    json::value v = r.json();
    ASSERT_TRUE(v.is_object()) << r.body;
    EXPECT_EQ(v.at("error"), json::value(code)) << r.body;
    ASSERT_TRUE(v.as_object().contains("detail")) << r.body;
    EXPECT_TRUE(v.at("detail").is_string());
    EXPECT_FALSE(v.at("detail").as_string().empty()) << r.body;
    if (issue_route) {
      EXPECT_TRUE(v.as_object().contains("status")) << r.body;
    }
  }

  FakeCouponService service_;
  std::unique_ptr<HttpServer> server_;
  int port_ = 0;
};

TEST_F(HttpServerTest, HealthzOkAndUnavailable) {
  auto r = Call("GET", "/healthz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.json().at("status"), json::value("ok"));
  EXPECT_EQ(r.content_type, "application/json");
  service_.healthy_ = false;
  r = Call("GET", "/healthz");
  ExpectError(r, 503, "unavailable");
  service_.healthy_ = true;
}

TEST_F(HttpServerTest, CreateGetAndListEvents) {
  auto r = Create(R"({"id":"launch","total":100,"per_user":2,"name":"Launch \"day\"",)"
                  R"("starts_at":"2026-11-25T10:00:00+09:00","ends_at":null})");
  ASSERT_EQ(r.status, 201) << r.body;
  json::object e = r.json().as_object();
  EXPECT_EQ(e.at("id"), json::value("launch"));
  EXPECT_EQ(e.at("name"), json::value("Launch \"day\""));
  EXPECT_EQ(e.at("total").as_int64(), 100);
  EXPECT_EQ(e.at("per_user").as_int64(), 2);
  EXPECT_EQ(e.at("starts_at"), json::value("2026-11-25T01:00:00Z"));
  EXPECT_TRUE(e.at("ends_at").is_null());
  for (const char* f : {"issued", "remaining", "persisted", "failed"}) {
    EXPECT_TRUE(e.at(f).is_int64()) << f;
  }
  EXPECT_EQ(e.at("remaining").as_int64(), 100);
  EXPECT_EQ(e.at("state"), json::value("open"));

  ExpectError(Create(R"({"id":"launch","total":5})"), 409, "event_exists");

  r = Call("GET", "/api/v1/events/launch");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.json().at("id"), json::value("launch"));
  ExpectError(Call("GET", "/api/v1/events/nope"), 404, "event_not_found");
  ExpectError(Call("GET", "/api/v1/events/bad%20id"), 400, "invalid_request");

  MakeEvent("second");
  r = Call("GET", "/api/v1/events");
  ASSERT_EQ(r.status, 200);
  ASSERT_TRUE(r.json().is_array());
  EXPECT_EQ(r.json().as_array().size(), 2u);
}

TEST_F(HttpServerTest, CreateRefusesEveryBadInput) {
  const std::string too_long_id(65, 'a');
  const std::vector<std::string> bodies = {
      "",
      "not json",
      "{\"id\":\"x\",",
      "[1,2]",
      "\"a string\"",
      "42",
      "null",
      "true",
      R"({"total":5})",
      R"({"id":"x"})",
      R"({"id":"x","total":"5"})",
      R"({"id":"x","total":1.5})",
      R"({"id":"x","total":5.0})",
      R"({"id":"x","total":1e3})",
      R"({"id":"x","total":true})",
      R"({"id":"x","total":null})",
      R"({"id":"x","total":[5]})",
      R"({"id":"x","total":0})",
      R"({"id":"x","total":-1})",
      R"({"id":"x","total":1000000001})",
      R"({"id":"x","total":99999999999999999999})",
      R"({"id":"x","total":18446744073709551615})",
      R"({"id":"x","total":5,"per_user":0})",
      R"({"id":"x","total":5,"per_user":1001})",
      R"({"id":"x","total":5,"per_user":"1"})",
      R"({"id":"x","total":5,"per_user":-3})",
      R"({"id":"bad id","total":5})",
      R"({"id":"","total":5})",
      R"({"id":")" + too_long_id + R"(","total":5})",
      R"({"id":5,"total":5})",
      R"({"id":"é","total":5})",
      R"({"id":"x","total":5,"name":5})",
      R"({"id":"x","total":5,"starts_at":"tomorrow"})",
      R"({"id":"x","total":5,"starts_at":"2026-13-01T00:00:00Z"})",
      R"({"id":"x","total":5,"starts_at":1764064800})",
      R"({"id":"x","total":5,"starts_at":"2026-11-25T10:00:00Z","ends_at":"2026-11-25T09:00:00Z"})",
      R"({"id":"x","total":5,"per-user":1})",
      R"({"id":"x","total":5,"name":")" + std::string(201, 'n') + R"("})",
      std::string(100, '[') + std::string(100, ']'),
  };
  for (const auto& body : bodies) {
    SCOPED_TRACE(body);
    ExpectError(Create(body), 400, "invalid_request");
  }
  // Nothing was created by any of them.
  EXPECT_EQ(Call("GET", "/api/v1/events").json().as_array().size(), 0u);
}

TEST_F(HttpServerTest, IssueEveryStatus) {
  MakeEvent("launch");
  MakeEvent("soldout");
  MakeEvent("closed");
  MakeEvent("flaky");
  MakeEvent("async");

  auto r = Issue("launch", R"({"user_id":"u-42"})");
  ASSERT_EQ(r.status, 201) << r.body;
  json::object a = r.json().as_object();
  EXPECT_EQ(a.at("status"), json::value("issued"));
  EXPECT_EQ(a.at("event_id"), json::value("launch"));
  EXPECT_EQ(a.at("user_id"), json::value("u-42"));
  EXPECT_EQ(a.at("coupon_id"), json::value("launch-1"));
  EXPECT_EQ(a.at("seq").as_int64(), 1);

  r = Issue("launch", R"({"user_id":"u-42"})");
  ExpectError(r, 409, "already_issued", true);
  EXPECT_EQ(r.json().at("status"), json::value("already_issued"));
  ASSERT_EQ(r.json().at("coupons").as_array().size(), 1u);
  EXPECT_EQ(r.json().at("coupons").at(0).at("coupon_id"), json::value("launch-1"));
  EXPECT_EQ(r.json().at("coupons").at(0).at("seq").as_int64(), 1);
  EXPECT_FALSE(r.json().at("coupons").at(0).as_object().contains("state")) << "no empty state";

  r = Issue("soldout", R"({"user_id":"u-1"})");
  ExpectError(r, 410, "sold_out", true);
  EXPECT_EQ(r.json().at("status"), json::value("sold_out"));
  r = Issue("closed", R"({"user_id":"u-1"})");
  ExpectError(r, 403, "not_open", true);
  EXPECT_EQ(r.json().at("detail"), json::value("starts at 2099-01-01T00:00:00Z"));
  r = Issue("flaky", R"({"user_id":"u-1"})");
  ExpectError(r, 503, "unavailable", true);
  EXPECT_EQ(r.json().at("status"), json::value("unavailable"));
  ExpectError(Issue("nope", R"({"user_id":"u-1"})"), 404, "event_not_found", true);

  // Completed on another thread: posted back to the connection's thread.
  r = Issue("async", R"({"user_id":"u-9"})");
  EXPECT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.json().at("status"), json::value("issued"));
}

TEST_F(HttpServerTest, IssueRefusesEveryBadInput) {
  MakeEvent("launch");
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
      R"({"user_id":"u/1"})",
      R"({"user_id":["u"]})",
      R"({"user":"u-1"})",
      R"({"user_id":")" + std::string(65, 'u') + R"("})",
  };
  for (const auto& body : bodies) {
    SCOPED_TRACE(body);
    auto r = Issue("launch", body);
    ExpectError(r, 400, "invalid_request", true);
  }
  ExpectError(Issue("bad!id", R"({"user_id":"u-1"})"), 400, "invalid_request", true);
  ExpectError(Issue(std::string(65, 'e'), R"({"user_id":"u-1"})"), 400, "invalid_request", true);
}

TEST_F(HttpServerTest, UserCoupons) {
  MakeEvent("launch");
  ASSERT_EQ(Issue("launch", R"({"user_id":"u-1"})").status, 201);
  auto r = Call("GET", "/api/v1/events/launch/users/u-1");
  ASSERT_EQ(r.status, 200) << r.body;
  json::object o = r.json().as_object();
  EXPECT_EQ(o.at("event_id"), json::value("launch"));
  EXPECT_EQ(o.at("user_id"), json::value("u-1"));
  ASSERT_EQ(o.at("coupons").as_array().size(), 1u);
  EXPECT_EQ(o.at("coupons").at(0).at("state"), json::value("pending"));
  r = Call("GET", "/api/v1/events/launch/users/u-2");
  ASSERT_EQ(r.status, 200);
  EXPECT_TRUE(r.json().at("coupons").as_array().empty());
  ExpectError(Call("GET", "/api/v1/events/nope/users/u-1"), 404, "event_not_found");
  ExpectError(Call("GET", "/api/v1/events/launch/users/u%201"), 400, "invalid_request");
}

TEST_F(HttpServerTest, UnknownPathsAndWrongMethods) {
  for (const char* path :
       {"/", "/api", "/api/v1", "/api/v1/eventsx", "/api/v1/events/", "/api/v1/events//issue",
        "/api/v1/events/a/issue/", "/api/v1/events/a/b", "/api/v1/events/a/users",
        "/api/v1/events/a/users/", "/api/v1/events/a/users/u/x", "/healthz/", "/api/v2/events"}) {
    SCOPED_TRACE(path);
    ExpectError(Call("GET", path), 404, "not_found");
  }
  RawConnection c(port_);
  struct Case {
    std::string method, target, allow;
  };
  for (const Case& k : std::vector<Case>{{"DELETE", "/api/v1/events", "GET, POST"},
                                         {"GET", "/api/v1/events/a/issue", "POST"},
                                         {"POST", "/api/v1/events/a", "GET, PATCH, DELETE"},
                                         {"PUT", "/healthz", "GET"},
                                         {"POST", "/metrics", "GET"}}) {
    SCOPED_TRACE(k.method + " " + k.target);
    c.Send(k.method + " " + k.target + " HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    auto res = c.Read();
    EXPECT_EQ(res.result_int(), 405);
    EXPECT_EQ(res[bhttp::field::allow], k.allow);
    EXPECT_EQ(json::parse(res.body()).at("error"), json::value("method_not_allowed"));
  }
}

TEST_F(HttpServerTest, MalformedHttpIs400) {
  RawConnection c(port_);
  c.Send("THIS IS NOT HTTP\r\n\r\n");
  auto res = c.Read();
  EXPECT_EQ(res.result_int(), 400);
  EXPECT_EQ(json::parse(res.body()).at("error"), json::value("invalid_request"));
  EXPECT_EQ(Call("GET", "/healthz").status, 200);
}

TEST_F(HttpServerTest, HugeBodyIs413AndServerStillServes) {
  MakeEvent("launch");
  const std::string huge(8 * 1024 * 1024, 'x');
  ExpectError(Create(huge), 413, "payload_too_large");
  auto r = Issue("launch", huge);
  ExpectError(r, 413, "payload_too_large", true);
  // Chunked uploads are bounded the same way.
  RawConnection c(port_);
  c.Send(
      "POST /api/v1/events/launch/issue HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
  std::string chunk = "10000\r\n" + std::string(0x10000, 'y') + "\r\n";
  for (int i = 0; i < 4; ++i) c.Send(chunk);
  auto res = c.Read();
  EXPECT_EQ(res.result_int(), 413);
  EXPECT_EQ(Call("GET", "/healthz").status, 200);
  EXPECT_EQ(Issue("launch", R"({"user_id":"u-1"})").status, 201);
}

TEST_F(HttpServerTest, EveryAnswerEchoesOrGivesARequestId) {
  MakeEvent("launch");
  RawConnection c(port_);
  c.Send("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: abc-123\r\n\r\n");
  EXPECT_EQ(c.Read()["X-Request-Id"], "abc-123");
  // Unsafe or too long: replaced by a generated one.
  for (const std::string& bad : {std::string("a b<script>"), std::string(65, 'x')}) {
    c.Send("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: " + bad + "\r\n\r\n");
    auto res = c.Read();
    EXPECT_EQ(res.result_int(), 200);
    const std::string id(res["X-Request-Id"]);
    EXPECT_TRUE(http::IsValidRequestId(id)) << id;
    EXPECT_NE(id, bad);
  }
  // Issue answers (the hot path) and the transport's own refusals too.
  c.Send(Post("/api/v1/events/launch/issue", R"({"user_id":"u-1"})"));
  auto issued = c.Read();
  EXPECT_EQ(issued.result_int(), 201);
  EXPECT_TRUE(http::IsValidRequestId(std::string(issued["X-Request-Id"])));
  RawConnection big(port_);
  big.Send(
      "POST /api/v1/events/launch/issue HTTP/1.1\r\nHost: x\r\nX-Request-Id: big-1\r\n"
      "Content-Length: 99999999\r\n\r\n");
  auto refused = big.Read();
  EXPECT_EQ(refused.result_int(), 413);
  EXPECT_EQ(refused["X-Request-Id"], "big-1");
  RawConnection bad(port_);
  bad.Send("THIS IS NOT HTTP\r\n\r\n");
  auto malformed = bad.Read();
  EXPECT_EQ(malformed.result_int(), 400);
  EXPECT_TRUE(http::IsValidRequestId(std::string(malformed["X-Request-Id"])));
}

TEST_F(HttpServerTest, KeepAliveAndPipelining) {
  MakeEvent("launch");
  MakeEvent("async");
  RawConnection c(port_);
  // Sequential requests on one connection.
  for (int i = 0; i < 5; ++i) {
    c.Send(Get("/healthz"));
    auto res = c.Read();
    ASSERT_EQ(res.result_int(), 200);
    EXPECT_TRUE(res.keep_alive());
  }
  // Pipelined: all sent at once, including slow-path and async ones; answers
  // come back in request order.
  std::string batch;
  for (int i = 0; i < 10; ++i) {
    batch += Post("/api/v1/events/" + std::string(i % 2 ? "async" : "launch") + "/issue",
                  R"({"user_id":"p-)" + std::to_string(i) + R"("})");
    batch += Get("/api/v1/events/launch");
  }
  c.Send(batch);
  for (int i = 0; i < 10; ++i) {
    auto res = c.Read();
    ASSERT_EQ(res.result_int(), 201) << res.body();
    EXPECT_EQ(json::parse(res.body()).at("user_id"), json::value("p-" + std::to_string(i)));
    res = c.Read();
    ASSERT_EQ(res.result_int(), 200);
    EXPECT_EQ(json::parse(res.body()).at("id"), json::value("launch"));
  }
  // Connection: close is honoured.
  c.Send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  auto res = c.Read();
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_FALSE(res.keep_alive());
  EXPECT_TRUE(c.ClosedByServer(2s));
}

TEST_F(HttpServerTest, ExpectContinue) {
  MakeEvent("launch");
  RawConnection c(port_);
  const std::string body = R"({"user_id":"u-1"})";
  c.Send(
      "POST /api/v1/events/launch/issue HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n\r\n");
  EXPECT_EQ(c.Read().result_int(), 100);
  c.Send(body);
  EXPECT_EQ(c.Read().result_int(), 201);
  // Too large: refused at once, without a 100.
  c.Send(
      "POST /api/v1/events/launch/issue HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
      "Content-Length: 100000000\r\n\r\n");
  EXPECT_EQ(c.Read().result_int(), 413);
}

TEST_F(HttpServerTest, Http10KeepAliveOnlyWhenAsked) {
  RawConnection c(port_);
  c.Send("GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  auto res = c.Read();
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res[bhttp::field::connection], "keep-alive");
  c.Send("GET /healthz HTTP/1.0\r\n\r\n");
  res = c.Read();
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_TRUE(c.ClosedByServer(2s));
}

TEST_F(HttpServerTest, MetricsCountRequests) {
  MakeEvent("soldout");
  for (int i = 0; i < 3; ++i) Issue("soldout", R"({"user_id":"u"})");
  Call("GET", "/nope");
  auto r = Call("GET", "/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type.rfind("text/plain", 0), 0u) << r.content_type;
  EXPECT_NE(r.body.find("firstcome_http_requests_total{route=\"issue\",status=\"410\"} 3"),
            std::string::npos)
      << r.body;
  EXPECT_NE(r.body.find("firstcome_http_requests_total{route=\"not_found\",status=\"404\"} 1"),
            std::string::npos);
  EXPECT_NE(
      r.body.find("firstcome_http_request_duration_seconds_bucket{route=\"issue\",le=\"+Inf\"} 3"),
      std::string::npos);
  EXPECT_NE(r.body.find("firstcome_http_request_duration_seconds_count{route=\"issue\"} 3"),
            std::string::npos);
  EXPECT_NE(r.body.find("firstcome_fake_metric 1"), std::string::npos);
}

TEST_F(HttpServerTest, AdminTokenRequired) {
  HttpServerOptions with_token;
  with_token.api.admin_token = "s3cret";
  StartServer(with_token);
  const std::string body = R"({"id":"launch","total":5})";
  ExpectError(Create(body), 401, "unauthorized");
  ExpectError(Create(body, "Bearer wrong"), 401, "unauthorized");
  ExpectError(Create(body, "Bearer s3cre"), 401, "unauthorized");
  ExpectError(Create(body, "Bearer s3cret2"), 401, "unauthorized");
  ExpectError(Create(body, "s3cret"), 401, "unauthorized");
  ExpectError(Create(body, "Basic s3cret"), 401, "unauthorized");
  EXPECT_EQ(Create(body, "Bearer s3cret").status, 201);
  // Reads are not admin calls.
  EXPECT_EQ(Call("GET", "/api/v1/events/launch").status, 200);
}

// Some address of this host that is not loopback, or "" when there is none.
std::string NonLoopbackAddress() {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return "";
  std::string found;
  for (ifaddrs* i = list; i != nullptr && found.empty(); i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET) continue;
    auto* in = reinterpret_cast<sockaddr_in*>(i->ifa_addr);
    char buf[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &in->sin_addr, buf, sizeof(buf));
    if (std::string(buf).rfind("127.", 0) != 0) found = buf;
  }
  freeifaddrs(list);
  return found;
}

TEST_F(HttpServerTest, WithoutTokenAdminOnlyFromLoopback) {
  // StartServer binds 127.0.0.1; listen on all addresses here.
  HttpServerOptions o;
  o.bind_address = "0.0.0.0";
  o.port = 0;
  o.threads = 1;
  server_->Stop(1s);
  server_ = std::make_unique<HttpServer>(o, service_);
  ASSERT_TRUE(server_->Start().ok());
  port_ = server_->port();
  EXPECT_EQ(Create(R"({"id":"local","total":5})").status, 201);
  std::string other = NonLoopbackAddress();
  if (other.empty()) GTEST_SKIP() << "no non-loopback address on this host";
  auto r = HttpRequest(other, port_, "POST", "/api/v1/events", R"({"id":"remote","total":5})");
  ExpectError(r, 401, "unauthorized");
  // Non-admin calls are fine from anywhere.
  EXPECT_EQ(HttpRequest(other, port_, "GET", "/api/v1/events/local").status, 200);
}

TEST_F(HttpServerTest, StopFinishesSlowIssueInFlight) {
  MakeEvent("slow");
  HttpResponse answer;
  std::thread client([&] { answer = Issue("slow", R"({"user_id":"u-1"})"); });
  std::this_thread::sleep_for(100ms);  // the issue is now in flight (300 ms)
  // An idle keep-alive connection is closed by Stop at once.
  RawConnection idle(port_);
  idle.Send(Get("/healthz"));
  ASSERT_EQ(idle.Read().result_int(), 200);
  auto t0 = std::chrono::steady_clock::now();
  server_->Stop(5s);
  auto took = std::chrono::steady_clock::now() - t0;
  client.join();
  EXPECT_EQ(answer.status, 201) << answer.body;
  EXPECT_EQ(answer.json().at("status"), json::value("issued"));
  EXPECT_LT(took, 3s);
  EXPECT_TRUE(idle.ClosedByServer(1s));
  // No longer accepting.
  EXPECT_EQ(Call("GET", "/healthz").status, 0);
  server_.reset();
}

TEST_F(HttpServerTest, IdleAndReadTimeouts) {
  StartServer({.read_timeout = 300ms, .idle_timeout = 300ms});
  RawConnection idle(port_);
  idle.Send(Get("/healthz"));
  ASSERT_EQ(idle.Read().result_int(), 200);
  EXPECT_TRUE(idle.ClosedByServer(2s));

  RawConnection slow(port_);
  slow.Send("GET /healthz HTTP/1.1\r\nHo");  // never finished
  EXPECT_TRUE(slow.ClosedByServer(2s));

  RawConnection silent(port_);  // connects, sends nothing
  EXPECT_TRUE(silent.ClosedByServer(2s));
  EXPECT_EQ(Call("GET", "/healthz").status, 200);
}

TEST_F(HttpServerTest, ConnectionBound) {
  StartServer({.max_connections = 2});
  RawConnection a(port_), b(port_);
  a.Send(Get("/healthz"));
  ASSERT_EQ(a.Read().result_int(), 200);
  b.Send(Get("/healthz"));
  ASSERT_EQ(b.Read().result_int(), 200);
  RawConnection c(port_);
  auto res = c.Read();  // refused: a 503 then close, before any request
  EXPECT_EQ(res.result_int(), 503);
  EXPECT_TRUE(c.ClosedByServer(2s));
  // Still serving the admitted ones.
  a.Send(Get("/healthz"));
  EXPECT_EQ(a.Read().result_int(), 200);
}

TEST_F(HttpServerTest, ManyClientsAtOnce) {
  MakeEvent("launch", 1000);
  MakeEvent("async", 1000);
  std::atomic<int> issued{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 8; ++t) {
    clients.emplace_back([&, t] {
      RawConnection c(port_);
      for (int i = 0; i < 50; ++i) {
        c.Send(Post(std::string("/api/v1/events/") + (i % 2 ? "async" : "launch") + "/issue",
                    R"({"user_id":"t)" + std::to_string(t) + "-" + std::to_string(i) + R"("})"));
        if (c.Read().result_int() == 201) issued++;
      }
    });
  }
  for (auto& c : clients) c.join();
  EXPECT_EQ(issued.load(), 400);
}

}  // namespace
}  // namespace firstcome
