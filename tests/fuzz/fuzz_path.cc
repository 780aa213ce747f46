// Fuzz target: request paths and ids — the router and the id rule. A path
// parameter the router returns must be a view into the path, and an id the
// rule accepts must be 1..64 allowed characters.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/event.h"
#include "http/routes.h"

namespace {
bool Inside(std::string_view part, std::string_view whole) {
  return part.empty() ||
         (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view target(reinterpret_cast<const char*>(data), size);
  firstcome::http::RouteMatch m = firstcome::http::MatchRoute(target);
  if (!Inside(m.event_id, target) || !Inside(m.user_id, target)) std::abort();
  (void)firstcome::http::RouteName(m.route);
  if (firstcome::IsValidId(target)) {
    if (target.empty() || target.size() > firstcome::kMaxIdLength) std::abort();
    if (!firstcome::CheckId("id", target).ok()) std::abort();
  }
  return 0;
}
