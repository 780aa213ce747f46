#include "http/api_handler.h"

#include <spdlog/spdlog.h>

#include <utility>

#include "core/log_context.h"
#include "http/dashboard.h"
#include "http/json_codec.h"
#include "http/openapi.h"
#include "http/request_id.h"

namespace firstcome::http {

namespace {

// Constant-time comparison (why: a plain == leaks how many leading bytes of a
// guessed token were right through its timing).
bool SameSecret(std::string_view given, std::string_view expected) {
  unsigned char diff = given.size() == expected.size() ? 0 : 1;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    unsigned char g = i < given.size() ? static_cast<unsigned char>(given[i]) : 0;
    diff |= static_cast<unsigned char>(g ^ static_cast<unsigned char>(expected[i]));
  }
  return diff == 0;
}

constexpr std::string_view kBearer = "Bearer ";

bool HasEventId(Route route) {
  switch (route) {
    case Route::kNotFound:
    case Route::kHealthz:
    case Route::kMetrics:
    case Route::kEvents:
    case Route::kDashboard:
    case Route::kOpenApi:
      return false;
    case Route::kEvent:
    case Route::kIssue:
    case Route::kUserCoupons:
    case Route::kEventClose:
    case Route::kEventOpen:
    case Route::kCoupon:
    case Route::kFailed:
    case Route::kFailedRetry:
      return true;
  }
  return false;
}

}  // namespace

ApiHandler::ApiHandler(ApiOptions options, CouponService& service, const RequestMetrics& metrics)
    : options_(std::move(options)), service_(service), metrics_(metrics) {
  if (options_.rate_limit_ip > 0) {
    ip_limiter_ = std::make_unique<edge::RateLimiter>(
        edge::RateLimiterOptions{.rate_per_second = options_.rate_limit_ip,
                                 .burst = 2 * options_.rate_limit_ip,
                                 .max_keys = options_.rate_limit_keys});
  }
  if (options_.rate_limit_user > 0) {
    user_limiter_ = std::make_unique<edge::RateLimiter>(edge::RateLimiterOptions{
        .rate_per_second = options_.rate_limit_user, .max_keys = options_.rate_limit_keys});
  }
}

