// RunLoad against a small in-test HTTP server (plain Asio, a thread per
// connection, port 0 on 127.0.0.1) whose answers follow a known pattern:
// the first `coupons` issue requests get 201 with seq 1..coupons, the rest 410.
// It can also say "Connection: close" every N answers, or drop every Nth
// request without answering, to exercise reconnects and retries.
#include "loadgen/load_generator.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace firstcome {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;

struct PatternOptions {
  int coupons = 10;
  int close_every = 0;  // "Connection: close" on every Nth answer of a connection
  int drop_every = 0;   // every Nth request (server-wide) is read and dropped unanswered
  std::chrono::milliseconds delay{0};
};

class PatternServer {
 public:
  explicit PatternServer(PatternOptions options)
      : options_(options), acceptor_(io_, tcp::endpoint(net::ip::address_v4::loopback(), 0)) {
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }
  ~PatternServer() {
    stopping_ = true;
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    accept_thread_.join();
    {
      std::lock_guard lock(mu_);
      for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
    }
    for (auto& t : connection_threads_) t.join();
  }

  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port());
  }
  int requests_seen() const { return requests_seen_; }
  int accepted() const { return accepted_; }
  std::multiset<std::string> users() const {
    std::lock_guard lock(mu_);
    return users_;
  }

 private:
  void AcceptLoop() {
    while (!stopping_) {
      boost::system::error_code ec;
      tcp::socket socket(io_);
      acceptor_.accept(socket, ec);
      if (ec) {
        if (stopping_) return;
        continue;
      }
      ++accepted_;
      std::lock_guard lock(mu_);
      open_fds_.insert(socket.native_handle());
      connection_threads_.emplace_back(
          [this, s = std::make_shared<tcp::socket>(std::move(socket))] { Serve(*s); });
    }
  }

  void Serve(tcp::socket& socket) {
    std::string buffer;
    int answered_here = 0;
    for (;;) {
      boost::system::error_code ec;
      const std::size_t head_end =
          net::read_until(socket, net::dynamic_buffer(buffer), "\r\n\r\n", ec);
      if (ec) break;
      const std::string head = buffer.substr(0, head_end);
      std::size_t length = 0;
      if (auto at = head.find("Content-Length: "); at != std::string::npos) {
        length = std::stoul(head.substr(at + 16));
      }
      if (buffer.size() < head_end + length) {
        const std::size_t missing = head_end + length - buffer.size();
        std::string rest(missing, '\0');
        net::read(socket, net::buffer(rest), ec);
        if (ec) break;
        buffer += rest;
      }
      const std::string body = buffer.substr(head_end, length);
      buffer.erase(0, head_end + length);

      const int n = ++requests_seen_;
      if (options_.drop_every > 0 && n % options_.drop_every == 0) break;  // no answer
      if (options_.delay.count() > 0) std::this_thread::sleep_for(options_.delay);

      std::string status_line, answer;
      if (head.rfind("GET", 0) == 0) {
        status_line = "200 OK";
        answer = "ok";
      } else {
        const auto u = body.find("\"user_id\":\"");
        const std::string user =
            u == std::string::npos ? "" : body.substr(u + 11, body.find('"', u + 11) - (u + 11));
        int seq = 0;
        {
          std::lock_guard lock(mu_);
          users_.insert(user);
          if (issued_ < options_.coupons) seq = ++issued_;
        }
        if (seq > 0) {
          status_line = "201 Created";
          answer = "{\"status\":\"issued\",\"user_id\":\"" + user + "\",\"coupon_id\":\"c-" +
                   std::to_string(seq) + "\",\"seq\":" + std::to_string(seq) + "}";
        } else {
          status_line = "410 Gone";
          answer = "{\"status\":\"sold_out\"}";
        }
      }
      ++answered_here;
      const bool close = options_.close_every > 0 && answered_here % options_.close_every == 0;
      const std::string response =
          "HTTP/1.1 " + status_line +
          "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(answer.size()) +
          "\r\n" + (close ? "Connection: close\r\n" : "") + "\r\n" + answer;
      net::write(socket, net::buffer(response), ec);
      if (ec || close) break;
    }
    std::lock_guard lock(mu_);
    open_fds_.erase(socket.native_handle());
    boost::system::error_code ignored;
    socket.close(ignored);
  }

  PatternOptions options_;
  net::io_context io_;
  tcp::acceptor acceptor_;
  std::thread accept_thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> requests_seen_{0};
  std::atomic<int> accepted_{0};
  mutable std::mutex mu_;
  std::set<int> open_fds_;
  std::vector<std::thread> connection_threads_;
  std::multiset<std::string> users_;
  int issued_ = 0;
};

std::int64_t CountOf(const LoadReport& r, int status) {
  for (const auto& [s, n] : r.by_status) {
    if (s == status) return n;
  }
  return 0;
}

