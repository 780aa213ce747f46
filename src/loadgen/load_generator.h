// LoadGenerator: the engine of `firstcome bench`. Asynchronous HTTP/1.1 over many
// keep-alive connections (Boost.Asio/Beast), spread over one or more target
// base URLs; records each answer's status and latency.
//
// Closed loop: each connection sends one request, waits for its answer, then
// sends the next (optionally paced to a total `rate`). The run ends after
// `requests` answers, after `duration`, or after `give_up_after`, whichever
// comes first.
//
// Invariants:
// - A claimed request (a user id drawn for it) is sent until it gets an HTTP
//   answer or the run ends; a transport error re-sends the same request on a
//   new connection after `retry_pause`, so under kUnique no user is lost and
//   none is asked twice except by such a retry.
// - At most `requests` requests are claimed (when `requests` > 0).
// - Memory is bounded: the latency histogram has a fixed size; recorded
//   answers stop at `max_recorded_answers` (the rest are only counted).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/status.h"

namespace firstcome {

enum class UserDistribution {
  kUnique,    // user i is "u-<i>": every request a new user
  kRepeated,  // users drawn uniformly from `users` ids, each asked several times
  kHot,       // 90% of requests from 10 hot users, the rest unique
};

struct LoadOptions {
  std::vector<std::string> targets = {"http://127.0.0.1:8080"};  // base URLs
  std::string event_id = "bench";
  std::string path;  // if set: GET this path instead of issuing
  int connections = 64;
  std::chrono::milliseconds duration{0};  // 0: until `requests` are answered
  std::int64_t requests = 0;              // 0: until `duration` ends
  UserDistribution distribution = UserDistribution::kUnique;
  std::int64_t users = 0;  // kRepeated: number of distinct users
  std::string user_prefix = "u-";
  bool record_answers = false;  // keep every (user, status, seq) for oracles
  bool progress = false;        // print progress to stderr once a second

  // Additive (bench owner): knobs of the engine itself.
  int threads = 1;  // I/O threads (1-2 leave the server its cores)
  double rate = 0;  // total requests/s to pace at; 0: as fast as answered
  std::chrono::milliseconds connect_timeout{3000};
  std::chrono::milliseconds request_timeout{10000};  // write + whole answer
  std::chrono::milliseconds retry_pause{50};         // after a transport error
  // Hard bound on a run, whatever `duration`/`requests` say (a hung server
  // must not hang the benchmark).
  std::chrono::milliseconds give_up_after{600000};
  std::size_t max_recorded_answers = 20'000'000;
  std::string admin_token;  // sent as a bearer token when set
};

struct Answer {
  std::string user_id;
  int http_status = 0;  // 0: transport error
  std::int64_t seq = 0;
  std::string coupon_id;
};

struct LoadReport {
  std::int64_t requests = 0;
  std::int64_t transport_errors = 0;
  double seconds = 0;
  double requests_per_second = 0;
  // Latency quantiles in microseconds.
  double p50_us = 0, p90_us = 0, p99_us = 0, p999_us = 0, max_us = 0;
  std::vector<std::pair<int, std::int64_t>> by_status;  // HTTP status -> count
  double seconds_until_sold_out = -1;                   // first 410 seen; -1: never
  std::vector<Answer> answers;                          // when record_answers

  // Additive (bench owner).
  double mean_us = 0;
  std::int64_t connects = 0;  // successful TCP connects (1 per connection when healthy)
  // Requests sent whose answer never came because the run ended (recorded in
  // `answers` with http_status 0 when record_answers): the server may or may
  // not have acted on them.
  std::int64_t unanswered = 0;
  std::int64_t answers_not_recorded = 0;  // beyond max_recorded_answers
  // Transport errors by their message ("Connection refused", "timeout"...).
  std::vector<std::pair<std::string, std::int64_t>> transport_errors_by_kind;
};

// A base URL "http://host[:port][/prefix]" taken apart (prefix has no trailing '/').
struct BaseUrl {
  std::string host;
  std::string port;
  std::string prefix;
};
Result<BaseUrl> ParseBaseUrl(const std::string& url);

// Parses "unique" | "repeated" | "hot".
Result<UserDistribution> ParseUserDistribution(const std::string& name);

Result<LoadReport> RunLoad(const LoadOptions& options);

}  // namespace firstcome
