// A small blocking HTTP/1.1 client for tests (Boost.Beast), one connection per
// request or kept alive through HttpConnection.
#pragma once

#include <boost/json.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace firstcome::test {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpResponse {
  int status = 0;  // 0: no answer (connection failed or timed out)
  std::string body;
  std::string content_type;
  HttpHeaders headers;              // every response header, in order
  boost::json::value json() const;  // null when the body is not JSON
  // The first header named `name` (case-insensitive); empty when absent.
  std::string header(const std::string& name) const;
  bool has_header(const std::string& name) const;
};

HttpResponse HttpRequest(const std::string& host, int port, const std::string& method,
                         const std::string& target, const std::string& body = "",
                         const std::string& authorization = "");

// What a request may add to HttpRequest's: any headers, and the local address
// the client socket is bound to before it connects (e.g. "127.0.0.2", to be
// a different loopback peer than 127.0.0.1).
struct HttpRequestOptions {
  HttpHeaders headers;
  std::string source_address;  // empty: the kernel's choice
  std::chrono::milliseconds timeout{30000};
};

// One request on a new connection, with `options`.
HttpResponse HttpCall(const std::string& host, int port, const std::string& method,
                      const std::string& target, const std::string& body,
                      const HttpRequestOptions& options);

// One keep-alive connection: requests are sent one after the other on it.
// After a transport error the connection is closed, and the next Send opens a
// new one (same host, port and source address).
class HttpConnection {
 public:
  HttpConnection(std::string host, int port, std::string source_address = "");
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  // status 0 on a transport error or timeout.
  HttpResponse Send(const std::string& method, const std::string& target,
                    const std::string& body = "", const HttpHeaders& headers = {},
                    std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // Connections opened so far (1 when keep-alive held throughout).
  int connects() const { return connects_; }

 private:
  struct State;
  std::string host_;
  int port_;
  std::string source_address_;
  std::unique_ptr<State> state_;
  int connects_ = 0;
};

}  // namespace firstcome::test