TEST(LoadGeneratorTest, CountsAnswersByStatusAndRecordsThem) {
  PatternServer server({.coupons = 10});
  LoadOptions o;
  o.targets = {server.url()};
  o.connections = 4;
  o.requests = 100;
  o.record_answers = true;
  auto report = RunLoad(o);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->requests, 100);
  EXPECT_EQ(CountOf(*report, 201), 10);
  EXPECT_EQ(CountOf(*report, 410), 90);
  EXPECT_EQ(report->transport_errors, 0);
  EXPECT_EQ(report->unanswered, 0);
  EXPECT_GE(report->seconds_until_sold_out, 0);
  EXPECT_LE(report->seconds_until_sold_out, report->seconds);
  EXPECT_EQ(report->connects, 4);
  EXPECT_EQ(server.requests_seen(), 100);

  ASSERT_EQ(report->answers.size(), 100u);
  std::set<std::string> users;
  std::set<std::int64_t> seqs;
  for (const Answer& a : report->answers) {
    users.insert(a.user_id);
    if (a.http_status == 201) {
      EXPECT_TRUE(seqs.insert(a.seq).second);
      EXPECT_EQ(a.coupon_id, "c-" + std::to_string(a.seq));
    } else {
      EXPECT_EQ(a.seq, 0);
      EXPECT_TRUE(a.coupon_id.empty());
    }
  }
  EXPECT_EQ(users.size(), 100u);  // unique: u-0 .. u-99
  EXPECT_TRUE(users.count("u-0") && users.count("u-99"));
  EXPECT_EQ(seqs, (std::set<std::int64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
  EXPECT_GT(report->requests_per_second, 0);
  EXPECT_GT(report->p50_us, 0);
  EXPECT_LE(report->p50_us, report->p99_us);
  EXPECT_LE(report->p99_us, report->max_us);
}

TEST(LoadGeneratorTest, NeverClaimsMoreThanTheRequestBound) {
  PatternServer server({.coupons = 1000});
  LoadOptions o;
  o.targets = {server.url()};
  o.connections = 16;  // more connections than requests
  o.threads = 2;
  o.requests = 7;
  auto report = RunLoad(o);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->requests, 7);
  EXPECT_EQ(server.requests_seen(), 7);
  EXPECT_TRUE(report->answers.empty());  // not recorded unless asked
}

TEST(LoadGeneratorTest, StopsAtTheDuration) {
  PatternServer server({.coupons = 1000000});
  LoadOptions o;
  o.targets = {server.url()};
  o.connections = 4;
  o.duration = std::chrono::milliseconds(300);
  const auto start = std::chrono::steady_clock::now();
  auto report = RunLoad(o);
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_GT(report->requests, 10);
  EXPECT_GE(report->seconds, 0.29);
  EXPECT_LT(took, std::chrono::seconds(3));
}

TEST(LoadGeneratorTest, EndsAtTheDurationWhileAnswersHang) {
  // Every answer takes 2 s: the run must still end at its 200 ms deadline and
  // report the requests in flight as unanswered.
  PatternServer server({.coupons = 10, .delay = std::chrono::milliseconds(2000)});
  LoadOptions o;
  o.targets = {server.url()};
  o.connections = 3;
  o.duration = std::chrono::milliseconds(200);
  o.record_answers = true;
  const auto start = std::chrono::steady_clock::now();
  auto report = RunLoad(o);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  EXPECT_EQ(report->requests, 0);
  EXPECT_EQ(report->unanswered, 3);
  ASSERT_EQ(report->answers.size(), 3u);
  for (const Answer& a : report->answers) EXPECT_EQ(a.http_status, 0);
}

TEST(LoadGeneratorTest, ReconnectsWhenTheServerSaysConnectionClose) {
  PatternServer server({.coupons = 1000, .close_every = 3});
  LoadOptions o;
  o.targets = {server.url()};
  o.connections = 2;
  o.requests = 50;
  auto report = RunLoad(o);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->requests, 50);
  EXPECT_EQ(CountOf(*report, 201), 50);
  EXPECT_EQ(report->transport_errors, 0);  // an announced close is not an error
  EXPECT_GE(report->connects, 50 / 3);
  EXPECT_GE(server.accepted(), 50 / 3);
}

TEST(LoadGeneratorTest, RetriesTheSameRequestAfterTheServerDropsIt) {
  PatternServer server({.coupons = 1000, .drop_every = 7});
  LoadOptions o;
  o.targets = {server.url()};
  o.connections = 3;
  o.requests = 30;
  o.record_answers = true;
  o.retry_pause = std::chrono::milliseconds(5);
  auto report = RunLoad(o);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->requests, 30);
  EXPECT_GT(report->transport_errors, 0);
  // Every user got exactly one answer: the dropped requests were sent again
  // for the same user, not replaced by new users.
  std::set<std::string> answered;
  for (const Answer& a : report->answers) EXPECT_TRUE(answered.insert(a.user_id).second);
  EXPECT_EQ(answered.size(), 30u);
  for (int i = 0; i < 30; ++i) EXPECT_TRUE(answered.count("u-" + std::to_string(i))) << i;
  const auto seen = server.users();
  EXPECT_EQ(seen.size(), 30u);  // the server saw answered requests only once each
}

