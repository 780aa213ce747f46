// RunLoad: connections, pacing, the latency histogram and the merge of results.
//
// Invariants:
// - Each Worker owns one io_context run by exactly one thread; a Connection
//   lives on one Worker, so its members and the Worker's statistics need no
//   lock. Only the request claim counter, the answer counter, the stop flag and
//   the first-410 time are shared (atomics).
// - A Connection runs one chain of asynchronous steps at a time
//   (connect → write → read → [pause/pace] → write ...); every handler first
//   looks at the stop flag, so cancelling its socket and timer ends the chain.
// - Every connect, write and read has a deadline (beast::tcp_stream timeouts).
#include "loadgen/load_generator.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <charconv>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "core/thread_name.h"

namespace firstcome {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

// A log-linear latency histogram in nanoseconds, in the manner of HdrHistogram:
// values below 1024 ns are counted exactly, each doubling above is split into
// 512 equal buckets, so every recorded value is known within 0.2% — in a fixed
// ~135 KiB whatever the number of samples or their spread. Hand-written
// because HdrHistogram_c is not packaged for Debian, and a sorted vector of
// samples would grow with the run (millions of requests) and cost a sort.
class LatencyHistogram {
 public:
  static constexpr int kSubBits = 10;
  static constexpr std::uint64_t kLinear = 1u << kSubBits;      // exact below this
  static constexpr std::uint64_t kHalf = 1u << (kSubBits - 1);  // buckets per doubling
  static constexpr int kMaxExponent = 42;                       // 2^43 ns ≈ 2.4 h: clamp
  static constexpr std::size_t kBuckets = kLinear + (kMaxExponent - kSubBits + 1) * kHalf;

  LatencyHistogram() : counts_(kBuckets, 0) {}

  void Record(std::int64_t ns) {
    const std::uint64_t v = ns < 0 ? 0 : static_cast<std::uint64_t>(ns);
    ++counts_[Index(v)];
    ++count_;
    sum_ += static_cast<double>(v);
    max_ = std::max(max_, v);
  }

  void Merge(const LatencyHistogram& other) {
    for (std::size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
    count_ += other.count_;
    sum_ += other.sum_;
    max_ = std::max(max_, other.max_);
  }

  // The value below which a fraction `q` of the samples lie (bucket midpoint,
  // never above the exact maximum).
  double ValueAt(double q) const {
    if (count_ == 0) return 0;
    const auto rank = std::max<std::uint64_t>(
        1, static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_))));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::min<double>(Midpoint(i), static_cast<double>(max_));
    }
    return static_cast<double>(max_);
  }

  std::uint64_t count() const { return count_; }
  double max() const { return static_cast<double>(max_); }
  double mean() const { return count_ == 0 ? 0 : sum_ / static_cast<double>(count_); }

 private:
  static std::size_t Index(std::uint64_t v) {
    if (v < kLinear) return static_cast<std::size_t>(v);
    int e = std::bit_width(v) - 1;  // position of the leading bit, >= kSubBits
    if (e > kMaxExponent) {
      e = kMaxExponent;
      v = (std::uint64_t{1} << (kMaxExponent + 1)) - 1;
    }
    const std::uint64_t mantissa = (v >> (e - (kSubBits - 1))) - kHalf;  // 0..kHalf-1
    return static_cast<std::size_t>(kLinear + static_cast<std::uint64_t>(e - kSubBits) * kHalf +
                                    mantissa);
  }

  static double Midpoint(std::size_t index) {
    if (index < kLinear) return static_cast<double>(index);
    const std::uint64_t k = index - kLinear;
    const int shift = static_cast<int>(k / kHalf) + 1;  // e - (kSubBits - 1)
    const std::uint64_t low = ((k % kHalf) + kHalf) << shift;
    return static_cast<double>(low) + static_cast<double>(std::uint64_t{1} << shift) / 2.0;
  }

  std::vector<std::uint64_t> counts_;
  std::uint64_t count_ = 0;
  double sum_ = 0;
  std::uint64_t max_ = 0;
};

struct Target : BaseUrl {
  tcp::resolver::results_type endpoints;
};

// What all workers share. Everything else is per worker.
struct Shared {
  const LoadOptions& options;
  std::vector<Target> targets;
  Clock::time_point start;
  Clock::time_point deadline;
  std::atomic<std::int64_t> claimed{0};
  std::atomic<std::int64_t> answered{0};
  std::atomic<std::int64_t> errors{0};
  std::atomic<std::int64_t> first_410_ns{-1};
  std::atomic<std::size_t> recorded{0};
  std::atomic<bool> stop{false};
};

