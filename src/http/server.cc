// HttpServer: the transport of the HTTP API. Sessions, the acceptor, the I/O
// threads, timeouts, linger, graceful stop, the blocking pool and writing the
// answers. What a request means (routes, checks, service calls, answer bodies)
// is the http::ApiHandler's (api_handler.h); a session parses a request into
// an http::ApiRequest, hands it over and runs the step the handler asks for.
//
// Invariants:
// - A Session lives on one I/O thread (its shard's io_context, run by exactly
//   one thread), so its members need no lock. Work done elsewhere (an Issue
//   callback, a blocking call on the pool) writes only reply_ while the session
//   waits for it, then hands control back with a post to the session's thread.
// - One request is handled at a time per connection; pipelined requests wait
//   in the read buffer, so answers go out in request order. request_ and call_
//   stay untouched from Handle until the answer is written.
// - `connections` counts sessions alive (accepted, not yet destroyed);
//   `service_calls` counts calls into the CouponService not yet answered.
//   Stop() waits for both, so no callback outlives the io_contexts.
// - Timeouts: a session keeps its own deadline (a plain time_point, "never"
//   while no read or write of it is pending) and its shard's sweep closes the
//   socket of every session whose deadline passed. Why not beast::tcp_stream:
//   it arms and cancels a timer on every read and write (a timer-queue insert,
//   a cancellation completing through the queue, a clock read) and carries
//   the type-erased any_io_executor, copied and destroyed per operation; the
//   sold-out path paid for both on every request. A deadline is taken from
//   the shard's coarse clock (read once per sweep) plus one sweep interval, so
//   a timeout never fires early and at most two intervals (100 ms) late.
// - Sockets, timers and handlers use the concrete io_context executor type.
// - Everything here but HttpServer is internal to this file (anonymous
//   namespace).
#include "http/server.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/basic_stream_socket.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <charconv>
#include <ctime>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include "core/thread_name.h"
#include "http/api_handler.h"
#include "http/errors.h"
#include "http/reply.h"
#include "http/request_metrics.h"
#include "http/request_parser.h"
#include "http/routes.h"

namespace firstcome {

namespace {

using namespace std::string_view_literals;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using Executor = asio::io_context::executor_type;
using Socket = asio::basic_stream_socket<tcp, Executor>;
using Timer = asio::basic_waitable_timer<Clock, asio::wait_traits<Clock>, Executor>;

// How often a shard looks for sessions past their deadline.
constexpr std::chrono::milliseconds kSweepInterval{50};

// How long a closing connection is drained (read and discarded) after its last
// answer. Why: closing a socket with unread input sends RST, which can destroy
// the answer (a 413 for an 8 MiB upload) before the client reads it.
constexpr std::chrono::milliseconds kLingerTime{2000};
constexpr std::chrono::milliseconds kLingerTimeStopping{200};
constexpr std::size_t kLingerMaxBytes = 64 * 1024 * 1024;

// Appends "Date: <IMF-fixdate>\r\n", formatted at most once a second per thread.
void AppendDateHeader(std::string& out) {
  thread_local std::time_t cached_second = 0;
  thread_local char cached[64];
  thread_local std::size_t cached_size = 0;
  std::time_t now = std::time(nullptr);
  if (now != cached_second) {
    std::tm tm;
    gmtime_r(&now, &tm);
    cached_size = std::strftime(cached, sizeof(cached), "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
    cached_second = now;
  }
  out.append(cached, cached_size);
}

void AppendUnsigned(std::string& out, std::size_t n) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), n);
  out.append(buf, r.ptr);
}

enum class ConnectionHeader { kNone, kClose, kKeepAlive };

// "HTTP/1.1 <status> <reason>\r\nServer: firstcome\r\n".
std::string StatusLine(int status) {
  std::string line = "HTTP/1.1 " + std::to_string(status) + " ";
  line += http::ReasonPhrase(status);
  line += "\r\nServer: firstcome\r\n";
  return line;
}

