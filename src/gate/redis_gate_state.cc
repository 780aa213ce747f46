#include "gate/redis_gate_state.h"

#include <map>
#include <optional>
#include <set>

#include "core/numbers.h"
#include "gate/rebuild_input.h"

namespace firstcome::redis {

namespace {

constexpr std::size_t kChunk = 500;  // fields per HSET/ZADD/ZRANGE/HSCAN call

}  // namespace

Status ScanUsers(ControlConnection& control, const EventKeys& keys,
                 const std::function<void(std::string, std::string_view)>& visit) {
  std::string cursor = "0";
  do {
    auto page = control.Exchange(
        {Argv{"HSCAN", keys.users, cursor, "COUNT"}.Add(static_cast<std::int64_t>(kChunk))});
    if (!page.ok()) return page.status();
    const redisReply& r = *page->front();
    if (r.type != REDIS_REPLY_ARRAY || r.elements != 2 || r.element[1]->type != REDIS_REPLY_ARRAY) {
      return r.type == REDIS_REPLY_ERROR ? ErrorReplyStatus(r)
                                         : Status::Internal("redis gate: HSCAN reply");
    }
    cursor = std::string(ReplyText(*r.element[0]));
    const redisReply& fields = *r.element[1];
    for (std::size_t i = 0; i + 1 < fields.elements; i += 2) {
      visit(std::string(ReplyText(*fields.element[i])), ReplyText(*fields.element[i + 1]));
    }
  } while (cursor != "0");
  return Status::Ok();
}

Result<GateSnapshot> ReadSnapshot(ControlConnection& control, const Event& event) {
  EventKeys keys(event);
  // HSCAN and chunked ZRANGE do not block Redis for a big event, but they are
  // not one point in time; the counters are read before and after and the
  // whole scan is repeated (a few times) when admissions moved them meanwhile.
  Result<GateSnapshot> last = Status::Unavailable("redis gate: snapshot not taken");
  for (int attempt = 0; attempt < 3; ++attempt) {
    GateSnapshot snap;
    auto counters = control.Exchange({Argv{"MGET", keys.count, keys.next}});
    if (!counters.ok()) return counters.status();
    const redisReply& before = *counters->front();
    if (before.type != REDIS_REPLY_ARRAY || before.elements != 2) {
      return before.type == REDIS_REPLY_ERROR ? ErrorReplyStatus(before)
                                              : Status::Internal("redis gate: MGET reply");
    }
    auto count = IntegerOf(*before.element[0]);
    auto next = IntegerOf(*before.element[1]);
    if (!count.ok()) return count.status();
    if (!next.ok()) return next.status();
    snap.admitted = *count;
    snap.next_seq = *next;

    std::map<std::string, GateSnapshot::Holder> holders;
    Status read = ScanUsers(control, keys, [&](std::string user, std::string_view held) {
      GateSnapshot::Holder h{user, {}, {}};
      redis::ParseHeld(held, &h.seqs, &h.user_seqs);
      holders[std::move(user)] = std::move(h);
    });
    if (!read.ok()) return read;
    for (auto& [user, holder] : holders) snap.holders.push_back(std::move(holder));

    for (std::int64_t start = 0;; start += static_cast<std::int64_t>(kChunk)) {
      auto page = control.Exchange({Argv{"ZRANGE", keys.free}.Add(start).Add(
          start + static_cast<std::int64_t>(kChunk) - 1)});
      if (!page.ok()) return page.status();
      const redisReply& r = *page->front();
      if (r.type != REDIS_REPLY_ARRAY) {
        return r.type == REDIS_REPLY_ERROR ? ErrorReplyStatus(r)
                                           : Status::Internal("redis gate: ZRANGE reply");
      }
      for (std::size_t i = 0; i < r.elements; ++i) {
        if (std::optional<std::int64_t> seq = ParseInt64(ReplyText(*r.element[i]))) {
          snap.free_seqs.push_back(*seq);
        }
      }
      if (r.elements < kChunk) break;
    }

    auto again = control.Exchange({Argv{"MGET", keys.count, keys.next, keys.total}});
    if (!again.ok()) return again.status();
    const redisReply& after = *again->front();
    const bool steady =
        after.type == REDIS_REPLY_ARRAY && after.elements == 3 &&
        IntegerOf(*after.element[0]).ok() && *IntegerOf(*after.element[0]) == snap.admitted &&
        IntegerOf(*after.element[1]).ok() && *IntegerOf(*after.element[1]) == snap.next_seq;
    // The total key holds a number once the gate saw the event (the gone
    // marker, or nothing, reads as 0).
    if (after.type == REDIS_REPLY_ARRAY && after.elements == 3) {
      snap.total = IntegerOf(*after.element[2]).ok() ? *IntegerOf(*after.element[2]) : 0;
    }
    last = std::move(snap);
    if (steady) break;
  }
  return last;
}

Status WriteRebuild(ControlConnection& control, const Event& event,
                    const std::vector<Issuance>& issuances) {
  auto input = CheckRebuildInput(event, issuances, RebuildRules{});
  if (!input.ok()) return input.status();
  const std::set<std::int64_t>& held = input->held_seqs;
  const std::int64_t max_seq = input->max_seq;
  // One MULTI/EXEC: other clients see the old state or the new one, never a
  // mix; a connection lost before EXEC leaves the old state untouched.
  auto replies = control.Exchange(RebuildCommands(event, issuances, held, max_seq));
  if (!replies.ok()) return replies.status();
  for (const auto& r : *replies) {
    if (r->type == REDIS_REPLY_ERROR) return ErrorReplyStatus(*r);
  }
  const redisReply& exec = *replies->back();
  if (exec.type != REDIS_REPLY_ARRAY) return Status::Internal("redis gate: rebuild EXEC reply");
  return Status::Ok();
}

}  // namespace firstcome::redis
