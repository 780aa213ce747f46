// SqliteStore: the embedded Store, a SQLite database (WAL) holding events,
// coupons and failed_events.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "store/store.h"

namespace firstcome {

struct SqliteStoreOptions {
  std::string path;  // e.g. data/store.db
  std::chrono::milliseconds busy_timeout{2000};
};

Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteStoreOptions& options);

}  // namespace firstcome
