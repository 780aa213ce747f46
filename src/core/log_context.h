// LogContext: what the log line being written is about, for the log
// formatters (src/app/log_format.*). Today: the id of the HTTP request a
// thread is working on, set with a ScopedRequestId around the work.
//
// Invariant: the formatters read the context of the thread that logs, so
// logging must stay synchronous (spdlog's default logger formats on the
// calling thread); an asynchronous logger would lose it.
#pragma once

#include <string_view>

namespace firstcome {

class ScopedRequestId {
 public:
  // `id` must outlive this object (it is a view, never copied).
  explicit ScopedRequestId(std::string_view id) : previous_(current_) { current_ = id; }
  ~ScopedRequestId() { current_ = previous_; }
  ScopedRequestId(const ScopedRequestId&) = delete;
  ScopedRequestId& operator=(const ScopedRequestId&) = delete;

  // The request this thread works on; empty when none.
  static std::string_view Current() { return current_; }

 private:
  inline static thread_local std::string_view current_;
  std::string_view previous_;
};

}  // namespace firstcome
