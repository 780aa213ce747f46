// Config: every setting of Firstcome, as one plain struct built once at start
// (defaults → config file → environment → flags; later sources win) and passed
// down. Nothing else reads the environment.
//
// Each setting `name` has the flag --name-with-dashes, the environment variable
// FIRSTCOME_NAME_IN_CAPS and the file key name (TOML, top level).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"

namespace CLI {
class App;
}

namespace firstcome {

struct Config {
  std::string config;  // path of the config file ("" = none)

  std::string role = "all";      // all | api | consumer
  std::string gate = "memory";   // memory | redis
  std::string log = "embedded";  // embedded | kafka
  std::string store = "sqlite";  // sqlite | mysql
  std::string redis_url = "redis://127.0.0.1:6379";
  // High availability (docs/api.md, "High availability"): when set, the Redis
  // primary is found through these Sentinels (redis_url is then not used).
  std::string redis_sentinels;  // host:port[,host:port]
  std::string redis_master_name = "firstcome";
  std::int64_t redis_wait_replicas = 0;  // replicas that must have an admission before it is logged
  std::string kafka_brokers = "127.0.0.1:9092";
  std::string mysql_url = "mysql://firstcome:firstcome@127.0.0.1:3306/firstcome";
  std::string admin_token;

  std::string bind = "0.0.0.0";
  std::int64_t port = 8080;
  std::string data_dir = "./data";
  std::int64_t http_threads = 0;  // 0: one per core
  std::int64_t max_body_bytes = 64 * 1024;

  std::int64_t redis_connections = 2;
  std::string kafka_topic = "firstcome.issuances";
  std::int64_t kafka_partitions = 6;
  std::int64_t kafka_linger_ms = 1;
  std::int64_t log_commit_delay_us = 300;
  std::int64_t mysql_connections = 4;
  std::int64_t timeout_ms = 3000;  // external calls (Redis, Kafka delivery, MariaDB)

  std::string consumer_group = "firstcome-store";
  std::int64_t consumer_batch_size = 2000;
  double consumer_max_rows_per_second = 50000;  // 0: unlimited
  std::int64_t consumer_linger_ms = 50;         // after a partial batch, gather this long
  std::int64_t retry_interval_ms = 1000;
  std::int64_t retry_max_attempts = 10;
  // Every process checks the store this often for events changed elsewhere
  // (closed, total, deleted): such a change reaches every process within
  // about 4x this (1 s at the default).
  std::int64_t catalog_refresh_ms = 250;
  // An admission the log has not acknowledged after this long (its API
  // process died or hung) is appended to the log by a settler running in
  // every process that shares a gate (docs/design.md, "API crash
  // self-healing"). 0: off (then only audit --repair settles them).
  std::int64_t settle_after_ms = 10000;
  // Events whose figures GET /metrics exports (the most recently created);
  // each costs a gate and a store query (counting its rows) per scrape. 0:
  // none (bench/run's drain, which scrapes every 20 ms, uses it).
  std::int64_t metrics_max_events = 100;

  std::string log_level = "info";   // trace | debug | info | warn | error
  std::string log_format = "text";  // text | json (one JSON object per line)

  // Identity: who the user of an issue request is (docs/api.md, "Identity").
  std::string user_auth = "body";  // body | jwt | header
  std::string jwt_secret;          // HS256
  std::string jwt_public_key;      // PEM file: RS256 (RSA key) or ES256 (P-256 key)
  std::string jwt_issuer;          // checked when set
  std::string jwt_audience;        // checked when set
  std::int64_t jwt_leeway_s = 30;  // clock skew allowed on exp and nbf
  std::string user_header = "X-User-Id";
  std::string trusted_proxies;  // comma-separated CIDRs

  // Limits (docs/api.md, "Limits").
  double rate_limit_ip = 0;               // requests/s per client address, burst 2x; 0: off
  double rate_limit_user = 0;             // issue attempts/s per user; 0: off
  std::int64_t rate_limit_keys = 100000;  // buckets kept per limit (memory bound)
  std::int64_t max_connections = 10000;
  std::int64_t max_in_flight = 10000;  // admissions waiting for the log
};

// The raw inputs, so that building a Config is a pure function (unit-tested).
struct ConfigSources {
  std::string file_text;                     // TOML; "" when no file
  std::map<std::string, std::string> env;    // FIRSTCOME_* variables
  std::map<std::string, std::string> flags;  // setting name → value given on the command line
};

Result<Config> BuildConfig(const ConfigSources& sources);

// Adds one --flag per setting to `app`, writing what the user gave into `flags`.
void AddConfigFlags(CLI::App& app, std::map<std::string, std::string>& flags);

// Reads the config file named by --config / FIRSTCOME_CONFIG and the process
// environment, then applies `flags`.
Result<Config> LoadConfig(const std::map<std::string, std::string>& flags);

// The names of all settings (for documentation and tests).
std::vector<std::string> SettingNames();

}  // namespace firstcome
