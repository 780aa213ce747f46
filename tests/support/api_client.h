// Calls of the Firstcome HTTP API used by integration tests, on top of
// http_client.h, plus `firstcome audit` as a process.
#pragma once

#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "support/http_client.h"

namespace firstcome::test {

struct ApiEndpoint {
  std::string host = "127.0.0.1";
  int port = 0;
  // When set, CreateEvent, GetEvent (and the Wait helpers) and UserCoupons
  // send it as `Authorization: Bearer <admin_token>`.
  std::string admin_token;
};

HttpResponse CreateEvent(const ApiEndpoint& api, const std::string& id, std::int64_t total,
                         int per_user = 1);
// The event object (null on error).
boost::json::value GetEvent(const ApiEndpoint& api, const std::string& id);
HttpResponse Issue(const ApiEndpoint& api, const std::string& event_id, const std::string& user_id);
// An admin call (operators: close, open, PATCH, DELETE, failed events): the
// admin token when the endpoint has one.
HttpResponse AdminCall(const ApiEndpoint& api, const std::string& method, const std::string& target,
                       const std::string& body = "");
// The user's "coupons" array.
boost::json::array UserCoupons(const ApiEndpoint& api, const std::string& event_id,
                               const std::string& user_id);
// Polls the event until `field` equals `value`; true when it did in time.
bool WaitForField(const ApiEndpoint& api, const std::string& event_id, const std::string& field,
                  std::int64_t value, std::chrono::milliseconds timeout = std::chrono::seconds(60));
// Like WaitForField, until the field is at least `value`.
bool WaitForFieldAtLeast(const ApiEndpoint& api, const std::string& event_id,
                         const std::string& field, std::int64_t value,
                         std::chrono::milliseconds timeout = std::chrono::seconds(60));
std::int64_t Field(const boost::json::value& event, const std::string& field);

// Runs `firstcome audit --event ID <extra...>`; returns its exit code, output in *out.
int Audit(const std::string& event_id, const std::vector<std::string>& extra, std::string* out,
          const std::vector<std::string>& env = {});

}  // namespace firstcome::test
