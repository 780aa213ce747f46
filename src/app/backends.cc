#include "app/backends.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <map>

#include "gate/memory_gate.h"
#include "gate/redis_gate.h"
#include "log/kafka_log.h"
#include "log/sqlite_log.h"
#include "pipeline/log_replay.h"
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

// The memory gate's durable state is the log: replay it, event by event, as
// the consumer and the store count it (LogReplay: the event's current
// incarnation only, revoked issuances taken out).
Status RebuildFromLog(Gate& gate, Log& log, EventCatalog& catalog) {
  auto started = std::chrono::steady_clock::now();
  std::map<std::string, std::vector<Issuance>> by_event;
  std::size_t records = 0;
  Status s = log.ScanAll([&](const Issuance& i) {
    by_event[i.event_id].push_back(i);
    ++records;
  });
  if (!s.ok()) return s;
  std::size_t skipped = 0;
  for (auto& [event_id, issuances] : by_event) {
    auto event = catalog.Find(event_id);
    if (!event.ok()) return event.status();
    if (!*event) {
      skipped += issuances.size();  // a deleted event's
      continue;
    }
    LogReplay replay(**event);
    for (const Issuance& i : issuances) replay.Apply(i);
    replay.Finish();
    if (!replay.conflicts().empty()) {
      const auto& [holder, other] = replay.conflicts().front();
      return Status::Internal("log of event " + event_id + " gives seq " +
                              std::to_string(other.seq) + " to both " + holder.user_id + " and " +
                              other.user_id + "; run `firstcome audit --event " + event_id + "`");
    }
    if (Status r = gate.Rebuild(**event, replay.LiveRecords()); !r.ok()) return r;
  }
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  started)
                .count();
  spdlog::info(
      "gate rebuilt from the log: {} records of {} events in {} ms ({} of deleted "
      "events skipped)",
      records, by_event.size(), ms, skipped);
  return Status::Ok();
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
      auto gate = OpenRedisGate({.url = config.redis_url,
                                 .connections = static_cast<int>(config.redis_connections),
                                 .timeout = std::chrono::milliseconds(config.timeout_ms)});
      if (!gate.ok()) return gate.status();
      b.gate = std::move(gate).value();
    } else {
      b.gate = NewMemoryGate();
      if (!b.gate) return Status::Internal("memory gate not available");
      if (!b.log) return Status::Internal("the memory gate needs the log to rebuild from");
      if (Status s = RebuildFromLog(*b.gate, *b.log, *b.catalog); !s.ok()) return s;
    }
  }
  return b;
}

}  // namespace firstcome