// The StatusLine of every status from 100 to 599, built once: an answer
// starts with one append instead of five. Null for a status out of range.
const std::string* CachedStatusLine(int status) {
  constexpr int kMin = 100, kMax = 599;
  static const std::vector<std::string> lines = [] {
    std::vector<std::string> all;
    for (int code = kMin; code <= kMax; ++code) all.push_back(StatusLine(code));
    return all;
  }();
  return status >= kMin && status <= kMax ? &lines[status - kMin] : nullptr;
}

// Appends `reply` as an HTTP/1.1 answer. `dated`: with a Date header (not in
// an answer built once and sent for ever).
void AppendAnswer(std::string& out, const http::Reply& reply, ConnectionHeader connection,
                  bool dated) {
  if (const std::string* line = CachedStatusLine(reply.status)) {
    out += *line;
  } else {
    out += StatusLine(reply.status);
  }
  if (dated) AppendDateHeader(out);
  if (reply.content_type == http::kJsonType) {  // the one almost every answer has
    out += "Content-Type: application/json\r\nContent-Length: "sv;
  } else {
    out += "Content-Type: "sv;
    out += reply.content_type;
    out += "\r\nContent-Length: "sv;
  }
  AppendUnsigned(out, reply.body.size());
  switch (connection) {
    case ConnectionHeader::kNone:
      break;
    case ConnectionHeader::kClose:
      out += "\r\nConnection: close"sv;
      break;
    case ConnectionHeader::kKeepAlive:
      out += "\r\nConnection: keep-alive"sv;
      break;
  }
  if (reply.allow != nullptr) {
    out += "\r\nAllow: "sv;
    out += reply.allow;
  }
  if (reply.www_authenticate) out += "\r\nWWW-Authenticate: Bearer"sv;
  if (!reply.request_id.empty()) {
    out += "\r\nX-Request-Id: "sv;
    out += reply.request_id;
  }
  if (reply.headers != nullptr) out += reply.headers;
  if (int retry_after = http::RetryAfterSeconds(reply); retry_after > 0) {
    out += "\r\nRetry-After: "sv;
    AppendUnsigned(out, static_cast<std::size_t>(retry_after));
  }
  out += "\r\n\r\n"sv;
  out += reply.body;
}

bool IsLoopback(const asio::ip::address& a) { return edge::IsLoopback(a); }

class Session;

// One I/O thread's io_context and the sessions living on it. The registry is
// locked because Stop() walks it from another thread; sessions touch it only
// when they start and end.
struct Shard {
  explicit Shard(int i) : index(i) {}
  // Starts the deadline sweep (on any thread, before the io_context runs).
  void StartSweep();
  void Sweep();
  // A deadline `timeout` from now, never early (see the top): on the shard's thread.
  Clock::time_point DeadlineIn(std::chrono::milliseconds timeout) const {
    return coarse_now + kSweepInterval + timeout;
  }

  const int index;
  std::mutex mu;
  std::unordered_set<Session*> sessions;
  // The clock as the last sweep read it; on the shard's thread only.
  Clock::time_point coarse_now = Clock::now();
  std::vector<std::shared_ptr<Session>> late;  // the sweep's, kept for its capacity
  // Declared last: destroyed first, so handlers it still holds (and the
  // sessions they keep alive) go while the registry above is still valid.
  // Why no locking of socket operations: every registration, read, write
  // and close of a session's socket runs on this shard's one thread. The
  // acceptor (shards[0]) accepts on its own io_context and hands another
  // shard the descriptor, which that shard registers itself (HandOver).
  asio::io_context ioc{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  std::optional<Timer> sweep;  // destroyed before ioc
};

class ServerCore {
 public:
  ServerCore(HttpServerOptions o, CouponService& s)
      : options(std::move(o)),
        thread_count(options.threads > 0
                         ? options.threads
                         : std::max(1, static_cast<int>(std::thread::hardware_concurrency()))),
        metrics(thread_count),
        handler(options.api, s, metrics) {}

