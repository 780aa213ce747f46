#include "http/api_handler.h"

#include <utility>

#include "http/json_codec.h"

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

bool HasEventId(Route route) {
  return route == Route::kEvent || route == Route::kIssue || route == Route::kUserCoupons;
}

}  // namespace

ApiHandler::ApiHandler(ApiOptions options, CouponService& service, const RequestMetrics& metrics)
    : options_(std::move(options)), service_(service), metrics_(metrics) {}

ApiHandler::Next ApiHandler::Handle(const ApiRequest& request, ApiCall& call, Reply& reply) const {
  reply.clear();
  const RouteMatch m = MatchRoute(request.target);
  call.route = m.route;
  call.method = request.method;
  call.event_id = m.event_id;
  call.user_id.clear();
  if (m.route == Route::kNotFound) {
    SetError(reply, Refusal::kNotFound, "no such path");
    return Next::kReply;
  }
  if (!Allows(m.route, request.method)) {
    SetError(reply, Refusal::kMethodNotAllowed, std::string("allowed: ") + AllowHeader(m.route));
    reply.allow = AllowHeader(m.route);
    return Next::kReply;
  }
  const bool issue = m.route == Route::kIssue;
  if (HasEventId(m.route)) {
    if (Status s = CheckId("the event id in the path", m.event_id); !s.ok()) {
      SetError(reply, s, /*with_status=*/issue);
      return Next::kReply;
    }
  }
  switch (m.route) {
    case Route::kIssue:
      if (Status s = ParseIssueBody(request.body, &call.user_id); !s.ok()) {
        SetError(reply, s, /*with_status=*/true);
        return Next::kReply;
      }
      return Next::kIssue;
    case Route::kUserCoupons:
      if (Status s = CheckId("the user id in the path", m.user_id); !s.ok()) {
        SetError(reply, s);
        return Next::kReply;
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
    case Route::kHealthz:
    case Route::kMetrics:
    case Route::kEvent:
      return Next::kBlocking;
    case Route::kNotFound:
      break;
  }
  SetError(reply, Refusal::kNotFound, "no such path");
  return Next::kReply;
}

bool ApiHandler::AdminAllowed(const ApiRequest& request, Reply& reply) const {
  const std::string& token = options_.admin_token;
  if (token.empty()) {
    if (request.loopback) return true;
    SetError(reply, Refusal::kUnauthorized,
             "no admin token is configured: admin calls are accepted from loopback only");
    return false;
  }
  constexpr std::string_view kBearer = "Bearer ";
  std::string_view given = request.authorization;
  if (given.substr(0, kBearer.size()) == kBearer &&
      SameSecret(given.substr(kBearer.size()), token)) {
    return true;
  }
  SetError(reply, Refusal::kUnauthorized, "admin calls need Authorization: Bearer <admin token>");
  reply.www_authenticate = true;
  return false;
}

void ApiHandler::StartIssue(const ApiCall& call, CouponService::IssueCallback done) const {
  service_.Issue(call.event_id, call.user_id, std::move(done));
}

void ApiHandler::AnswerIssue(Result<IssueAnswer> result, const ApiCall& call, Reply& reply) const {
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
    case Route::kIssue:
    case Route::kNotFound:
      break;
  }
  // Handle never asks for this: a bug in the transport.
  SetError(reply, Refusal::kInternal, "not a blocking call");
}

void ApiHandler::Refuse(std::string_view target, Refusal refusal, std::string_view detail,
                        ApiCall& call, Reply& reply) {
  reply.clear();
  call.route = MatchRoute(target).route;
  call.event_id = {};
  call.user_id.clear();
  SetError(reply, refusal, detail, /*with_status=*/call.route == Route::kIssue);
}

}  // namespace firstcome::http
