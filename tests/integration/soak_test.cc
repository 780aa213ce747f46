// Soak: minutes of mixed traffic against a REAL `firstcome serve` (embedded
// gate, log and store): issues that sell events out (201, 409, 410), reads
// (events, users' coupons, metrics, health), bad input (4xx only), a flood
// from one address far over rate_limit_ip (429), and new client addresses all
// the time (the rate limiter's bounded key table evicts). Checked: no 5xx and
// no transport error, the process's RSS after the warm-up stays within a
// bound to the end, every 201 persisted with its seq, the process exits 0 on
// SIGTERM (in the ASan build that is LeakSanitizer's verdict: a leak makes
// the exit code 86), and `firstcome audit` exits 0 for every event.
// FIRSTCOME_SOAK_SECONDS sets the traffic's duration (default 120).
// Starts: one firstcome process.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/api_client.h"
#include "support/fixtures.h"
#include "support/http_client.h"
#include "support/process.h"
#include "support/served_firstcome.h"

namespace firstcome::test {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr int kRateLimitIp = 100;
constexpr int kEventTotal = 200;
const char* const kFloodAddress = "203.0.113.9";

int SoakSeconds() {
  const char* v = std::getenv("FIRSTCOME_SOAK_SECONDS");
  const int s = v != nullptr ? std::atoi(v) : 120;
  return std::max(s, 10);
}

// VmRSS of `pid` in KiB (0 when unreadable).
long RssKib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return 0;
}

// The server's environment. Under AddressSanitizer freed memory sits in a
// quarantine (256 MiB by default) that fills over minutes and would read as
// growth; a small one fills during the warm-up, so what grows after it is
// the program's own memory.
std::vector<std::string> ServerEnv() {
#if defined(__SANITIZE_ADDRESS__)
  const char* base = std::getenv("ASAN_OPTIONS");
  std::string options = base != nullptr ? std::string(base) + ":" : "";
  return {options.insert(0, "ASAN_OPTIONS=") + "quarantine_size_mb=16"};
#else
  return {};
#endif
}

// What each traffic thread saw, merged at the end.
struct Tally {
  std::map<int, long> by_status;
  std::map<std::string, long> unexpected;  // "status method target: body" -> count
  void Count(int status) { ++by_status[status]; }
  void Unexpected(int status, const std::string& what, const std::string& body) {
    ++unexpected[std::to_string(status) + " " + what + ": " + body.substr(0, 160)];
  }
};

struct Issued {
  std::string event, user;
  std::int64_t seq;
};

std::string IssuePath(const std::string& event) { return "/api/v1/events/" + event + "/issue"; }
std::string UserBody(const std::string& user) { return R"({"user_id":")" + user + R"("})"; }
std::string Address(int a, int b) {
  return "10." + std::to_string(a) + "." + std::to_string(b / 250) + "." +
         std::to_string(1 + b % 250);
}