  Status Start();
  void Stop(std::chrono::milliseconds drain);
  void DoAccept();
  void OnAccept(beast::error_code ec, Socket socket, Shard& shard);
  // Starts a session for `socket` (accepted on shards[0]) on `shard`'s thread.
  void HandOver(Socket socket, Shard& shard, const asio::ip::address& peer);
  // A connection counted in by OnAccept ended (its session, or before one).
  void ConnectionEnded() {
    metrics.ConnectionClosed();
    connections.fetch_sub(1, std::memory_order_acq_rel);
  }
  // Posts `fn(session)` to the thread of every live session.
  template <class Fn>
  void ForEachSession(Fn fn);

  const HttpServerOptions options;
  // The header naming the user, for the parser (user_auth = header only).
  const std::string user_header =
      options.api.user_auth == http::UserAuth::kHeader ? options.api.user_header : std::string();
  const int thread_count;
  http::RequestMetrics metrics;
  const http::ApiHandler handler;  // after metrics, which it reads
  std::atomic<bool> stopping{false};
  std::atomic<int> connections{0};
  std::atomic<int> service_calls{0};
  std::atomic<int> blocking_queued{0};
  std::uint16_t port = 0;
  bool started = false;
  bool stopped = false;

  std::vector<std::unique_ptr<Shard>> shards;
  std::optional<asio::thread_pool> blocking;  // after shards: destroyed before them
  std::optional<tcp::acceptor> acceptor;      // lives on shards[0]
  tcp protocol = tcp::v4();                   // the acceptor's
  std::optional<asio::steady_timer> accept_retry;
  std::size_t next_shard = 0;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  std::vector<std::thread> threads;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(ServerCore& server, Shard& shard, Socket socket, const asio::ip::address& peer)
      : server_(server),
        shard_(shard),
        stream_(std::move(socket)),
        buffer_(server.options.body_limit + 2 * http::kHeaderLimit + 64 * 1024) {
    request_.peer = peer;
    request_.loopback = IsLoopback(peer);
  }

  ~Session() {
    {
      std::lock_guard lock(shard_.mu);
      shard_.sessions.erase(this);
    }
    server_.ConnectionEnded();
  }

  // On the shard's thread.
  void Start() {
    {
      std::lock_guard lock(shard_.mu);
      shard_.sessions.insert(this);
    }
    AwaitRequest();
  }

  // Stop() began: a connection waiting for a request is closed now; one
  // handling a request answers it with "Connection: close".
  void OnStop() {
    stop_requested_ = true;
    if (waiting_for_request_) Close();
  }

  void Close() {
    beast::error_code ec;
    stream_.shutdown(tcp::socket::shutdown_both, ec);
    stream_.close(ec);
  }

  // The sweep (shard's thread): closes the socket once the deadline passed;
  // the pending read or write then fails and ends the session.
  bool IsLate(Clock::time_point now) const { return deadline_ <= now; }
  void CloseIfLate(Clock::time_point now) {
    if (!IsLate(now)) return;
    deadline_ = Clock::time_point::max();
    Close();
  }

 private:
  // Waits for the first byte of the next request: read_timeout for a new
  // connection, idle_timeout between keep-alive requests. Bytes already in
  // the buffer (pipelining) are parsed at once.
  void AwaitRequest() {
    request_.clear();
    parser_.emplace(request_, server_.options.body_limit, server_.user_header);
    if (buffer_.size() > 0) return ParseOrRead();
    if (stop_requested_) {
      Close();
      return;
    }
    waiting_for_request_ = true;
    ExpireIn(first_request_ ? server_.options.read_timeout : server_.options.idle_timeout);
    stream_.async_read_some(buffer_.prepare(4096),
                            [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                              self->waiting_for_request_ = false;
                              if (ec) return self->Close();  // idle timeout, EOF, stop
                              self->buffer_.commit(n);
                              self->ParseOrRead();
                            });
  }

  // Parses the request as far as the buffer holds it, and reads on only when
  // it is not whole yet. Why: a request usually arrives whole in one read,
  // and Beast's read operations, which would find it in the buffer, complete
  // through a post each (two per request). The parser's answers (errors,
  // limits) are the same either way: Beast's reads call the same put().
  void ParseOrRead() {
    beast::error_code ec;
    while (buffer_.size() > 0 && !parser_->is_done()) {
      const std::size_t n = parser_->put(buffer_.data(), ec);
      buffer_.consume(n);
      if (ec == bhttp::error::need_more) {
        ec = {};
        break;
      }
      if (ec) return OnRead(ec);
      if (n == 0) break;
    }
    if (parser_->is_done()) return OnRead(ec);
    if (!parser_->is_header_done()) return ReadRequest();
    ExpireIn(server_.options.read_timeout);
    OnHeader(ec);
  }

