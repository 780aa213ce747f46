// Reply: one HTTP answer as the API layer builds it, before it is written.
//
// Kept independent of Beast so that routes, codecs and error mapping are plain
// functions over strings. A session owns one Reply and reuses it (clear()
// keeps the body's capacity), so answering costs no heap allocation once warm.
#pragma once

#include <string>

namespace firstcome::http {

inline constexpr const char* kJsonType = "application/json";
inline constexpr const char* kPrometheusType = "text/plain; version=0.0.4; charset=utf-8";

struct Reply {
  int status = 200;
  std::string body;
  const char* content_type = kJsonType;
  const char* allow = nullptr;  // the Allow header of a 405
  // More header lines, each "\r\nName: value" (a static string); null: none.
  const char* headers = nullptr;
  bool www_authenticate = false;  // a 401 names the Bearer scheme
  bool close = false;             // the server closes the connection after this answer
  // Retry-After seconds; 0: none, except that every 503 and 429 carries one
  // (RetryAfterSeconds in errors.h), since both mean "nothing was taken, retry".
  int retry_after_s = 0;
  // X-Request-Id of the answer. Set once per request by ApiHandler::Handle or
  // Refuse and kept by clear(): it belongs to the request, not to one draft
  // of its answer.
  std::string request_id;

  void clear() {
    status = 200;
    body.clear();
    content_type = kJsonType;
    allow = nullptr;
    headers = nullptr;
    www_authenticate = false;
    close = false;
    retry_after_s = 0;
  }
};

}  // namespace firstcome::http
