#include "gate/redis_scripts.h"

#include <map>
#include <optional>
#include <set>
#include <utility>

#include "core/numbers.h"

namespace firstcome::redis {

namespace {

// KEYS: count, next, users, free, total, pending, pending_at. ARGV: user,
// total, per_user. Replies {0, seq, user_seq, admitted_at} admitted | {1,
// seq...} already_issued | {2} sold_out | {3} gone. An admission is recorded
// pending: pending[seq] = "user_seq:admitted_at:0:user" (0: unclaimed) and
// pending_at scores seq by admitted_at. The total is the total key's (ARGV's
// only when there is none yet, which it then becomes). Order of checks: a
// forgotten incarnation admits nobody; a user who holds per_user seqs hears
// already_issued even after the event sold out. A user's entries are
// "seq:user_seq"; the new user_seq is the lowest one the user does not hold, so
// a released user_seq is reused (its issuance never became durable, so the
// store never saw it).
constexpr char kAdmitScript[] = R"lua(
local stored = redis.call('GET', KEYS[5])
if stored == 'gone' then return {3} end
local held = redis.call('HGET', KEYS[3], ARGV[1])
local seqs, used, n = {}, {}, 0
if held then
  for s, u in string.gmatch(held, '(%d+):(%d+)') do
    n = n + 1
    seqs[n] = tonumber(s)
    used[tonumber(u)] = true
  end
  if n >= tonumber(ARGV[3]) then
    local reply = {1}
    for i = 1, n do reply[i + 1] = seqs[i] end
    return reply
  end
end
local total = tonumber(stored)
if not total then
  total = tonumber(ARGV[2])
  redis.call('SET', KEYS[5], ARGV[2])
end
if tonumber(redis.call('GET', KEYS[1]) or '0') >= total then return {2} end
local seq
local lowest = redis.call('ZRANGE', KEYS[4], 0, 0)
if lowest[1] then
  seq = tonumber(lowest[1])
  redis.call('ZREM', KEYS[4], lowest[1])
else
  local top = tonumber(redis.call('GET', KEYS[2]) or '0')
  if top >= total then return {2} end
  seq = top + 1
  redis.call('SET', KEYS[2], seq)
end
local user_seq = 1
while used[user_seq] do user_seq = user_seq + 1 end
local entry = string.format('%d:%d', seq, user_seq)
if held then entry = held .. ',' .. entry end
redis.call('HSET', KEYS[3], ARGV[1], entry)
redis.call('INCR', KEYS[1])
-- The admission time by Redis's clock (ms), so every process and settler
-- measures a pending admission's age on one clock. (Redis 7 runs scripts by
-- effects, so writing after TIME is allowed.)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[6], seq, string.format('%d:%d:0:', user_seq, now) .. ARGV[1])
redis.call('ZADD', KEYS[7], now, seq)
return {0, seq, user_seq, now}
)lua";

// KEYS: count, users, free, pending, pending_at. ARGV: user, seq,
// only_unclaimed. Replies 1 released | 0 not held | 2 refused: only_unclaimed
// and the admission is claimed or no longer pending (its record is logged, or
// being logged, by a settler). A release takes the seq's pending admission
// with it.
constexpr char kReleaseScript[] = R"lua(
local held = redis.call('HGET', KEYS[2], ARGV[1])
if not held then return 0 end
local kept, found = {}, false
for s, u in string.gmatch(held, '(%d+):(%d+)') do
  if not found and s == ARGV[2] then found = true else kept[#kept + 1] = s .. ':' .. u end
end
if not found then return 0 end
local p = redis.call('HGET', KEYS[4], ARGV[2])
local claimed, who
if p then claimed, who = string.match(p, '^%d+:%d+:(%d):(.*)$') end
if ARGV[3] == '1' and (who ~= ARGV[1] or claimed ~= '0') then return 2 end
if #kept == 0 then
  redis.call('HDEL', KEYS[2], ARGV[1])
else
  redis.call('HSET', KEYS[2], ARGV[1], table.concat(kept, ','))
end
redis.call('DECR', KEYS[1])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[2])
if who == ARGV[1] then
  redis.call('HDEL', KEYS[4], ARGV[2])
  redis.call('ZREM', KEYS[5], ARGV[2])
end
return 1
)lua";

