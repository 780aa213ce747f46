// Status and Result<T>: the one way fallible calls report errors across Firstcome.
//
// Every port method (Gate, Log, Store) returns a Status or a Result<T>. Exceptions
// are used only where a library forces them and are caught at the edge that
// called the library. HTTP status codes are derived from Status::Code in exactly
// one place (src/http/errors.cc).
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace firstcome {

class [[nodiscard]] Status {
 public:
  enum class Code {
    kOk,
    kInvalid,      // the caller's input is wrong (maps to 400)
    kNotFound,     // maps to 404
    kExists,       // maps to 409
    kUnavailable,  // a dependency is down or timed out; safe to retry (503)
    kInternal,     // a bug or an unexpected state
  };

  Status() = default;
  static Status Ok() { return Status(); }
  static Status Invalid(std::string msg) { return Status(Code::kInvalid, std::move(msg)); }
  static Status NotFound(std::string msg) { return Status(Code::kNotFound, std::move(msg)); }
  static Status Exists(std::string msg) { return Status(Code::kExists, std::move(msg)); }
  static Status Unavailable(std::string msg) { return Status(Code::kUnavailable, std::move(msg)); }
  static Status Internal(std::string msg) { return Status(Code::kInternal, std::move(msg)); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string ToString() const;

 private:
  Status(Code code, std::string msg) : code_(code), message_(std::move(msg)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

// A value or the Status saying why there is none. Constructing from an ok
// Status is a bug (asserted).
template <class T>
class [[nodiscard]] Result {
 public:
  // Two overloads instead of one by value: a value passed as an rvalue is
  // moved once, into place (an IssueAnswer on the request path).
  Result(T&& value) : data_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(const T& value) : data_(value) {}            // NOLINT(google-explicit-constructor)
  Result(Status status) : data_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(data_).ok());
  }

  bool ok() const { return std::holds_alternative<T>(data_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(data_);
  }
  T& value() & { return std::get<T>(data_); }
  const T& value() const& { return std::get<T>(data_); }
  T&& value() && { return std::get<T>(std::move(data_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> data_;
};

}  // namespace firstcome
