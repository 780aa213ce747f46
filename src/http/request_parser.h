// RequestParser: a Beast HTTP/1 request parser that fills an ApiRequest and
// nothing else. Why not request_parser<string_body>: that builds a field list
// with a heap node per header, on every request of the hot path; this one
// copies the few fields the API reads into the (reused) ApiRequest strings.
//
// Used by the transport only (server.cc), one parser per request. A header the
// API starts to read (X-Forwarded-For, X-User-Id, X-Request-Id, …) is picked
// up in on_field_impl into a new ApiRequest member.
// X-Request-Id is kept only when it is a safe id (request_id.h).
#pragma once

#include <boost/beast/core/error.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/optional/optional.hpp>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "http/api_handler.h"
#include "http/request_id.h"
#include "http/routes.h"

namespace firstcome::http {

// The most header bytes a request may have (beyond it: 400, malformed).
inline constexpr std::size_t kHeaderLimit = 16 * 1024;

// The API's view of a method; verbs it has no route for are kOther.
inline Method MethodOf(boost::beast::http::verb verb) {
  switch (verb) {
    case boost::beast::http::verb::get:
      return Method::kGet;
    case boost::beast::http::verb::post:
      return Method::kPost;
    case boost::beast::http::verb::patch:
      return Method::kPatch;
    case boost::beast::http::verb::delete_:
      return Method::kDelete;
    default:
      return Method::kOther;
  }
}

class RequestParser final : public boost::beast::http::basic_parser<true> {
 public:
  // `user_header`: the name of the header naming the user (user_auth =
  // header), matched case-insensitively; empty: none.
  RequestParser(ApiRequest& request, std::size_t body_limit, std::string_view user_header = {})
      : request_(request), user_header_(user_header) {
    this->body_limit(body_limit);
    this->header_limit(kHeaderLimit);
  }

  // "Expect: 100-continue" was sent.
  bool expect_continue() const { return expect_continue_; }

 private:
  using string_view = boost::beast::string_view;
  using error_code = boost::beast::error_code;
  using field = boost::beast::http::field;

  void on_request_impl(boost::beast::http::verb method, string_view, string_view target,
                       int version, error_code&) override {
    request_.method = MethodOf(method);
    request_.version = version;
    request_.target.assign(target.data(), target.size());
  }
  void on_response_impl(int, string_view, int, error_code&) override {}
  void on_field_impl(field name, string_view name_text, string_view value, error_code&) override {
    if (name == field::authorization) {
      request_.authorization.assign(value.data(), value.size());
    } else if (name == field::expect && boost::beast::iequals(value, "100-continue")) {
      expect_continue_ = true;
    } else if (name == field::unknown &&
               boost::beast::iequals(name_text, string_view("X-Request-Id", 12))) {
      // The first safe one counts; an unsafe one is dropped, so the handler
      // generates an id instead (request_id.h).
      if (request_.request_id.empty() &&
          IsValidRequestId(std::string_view(value.data(), value.size()))) {
        request_.request_id.assign(value.data(), value.size());
      }
    } else if (name == field::unknown &&
               boost::beast::iequals(name_text, string_view("X-Forwarded-For", 15))) {
      // Several X-Forwarded-For headers are one list (RFC 7230 3.2.2).
      if (!request_.forwarded_for.empty()) request_.forwarded_for += ", ";
      request_.forwarded_for.append(value.data(), value.size());
    } else if (!user_header_.empty() &&
               boost::beast::iequals(name_text,
                                     string_view(user_header_.data(), user_header_.size()))) {
      // A repeated user header is ambiguous: the copies are joined with ','
      // so the handler refuses it (no valid id holds a comma).
      if (!request_.user_header.empty()) request_.user_header += ',';
      request_.user_header.append(value.data(), value.size());
    }
  }
  void on_header_impl(error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>& length, error_code&) override {
    if (length) request_.body.reserve(static_cast<std::size_t>(*length));
  }
  std::size_t on_body_impl(string_view body, error_code&) override {
    request_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, string_view, error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, string_view body, error_code&) override {
    request_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_finish_impl(error_code&) override {}

  ApiRequest& request_;
  std::string_view user_header_;
  bool expect_continue_ = false;
};

}  // namespace firstcome::http
