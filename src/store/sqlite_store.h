// SqliteStore: the embedded Store, a SQLite database (WAL) holding events,
// coupons and failed_events.
//
// Thread safety (adds to store.h):
//   - writes (Migrate, CreateEvent, InsertCoupons, RecordFailure,
//     ResolveFailure, RescheduleFailure): may be called concurrently from any
//     thread; they run one at a time on the write connection.
//   - short reads (GetEvent, ListEvents, CouponsOfUser, CountsOf,
//     DueFailures, FailuresOf, Health): may be called concurrently from any
//     thread; they run one at a time on the read connection, alongside writes
//     (WAL). ScanCoupons opens a connection of its own.
//   - callbacks: ScanCoupons' `visit` runs on the calling thread, no lock held.
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
