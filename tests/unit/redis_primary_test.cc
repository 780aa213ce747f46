// The parts of src/gate/redis_primary.* that need no server: the Sentinel
// list and which error replies mean "not the primary (any more)". Following a
// real failover is tested in tests/ha/ha_test.cc.
#include "gate/redis_primary.h"

#include <gtest/gtest.h>

#include <cstring>

namespace firstcome::redis {
namespace {

TEST(ParseSentinels, TakesHostPortListsWithSpacesAndIpv6) {
  auto list = ParseSentinels("10.0.0.1:26379, sentinel-b:26380,[::1]:26381");
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0].host, "10.0.0.1");
  EXPECT_EQ((*list)[0].port, 26379);
  EXPECT_EQ((*list)[1].host, "sentinel-b");
  EXPECT_EQ((*list)[1].port, 26380);
  EXPECT_EQ((*list)[2].host, "::1");
  EXPECT_EQ((*list)[2].port, 26381);
}

TEST(ParseSentinels, RefusesWhatIsNotHostPort) {
  for (const char* bad : {"", ",", "host", "[::1]", "host:0", "host:65536", "host:x", "a:1,,b:2",
                          "host:1/2", "user@host:1"}) {
    auto list = ParseSentinels(bad);
    EXPECT_FALSE(list.ok()) << "'" << bad << "'";
    if (!list.ok()) {
      EXPECT_EQ(list.status().code(), Status::Code::kInvalid) << bad;
    }
  }
}

TEST(IsNotPrimary, ReadOnlyNoReplicasAndMasterDownDropTheConnection) {
  auto reply = [](int type, const char* text) {
    redisReply r{};
    r.type = type;
    r.str = const_cast<char*>(text);
    r.len = std::strlen(text);
    return r;
  };
  EXPECT_TRUE(
      IsNotPrimary(reply(REDIS_REPLY_ERROR, "READONLY You can't write against a replica.")));
  EXPECT_TRUE(IsNotPrimary(reply(REDIS_REPLY_ERROR, "NOREPLICAS Not enough good replicas")));
  EXPECT_TRUE(IsNotPrimary(reply(REDIS_REPLY_ERROR, "MASTERDOWN Link with MASTER is down")));
  EXPECT_FALSE(IsNotPrimary(reply(REDIS_REPLY_ERROR, "ERR unknown command")));
  EXPECT_FALSE(IsNotPrimary(reply(REDIS_REPLY_STATUS, "READONLY")));
}

}  // namespace
}  // namespace firstcome::redis
