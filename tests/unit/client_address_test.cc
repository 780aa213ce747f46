#include "edge/client_address.h"

#include <gtest/gtest.h>

namespace firstcome::edge {
namespace {

namespace ip = boost::asio::ip;

ip::address A(const char* text) { return ip::make_address(text); }

CidrList Cidrs(std::string_view text) {
  Result<CidrList> list = ParseCidrList(text);
  EXPECT_TRUE(list.ok()) << text << ": " << list.status().ToString();
  return list.ok() ? std::move(list).value() : CidrList();
}

void ExpectInvalid(std::string_view text, std::string_view why) {
  Result<CidrList> list = ParseCidrList(text);
  ASSERT_FALSE(list.ok()) << "accepted: " << text;
  EXPECT_EQ(list.status().code(), Status::Code::kInvalid);
  EXPECT_NE(list.status().message().find(why), std::string::npos) << list.status().message();
}

TEST(ParseCidrList, ParsesRangesAndBareAddresses) {
  const CidrList list = Cidrs("10.0.0.0/8, 127.0.0.1/32,::1/128 ,\t192.168.1.7, fd00::/8");
  EXPECT_EQ(list.size(), 5u);
  EXPECT_TRUE(list.Contains(A("10.0.0.0")));
  EXPECT_TRUE(list.Contains(A("10.255.255.255")));
  EXPECT_FALSE(list.Contains(A("11.0.0.0")));
  EXPECT_FALSE(list.Contains(A("9.255.255.255")));
  EXPECT_TRUE(list.Contains(A("127.0.0.1")));
  EXPECT_FALSE(list.Contains(A("127.0.0.2")));
  EXPECT_TRUE(list.Contains(A("192.168.1.7")));
  EXPECT_FALSE(list.Contains(A("192.168.1.8")));
  EXPECT_TRUE(list.Contains(A("::1")));
  EXPECT_FALSE(list.Contains(A("::2")));
  EXPECT_TRUE(list.Contains(A("fd12:3456::1")));
  EXPECT_FALSE(list.Contains(A("fe80::1")));
}

TEST(ParseCidrList, EmptyTextIsTheEmptyList) {
  for (std::string_view text : {"", "  ", "\t"}) {
    const CidrList list = Cidrs(text);
    EXPECT_TRUE(list.empty());
    EXPECT_FALSE(list.Contains(A("127.0.0.1")));
  }
  EXPECT_FALSE(CidrList().Contains(A("::1")));
}

TEST(ParseCidrList, PrefixesThatAreNotWholeBytes) {
  const CidrList list = Cidrs("172.16.0.0/12, 2001:db8:8000::/33, 0.0.0.0/0");
  EXPECT_TRUE(list.Contains(A("172.31.255.255")));
  EXPECT_TRUE(list.Contains(A("8.8.8.8")));  // 0.0.0.0/0
  EXPECT_TRUE(list.Contains(A("2001:db8:ffff::1")));
  EXPECT_FALSE(list.Contains(A("2001:db8:7fff::1")));

  const CidrList v6_all = Cidrs("::/0");
  EXPECT_TRUE(v6_all.Contains(A("2001:db8::1")));
  // IPv4 and IPv6 ranges are separate, even for ::/0.
  EXPECT_FALSE(v6_all.Contains(A("10.0.0.1")));
  EXPECT_FALSE(v6_all.Contains(A("::ffff:10.0.0.1")));
  EXPECT_FALSE(Cidrs("0.0.0.0/0").Contains(A("::1")));
}

TEST(ParseCidrList, MappedAddressesAreIpv4) {
  const CidrList v4 = Cidrs("10.0.0.0/8");
  EXPECT_TRUE(v4.Contains(A("::ffff:10.1.2.3")));
  EXPECT_FALSE(v4.Contains(A("::ffff:11.1.2.3")));
  const CidrList mapped = Cidrs("::ffff:192.168.0.0/112, ::ffff:127.0.0.1");
  EXPECT_TRUE(mapped.Contains(A("192.168.4.5")));
  EXPECT_TRUE(mapped.Contains(A("::ffff:192.168.4.5")));
  EXPECT_FALSE(mapped.Contains(A("192.169.0.0")));
  EXPECT_TRUE(mapped.Contains(A("127.0.0.1")));
  ExpectInvalid("::ffff:10.0.0.0/64", "at least 96");
}

TEST(ParseCidrList, RefusesBadInputNamingTheEntry) {
  ExpectInvalid("10.0.0.0/8,", "empty entry");
  ExpectInvalid(",10.0.0.0/8", "empty entry");
  ExpectInvalid("10.0.0.0/8,,::1", "empty entry");
  ExpectInvalid("10.0.0.0/8, banana", "\"banana\" is not an IP address");
  ExpectInvalid("10.0.0/8", "\"10.0.0/8\"");
  ExpectInvalid("256.0.0.0/8", "not an IP address");
  ExpectInvalid("example.com", "not an IP address");
  ExpectInvalid("10.0.0.0/33", "0..32");
  ExpectInvalid("::/129", "0..128");
  ExpectInvalid("10.0.0.0/", "prefix");
  ExpectInvalid("10.0.0.0/-1", "prefix");
  ExpectInvalid("10.0.0.0/8x", "prefix");
  ExpectInvalid("10.0.0.0/ 8", "prefix");
  ExpectInvalid("10.0.0.0/0008", "prefix");
  ExpectInvalid("/8", "not an IP address");
  ExpectInvalid("10.0.0.1/8", "host bits");
  ExpectInvalid("10.0.0.0/8/8", "prefix");
  ExpectInvalid("fd00::1/8", "host bits");
  ExpectInvalid("[::1]", "not an IP address");
  ExpectInvalid("10.0.0.1:80", "not an IP address");
}

TEST(ClientAddress, AnUntrustedPeerIsTheClient) {
  const CidrList trusted = Cidrs("10.0.0.0/8");
  EXPECT_EQ(ClientAddress(A("203.0.113.9"), "1.2.3.4", trusted), A("203.0.113.9"));
  EXPECT_EQ(ClientAddress(A("203.0.113.9"), "", trusted), A("203.0.113.9"));
  EXPECT_EQ(ClientAddress(A("203.0.113.9"), "1.2.3.4", CidrList()), A("203.0.113.9"));
  // Returned as IPv4 when it came mapped.
  EXPECT_EQ(ClientAddress(A("::ffff:203.0.113.9"), "1.2.3.4", trusted), A("203.0.113.9"));
}

TEST(ClientAddress, ATrustedPeerWithoutForwardedForIsTheClient) {
  const CidrList trusted = Cidrs("10.0.0.0/8");
  EXPECT_EQ(ClientAddress(A("10.0.0.2"), "", trusted), A("10.0.0.2"));
  EXPECT_EQ(ClientAddress(A("10.0.0.2"), "  ", trusted), A("10.0.0.2"));
}

TEST(ClientAddress, TakesTheRightMostUntrustedEntry) {
  const CidrList trusted = Cidrs("10.0.0.0/8, 192.168.0.0/16");
  // The left-most entry is whatever the client wrote: never believed when a
  // nearer untrusted hop is known.
  EXPECT_EQ(ClientAddress(A("10.0.0.2"), "6.6.6.6, 198.51.100.7", trusted), A("198.51.100.7"));
  EXPECT_EQ(ClientAddress(A("10.0.0.2"), "6.6.6.6, 198.51.100.7, 192.168.3.3, 10.1.1.1", trusted),
            A("198.51.100.7"));
  EXPECT_EQ(ClientAddress(A("10.0.0.2"), "198.51.100.7", trusted), A("198.51.100.7"));
  EXPECT_EQ(ClientAddress(A("10.0.0.2"), " \t198.51.100.7 ,10.9.9.9\t", trusted),
            A("198.51.100.7"));
  // No spaces after the commas.
  EXPECT_EQ(ClientAddress(A("10.0.0.2"), "1.1.1.1,2.2.2.2,10.3.3.3", trusted), A("2.2.2.2"));
}

TEST(ClientAddress, WhenEveryEntryIsTrustedTakesTheLeftMost) {
  const CidrList trusted = Cidrs("10.0.0.0/8");
  EXPECT_EQ(ClientAddress(A("10.0.0.2"), "10.5.5.5, 10.6.6.6", trusted), A("10.5.5.5"));
  EXPECT_EQ(ClientAddress(A("10.0.0.2"), "10.5.5.5", trusted), A("10.5.5.5"));
}

TEST(ClientAddress, GarbageStopsTheWalkAtTheLastTrustedHop) {
  const CidrList trusted = Cidrs("10.0.0.0/8");
  // The peer handed us garbage: the peer is all we know.
  EXPECT_EQ(ClientAddress(A("10.0.0.2"), "1.2.3.4, unknown", trusted), A("10.0.0.2"));
  EXPECT_EQ(ClientAddress(A("10.0.0.2"), "1.2.3.4, ", trusted), A("10.0.0.2"));
  EXPECT_EQ(ClientAddress(A("10.0.0.2"), "1.2.3.4:5678", trusted), A("10.0.0.2"));
  EXPECT_EQ(ClientAddress(A("10.0.0.2"), "[2001:db8::1]", trusted), A("10.0.0.2"));
  // A trusted proxy passed it on: that proxy is the client; nothing to its
  // left (here 1.2.3.4, which anyone could have written) is believed.
  EXPECT_EQ(ClientAddress(A("10.0.0.2"), "1.2.3.4, garbage, 10.7.7.7", trusted), A("10.7.7.7"));
  EXPECT_EQ(ClientAddress(A("10.0.0.2"), "1.2.3.4,, 10.7.7.7", trusted), A("10.7.7.7"));
  // Garbage left of an untrusted hop does not matter: the walk stops first.
  EXPECT_EQ(ClientAddress(A("10.0.0.2"), "garbage, 5.5.5.5", trusted), A("5.5.5.5"));
}

TEST(ClientAddress, Ipv6AndMappedEntries) {
  const CidrList trusted = Cidrs("fd00::/8, 10.0.0.0/8");
  EXPECT_EQ(ClientAddress(A("fd00::2"), "2001:db8::7, fd00::9", trusted), A("2001:db8::7"));
  // A v6 proxy forwarding a v4 client, and a v4 proxy that logged a mapped one.
  EXPECT_EQ(ClientAddress(A("fd00::2"), "198.51.100.7", trusted), A("198.51.100.7"));
  EXPECT_EQ(ClientAddress(A("10.0.0.2"), "::ffff:198.51.100.7", trusted), A("198.51.100.7"));
  // A mapped peer in a v4 range is trusted, and a mapped trusted hop is skipped.
  EXPECT_EQ(ClientAddress(A("::ffff:10.0.0.2"), "2001:db8::7, ::ffff:10.8.8.8", trusted),
            A("2001:db8::7"));
  EXPECT_TRUE(ClientAddress(A("::ffff:10.0.0.2"), "", trusted).is_v4());
}

TEST(IsLoopback, KnowsV4V6AndMapped) {
  EXPECT_TRUE(IsLoopback(A("127.0.0.1")));
  EXPECT_TRUE(IsLoopback(A("127.1.2.3")));
  EXPECT_TRUE(IsLoopback(A("::1")));
  EXPECT_TRUE(IsLoopback(A("::ffff:127.0.0.1")));
  EXPECT_FALSE(IsLoopback(A("128.0.0.1")));
  EXPECT_FALSE(IsLoopback(A("::2")));
  EXPECT_FALSE(IsLoopback(A("::ffff:10.0.0.1")));
  EXPECT_FALSE(IsLoopback(A("0.0.0.0")));
  EXPECT_FALSE(IsLoopback(A("::")));
}

TEST(Unmapped, TurnsOnlyMappedAddressesIntoIpv4) {
  EXPECT_EQ(Unmapped(A("::ffff:1.2.3.4")), A("1.2.3.4"));
  EXPECT_TRUE(Unmapped(A("::ffff:1.2.3.4")).is_v4());
  EXPECT_EQ(Unmapped(A("2001:db8::1")), A("2001:db8::1"));
  EXPECT_EQ(Unmapped(A("1.2.3.4")), A("1.2.3.4"));
  // IPv4-compatible (deprecated ::a.b.c.d) is not mapped.
  EXPECT_TRUE(Unmapped(A("::1.2.3.4")).is_v6());
}

}  // namespace
}  // namespace firstcome::edge
