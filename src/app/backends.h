// Backends: opens the Gate, Log and Store that a Config names, and brings the
// in-process gate back to the state the log says it had.
#pragma once

#include <memory>

#include "app/config.h"
#include "gate/gate.h"
#include "log/log.h"
#include "pipeline/event_catalog.h"
#include "store/store.h"

namespace firstcome {

struct Backends {
  std::unique_ptr<Store> store;
  std::unique_ptr<EventCatalog> catalog;
  std::unique_ptr<Log> log;    // null when not opened
  std::unique_ptr<Gate> gate;  // null when not opened
};

struct BackendNeeds {
  bool log = true;
  bool gate = true;
};

// Opens the store (and migrates it), then the log and the gate when needed.
// A MemoryGate is rebuilt from the log before this returns.
Result<Backends> OpenBackends(const Config& config, BackendNeeds needs);

}  // namespace firstcome
