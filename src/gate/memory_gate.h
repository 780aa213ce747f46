// MemoryGate: the embedded Gate. Per event a count, a free-seq list and a
// per-user record, guarded so that each Admit is one atomic decision.
// Its state lives only in memory: on start it is rebuilt from the log.
#pragma once

#include <memory>

#include "gate/gate.h"

namespace firstcome {

std::unique_ptr<Gate> NewMemoryGate();

}  // namespace firstcome