class Worker;

// One keep-alive connection running the closed loop.
class Connection {
 public:
  Connection(Worker& worker, Shared& shared, const Target& target, std::uint64_t seed);
  void Start() { Next(); }
  // At the deadline: end whatever step is in flight.
  void Abort() {
    beast::error_code ignored;
    stream_.socket().cancel(ignored);
    stream_.socket().close(ignored);
    timer_.cancel();
  }

 private:
  void Next();
  void Connect();
  void Send();
  void OnRead(beast::error_code ec);
  void Fail(beast::error_code ec);
  void Finish();
  void Claim(std::int64_t n);
  std::uint64_t Random() {  // xorshift64*: cheap, good enough to pick users
    rng_ ^= rng_ >> 12;
    rng_ ^= rng_ << 25;
    rng_ ^= rng_ >> 27;
    return rng_ * 2685821657736338717ull;
  }

  Worker& worker_;
  Shared& shared_;
  const LoadOptions& options_;
  const Target& target_;
  beast::tcp_stream stream_;
  net::steady_timer timer_;
  beast::flat_buffer buffer_;
  std::optional<http::response_parser<http::string_body>> parser_;
  std::string head_;     // the request up to "Content-Length: " (or all of a GET)
  std::string request_;  // the pending request, whole
  std::string user_;
  bool pending_ = false;  // a claimed request not yet answered
  bool connected_ = false;
  bool done_ = false;
  std::uint64_t rng_;
  Clock::duration pace_{0};
  Clock::time_point next_at_{};  // paced: when the next request is due
  Clock::time_point sent_at_{};  // latency is measured from here
};

class Worker {
 public:
  explicit Worker(Shared& shared) : shared_(shared), deadline_(io_) {}

  void Add(const Target& target, std::uint64_t seed) {
    connections_.push_back(std::make_unique<Connection>(*this, shared_, target, seed));
  }

  void Run() {
    active_ = static_cast<int>(connections_.size());
    if (active_ == 0) return;
    deadline_.expires_at(shared_.deadline);
    deadline_.async_wait([this](beast::error_code ec) {
      if (ec) return;  // every connection finished first
      shared_.stop = true;
      for (auto& c : connections_) c->Abort();
    });
    for (auto& c : connections_) c->Start();
    try {
      io_.run();
    } catch (const std::exception& e) {
      error_ = e.what();
    }
    end_ = Clock::now();
  }

  void Finished() {
    if (--active_ == 0) deadline_.cancel();
  }

  net::io_context& io() { return io_; }
  LatencyHistogram histogram;
  std::vector<std::int64_t> by_status = std::vector<std::int64_t>(600, 0);
  std::vector<Answer> answers;
  std::int64_t transport_errors = 0;
  std::map<std::string, std::int64_t> errors_by_kind;
  std::int64_t connects = 0;
  std::int64_t unanswered = 0;
  std::int64_t not_recorded = 0;
  std::string error_;
  Clock::time_point end_{};

 private:
  Shared& shared_;
  net::io_context io_{1};  // why 1: one thread runs it, so Asio may skip locking
  net::steady_timer deadline_;
  std::vector<std::unique_ptr<Connection>> connections_;
  int active_ = 0;
};

Connection::Connection(Worker& worker, Shared& shared, const Target& target, std::uint64_t seed)
    : worker_(worker),
      shared_(shared),
      options_(shared.options),
      target_(target),
      stream_(worker.io()),
      timer_(worker.io()),
      rng_(seed | 1) {
  const std::string auth =
      options_.admin_token.empty() ? "" : "Authorization: Bearer " + options_.admin_token + "\r\n";
  if (!options_.path.empty()) {
    head_ = "GET " + target.prefix + options_.path + " HTTP/1.1\r\nHost: " + target.host + "\r\n" +
            auth + "\r\n";
  } else {
    head_ = "POST " + target.prefix + "/api/v1/events/" + options_.event_id +
            "/issue HTTP/1.1\r\nHost: " + target.host + "\r\nContent-Type: application/json\r\n" +
            auth + "Content-Length: ";
  }
  if (options_.rate > 0) {
    pace_ = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(static_cast<double>(options_.connections) / options_.rate));
    // Spread the first sends over one interval so connections do not march in step.
    next_at_ = shared.start + std::chrono::duration_cast<Clock::duration>(
                                  pace_ * (static_cast<double>(Random() % 1000) / 1000.0));
  }
}

