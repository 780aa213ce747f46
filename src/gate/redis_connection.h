// The hiredis plumbing under RedisGate: blocking connections with a timeout on
// every connect, read and write, commands as binary-safe argument lists, and
// replies read as values or Status. Internal to src/gate: only the redis gate's
// files include it.
//
// Invariants: a context returned by Connect has its timeout set and its
// database selected; a reply is owned by a ReplyPtr and freed with it. Nothing
// here is shared between threads: a context is used by one thread at a time.
#pragma once

#include <hiredis/hiredis.h>
#include <signal.h>

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace firstcome::redis {

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;
struct ContextDeleter {
  void operator()(redisContext* c) const { redisFree(c); }
};
using ContextPtr = std::unique_ptr<redisContext, ContextDeleter>;

struct RedisAddress {
  std::string host;
  int port = 6379;
  int db = 0;
};

// redis://host[:port][/db]; host may be [IPv6]. No credentials.
Result<RedisAddress> ParseRedisUrl(std::string_view url);

// Connects with `timeout` on connect and on every later read and write, and
// selects the database.
Result<ContextPtr> Connect(const RedisAddress& address, std::chrono::milliseconds timeout);

// False when Redis closed the connection (a restart, a stop, an idle
// timeout) since it was last used. Why check before sending: a batch written
// to a dead connection fails as a whole and its callers hear 503 although a
// restarted Redis is already up; checking costs one non-blocking syscall and
// nothing has been sent yet, so reconnecting here is always safe.
bool StillOpen(const redisContext* c);

// Unavailable, with the context's error (or "no connection").
Status ConnectionError(const redisContext* c, std::string_view what);

// One Redis command as binary-safe arguments.
class Argv {
 public:
  Argv() = default;
  Argv(std::initializer_list<std::string_view> parts) {
    for (auto p : parts) parts_.emplace_back(p);
  }
  Argv& Add(std::string_view part) {
    parts_.emplace_back(part);
    return *this;
  }
  Argv& Add(std::int64_t value) {
    parts_.push_back(std::to_string(value));
    return *this;
  }
  std::size_t size() const { return parts_.size(); }

  // Appends the command to the context's output buffer (no I/O yet).
  bool AppendTo(redisContext* c) const;

 private:
  std::vector<std::string> parts_;
};

// Sends one command and reads its reply (error replies included: the caller
// reads them). Unavailable when the connection failed.
Result<ReplyPtr> Call(redisContext* c, const Argv& command, std::string_view what);

std::string_view ReplyText(const redisReply& r);

// An error reply as a Status: conditions that pass (loading, busy script,
// failover, memory pressure) are Unavailable, anything else is a bug.
Status ErrorReplyStatus(const redisReply& r);

// An integer reply, a string holding one, or nil (0).
Result<std::int64_t> IntegerOf(const redisReply& r);

// hiredis writes with write(2): a write to a connection Redis closed raises
// SIGPIPE, which kills a process that did not ignore it. A library must not
// rely on its host for that, so SIGPIPE is blocked on the calling thread while
// it talks to Redis, and a SIGPIPE raised meanwhile is consumed (write then
// just fails with EPIPE). Threads that talk to Redis for their whole life
// call BlockSigpipeOnThisThread once instead.
class SigpipeBlock {
 public:
  SigpipeBlock();
  ~SigpipeBlock();
  SigpipeBlock(const SigpipeBlock&) = delete;
  SigpipeBlock& operator=(const SigpipeBlock&) = delete;

 private:
  sigset_t old_;
  bool was_pending_ = false;
};

void BlockSigpipeOnThisThread();

}  // namespace firstcome::redis
