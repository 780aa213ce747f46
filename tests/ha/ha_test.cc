// High availability on real servers: `scripts/services up --ha` (Redis primary
// + 2 replicas + 3 Sentinels, three KRaft Kafka brokers with replication 3 and
// min.insync.replicas 2, MariaDB), started once for this binary, and per test
// two API processes and a consumer (firstcome serve --role api/consumer with
// redis_sentinels, redis_wait_replicas 1 and 8 Redis connections). Each test runs a burst of 20,000
// users for 5,000 coupons, breaks one server in the middle, and checks that
// nothing was issued twice or lost: issued <= total, no seq twice, every 201
// persisted, audit clean, the event sold out after the fault. A prober issues
// one coupon of another event every 20 ms and prints how long admissions
// paused (503s, or answers held up).
#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "loadgen/load_generator.h"
#include "support/api_client.h"
#include "support/fixtures.h"
#include "support/process.h"
#include "support/served_firstcome.h"
#include "support/services.h"

namespace firstcome::test {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

Services* services = nullptr;
// The same size under a sanitizer: with half of both, the instrumented API
// processes did not sell out after a Redis failover within the burst.
constexpr std::int64_t kTotal = 5000;
constexpr std::int64_t kUsers = 20000;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  std::string text = s.str();
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

// The lines about a failover that the Sentinels and the Firstcome processes
// logged after Mark(): printed with every run, so a slow recovery on a loaded
// machine says which step took the time (Sentinel's election, its promotion,
// the fence's check).
class FailoverLines {
 public:
  void Mark(const std::string& path) {
    std::ifstream in(path, std::ios::ate);
    offsets_[path] = in ? static_cast<std::streamoff>(in.tellg()) : 0;
  }
  std::string Since() const {
    // Sentinel's events (https://redis.io/docs/management/sentinel/, "Sentinel
    // API": +sdown, +odown, +try-failover, +elected-leader, -failover-abort-*,
    // +switch-master...) and Firstcome's fence.
    static const char* const kWanted[] = {"sdown",          "odown",          "try-failover",
                                          "elected-leader", "failover-abort", "failover-state",
                                          "promoted",       "switch-master",  "failover-end",
                                          "redis primary",  "failover fence"};
    std::string out;
    for (const auto& [path, offset] : offsets_) {
      std::ifstream in(path);
      in.seekg(offset);
      std::string line;
      while (std::getline(in, line)) {
        for (const char* w : kWanted) {
          if (line.find(w) == std::string::npos) continue;
          out += "  " + path.substr(path.rfind('/', path.rfind('/') - 1) + 1) + ": " + line + "\n";
          break;
        }
      }
    }
    return out;
  }

 private:
  std::map<std::string, std::streamoff> offsets_;
};

// What a prober saw: every answer's status and when it came.
struct ProbeLog {
  std::vector<std::pair<Clock::time_point, int>> answers;
  // The longest time between two 201 answers (the pause, plus one interval).
  double LongestGapSeconds() const {
    double longest = 0;
    std::optional<Clock::time_point> last;
    for (const auto& [at, status] : answers) {
      if (status != 201) continue;
      if (last) longest = std::max(longest, std::chrono::duration<double>(at - *last).count());
      last = at;
    }
    return longest;
  }
  // From the first to the last 503 of the longest run of 503s.
  double Seconds503() const {
    double longest = 0;
    std::optional<Clock::time_point> first;
    for (const auto& [at, status] : answers) {
      if (status == 503) {
        if (!first) first = at;
        longest = std::max(longest, std::chrono::duration<double>(at - *first).count());
      } else {
        first.reset();
      }
    }
    return longest;
  }
  // From `fault` until the first 201 after it: how long admissions stopped.
  double PauseAfter(Clock::time_point fault) const {
    for (const auto& [at, status] : answers) {
      if (at > fault && status == 201) return std::chrono::duration<double>(at - fault).count();
    }
    return -1;
  }
  std::int64_t Count(int status) const {
    std::int64_t n = 0;
    for (const auto& a : answers) n += a.second == status ? 1 : 0;
    return n;
  }
};

// Issues coupons of `event` to fresh users every 20 ms, alternating between
// the API processes, until stopped (a std::jthread: a failed assertion that
// returns before Stop() still stops and joins it).
class Prober {
 public:
  Prober(std::vector<int> ports, std::string event) {
    thread_ = std::jthread(
        [this, ports = std::move(ports), event = std::move(event)](std::stop_token stop) {
          for (int n = 0; !stop.stop_requested(); ++n) {
            const ApiEndpoint api{.port = ports[n % ports.size()]};
            const int status = Issue(api, event, "probe-" + std::to_string(n)).status;
            log_.answers.emplace_back(Clock::now(), status);
            std::this_thread::sleep_for(milliseconds(20));
          }
        });
  }
  ProbeLog Stop() {
    thread_.request_stop();
    thread_.join();
    return log_;
  }

