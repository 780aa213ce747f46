#include "app/config.h"

#include <toml++/toml.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <fstream>
#include <optional>
#include <sstream>
#include <variant>

#include "core/numbers.h"

extern char** environ;

namespace firstcome {

namespace {

using Field = std::variant<std::string Config::*, std::int64_t Config::*, double Config::*>;

struct Setting {
  const char* name;
  Field field;
  const char* help;
};

const std::vector<Setting>& Settings() {
  static const std::vector<Setting> kSettings = {
      {"config", &Config::config, "TOML config file"},
      {"role", &Config::role, "all | api | consumer"},
      {"gate", &Config::gate, "memory | redis"},
      {"log", &Config::log, "embedded | kafka"},
      {"store", &Config::store, "sqlite | mysql"},
      {"redis_url", &Config::redis_url, "redis://host:port[/db]"},
      {"redis_sentinels", &Config::redis_sentinels,
       "host:port[,host:port]; when set, the Redis primary is found through Sentinel"},
      {"redis_master_name", &Config::redis_master_name, "Sentinel's name for the Redis primary"},
      {"redis_wait_replicas", &Config::redis_wait_replicas,
       "Redis replicas that must have an admission before it is logged (0: none)"},
      {"kafka_brokers", &Config::kafka_brokers, "host:port[,host:port]"},
      {"mysql_url", &Config::mysql_url, "mysql://user:pass@host:port/db"},
      {"admin_token", &Config::admin_token, "bearer token for admin calls"},
      {"bind", &Config::bind, "address to listen on"},
      {"port", &Config::port, "HTTP port"},
      {"data_dir", &Config::data_dir, "folder of the embedded log and store"},
      {"http_threads", &Config::http_threads, "HTTP I/O threads (0: one per core)"},
      {"max_body_bytes", &Config::max_body_bytes, "largest request body accepted"},
      {"redis_connections", &Config::redis_connections, "pipelined Redis connections"},
      {"kafka_topic", &Config::kafka_topic, "Kafka topic of issuances"},
      {"kafka_partitions", &Config::kafka_partitions, "partitions when the topic is created"},
      {"kafka_linger_ms", &Config::kafka_linger_ms,
       "producer wait to fill a batch (latency vs. fewer requests)"},
      {"log_commit_delay_us", &Config::log_commit_delay_us,
       "embedded log: wait before a commit while appends arrive concurrently (0: off)"},
      {"mysql_connections", &Config::mysql_connections, "MariaDB/MySQL connections"},
      {"timeout_ms", &Config::timeout_ms, "timeout of external calls"},
      {"consumer_group", &Config::consumer_group, "log consumer group"},
      {"consumer_batch_size", &Config::consumer_batch_size, "records per store transaction"},
      {"consumer_max_rows_per_second", &Config::consumer_max_rows_per_second,
       "store write rate limit (0: none)"},
      {"consumer_linger_ms", &Config::consumer_linger_ms,
       "after a partial batch, wait this long so the next one gathers more (0: off)"},
      {"retry_interval_ms", &Config::retry_interval_ms, "how often the retry job runs"},
      {"retry_max_attempts", &Config::retry_max_attempts, "attempts before a failed event is dead"},
      {"catalog_refresh_ms", &Config::catalog_refresh_ms,
       "how often each process checks the store for changed events (close, total, delete)"},
      {"settle_after_ms", &Config::settle_after_ms,
       "log an admission no process confirmed after this long (a killed API process; 0: off)"},
      {"metrics_max_events", &Config::metrics_max_events,
       "events whose figures /metrics exports, newest first (each: a store query per scrape)"},
      {"log_level", &Config::log_level, "trace | debug | info | warn | error"},
      {"log_format", &Config::log_format, "text | json (one JSON object per line)"},
      {"user_auth", &Config::user_auth, "who the issuing user is: body | jwt | header"},
      {"jwt_secret", &Config::jwt_secret, "HS256 secret of user JWTs"},
      {"jwt_public_key", &Config::jwt_public_key,
       "PEM file of the RS256 (RSA) or ES256 (P-256) key of user JWTs"},
      {"jwt_issuer", &Config::jwt_issuer, "required iss of user JWTs (when set)"},
      {"jwt_audience", &Config::jwt_audience, "required aud of user JWTs (when set)"},
      {"jwt_leeway_s", &Config::jwt_leeway_s, "clock skew allowed on exp and nbf, seconds"},
      {"user_header", &Config::user_header, "header naming the user (user_auth = header)"},
      {"trusted_proxies", &Config::trusted_proxies,
       "comma-separated CIDRs whose X-Forwarded-For and user header are believed"},
      {"rate_limit_ip", &Config::rate_limit_ip, "requests/s per client address, burst 2x (0: off)"},
      {"rate_limit_user", &Config::rate_limit_user, "issue attempts/s per user (0: off)"},
      {"rate_limit_keys", &Config::rate_limit_keys,
       "client addresses / users tracked per rate limit (memory bound)"},
      {"max_connections", &Config::max_connections, "open connections at most"},
      {"max_in_flight", &Config::max_in_flight,
       "admissions waiting for the log at most (beyond: 503)"},
  };
  return kSettings;
}

std::string EnvName(std::string_view name) {
  std::string out = "FIRSTCOME_";
  for (char c : name) out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string FlagName(std::string_view name) {
  std::string out = "--";
  for (char c : name) out += c == '_' ? '-' : c;
  return out;
}

Status Assign(Config& config, const Setting& s, const std::string& text, const std::string& from) {
  auto bad = [&](const char* what) {
    return Status::Invalid(from + ": " + s.name + " must be " + what + ", got '" + text + "'");
  };
  if (auto f = std::get_if<std::string Config::*>(&s.field)) {
    config.*(*f) = text;
  } else if (auto f = std::get_if<std::int64_t Config::*>(&s.field)) {
    std::optional<std::int64_t> v = ParseInt64(text);
    if (!v) return bad("a whole number");
    config.*(*f) = *v;
  } else if (auto f = std::get_if<double Config::*>(&s.field)) {
    try {
      std::size_t used = 0;
      double v = std::stod(text, &used);
      if (used != text.size()) return bad("a number");
      config.*(*f) = v;
    } catch (const std::exception&) {
      return bad("a number");
    }
  }
  return Status::Ok();
}

Status OneOf(const std::string& name, const std::string& value,
             std::initializer_list<const char*> allowed) {
  for (const char* a : allowed) {
    if (value == a) return Status::Ok();
  }
  std::string list;
  for (const char* a : allowed) list += list.empty() ? a : std::string(" | ") + a;
  return Status::Invalid(name + " must be " + list + ", got '" + value + "'");
}

Status Validate(const Config& c) {
  for (const Status& s :
       {OneOf("role", c.role, {"all", "api", "consumer"}),
        OneOf("gate", c.gate, {"memory", "redis"}), OneOf("log", c.log, {"embedded", "kafka"}),
        OneOf("store", c.store, {"sqlite", "mysql"}),
        OneOf("log_level", c.log_level, {"trace", "debug", "info", "warn", "error"}),
        OneOf("log_format", c.log_format, {"text", "json"}),
        OneOf("user_auth", c.user_auth, {"body", "jwt", "header"})}) {
    if (!s.ok()) return s;
  }
  if (c.port < 0 || c.port > 65535) return Status::Invalid("port must be 0..65535");
  if (c.http_threads < 0 || c.http_threads > 256)
    return Status::Invalid("http_threads must be 0..256");
  if (c.max_body_bytes < 256 || c.max_body_bytes > 16 * 1024 * 1024) {
    return Status::Invalid("max_body_bytes must be 256..16777216");
  }
  if (c.consumer_batch_size < 1 || c.consumer_batch_size > 100000) {
    return Status::Invalid("consumer_batch_size must be 1..100000");
  }
  if (c.consumer_linger_ms < 0 || c.consumer_linger_ms > 10000) {
    return Status::Invalid("consumer_linger_ms must be 0..10000");
  }
  if (c.consumer_max_rows_per_second < 0) {
    return Status::Invalid("consumer_max_rows_per_second must be >= 0");
  }
  if (c.timeout_ms < 1 || c.retry_interval_ms < 1 || c.retry_max_attempts < 1 ||
      c.redis_connections < 1 || c.mysql_connections < 1 || c.kafka_partitions < 1) {
    return Status::Invalid(
        "timeouts, intervals, attempts, connections and partitions must be >= 1");
  }
  if (c.redis_wait_replicas < 0 || c.redis_wait_replicas > 16) {
    return Status::Invalid("redis_wait_replicas must be 0..16");
  }
  if (!c.redis_sentinels.empty() && c.redis_master_name.empty()) {
    return Status::Invalid("redis_master_name must not be empty");
  }
  if (c.catalog_refresh_ms < 10 || c.catalog_refresh_ms > 10000) {
    return Status::Invalid("catalog_refresh_ms must be 10..10000");
  }
  if (c.metrics_max_events < 0 || c.metrics_max_events > 10000) {
    return Status::Invalid("metrics_max_events must be 0..10000");
  }
  if (c.settle_after_ms != 0 && (c.settle_after_ms < 100 || c.settle_after_ms > 3600000)) {
    return Status::Invalid("settle_after_ms must be 0 (off) or 100..3600000");
  }
  if (c.kafka_linger_ms < 0 || c.kafka_linger_ms > 1000) {
    return Status::Invalid("kafka_linger_ms must be 0..1000");
  }
  if (c.log_commit_delay_us < 0 || c.log_commit_delay_us > 100000) {
    return Status::Invalid("log_commit_delay_us must be 0..100000");
  }
  if (c.user_auth == "jwt" && c.jwt_secret.empty() == c.jwt_public_key.empty()) {
    return Status::Invalid("user_auth = jwt needs exactly one of jwt_secret and jwt_public_key");
  }
  if (c.user_auth == "header" && c.trusted_proxies.empty()) {
    return Status::Invalid(
        "user_auth = header needs trusted_proxies (the peers allowed to name the user)");
  }
  if (c.user_auth == "header" && c.user_header.empty()) {
    return Status::Invalid("user_header must not be empty");
  }
  if (c.jwt_leeway_s < 0 || c.jwt_leeway_s > 3600) {
    return Status::Invalid("jwt_leeway_s must be 0..3600");
  }
  if (c.rate_limit_ip < 0 || c.rate_limit_user < 0) {
    return Status::Invalid("rate_limit_ip and rate_limit_user must be >= 0 (0: off)");
  }
  if (c.rate_limit_keys < 16 || c.rate_limit_keys > 100000000) {
    return Status::Invalid("rate_limit_keys must be 16..100000000");
  }
  if (c.max_connections < 1 || c.max_connections > 10000000 || c.max_in_flight < 1 ||
      c.max_in_flight > 10000000) {
    return Status::Invalid("max_connections and max_in_flight must be 1..10000000");
  }
  if (c.gate == "memory" && c.role != "all") {
    return Status::Invalid(
        "the memory gate lives inside one process: --role api/consumer need --gate redis");
  }
  if (c.log == "embedded" && c.role != "all") {
    return Status::Invalid(
        "the embedded log lives inside one process: --role api/consumer need --log kafka");
  }
  return Status::Ok();
}

}  // namespace

std::vector<std::string> SettingNames() {
  std::vector<std::string> names;
  for (const auto& s : Settings()) names.push_back(s.name);
  return names;
}

Result<Config> BuildConfig(const ConfigSources& sources) {
  Config config;
  if (!sources.file_text.empty()) {
    toml::table table;
    try {
      table = toml::parse(sources.file_text);
    } catch (const toml::parse_error& e) {
      std::ostringstream msg;
      msg << "config file: " << e.description() << " at line " << e.source().begin.line;
      return Status::Invalid(msg.str());
    }
    for (auto&& entry : table) {
      // Not a structured binding: clang 14 (the fuzz build) cannot capture one.
      const toml::key& key = entry.first;
      const toml::node& node = entry.second;
      auto it = std::find_if(Settings().begin(), Settings().end(),
                             [&](const Setting& s) { return key.str() == s.name; });
      if (it == Settings().end()) {
        return Status::Invalid("config file: unknown key '" + std::string(key.str()) + "'");
      }
      std::string text;
      if (auto v = node.value<std::string>(); v && node.is_string()) {
        text = *v;
      } else if (node.is_integer()) {
        text = std::to_string(*node.value<std::int64_t>());
      } else if (node.is_floating_point()) {
        text = std::to_string(*node.value<double>());
      } else {
        return Status::Invalid("config file: " + std::string(key.str()) +
                               " must be a string or a number");
      }
      if (Status s = Assign(config, *it, text, "config file"); !s.ok()) return s;
    }
  }
  for (const Setting& s : Settings()) {
    if (auto it = sources.env.find(EnvName(s.name)); it != sources.env.end()) {
      if (Status st = Assign(config, s, it->second, it->first); !st.ok()) return st;
    }
  }
  for (const Setting& s : Settings()) {
    if (auto it = sources.flags.find(s.name); it != sources.flags.end()) {
      if (Status st = Assign(config, s, it->second, FlagName(s.name)); !st.ok()) return st;
    }
  }
  if (Status s = Validate(config); !s.ok()) return s;
  return config;
}

void AddConfigFlags(CLI::App& app, std::map<std::string, std::string>& flags) {
  for (const Setting& s : Settings()) {
    std::string name = s.name;
    std::string help = std::string(s.help) + " [env " + EnvName(name) + "]";
    app.add_option_function<std::string>(
           FlagName(name), [&flags, name](const std::string& v) { flags[name] = v; }, help)
        ->type_name("");
  }
}

Result<Config> LoadConfig(const std::map<std::string, std::string>& flags) {
  ConfigSources sources;
  sources.flags = flags;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view kv(*e);
    if (kv.rfind("FIRSTCOME_", 0) != 0) continue;
    auto eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    sources.env.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  std::string path;
  if (auto it = flags.find("config"); it != flags.end()) {
    path = it->second;
  } else if (auto it = sources.env.find("FIRSTCOME_CONFIG"); it != sources.env.end()) {
    path = it->second;
  }
  if (!path.empty()) {
    std::ifstream in(path);
    if (!in) return Status::Invalid("cannot read config file " + path);
    std::stringstream text;
    text << in.rdbuf();
    sources.file_text = text.str();
    if (sources.file_text.empty()) sources.file_text = "\n";
  }
  return BuildConfig(sources);
}

}  // namespace firstcome
