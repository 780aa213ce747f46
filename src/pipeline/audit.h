// Audit: compares what the gate, the log and the store know of one event and
// reports every difference: admitted but never logged, logged but never
// persisted, persisted twice or past the total, users over their limit, a gate
// that lost state. The log counts as the consumer reads it: records of the
// event's current incarnation, revoked issuances taken out (LogReplay).
// With repair it mends what can be mended safely:
//   - first, every pending admission (gate.h) is settled as the settler does
//     (settler.h), whatever its age: its record is appended to the log;
//   - records in the log (or admitted by the gate) but not in the store are
//     persisted (refused ones go to the failed-event table for the retry job);
//   - other gate admissions missing from the log are appended to the log;
//   - a gate that lost entries is rebuilt from the union of log and store, so
//     no seq that was ever handed out is handed out again;
//   - a seq the log says was revoked but the gate still holds for that user
//     (the revocation's last step failed) is freed in the gate;
//   - a gate whose total is not the store's (a total change that failed
//     half-way) gets the store's.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gate/gate.h"
#include "log/log.h"
#include "store/store.h"

namespace firstcome {

struct AuditOptions {
  bool repair = false;
  // False when the gate is the in-process MemoryGate of another process: its
  // state is the log (rebuilt from it at every start), so it is not compared.
  bool gate_is_shared = true;
};

struct AuditReport {
  std::int64_t gate_admitted = -1;  // -1: not compared
  std::int64_t log_records = 0;     // of this incarnation, revocations included
  std::int64_t log_revocations = 0;
  std::int64_t store_rows = 0;
  std::int64_t failed = 0;
  std::int64_t dead = 0;
  std::vector<std::string> differences;
  std::vector<std::string> repairs;
  std::vector<std::string> notes;
  bool clean() const { return differences.empty(); }
  std::string ToText(const Event& event) const;
};

// gate may be null (not compared).
Result<AuditReport> AuditEvent(const Event& event, Gate* gate, Log& log, Store& store,
                               const AuditOptions& options);

}  // namespace firstcome
