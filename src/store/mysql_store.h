// MysqlStore: the distributed Store on MariaDB / MySQL through the libmariadb C
// API. Prepared statements only; schema created on start; inserts in bulk
// executions (MariaDB's array binding) or multi-row statements; a small pool
// of connections, each used by one thread at a time.
//
// Timeouts: `timeout` bounds connecting, every read and every write (rounded
// up to whole seconds, the client library's unit) and the wait for a free
// connection. A call that meets a dead or silent server returns kUnavailable;
// its connection is dropped and a new one is opened by a later call, so the
// same store object works again once the server is back.
//
// Thread safety (adds to store.h):
//   - every method: may be called concurrently from any thread; up to
//     `connections` calls run at once, each on a pooled connection of its
//     own; a further call waits at most `timeout` for one, then fails
//     Unavailable.
//   - callbacks: ScanCoupons' `visit` runs between pages, with no connection
//     held.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "store/store.h"

namespace firstcome {

struct MysqlStoreOptions {
  std::string url;  // mysql://user:pass@host:port/db
  int connections = 4;
  std::chrono::milliseconds timeout{3000};  // connect, read and write
  // Insert coupons with MariaDB's bulk executions (array binding) when the
  // server takes them; false: multi-row INSERTs always (what MySQL gets).
  bool bulk_inserts = true;
};

Result<std::unique_ptr<Store>> OpenMysqlStore(const MysqlStoreOptions& options);

}  // namespace firstcome
