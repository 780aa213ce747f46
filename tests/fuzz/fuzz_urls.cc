// Fuzz target: the URL settings (redis_url, mysql_url) and the load
// generator's base URL.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "gate/redis_connection.h"
#include "loadgen/load_generator.h"
#include "store/mysql_connection.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)firstcome::redis::ParseRedisUrl(text).ok();
  (void)firstcome::mysql::ParseMysqlUrl(text).ok();
  (void)firstcome::ParseBaseUrl(std::string(text)).ok();
  return 0;
}
