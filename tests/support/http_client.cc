#include "support/http_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <optional>

namespace firstcome::test {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

boost::json::value HttpResponse::json() const {
  boost::system::error_code ec;
  auto v = boost::json::parse(body, ec);
  return ec ? boost::json::value() : v;
}

std::string HttpResponse::header(const std::string& name) const {
  for (const auto& [k, v] : headers) {
    if (beast::iequals(k, name)) return v;
  }
  return "";
}

bool HttpResponse::has_header(const std::string& name) const {
  for (const auto& [k, v] : headers) {
    if (beast::iequals(k, name)) return true;
  }
  return false;
}

namespace {

void Fill(const http::response<http::string_body>& res, HttpResponse& out) {
  out.status = res.result_int();
  out.body = res.body();
  out.content_type = std::string(res[http::field::content_type]);
  out.headers.clear();
  for (const auto& field : res) {
    out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
}

http::request<http::string_body> MakeRequest(const std::string& host, const std::string& method,
                                             const std::string& target, const std::string& body,
                                             const HttpHeaders& headers) {
  http::request<http::string_body> req(http::string_to_verb(method), target, 11);
  req.set(http::field::host, host);
  if (!body.empty()) {
    req.set(http::field::content_type, "application/json");
    req.body() = body;
  }
  req.prepare_payload();
  for (const auto& [k, v] : headers) req.insert(k, v);
  return req;
}

// Opens `stream` to host:port, from `source` when set. Throws on failure.
void Open(beast::tcp_stream& stream, const std::string& host, int port, const std::string& source) {
  tcp::resolver resolver(stream.get_executor());
  auto endpoints = resolver.resolve(host, std::to_string(port));
  if (source.empty()) {
    stream.connect(endpoints);
    return;
  }
  auto& socket = stream.socket();
  const auto remote = endpoints.begin()->endpoint();
  socket.open(remote.protocol());
  socket.bind(tcp::endpoint(boost::asio::ip::make_address(source), 0));
  stream.connect(remote);
}

}  // namespace

HttpResponse HttpRequest(const std::string& host, int port, const std::string& method,
                         const std::string& target, const std::string& body,
                         const std::string& authorization) {
  HttpRequestOptions options;
  if (!authorization.empty()) options.headers.emplace_back("Authorization", authorization);
  return HttpCall(host, port, method, target, body, options);
}

HttpResponse HttpCall(const std::string& host, int port, const std::string& method,
                      const std::string& target, const std::string& body,
                      const HttpRequestOptions& options) {
  HttpResponse out;
  try {
    boost::asio::io_context ioc;
    beast::tcp_stream stream(ioc);
    stream.expires_after(options.timeout);
    Open(stream, host, port, options.source_address);
    auto req = MakeRequest(host, method, target, body, options.headers);
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    http::read(stream, buffer, parser);
    Fill(parser.get(), out);
    beast::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  } catch (const std::exception&) {
    out = HttpResponse{};
  }
  return out;
}

struct HttpConnection::State {
  boost::asio::io_context ioc;
  std::optional<beast::tcp_stream> stream;
  beast::flat_buffer buffer;
};

HttpConnection::HttpConnection(std::string host, int port, std::string source_address)
    : host_(std::move(host)),
      port_(port),
      source_address_(std::move(source_address)),
      state_(std::make_unique<State>()) {}

HttpConnection::~HttpConnection() = default;

HttpResponse HttpConnection::Send(const std::string& method, const std::string& target,
                                  const std::string& body, const HttpHeaders& headers,
                                  std::chrono::milliseconds timeout) {
  HttpResponse out;
  try {
    if (!state_->stream) {
      state_->stream.emplace(state_->ioc);
      state_->buffer.clear();
      state_->stream->expires_after(timeout);
      Open(*state_->stream, host_, port_, source_address_);
      ++connects_;
    }
    auto& stream = *state_->stream;
    stream.expires_after(timeout);
    auto req = MakeRequest(host_, method, target, body, headers);
    http::write(stream, req);
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    http::read(stream, state_->buffer, parser);
    Fill(parser.get(), out);
    if (!parser.get().keep_alive()) state_->stream.reset();
  } catch (const std::exception&) {
    state_->stream.reset();
    out = HttpResponse{};
  }
  return out;
}

}  // namespace firstcome::test
