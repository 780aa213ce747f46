// Limits (docs/api.md, "Limits") against REAL `firstcome serve` processes
// (embedded gate, log and store): a flooding client address is held to its
// rate while other clients are served quickly, one user hammering is held to
// the per-user rate, admissions beyond max_in_flight are refused 503 without
// taking anything, connections beyond max_connections are refused at once,
// and slowloris connections are closed after the read timeout while honest
// clients are served. Starts: one firstcome process per test.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "support/api_client.h"
#include "support/fixtures.h"
#include "support/http_client.h"
#include "support/process.h"
#include "support/served_firstcome.h"

namespace firstcome::test {
namespace {

namespace json = boost::json;
namespace beast = boost::beast;

// How fast others and honest clients must be answered while a flood or a
// slowloris runs: 100 ms, the contract. Under AddressSanitizer the server
// (and this test's own threads) run several times slower; there the tests
// check that they are still served at all, within 400 ms, and what they are
// there for is the memory check of the server under that traffic. The bound
// holds for the 90th percentile of the requests made meanwhile, not for the
// single slowest: on the shared 2-core test machine one request now and then
// waits out another process's time slice (tens of ms) whatever the server
// does; a server that is really slow under the attack is slow for most.
#if defined(__SANITIZE_ADDRESS__)
constexpr double kServedWithinMs = 400.0;
#else
constexpr double kServedWithinMs = 100.0;
#endif
namespace bhttp = boost::beast::http;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

using Server = ServedFirstcome;

std::string IssuePath(const std::string& event) { return "/api/v1/events/" + event + "/issue"; }
std::string UserBody(const std::string& user) { return R"({"user_id":")" + user + R"("})"; }

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }
double Millis(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// A refusal with `code`, the issue route's "status" equal to it, and Retry-After.
void ExpectRetryLater(const HttpResponse& r, int status, const std::string& code) {
  EXPECT_EQ(r.status, status) << r.body;
  EXPECT_TRUE(r.has_header("Retry-After")) << "no Retry-After on " << r.status << " " << r.body;
  json::value v = r.json();
  ASSERT_TRUE(v.is_object()) << r.body;
  EXPECT_EQ(JsonMember(v, "error"), json::value(code)) << r.body;
  EXPECT_EQ(JsonMember(v, "status"), json::value(code)) << r.body;
  EXPECT_TRUE(v.as_object().contains("detail")) << r.body;
}

// Lines of GET /metrics that are samples (not # HELP / # TYPE) of a
// firstcome_ metric whose line contains `word`.
std::vector<std::string> MetricLines(int port, const std::string& word) {
  std::vector<std::string> out;
  auto r = HttpRequest("127.0.0.1", port, "GET", "/metrics");
  std::istringstream in(r.body);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("firstcome_", 0) == 0 && line.find(word) != std::string::npos) {
      out.push_back(line);
    }
  }
  return out;
}

double Quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto i = static_cast<std::size_t>(q * static_cast<double>(v.size()));
  return v[std::min(i, v.size() - 1)];
}

void RaiseFileLimit() {
  rlimit limit{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &limit), 0);
  limit.rlim_cur = limit.rlim_max;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &limit), 0);
  ASSERT_GE(limit.rlim_cur, 4096u) << "the hard fd limit is too low for this test";
}

// A blocking TCP connect to 127.0.0.1:port; the descriptor is then made
// non-blocking. -1 on failure.
int RawConnect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// What a non-blocking read on `fd` says now: bytes are appended to *data.
enum class ReadState { kOpen, kClosed };
ReadState Drain(int fd, std::string* data) {
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      data->append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n == 0) return ReadState::kClosed;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return ReadState::kOpen;
    if (errno == EINTR) continue;
    return ReadState::kClosed;  // ECONNRESET and the like
  }
}

