// Where the Redis primary is, and connections to it. Internal to src/gate.
//
// Without Sentinels the primary is the fixed address of redis_url. With
// Sentinels (redis_sentinels) it is whatever they name for redis_master_name:
// each is asked in turn (SENTINEL get-master-addr-by-name), and the server
// named must itself say it is a master (ROLE) before a connection is handed
// out, so a demoted old primary or a Sentinel's stale answer is never written
// to. Every connect, read and write is bounded by the timeout; with three
// Sentinels a lookup takes at most four timeouts.
//
// A connection carries the primary's run id (INFO server): the failover fence
// (redis_fence.h) tells a new primary from the one it already checked by it.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "gate/redis_connection.h"
#include "gate/redis_scripts.h"

namespace firstcome::redis {

// "host:port[,host:port...]" (IPv6 as [addr]:port).
Result<std::vector<RedisAddress>> ParseSentinels(std::string_view list);

struct PrimaryOptions {
  RedisAddress fixed;                   // the primary when there are no sentinels
  std::vector<RedisAddress> sentinels;  // empty: no Sentinel
  std::string master_name = "firstcome";
  std::chrono::milliseconds timeout{1000};
};

struct PrimaryConnection {
  ContextPtr context;
  std::string run_id;  // empty without sentinels
};

class PrimaryLocator {
 public:
  explicit PrimaryLocator(PrimaryOptions options) : options_(std::move(options)) {}

  bool uses_sentinel() const { return !options_.sentinels.empty(); }
  std::chrono::milliseconds timeout() const { return options_.timeout; }

  // A connection to the current primary, database selected. Unavailable
  // while no Sentinel names a primary that answers as one (a failover).
  Result<PrimaryConnection> Connect() const;

 private:
  Result<RedisAddress> Ask(const RedisAddress& sentinel) const;

  const PrimaryOptions options_;
};

// A connection ready for EVALSHA: to the primary, database selected, and the
// scripts in Redis's cache (their digests in *shas when asked for).
Result<PrimaryConnection> ConnectWithScripts(const PrimaryLocator& locator, ScriptShas* shas);

// The connection for calls that are not admissions (audit, status, rebuild,
// totals), one call at a time, so they never sit in front of admissions.
class ControlConnection {
 public:
  ControlConnection(const PrimaryLocator& locator, ContextPtr first)
      : locator_(locator), context_(std::move(first)) {}

  // Runs commands pipelined and returns every reply (error replies included;
  // the caller reads them). A connection that had been idle may have been
  // closed by a Redis restart or a failover: on end-of-file or reset the
  // primary is looked up again and the commands sent once more (all callers
  // send reads, idempotent writes or a MULTI/EXEC, which Redis drops unless
  // EXEC arrived). A timeout is not retried: it would only double the wait.
  Result<std::vector<ReplyPtr>> Exchange(const std::vector<Argv>& commands);

  // Drops the connection: the next Exchange looks the primary up again (the
  // fence's check must not write to an old primary that hangs).
  void Reset() {
    std::lock_guard lock(mu_);
    context_.reset();
  }

 private:
  const PrimaryLocator& locator_;
  std::mutex mu_;
  ContextPtr context_;  // guarded by mu_
};

// True for error replies that mean "this server is no longer (or not yet) a
// primary that may take writes": the connection should be dropped and the
// primary looked up again.
bool IsNotPrimary(const redisReply& r);

// WAIT n timeout: how many replicas acknowledged every write this connection
// made so far (at most the timeout is spent waiting).
Result<std::int64_t> WaitForReplicas(redisContext* c, std::int64_t replicas,
                                     std::chrono::milliseconds timeout);

}  // namespace firstcome::redis
