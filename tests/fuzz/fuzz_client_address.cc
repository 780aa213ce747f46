// Fuzz target: the trusted_proxies setting (CIDR lists) and X-Forwarded-For
// headers. The client address found is the peer or one of the header's
// entries, never anything else.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
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
  if (client == kPeer) return 0;
  // Compared as addresses, not text: "::1:1" prints as "::0.1.0.1", and a
  // mapped entry comes back as IPv4.
  while (!xff.empty()) {
    std::size_t comma = xff.find(',');
    std::string_view entry = xff.substr(0, comma);
    while (!entry.empty() && (entry.front() == ' ' || entry.front() == '\t'))
      entry.remove_prefix(1);
    while (!entry.empty() && (entry.back() == ' ' || entry.back() == '\t')) entry.remove_suffix(1);
    boost::system::error_code ec;
    auto a = boost::asio::ip::make_address(std::string(entry), ec);
    if (!ec && firstcome::edge::Unmapped(a) == client) return 0;
    if (comma == std::string_view::npos) break;
    xff.remove_prefix(comma + 1);
  }
  std::abort();  // a client address that is neither the peer nor an entry
}
