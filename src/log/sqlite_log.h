// SqliteLog: the embedded Log. A SQLite database in WAL mode with
// synchronous=FULL; one writer thread group-commits every append that arrived
// while the previous transaction was being written: one fsync serves many.
//
// Thread safety (adds to log.h):
//   - every method: may be called concurrently from any thread.
//   - callbacks: Append's `done` runs on the writer thread once its batch
//     committed or failed (the next batch is written after the callbacks of
//     this one returned), or inline when refused (too many pending, closing).
//     on_commit runs on the writer thread too.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "log/log.h"

namespace firstcome {

struct SqliteLogOptions {
  std::string path;                  // e.g. data/log.db
  std::size_t max_batch = 8192;      // records per transaction at most
  std::size_t max_pending = 200000;  // appends queued at most; beyond: unavailable
  std::chrono::milliseconds busy_timeout{5000};
  // Commit delay (PostgreSQL's commit_delay): when the previous transaction
  // carried [commit_delay_after, commit_delay_before) records, i.e. appends
  // arrive concurrently but not so fast that a commit's own duration gathers
  // a large batch, the writer waits this long before the next one so that it
  // carries more. Each commit costs a fixed fsync (on a virtual disk mostly
  // CPU in the kernel), so fewer, larger commits leave the CPU to the API.
  // A lone request (previous batch smaller) is never delayed. 0: off.
  std::chrono::microseconds commit_delay{0};
  std::size_t commit_delay_after = 4;
  std::size_t commit_delay_before = 128;
  // Called on the writer thread after each committed transaction with its
  // number of records (metrics, tests). Must not call back into the log.
  std::function<void(std::size_t records)> on_commit;
};

Result<std::unique_ptr<Log>> OpenSqliteLog(const SqliteLogOptions& options);

}  // namespace firstcome
