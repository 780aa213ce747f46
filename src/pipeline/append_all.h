// AppendAll: appends records concurrently and waits for the log's answers.
// Shared by every background writer of records an API process did not see
// through (Resender, Settler, audit --repair), so all of them count an
// append as done on the same condition: the log answered ok.
#pragma once

#include <chrono>
#include <vector>

#include "log/log.h"

namespace firstcome {

// Appends every record of `batch` at once, then waits at most `timeout` for
// the answers. Returns the records the log did not acknowledge (failed, or
// unanswered in time: a late answer is ignored). Blocking; never call it from
// a log callback.
std::vector<Issuance> AppendAll(Log& log, std::vector<Issuance> batch,
                                std::chrono::milliseconds timeout);

}  // namespace firstcome
