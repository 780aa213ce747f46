// Distributed Firstcome on real servers: a private Redis, MariaDB and Kafka
// (scripts/services, started once for this binary) and several firstcome
// processes in split roles. Covers issue 3's tests 1-6: two API processes and
// a consumer racing, a consumer killed with -9, MariaDB stopped, the Kafka
// broker stopped, Redis flushed, and the race in one process; and the Kafka
// broker hung (SIGSTOP): answers in time, and no coupon a user holds is lost.
#include <gtest/gtest.h>

#include <csignal>
#include <map>
#include <set>
#include <thread>

#include "loadgen/load_generator.h"
#include "support/api_client.h"
#include "support/fixtures.h"
#include "support/process.h"
#include "support/served_firstcome.h"
#include "support/services.h"

namespace firstcome::test {
namespace {

Services* services = nullptr;

class Distributed : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    services = new Services("redis,mariadb,kafka");
    ASSERT_TRUE(services->ok()) << "scripts/services up failed; logs in " << services->dir();
  }
  static void TearDownTestSuite() {
    delete services;
    services = nullptr;
  }
  void TearDown() override {
    for (auto& [port, p] : processes_) {
      if (consumers_.contains(port)) ExpectCleanStop(*p);
    }
  }

  // The environment that points firstcome at the private servers.
  static std::vector<std::string> Env() {
    return {"FIRSTCOME_GATE=redis",
            "FIRSTCOME_LOG=kafka",
            "FIRSTCOME_STORE=mysql",
            "FIRSTCOME_REDIS_URL=" + services->env("FIRSTCOME_REDIS_URL"),
            "FIRSTCOME_KAFKA_BROKERS=" + services->env("FIRSTCOME_KAFKA_BROKERS"),
            "FIRSTCOME_MYSQL_URL=" + services->env("FIRSTCOME_MYSQL_URL")};
  }

  // Starts `firstcome serve --role ROLE` on a free port; returns its port.
  int StartRole(const std::string& role, std::vector<std::string> extra = {}) {
    const int port = FreePort();
    std::vector<std::string> args = {"serve",
                                     "--role",
                                     role,
                                     "--port",
                                     std::to_string(port),
                                     "--data-dir",
                                     dir_.path() + "/" + std::to_string(port)};
    args.insert(args.end(), extra.begin(), extra.end());
    auto p = std::make_unique<FirstcomeProcess>(args, Env());
    EXPECT_TRUE(p->Start());
    EXPECT_TRUE(p->WaitHealthy(port, std::chrono::seconds(60))) << "log: " << p->log_path();
    processes_[port] = std::move(p);
    if (role == "consumer") consumers_.insert(port);
    return port;
  }
  FirstcomeProcess& Process(int port) { return *processes_.at(port); }

  int RunAudit(const std::string& event, std::vector<std::string> extra, std::string* out) {
    return Audit(event, extra, out, Env());
  }

  // Redis on the services' port, through redis-cli.
  static int RedisCli(const std::string& command) {
    std::string url = services->env("FIRSTCOME_REDIS_URL");  // redis://127.0.0.1:PORT
    std::string port = url.substr(url.rfind(':') + 1);
    return RunShell("redis-cli -p " + port + " " + command + " >/dev/null");
  }

  TempDir dir_;
  std::map<int, std::unique_ptr<FirstcomeProcess>> processes_;
  std::set<int> consumers_;
};

// Checks a load's answers: exactly `total` issued, no user twice, seqs 1..total.
void ExpectExactlyIssued(const LoadReport& report, std::int64_t total) {
  std::set<std::int64_t> seqs;
  std::set<std::string> winners;
  std::map<int, int> by_status;
  for (const Answer& a : report.answers) {
    ++by_status[a.http_status];
    if (a.http_status != 201) continue;
    EXPECT_TRUE(winners.insert(a.user_id).second) << a.user_id << " issued twice";
    EXPECT_TRUE(seqs.insert(a.seq).second) << "seq " << a.seq << " issued twice";
  }
  EXPECT_EQ(by_status[201], total);
  ASSERT_EQ(static_cast<std::int64_t>(seqs.size()), total);
  EXPECT_EQ(*seqs.begin(), 1);
  EXPECT_EQ(*seqs.rbegin(), total);
  for (const auto& [status, n] : by_status) {
    EXPECT_TRUE(status == 201 || status == 409 || status == 410) << n << " x " << status;
  }
}

std::string ErrorKinds(const LoadReport& report) {
  std::string out;
  for (const auto& [kind, n] : report.transport_errors_by_kind) {
    out += kind + ": " + std::to_string(n) + "\n";
  }
  return out;
}

