#include "core/thread_name.h"

#include <pthread.h>

#include <algorithm>
#include <array>

namespace firstcome {

void NameThisThread(std::string_view name) {
  // 16 bytes with the terminator: pthread_setname_np refuses anything longer.
  std::array<char, 16> buffer{};
  const std::size_t n = std::min(name.size(), buffer.size() - 1);
  std::copy_n(name.data(), n, buffer.data());
  (void)pthread_setname_np(pthread_self(), buffer.data());
}

}  // namespace firstcome