ApiHandler::Next ApiHandler::Handle(const ApiRequest& request, ApiCall& call, Reply& reply) const {
  reply.clear();
  if (request.request_id.empty()) {
    NewRequestId(reply.request_id);
  } else {
    reply.request_id = request.request_id;
  }
  const RouteMatch m = MatchRoute(request.target);
  call.route = m.route;
  call.method = request.method;
  call.admin = IsAdminCall(m.route, request.method);
  call.event_id = m.event_id;
  call.user_id.clear();
  const bool issue = m.route == Route::kIssue;
  // Limits act first: a refused request costs no parsing and touches nothing.
  if (ip_limiter_ &&
      !WithinLimit(*ip_limiter_, ClientOf(request).to_string(), "client address", reply)) {
    return Next::kReply;
  }
  if (m.route == Route::kNotFound) {
    SetError(reply, Refusal::kNotFound, "no such path");
    return Next::kReply;
  }
  if (!Allows(m.route, request.method)) {
    SetError(reply, Refusal::kMethodNotAllowed, std::string("allowed: ") + AllowHeader(m.route));
    reply.allow = AllowHeader(m.route);
    return Next::kReply;
  }
  if (HasEventId(m.route)) {
    if (Status s = CheckId("the event id in the path", m.event_id); !s.ok()) {
      SetError(reply, s, /*with_status=*/issue);
      return Next::kReply;
    }
  }
  switch (m.route) {
    case Route::kIssue: {
      const bool from_body = options_.user_auth == UserAuth::kBody;
      if (Status s = ParseIssueBody(request.body, &call.user_id, from_body); !s.ok()) {
        SetError(reply, s, /*with_status=*/true);
        return Next::kReply;
      }
      if (!from_body) {
        std::string user;
        if (!Authenticate(request, &user, /*issue=*/true, reply)) return Next::kReply;
        if (!call.user_id.empty() && call.user_id != user) {
          SetError(reply, Refusal::kForbidden,
                   "the body's user_id is not the user the credentials name",
                   /*with_status=*/true);
          return Next::kReply;
        }
        call.user_id = std::move(user);
      }
      if (user_limiter_ && !WithinLimit(*user_limiter_, call.user_id, "user", reply)) {
        return Next::kReply;
      }
      return Next::kIssue;
    }
    case Route::kUserCoupons:
      if (Status s = CheckId("the user id in the path", m.user_id); !s.ok()) {
        SetError(reply, s);
        return Next::kReply;
      }
      if (options_.user_auth != UserAuth::kBody) {
        // A user reads only their own coupons; an admin any. A request with
        // user credentials is judged as that user; without them, as an admin
        // call (token, or loopback when no token is configured).
        const bool has_user_credentials =
            options_.user_auth == UserAuth::kJwt
                ? (!request.authorization.empty() && !HasAdminToken(request))
                : !request.user_header.empty();
        if (has_user_credentials) {
          std::string user;
          if (!Authenticate(request, &user, /*issue=*/false, reply)) return Next::kReply;
          if (user != m.user_id) {
            SetError(reply, Refusal::kForbidden, "only your own coupons can be read");
            return Next::kReply;
          }
        } else if (!AdminAllowed(request, reply)) {
          reply.clear();
          SetError(reply, Refusal::kUnauthenticated,
                   options_.user_auth == UserAuth::kJwt
                       ? "reading coupons needs Authorization: Bearer <JWT> of that user"
                       : "reading coupons needs the user header from a trusted proxy");
          reply.www_authenticate = true;
          return Next::kReply;
        }
      }
      call.user_id.assign(m.user_id);
      return Next::kBlocking;
    case Route::kEvents:
      if (request.method == Method::kPost) {
        if (!AdminAllowed(request, reply)) return Next::kReply;
        auto event = ParseCreateEvent(request.body);
        if (!event.ok()) {
          SetError(reply, event.status());
          return Next::kReply;
        }
        call.event = std::move(*event);
      }
      return Next::kBlocking;
    case Route::kEvent:
      if (request.method == Method::kGet) return Next::kBlocking;
      return HandleOperator(request, m, call, reply);
    case Route::kEventClose:
    case Route::kEventOpen:
    case Route::kCoupon:
    case Route::kFailed:
    case Route::kFailedRetry:
      return HandleOperator(request, m, call, reply);
    case Route::kHealthz:
    case Route::kMetrics:
      return Next::kBlocking;
    case Route::kDashboard:
      // The page holds no data; with a token configured it asks for it.
      if (options_.admin_token.empty() && !AdminAllowed(request, reply)) return Next::kReply;
      AnswerDashboard(m.path, !options_.admin_token.empty(), reply);
      return Next::kReply;
    case Route::kOpenApi:
      if (!AdminAllowed(request, reply)) return Next::kReply;
      AnswerOpenApi(reply);
      return Next::kReply;
    case Route::kNotFound:
      break;
  }
  SetError(reply, Refusal::kNotFound, "no such path");
  return Next::kReply;
}

bool ApiHandler::AdminAllowed(const ApiRequest& request, Reply& reply) const {
  const std::string& token = options_.admin_token;
  if (token.empty()) {
    if (ClientIsLoopback(request)) return true;
    SetError(reply, Refusal::kUnauthorized,
             "no admin token is configured: admin calls are accepted from loopback only");
    return false;
  }
  if (HasAdminToken(request)) return true;
  SetError(reply, Refusal::kUnauthorized, "admin calls need Authorization: Bearer <admin token>");
  reply.www_authenticate = true;
  return false;
}

