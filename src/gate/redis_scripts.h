// The two Lua scripts RedisGate decides with (admit, release): their text, the
// keys of one event they work on, loading them into Redis's script cache,
// the EVALSHA commands that run them and the decoding of their replies.
// Internal to src/gate: only the redis gate's files include it.
//
// Invariants: the scripts keep the key invariants stated in redis_gate.h
// (Redis runs each one atomically). A script's SHA1 depends only on its text,
// so the digests loaded once stay valid for every connection and every later
// load; a NOSCRIPT reply means the script did not run at all, so loading the
// scripts again and resending cannot decide anything twice.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "gate/gate.h"
#include "gate/redis_connection.h"

namespace firstcome::redis {

// The keys of one event, hash-tagged so they share one cluster slot.
struct EventKeys {
  explicit EventKeys(const std::string& event_id)
      : count("fc:{" + event_id + "}:count"),
        next("fc:{" + event_id + "}:next"),
        users("fc:{" + event_id + "}:users"),
        free("fc:{" + event_id + "}:free") {}
  std::string count, next, users, free;
};

// The scripts' SHA1 digests, as Redis computed them on SCRIPT LOAD.
struct ScriptShas {
  std::string admit;
  std::string release;
};

// SCRIPT LOAD of both scripts on `c`.
Status LoadScripts(redisContext* c, ScriptShas* shas);

// EVALSHA of the admit script: one decision for `user_id`.
Argv AdmitCommand(const ScriptShas& shas, const EventKeys& keys, std::string_view user_id,
                  std::int64_t total, std::int32_t per_user);
// EVALSHA of the release script: `user_id` gives `seq` back.
Argv ReleaseCommand(const ScriptShas& shas, const EventKeys& keys, std::string_view user_id,
                    std::int64_t seq);

// The script was not in Redis's cache (SCRIPT FLUSH, FLUSHALL, a restart).
bool IsNoScript(const redisReply& r);

Result<Admission> DecodeAdmission(const redisReply& r);
// Ok when released; NotFound when the user did not hold the seq.
Status DecodeRelease(const redisReply& r);

// A value of the users hash, "seq:user_seq,...", as its seqs in stored order.
// Malformed parts are skipped (only the scripts and Rebuild write these values).
std::vector<std::int64_t> ParseHeld(std::string_view held);

}  // namespace firstcome::redis