  // Header first, so that a client waiting on "Expect: 100-continue" is told
  // to go on (and one announcing too large a body is refused before sending it).
  void ReadRequest() {
    ExpireIn(server_.options.read_timeout);
    bhttp::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    if (ec || parser_->is_done()) return OnRead(ec);
    if (parser_->expect_continue() && buffer_.size() == 0) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                        [self = shared_from_this()](beast::error_code ec, std::size_t) {
                          if (ec) return self->Close();
                          self->ReadBody();
                        });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    bhttp::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    first_request_ = false;
    deadline_ = Clock::time_point::max();  // no timeout while the answer is made
    if (!ec) return Handle();
    started_ = Clock::now();
    if (ec == bhttp::error::body_limit) {
      http::ApiHandler::Refuse(
          request_, http::Refusal::kPayloadTooLarge,
          "the body is larger than " + std::to_string(server_.options.body_limit) + " bytes", call_,
          reply_);
    } else if (ec.category() == beast::error_code(bhttp::error::bad_method).category() &&
               ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message) {
      http::ApiHandler::Refuse(request_, http::Refusal::kMalformed,
                               "malformed HTTP request: " + ec.message(), call_, reply_);
    } else {
      return Close();  // timeout, reset, EOF: nobody to answer
    }
    reply_.close = true;
    Finish();
  }

  void Handle() {
    started_ = Clock::now();
    keep_alive_ = parser_->keep_alive();
    switch (server_.handler.Handle(request_, call_, reply_)) {
      case http::ApiHandler::Next::kReply:
        return Finish();
      case http::ApiHandler::Next::kIssue:
        return StartIssue();
      case http::ApiHandler::Next::kBlocking:
        return StartBlocking();
    }
  }

  // The hot path: ask the service, answer from whichever thread it completes on.
  void StartIssue() {
    // Why a self reference instead of capturing a shared_ptr: the callback
    // then fits std::function's small buffer (no allocation per request).
    pending_self_ = shared_from_this();
    server_.service_calls.fetch_add(1, std::memory_order_acq_rel);
    server_.handler.StartIssue(
        call_, [this](Result<IssueAnswer>&& result) { OnIssued(std::move(result)); });
  }

  // Any thread; the session is waiting and touches nothing until Finish().
  void OnIssued(Result<IssueAnswer>&& result) {
    server_.handler.AnswerIssue(std::move(result), call_, reply_);
    std::shared_ptr<Session> self = std::move(pending_self_);
    ServerCore& server = server_;
    if (shard_.ioc.get_executor().running_in_this_thread()) {
      server.service_calls.fetch_sub(1, std::memory_order_acq_rel);
      Finish();
      return;
    }
    asio::post(shard_.ioc, [self = std::move(self)] { self->Finish(); });
    // Last (and not through `this`, which the post may have ended): once it
    // reaches zero Stop() may tear the io_contexts down.
    server.service_calls.fetch_sub(1, std::memory_order_acq_rel);
  }

  // Runs the handler's blocking call on the pool, then Finish() on this thread.
  void StartBlocking() {
    if (server_.blocking_queued.fetch_add(1, std::memory_order_acq_rel) >=
        server_.options.max_blocking_queue) {
      server_.blocking_queued.fetch_sub(1, std::memory_order_acq_rel);
      http::SetError(reply_, http::Refusal::kUnavailable, "the server is busy; retry shortly");
      return Finish();
    }
    server_.service_calls.fetch_add(1, std::memory_order_acq_rel);
    asio::post(*server_.blocking, [self = shared_from_this()]() mutable {
      ServerCore& server = self->server_;
      server.blocking_queued.fetch_sub(1, std::memory_order_acq_rel);
      server.handler.RunBlocking(self->call_, self->reply_);  // never throws
      Shard& shard = self->shard_;
      asio::post(shard.ioc, [self = std::move(self)] { self->Finish(); });
      server.service_calls.fetch_sub(1, std::memory_order_acq_rel);
    });
  }