bool ApiHandler::HasAdminToken(const ApiRequest& request) const {
  const std::string& token = options_.admin_token;
  if (token.empty()) return false;
  std::string_view given = request.authorization;
  return given.substr(0, kBearer.size()) == kBearer &&
         SameSecret(given.substr(kBearer.size()), token);
}

boost::asio::ip::address ApiHandler::ClientOf(const ApiRequest& request) const {
  if (options_.trusted_proxies.empty()) return request.peer;
  return edge::ClientAddress(request.peer, request.forwarded_for, options_.trusted_proxies);
}

bool ApiHandler::ClientIsLoopback(const ApiRequest& request) const {
  // Without trusted proxies the client is the peer, whose loopback-ness the
  // transport already knows.
  if (options_.trusted_proxies.empty()) return request.loopback;
  return edge::IsLoopback(ClientOf(request));
}

bool ApiHandler::Authenticate(const ApiRequest& request, std::string* user, bool issue,
                              Reply& reply) const {
  auto refuse = [&](std::string detail) {
    SetError(reply, Refusal::kUnauthenticated, detail, /*with_status=*/issue);
    reply.www_authenticate = true;
    return false;
  };
  if (options_.user_auth == UserAuth::kJwt) {
    std::string_view given = request.authorization;
    if (given.substr(0, kBearer.size()) != kBearer) {
      return refuse("this call needs Authorization: Bearer <JWT>");
    }
    auto verified = options_.jwt->Verify(given.substr(kBearer.size()), NowMillis());
    if (!verified.ok()) return refuse(verified.status().message());
    *user = std::move(verified->subject);
    return true;
  }
  // kHeader: believed only from a trusted proxy (the peer itself, not an
  // address it forwards).
  if (!options_.trusted_proxies.Contains(request.peer)) {
    return refuse("the user header is accepted from trusted proxies only");
  }
  if (request.user_header.empty())
    return refuse("the " + options_.user_header + " header is missing");
  if (!IsValidId(request.user_header)) {
    return refuse("the " + options_.user_header + " header is not a valid user id");
  }
  *user = request.user_header;
  return true;
}

bool ApiHandler::WithinLimit(edge::RateLimiter& limiter, std::string_view key,
                             std::string_view what, Reply& reply) const {
  const edge::RateLimiter::Decision d = limiter.Allow(key, std::chrono::steady_clock::now());
  if (d.allowed) return true;
  // The contract's 429 body always carries "status", on every route.
  SetError(reply, Refusal::kRateLimited,
           "too many requests from this " + std::string(what) + "; retry later",
           /*with_status=*/true);
  reply.retry_after_s = d.retry_after_seconds;
  return false;
}

void ApiHandler::WriteMetrics(MetricsWriter& out) const {
  struct Limit {
    const char* name;
    const edge::RateLimiter* limiter;
  };
  const Limit limits[] = {{"ip", ip_limiter_.get()}, {"user", user_limiter_.get()}};
  out.Family("firstcome_rate_limited_total",
             "Requests answered 429 because a rate limit was exceeded, by limit.",
             MetricType::kCounter);
  for (const Limit& l : limits) {
    out.Sample({{"limit", l.name}},
               l.limiter ? static_cast<double>(l.limiter->counters().limited) : 0);
  }
  out.Family("firstcome_rate_limit_buckets", "Token buckets held now, by limit.",
             MetricType::kGauge);
  for (const Limit& l : limits) {
    out.Sample({{"limit", l.name}}, l.limiter ? static_cast<double>(l.limiter->size()) : 0);
  }
  out.Family("firstcome_rate_limit_evicted_total",
             "Token buckets dropped to keep memory bounded, by limit.", MetricType::kCounter);
  for (const Limit& l : limits) {
    out.Sample({{"limit", l.name}},
               l.limiter ? static_cast<double>(l.limiter->counters().evicted) : 0);
  }
}

void ApiHandler::StartIssue(const ApiCall& call, CouponService::IssueCallback done) const {
  service_.Issue(call.event_id, call.user_id, std::move(done));
}

