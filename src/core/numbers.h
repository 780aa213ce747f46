// Integer parsing of text that comes from outside the process (configuration
// values, Redis replies, Kafka records): one rule for all of them.
//
// ParseInt64 accepts exactly what std::from_chars accepts in base 10 when it
// must consume the whole text: an optional '-' then one or more digits, and a
// value that fits in int64. Anything else (empty text, '+', spaces, a
// trailing character, overflow) is nullopt; range checks are the caller's.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace firstcome {

std::optional<std::int64_t> ParseInt64(std::string_view text);

}  // namespace firstcome
