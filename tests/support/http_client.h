// A small blocking HTTP/1.1 client for tests (Boost.Beast), one connection per
// request or kept alive through HttpConnection.
#pragma once

#include <boost/json.hpp>
#include <memory>
#include <string>

namespace firstcome::test {

struct HttpResponse {
  int status = 0;  // 0: no answer (connection failed or timed out)
  std::string body;
  std::string content_type;
  boost::json::value json() const;  // null when the body is not JSON
};

HttpResponse HttpRequest(const std::string& host, int port, const std::string& method,
                         const std::string& target, const std::string& body = "",
                         const std::string& authorization = "");

}  // namespace firstcome::test