void ApiHandler::AnswerIssue(Result<IssueAnswer>&& result, const ApiCall& call,
                             Reply& reply) const {
  if (!result.ok()) {
    SetError(reply, result.status(), /*with_status=*/true);
    return;
  }
  IssueAnswer& a = *result;
  if (a.event_id.empty()) a.event_id = call.event_id;
  if (a.user_id.empty()) a.user_id = call.user_id;
  HttpOutcome o = OutcomeOf(a.status);
  reply.status = o.http;
  AppendIssueAnswer(reply.body, o.code, a);
}

void ApiHandler::RunBlocking(const ApiCall& call, Reply& reply) const {
  // Whatever the service logs while it works for this request carries its id.
  ScopedRequestId scope(reply.request_id);
  try {
    CallService(call, reply);
  } catch (const std::exception& e) {
    // Why: a library exception escaping a service call must cost one
    // request, not the thread that ran it.
    spdlog::error("http: {} request failed with an exception: {}", RouteName(call.route), e.what());
    SetError(reply, Refusal::kInternal, e.what());
  }
}

void ApiHandler::CallService(const ApiCall& call, Reply& reply) const {
  switch (call.route) {
    case Route::kHealthz: {
      Status s = service_.Health();
      if (!s.ok()) {
        SetError(reply, Refusal::kUnavailable, s.message(), /*with_status=*/true);
        return;
      }
      reply.body = "{\"status\":\"ok\",\"role\":";
      AppendJsonString(reply.body, options_.role);
      reply.body += '}';
      return;
    }
    case Route::kMetrics:
      reply.content_type = kPrometheusType;
      {
        MetricsWriter writer(reply.body);
        metrics_.WriteMetrics(writer);
        WriteMetrics(writer);
        if (options_.metrics != nullptr) options_.metrics->WriteMetrics(writer);
        return;
      }
    case Route::kEvents: {
      if (call.method == Method::kPost) {
        auto view = service_.CreateEvent(call.event);
        if (!view.ok()) return SetError(reply, view.status());
        reply.status = kHttpCreated;
        AppendEventView(reply.body, *view);
        return;
      }
      auto list = service_.ListEvents();
      if (!list.ok()) return SetError(reply, list.status());
      AppendEventList(reply.body, *list);
      return;
    }
    case Route::kEvent: {
      if (call.method != Method::kGet) return RunOperator(call, reply);
      auto view = service_.GetEvent(call.event_id);
      if (!view.ok()) return SetError(reply, view.status());
      AppendEventView(reply.body, *view);
      return;
    }
    case Route::kUserCoupons: {
      auto coupons = service_.CouponsOfUser(call.event_id, call.user_id);
      if (!coupons.ok()) return SetError(reply, coupons.status());
      AppendUserCoupons(reply.body, call.event_id, call.user_id, *coupons);
      return;
    }
    case Route::kEventClose:
    case Route::kEventOpen:
    case Route::kCoupon:
    case Route::kFailed:
    case Route::kFailedRetry:
      return RunOperator(call, reply);
    case Route::kIssue:
    case Route::kDashboard:
    case Route::kOpenApi:
    case Route::kNotFound:
      break;
  }
  // Handle never asks for this: a bug in the transport.
  SetError(reply, Refusal::kInternal, "not a blocking call");
}

void ApiHandler::Refuse(const ApiRequest& request, Refusal refusal, std::string_view detail,
                        ApiCall& call, Reply& reply) {
  reply.clear();
  if (request.request_id.empty()) {
    NewRequestId(reply.request_id);
  } else {
    reply.request_id = request.request_id;
  }
  call.route = MatchRoute(request.target).route;
  call.method = request.method;
  call.admin = IsAdminCall(call.route, request.method);
  call.event_id = {};
  call.user_id.clear();
  SetError(reply, refusal, detail, /*with_status=*/call.route == Route::kIssue);
}

}  // namespace firstcome::http
