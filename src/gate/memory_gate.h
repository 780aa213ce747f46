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

struct MemoryGateOptions {
  // Record every admission as pending until Acknowledge (gate.h), so that
  // ClaimUnlogged can hand it to a settler and Withdraw can refuse a claimed
  // one. The embedded server turns it off: its gate lives and dies with the
  // one process that admits, so no settler ever runs against it, and the
  // bookkeeping (a map insert and a string copy per admission, a lookup per
  // acknowledgement) would sit on the request path for nothing. Off,
  // ClaimUnlogged finds nothing and Withdraw is Release.
  bool track_pending = true;
};

std::unique_ptr<Gate> NewMemoryGate(MemoryGateOptions options = {});

}  // namespace firstcome
