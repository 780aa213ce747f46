// Who is on the other end: the client address behind trusted reverse proxies
// (`trusted_proxies` + X-Forwarded-For), and the CIDR lists that say which
// proxies are trusted.
//
// Invariants:
//  - An IPv4-mapped IPv6 address (::ffff:a.b.c.d, what a dual-stack socket
//    reports for an IPv4 peer) is the IPv4 address everywhere here: in
//    Contains, in IsLoopback and in what ClientAddress returns.
//  - IPv4 and IPv6 ranges are separate: ::/0 does not contain 10.0.0.1.
//  - X-Forwarded-For is believed only as far as a chain of trusted proxies
//    vouches for it, read from the right (the hop nearest to us).
#pragma once

#include <array>
#include <boost/asio/ip/address.hpp>
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace firstcome::edge {

class CidrList {
 public:
  CidrList() = default;  // empty: contains nothing

  bool Contains(const boost::asio::ip::address& address) const;
  bool empty() const { return ranges_.empty(); }
  std::size_t size() const { return ranges_.size(); }

 private:
  friend Result<CidrList> ParseCidrList(std::string_view text);
  struct Range {
    bool v6 = false;
    std::array<std::uint8_t, 16> bytes{};  // network address; IPv4 in the first 4
    int prefix = 0;                        // 0..32 or 0..128
  };
  std::vector<Range> ranges_;
};

// "10.0.0.0/8, 127.0.0.1, ::1/128": comma separated, spaces around entries
// ignored; a bare address is a /32 (IPv4) or /128 (IPv6). An empty or blank
// text is the empty list. Status::Invalid, naming the entry, for an empty
// entry, a bad address or prefix, or host bits set after the prefix
// ("10.0.0.1/8": almost always a typo for 10.0.0.0/8 or 10.0.0.1/32).
Result<CidrList> ParseCidrList(std::string_view text);

// The address the request comes from.
//  - The peer itself when it is not in `trusted` (or X-Forwarded-For is empty).
//  - Otherwise X-Forwarded-For (entries separated by commas, spaces around
//    them ignored; several headers joined with "," first) is walked from the
//    right: each trusted entry is one more proxy, and the first entry that is
//    not trusted is the client.
//  - When every entry is trusted, the left-most one.
//  - An entry that is not a bare IP address stops the walk, and the last
//    address already established (the trusted hop that handed us the garbage,
//    possibly the peer) is the client: nothing left of garbage is believed,
//    and the answer is always an address some trusted party really saw.
// IPv4-mapped results are returned as IPv4.
boost::asio::ip::address ClientAddress(const boost::asio::ip::address& peer,
                                       std::string_view x_forwarded_for, const CidrList& trusted);

// 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104.
bool IsLoopback(const boost::asio::ip::address& address);

// `address` with an IPv4-mapped IPv6 address turned into IPv4; others as is.
boost::asio::ip::address Unmapped(const boost::asio::ip::address& address);

}  // namespace firstcome::edge
