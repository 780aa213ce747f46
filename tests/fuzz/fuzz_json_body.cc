// Fuzz target: the JSON bodies the API parses (create event, issue), with the
// duplicate-key check; whatever they accept must be a valid event / id.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/event.h"
#include "http/json_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  auto event = firstcome::http::ParseCreateEvent(body);
  if (event.ok() && !firstcome::ValidateEvent(*event).ok()) std::abort();
  std::string user;
  if (firstcome::http::ParseIssueBody(body, &user).ok() && !firstcome::IsValidId(user)) {
    std::abort();
  }
  return 0;
}