  // Writes reply_ (on the session's thread).
  void Finish() {
    const bool close = reply_.close || !keep_alive_ || stop_requested_ ||
                       server_.stopping.load(std::memory_order_relaxed);
    // HTTP/1.1 keeps alive by default; HTTP/1.0 clients asked for keep-alive
    // explicitly, and are told so.
    const ConnectionHeader connection = close                    ? ConnectionHeader::kClose
                                        : request_.version == 10 ? ConnectionHeader::kKeepAlive
                                                                 : ConnectionHeader::kNone;
    server_.handler.Answered(request_, call_, reply_);
    out_.clear();
    AppendAnswer(out_, reply_, connection, /*dated=*/true);
    server_.metrics.Record(
        shard_.index, call_.route, reply_.status,
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - started_).count());
    ExpireIn(server_.options.read_timeout);
    asio::async_write(stream_, asio::buffer(out_),
                      [self = shared_from_this(), close](beast::error_code ec, std::size_t) {
                        if (ec) return self->Close();
                        if (close) return self->Linger();
                        self->AwaitRequest();
                      });
  }

  // Half-closes and discards what the client still sends, until it closes,
  // kLingerTime passes or kLingerMaxBytes arrived; then closes.
  void Linger() {
    beast::error_code ec;
    stream_.shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return Close();
    ExpireIn(server_.stopping.load(std::memory_order_relaxed) ? kLingerTimeStopping : kLingerTime);
    LingerRead();
  }

  void LingerRead() {
    buffer_.clear();
    stream_.async_read_some(buffer_.prepare(16 * 1024),
                            [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                              self->lingered_ += n;
                              if (ec || self->lingered_ > kLingerMaxBytes) return self->Close();
                              self->LingerRead();
                            });
  }

  void ExpireIn(std::chrono::milliseconds timeout) { deadline_ = shard_.DeadlineIn(timeout); }

  ServerCore& server_;
  Shard& shard_;
  Socket stream_;
  // When the pending read or write is cut off (the sweep closes the socket);
  // max while none is pending with a timeout.
  Clock::time_point deadline_ = Clock::time_point::max();
  beast::flat_buffer buffer_;
  http::ApiRequest request_;
  std::optional<http::RequestParser> parser_;
  http::ApiCall call_;
  http::Reply reply_;
  std::string out_;
  std::shared_ptr<Session> pending_self_;  // set while an Issue call is out
  Clock::time_point started_;
  std::size_t lingered_ = 0;
  bool first_request_ = true;
  bool keep_alive_ = false;
  bool waiting_for_request_ = false;
  bool stop_requested_ = false;
};

void Shard::StartSweep() {
  sweep.emplace(ioc.get_executor());
  sweep->expires_after(kSweepInterval);
  sweep->async_wait([this](beast::error_code ec) {
    if (!ec) Sweep();
  });
}

void Shard::Sweep() {
  coarse_now = Clock::now();
  late.clear();
  {
    std::lock_guard lock(mu);
    for (Session* s : sessions) {
      if (!s->IsLate(coarse_now)) continue;
      // Fails for a session whose destructor is waiting for the lock.
      if (auto p = s->weak_from_this().lock()) late.push_back(std::move(p));
    }
  }
  // Outside the lock: dropping the last reference destroys a session, whose
  // destructor takes the lock.
  for (auto& s : late) s->CloseIfLate(coarse_now);
  late.clear();
  sweep->expires_at(coarse_now + kSweepInterval);
  sweep->async_wait([this](beast::error_code ec) {
    if (!ec) Sweep();
  });
}