// KEYS: pending, pending_at. ARGV: seq, "user_seq:admitted_at", user.
// Replies 1 no longer pending | 0 the seq's pending admission is another one
// (or there is none): nothing changes.
constexpr char kAcknowledgeScript[] = R"lua(
local p = redis.call('HGET', KEYS[1], ARGV[1])
if not p then return 0 end
local id, who = string.match(p, '^(%d+:%d+):%d:(.*)$')
if id ~= ARGV[2] or who ~= ARGV[3] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
)lua";

// KEYS: pending, pending_at. ARGV: age_ms, max. Claims (marks 1) up to max
// pending admissions admitted at least age_ms ago, oldest first, and replies
// {seq, user_seq, admitted_at, user, ...} for each (claimed before or now).
constexpr char kClaimScript[] = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local seqs = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[1]),
                        'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, s in ipairs(seqs) do
  local p = redis.call('HGET', KEYS[1], s)
  local us, at, c, who
  if p then us, at, c, who = string.match(p, '^(%d+):(%d+):(%d):(.*)$') end
  if who then
    if c == '0' then redis.call('HSET', KEYS[1], s, us .. ':' .. at .. ':1:' .. who) end
    out[#out + 1] = s
    out[#out + 1] = us
    out[#out + 1] = at
    out[#out + 1] = who
  else
    redis.call('ZREM', KEYS[2], s)
  end
end
return out
)lua";

// KEYS: count, next, free, total. ARGV: the new total.
// Replies {0} changed | {1, count} more admitted | {2, next} a seq above it is
// held | {3} gone. Every seq in 1..next is held or free, so the seqs above the
// new total are all free exactly when ZCOUNT finds next - total of them.
constexpr char kSetTotalScript[] = R"lua(
if redis.call('GET', KEYS[4]) == 'gone' then return {3} end
local total = tonumber(ARGV[1])
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count > total then return {1, count} end
local top = tonumber(redis.call('GET', KEYS[2]) or '0')
if top > total then
  local above = redis.call('ZCOUNT', KEYS[3], '(' .. ARGV[1], '+inf')
  if above < top - total then return {2, top} end
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '(' .. ARGV[1], '+inf')
  redis.call('SET', KEYS[2], ARGV[1])
end
redis.call('SET', KEYS[4], ARGV[1])
return {0}
)lua";

}  // namespace

Status LoadScripts(redisContext* c, ScriptShas* shas) {
  for (auto [body, sha] :
       {std::pair{kAdmitScript, &shas->admit}, std::pair{kReleaseScript, &shas->release},
        std::pair{kAcknowledgeScript, &shas->acknowledge}}) {
    auto reply = Call(c, Argv{"SCRIPT", "LOAD", body}, "script load");
    if (!reply.ok()) return reply.status();
    if ((*reply)->type == REDIS_REPLY_ERROR) return ErrorReplyStatus(**reply);
    if ((*reply)->type != REDIS_REPLY_STRING) return Status::Internal("redis: SCRIPT LOAD reply");
    *sha = std::string(ReplyText(**reply));
  }
  return Status::Ok();
}

Argv AdmitCommand(const ScriptShas& shas, const EventKeys& keys, std::string_view user_id,
                  std::int64_t total, std::int32_t per_user) {
  Argv cmd;
  cmd.Add("EVALSHA").Add(shas.admit).Add(7).Add(keys.count).Add(keys.next);
  cmd.Add(keys.users).Add(keys.free).Add(keys.total).Add(keys.pending).Add(keys.pending_at);
  cmd.Add(user_id).Add(total).Add(per_user);
  return cmd;
}

Argv AcknowledgeCommand(const ScriptShas& shas, const EventKeys& keys, const Issuance& record) {
  Argv cmd;
  cmd.Add("EVALSHA").Add(shas.acknowledge).Add(2).Add(keys.pending).Add(keys.pending_at);
  cmd.Add(record.seq).Add(std::to_string(record.user_seq) + ":" + std::to_string(record.issued_at));
  cmd.Add(record.user_id);
  return cmd;
}

