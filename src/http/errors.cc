#include "http/errors.h"

#include "http/json_codec.h"

namespace firstcome::http {

HttpOutcome OutcomeOf(Status::Code code) {
  switch (code) {
    case Status::Code::kOk:
      return {200, "ok"};
    case Status::Code::kInvalid:
      return {400, kInvalidRequest};
    case Status::Code::kNotFound:
      return {404, "event_not_found"};
    case Status::Code::kExists:
      return {409, "event_exists"};
    case Status::Code::kUnavailable:
      return {503, kUnavailable};
    case Status::Code::kInternal:
      return {500, "internal"};
  }
  return {500, "internal"};
}

HttpOutcome OutcomeOf(IssueStatus status) {
  switch (status) {
    case IssueStatus::kIssued:
      return {201, "issued"};
    case IssueStatus::kAlreadyIssued:
      return {409, "already_issued"};
    case IssueStatus::kSoldOut:
      return {410, "sold_out"};
    case IssueStatus::kNotOpen:
      return {403, "not_open"};
    case IssueStatus::kUnavailable:
      return {503, kUnavailable};
  }
  return {500, "internal"};
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

void SetError(Reply& reply, int http, std::string_view code, std::string_view detail,
              bool issue_route) {
  reply.status = http;
  reply.content_type = kJsonType;
  reply.body.clear();
  reply.body += "{\"error\":\"";
  reply.body += code;
  reply.body += "\",\"detail\":";
  AppendJsonString(reply.body, detail);
  if (issue_route) {
    reply.body += ",\"status\":\"";
    reply.body += code;
    reply.body += '"';
  }
  reply.body += '}';
}

void SetError(Reply& reply, const Status& status, bool issue_route) {
  HttpOutcome o = OutcomeOf(status.code());
  SetError(reply, o.http, o.code, status.message(), issue_route);
}

}  // namespace firstcome::http
