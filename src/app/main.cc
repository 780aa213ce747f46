// firstcome: the one binary. Subcommands: serve, audit, retry-failed, bench.
// Errors from libraries that throw are caught here, at the edge.
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <climits>
#include <cstdio>
#include <iostream>
#include <optional>

#include "app/backends.h"
#include "app/config.h"
#include "app/log_format.h"
#include "edge/client_address.h"
#include "edge/jwt_verifier.h"
#include "http/server.h"
#include "loadgen/bench_command.h"
#include "pipeline/audit.h"
#include "pipeline/consumer.h"
#include "pipeline/event_metrics.h"
#include "pipeline/issuer.h"
#include "pipeline/retry_job.h"
#include "pipeline/settler.h"

namespace firstcome {
namespace {

constexpr int kExitUsage = 2;

// Loads the layered configuration (file, environment, flags) and applies its
// log level and format, the first thing every subcommand needs.
Result<Config> LoadConfigAndSetLogLevel(const std::map<std::string, std::string>& flags) {
  auto config = LoadConfig(flags);
  if (!config.ok()) return config.status();
  spdlog::set_level(spdlog::level::from_str(config->log_level));
  if (Status s = UseLogFormat(config->log_format); !s.ok()) return s;
  return config;
}

int Fail(const Status& s, int code = 1) {
  std::fprintf(stderr, "firstcome: %s\n", s.ToString().c_str());
  return code;
}

ConsumerOptions ConsumerOptionsOf(const Config& c) {
  return {.group = c.consumer_group,
          .batch_size = static_cast<std::size_t>(c.consumer_batch_size),
          .max_rows_per_second = c.consumer_max_rows_per_second,
          .linger = std::chrono::milliseconds(c.consumer_linger_ms)};
}

RetryOptions RetryOptionsOf(const Config& c) {
  return {.interval = std::chrono::milliseconds(c.retry_interval_ms),
          .max_attempts = static_cast<int>(c.retry_max_attempts)};
}

// The request handler's settings: identity, trusted proxies, limits. Fails
// (exit 2) on a key that cannot be read or a CIDR list that does not parse.
Result<http::ApiOptions> ApiOptionsOf(const Config& c, const MetricsSource* metrics) {
  http::ApiOptions o{.admin_token = c.admin_token,
                     .role = c.role,
                     .user_header = c.user_header,
                     .rate_limit_ip = c.rate_limit_ip,
                     .rate_limit_user = c.rate_limit_user,
                     .rate_limit_keys = static_cast<std::size_t>(c.rate_limit_keys),
                     .metrics = metrics};
  o.user_auth = c.user_auth == "jwt"      ? http::UserAuth::kJwt
                : c.user_auth == "header" ? http::UserAuth::kHeader
                                          : http::UserAuth::kBody;
  if (!c.trusted_proxies.empty()) {
    auto trusted = edge::ParseCidrList(c.trusted_proxies);
    if (!trusted.ok()) return Status::Invalid("trusted_proxies: " + trusted.status().message());
    o.trusted_proxies = std::move(*trusted);
  }
  if (o.user_auth == http::UserAuth::kJwt) {
    edge::JwtOptions jwt{.secret = c.jwt_secret,
                         .public_key_file = c.jwt_public_key,
                         .leeway = std::chrono::seconds(c.jwt_leeway_s)};
    if (!c.jwt_issuer.empty()) jwt.issuer = c.jwt_issuer;
    if (!c.jwt_audience.empty()) jwt.audience = c.jwt_audience;
    // The algorithm is the configuration's, never the token's: HS256 with a
    // secret; with a public key, the key's own type (RSA: RS256, P-256: ES256).
    std::vector<edge::JwtAlgorithm> candidates = {edge::JwtAlgorithm::kHs256};
    if (c.jwt_secret.empty()) candidates = {edge::JwtAlgorithm::kRs256, edge::JwtAlgorithm::kEs256};
    Status last;
    for (edge::JwtAlgorithm alg : candidates) {
      jwt.algorithm = alg;
      auto verifier = edge::JwtVerifier::Create(jwt);
      if (verifier.ok()) {
        o.jwt = std::make_shared<const edge::JwtVerifier>(std::move(*verifier));
        break;
      }
      last = verifier.status();
    }
    if (!o.jwt) return Status::Invalid("jwt: " + last.message());
  }
  return o;
}

// A burst is many thousand connections; the usual soft limit (1024) is not.
void RaiseOpenFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

int Serve(const Config& config) {
  // Signals are taken by sigwait below; every thread started from here on
  // inherits the blocked mask, so none of them is interrupted.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  RaiseOpenFileLimit();

  const bool issues = config.role != "consumer";
  const bool consumes = config.role != "api";
  // A consumer-only process still opens a shared gate, for the live figures.
  auto backends = OpenBackends(config, {.log = true, .gate = issues || config.gate == "redis"});
  if (!backends.ok()) return Fail(backends.status());
  Backends& b = *backends;

  std::optional<Consumer> consumer;
  std::optional<RetryJob> retry;
  if (consumes) {
    consumer.emplace(*b.log, *b.store, ConsumerOptionsOf(config));
    retry.emplace(*b.store, RetryOptionsOf(config));
  }
  // With a shared gate, other API processes must stop admitting into an event
  // before a deletion forgets it in the gate; the in-process gate has no
  // other process to wait for.
  const auto propagation =
      config.gate == "redis" ? b.catalog->propagation_bound() : std::chrono::milliseconds(0);
  Issuer issuer({.catalog = b.catalog.get(),
                 .store = b.store.get(),
                 .gate = b.gate.get(),
                 .log = issues ? b.log.get() : nullptr},
                {}, {.max_in_flight = config.max_in_flight},
                {.propagation_wait = propagation,
                 .log_timeout = std::chrono::milliseconds(2 * config.timeout_ms),
                 .retry = RetryOptionsOf(config)});
  b.catalog->Start();
  // Every process sharing a gate settles what a killed API process left
  // pending (settler.h); the in-process gate dies with its process and is
  // rebuilt from the log, so it has nothing to settle.
  std::optional<Settler> settler;
  if (config.gate == "redis" && b.gate != nullptr) {
    settler.emplace(
        *b.catalog, *b.gate, *b.log,
        SettlerOptions{.settle_after = std::chrono::milliseconds(config.settle_after_ms),
                       .append_timeout = std::chrono::milliseconds(
                           std::max<std::int64_t>(10000, 2 * config.timeout_ms))});
    settler->Start();
  }
  EventMetrics event_metrics(*b.catalog, issuer,
                             static_cast<std::size_t>(config.metrics_max_events));
  MetricsSources metrics;
  metrics.Add(&issuer);
  metrics.Add(&event_metrics);
  if (settler) metrics.Add(&*settler);
  if (consumer) metrics.Add(&*consumer);
  if (retry) metrics.Add(&*retry);
  auto api = ApiOptionsOf(config, &metrics);
  if (!api.ok()) return Fail(api.status(), kExitUsage);
  HttpServer server({.bind_address = config.bind,
                     .port = static_cast<std::uint16_t>(config.port),
                     .threads = static_cast<int>(config.http_threads),
                     .body_limit = static_cast<std::size_t>(config.max_body_bytes),
                     .max_connections = static_cast<int>(config.max_connections),
                     .api = std::move(*api)},
                    issuer);
  if (consumer) {
    if (Status s = consumer->Start(); !s.ok()) return Fail(s);
    retry->Start();
  }
  if (Status s = server.Start(); !s.ok()) return Fail(s);
  spdlog::info("firstcome serving on {}:{} (role {}, gate {}, log {}, store {})", config.bind,
               server.port(), config.role, config.gate, config.log, config.store);

  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("signal {}: stopping (finishing in-flight requests, flushing the log)", sig);
  server.Stop(std::chrono::seconds(10));
  issuer.Stop(std::chrono::seconds(10));
  if (settler) settler->Stop();
  if (Status s = b.log->Flush(std::chrono::seconds(10)); !s.ok()) {
    spdlog::error("log flush: {}", s.ToString());
  }
  if (consumer) {
    consumer->Stop();
    retry->Stop();
  }
  b.catalog->Stop();
  // Appends a timed-out flush left behind are answered (failed) by the log's
  // destructor, through callbacks into the issuer and the settler: the log
  // goes now, while they exist (after the consumer, whose reader it serves).
  consumer.reset();
  b.log.reset();
  spdlog::info("stopped");
  return 0;
}

int Audit(const Config& config, const std::string& event_id, bool repair) {
  const bool shared_gate = config.gate == "redis";
  auto backends = OpenBackends(config, {.log = true, .gate = shared_gate});
  if (!backends.ok()) return Fail(backends.status(), kExitUsage);
  Backends& b = *backends;
  auto event = b.catalog->Find(event_id);
  if (!event.ok()) return Fail(event.status(), kExitUsage);
  if (!*event) return Fail(Status::NotFound("no event with id " + event_id), kExitUsage);
  AuditOptions options{.repair = repair, .gate_is_shared = shared_gate};
  auto report = AuditEvent(**event, b.gate.get(), *b.log, *b.store, options);
  if (!report.ok()) return Fail(report.status(), kExitUsage);
  std::cout << report->ToText(**event);
  if (repair && !report->clean()) {
    options.repair = false;
    report = AuditEvent(**event, b.gate.get(), *b.log, *b.store, options);
    if (!report.ok()) return Fail(report.status(), kExitUsage);
    std::cout << "\nafter repair:\n" << report->ToText(**event);
  }
  return report->clean() ? 0 : 1;
}

int RetryFailed(const Config& config, bool include_dead) {
  auto backends = OpenBackends(config, {.log = false, .gate = false});
  if (!backends.ok()) return Fail(backends.status());
  RetryJob job(*backends->store, RetryOptionsOf(config));
  RetryRound total;
  if (include_dead) {
    auto revived = job.ReviveDead();
    if (!revived.ok()) return Fail(revived.status());
    total = *revived;
  }
  // On demand, everything pending is due now; each pass takes a batch. What
  // still fails is rescheduled from the clock, for the serving retry job.
  for (;;) {
    auto round = job.RunOnce(std::numeric_limits<UnixMillis>::max(), NowMillis());
    if (!round.ok()) return Fail(round.status());
    total.resolved += round->resolved;
    total.rescheduled += round->rescheduled;
    total.dead += round->dead;
    if (round->resolved == 0) break;
  }
  std::printf("retry-failed: %lld persisted, %lld still failing, %lld marked dead\n",
              static_cast<long long>(total.resolved), static_cast<long long>(total.rescheduled),
              static_cast<long long>(total.dead));
  return total.rescheduled + total.dead == 0 ? 0 : 1;
}

int Main(int argc, char** argv) {
  CLI::App app{"Firstcome: first-come, first-served issuance (coupons, tickets, drops)",
               "firstcome"};
  app.require_subcommand(1);
  std::map<std::string, std::string> flags;
  int rc = 0;

  CLI::App* serve = app.add_subcommand("serve", "run the HTTP API, the consumer and the retry job");
  AddConfigFlags(*serve, flags);
  serve->callback([&] {
    auto config = LoadConfigAndSetLogLevel(flags);
    rc = config.ok() ? Serve(*config) : Fail(config.status(), kExitUsage);
  });

  std::string event_id;
  bool repair = false;
  CLI::App* audit = app.add_subcommand(
      "audit", "compare gate, log and store for one event; exit 0 when they agree, 1 when not");
  audit->add_option("--event", event_id, "event id")->required();
  audit->add_flag("--repair", repair,
                  "persist what is missing, re-log gate-only admissions, rebuild a gate that lost "
                  "state");
  AddConfigFlags(*audit, flags);
  audit->callback([&] {
    auto config = LoadConfigAndSetLogLevel(flags);
    rc = config.ok() ? Audit(*config, event_id, repair) : Fail(config.status(), kExitUsage);
  });

  bool include_dead = false;
  CLI::App* retry = app.add_subcommand(
      "retry-failed", "retry every pending failed event now; exit 1 if some still fail");
  retry->add_flag("--include-dead", include_dead,
                  "also retry events marked dead (after the cause was fixed)");
  AddConfigFlags(*retry, flags);
  retry->callback([&] {
    auto config = LoadConfigAndSetLogLevel(flags);
    rc = config.ok() ? RetryFailed(*config, include_dead) : Fail(config.status(), kExitUsage);
  });

  AddBenchCommand(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::Error& e) {  // parse errors, and RuntimeError(exit code) from bench
    return app.exit(e);
  }
  return rc;
}

}  // namespace
}  // namespace firstcome

int main(int argc, char** argv) {
  try {
    return firstcome::Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "firstcome: fatal: %s\n", e.what());
    return 1;
  }
}