TEST(Limits, FloodingAddressIsHeldToItsRateOthersAreServed) {
  constexpr double kRate = 50;
  Server s({"--rate-limit-ip", "50", "--trusted-proxies", "127.0.0.1/32"});
  ASSERT_TRUE(s.Start());
  ASSERT_EQ(CreateEvent(s.api, "flood", 1000000).status, 201);

  std::atomic<int> flood_sent{0};
  std::atomic<bool> others_done{false};
  struct FloodCounts {
    int issued = 0, limited = 0, other = 0, limited_bad = 0;
    std::string first_other;
  };
  constexpr int kFloodThreads = 4;
  constexpr int kFloodAtLeast = 2000;
  std::vector<FloodCounts> counts(kFloodThreads);
  const auto flood_start = Clock::now();
  std::vector<std::thread> flood;
  for (int t = 0; t < kFloodThreads; ++t) {
    flood.emplace_back([&, t] {
      HttpConnection conn("127.0.0.1", s.port);
      FloodCounts& c = counts[t];
      const HttpHeaders headers = {{"X-Forwarded-For", "198.51.100.1"}};
      for (int i = 0; !others_done.load() || flood_sent.load() < kFloodAtLeast; ++i) {
        flood_sent.fetch_add(1);
        auto r = conn.Send("POST", IssuePath("flood"),
                           UserBody("f-" + std::to_string(t) + "-" + std::to_string(i)), headers);
        if (r.status == 201) {
          ++c.issued;
        } else if (r.status == 429) {
          ++c.limited;
          json::value v = r.json();
          if (!r.has_header("Retry-After") ||
              JsonMember(v, "error") != json::value("rate_limited") ||
              JsonMember(v, "status") != json::value("rate_limited")) {
            ++c.limited_bad;
          }
        } else {
          if (c.other++ == 0) c.first_other = std::to_string(r.status) + " " + r.body;
        }
      }
    });
  }

  // Other clients, a few requests each, while the flood goes on.
  while (flood_sent.load() < 200) std::this_thread::sleep_for(1ms);
  std::vector<double> latencies_ms;
  std::map<int, int> others_by_status;
  for (int k = 2; k <= 20; ++k) {
    const std::string address = "198.51.100." + std::to_string(k);
    for (int i = 0; i < 5; ++i) {
      const auto t0 = Clock::now();
      auto r = HttpCall("127.0.0.1", s.port, "POST", IssuePath("flood"),
                        UserBody("o-" + std::to_string(k) + "-" + std::to_string(i)),
                        {.headers = {{"X-Forwarded-For", address}}});
      latencies_ms.push_back(Millis(Clock::now() - t0));
      ++others_by_status[r.status];
      EXPECT_EQ(r.status, 201) << address << ": " << r.body;
    }
  }
  others_done.store(true);
  for (auto& t : flood) t.join();
  const double elapsed = Seconds(Clock::now() - flood_start);

  FloodCounts total;
  for (const auto& c : counts) {
    total.issued += c.issued;
    total.limited += c.limited;
    total.other += c.other;
    total.limited_bad += c.limited_bad;
    if (total.first_other.empty()) total.first_other = c.first_other;
  }
  const int sent = total.issued + total.limited + total.other;
  const double bound = 2 * kRate + kRate * elapsed + 10;
  std::printf("flood: %d requests in %.2f s: %d issued (bound %.0f), %d limited, %d other\n", sent,
              elapsed, total.issued, bound, total.limited, total.other);
  std::printf("others: %zu requests, p50 %.2f ms, p90 %.2f ms, max %.2f ms\n", latencies_ms.size(),
              Quantile(latencies_ms, 0.5), Quantile(latencies_ms, 0.9),
              Quantile(latencies_ms, 1.0));
  EXPECT_GE(sent, kFloodAtLeast);
  EXPECT_LE(total.issued, bound);
  EXPECT_GT(total.limited, sent / 2) << "most of the flood must be refused";
  EXPECT_EQ(total.limited_bad, 0) << "429s without Retry-After or the rate_limited body";
  EXPECT_EQ(total.other, 0) << "first: " << total.first_other;
  EXPECT_EQ(others_by_status[201], 95);
  EXPECT_LT(Quantile(latencies_ms, 0.9), kServedWithinMs);

  // Refused requests took nothing.
  EXPECT_EQ(Field(GetEvent(s.api, "flood"), "issued"), total.issued + others_by_status[201]);
  auto lines = MetricLines(s.port, "rate_limited");
  for (const auto& line : lines) std::printf("metrics: %s\n", line.c_str());
  EXPECT_FALSE(lines.empty()) << "no firstcome_ metric line mentions rate_limited";
}

