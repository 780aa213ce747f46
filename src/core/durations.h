// std::chrono durations turned into the timeout arguments of the C libraries
// underneath (librdkafka and SQLite take int milliseconds, hiredis a timeval,
// libmariadb whole seconds). Each name says which way it converts.
//
// Invariants: every result is >= 0 and fits its type, however large or
// negative the duration: a past deadline or a negative duration is 0 (do not
// wait), a huge one is the largest value the type holds. Nothing here reads
// a clock except MillisUntil.
#pragma once

#include <sys/time.h>

#include <chrono>

namespace firstcome {

// Whole milliseconds (truncated), clamped to 0..INT_MAX.
int TimeoutMillis(std::chrono::milliseconds d);

// Milliseconds from now until `deadline`, as TimeoutMillis (0 once passed).
int MillisUntil(std::chrono::steady_clock::time_point deadline);

// Whole seconds, rounded up (1 ms is 1 s), clamped to 0..INT_MAX.
int TimeoutSeconds(std::chrono::milliseconds d);

// The same span as a timeval (seconds and microseconds); negative is zero.
timeval ToTimeval(std::chrono::milliseconds d);

}  // namespace firstcome
