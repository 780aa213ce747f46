// ApiHandler: the HTTP API v1 (docs/api.md) as plain functions of a request,
// without sockets: routing, method checks (405 with Allow), the ids in the
// path, the admin check, body parsing, the CouponService calls and the turning
// of their outcomes into a Reply (every status and code through errors.h).
// The operator calls' part is in operator_handler.cc.
//
// The transport (server.cc) owns connections, reading and writing. Per request
// it fills an ApiRequest and calls Handle, which answers at once or says what
// to run next:
//   kReply     the Reply is ready to be written;
//   kIssue     call StartIssue; its completion (any thread) calls AnswerIssue;
//   kBlocking  call RunBlocking on a thread that may block (never an I/O one).
// What the later step needs is kept in an ApiCall the transport owns and
// reuses, so the issue path costs no heap allocation once a connection is warm.
//
// Invariants:
// - Handle and StartIssue never block (they call no blocking CouponService
//   method); RunBlocking and AnswerIssue touch only the ApiCall and Reply they
//   are given, plus the thread-safe service and metrics, so they may run on
//   another thread while the transport waits for them.
// - An ApiHandler is immutable once built and shared by every thread.
// - ApiCall::event_id views ApiRequest::target: the request must stay as it is
//   until the reply is written.
#pragma once

#include <boost/asio/ip/address.hpp>
#include <memory>
#include <string>
#include <string_view>

#include "core/event.h"
#include "core/status.h"
#include "edge/client_address.h"
#include "edge/jwt_verifier.h"
#include "edge/rate_limiter.h"
#include "http/errors.h"
#include "http/reply.h"
#include "http/request_metrics.h"
#include "http/routes.h"
#include "pipeline/coupon_service.h"

namespace firstcome::http {

// One request as the transport parsed it; a plain value (tests build one by
// hand). A connection reuses one: clear() keeps the strings' capacity. New
// inputs of the API (the client address, X-Forwarded-For, X-User-Id,
// X-Request-Id, …) are added here and filled by the transport.
struct ApiRequest {
  Method method = Method::kOther;
  std::string target;         // the request-target, query string included
  int version = 11;           // HTTP/1.x: 10 or 11
  std::string authorization;  // the Authorization header; empty when absent
  std::string body;
  std::string forwarded_for;  // X-Forwarded-For (several headers joined with ", ")
  std::string user_header;    // the header named by ApiOptions::user_header
  std::string request_id;     // X-Request-Id when it is a safe id (request_id.h); else empty
  // The connection's peer (loopback: whether it is a loopback address). Both
  // belong to the connection and survive clear().
  bool loopback = false;
  boost::asio::ip::address peer;

  // Resets what belongs to one request.
  void clear() {
    method = Method::kOther;
    target.clear();
    version = 11;
    authorization.clear();
    body.clear();
    forwarded_for.clear();
    user_header.clear();
    request_id.clear();
  }
};

// What a request still needs after Handle. Owned and reused by the transport;
// Handle (or Refuse) sets route for every request (the metrics label).
struct ApiCall {
  Route route = Route::kNotFound;
  Method method = Method::kOther;
  bool admin = false;         // an admin call (IsAdminCall): its answer is logged
  std::string_view event_id;  // the path's event id (a view into ApiRequest::target)
  std::string user_id;        // kIssue: from the body; kUserCoupons: from the path
  Event event;                // POST /api/v1/events: the parsed body
  std::int64_t seq = 0;       // kCoupon, kFailedRetry: the seq in the path
  EventPatch patch;           // PATCH /api/v1/events/{id}: the parsed body
};

// Who the user of an issue request is (docs/api.md, "Identity").
enum class UserAuth { kBody, kJwt, kHeader };

struct ApiOptions {
  std::string admin_token;   // empty: admin calls are accepted from loopback only
  std::string role = "all";  // shown in /healthz
  UserAuth user_auth = UserAuth::kBody;
  std::shared_ptr<const edge::JwtVerifier> jwt;  // kJwt: required
  std::string user_header = "X-User-Id";         // kHeader
  // Peers whose X-Forwarded-For (and, in kHeader, user header) are believed.
  edge::CidrList trusted_proxies;
  double rate_limit_ip = 0;    // requests/s per client address (burst 2x); 0: off
  double rate_limit_user = 0;  // issue attempts/s per user; 0: off
  std::size_t rate_limit_keys = 100000;
  // The process's own figures for GET /metrics, after the HTTP ones; null:
  // HTTP figures only.
  const MetricsSource* metrics = nullptr;
};

class ApiHandler final : public MetricsSource {
 public:
  enum class Next { kReply, kIssue, kBlocking };

