// Request ids: every request has one, taken from its X-Request-Id header when
// that is a safe value, generated otherwise; it is echoed as X-Request-Id in
// the answer and carried by every log line about the request.
//
// A safe id is 1..64 characters of A-Z a-z 0-9 and - _ . : @ / + = (UUIDs,
// ULIDs, base64 and the ids of common proxies fit): nothing in it needs
// escaping in a header, a log line or JSON, and its size is bounded.
//
// Generated ids are "<8 hex digits>-<hex counter>": a random prefix drawn once
// per process (so two processes, or one restarted, do not repeat each other)
// and a counter. Cost on the hot path: no system call, no lock, no heap
// allocation into a warm string: each thread takes counters in blocks of
// 65536 from one atomic (one shared write per block) and writes the digits.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace firstcome::http {

inline constexpr std::size_t kMaxRequestIdLength = 64;

bool IsValidRequestId(std::string_view id);

// Writes a new process-unique id into `out` (replacing what it held).
void NewRequestId(std::string& out);

}  // namespace firstcome::http
