#include "pipeline/gate_rebuild.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "pipeline/log_replay.h"

namespace firstcome {

Status RebuildGate(Gate& gate, Log& log, Store& store, EventCatalog& catalog,
                   const GateRebuildOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  std::map<std::string, std::vector<Issuance>> by_event;
  std::size_t records = 0;
  Status s = log.ScanAll([&](const Issuance& i) {
    by_event[i.event_id].push_back(i);
    ++records;
  });
  if (!s.ok()) return s;
  auto events = catalog.List();
  if (!events.ok()) return events.status();
  std::size_t conflicts = 0;
  for (const auto& event : *events) {
    LogReplay replay(*event);
    for (const Issuance& i : by_event[event->id]) replay.Apply(i);
    replay.Finish();
    if (!replay.conflicts().empty()) {
      const auto& [holder, other] = replay.conflicts().front();
      const std::string what = "log of event " + event->id + " gives seq " +
                               std::to_string(other.seq) + " to both " + holder.user_id + " and " +
                               other.user_id + "; run `firstcome audit --event " + event->id + "`";
      if (options.fail_on_conflict) return Status::Internal(what);
      spdlog::error("{}", what);
      conflicts += replay.conflicts().size();
    }
    std::map<std::int64_t, Issuance> held;
    for (Issuance& i : replay.LiveRecords()) held.emplace(i.seq, std::move(i));
    if (options.with_store) {
      // The store holds rows of the event's current incarnation only.
      Status scan = store.ScanCoupons(event->id, [&](const Issuance& row) {
        if (replay.Revoked(row.seq, row.user_id)) return;
        Issuance i = row;
        i.incarnation = event->incarnation;
        held.try_emplace(i.seq, std::move(i));
      });
      if (!scan.ok()) return scan;
    }
    std::vector<Issuance> all;
    all.reserve(held.size());
    for (auto& [seq, i] : held) all.push_back(std::move(i));
    if (Status r = gate.Rebuild(*event, all); !r.ok()) return r;
  }
  spdlog::info(
      "gate rebuilt from the log{}: {} records, {} events, {} conflicts kept apart, in {} ms",
      options.with_store ? " and the store" : "", records, events->size(), conflicts,
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                            started)
          .count());
  return Status::Ok();
}

}  // namespace firstcome