TEST(LoadGeneratorTest, CountsTransportErrorsWhenNothingListens) {
  int port = 0;
  {
    PatternServer probe({});
    port = std::stoi(probe.url().substr(probe.url().rfind(':') + 1));
  }  // closed: nothing listens there now
  LoadOptions o;
  o.targets = {"http://127.0.0.1:" + std::to_string(port)};
  o.connections = 2;
  o.duration = std::chrono::milliseconds(300);
  o.retry_pause = std::chrono::milliseconds(20);
  auto report = RunLoad(o);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->requests, 0);
  EXPECT_GT(report->transport_errors, 2);
  EXPECT_EQ(report->connects, 0);
}

TEST(LoadGeneratorTest, SpreadsConnectionsOverTargets) {
  PatternServer a({.coupons = 1000});
  PatternServer b({.coupons = 1000});
  LoadOptions o;
  o.targets = {a.url(), b.url()};
  o.connections = 4;
  o.requests = 40;
  auto report = RunLoad(o);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->requests, 40);
  EXPECT_EQ(a.accepted(), 2);
  EXPECT_EQ(b.accepted(), 2);
  EXPECT_EQ(a.requests_seen() + b.requests_seen(), 40);
  EXPECT_GT(a.requests_seen(), 0);
  EXPECT_GT(b.requests_seen(), 0);
}

TEST(LoadGeneratorTest, GetsAPathInsteadOfIssuing) {
  PatternServer server({});
  LoadOptions o;
  o.targets = {server.url()};
  o.path = "/";
  o.connections = 2;
  o.requests = 20;
  auto report = RunLoad(o);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(CountOf(*report, 200), 20);
  EXPECT_TRUE(server.users().empty());
}

TEST(LoadGeneratorTest, RepeatedAndHotDistributionsDrawFromFewUsers) {
  PatternServer repeated({.coupons = 1000});
  LoadOptions o;
  o.targets = {repeated.url()};
  o.connections = 2;
  o.requests = 200;
  o.distribution = UserDistribution::kRepeated;
  o.users = 5;
  ASSERT_TRUE(RunLoad(o).ok());
  std::set<std::string> distinct;
  for (const auto& u : repeated.users()) distinct.insert(u);
  EXPECT_LE(distinct.size(), 5u);
  EXPECT_GE(distinct.size(), 2u);

  PatternServer hot({.coupons = 1000});
  o.targets = {hot.url()};
  o.distribution = UserDistribution::kHot;
  ASSERT_TRUE(RunLoad(o).ok());
  int hot_requests = 0;
  distinct.clear();
  for (const auto& u : hot.users()) {
    if (u.rfind("u-hot-", 0) == 0) {
      ++hot_requests;
      distinct.insert(u);
    }
  }
  EXPECT_GT(hot_requests, 150);  // ~90% of 200
  EXPECT_LE(distinct.size(), 10u);
}

TEST(LoadGeneratorTest, PacesToARate) {
  PatternServer server({.coupons = 1000000});
  LoadOptions o;
  o.targets = {server.url()};
  o.connections = 4;
  o.rate = 200;  // 200/s for 0.5 s: about 100 requests
  o.duration = std::chrono::milliseconds(500);
  auto report = RunLoad(o);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_GE(report->requests, 70);
  EXPECT_LE(report->requests, 110);
}

TEST(LoadGeneratorTest, LatencyQuantilesReflectTheServerDelay) {
  PatternServer server({.coupons = 1000, .delay = std::chrono::milliseconds(5)});
  LoadOptions o;
  o.targets = {server.url()};
  o.connections = 2;
  o.requests = 40;
  auto report = RunLoad(o);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_GE(report->p50_us, 5000);
  EXPECT_LT(report->p50_us, 50000);
  EXPECT_GE(report->mean_us, 5000);
}

TEST(LoadGeneratorTest, RefusesBadOptions) {
  LoadOptions o;
  o.requests = 1;
  o.targets = {"https://127.0.0.1:1"};
  EXPECT_FALSE(RunLoad(o).ok());
  o.targets = {"http://127.0.0.1:1"};
  o.requests = 0;
  EXPECT_FALSE(RunLoad(o).ok());  // neither duration nor requests
  o.requests = 1;
  o.connections = 0;
  EXPECT_FALSE(RunLoad(o).ok());
  o.connections = 1;
  o.distribution = UserDistribution::kRepeated;
  EXPECT_FALSE(RunLoad(o).ok());  // repeated needs users
  EXPECT_FALSE(ParseUserDistribution("zipf").ok());
  EXPECT_TRUE(ParseUserDistribution("hot").ok());
  auto url = ParseBaseUrl("http://api.local:9090/prefix/");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->host, "api.local");
  EXPECT_EQ(url->port, "9090");
  EXPECT_EQ(url->prefix, "/prefix");
}

}  // namespace
}  // namespace firstcome