void Connection::Claim(std::int64_t n) {
  if (!options_.path.empty()) {
    request_ = head_;
    return;
  }
  char digits[24];
  auto number = [&](std::uint64_t v) {
    auto r = std::to_chars(digits, digits + sizeof digits, v);
    return std::string_view(digits, static_cast<std::size_t>(r.ptr - digits));
  };
  user_ = options_.user_prefix;
  switch (options_.distribution) {
    case UserDistribution::kUnique:
      user_ += number(static_cast<std::uint64_t>(n));
      break;
    case UserDistribution::kRepeated:
      user_ +=
          number(Random() % static_cast<std::uint64_t>(std::max<std::int64_t>(1, options_.users)));
      break;
    case UserDistribution::kHot:
      if (Random() % 10 < 9) {
        user_ += "hot-";
        user_ += number(Random() % 10);
      } else {
        user_ += number(static_cast<std::uint64_t>(n));
      }
      break;
  }
  const std::size_t body_size = user_.size() + 14;  // {"user_id":"…"}
  request_ = head_;
  request_ += number(body_size);
  request_ += "\r\n\r\n{\"user_id\":\"";
  request_ += user_;
  request_ += "\"}";
}

void Connection::Next() {
  if (shared_.stop.load(std::memory_order_relaxed)) return Finish();
  if (!pending_) {
    const std::int64_t n = shared_.claimed.fetch_add(1, std::memory_order_relaxed);
    if (options_.requests > 0 && n >= options_.requests) return Finish();
    Claim(n);
    pending_ = true;
    if (pace_.count() > 0) next_at_ += pace_;
  }
  if (!connected_) return Connect();
  if (pace_.count() > 0 && next_at_ > Clock::now()) {
    timer_.expires_at(next_at_);
    timer_.async_wait([this](beast::error_code ec) {
      if (shared_.stop.load(std::memory_order_relaxed)) return Finish();
      Send();
    });
    return;
  }
  Send();
}

void Connection::Connect() {
  stream_.expires_after(options_.connect_timeout);
  stream_.async_connect(target_.endpoints, [this](beast::error_code ec, const tcp::endpoint&) {
    if (shared_.stop.load(std::memory_order_relaxed)) return Finish();
    if (ec) return Fail(ec);
    beast::error_code ignored;
    stream_.socket().set_option(tcp::no_delay(true), ignored);
    connected_ = true;
    ++worker_.connects;
    Next();
  });
}

void Connection::Send() {
  // Paced runs measure from when the request was due, not when it went out:
  // a slow answer delays the next send, and that wait is latency too
  // (no "coordinated omission").
  sent_at_ = pace_.count() > 0 ? std::min(next_at_, Clock::now()) : Clock::now();
  stream_.expires_after(options_.request_timeout);
  net::async_write(stream_, net::buffer(request_), [this](beast::error_code ec, std::size_t) {
    if (shared_.stop.load(std::memory_order_relaxed)) return Finish();
    if (ec) return Fail(ec);
    parser_.emplace();
    parser_->body_limit(1 << 20);
    http::async_read(stream_, buffer_, *parser_,
                     [this](beast::error_code ec, std::size_t) { OnRead(ec); });
  });
}

void Connection::OnRead(beast::error_code ec) {
  if (shared_.stop.load(std::memory_order_relaxed)) return Finish();
  if (ec) return Fail(ec);
  const auto now = Clock::now();
  const auto& response = parser_->get();
  const int status = static_cast<int>(response.result_int());
  worker_.histogram.Record(
      std::chrono::duration_cast<std::chrono::nanoseconds>(now - sent_at_).count());
  ++worker_.by_status[static_cast<std::size_t>(std::clamp(status, 0, 599))];
  if (status == 410) {
    std::int64_t expected = -1;
    const std::int64_t at =
        std::chrono::duration_cast<std::chrono::nanoseconds>(now - shared_.start).count();
    // Keep the earliest: another thread may have seen one a moment before.
    while (expected == -1 || at < expected) {
      if (shared_.first_410_ns.compare_exchange_weak(expected, at)) break;
      if (expected != -1 && expected <= at) break;
    }
  }
  if (options_.record_answers) {
    if (shared_.recorded.fetch_add(1, std::memory_order_relaxed) < options_.max_recorded_answers) {
      Answer answer{.user_id = user_, .http_status = status};
      // Parsed only here, so a run without oracle pays nothing for JSON.
      if (status == 201) {
        boost::system::error_code jec;
        auto doc = boost::json::parse(response.body(), jec);
        if (!jec && doc.is_object()) {
          const auto& obj = doc.as_object();
          if (auto* seq = obj.if_contains("seq"); seq && seq->is_int64()) {
            answer.seq = seq->as_int64();
          }
          if (auto* id = obj.if_contains("coupon_id"); id && id->is_string()) {
            answer.coupon_id = std::string(id->as_string());
          }
        }
      }
      worker_.answers.push_back(std::move(answer));
    } else {
      ++worker_.not_recorded;
    }
  }
  pending_ = false;
  shared_.answered.fetch_add(1, std::memory_order_relaxed);
  if (!parser_->keep_alive()) {  // the server said Connection: close
    beast::error_code ignored;
    stream_.socket().close(ignored);
    connected_ = false;
    buffer_.clear();
  }
  Next();
}

