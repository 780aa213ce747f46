// RebuildGate: brings a gate back to what the durable log says was handed
// out, event by event (every event the store holds, its current incarnation,
// revoked issuances taken out: LogReplay). The embedded mode's memory gate
// runs it at every start; the Redis gate's failover fence runs it after the
// primary changed (docs/design.md, "Losing a server").
//
// Invariant kept: a seq in the log (or, with `with_store`, in the store) is
// held in the gate afterwards, by the user the log names, so it is never
// handed out again; admissions the gate held that the log lacks are let go
// (nobody was told "issued" for them).
#pragma once

#include "gate/gate.h"
#include "log/log.h"
#include "pipeline/event_catalog.h"
#include "store/store.h"

namespace firstcome {

struct GateRebuildOptions {
  // Also keep what the store holds and the log lacks (a log whose retention
  // dropped old records). The memory gate's store is fed from its own
  // complete log and skips this.
  bool with_store = false;
  // Two records holding one seq: stop with an error (at start, an operator
  // runs audit), or keep the first and go on (the fence must not stay shut).
  bool fail_on_conflict = true;
};

Status RebuildGate(Gate& gate, Log& log, Store& store, EventCatalog& catalog,
                   const GateRebuildOptions& options);

}  // namespace firstcome