std::vector<Argv> RebuildCommands(const Event& event, const std::vector<Issuance>& issuances,
                                  const std::set<std::int64_t>& held, std::int64_t max_seq) {
  constexpr std::size_t kRebuildChunk = 500;  // fields per HSET/ZADD
  // user -> (user_seq -> seq), ordered so stored values are deterministic.
  std::map<std::string, std::map<std::int32_t, std::int64_t>> users;
  for (const auto& i : issuances) users[i.user_id].emplace(i.user_seq, i.seq);

  const EventKeys keys(event);
  std::vector<Argv> tx;
  tx.push_back(Argv{"MULTI"});
  // Pending admissions go too: the rebuilt state is what log and store hold.
  tx.push_back(
      Argv{"DEL", keys.count, keys.next, keys.users, keys.free, keys.pending, keys.pending_at});
  tx.push_back(Argv{"SET", keys.count}.Add(static_cast<std::int64_t>(held.size())));
  tx.push_back(Argv{"SET", keys.next}.Add(max_seq));
  tx.push_back(Argv{"SET", keys.total}.Add(event.total));
  Argv hset{"HSET", keys.users};
  for (const auto& [user, seqs] : users) {
    std::string value;
    for (const auto& [user_seq, seq] : seqs) {
      if (!value.empty()) value += ',';
      value += std::to_string(seq) + ":" + std::to_string(user_seq);
    }
    hset.Add(user).Add(value);
    if (hset.size() >= 2 + 2 * kRebuildChunk) {
      tx.push_back(std::move(hset));
      hset = Argv{"HSET", keys.users};
    }
  }
  if (hset.size() > 2) tx.push_back(std::move(hset));
  Argv zadd{"ZADD", keys.free};
  for (std::int64_t seq = 1; seq <= max_seq; ++seq) {
    if (held.count(seq) != 0) continue;
    zadd.Add(seq).Add(seq);
    if (zadd.size() >= 2 + 2 * kRebuildChunk) {
      tx.push_back(std::move(zadd));
      zadd = Argv{"ZADD", keys.free};
    }
  }
  if (zadd.size() > 2) tx.push_back(std::move(zadd));
  tx.push_back(Argv{"EXEC"});
  return tx;
}

Argv ClaimCommand(const EventKeys& keys, std::int64_t age_ms, std::int64_t max) {
  Argv cmd;
  cmd.Add("EVAL").Add(kClaimScript).Add(2).Add(keys.pending).Add(keys.pending_at);
  cmd.Add(age_ms).Add(max);
  return cmd;
}

Result<std::vector<Issuance>> DecodeClaim(const Event& event, const redisReply& r) {
  if (r.type == REDIS_REPLY_ERROR) return ErrorReplyStatus(r);
  if (r.type != REDIS_REPLY_ARRAY || r.elements % 4 != 0) {
    return Status::Internal("redis gate: unexpected claim script reply");
  }
  std::vector<Issuance> claimed;
  for (std::size_t i = 0; i < r.elements; i += 4) {
    std::optional<std::int64_t> seq = ParseInt64(ReplyText(*r.element[i]));
    std::optional<std::int64_t> user_seq = ParseInt64(ReplyText(*r.element[i + 1]));
    std::optional<std::int64_t> at = ParseInt64(ReplyText(*r.element[i + 2]));
    if (!seq || !user_seq || !at) return Status::Internal("redis gate: malformed pending entry");
    claimed.push_back(Issuance{.event_id = event.id,
                               .user_id = std::string(ReplyText(*r.element[i + 3])),
                               .seq = *seq,
                               .user_seq = static_cast<std::int32_t>(*user_seq),
                               .coupon_id = CouponId(event.id, *seq),
                               .issued_at = *at,
                               .incarnation = event.incarnation});
  }
  return claimed;
}

Argv SetTotalCommand(const EventKeys& keys, std::int64_t total) {
  Argv cmd;
  cmd.Add("EVAL").Add(kSetTotalScript).Add(4).Add(keys.count).Add(keys.next).Add(keys.free);
  cmd.Add(keys.total).Add(total);
  return cmd;
}

