// Fuzz target: the TOML config file, through the same BuildConfig as
// `firstcome serve --config` (parse, assign, validate).
#include <cstddef>
#include <cstdint>
#include <string>

#include "app/config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  firstcome::ConfigSources sources;
  sources.file_text.assign(reinterpret_cast<const char*>(data), size);
  if (sources.file_text.empty()) return 0;  // "" means "no file"
  auto config = firstcome::BuildConfig(sources);
  (void)config.ok();  // refusals are answers too; only crashes and hangs are findings
  return 0;
}