void Connection::Fail(beast::error_code ec) {
  ++worker_.transport_errors;
  ++worker_.errors_by_kind[ec.message()];
  shared_.errors.fetch_add(1, std::memory_order_relaxed);
  beast::error_code ignored;
  stream_.socket().close(ignored);
  connected_ = false;
  buffer_.clear();
  // A short pause: a server that refuses connections must not be hammered in
  // a tight loop. The pending request stays and is sent again.
  timer_.expires_after(options_.retry_pause);
  timer_.async_wait([this](beast::error_code) {
    if (shared_.stop.load(std::memory_order_relaxed)) return Finish();
    Next();
  });
}

void Connection::Finish() {
  if (done_) return;
  done_ = true;
  if (pending_ && options_.path.empty()) {
    // Sent (or about to be) and never answered: the server may have acted on it.
    ++worker_.unanswered;
    if (options_.record_answers &&
        shared_.recorded.fetch_add(1, std::memory_order_relaxed) < options_.max_recorded_answers) {
      worker_.answers.push_back(Answer{.user_id = user_, .http_status = 0});
    }
  }
  beast::error_code ignored;
  stream_.socket().close(ignored);
  worker_.Finished();
}

}  // namespace

Result<BaseUrl> ParseBaseUrl(const std::string& url) {
  constexpr std::string_view kScheme = "http://";
  std::string_view rest = url;
  if (rest.substr(0, kScheme.size()) != kScheme) {
    return Status::Invalid("target must start with http:// (got '" + url + "')");
  }
  rest.remove_prefix(kScheme.size());
  BaseUrl u;
  const auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) u.prefix = std::string(rest.substr(slash));
  while (!u.prefix.empty() && u.prefix.back() == '/') u.prefix.pop_back();
  const auto colon = authority.rfind(':');
  if (colon == std::string_view::npos) {
    u.host = std::string(authority);
    u.port = "80";
  } else {
    u.host = std::string(authority.substr(0, colon));
    u.port = std::string(authority.substr(colon + 1));
  }
  if (u.host.empty() || u.port.empty()) return Status::Invalid("bad target URL '" + url + "'");
  return u;
}

Result<UserDistribution> ParseUserDistribution(const std::string& name) {
  if (name == "unique") return UserDistribution::kUnique;
  if (name == "repeated") return UserDistribution::kRepeated;
  if (name == "hot") return UserDistribution::kHot;
  return Status::Invalid("distribution must be unique, repeated or hot (got '" + name + "')");
}

