// `firstcome bench`: flags → LoadOptions, the event set-up call, the results
// table and JSON, and the oracle that checks the event after the run.
//
// The oracle trusts only what the load generator saw (every answer recorded)
// and what the server reports (GET /api/v1/events/{id}, `firstcome audit`):
// a request that got no answer (the run ended, a transport error at the end)
// may or may not have taken a coupon, so counts are checked as a range then.
#include "loadgen/bench_command.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "loadgen/load_generator.h"

extern char** environ;

namespace firstcome {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

struct BenchFlags {
  std::vector<std::string> targets;
  std::string event_id = "bench";
  std::int64_t create_total = 0;
  int per_user = 1;
  int connections = 64;
  int threads = 1;
  double duration_s = 0;
  std::int64_t requests = 0;
  std::int64_t users = 0;
  std::string distribution = "unique";
  std::string user_prefix = "u-";
  std::string path;
  double rate = 0;
  std::string json_file;
  std::string label;
  bool oracle = false;
  double oracle_timeout_s = 120;
  std::string audit_args;
  std::string admin_token;
  bool quiet = false;
};

struct HttpAnswer {
  int status = 0;
  std::string body;
};

// One blocking HTTP call with a deadline for the whole exchange (a sync Beast
// call would ignore tcp_stream timeouts, hence the private io_context).
Result<HttpAnswer> Call(const std::string& base_url, http::verb verb, const std::string& path,
                        const std::string& body, const std::string& token,
                        std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  auto base = ParseBaseUrl(base_url);
  if (!base.ok()) return base.status();
  net::io_context io;
  tcp::resolver resolver(io);
  beast::error_code ec;
  auto endpoints = resolver.resolve(base->host, base->port, ec);
  if (ec) return Status::Unavailable("resolve " + base_url + ": " + ec.message());
  beast::tcp_stream stream(io);
  http::request<http::string_body> request{verb, base->prefix + path, 11};
  request.set(http::field::host, base->host);
  if (!token.empty()) request.set(http::field::authorization, "Bearer " + token);
  if (!body.empty()) {
    request.set(http::field::content_type, "application/json");
    request.body() = body;
  }
  request.prepare_payload();
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  beast::error_code result;
  stream.expires_after(timeout);
  stream.async_connect(endpoints, [&](beast::error_code e, const tcp::endpoint&) {
    if (e) return void(result = e);
    http::async_write(stream, request, [&](beast::error_code e, std::size_t) {
      if (e) return void(result = e);
      http::async_read(stream, buffer, response,
                       [&](beast::error_code e, std::size_t) { result = e; });
    });
  });
  io.run();
  if (result) return Status::Unavailable(base_url + path + ": " + result.message());
  return HttpAnswer{static_cast<int>(response.result_int()), response.body()};
}

struct EventFigures {
  std::int64_t total = 0, per_user = 1, issued = 0, persisted = 0, failed = 0;
};

Result<EventFigures> GetEvent(const BenchFlags& f) {
  auto answer =
      Call(f.targets.front(), http::verb::get, "/api/v1/events/" + f.event_id, "", f.admin_token);
  if (!answer.ok()) return answer.status();
  if (answer->status != 200) {
    return Status::Unavailable("GET event: HTTP " + std::to_string(answer->status) + " " +
                               answer->body);
  }
  boost::system::error_code ec;
  auto doc = json::parse(answer->body, ec);
  if (ec || !doc.is_object()) return Status::Internal("GET event: not a JSON object");
  EventFigures e;
  auto num = [&](const char* key, std::int64_t& out) {
    if (auto* v = doc.as_object().if_contains(key); v && v->is_int64()) out = v->as_int64();
  };
  num("total", e.total);
  num("per_user", e.per_user);
  num("issued", e.issued);
  num("persisted", e.persisted);
  num("failed", e.failed);
  return e;
}

struct Check {
  std::string name;
  bool pass = false;
  std::string detail;
};

// Runs `firstcome audit --event ID [extra...]` as a child (same binary, same
// environment), waits at most `timeout`; returns its exit code, -1 on timeout.
int RunAudit(const BenchFlags& f, std::chrono::seconds timeout, std::string* detail) {
  std::vector<std::string> args = {"firstcome", "audit", "--event", f.event_id};
  std::istringstream extra(f.audit_args);
  for (std::string word; extra >> word;) args.push_back(word);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = fork();
  if (pid < 0) {
    *detail = "fork failed";
    return -1;
  }
  if (pid == 0) {
    execve("/proc/self/exe", argv.data(), environ);
    _exit(127);
  }
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) {
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      *detail = "audit killed by a signal";
      return -1;
    }
    if (Clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      *detail = "audit did not finish in " + std::to_string(timeout.count()) + " s";
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

struct OracleResult {
  std::vector<Check> checks;
  double persisted_after_s = -1;  // from the end of the load until persisted == issued
  EventFigures event;
  bool pass() const {
    return std::all_of(checks.begin(), checks.end(), [](const Check& c) { return c.pass; });
  }
};

OracleResult RunOracle(const BenchFlags& f, const LoadReport& report, bool created,
                       std::int64_t issued_before) {
  OracleResult out;
  // 1. persisted catches up with issued (bounded wait).
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(f.oracle_timeout_s));
  Result<EventFigures> event = Status::Unavailable("not asked yet");
  for (;;) {
    event = GetEvent(f);
    if (event.ok() && event->persisted == event->issued) {
      out.persisted_after_s = std::chrono::duration<double>(Clock::now() - start).count();
      break;
    }
    if (Clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (!event.ok()) {
    out.checks.push_back({"event readable", false, event.status().ToString()});
    return out;
  }
  out.event = *event;
  const EventFigures& e = *event;
  char buf[256];
  std::snprintf(
      buf, sizeof buf, "issued %lld, persisted %lld, failed %lld%s",
      static_cast<long long>(e.issued), static_cast<long long>(e.persisted),
      static_cast<long long>(e.failed),
      out.persisted_after_s >= 0
          ? (" (caught up " + std::to_string(out.persisted_after_s) + " s after the load)").c_str()
          : (" (not caught up after " + std::to_string(f.oracle_timeout_s) + " s)").c_str());
  out.checks.push_back({"persisted == issued", out.persisted_after_s >= 0, buf});

  // What the answers say.
  std::unordered_map<std::string, int> issued_to;  // user -> 201 answers
  std::unordered_set<std::string> definite;        // users answered 201/409/410
  std::unordered_set<std::string> unknown;         // users with a request never answered
  std::unordered_set<std::int64_t> seqs;
  std::unordered_set<std::string> coupon_ids;
  std::int64_t created_answers = 0, bad_seq = 0, dup_seq = 0, dup_coupon = 0;
  for (const Answer& a : report.answers) {
    if (a.http_status == 201) {
      ++created_answers;
      ++issued_to[a.user_id];
      definite.insert(a.user_id);
      if (a.seq < 1 || a.seq > e.total) ++bad_seq;
      if (!seqs.insert(a.seq).second) ++dup_seq;
      if (a.coupon_id.empty() || !coupon_ids.insert(a.coupon_id).second) ++dup_coupon;
    } else if (a.http_status == 409 || a.http_status == 410) {
      definite.insert(a.user_id);
    } else if (a.http_status == 0) {
      unknown.insert(a.user_id);
    }
  }
  for (const auto& u : definite) unknown.erase(u);
  const auto unknown_n = static_cast<std::int64_t>(unknown.size());

  // 2. issued == min(total, distinct users that asked) — exact when every
  // request was answered, a range otherwise.
  const std::int64_t delta = e.issued - issued_before;
  if (report.answers_not_recorded > 0) {
    out.checks.push_back(
        {"issued count", false, "answers beyond the recording bound; cannot check"});
  } else if (created && e.per_user == 1) {
    const auto asked = static_cast<std::int64_t>(definite.size());
    const std::int64_t lo = std::min(e.total, asked);
    const std::int64_t hi = std::min(e.total, asked + unknown_n);
    const bool ok = e.issued >= lo && e.issued <= hi && delta >= created_answers &&
                    delta <= created_answers + unknown_n;
    std::snprintf(buf, sizeof buf,
                  "issued %lld, expected min(total %lld, distinct users %lld)%s = %lld..%lld; "
                  "201 answers %lld",
                  static_cast<long long>(e.issued), static_cast<long long>(e.total),
                  static_cast<long long>(asked), unknown_n ? " (+ unanswered)" : "",
                  static_cast<long long>(lo), static_cast<long long>(hi),
                  static_cast<long long>(created_answers));
    out.checks.push_back({"issued == min(total, distinct users)", ok, buf});
  } else {
    const bool ok =
        delta >= created_answers && delta <= created_answers + unknown_n && e.issued <= e.total;
    std::snprintf(buf, sizeof buf,
                  "issued grew by %lld, 201 answers %lld, unanswered %lld, total %lld "
                  "(event not created by this run or per_user > 1: the min() form is not "
                  "checked)",
                  static_cast<long long>(delta), static_cast<long long>(created_answers),
                  static_cast<long long>(unknown_n), static_cast<long long>(e.total));
    out.checks.push_back({"issued matches 201 answers", ok, buf});
  }

  // 3. no user over the limit.
  std::int64_t over = 0;
  for (const auto& [user, n] : issued_to) over += n > e.per_user ? 1 : 0;
  out.checks.push_back(
      {"no user over per_user", over == 0,
       std::to_string(over) + " users got more than " + std::to_string(e.per_user) + " coupons"});

  // 4. seqs unique and within 1..total; coupon ids unique.
  std::snprintf(buf, sizeof buf, "%lld out of 1..%lld, %lld repeated seqs, %lld bad coupon ids",
                static_cast<long long>(bad_seq), static_cast<long long>(e.total),
                static_cast<long long>(dup_seq), static_cast<long long>(dup_coupon));
  out.checks.push_back(
      {"seqs unique within 1..total", bad_seq == 0 && dup_seq == 0 && dup_coupon == 0, buf});

  // 5. audit clean.
  std::printf("\naudit (firstcome audit --event %s %s):\n", f.event_id.c_str(),
              f.audit_args.c_str());
  std::string detail;
  const int rc = RunAudit(f, std::chrono::seconds(120), &detail);
  out.checks.push_back(
      {"audit clean", rc == 0, detail.empty() ? "exit code " + std::to_string(rc) : detail});
  return out;
}

void PrintTable(const BenchFlags& f, const LoadOptions& o, const LoadReport& r) {
  std::printf("\nfirstcome bench %s: %d connections on %d thread%s, %zu target%s\n",
              f.label.c_str(), o.connections, o.threads, o.threads == 1 ? "" : "s",
              o.targets.size(), o.targets.size() == 1 ? "" : "s");
  auto row = [](const char* name, const std::string& value) {
    std::printf("  %-22s %s\n", name, value.c_str());
  };
  char v[64];
  auto fmt = [&](const char* format, double x) {
    std::snprintf(v, sizeof v, format, x);
    return std::string(v);
  };
  row("requests", std::to_string(r.requests));
  row("seconds", fmt("%.3f", r.seconds));
  row("requests/s", fmt("%.0f", r.requests_per_second));
  row("latency p50 ms", fmt("%.3f", r.p50_us / 1000));
  row("latency p90 ms", fmt("%.3f", r.p90_us / 1000));
  row("latency p99 ms", fmt("%.3f", r.p99_us / 1000));
  row("latency p99.9 ms", fmt("%.3f", r.p999_us / 1000));
  row("latency max ms", fmt("%.3f", r.max_us / 1000));
  for (const auto& [status, n] : r.by_status) {
    row(("answers " + std::to_string(status)).c_str(), std::to_string(n));
  }
  row("transport errors", std::to_string(r.transport_errors));
  for (const auto& [kind, n] : r.transport_errors_by_kind) {
    row(("  " + kind).c_str(), std::to_string(n));
  }
  if (r.unanswered > 0) row("unanswered at the end", std::to_string(r.unanswered));
  row("time to sold out",
      r.seconds_until_sold_out < 0 ? "never" : fmt("%.3f s", r.seconds_until_sold_out));
}

json::object ReportJson(const BenchFlags& f, const LoadOptions& o, const LoadReport& r) {
  json::object j;
  j["label"] = f.label;
  json::array targets;
  for (const auto& t : o.targets) targets.emplace_back(t);
  j["targets"] = std::move(targets);
  j["mode"] = o.path.empty() ? "issue" : "get";
  j["event_id"] = o.event_id;
  j["path"] = o.path;
  j["distribution"] = f.distribution;
  j["connections"] = o.connections;
  j["threads"] = o.threads;
  j["rate"] = o.rate;
  j["requests"] = r.requests;
  j["seconds"] = r.seconds;
  j["requests_per_second"] = r.requests_per_second;
  j["latency_ms"] = {{"p50", r.p50_us / 1000}, {"p90", r.p90_us / 1000},
                     {"p99", r.p99_us / 1000}, {"p999", r.p999_us / 1000},
                     {"max", r.max_us / 1000}, {"mean", r.mean_us / 1000}};
  json::object by_status;
  for (const auto& [status, n] : r.by_status) by_status[std::to_string(status)] = n;
  j["by_status"] = std::move(by_status);
  j["transport_errors"] = r.transport_errors;
  json::object errors_by_kind;
  for (const auto& [kind, n] : r.transport_errors_by_kind) errors_by_kind[kind] = n;
  j["transport_errors_by_kind"] = std::move(errors_by_kind);
  j["unanswered"] = r.unanswered;
  j["connects"] = r.connects;
  if (r.seconds_until_sold_out >= 0) {
    j["seconds_until_sold_out"] = r.seconds_until_sold_out;
  } else {
    j["seconds_until_sold_out"] = nullptr;
  }
  return j;
}

void RaiseOpenFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

[[noreturn]] void Exit(int code, const std::string& message) {
  if (!message.empty()) std::fprintf(stderr, "firstcome bench: %s\n", message.c_str());
  std::fflush(stdout);
  throw CLI::RuntimeError(code);
}

void RunBench(BenchFlags& f) {
  ::signal(SIGPIPE, SIG_IGN);  // a peer closing mid-write is a transport error, not death
  RaiseOpenFileLimit();
  if (f.targets.empty()) f.targets.push_back("http://127.0.0.1:8080");
  auto distribution = ParseUserDistribution(f.distribution);
  if (!distribution.ok()) Exit(1, distribution.status().message());
  const bool issuing = f.path.empty();
  if (f.oracle && !issuing) Exit(1, "--oracle checks an event; it cannot be used with --path");

  bool created = false;
  if (f.create_total > 0) {
    if (!issuing) Exit(1, "--create-event needs issue mode (no --path)");
    json::object body{{"id", f.event_id}, {"total", f.create_total}, {"per_user", f.per_user}};
    auto answer = Call(f.targets.front(), http::verb::post, "/api/v1/events", json::serialize(body),
                       f.admin_token);
    if (!answer.ok()) Exit(1, "create event: " + answer.status().ToString());
    if (answer->status != 201) {
      Exit(1, "create event: HTTP " + std::to_string(answer->status) + " " + answer->body);
    }
    created = true;
  }
  std::int64_t issued_before = 0;
  if (f.oracle) {
    auto before = GetEvent(f);
    if (!before.ok()) Exit(1, "before the run: " + before.status().ToString());
    issued_before = before->issued;
  }

  LoadOptions o;
  o.targets = f.targets;
  o.event_id = f.event_id;
  o.path = f.path;
  o.connections = f.connections;
  o.threads = f.threads;
  o.duration = std::chrono::milliseconds(static_cast<std::int64_t>(f.duration_s * 1000));
  o.requests = f.requests;
  o.distribution = *distribution;
  o.users = f.users;
  o.user_prefix = f.user_prefix;
  o.rate = f.rate;
  o.record_answers = f.oracle;
  o.progress = !f.quiet;
  o.admin_token = f.admin_token;
  auto report = RunLoad(o);
  if (!report.ok()) Exit(1, report.status().ToString());
  PrintTable(f, o, *report);

  json::object out = ReportJson(f, o, *report);
  int code = 0;
  if (f.oracle) {
    OracleResult oracle = RunOracle(f, *report, created, issued_before);
    std::printf("\noracle:\n");
    json::array checks;
    for (const Check& c : oracle.checks) {
      std::printf("  %s  %-38s %s\n", c.pass ? "PASS" : "FAIL", c.name.c_str(), c.detail.c_str());
      checks.push_back(json::object{{"name", c.name}, {"pass", c.pass}, {"detail", c.detail}});
    }
    out["oracle"] = {{"pass", oracle.pass()}, {"checks", std::move(checks)}};
    out["event"] = {{"total", oracle.event.total},
                    {"issued", oracle.event.issued},
                    {"persisted", oracle.event.persisted},
                    {"failed", oracle.event.failed}};
    if (oracle.persisted_after_s >= 0) {
      out["persisted_after_load_s"] = oracle.persisted_after_s;
    } else {
      out["persisted_after_load_s"] = nullptr;
    }
    if (!oracle.pass()) code = 1;
  }
  if (!f.json_file.empty()) {
    std::ofstream file(f.json_file);
    file << json::serialize(out) << "\n";
    if (!file) Exit(1, "cannot write " + f.json_file);
  }
  std::fflush(stdout);
  if (code != 0) Exit(code, "");
}

}  // namespace

void AddBenchCommand(CLI::App& app) {
  auto f = std::make_shared<BenchFlags>();
  CLI::App* cmd = app.add_subcommand(
      "bench", "load an API with many keep-alive connections; print throughput, latency, answers");
  cmd->add_option("--target", f->targets,
                  "base URL of an API process (repeat for several); default http://127.0.0.1:8080");
  cmd->add_option("--event", f->event_id, "event id")->capture_default_str();
  cmd->add_option("--create-event", f->create_total,
                  "create the event first with this total (POST /api/v1/events)");
  cmd->add_option("--per-user", f->per_user, "per_user of a created event")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--connections", f->connections, "keep-alive connections")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--threads", f->threads, "I/O threads of the load generator")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  cmd->add_option("--duration", f->duration_s, "seconds to run (0: until --requests)")
      ->check(CLI::Range(0.0, 86400.0));
  cmd->add_option("--requests", f->requests, "answers to collect (0: until --duration)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--users", f->users, "distinct users for --distribution repeated");
  cmd->add_option("--distribution", f->distribution, "unique | repeated | hot")
      ->capture_default_str();
  cmd->add_option("--user-prefix", f->user_prefix, "prefix of generated user ids")
      ->capture_default_str();
  cmd->add_option("--path", f->path, "GET this path instead of issuing (e.g. / on nginx)");
  cmd->add_option("--rate", f->rate, "pace to this many requests/s in total (0: flat out)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--json", f->json_file, "write the report as JSON to this file");
  cmd->add_option("--label", f->label, "scenario name shown in the table and the JSON");
  cmd->add_flag("--oracle", f->oracle,
                "after the run check the event: counts, no user twice, seqs, persisted, audit");
  cmd->add_option("--oracle-timeout", f->oracle_timeout_s,
                  "seconds to wait for persisted == issued")
      ->capture_default_str();
  cmd->add_option("--audit-args", f->audit_args,
                  "extra arguments for `firstcome audit` (e.g. \"--data-dir ./data\")");
  cmd->add_option("--admin-token", f->admin_token, "bearer token for the admin calls")
      ->envname("FIRSTCOME_ADMIN_TOKEN");
  cmd->add_flag("--quiet", f->quiet, "no progress line on stderr");
  cmd->callback([f] {
    if (f->duration_s <= 0 && f->requests <= 0) {
      throw CLI::ValidationError("bench", "give --duration or --requests");
    }
    RunBench(*f);
  });
}

}  // namespace firstcome