Status ServerCore::Start() {
  beast::error_code ec;
  asio::ip::address address = asio::ip::make_address(options.bind_address, ec);
  if (ec) return Status::Invalid("bad bind address \"" + options.bind_address + "\"");
  for (int i = 0; i < thread_count; ++i) shards.push_back(std::make_unique<Shard>(i));
  tcp::endpoint endpoint(address, options.port);
  acceptor.emplace(shards[0]->ioc);
  acceptor->open(endpoint.protocol(), ec);
  if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor->bind(endpoint, ec);
  if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    acceptor.reset();
    shards.clear();
    return Status::Unavailable("cannot listen on " + options.bind_address + ":" +
                               std::to_string(options.port) + ": " + ec.message());
  }
  port = acceptor->local_endpoint().port();
  protocol = endpoint.protocol();
  accept_retry.emplace(shards[0]->ioc);
  blocking.emplace(static_cast<std::size_t>(std::max(1, options.blocking_threads)));
  for (auto& shard : shards) {
    shard->StartSweep();
    guards.push_back(asio::make_work_guard(shard->ioc));
    threads.emplace_back([&ioc = shard->ioc, index = shard->index] {
      NameThisThread("fc-http-" + std::to_string(index));
      // Why the loop: an exception escaping a handler must not end the thread
      // (the session that threw is gone; the others carry on).
      while (true) {
        try {
          ioc.run();
          return;
        } catch (const std::exception& e) {
          spdlog::error("http: I/O thread {}: an exception escaped a handler: {}", index, e.what());
        }
      }
    });
  }
  asio::post(shards[0]->ioc, [this] { DoAccept(); });
  started = true;
  return Status::Ok();
}

void ServerCore::DoAccept() {
  Shard& target = *shards[next_shard];
  next_shard = (next_shard + 1) % shards.size();
  // Accepted on the acceptor's own io_context; HandOver gives it to `target`.
  acceptor->async_accept(shards[0]->ioc, [this, &target](beast::error_code ec, Socket socket) {
    OnAccept(ec, std::move(socket), target);
  });
}