TEST(Limits, HammeringUserIsHeldToTheUserRate) {
  constexpr double kRate = 2;
  Server s({"--rate-limit-user", "2"});
  ASSERT_TRUE(s.Start());
  ASSERT_EQ(CreateEvent(s.api, "hot", 1000, /*per_user=*/1000).status, 201);

  HttpConnection conn("127.0.0.1", s.port);
  int issued = 0, limited = 0, other = 0;
  const auto t0 = Clock::now();
  for (int i = 0; i < 40; ++i) {
    auto r = conn.Send("POST", IssuePath("hot"), UserBody("hammer"));
    if (r.status == 201) {
      ++issued;
    } else if (r.status == 429) {
      if (limited++ == 0) ExpectRetryLater(r, 429, "rate_limited");
    } else {
      ++other;
      ADD_FAILURE() << r.status << " " << r.body;
    }
  }
  const double elapsed = Seconds(Clock::now() - t0);
  const double bound = 2 * kRate + kRate * elapsed + 1;
  std::printf("hammer: 40 attempts in %.2f s: %d issued (bound %.1f), %d limited\n", elapsed,
              issued, bound, limited);
  EXPECT_GE(issued, 1);
  EXPECT_LE(issued, bound);
  EXPECT_GE(limited, 30);

  // Other users are not affected, over the same connection and new ones.
  for (int i = 0; i < 20; ++i) {
    const std::string user = "calm-" + std::to_string(i);
    auto r = i % 2 == 0 ? conn.Send("POST", IssuePath("hot"), UserBody(user))
                        : Issue(s.api, "hot", user);
    EXPECT_EQ(r.status, 201) << user << ": " << r.body;
  }
  EXPECT_EQ(Field(GetEvent(s.api, "hot"), "issued"), issued + 20);
}

// One issue request per connection, all connected first and then sent at
// once, on one Asio thread.
struct BurstAnswer {
  std::string user;
  int status = 0;  // 0: transport error
  bool retry_after = false;
  std::string body;
};

std::vector<BurstAnswer> IssueBurst(int port, const std::string& event, int n) {
  boost::asio::io_context ioc;
  struct Conn {
    explicit Conn(boost::asio::io_context& ioc) : stream(ioc) {}
    beast::tcp_stream stream;
    beast::flat_buffer buffer;
    bhttp::request<bhttp::string_body> req;
    bhttp::response<bhttp::string_body> res;
  };
  std::vector<std::unique_ptr<Conn>> conns;
  std::vector<BurstAnswer> answers(static_cast<std::size_t>(n));
  const boost::asio::ip::tcp::endpoint endpoint(boost::asio::ip::make_address("127.0.0.1"),
                                                static_cast<std::uint16_t>(port));
  int connected = 0;
  auto send_all = [&] {
    for (int i = 0; i < n; ++i) {
      Conn& c = *conns[static_cast<std::size_t>(i)];
      if (!c.stream.socket().is_open()) continue;
      c.stream.expires_after(30s);
      bhttp::async_write(c.stream, c.req, [&, i](beast::error_code ec, std::size_t) {
        Conn& c = *conns[static_cast<std::size_t>(i)];
        if (ec) return;
        bhttp::async_read(c.stream, c.buffer, c.res, [&, i](beast::error_code ec, std::size_t) {
          Conn& c = *conns[static_cast<std::size_t>(i)];
          BurstAnswer& a = answers[static_cast<std::size_t>(i)];
          if (ec) return;
          a.status = c.res.result_int();
          a.retry_after = c.res.find(bhttp::field::retry_after) != c.res.end();
          a.body = c.res.body();
          beast::error_code ignored;
          c.stream.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
        });
      });
    }
  };
  for (int i = 0; i < n; ++i) {
    auto c = std::make_unique<Conn>(ioc);
    answers[static_cast<std::size_t>(i)].user = "burst-" + std::to_string(i);
    c->req = bhttp::request<bhttp::string_body>(bhttp::verb::post, IssuePath(event), 11);
    c->req.set(bhttp::field::host, "127.0.0.1");
    c->req.set(bhttp::field::content_type, "application/json");
    c->req.body() = UserBody(answers[static_cast<std::size_t>(i)].user);
    c->req.prepare_payload();
    c->stream.expires_after(30s);
    c->stream.async_connect(endpoint, [&](beast::error_code) {
      // A failed connect leaves the socket closed; send_all skips it.
      if (++connected == n) send_all();
    });
    conns.push_back(std::move(c));
  }
  ioc.run();
  return answers;
}

