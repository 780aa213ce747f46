#include "http/errors.h"

#include "http/json_codec.h"

namespace firstcome::http {

namespace {

constexpr std::string_view kInvalidRequest = "invalid_request";
constexpr std::string_view kUnavailable = "unavailable";
constexpr HttpOutcome kInternalError = {500, "internal"};

void WriteError(Reply& reply, HttpOutcome outcome, std::string_view detail, bool with_status) {
  reply.status = outcome.http;
  reply.content_type = kJsonType;
  reply.body.clear();
  reply.body += "{\"error\":\"";
  reply.body += outcome.code;
  reply.body += "\",\"detail\":";
  AppendJsonString(reply.body, detail);
  if (with_status) {
    reply.body += ",\"status\":\"";
    reply.body += outcome.code;
    reply.body += '"';
  }
  reply.body += '}';
}

}  // namespace

HttpOutcome OutcomeOf(Status::Code code) {
  switch (code) {
    case Status::Code::kOk:
      return {kHttpOk, "ok"};
    case Status::Code::kInvalid:
      return {400, kInvalidRequest};
    case Status::Code::kNotFound:
      return {404, "event_not_found"};
    case Status::Code::kExists:
      return {409, "event_exists"};
    case Status::Code::kUnavailable:
      return {503, kUnavailable};
    case Status::Code::kInternal:
      return kInternalError;
  }
  return kInternalError;
}

HttpOutcome OutcomeOf(IssueStatus status) {
  switch (status) {
    case IssueStatus::kIssued:
      return {kHttpCreated, "issued"};
    case IssueStatus::kAlreadyIssued:
      return {409, "already_issued"};
    case IssueStatus::kSoldOut:
      return {410, "sold_out"};
    case IssueStatus::kNotOpen:
      return {403, "not_open"};
    case IssueStatus::kUnavailable:
      return {503, kUnavailable};
  }
  return kInternalError;
}

HttpOutcome OutcomeOf(Refusal refusal) {
  switch (refusal) {
    case Refusal::kMalformed:
      return {400, kInvalidRequest};
    case Refusal::kUnauthorized:
      return {401, "unauthorized"};
    case Refusal::kUnauthenticated:
      return {401, "unauthenticated"};
    case Refusal::kForbidden:
      return {403, "forbidden"};
    case Refusal::kRateLimited:
      return {429, "rate_limited"};
    case Refusal::kNotFound:
      return {404, "not_found"};
    case Refusal::kMethodNotAllowed:
      return {405, "method_not_allowed"};
    case Refusal::kPayloadTooLarge:
      return {413, "payload_too_large"};
    case Refusal::kUnavailable:
      return {503, kUnavailable};
    case Refusal::kInternal:
      return kInternalError;
  }
  return kInternalError;
}

HttpOutcome OutcomeOf(OperatorStatus status) {
  switch (status) {
    case OperatorStatus::kDone:
      return {kHttpOk, "ok"};
    case OperatorStatus::kTotalBelowIssued:
      return {409, "total_below_issued"};
    case OperatorStatus::kCouponNotFound:
      return {404, "coupon_not_found"};
    case OperatorStatus::kCouponPending:
      return {409, "coupon_pending"};
    case OperatorStatus::kFailedEventNotFound:
      return {404, "failed_event_not_found"};
  }
  return kInternalError;
}

std::string_view ReasonPhrase(int http) {
  switch (http) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 413:
      return "Payload Too Large";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    default:
      return "Unknown";
  }
}

void SetError(Reply& reply, Refusal refusal, std::string_view detail, bool with_status) {
  WriteError(reply, OutcomeOf(refusal), detail, with_status);
}

void SetError(Reply& reply, const Status& status, bool with_status) {
  WriteError(reply, OutcomeOf(status.code()), status.message(), with_status);
}

void SetError(Reply& reply, OperatorStatus status, std::string_view detail) {
  WriteError(reply, OutcomeOf(status), detail, /*with_status=*/false);
}

int RetryAfterSeconds(const Reply& reply) {
  if (reply.retry_after_s > 0) return reply.retry_after_s;
  return reply.status == 503 || reply.status == 429 ? 1 : 0;
}

}  // namespace firstcome::http
