#include "core/durations.h"

#include <algorithm>
#include <limits>

namespace firstcome {

namespace {

using std::chrono::milliseconds;

constexpr milliseconds::rep kIntMax = std::numeric_limits<int>::max();

}  // namespace

int TimeoutMillis(milliseconds d) {
  return static_cast<int>(std::clamp<milliseconds::rep>(d.count(), 0, kIntMax));
}

int MillisUntil(std::chrono::steady_clock::time_point deadline) {
  return TimeoutMillis(
      std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now()));
}

int TimeoutSeconds(milliseconds d) {
  const milliseconds::rep ms = std::clamp<milliseconds::rep>(d.count(), 0, kIntMax * 1000);
  return static_cast<int>((ms + 999) / 1000);
}

timeval ToTimeval(milliseconds d) {
  const milliseconds::rep ms = std::max<milliseconds::rep>(d.count(), 0);
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms % 1000) * 1000);
  return tv;
}

}  // namespace firstcome
