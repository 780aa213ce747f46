#include "app/config.h"

#include <gtest/gtest.h>

namespace firstcome {
namespace {

TEST(Config, DefaultsRunTheEmbeddedPipelineOnPort8080) {
  auto c = BuildConfig({});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->role, "all");
  EXPECT_EQ(c->gate, "memory");
  EXPECT_EQ(c->log, "embedded");
  EXPECT_EQ(c->store, "sqlite");
  EXPECT_EQ(c->port, 8080);
  EXPECT_EQ(c->data_dir, "./data");
}

TEST(Config, FlagsBeatEnvironmentBeatsFile) {
  ConfigSources s;
  s.file_text = "port = 1111\ndata_dir = \"/from/file\"\nadmin_token = \"file\"\n";
  s.env = {{"FIRSTCOME_PORT", "2222"}, {"FIRSTCOME_ADMIN_TOKEN", "env"}};
  s.flags = {{"port", "3333"}};
  auto c = BuildConfig(s);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->port, 3333);              // flag over env and file
  EXPECT_EQ(c->admin_token, "env");      // env over file
  EXPECT_EQ(c->data_dir, "/from/file");  // file over default
}

TEST(Config, EveryContractSettingHasAnEnvironmentName) {
  ConfigSources s;
  s.env = {{"FIRSTCOME_ROLE", "api"},
           {"FIRSTCOME_GATE", "redis"},
           {"FIRSTCOME_LOG", "kafka"},
           {"FIRSTCOME_STORE", "mysql"},
           {"FIRSTCOME_REDIS_URL", "redis://10.0.0.1:6380/2"},
           {"FIRSTCOME_KAFKA_BROKERS", "a:1,b:2"},
           {"FIRSTCOME_MYSQL_URL", "mysql://u:p@h:3307/d"},
           {"FIRSTCOME_ADMIN_TOKEN", "t"}};
  auto c = BuildConfig(s);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->role, "api");
  EXPECT_EQ(c->gate, "redis");
  EXPECT_EQ(c->log, "kafka");
  EXPECT_EQ(c->store, "mysql");
  EXPECT_EQ(c->redis_url, "redis://10.0.0.1:6380/2");
  EXPECT_EQ(c->kafka_brokers, "a:1,b:2");
  EXPECT_EQ(c->mysql_url, "mysql://u:p@h:3307/d");
  EXPECT_EQ(c->admin_token, "t");
}

TEST(Config, RejectsBadValuesWithTheirSource) {
  auto bad_env = BuildConfig({.env = {{"FIRSTCOME_PORT", "eighty"}}});
  ASSERT_FALSE(bad_env.ok());
  EXPECT_NE(bad_env.status().message().find("FIRSTCOME_PORT"), std::string::npos);
  EXPECT_FALSE(BuildConfig({.flags = {{"gate", "memcached"}}}).ok());
  EXPECT_FALSE(BuildConfig({.flags = {{"port", "70000"}}}).ok());
  EXPECT_FALSE(BuildConfig({.file_text = "nonsense = 1\n"}).ok());
  EXPECT_FALSE(BuildConfig({.file_text = "port = [1, 2]\n"}).ok());
  EXPECT_FALSE(BuildConfig({.file_text = "port = \n"}).ok());
  EXPECT_FALSE(BuildConfig({.flags = {{"metrics_max_events", "-1"}}}).ok());
  EXPECT_FALSE(BuildConfig({.flags = {{"metrics_max_events", "10001"}}}).ok());
  EXPECT_EQ(BuildConfig({})->metrics_max_events, 100);
  EXPECT_EQ(BuildConfig({.flags = {{"metrics_max_events", "0"}}})->metrics_max_events, 0);
}

TEST(Config, LogFormatTextOrJsonFromEverySource) {
  EXPECT_EQ(BuildConfig({})->log_format, "text");
  EXPECT_EQ(BuildConfig({.file_text = "log_format = \"json\"\n"})->log_format, "json");
  EXPECT_EQ(BuildConfig({.env = {{"FIRSTCOME_LOG_FORMAT", "json"}}})->log_format, "json");
  EXPECT_EQ(
      BuildConfig({.env = {{"FIRSTCOME_LOG_FORMAT", "json"}}, .flags = {{"log_format", "text"}}})
          ->log_format,
      "text");
  EXPECT_FALSE(BuildConfig({.flags = {{"log_format", "xml"}}}).ok());
}

TEST(Config, SplitRolesNeedSharedBackends) {
  EXPECT_FALSE(BuildConfig({.flags = {{"role", "api"}}}).ok());
  EXPECT_TRUE(BuildConfig({.flags = {{"role", "api"}, {"gate", "redis"}, {"log", "kafka"}}}).ok());
}

TEST(Config, HighAvailabilitySettingsFromEverySource) {
  auto defaults = BuildConfig({});
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->redis_sentinels, "");
  EXPECT_EQ(defaults->redis_master_name, "firstcome");
  EXPECT_EQ(defaults->redis_wait_replicas, 0);
  ConfigSources s;
  s.file_text = "redis_sentinels = \"10.0.0.1:26379,10.0.0.2:26379\"\n";
  s.env = {{"FIRSTCOME_REDIS_MASTER_NAME", "drops"}, {"FIRSTCOME_REDIS_WAIT_REPLICAS", "2"}};
  s.flags = {{"redis_wait_replicas", "1"}};
  auto c = BuildConfig(s);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->redis_sentinels, "10.0.0.1:26379,10.0.0.2:26379");
  EXPECT_EQ(c->redis_master_name, "drops");
  EXPECT_EQ(c->redis_wait_replicas, 1);
  EXPECT_FALSE(BuildConfig({.flags = {{"redis_wait_replicas", "-1"}}}).ok());
  EXPECT_FALSE(BuildConfig({.flags = {{"redis_wait_replicas", "17"}}}).ok());
  EXPECT_FALSE(
      BuildConfig({.flags = {{"redis_sentinels", "a:1"}, {"redis_master_name", ""}}}).ok());
}

}  // namespace
}  // namespace firstcome