TEST(Soak, MixedTrafficNoLeakStableMemoryCleanAudit) {
  const int seconds = SoakSeconds();
  ServedFirstcome s({"--rate-limit-ip", std::to_string(kRateLimitIp), "--trusted-proxies",
                     "127.0.0.1/32", "--rate-limit-keys", "1000"},
                    "", ServerEnv());
  ASSERT_TRUE(s.Start());

  std::mutex mu;  // guards events, issued
  std::vector<std::string> events;
  std::vector<Issued> issued;
  auto new_event = [&](int n) {
    const std::string id = Name("soak-", n);
    auto r = CreateEvent(s.api, id, kEventTotal);
    EXPECT_EQ(r.status, 201) << r.body;
    std::lock_guard lock(mu);
    events.push_back(id);
  };
  auto current_event = [&] {
    std::lock_guard lock(mu);
    return events.back();
  };
  new_event(0);

  std::atomic<bool> stop{false};
  std::vector<Tally> tallies(5);
  std::vector<std::thread> threads;

  // Issuers: unique users, every 10th a repeat (409); events sell out (410)
  // until the next one opens. Each request from one of 64 addresses, far
  // below the per-address rate.
  for (int w = 0; w < 2; ++w) {
    threads.emplace_back([&, w] {
      HttpConnection conn("127.0.0.1", s.port);
      Tally& t = tallies[static_cast<std::size_t>(w)];
      std::string last_user = Name("u-" + std::to_string(w) + "-", 0);
      for (long i = 1; !stop.load(); ++i) {
        const std::string event = current_event();
        const std::string user = i % 10 == 0 ? last_user : Name("u-" + std::to_string(w) + "-", i);
        auto r = conn.Send("POST", IssuePath(event), UserBody(user),
                           {{"X-Forwarded-For", Address(1 + w, static_cast<int>(i % 64))}});
        t.Count(r.status);
        if (r.status == 201) {
          auto seq = JsonMember(r.json(), "seq");
          std::lock_guard lock(mu);
          issued.push_back({event, user, seq.is_int64() ? seq.as_int64() : -1});
        } else if (r.status != 409 && r.status != 410) {
          t.Unexpected(r.status, "issue", r.body);
        }
        last_user = user;
        std::this_thread::sleep_for(2ms);
      }
    });
  }

  // Reads: the current event, a user's coupons, the list, metrics, health;
  // every 4th on a new connection.
  threads.emplace_back([&] {
    HttpConnection conn("127.0.0.1", s.port);
    Tally& t = tallies[2];
    for (long i = 0; !stop.load(); ++i) {
      const std::string event = current_event();
      std::string target;
      switch (i % 5) {
        case 0:
          target = "/api/v1/events/" + event;
          break;
        case 1:
          target = "/api/v1/events/" + event + "/users/" + Name("u-0-", i % 500);
          break;
        case 2:
          target = "/api/v1/events";
          break;
        case 3:
          target = i % 50 == 3 ? "/metrics" : "/healthz";
          break;
        default:
          target = "/api/v1/events/" + event;
          break;
      }
      const HttpHeaders headers = {{"X-Forwarded-For", Address(3, static_cast<int>(i % 64))}};
      auto r = i % 4 == 0 ? HttpCall("127.0.0.1", s.port, "GET", target, "", {.headers = headers})
                          : conn.Send("GET", target, "", headers);
      t.Count(r.status);
      if (r.status != 200) t.Unexpected(r.status, "GET " + target, r.body);
      std::this_thread::sleep_for(3ms);
    }
  });

  // Bad input, each from a new address (the rate limiter's table of 1000
  // keys keeps evicting): only 4xx answers.
  threads.emplace_back([&] {
    HttpConnection conn("127.0.0.1", s.port);
    Tally& t = tallies[3];
    const std::string big(70 * 1024, 'x');
    struct Bad {
      const char* method;
      std::string target, body;
    };
    for (long i = 0; !stop.load(); ++i) {
      const std::string event = current_event();
      const std::vector<Bad> bad = {
          {"POST", IssuePath(event), "{"},
          {"POST", IssuePath(event), R"({"user_id":"a","user_id":"b"})"},
          {"POST", IssuePath(event), R"({"user":"a"})"},
          {"POST", IssuePath(event), R"({"user_id":")" + std::string(300, 'u') + "\"}"},
          {"POST", IssuePath(event), R"({"user_id":"bad id!"})"},
          {"POST", IssuePath("no-such-event"), UserBody("x")},
          {"POST", "/api/v1/events/bad%20id/issue", UserBody("x")},
          {"POST", IssuePath(event), R"({"user_id":"x")" + big + "\"}"},
          {"PUT", IssuePath(event), UserBody("x")},
          {"GET", "/api/v1/nothing/here", ""},
          {"POST", IssuePath(event), "\xff\xfe\x00garbage"},
      };
      const Bad& b = bad[static_cast<std::size_t>(i) % bad.size()];
      const HttpHeaders headers = {{"X-Forwarded-For", Address(4, static_cast<int>(i))}};
      auto r = conn.Send(b.method, b.target, b.body, headers);
      t.Count(r.status);
      if (r.status < 400 || r.status > 499 || r.status == 429) {
        t.Unexpected(r.status, std::string(b.method) + " " + b.target.substr(0, 60), r.body);
      }
      std::this_thread::sleep_for(4ms);
    }
  });

  // The flood: one address, flat out, mostly 429.
  std::atomic<long> flood_issued{0};
  threads.emplace_back([&] {
    HttpConnection conn("127.0.0.1", s.port);
    Tally& t = tallies[4];
    for (long i = 0; !stop.load(); ++i) {
      const std::string event = current_event();
      auto r = conn.Send("POST", IssuePath(event), UserBody(Name("flood-", i)),
                         {{"X-Forwarded-For", kFloodAddress}});
      t.Count(r.status);
      if (r.status == 201) {
        ++flood_issued;
        auto seq = JsonMember(r.json(), "seq");
        std::lock_guard lock(mu);
        issued.push_back({event, Name("flood-", i), seq.is_int64() ? seq.as_int64() : -1});
      } else if (r.status != 429 && r.status != 409 && r.status != 410) {
        t.Unexpected(r.status, "flood", r.body);
      }
    }
  });

  // A new event every 5 s; RSS every second.
  const auto start = Clock::now();
  const auto warm_up = start + std::chrono::seconds(seconds / 4);
  const auto end = start + std::chrono::seconds(seconds);
  std::vector<long> rss_after_warm_up;
  long rss_at_start = RssKib(s.process->pid());
  long rss_peak = rss_at_start;
  int next_event = 1;
  auto next_event_at = start + 5s;
  while (Clock::now() < end) {
    std::this_thread::sleep_for(1s);
    const long rss = RssKib(s.process->pid());
    rss_peak = std::max(rss_peak, rss);
    if (Clock::now() >= warm_up) rss_after_warm_up.push_back(rss);
    if (Clock::now() >= next_event_at) {
      new_event(next_event++);
      next_event_at += 5s;
    }
  }
  stop.store(true);
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();

  Tally all;
  for (const Tally& t : tallies) {
    for (const auto& [status, n] : t.by_status) all.by_status[status] += n;
    for (const auto& [what, n] : t.unexpected) all.unexpected[what] += n;
  }
  long requests = 0;
  for (const auto& [status, n] : all.by_status) requests += n;
  std::printf("soak: %ld requests in %.0f s (%.0f/s), %zu events, %zu issued\n", requests, elapsed,
              static_cast<double>(requests) / elapsed, events.size(), issued.size());
  for (const auto& [status, n] : all.by_status) std::printf("soak: %ld x %d\n", n, status);
  for (const auto& [what, n] : all.unexpected) {
    ADD_FAILURE() << n << " x unexpected " << what;
  }
  EXPECT_EQ(all.by_status[0], 0) << "transport errors";
  EXPECT_GT(all.by_status[201], 0);
  EXPECT_GT(all.by_status[409], 0);
  EXPECT_GT(all.by_status[410], 0);
  EXPECT_GT(all.by_status[429], 0);
  EXPECT_GT(all.by_status[400], 0);
  // The flooder's issues are bounded by the bucket (burst 2x, then the rate).
  EXPECT_LE(flood_issued.load(), 2 * kRateLimitIp + static_cast<long>(kRateLimitIp * elapsed));

  // Memory: after the warm-up the RSS stays within a bound to the end.
  ASSERT_FALSE(rss_after_warm_up.empty());
  const long first = rss_after_warm_up.front();
  const long last = rss_after_warm_up.back();
  const long max_after = *std::max_element(rss_after_warm_up.begin(), rss_after_warm_up.end());
  std::printf("soak: RSS start %ld KiB, after warm-up %ld KiB, end %ld KiB, peak %ld KiB\n",
              rss_at_start, first, last, rss_peak);
  const long bound = std::max(16L * 1024, first / 5);
  EXPECT_LE(last - first, bound) << "RSS grew after the warm-up";
  EXPECT_LE(max_after - first, 2 * bound);

  // Every 201 persisted with its seq; counts agree.
  std::map<std::string, long> per_event;
  for (const Issued& i : issued) ++per_event[i.event];
  for (const std::string& id : events) {
    EXPECT_TRUE(WaitForField(s.api, id, "persisted", per_event[id]))
        << id << ": " << boost::json::serialize(GetEvent(s.api, id));
    EXPECT_EQ(Field(GetEvent(s.api, id), "issued"), per_event[id]) << id;
  }
  for (std::size_t k = 0; k < issued.size(); k += std::max<std::size_t>(1, issued.size() / 100)) {
    const Issued& i = issued[k];
    auto coupons = UserCoupons(s.api, i.event, i.user);
    ASSERT_EQ(coupons.size(), 1u) << i.event << " " << i.user;
    EXPECT_EQ(JsonMember(coupons[0], "seq"), boost::json::value(i.seq)) << i.user;
  }

  // SIGTERM: exit 0 (LeakSanitizer's verdict in the ASan build), then audit.
  EXPECT_EQ(s.process->Terminate(), 0) << "log: " << s.process->log_path();
  for (const std::string& id : events) {
    std::string out;
    EXPECT_EQ(Audit(id, {"--data-dir", s.dir.path()}, &out), 0) << id << ": " << out;
  }
}

}  // namespace
}  // namespace firstcome::test
