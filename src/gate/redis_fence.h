// FailoverFence: after the Redis primary changed (a Sentinel failover, or a
// restart), no admission is decided until the gate state of every event has
// been checked against, and rebuilt from, the durable log and store; once, by
// one process, for all API processes. docs/design.md ("Losing a server")
// gives the argument; in short: Redis replication is asynchronous, so a
// promoted replica may lack admissions the log already holds, and would hand
// their seqs out again.
//
// Keys (on the primary, replicated with the rest):
//   fc:gate:checked  run id of the primary whose gate state was last checked
//   fc:gate:fence    token of the process checking now; expires after a lease
// A replica promoted by Sentinel has its own run id and carries
// fc:gate:checked from the old primary, so the first connection to it sees
// them differ; a restarted server has a new run id too.
//
// The check waits `grace` first: admissions the old primary decided just
// before it died may still be on their way to the log (bounded by the log's
// delivery timeout), and the check must read the log after they landed or
// failed. Admissions on the new primary cannot race it: they are fenced.
//
// Thread safety: Open may be called from any thread; the check runs on the
// fence's own thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "gate/redis_primary.h"

namespace firstcome::redis {

class FailoverFence {
 public:
  // `check` rebuilds every event's gate state from the log and the store; a
  // process without one (no log opened) waits for another process's check.
  FailoverFence(const PrimaryLocator& locator, std::function<Status()> check,
                std::chrono::milliseconds grace);
  ~FailoverFence();
  FailoverFence(const FailoverFence&) = delete;
  FailoverFence& operator=(const FailoverFence&) = delete;

  // Whether admissions may be decided on `c`, a connection to the primary
  // with `run_id`. False (and the check is started) while its state is not
  // checked yet.
  Result<bool> Open(redisContext* c, const std::string& run_id);

  // Runs `commands` on the current primary only if its state is checked (in
  // one pipeline after the GET of fc:gate:checked, on one connection, so on
  // one server); Unavailable otherwise, and their replies are dropped. For
  // the settler's claims: a claim logged from a primary not checked yet could
  // reach the log after the check read it (a seq handed out twice).
  Result<std::vector<ReplyPtr>> ExchangeIfChecked(const std::vector<Argv>& commands);

 private:
  void Loop();
  // One attempt; Ok once the current primary's state is checked.
  Status Attempt();
  // Sleeps up to `d`; false when the fence is being destroyed.
  bool Sleep(std::chrono::milliseconds d);

  const PrimaryLocator& locator_;
  const std::function<Status()> check_;
  const std::chrono::milliseconds grace_;
  const std::string token_;

  std::mutex exchange_mu_;
  PrimaryConnection exchange_;  // guarded by exchange_mu_

  std::mutex mu_;
  std::condition_variable wake_;
  bool wanted_ = false;    // guarded by mu_
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace firstcome::redis