 private:
  ProbeLog log_;
  std::jthread thread_;
};

class HighAvailability : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const auto started = Clock::now();
    services = new Services("redis-ha,mariadb,kafka-ha");
    ASSERT_TRUE(services->ok()) << "scripts/services up --ha failed; logs in " << services->dir();
    std::printf("HA stack up in %.1f s\n",
                std::chrono::duration<double>(Clock::now() - started).count());
  }
  static void TearDownTestSuite() {
    delete services;
    services = nullptr;
  }
  void TearDown() override {
    if (consumer_ != nullptr) ExpectCleanStop(*consumer_);
  }

  static std::vector<std::string> Env() {
    return {"FIRSTCOME_GATE=redis", "FIRSTCOME_LOG=kafka", "FIRSTCOME_STORE=mysql",
            "FIRSTCOME_REDIS_SENTINELS=" + services->env("FIRSTCOME_REDIS_SENTINELS"),
            "FIRSTCOME_REDIS_MASTER_NAME=" + services->env("FIRSTCOME_REDIS_MASTER_NAME"),
            "FIRSTCOME_REDIS_WAIT_REPLICAS=1",
            // WAIT holds each worker for a replica round trip per batch:
            // more workers keep up with the burst (docs/high-availability.md).
            "FIRSTCOME_REDIS_CONNECTIONS=8",
            "FIRSTCOME_KAFKA_BROKERS=" + services->env("FIRSTCOME_KAFKA_BROKERS"),
            "FIRSTCOME_MYSQL_URL=" + services->env("FIRSTCOME_MYSQL_URL")};
  }

  int StartRole(const std::string& role) {
    const int port = FreePort();
    auto p = std::make_unique<FirstcomeProcess>(
        std::vector<std::string>{"serve", "--role", role, "--port", std::to_string(port),
                                 "--data-dir", dir_.path() + "/" + std::to_string(port)},
        Env());
    EXPECT_TRUE(p->Start());
    EXPECT_TRUE(p->WaitHealthy(port, std::chrono::seconds(60))) << "log: " << p->log_path();
    if (role == "consumer") consumer_ = p.get();
    processes_[port] = std::move(p);
    return port;
  }

  // The member of the Redis set that Sentinel names as primary now.
  static std::string PrimaryMember() {
    std::string out;
    const std::string sentinels = services->env("FIRSTCOME_REDIS_SENTINELS");
    const std::string port =
        sentinels.substr(sentinels.find(':') + 1, sentinels.find(',') - sentinels.find(':') - 1);
    RunShell("redis-cli -p " + port + " sentinel get-master-addr-by-name firstcome | tail -1",
             &out);
    while (!out.empty() && out.back() == '\n') out.pop_back();
    for (const char* m : {"redis-primary", "redis-replica-1", "redis-replica-2"}) {
      if (ReadFile(services->dir() + "/redis-ha/" + m + "/port") == out) return m;
    }
    return "";
  }
  static pid_t PidOf(const std::string& member) {
    const std::string file = member.rfind("kafka", 0) == 0 ? "/kafka-ha/" + member + "/pid"
                                                           : "/redis-ha/" + member + "/redis.pid";
    return static_cast<pid_t>(std::stol(ReadFile(services->dir() + file)));
  }

  // Starts the burst and the prober, runs `fault` once `kFaultAt` coupons
  // were issued, and checks every promise once the burst is over.
  void BurstWithFault(const std::string& event, const std::function<void()>& fault) {
    const int api1 = StartRole("api");
    const int api2 = StartRole("api");
    StartRole("consumer");
    const ApiEndpoint a{.port = api1};
    ASSERT_EQ(CreateEvent(a, event, kTotal).status, 201);
    ASSERT_EQ(CreateEvent(a, event + "-probe", 1000000).status, 201);
    // Warm up: the first admission on a fresh primary waits for the fence.
    ASSERT_TRUE(WaitFor([&] { return Issue(a, event + "-probe", "warm-up").status == 201; },
                        std::chrono::seconds(30)));

    LoadOptions load;
    load.targets = {"http://127.0.0.1:" + std::to_string(api1),
                    "http://127.0.0.1:" + std::to_string(api2)};
    load.event_id = event;
    load.connections = 100;
    load.requests = kUsers;
    load.rate = 800;  // ~25 s: the fault lands early, the pause leaves enough users
    load.record_answers = true;
    load.give_up_after = std::chrono::seconds(120);
    Prober prober({api1, api2}, event + "-probe");
    Result<LoadReport> report = Status::Internal("not run");
    std::jthread burst([&] { report = RunLoad(load); });  // joined if an assertion returns
    ASSERT_TRUE(WaitForFieldAtLeast(a, event, "issued", kTotal * 3 / 10, std::chrono::seconds(60)));
    const std::int64_t issued_at_fault = Field(GetEvent(a, event), "issued");
    FailoverLines failover;
    for (const char* s : {"sentinel-1", "sentinel-2", "sentinel-3"}) {
      failover.Mark(services->dir() + "/redis-ha/" + s + "/redis.log");
    }
    for (const auto& [port, p] : processes_) failover.Mark(p->log_path());
    const auto fault_at = Clock::now();
    fault();
    burst.join();
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    // Users keep pressing after a burst. On a loaded machine (the sanitizer
    // builds) a failover can outlast it: Sentinel tries an election that
    // found no majority again only after 2 x failover-timeout. New users
    // then come in waves until the event sells out, for at most a minute,
    // so what is checked below is the system after it recovered.
    const auto late_from = Clock::now();
    std::int64_t late_users = 0;
    for (int wave = 0; Field(GetEvent(a, event), "issued") < kTotal &&
                       Clock::now() - late_from < std::chrono::seconds(60);
         ++wave) {
      LoadOptions late = load;
      late.user_prefix = "late-" + std::to_string(wave) + "-";
      late.requests = 1600;  // 2 s at 800/s
      late.give_up_after = std::chrono::seconds(30);
      auto more = RunLoad(late);
      ASSERT_TRUE(more.ok()) << more.status().ToString();
      late_users += more->requests;
      report->answers.insert(report->answers.end(), more->answers.begin(), more->answers.end());
    }
    std::this_thread::sleep_for(milliseconds(500));
    const ProbeLog probes = prober.Stop();

    std::set<std::int64_t> seqs;
    std::set<std::string> winners;
    std::map<int, std::int64_t> by_status;
    for (const Answer& ans : report->answers) {
      ++by_status[ans.http_status];
      if (ans.http_status != 201) continue;
      EXPECT_TRUE(winners.insert(ans.user_id).second) << ans.user_id << " issued twice";
      EXPECT_TRUE(seqs.insert(ans.seq).second) << "seq " << ans.seq << " issued twice";
    }
    std::printf(
        "%s: fault at %lld issued; answers 201=%lld 410=%lld 503=%lld transport errors=%lld; "
        "prober: first 201 %.2f s after the fault, 503 for %.2f s, longest gap between 201s "
        "%.2f s (%lld x 503 of %zu probes)\n",
        event.c_str(), static_cast<long long>(issued_at_fault),
        static_cast<long long>(by_status[201]), static_cast<long long>(by_status[410]),
        static_cast<long long>(by_status[503]), static_cast<long long>(report->transport_errors),
        probes.PauseAfter(fault_at), probes.Seconds503(), probes.LongestGapSeconds(),
        static_cast<long long>(probes.Count(503)), probes.answers.size());
    if (late_users > 0) {
      std::printf("%s: not sold out when the burst ended; %lld late users over %.1f s\n",
                  event.c_str(), static_cast<long long>(late_users),
                  std::chrono::duration<double>(Clock::now() - late_from).count());
    }
    std::printf("failover lines since the fault:\n%s", failover.Since().c_str());
    EXPECT_LE(by_status[201], kTotal);
    EXPECT_GT(by_status[410], 0) << "sold out must be answered after the fault";
    for (const auto& [status, n] : by_status) {
      EXPECT_TRUE(status == 201 || status == 410 || status == 503) << n << " x " << status;
    }
    // Sold out after the fault. A 503 whose record was possibly persisted
    // (Kafka) leaves the coupon with its user, who hears already_issued on a
    // retry: issued may exceed the 201s, never the total.
    EXPECT_EQ(Field(GetEvent(a, event), "issued"), kTotal);
    ASSERT_TRUE(WaitForField(a, event, "persisted", kTotal, std::chrono::seconds(120)))
        << boost::json::serialize(GetEvent(a, event));
    // Every 201 persisted, with the seq it was told.
    std::string rows;
    const std::string url = services->env("FIRSTCOME_MYSQL_URL");
    const std::string port = url.substr(url.rfind(':') + 1, url.rfind('/') - url.rfind(':') - 1);
    ASSERT_EQ(RunShell("mariadb --no-defaults -h127.0.0.1 -P" + port +
                           " -ufirstcome -pfirstcome firstcome -N -e \"SELECT user_id, seq FROM "
                           "coupons WHERE event_id = '" +
                           event + "'\"",
                       &rows),
              0);
    std::set<std::pair<std::string, std::int64_t>> stored;
    std::istringstream lines(rows);
    std::string user;
    std::int64_t seq = 0;
    while (lines >> user >> seq) stored.emplace(user, seq);
    EXPECT_EQ(static_cast<std::int64_t>(stored.size()), kTotal);
    std::int64_t told_not_stored = 0;
    for (const Answer& ans : report->answers) {
      if (ans.http_status == 201 && stored.count({ans.user_id, ans.seq}) == 0) ++told_not_stored;
    }
    EXPECT_EQ(told_not_stored, 0) << "users told 201 without that coupon in the store";
    std::string out;
    EXPECT_EQ(Audit(event, {}, &out, Env()), 0) << out;
  }

  TempDir dir_;
  std::map<int, std::unique_ptr<FirstcomeProcess>> processes_;
  FirstcomeProcess* consumer_ = nullptr;
};