TEST(Limits, OverloadIsRefused503AndNothingIsLost) {
  RaiseFileLimit();
  Server s({"--max-in-flight", "4"});
  ASSERT_TRUE(s.Start());
  ASSERT_EQ(CreateEvent(s.api, "burst", 300).status, 201);

  auto answers = IssueBurst(s.port, "burst", 500);
  std::map<int, int> by_status;
  std::vector<const BurstAnswer*> winners;
  for (const auto& a : answers) {
    ++by_status[a.status];
    if (a.status == 201) winners.push_back(&a);
    EXPECT_TRUE(a.status == 201 || a.status == 409 || a.status == 410 || a.status == 503)
        << a.user << ": " << a.status << " " << a.body;
    if (a.status == 503) {
      EXPECT_TRUE(a.retry_after) << a.body;
      boost::system::error_code ec;
      json::value v = json::parse(a.body, ec);
      EXPECT_EQ(JsonMember(v, "error"), json::value("unavailable")) << a.body;
      EXPECT_TRUE(JsonMember(v, "status").is_string()) << a.body;
    }
  }
  for (const auto& [status, n] : by_status) std::printf("overload: %d x %d\n", n, status);
  EXPECT_GT(by_status[201], 0);

  // Only the 201s were taken, and each is persisted with the seq it was told.
  const auto n201 = static_cast<std::int64_t>(winners.size());
  ASSERT_TRUE(WaitForField(s.api, "burst", "persisted", n201))
      << json::serialize(GetEvent(s.api, "burst"));
  EXPECT_EQ(Field(GetEvent(s.api, "burst"), "issued"), n201);
  for (const BurstAnswer* a : winners) {
    auto coupons = UserCoupons(s.api, "burst", a->user);
    ASSERT_EQ(coupons.size(), 1u) << a->user;
    EXPECT_EQ(coupons[0].as_object().at("seq").as_int64(),
              json::parse(a->body).at("seq").as_int64());
    EXPECT_EQ(coupons[0].as_object().at("state").as_string(), "persisted");
  }
  EXPECT_EQ(s.process->Terminate(), 0);
  std::string out;
  EXPECT_EQ(Audit("burst", {"--data-dir", s.dir.path()}, &out), 0) << out;
}

TEST(Limits, ConnectionsBeyondMaxAreRefusedAtOnce) {
  RaiseFileLimit();
  constexpr int kMax = 50;
  constexpr int kOpen = 200;
  Server s({"--max-connections", std::to_string(kMax)});
  ASSERT_TRUE(s.Start());

  std::vector<int> fds;
  for (int i = 0; i < kOpen; ++i) {
    int fd = RawConnect(s.port);
    if (fd >= 0) fds.push_back(fd);
  }
  // Connects the kernel refused count as refused too.
  int refused = kOpen - static_cast<int>(fds.size());
  int answered_503 = 0, other_answers = 0;
  std::vector<std::string> data(fds.size());
  std::vector<bool> closed(fds.size(), false);
  const auto deadline = Clock::now() + 3s;
  while (Clock::now() < deadline) {
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (!closed[i] && Drain(fds[i], &data[i]) == ReadState::kClosed) closed[i] = true;
    }
    std::this_thread::sleep_for(20ms);
  }
  int held = 0;
  for (std::size_t i = 0; i < fds.size(); ++i) {
    if (closed[i]) {
      ++refused;
    } else {
      ++held;
    }
    if (data[i].rfind("HTTP/1.1 503", 0) == 0) {
      ++answered_503;
    } else if (!data[i].empty()) {
      ++other_answers;
    }
  }
  std::printf("max_connections %d: %d opened, %d held, %d refused (%d answered 503)\n", kMax, kOpen,
              held, refused, answered_503);
  EXPECT_LE(held, kMax);
  EXPECT_GE(refused, kOpen - kMax);
  EXPECT_EQ(other_answers, 0);
  for (const auto& line : MetricLines(s.port, "refused_connections")) {
    std::printf("metrics: %s\n", line.c_str());
  }
  for (int fd : fds) ::close(fd);

  // The server notices the closes at once; an honest client is served.
  HttpResponse health;
  const auto until = Clock::now() + 3s;
  do {
    health = HttpRequest("127.0.0.1", s.port, "GET", "/healthz");
    if (health.status == 200) break;
    std::this_thread::sleep_for(50ms);
  } while (Clock::now() < until);
  EXPECT_EQ(health.status, 200) << health.body;
}

