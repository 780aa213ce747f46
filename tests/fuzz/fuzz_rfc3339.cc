// Fuzz target: RFC 3339 times. A time that parses formats to a text that
// parses back to the same instant.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/event.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto t = firstcome::ParseRfc3339(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!t.ok()) return 0;
  auto again = firstcome::ParseRfc3339(firstcome::FormatRfc3339(*t));
  if (!again.ok() || *again != *t) std::abort();
  return 0;
}
