// The whole-event reads and writes of RedisGate on its control connection:
// the snapshot audit compares, the rebuild that replaces an event's state,
// and the scan of its users hash. Internal to src/gate (keys and invariants:
// redis_gate.h).
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "gate/gate.h"
#include "gate/redis_primary.h"
#include "gate/redis_scripts.h"

namespace firstcome::redis {

// Calls `visit` with every user of the users hash and its stored value
// (HSCAN may repeat a field: the later call wins).
Status ScanUsers(ControlConnection& control, const EventKeys& keys,
                 const std::function<void(std::string, std::string_view)>& visit);

Result<GateSnapshot> ReadSnapshot(ControlConnection& control, const Event& event);

// Replaces the event's state by the issuances given, in one MULTI/EXEC.
Status WriteRebuild(ControlConnection& control, const Event& event,
                    const std::vector<Issuance>& issuances);

}  // namespace firstcome::redis
