#include "http/request_id.h"

#include <atomic>
#include <cstdint>
#include <random>

namespace firstcome::http {

namespace {

constexpr char kHex[] = "0123456789abcdef";
constexpr std::uint64_t kBlock = 65536;

// Drawn once, before main (std::random_device: one getrandom call).
struct Prefix {
  Prefix() {
    std::random_device random;
    std::uint32_t bits = random();
    for (int i = 7; i >= 0; --i) {
      text[i] = kHex[bits & 0xf];
      bits >>= 4;
    }
  }
  char text[8];
};
const Prefix kPrefix;

std::atomic<std::uint64_t> next_block{0};

struct Counter {
  std::uint64_t next = 0;
  std::uint64_t end = 0;
};
thread_local Counter counter;

}  // namespace

bool IsValidRequestId(std::string_view id) {
  if (id.empty() || id.size() > kMaxRequestIdLength) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.' || c == ':' || c == '@' || c == '/' ||
                    c == '+' || c == '=';
    if (!ok) return false;
  }
  return true;
}

void NewRequestId(std::string& out) {
  if (counter.next == counter.end) {
    counter.next = next_block.fetch_add(kBlock, std::memory_order_relaxed);
    counter.end = counter.next + kBlock;
  }
  std::uint64_t n = counter.next++;
  char digits[16];
  int used = 0;
  do {
    digits[used++] = kHex[n & 0xf];
    n >>= 4;
  } while (n != 0);
  out.assign(kPrefix.text, sizeof(kPrefix.text));
  out += '-';
  while (used > 0) out += digits[--used];
}

}  // namespace firstcome::http
