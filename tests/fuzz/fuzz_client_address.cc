// Fuzz target: the trusted_proxies setting (CIDR lists) and X-Forwarded-For
// headers. The client address found is the peer or one of the header's
// entries, never anything else.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "edge/client_address.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  // "cidr list | x-forwarded-for"
  std::size_t bar = text.find('|');
  std::string_view cidrs = text.substr(0, bar);
  std::string_view xff = bar == std::string_view::npos ? std::string_view() : text.substr(bar + 1);
  auto list = firstcome::edge::ParseCidrList(cidrs);
  firstcome::edge::CidrList trusted;
  if (list.ok()) trusted = std::move(*list);
  static const auto kPeer = boost::asio::ip::make_address("127.0.0.1");
  auto client = firstcome::edge::ClientAddress(kPeer, xff, trusted);
  if (client != kPeer && xff.find(client.to_string()) == std::string_view::npos) {
    std::abort();
  }
  return 0;
}