TEST(Limits, SlowlorisIsClosedAfterTheReadTimeoutHonestClientsServed) {
  RaiseFileLimit();
  constexpr int kSlow = 1500;
  Server s({});
  ASSERT_TRUE(s.Start());
  ASSERT_EQ(CreateEvent(s.api, "launch", 1000).status, 201);

  const std::string head = "POST /api/v1/events/x/issue HTTP/1.1\r\nHost: a\r\n";
  std::vector<int> fds;
  std::vector<Clock::time_point> opened;
  for (int i = 0; i < kSlow; ++i) {
    int fd = RawConnect(s.port);
    ASSERT_GE(fd, 0) << "connect " << i << ": " << std::strerror(errno);
    ASSERT_EQ(::send(fd, head.data(), head.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(head.size()));
    fds.push_back(fd);
    opened.push_back(Clock::now());
  }
  const auto all_open = Clock::now();

  // One more header byte a second on each, until the server closes it.
  std::vector<double> closed_after(fds.size(), -1);
  std::thread trickle([&] {
    std::size_t left = fds.size();
    auto next_byte = Clock::now() + 1s;
    std::string ignored;
    while (left > 0 && Clock::now() < all_open + 20s) {
      const bool send_now = Clock::now() >= next_byte;
      if (send_now) next_byte += 1s;
      for (std::size_t i = 0; i < fds.size(); ++i) {
        if (closed_after[i] >= 0) continue;
        bool closed = Drain(fds[i], &ignored) == ReadState::kClosed;
        if (!closed && send_now && ::send(fds[i], "X", 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 &&
            errno != EAGAIN && errno != EWOULDBLOCK) {
          closed = true;
        }
        if (closed) {
          closed_after[i] = Seconds(Clock::now() - opened[i]);
          --left;
        }
      }
      std::this_thread::sleep_for(100ms);
    }
  });

  // An honest client meanwhile: 50 requests, each on a new connection.
  std::vector<double> latencies_ms;
  for (int i = 0; i < 50; ++i) {
    const auto t0 = Clock::now();
    auto r = Issue(s.api, "launch", "honest-" + std::to_string(i));
    latencies_ms.push_back(Millis(Clock::now() - t0));
    EXPECT_EQ(r.status, 201) << r.body;
    std::this_thread::sleep_for(100ms);
  }
  std::printf("honest: 50 requests during slowloris, p50 %.2f ms, p90 %.2f ms, max %.2f ms\n",
              Quantile(latencies_ms, 0.5), Quantile(latencies_ms, 0.9),
              Quantile(latencies_ms, 1.0));
  EXPECT_LT(Quantile(latencies_ms, 0.9), kServedWithinMs);
  trickle.join();

  int still_open = 0;
  double latest = 0;
  for (double t : closed_after) {
    if (t < 0) {
      ++still_open;
    } else {
      latest = std::max(latest, t);
    }
  }
  std::printf("slowloris: %d connections, %d still open after 20 s, last closed after %.1f s\n",
              kSlow, still_open, latest);
  EXPECT_EQ(still_open, 0);
  EXPECT_LE(latest, 15.0);
  for (int fd : fds) ::close(fd);
  EXPECT_EQ(HttpRequest("127.0.0.1", s.port, "GET", "/healthz").status, 200);
}

}  // namespace
}  // namespace firstcome::test