LoadOptions RaceLoad(const std::vector<int>& ports, const std::string& event) {
  LoadOptions load;
  load.targets.clear();  // drop the default target
  for (int p : ports) load.targets.push_back("http://127.0.0.1:" + std::to_string(p));
  load.event_id = event;
  load.connections = 2000;
  load.requests = 8000;
  load.distribution = UserDistribution::kRepeated;
  load.users = 1500;
  load.record_answers = true;
  load.give_up_after = std::chrono::seconds(120);  // a failure must not eat the CI budget
  return load;
}

// 1. Two API processes and one consumer share one count.
TEST_F(Distributed, TwoApiProcessesAndAConsumerIssueExactlyTheTotal) {
  const int api1 = StartRole("api");
  const int api2 = StartRole("api");
  StartRole("consumer");
  ApiEndpoint a{.port = api1};
  ASSERT_EQ(CreateEvent(a, "d-race", 100).status, 201);
  auto report = RunLoad(RaceLoad({api1, api2}, "d-race"));
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->transport_errors, 0) << ErrorKinds(*report);
  EXPECT_GE(report->connects, 2000) << "all 2000 connections must really have been open";
  ExpectExactlyIssued(*report, 100);
  ASSERT_TRUE(WaitForField(a, "d-race", "persisted", 100));
  EXPECT_EQ(Field(GetEvent(ApiEndpoint{.port = api2}, "d-race"), "issued"), 100);
  std::string out;
  EXPECT_EQ(RunAudit("d-race", {}, &out), 0) << out;
}

// 2. The consumer killed with -9 mid-stream and restarted.
TEST_F(Distributed, ConsumerKilledMidStreamPersistsEverythingOnce) {
  const int api = StartRole("api");
  const int consumer = StartRole(
      "consumer", {"--consumer-max-rows-per-second", "500", "--consumer-batch-size", "50"});
  ApiEndpoint a{.port = api};
  ASSERT_EQ(CreateEvent(a, "d-kill", 3000).status, 201);
  LoadOptions load;
  load.targets = {"http://127.0.0.1:" + std::to_string(api)};
  load.event_id = "d-kill";
  load.connections = 100;
  load.requests = 3000;
  auto report = RunLoad(load);
  ASSERT_TRUE(report.ok());
  // Kill it once it is consuming (the group join takes a few seconds), while
  // most of the stream is still ahead of it.
  ASSERT_TRUE(WaitForFieldAtLeast(a, "d-kill", "persisted", 1));
  const std::int64_t before = Field(GetEvent(a, "d-kill"), "persisted");
  EXPECT_LT(before, 3000) << "the consumer should still be mid-stream";
  Process(consumer).Kill9();
  StartRole("consumer");
  ASSERT_TRUE(WaitForField(a, "d-kill", "persisted", 3000, std::chrono::seconds(120)));
  std::string out;
  EXPECT_EQ(RunAudit("d-kill", {}, &out), 0) << out;
  std::printf("consumer killed at %lld of 3000 persisted; after restart 3000, audit clean\n",
              static_cast<long long>(before));
}

// 3. MariaDB stopped for ~10 s during consumption.
TEST_F(Distributed, MariaDbOutagePausesConsumptionAndLosesNothing) {
  const int api = StartRole("api");
  const int consumer = StartRole(
      "consumer", {"--consumer-max-rows-per-second", "300", "--consumer-batch-size", "50"});
  ApiEndpoint a{.port = api};
  // One coupon more than the burst takes, for the issue during the outage.
  ASSERT_EQ(CreateEvent(a, "d-db", 2001).status, 201);
  LoadOptions load;
  load.targets = {"http://127.0.0.1:" + std::to_string(api)};
  load.event_id = "d-db";
  load.connections = 50;
  load.requests = 2000;
  ASSERT_TRUE(RunLoad(load).ok());
  ASSERT_TRUE(services->Stop("mariadb"));
  std::this_thread::sleep_for(std::chrono::seconds(10));
  EXPECT_TRUE(Process(api).running());
  EXPECT_TRUE(Process(consumer).running());
  // Issuing does not need the database: the answer is durable in Kafka.
  EXPECT_EQ(Issue(a, "d-db", "during-outage").status, 201);
  ASSERT_TRUE(services->Start("mariadb"));
  ASSERT_TRUE(WaitForField(a, "d-db", "persisted", 2001, std::chrono::seconds(120)))
      << boost::json::serialize(GetEvent(a, "d-db"));
  std::string out;
  EXPECT_EQ(RunAudit("d-db", {}, &out), 0) << out;
}