  ApiHandler(ApiOptions options, CouponService& service, const RequestMetrics& metrics);
  ApiHandler(const ApiHandler&) = delete;
  ApiHandler& operator=(const ApiHandler&) = delete;

  // Routes and checks `request`, filling `call` for the next step. On kReply
  // `reply` holds the answer (a refusal, mostly); otherwise it is clear. In
  // every case reply.request_id is the request's id (request_id.h).
  Next Handle(const ApiRequest& request, ApiCall& call, Reply& reply) const;

  // The transport hands over every answer before writing it (any thread
  // after Handle or Refuse). Logs admin calls and 5xx answers with their
  // request id, never a credential. Costs an issue answer two comparisons.
  void Answered(const ApiRequest& request, const ApiCall& call, const Reply& reply) const;

  // kIssue: starts the issue attempt. `done` runs exactly once, possibly
  // inline, possibly on another thread (CouponService::Issue).
  void StartIssue(const ApiCall& call, CouponService::IssueCallback done) const;
  // Turns the result of that attempt into `reply` (any thread).
  void AnswerIssue(Result<IssueAnswer>&& result, const ApiCall& call, Reply& reply) const;

  // kBlocking: makes the blocking CouponService call and fills `reply`.
  // Never throws: an exception from the service is a 500 and a log line.
  void RunBlocking(const ApiCall& call, Reply& reply) const;

  // Rate-limit figures (requests refused, buckets held and evicted).
  void WriteMetrics(MetricsWriter& out) const override;

  // A request the transport refused before it was whole (body too large,
  // malformed HTTP): fills `reply`, shaped by the route its target names (an
  // issue answer carries "status"), sets call.route and the request id (the
  // header's when it was read, else a new one).
  static void Refuse(const ApiRequest& request, Refusal refusal, std::string_view detail,
                     ApiCall& call, Reply& reply);

 private:
  // RunBlocking's work, per route.
  void CallService(const ApiCall& call, Reply& reply) const;
  // Admin calls: with an admin token, "Authorization: Bearer <token>"
  // (compared in constant time); without one, from loopback peers only. On
  // false `reply` holds the 401.
  bool AdminAllowed(const ApiRequest& request, Reply& reply) const;
  // Whether the request carries the admin token (no 401 written).
  bool HasAdminToken(const ApiRequest& request) const;
  // The client address: the peer, or behind a trusted proxy the right-most
  // X-Forwarded-For entry not in trusted_proxies.
  boost::asio::ip::address ClientOf(const ApiRequest& request) const;
  bool ClientIsLoopback(const ApiRequest& request) const;
  // kJwt / kHeader: the verified user of the request into *user; false and a
  // 401 in `reply` when there is none.
  bool Authenticate(const ApiRequest& request, std::string* user, bool issue, Reply& reply) const;
  // Over a limit: false and a 429 in `reply`.
  bool WithinLimit(edge::RateLimiter& limiter, std::string_view key, std::string_view what,
                   Reply& reply) const;

  // Operator calls (operator_handler.cc): Handle's checks for them (admin,
  // body, seq, confirmation), and RunBlocking's service call.
  Next HandleOperator(const ApiRequest& request, const RouteMatch& m, ApiCall& call,
                      Reply& reply) const;
  void RunOperator(const ApiCall& call, Reply& reply) const;

  const ApiOptions options_;
  // Null when the limit is off. Each is thread-safe (sharded, locked).
  std::unique_ptr<edge::RateLimiter> ip_limiter_;
  std::unique_ptr<edge::RateLimiter> user_limiter_;
  CouponService& service_;
  const RequestMetrics& metrics_;
};

}  // namespace firstcome::http
