// `firstcome bench`: drives RunLoad from the command line, prints the results
// table, optionally writes them as JSON, and (--oracle) checks the event
// afterwards: issued == min(total, distinct users), no user twice, seqs unique
// within 1..total, persisted catches up, and `firstcome audit` is clean.
//
// Exit code: 0, or 1 when the load could not run or an oracle check failed
// (raised as CLI::RuntimeError so the app's main needs only one call).
#pragma once

#include <CLI/CLI.hpp>

namespace firstcome {

// Registers the `bench` subcommand on `app`.
void AddBenchCommand(CLI::App& app);

}  // namespace firstcome