TEST_F(HighAvailability, RedisPrimaryKilledMidBurst) {
  const std::string primary = PrimaryMember();
  ASSERT_FALSE(primary.empty());
  BurstWithFault("ha-redis-kill", [&] {
    ASSERT_EQ(::kill(PidOf(primary), SIGKILL), 0);
    std::printf("kill -9 of Redis primary %s\n", primary.c_str());
  });
  // Back as a replica of the new primary, for the tests after this one.
  EXPECT_TRUE(services->Start(primary));
}

TEST_F(HighAvailability, KafkaBrokerKilledMidBurstAndRestarted) {
  BurstWithFault("ha-kafka-kill", [&] {
    ASSERT_EQ(::kill(PidOf("kafka-2"), SIGKILL), 0);
    std::printf("kill -9 of kafka-2\n");
    std::this_thread::sleep_for(std::chrono::seconds(3));
    EXPECT_TRUE(services->Start("kafka-2"));  // back while the burst goes on
  });
}

TEST_F(HighAvailability, RedisPrimaryHungThenResumedAsReplica) {
  const std::string primary = PrimaryMember();
  ASSERT_FALSE(primary.empty());
  BurstWithFault("ha-redis-stop", [&] {
    ASSERT_TRUE(FreezeProcess(PidOf(primary)));
    std::printf("SIGSTOP of Redis primary %s\n", primary.c_str());
    EXPECT_TRUE(WaitFor([&] { return PrimaryMember() != primary; }, std::chrono::seconds(30)));
    ASSERT_TRUE(ThawProcess(PidOf(primary)));
  });
  // The old primary came back as a replica (Sentinel turns it), and refuses writes.
  const std::string cli =
      "redis-cli -p " + ReadFile(services->dir() + "/redis-ha/" + primary + "/port");
  EXPECT_TRUE(WaitFor(
      [&] {
        std::string role;
        RunShell(cli + " role | head -1", &role);
        return role == "slave\n";
      },
      std::chrono::seconds(20)));
  std::string answer;
  RunShell(cli + " set fc:ha-test-write 1", &answer);
  EXPECT_EQ(answer.rfind("READONLY", 0), 0u) << answer;
}

}  // namespace
}  // namespace firstcome::test
