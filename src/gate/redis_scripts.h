// The Lua scripts of RedisGate (admit and release, run with EVALSHA on the hot
// path; set-total, run with EVAL by operators): their text, the keys of one
// event incarnation they work on, loading them into Redis's script cache,
// the commands that run them and the decoding of their replies.
// Internal to src/gate: only the redis gate's files include it.
//
// Invariants: the scripts keep the key invariants stated in redis_gate.h
// (Redis runs each one atomically). A script's SHA1 depends only on its text,
// so the digests loaded once stay valid for every connection and every later
// load; a NOSCRIPT reply means the script did not run at all, so loading the
// scripts again and resending cannot decide anything twice.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "gate/gate.h"
#include "gate/redis_connection.h"

namespace firstcome::redis {

// The total key of a forgotten (deleted) incarnation holds this instead of a
// number; the scripts refuse to work on such an incarnation.
inline constexpr std::string_view kGoneMarker = "gone";

// The keys of one event incarnation, hash-tagged by the event id so they share
// one cluster slot: fc:{E}:<incarnation>:count, ... (incarnation 0, events
// made before incarnations existed, keeps the older fc:{E}:count, ...).
struct EventKeys {
  EventKeys(const std::string& event_id, std::int64_t incarnation)
      : count(Key(event_id, incarnation, "count")),
        next(Key(event_id, incarnation, "next")),
        users(Key(event_id, incarnation, "users")),
        free(Key(event_id, incarnation, "free")),
        total(Key(event_id, incarnation, "total")),
        pending(Key(event_id, incarnation, "pending")),
        pending_at(Key(event_id, incarnation, "pending_at")) {}
  explicit EventKeys(const Event& event) : EventKeys(event.id, event.incarnation) {}
  std::string count, next, users, free, total;
  // Admissions not yet acknowledged as logged (see redis_gate.h).
  std::string pending, pending_at;

 private:
  static std::string Key(const std::string& event_id, std::int64_t incarnation, const char* name) {
    std::string key = "fc:{" + event_id + "}:";
    if (incarnation != 0) key += std::to_string(incarnation) + ":";
    return key + name;
  }
};

// The scripts' SHA1 digests, as Redis computed them on SCRIPT LOAD.
struct ScriptShas {
  std::string admit;
  std::string release;
  std::string acknowledge;
};

// SCRIPT LOAD of the hot-path scripts (admit, release, acknowledge) on `c`.
Status LoadScripts(redisContext* c, ScriptShas* shas);

// EVALSHA of the admit script: one decision for `user_id`. `total` seeds the
// total key when the gate has none yet.
Argv AdmitCommand(const ScriptShas& shas, const EventKeys& keys, std::string_view user_id,
                  std::int64_t total, std::int32_t per_user);
// EVALSHA of the release script: `user_id` gives `seq` back; with
// `only_unclaimed` (Withdraw) only while its admission is pending, unclaimed.
Argv ReleaseCommand(const ScriptShas& shas, const EventKeys& keys, std::string_view user_id,
                    std::int64_t seq, bool only_unclaimed);
// EVALSHA of the acknowledge script: `record` is logged, no longer pending.
Argv AcknowledgeCommand(const ScriptShas& shas, const EventKeys& keys, const Issuance& record);
// EVAL of the claim script (the settler's, once per event and pass).
Argv ClaimCommand(const EventKeys& keys, std::int64_t age_ms, std::int64_t max);
// The claimed admissions as records of `event`.
Result<std::vector<Issuance>> DecodeClaim(const Event& event, const redisReply& r);

// EVAL of the set-total script (an operator's call: no script cache needed).
Argv SetTotalCommand(const EventKeys& keys, std::int64_t total);
Result<TotalChange> DecodeSetTotal(const redisReply& r);

// MULTI, the commands that replace the incarnation's state by `issuances`
// (checked by CheckRebuildInput: `held` their seqs, `max_seq` the highest),
// pending admissions dropped, EXEC.
std::vector<Argv> RebuildCommands(const Event& event, const std::vector<Issuance>& issuances,
                                  const std::set<std::int64_t>& held, std::int64_t max_seq);

// The script was not in Redis's cache (SCRIPT FLUSH, FLUSHALL, a restart).
bool IsNoScript(const redisReply& r);

Result<Admission> DecodeAdmission(const redisReply& r);
// Ok when released; NotFound when the user did not hold the seq; Exists when
// a withdrawal met a claimed (or no longer pending) admission.
Status DecodeRelease(const redisReply& r);

// A value of the users hash, "seq:user_seq,...", as its seqs in stored order.
// Malformed parts are skipped (only the scripts and Rebuild write these values).
std::vector<std::int64_t> ParseHeld(std::string_view held);
// The same with each seq's user_seq (user_seqs[i] belongs to seqs[i]).
void ParseHeld(std::string_view held, std::vector<std::int64_t>* seqs,
               std::vector<std::int32_t>* user_seqs);

}  // namespace firstcome::redis
