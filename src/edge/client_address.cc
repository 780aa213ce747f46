#include "edge/client_address.h"

#include <algorithm>
#include <charconv>
#include <optional>
#include <string>

namespace firstcome::edge {
namespace {

namespace ip = boost::asio::ip;

std::string_view Trim(std::string_view s) {
  const auto blank = [](char c) { return c == ' ' || c == '\t'; };
  while (!s.empty() && blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && blank(s.back())) s.remove_suffix(1);
  return s;
}

// A bare IPv4 or IPv6 address (no port, no brackets), unmapped.
std::optional<ip::address> ParseAddress(std::string_view text) {
  if (text.empty()) return std::nullopt;
  boost::system::error_code ec;
  ip::address address = ip::make_address(text, ec);
  if (ec) return std::nullopt;
  return Unmapped(address);
}

// True when the first `prefix` bits of a and b are equal.
bool SamePrefix(const std::uint8_t* a, const std::uint8_t* b, int prefix) {
  int i = 0;
  for (; prefix >= 8; prefix -= 8, ++i) {
    if (a[i] != b[i]) return false;
  }
  if (prefix == 0) return true;
  const std::uint8_t mask = static_cast<std::uint8_t>(0xff << (8 - prefix));
  return (a[i] & mask) == (b[i] & mask);
}

}  // namespace

ip::address Unmapped(const ip::address& address) {
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return ip::make_address_v4(ip::v4_mapped, address.to_v6());
  }
  return address;
}

bool IsLoopback(const ip::address& address) { return Unmapped(address).is_loopback(); }

bool CidrList::Contains(const ip::address& raw) const {
  const ip::address address = Unmapped(raw);
  const bool v6 = address.is_v6();
  std::array<std::uint8_t, 16> bytes{};
  if (v6) {
    bytes = address.to_v6().to_bytes();
  } else {
    const auto v4 = address.to_v4().to_bytes();
    std::copy(v4.begin(), v4.end(), bytes.begin());
  }
  for (const Range& r : ranges_) {
    if (r.v6 == v6 && SamePrefix(r.bytes.data(), bytes.data(), r.prefix)) return true;
  }
  return false;
}

Result<CidrList> ParseCidrList(std::string_view text) {
  CidrList list;
  if (Trim(text).empty()) return list;
  while (true) {
    const std::size_t comma = text.find(',');
    const std::string_view entry = Trim(text.substr(0, comma));
    // Built by append: GCC 12 warns (falsely, -Wrestrict) on "\"" + string.
    std::string quoted(1, '"');
    quoted.append(entry).push_back('"');
    if (entry.empty()) return Status::Invalid("empty entry in the CIDR list");

    const std::size_t slash = entry.find('/');
    std::optional<ip::address> address = ParseAddress(entry.substr(0, slash));
    if (!address) return Status::Invalid(quoted + " is not an IP address or CIDR range");
    // A mapped range (::ffff:10.0.0.0/104) means its IPv4 range.
    const bool mapped = address->is_v4() && entry.substr(0, slash).find(':') != entry.npos;
    CidrList::Range range;
    range.v6 = address->is_v6();
    const int max_prefix = range.v6 ? 128 : 32;
    int prefix = mapped ? 128 : max_prefix;
    if (slash != entry.npos) {
      const std::string_view digits = entry.substr(slash + 1);
      const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
      if (digits.empty() || digits.size() > 3 || ec != std::errc() ||
          end != digits.data() + digits.size() || prefix < 0 ||
          prefix > (mapped ? 128 : max_prefix)) {
        return Status::Invalid(quoted + ": the prefix length must be 0.." +
                               std::to_string(mapped ? 128 : max_prefix));
      }
    }
    if (mapped) {
      if (prefix < 96) {
        return Status::Invalid(quoted + ": an IPv4-mapped range needs a prefix of at least 96");
      }
      prefix -= 96;
    }
    range.prefix = prefix;
    if (range.v6) {
      range.bytes = address->to_v6().to_bytes();
    } else {
      const auto v4 = address->to_v4().to_bytes();
      std::copy(v4.begin(), v4.end(), range.bytes.begin());
    }
    // Host bits must be zero.
    for (int bit = prefix; bit < max_prefix; ++bit) {
      if (range.bytes[bit / 8] & (0x80 >> (bit % 8))) {
        return Status::Invalid(quoted + " has host bits set after the prefix");
      }
    }
    list.ranges_.push_back(range);
    if (comma == text.npos) break;
    text.remove_prefix(comma + 1);
  }
  return list;
}

ip::address ClientAddress(const ip::address& peer, std::string_view x_forwarded_for,
                          const CidrList& trusted) {
  ip::address client = Unmapped(peer);
  if (!trusted.Contains(client)) return client;
  std::string_view rest = x_forwarded_for;
  // Blank header (or none): the trusted peer is itself the client.
  if (Trim(rest).empty()) return client;
  while (true) {
    const std::size_t comma = rest.rfind(',');
    const std::string_view entry = Trim(comma == rest.npos ? rest : rest.substr(comma + 1));
    std::optional<ip::address> hop = ParseAddress(entry);
    if (!hop) return client;  // garbage: believe nothing left of it
    client = *hop;
    if (!trusted.Contains(client)) return client;
    if (comma == rest.npos) return client;  // all trusted: the left-most
    rest = rest.substr(0, comma);
  }
}

}  // namespace firstcome::edge