Result<LoadReport> RunLoad(const LoadOptions& options) {
  if (options.targets.empty()) return Status::Invalid("no target");
  if (options.connections < 1 || options.connections > 100000) {
    return Status::Invalid("connections must be 1..100000");
  }
  if (options.threads < 1 || options.threads > 64) return Status::Invalid("threads must be 1..64");
  if (options.duration.count() <= 0 && options.requests <= 0) {
    return Status::Invalid("give a duration or a number of requests");
  }
  if (options.distribution == UserDistribution::kRepeated && options.users <= 0) {
    return Status::Invalid("the repeated distribution needs users > 0");
  }
  if (options.rate < 0) return Status::Invalid("rate must be >= 0");

  Shared shared{.options = options};
  {
    net::io_context resolve_io;
    tcp::resolver resolver(resolve_io);
    for (const auto& url : options.targets) {
      auto base = ParseBaseUrl(url);
      if (!base.ok()) return base.status();
      Target target{*base};
      beast::error_code ec;
      target.endpoints = resolver.resolve(target.host, target.port, ec);
      if (ec) return Status::Invalid("cannot resolve " + url + ": " + ec.message());
      shared.targets.push_back(std::move(target));
    }
  }

  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < options.threads; ++i) workers.push_back(std::make_unique<Worker>(shared));
  shared.start = Clock::now();
  auto limit = options.give_up_after;
  if (options.duration.count() > 0) limit = std::min(limit, options.duration);
  shared.deadline = shared.start + limit;
  for (int i = 0; i < options.connections; ++i) {
    workers[static_cast<std::size_t>(i % options.threads)]->Add(
        shared.targets[static_cast<std::size_t>(i) % shared.targets.size()],
        0x9E3779B97F4A7C15ull * static_cast<std::uint64_t>(i + 1));
  }

  std::mutex mu;
  std::condition_variable cv;
  int running = options.threads;
  std::vector<std::thread> threads;
  for (auto& w : workers) {
    threads.emplace_back([&, worker = w.get(), index = threads.size()] {
      NameThisThread("fc-load-" + std::to_string(index));
      worker->Run();
      std::lock_guard lock(mu);
      --running;
      cv.notify_all();
    });
  }
  {
    std::unique_lock lock(mu);
    std::int64_t last = 0;
    auto last_at = shared.start;
    while (!cv.wait_for(lock, std::chrono::seconds(1), [&] { return running == 0; })) {
      if (!options.progress) continue;
      const auto now = Clock::now();
      const std::int64_t answered = shared.answered.load();
      const double elapsed = std::chrono::duration<double>(now - shared.start).count();
      const double window = std::chrono::duration<double>(now - last_at).count();
      const std::int64_t sold_out_ns = shared.first_410_ns.load();
      std::fprintf(stderr, "  %5.1fs  %10lld answers  %9.0f req/s  %lld transport errors%s\n",
                   elapsed, static_cast<long long>(answered),
                   window > 0 ? static_cast<double>(answered - last) / window : 0.0,
                   static_cast<long long>(shared.errors.load()),
                   sold_out_ns >= 0 ? "  sold out" : "");
      last = answered;
      last_at = now;
    }
  }
  for (auto& t : threads) t.join();

  LoadReport report;
  LatencyHistogram histogram;
  std::vector<std::int64_t> by_status(600, 0);
  auto end = shared.start;
  std::map<std::string, std::int64_t> errors_by_kind;
  for (auto& w : workers) {
    for (const auto& [kind, n] : w->errors_by_kind) errors_by_kind[kind] += n;
    if (!w->error_.empty()) return Status::Internal("load worker: " + w->error_);
    histogram.Merge(w->histogram);
    for (std::size_t s = 0; s < by_status.size(); ++s) by_status[s] += w->by_status[s];
    report.transport_errors += w->transport_errors;
    report.connects += w->connects;
    report.unanswered += w->unanswered;
    report.answers_not_recorded += w->not_recorded;
    end = std::max(end, w->end_);
    if (report.answers.empty()) {
      report.answers = std::move(w->answers);
    } else {
      report.answers.insert(report.answers.end(), std::make_move_iterator(w->answers.begin()),
                            std::make_move_iterator(w->answers.end()));
    }
  }
  report.transport_errors_by_kind.assign(errors_by_kind.begin(), errors_by_kind.end());
  report.requests = static_cast<std::int64_t>(histogram.count());
  report.seconds = std::chrono::duration<double>(end - shared.start).count();
  report.requests_per_second =
      report.seconds > 0 ? static_cast<double>(report.requests) / report.seconds : 0;
  report.p50_us = histogram.ValueAt(0.50) / 1000.0;
  report.p90_us = histogram.ValueAt(0.90) / 1000.0;
  report.p99_us = histogram.ValueAt(0.99) / 1000.0;
  report.p999_us = histogram.ValueAt(0.999) / 1000.0;
  report.max_us = histogram.max() / 1000.0;
  report.mean_us = histogram.mean() / 1000.0;
  for (std::size_t s = 0; s < by_status.size(); ++s) {
    if (by_status[s] > 0) report.by_status.emplace_back(static_cast<int>(s), by_status[s]);
  }
  if (const std::int64_t ns = shared.first_410_ns.load(); ns >= 0) {
    report.seconds_until_sold_out = static_cast<double>(ns) / 1e9;
  }
  return report;
}

}  // namespace firstcome