// 4. The Kafka broker stopped: 503 and no slot taken; afterwards exact totals.
TEST_F(Distributed, KafkaDownAnswers503AndTakesNoSlot) {
  const int api = StartRole("api");
  StartRole("consumer");
  ApiEndpoint a{.port = api};
  ASSERT_EQ(CreateEvent(a, "d-kafka", 50).status, 201);
  for (int i = 0; i < 10; ++i)
    ASSERT_EQ(Issue(a, "d-kafka", "before-" + std::to_string(i)).status, 201);
  ASSERT_TRUE(services->Stop("kafka"));
  for (int i = 0; i < 5; ++i) {
    auto started = std::chrono::steady_clock::now();
    auto r = Issue(a, "d-kafka", "during-" + std::to_string(i));
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started);
    EXPECT_EQ(r.status, 503) << r.body;
    EXPECT_EQ(r.json().as_object().at("status").as_string(), "unavailable");
    std::printf("issue with the broker down: %d in %lld ms\n", r.status,
                static_cast<long long>(ms.count()));
  }
  EXPECT_EQ(Field(GetEvent(a, "d-kafka"), "issued"), 10) << "a 503 must not take a slot";
  ASSERT_TRUE(services->Start("kafka"));
  // Once the broker is back every remaining coupon can be had, and no more.
  int issued = 0, sold_out = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  for (int i = 0; i < 60 && std::chrono::steady_clock::now() < deadline;) {
    auto r = Issue(a, "d-kafka", "after-" + std::to_string(i));
    if (r.status == 503) {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      continue;
    }
    issued += r.status == 201;
    sold_out += r.status == 410;
    ++i;
  }
  EXPECT_EQ(issued, 40);
  EXPECT_EQ(sold_out, 20);
  ASSERT_TRUE(WaitForField(a, "d-kafka", "persisted", 50, std::chrono::seconds(90)));
  std::string out;
  EXPECT_EQ(RunAudit("d-kafka", {}, &out), 0) << out;
}

// 5. Redis flushed mid-event: audit sees it, --repair rebuilds, no seq reused.
TEST_F(Distributed, RedisFlushIsFoundAndRepairedWithoutReusingSeqs) {
  const int api = StartRole("api");
  StartRole("consumer");
  ApiEndpoint a{.port = api};
  ASSERT_EQ(CreateEvent(a, "d-flush", 100).status, 201);
  std::set<std::int64_t> seqs;
  for (int i = 0; i < 30; ++i) {
    auto r = Issue(a, "d-flush", "first-" + std::to_string(i));
    ASSERT_EQ(r.status, 201);
    seqs.insert(r.json().as_object().at("seq").as_int64());
  }
  ASSERT_TRUE(WaitForField(a, "d-flush", "persisted", 30));
  ASSERT_EQ(RedisCli("FLUSHALL"), 0);
  std::string out;
  EXPECT_EQ(RunAudit("d-flush", {}, &out), 1) << out;
  EXPECT_NE(out.find("unknown to the gate"), std::string::npos) << out;
  EXPECT_EQ(RunAudit("d-flush", {"--repair"}, &out), 0) << out;
  // The earlier winners are known again; new users get only new seqs.
  EXPECT_EQ(Issue(a, "d-flush", "first-7").status, 409);
  int issued = 0;
  for (int i = 0; i < 80; ++i) {
    auto r = Issue(a, "d-flush", "second-" + std::to_string(i));
    if (r.status != 201) {
      EXPECT_EQ(r.status, 410) << r.body;
      continue;
    }
    ++issued;
    EXPECT_TRUE(seqs.insert(r.json().as_object().at("seq").as_int64()).second) << "seq reused";
  }
  EXPECT_EQ(issued, 70);
  EXPECT_EQ(seqs.size(), 100u);
  ASSERT_TRUE(WaitForField(a, "d-flush", "persisted", 100));
  EXPECT_EQ(RunAudit("d-flush", {}, &out), 0) << out;
}

