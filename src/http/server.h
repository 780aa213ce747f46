// HttpServer: the Firstcome HTTP API v1 (docs/api.md) on Boost.Beast/Asio.
// Keep-alive (pipelined requests answered in order), a body size limit, read and
// idle timeouts, a bound on open connections, graceful stop. Knows only
// src/core and the CouponService interface. This is the transport; what each
// request means is decided by http::ApiHandler (api_handler.h).
//
// Threads: `threads` I/O threads, each running its own io_context; one
// acceptor hands connections round-robin to them, and a connection lives on
// one thread for its whole life (no locks in a session). The ApiHandler is
// called on that thread; Issue completions are posted back to it; the
// blocking CouponService calls run on a pool of `blocking_threads` (at most
// `max_blocking_queue` waiting) and post their answer back, so no I/O thread
// ever blocks.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "core/metrics.h"
#include "core/status.h"
#include "http/api_handler.h"
#include "pipeline/coupon_service.h"

namespace firstcome {

struct HttpServerOptions {
  std::string bind_address = "0.0.0.0";
  std::uint16_t port = 8080;  // 0: any free port (see HttpServer::port)
  int threads = 0;            // I/O threads; 0: one per core
  int blocking_threads = 4;   // for the blocking CouponService calls
  std::size_t body_limit = 64 * 1024;
  std::chrono::milliseconds read_timeout{10000};  // a request must arrive whole in this
  std::chrono::milliseconds idle_timeout{60000};  // keep-alive connections idle at most this
  // Connections open at once beyond this are answered 503 and closed at once.
  int max_connections = 10000;
  // Blocking CouponService calls waiting for a blocking thread beyond this are
  // answered 503 (why: the queue of a thread pool is otherwise unbounded).
  int max_blocking_queue = 1024;
  // What the request handler needs: admin token, role, identity, trusted
  // proxies, rate limits, the process's own figures for GET /metrics.
  http::ApiOptions api;
};

class HttpServer {
 public:
  HttpServer(HttpServerOptions options, CouponService& service);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds, listens and starts the I/O threads.
  Status Start();
  // The port actually bound (after Start).
  std::uint16_t port() const;
  // Stops accepting, lets in-flight requests finish (at most `drain`), closes
  // the remaining connections and joins the threads.
  void Stop(std::chrono::milliseconds drain);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace firstcome
