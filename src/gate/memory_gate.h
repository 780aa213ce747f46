// MemoryGate: the embedded Gate. Per event a count, a free-seq list and a
// per-user record, guarded so that each Admit is one atomic decision.
// Its state lives only in memory: on start it is rebuilt from the log.
//
// Thread safety (adds to gate.h):
//   - every method: may be called concurrently from any thread; decisions for
//     users of different shards of an event never wait for each other.
//   - callbacks: always run inline on the calling thread, before Admit or
//     Release returns, after every gate lock is released.
#pragma once

#include <memory>

#include "gate/gate.h"

namespace firstcome {

std::unique_ptr<Gate> NewMemoryGate();

}  // namespace firstcome