// 7. The broker hung (SIGSTOP: connections stay open, acks never come), then
// killed with -9 and restarted: what it had not yet read from its sockets is
// gone. Every request is answered 503 within the delivery timeout; a record
// the broker may have taken keeps its seq (a retry hears already_issued) and
// is still persisted, because the API appends it again once the broker is
// back; without that, those coupons would be held and never stored.
TEST_F(Distributed, HungThenKilledKafkaAnswers503InTimeAndEveryKeptCouponIsPersisted) {
  const int api = StartRole("api", {"--timeout-ms", "1500"});
  StartRole("consumer");
  ApiEndpoint a{.port = api};
  constexpr int kTotal = 40;
  ASSERT_EQ(CreateEvent(a, "d-hung", kTotal).status, 201);
  for (int i = 0; i < 5; ++i)
    ASSERT_EQ(Issue(a, "d-hung", "before-" + std::to_string(i)).status, 201);
  std::string pid_text;
  ASSERT_EQ(RunShell("cat " + services->dir() + "/kafka/pid", &pid_text), 0);
  const pid_t broker = std::stoi(pid_text);
  ASSERT_TRUE(FreezeProcess(broker));
  constexpr int kHung = 10;
  std::vector<HttpResponse> during(kHung);
  std::vector<double> seconds(kHung);
  {
    std::vector<std::thread> clients;
    for (int i = 0; i < kHung; ++i) {
      clients.emplace_back([&, i] {
        const auto t0 = std::chrono::steady_clock::now();
        during[i] = Issue(a, "d-hung", "hung-" + std::to_string(i));
        seconds[i] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      });
    }
    for (auto& c : clients) c.join();
  }
  ASSERT_EQ(::kill(broker, SIGKILL), 0);
  for (int i = 0; i < 500 && ::kill(broker, 0) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (int i = 0; i < kHung; ++i) {
    EXPECT_EQ(during[i].status, 503) << during[i].body;
    EXPECT_LT(seconds[i], 10.0) << "answered only after " << seconds[i] << " s";
    std::printf("issue with the broker hung: %d in %.2f s: %s\n", during[i].status, seconds[i],
                during[i].body.c_str());
  }
  ASSERT_TRUE(services->Start("kafka"));
  // Each hung user either holds the seq the broker may have taken (409, kept)
  // or gets a coupon once the broker is back (201).
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  std::set<std::int64_t> seqs;
  int kept = 0, retried = 0;
  for (int i = 0; i < kHung && std::chrono::steady_clock::now() < deadline;) {
    auto r = Issue(a, "d-hung", "hung-" + std::to_string(i));
    if (r.status == 503) {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      continue;
    }
    ASSERT_TRUE(r.status == 201 || r.status == 409) << r.body;
    if (r.status == 201) {
      ++retried;
      seqs.insert(r.json().as_object().at("seq").as_int64());
    } else {
      ++kept;
      const boost::json::value body = r.json();
      for (const auto& c : body.as_object().at("coupons").as_array()) {
        seqs.insert(c.as_object().at("seq").as_int64());
      }
    }
    ++i;
  }
  ASSERT_EQ(kept + retried, kHung) << "the broker did not come back in time";
  std::printf("after the hang: %d kept their seq, %d got one on retry\n", kept, retried);
  // The rest of the coupons, and no more.
  int issued = 0;
  for (int i = 0; i < kTotal && std::chrono::steady_clock::now() < deadline;) {
    auto r = Issue(a, "d-hung", "after-" + std::to_string(i));
    if (r.status == 503) {  // the restarted broker is not taking records yet
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      continue;
    }
    ++i;
    ASSERT_TRUE(r.status == 201 || r.status == 410) << r.body;
    if (r.status == 201) {
      ++issued;
      EXPECT_TRUE(seqs.insert(r.json().as_object().at("seq").as_int64()).second) << "seq reused";
    }
  }
  EXPECT_EQ(5 + kHung + issued, kTotal);
  // Every kept coupon reaches the store without an audit --repair.
  ASSERT_TRUE(WaitForField(a, "d-hung", "persisted", kTotal, std::chrono::seconds(90)));
  for (int i = 0; i < kHung; ++i) {
    auto coupons = UserCoupons(a, "d-hung", "hung-" + std::to_string(i));
    ASSERT_EQ(coupons.size(), 1u);
    EXPECT_EQ(coupons[0].as_object().at("state").as_string(), "persisted");
  }
  std::string out;
  EXPECT_EQ(RunAudit("d-hung", {}, &out), 0) << out;
  // The resender's own copies are confirmed too. Not at once: the copies the
  // broker had taken before the hang may be what the store got, while the
  // resender is still in its backoff (up to 5 s) after the broker came back.
  std::string metrics;
  EXPECT_TRUE(WaitFor(
      [&] {
        metrics = HttpRequest("127.0.0.1", api, "GET", "/metrics").body;
        if (metrics.find("firstcome_issue_unconfirmed 0\n") != std::string::npos) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        return false;
      },
      std::chrono::seconds(30)))
      << metrics;
  std::printf("%s", metrics.substr(metrics.find("firstcome_issue_unconfirmed"), 200).c_str());
}

// 6. The core race in one process on Redis + Kafka + MariaDB.
TEST_F(Distributed, RaceInOneProcessOnRealServers) {
  const int port = StartRole("all");
  ApiEndpoint a{.port = port};
  ASSERT_EQ(CreateEvent(a, "d-one", 100).status, 201);
  auto report = RunLoad(RaceLoad({port}, "d-one"));
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->transport_errors, 0) << ErrorKinds(*report);
  EXPECT_GE(report->connects, 2000) << "all 2000 connections must really have been open";
  ExpectExactlyIssued(*report, 100);
  ASSERT_TRUE(WaitForField(a, "d-one", "persisted", 100));
  std::string out;
  EXPECT_EQ(RunAudit("d-one", {}, &out), 0) << out;
}

}  // namespace
}  // namespace firstcome::test
