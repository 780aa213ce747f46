#include "app/backends.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>

#include "gate/memory_gate.h"
#include "gate/redis_gate.h"
#include "log/kafka_log.h"
#include "log/sqlite_log.h"
#include "pipeline/gate_rebuild.h"
#include "store/mysql_store.h"
#include "store/sqlite_store.h"

namespace firstcome {

namespace {

Status EnsureDataDir(const Config& config) {
  std::error_code ec;
  std::filesystem::create_directories(config.data_dir, ec);
  if (ec) return Status::Invalid("cannot create data dir " + config.data_dir + ": " + ec.message());
  return Status::Ok();
}

Result<std::unique_ptr<Store>> OpenStore(const Config& config) {
  if (config.store == "mysql") {
    return OpenMysqlStore({.url = config.mysql_url,
                           .connections = static_cast<int>(config.mysql_connections),
                           .timeout = std::chrono::milliseconds(config.timeout_ms)});
  }
  if (Status s = EnsureDataDir(config); !s.ok()) return s;
  return OpenSqliteStore({.path = config.data_dir + "/store.db"});
}

Result<std::unique_ptr<Log>> OpenLog(const Config& config) {
  if (config.log == "kafka") {
    return OpenKafkaLog({.brokers = config.kafka_brokers,
                         .topic = config.kafka_topic,
                         .partitions = static_cast<int>(config.kafka_partitions),
                         .delivery_timeout = std::chrono::milliseconds(config.timeout_ms),
                         .linger = std::chrono::milliseconds(config.kafka_linger_ms)});
  }
  if (Status s = EnsureDataDir(config); !s.ok()) return s;
  return OpenSqliteLog({.path = config.data_dir + "/log.db",
                        .commit_delay = std::chrono::microseconds(config.log_commit_delay_us)});
}

}  // namespace

Result<Backends> OpenBackends(const Config& config, BackendNeeds needs) {
  Backends b;
  auto store = OpenStore(config);
  if (!store.ok()) return store.status();
  b.store = std::move(store).value();
  if (Status s = b.store->Migrate(); !s.ok()) return s;
  b.catalog = std::make_unique<EventCatalog>(
      *b.store,
      CatalogOptions{.refresh_interval = std::chrono::milliseconds(config.catalog_refresh_ms)});

  if (needs.log) {
    auto log = OpenLog(config);
    if (!log.ok()) return log.status();
    b.log = std::move(log).value();
  }
  if (needs.gate) {
    if (config.gate == "redis") {
      RedisGateOptions options{.url = config.redis_url,
                               .sentinels = config.redis_sentinels,
                               .master_name = config.redis_master_name,
                               .wait_replicas = static_cast<int>(config.redis_wait_replicas),
                               .connections = static_cast<int>(config.redis_connections),
                               .timeout = std::chrono::milliseconds(config.timeout_ms)};
      if (b.log) {
        // The failover fence's check (redis_fence.h): the whole gate from
        // the log and the store. Its grace covers an append started just
        // before the old primary died: the log's delivery timeout and a margin.
        options.check_after_failover = [log = b.log.get(), store = b.store.get(),
                                        catalog = b.catalog.get()](Gate& gate) {
          return RebuildGate(gate, *log, *store, *catalog,
                             {.with_store = true, .fail_on_conflict = false});
        };
        options.fence_grace = std::chrono::milliseconds(config.timeout_ms + 500);
      }
      auto gate = OpenRedisGate(options);
      if (!gate.ok()) return gate.status();
      b.gate = std::move(gate).value();
    } else {
      // No settler runs against the in-process gate (main.cc): nothing to track.
      b.gate = NewMemoryGate({.track_pending = false});
      if (!b.gate) return Status::Internal("memory gate not available");
      if (!b.log) return Status::Internal("the memory gate needs the log to rebuild from");
      if (Status s = RebuildGate(*b.gate, *b.log, *b.store, *b.catalog, {}); !s.ok()) return s;
    }
  }
  return b;
}

}  // namespace firstcome