void ServerCore::OnAccept(beast::error_code ec, Socket socket, Shard& shard) {
  if (stopping.load() || !acceptor->is_open()) return;
  if (ec) {
    // Out of descriptors and the like: back off briefly instead of spinning.
    accept_retry->expires_after(std::chrono::milliseconds(20));
    accept_retry->async_wait([this](beast::error_code e) {
      if (!e && !stopping.load()) DoAccept();
    });
    return;
  }
  if (connections.fetch_add(1, std::memory_order_acq_rel) >= options.max_connections) {
    connections.fetch_sub(1, std::memory_order_acq_rel);
    metrics.ConnectionRefused();
    // Best effort, never blocking: the answer fits any socket buffer.
    static const std::string kRefusal = [] {
      http::Reply reply;
      http::SetError(reply, http::Refusal::kUnavailable, "too many connections");
      std::string out;
      AppendAnswer(out, reply, ConnectionHeader::kClose, /*dated=*/false);
      return out;
    }();
    ::send(socket.native_handle(), kRefusal.data(), kRefusal.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    socket.close(ec);
    return DoAccept();
  }
  metrics.ConnectionOpened();
  socket.set_option(tcp::no_delay(true), ec);
  tcp::endpoint remote = socket.remote_endpoint(ec);
  // An unknown peer (the call failed) is the unspecified address: neither
  // loopback nor a trusted proxy.
  const asio::ip::address peer = ec ? asio::ip::address() : remote.address();
  HandOver(std::move(socket), shard, peer);
  DoAccept();
}

// An accepted connection's descriptor on its way to another shard: closed,
// and counted off like a session that ends, should it never be adopted (a
// failed assign, or the handler destroyed unrun at shutdown).
class InTransit {
 public:
  InTransit(ServerCore& server, int fd) : server_(server), fd_(fd) {}
  InTransit(InTransit&& other) noexcept
      : server_(other.server_), fd_(std::exchange(other.fd_, -1)) {}
  InTransit& operator=(InTransit&&) = delete;
  ~InTransit() {
    if (fd_ < 0) return;
    ::close(fd_);
    server_.ConnectionEnded();
  }
  int fd() const { return fd_; }
  void Adopted() { fd_ = -1; }

 private:
  ServerCore& server_;
  int fd_;
};

// Why a descriptor and not the socket: the shards' io_contexts run without
// reactor I/O locks (UNSAFE_IO), so a socket must be registered with a
// reactor on that reactor's own thread. Accepting straight into another
// shard's io_context (async_accept(target.ioc)) registered it from the
// acceptor's thread, writing a pooled descriptor state the target's thread
// could still read: a data race ThreadSanitizer caught under race_test. A
// connection for another shard costs two epoll_ctl calls more (registered
// with the acceptor's reactor, then released); its requests nothing more.
void ServerCore::HandOver(Socket socket, Shard& shard, const asio::ip::address& peer) {
  if (&shard == shards[0].get()) {
    auto session = std::make_shared<Session>(*this, shard, std::move(socket), peer);
    asio::post(shard.ioc, [session = std::move(session)] { session->Start(); });
    return;
  }
  beast::error_code ec;
  const int raw = socket.release(ec);
  if (ec) return ConnectionEnded();  // `socket` still owns the descriptor and closes it
  InTransit fd(*this, raw);
  asio::post(shard.ioc, [this, &shard, peer, fd = std::move(fd)]() mutable {
    Socket adopted(shard.ioc);
    beast::error_code e;
    adopted.assign(protocol, fd.fd(), e);
    if (e) return;
    fd.Adopted();
    std::make_shared<Session>(*this, shard, std::move(adopted), peer)->Start();
  });
}

template <class Fn>
void ServerCore::ForEachSession(Fn fn) {
  for (auto& shard : shards) {
    std::vector<std::shared_ptr<Session>> live;
    {
      std::lock_guard lock(shard->mu);
      for (Session* s : shard->sessions) {
        // Fails for a session whose destructor is waiting for the lock.
        if (auto p = s->weak_from_this().lock()) live.push_back(std::move(p));
      }
    }
    for (auto& s : live) asio::post(shard->ioc, [s, fn] { fn(*s); });
  }
}

void ServerCore::Stop(std::chrono::milliseconds drain) {
  if (!started || stopped) return;
  stopped = true;
  stopping.store(true);
  // 1. Stop accepting (on the acceptor's thread; it is not thread-safe).
  std::promise<void> closed;
  asio::post(shards[0]->ioc, [this, &closed] {
    beast::error_code ec;
    acceptor->close(ec);
    accept_retry->cancel();
    closed.set_value();
  });
  closed.get_future().wait();
  // 2. Idle connections close now; busy ones finish their request.
  ForEachSession([](Session& s) { s.OnStop(); });
  auto wait_until = [](auto done, Clock::time_point deadline) {
    while (!done() && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  };
  wait_until([this] { return connections.load() == 0; }, Clock::now() + drain);
  // 3. Whatever is left is cut off.
  ForEachSession([](Session& s) { s.Close(); });
  // 4. Calls into the service must answer before the io_contexts go (their
  // callbacks post to them). The service bounds every external call with a
  // timeout, so this ends; the bound here is a last resort.
  wait_until([this] { return connections.load() == 0 && service_calls.load() == 0; },
             Clock::now() + drain + std::chrono::seconds(30));
  blocking->join();
  guards.clear();
  for (auto& shard : shards) shard->ioc.stop();
  for (auto& t : threads) t.join();
  threads.clear();
}

}  // namespace

// The pimpl of HttpServer is the ServerCore (named apart because sessions,
// which are not members of HttpServer, need to see it).
class HttpServer::Impl : public ServerCore {
 public:
  using ServerCore::ServerCore;
};

HttpServer::HttpServer(HttpServerOptions options, CouponService& service)
    : impl_(std::make_unique<Impl>(std::move(options), service)) {}

HttpServer::~HttpServer() { impl_->Stop(std::chrono::milliseconds(0)); }

Status HttpServer::Start() {
  if (impl_->started) return Status::Invalid("the server was started already");
  return impl_->Start();
}

std::uint16_t HttpServer::port() const { return impl_->port; }

void HttpServer::Stop(std::chrono::milliseconds drain) { impl_->Stop(drain); }

}  // namespace firstcome