Result<TotalChange> DecodeSetTotal(const redisReply& r) {
  if (r.type == REDIS_REPLY_ERROR) return ErrorReplyStatus(r);
  auto bad = [] { return Status::Internal("redis gate: unexpected set-total script reply"); };
  if (r.type != REDIS_REPLY_ARRAY || r.elements < 1) return bad();
  for (std::size_t i = 0; i < r.elements; ++i) {
    if (r.element[i]->type != REDIS_REPLY_INTEGER) return bad();
  }
  TotalChange change;
  const long long figure = r.elements > 1 ? r.element[1]->integer : 0;
  switch (r.element[0]->integer) {
    case 0:
      return change;
    case 1:
      change.verdict = TotalChange::Verdict::kBelowAdmitted;
      change.admitted = figure;
      return change;
    case 2:
      change.verdict = TotalChange::Verdict::kBelowHeldSeq;
      change.next_seq = figure;
      return change;
    case 3:
      change.verdict = TotalChange::Verdict::kGone;
      return change;
    default:
      return bad();
  }
}

Argv ReleaseCommand(const ScriptShas& shas, const EventKeys& keys, std::string_view user_id,
                    std::int64_t seq, bool only_unclaimed) {
  Argv cmd;
  cmd.Add("EVALSHA").Add(shas.release).Add(5).Add(keys.count).Add(keys.users);
  cmd.Add(keys.free).Add(keys.pending).Add(keys.pending_at).Add(user_id).Add(seq);
  cmd.Add(only_unclaimed ? 1 : 0);
  return cmd;
}

bool IsNoScript(const redisReply& r) {
  return r.type == REDIS_REPLY_ERROR && ReplyText(r).substr(0, 8) == "NOSCRIPT";
}

Result<Admission> DecodeAdmission(const redisReply& r) {
  if (r.type == REDIS_REPLY_ERROR) return ErrorReplyStatus(r);
  auto bad = [] { return Status::Internal("redis gate: unexpected admit script reply"); };
  if (r.type != REDIS_REPLY_ARRAY || r.elements < 1) return bad();
  for (std::size_t i = 0; i < r.elements; ++i) {
    if (r.element[i]->type != REDIS_REPLY_INTEGER) return bad();
  }
  Admission a;
  switch (r.element[0]->integer) {
    case 0:
      if (r.elements != 4) return bad();
      a.verdict = AdmitVerdict::kAdmitted;
      a.seq = r.element[1]->integer;
      a.user_seq = static_cast<std::int32_t>(r.element[2]->integer);
      a.admitted_at = r.element[3]->integer;
      return a;
    case 1:
      a.verdict = AdmitVerdict::kAlreadyIssued;
      for (std::size_t i = 1; i < r.elements; ++i) a.held_seqs.push_back(r.element[i]->integer);
      return a;
    case 2:
      a.verdict = AdmitVerdict::kSoldOut;
      return a;
    case 3:
      a.verdict = AdmitVerdict::kGone;
      return a;
    default:
      return bad();
  }
}

Status DecodeRelease(const redisReply& r) {
  if (r.type == REDIS_REPLY_ERROR) return ErrorReplyStatus(r);
  if (r.type != REDIS_REPLY_INTEGER)
    return Status::Internal("redis gate: unexpected release reply");
  if (r.integer == 1) return Status::Ok();
  if (r.integer == 2) {
    return Status::Exists("redis gate: the admission was claimed by a settler (it is logged)");
  }
  return Status::NotFound("redis gate: the user does not hold that seq");
}

std::vector<std::int64_t> ParseHeld(std::string_view held) {
  std::vector<std::int64_t> seqs;
  std::vector<std::int32_t> user_seqs;
  ParseHeld(held, &seqs, &user_seqs);
  return seqs;
}

void ParseHeld(std::string_view held, std::vector<std::int64_t>* seqs,
               std::vector<std::int32_t>* user_seqs) {
  while (!held.empty()) {
    auto comma = held.find(',');
    std::string_view entry = held.substr(0, comma);
    held = comma == std::string_view::npos ? std::string_view() : held.substr(comma + 1);
    const auto colon = entry.find(':');
    std::optional<std::int64_t> seq = ParseInt64(entry.substr(0, colon));
    if (!seq) continue;
    std::optional<std::int64_t> user_seq;
    if (colon != std::string_view::npos) user_seq = ParseInt64(entry.substr(colon + 1));
    seqs->push_back(*seq);
    user_seqs->push_back(user_seq ? static_cast<std::int32_t>(*user_seq) : 0);
  }
}

}  // namespace firstcome::redis
