// RedisGate (see redis_gate.h): admissions decided by one Lua script on
// Redis (redis_scripts.*), pipelined over hiredis connections
// (redis_connection.*).
//
// Threads: `options.connections` workers share one bounded queue. Each worker
// owns one connection; it takes every waiting request (up to kMaxBatch),
// appends all their EVALSHAs, then reads all replies and runs the callbacks,
// so concurrent requests share round trips. Blocking calls (audit, status,
// rebuild) use a separate control connection under control_mu_, so they never
// sit in front of admissions.
//
// Failure model: every connect, read and write has options.timeout. A broken
// connection fails its whole batch with Unavailable and the worker reconnects
// with backoff (failing new batches at once meanwhile, never blocking them).
// An admission whose reply was lost may still have been decided by Redis: the
// slot then stays taken (never over-issue) until `audit --repair` frees it.
#include "gate/redis_gate.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <unordered_map>
#include <utility>

#include "core/numbers.h"
#include "gate/rebuild_input.h"
#include "gate/redis_connection.h"
#include "gate/redis_scripts.h"
#include "gate/redis_sold_out_cache.h"

namespace firstcome {

namespace {

using Clock = std::chrono::steady_clock;
using redis::Argv;
using redis::ContextPtr;
using redis::ErrorReplyStatus;
using redis::EventKeys;
using redis::Holders;
using redis::IntegerOf;
using redis::RedisAddress;
using redis::ReplyPtr;
using redis::ReplyText;
using redis::ScriptShas;
using std::chrono::milliseconds;

// Why a cap: Redis pipelines fine, but one huge batch delays every callback in
// it until the last reply is read; other workers pick up the rest.
constexpr std::size_t kMaxBatch = 512;
constexpr milliseconds kMinBackoff{50};
constexpr milliseconds kMaxBackoff{1000};
constexpr std::size_t kChunk = 500;  // fields per HSET/ZADD/ZRANGE/HSCAN call
// Events larger than this are not short-circuited: their holder list would be
// too big to keep per API process.
constexpr std::int64_t kMaxCachedHolders = 50000;

// A connection ready for EVALSHA: connected, database selected, and the
// scripts in Redis's cache (their digests in *shas when asked for).
Result<ContextPtr> ConnectWithScripts(const RedisAddress& address, milliseconds timeout,
                                      ScriptShas* shas) {
  auto c = redis::Connect(address, timeout);
  if (!c.ok()) return c.status();
  ScriptShas loaded;
  if (Status s = redis::LoadScripts(c->get(), &loaded); !s.ok()) return s;
  if (shas != nullptr) *shas = loaded;
  return c;
}

class RedisGate final : public Gate {
 public:
  RedisGate(const RedisGateOptions& options, RedisAddress address, ContextPtr control,
            ScriptShas shas)
      : options_(options),
        address_(std::move(address)),
        shas_(std::move(shas)),
        control_(std::move(control)),
        sold_out_(options_.sold_out_cache) {
    for (int i = 0; i < options_.connections; ++i) workers_.emplace_back([this] { Work(); });
  }

  ~RedisGate() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    ready_.notify_all();
    for (auto& w : workers_) w.join();
    // Nothing was sent for what is still queued: answering Unavailable is exact.
    for (auto& r : queue_) Fail(r, Status::Unavailable("redis gate closing"));
    for (auto& r : queue_) Finish(r);
  }

  std::optional<Result<Admission>> AdmitNow(const Event& event, std::string_view user_id) override {
    if (Admission a; sold_out_.Answer(event, user_id, &a)) return Result<Admission>(std::move(a));
    return std::nullopt;
  }

  void Admit(const Event& event, std::string_view user_id, AdmitCallback done) override {
    if (auto a = AdmitNow(event, user_id)) return done(std::move(*a));
    Request r;
    r.event_id = event.id;
    r.incarnation = event.incarnation;
    r.user_id = std::string(user_id);
    r.total = event.total;
    r.per_user = event.per_user;
    r.admit_done = std::move(done);
    if (!Enqueue(r)) r.admit_done(Status::Unavailable("redis gate: too many requests queued"));
  }

  void Release(const Event& event, std::string_view user_id, std::int64_t seq,
               DoneCallback done) override {
    GiveBack(event, user_id, seq, false, std::move(done));
  }

  void Withdraw(const Event& event, std::string_view user_id, std::int64_t seq,
                DoneCallback done) override {
    GiveBack(event, user_id, seq, true, std::move(done));
  }

  void Acknowledge(const Issuance& record, DoneCallback done) override {
    Request r;
    r.kind = Request::Kind::kAcknowledge;
    r.event_id = record.event_id;
    r.incarnation = record.incarnation;
    r.record = record;
    r.release_done = std::move(done);
    if (!Enqueue(r)) r.release_done(Status::Unavailable("redis gate: too many requests queued"));
  }

  Result<std::vector<Issuance>> ClaimUnlogged(const Event& event, std::chrono::milliseconds age,
                                              std::size_t max) override {
    auto replies = Exchange(
        {redis::ClaimCommand(EventKeys(event), age.count(), static_cast<std::int64_t>(max))});
    if (!replies.ok()) return replies.status();
    return redis::DecodeClaim(event, *replies->front());
  }

  Result<std::vector<std::int64_t>> SeqsOfUser(const Event& event,
                                               std::string_view user_id) override {
    EventKeys keys(event);
    auto replies = Exchange({Argv{"HGET", keys.users, user_id}});
    if (!replies.ok()) return replies.status();
    const redisReply& r = *replies->front();
    if (r.type == REDIS_REPLY_NIL) return std::vector<std::int64_t>{};
    if (r.type == REDIS_REPLY_ERROR) return ErrorReplyStatus(r);
    if (r.type != REDIS_REPLY_STRING) return Status::Internal("redis gate: HGET reply");
    return redis::ParseHeld(ReplyText(r));
  }

  Result<std::int64_t> AdmittedCount(const Event& event) override {
    EventKeys keys(event);
    auto replies = Exchange({Argv{"GET", keys.count}});
    if (!replies.ok()) return replies.status();
    return IntegerOf(*replies->front());
  }

  Result<bool> IsSeqHeld(const Event& event, std::int64_t seq) override {
    EventKeys keys(event);
    auto replies = Exchange({Argv{"GET", keys.next}, Argv{"ZSCORE", keys.free}.Add(seq)});
    if (!replies.ok()) return replies.status();
    auto next = IntegerOf(*(*replies)[0]);
    if (!next.ok()) return next.status();
    const redisReply& free = *(*replies)[1];
    if (free.type == REDIS_REPLY_ERROR) return ErrorReplyStatus(free);
    // Every seq in 1..next is held or free (see redis_gate.h).
    return seq >= 1 && seq <= *next && free.type == REDIS_REPLY_NIL;
  }

  Result<GateSnapshot> Snapshot(const Event& event) override;
  Status Rebuild(const Event& event, const std::vector<Issuance>& issuances) override;

  Result<TotalChange> SetTotal(const Event& event, std::int64_t total) override {
    if (total < 1 || total > kMaxTotal) return Status::Invalid("redis gate: total out of range");
    auto replies = Exchange({redis::SetTotalCommand(EventKeys(event), total)});
    // A raise frees stock: this process stops answering sold_out from its
    // flag at once (others within the flag's TTL).
    sold_out_.Forget(event.id);
    if (!replies.ok()) return replies.status();
    return redis::DecodeSetTotal(*replies->front());
  }

  // One MULTI/EXEC: the state goes and the total key becomes the gone marker
  // (with kGoneMarkerTtl), so an API process that still admits into this
  // incarnation (its catalog is stale) hears kGone instead of starting it anew.
  Status Forget(const Event& event) override {
    EventKeys keys(event);
    const auto ttl = std::chrono::duration_cast<std::chrono::seconds>(kGoneMarkerTtl).count();
    auto replies = Exchange(
        {Argv{"MULTI"},
         Argv{"DEL", keys.count, keys.next, keys.users, keys.free, keys.pending, keys.pending_at},
         Argv{"SET", keys.total, redis::kGoneMarker, "EX"}.Add(static_cast<std::int64_t>(ttl)),
         Argv{"EXEC"}});
    sold_out_.Forget(event.id);
    if (!replies.ok()) return replies.status();
    for (const auto& r : *replies) {
      if (r->type == REDIS_REPLY_ERROR) return ErrorReplyStatus(*r);
    }
    if (replies->back()->type != REDIS_REPLY_ARRAY) {
      return Status::Unavailable("redis gate: forget was not applied");
    }
    return Status::Ok();
  }

  Status Health() override {
    auto replies = Exchange({Argv{"PING"}});
    if (!replies.ok()) return replies.status();
    const redisReply& r = *replies->front();
    if (r.type == REDIS_REPLY_ERROR) return ErrorReplyStatus(r);
    return Status::Ok();
  }

 private:
  struct Request {
    // kAdmit answers admit_done; the others release_done.
    enum class Kind { kAdmit, kRelease, kWithdraw, kAcknowledge };
    Kind kind = Kind::kAdmit;
    std::string event_id;
    std::int64_t incarnation = 0;
    std::string user_id;
    std::int64_t total = 0;
    std::int32_t per_user = 1;
    std::int64_t seq = 0;  // release and withdraw only
    Issuance record;       // acknowledge only
    AdmitCallback admit_done;
    DoneCallback release_done;
    Clock::time_point enqueued;
    // Set exactly once before Finish().
    std::optional<Result<Admission>> admission;
    Status released = Status::Internal("redis gate: no answer");
  };

  void GiveBack(const Event& event, std::string_view user_id, std::int64_t seq, bool only_unclaimed,
                DoneCallback done) {
    Request r;
    r.kind = only_unclaimed ? Request::Kind::kWithdraw : Request::Kind::kRelease;
    r.event_id = event.id;
    r.incarnation = event.incarnation;
    r.user_id = std::string(user_id);
    r.seq = seq;
    r.release_done = std::move(done);
    if (!Enqueue(r)) r.release_done(Status::Unavailable("redis gate: too many requests queued"));
  }

  bool Enqueue(Request& r) {
    r.enqueued = Clock::now();
    {
      std::lock_guard lock(mu_);
      // Releases get headroom beyond the bound: a refused release leaves a
      // slot taken until audit --repair, so it is worth a little more memory.
      const std::size_t bound = options_.max_queued * (r.kind != Request::Kind::kAdmit ? 2 : 1);
      if (stopping_ || queue_.size() >= bound) return false;
      queue_.push_back(std::move(r));
    }
    ready_.notify_one();
    return true;
  }

  static void Fail(Request& r, const Status& s) {
    if (r.kind != Request::Kind::kAdmit) {
      r.released = s;
    } else {
      r.admission.emplace(s);
    }
  }

  void Finish(Request& r) {
    if (r.kind != Request::Kind::kAdmit) {
      if (r.released.ok() && r.kind != Request::Kind::kAcknowledge) sold_out_.Forget(r.event_id);
      if (r.release_done) r.release_done(std::move(r.released));
      return;
    }
    if (r.admission->ok() && (*r.admission)->verdict == AdmitVerdict::kSoldOut) {
      RememberSoldOut(r.event_id, r.incarnation, r.total);
    }
    if (r.admit_done) r.admit_done(std::move(*r.admission));
  }

  void Work() {
    redis::BlockSigpipeOnThisThread();  // for the worker's whole life: see SigpipeBlock
    ContextPtr connection;
    milliseconds backoff = kMinBackoff;
    Clock::time_point next_attempt{};
    Clock::rep last_failure = 0;
    std::vector<Request> batch;
    for (;;) {
      {
        std::unique_lock lock(mu_);
        ready_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (stopping_) return;
        const std::size_t n = std::min(queue_.size(), kMaxBatch);
        for (std::size_t i = 0; i < n; ++i) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
      Process(batch, connection, backoff, next_attempt, last_failure);
      for (auto& r : batch) Finish(r);
      batch.clear();
    }
  }

  void Process(std::vector<Request>& batch, ContextPtr& connection, milliseconds& backoff,
               Clock::time_point& next_attempt, Clock::rep& last_failure_of_this_worker) {
    const auto now = Clock::now();
    std::vector<Request*> live;
    for (auto& r : batch) {
      if (now - r.enqueued > options_.timeout) {
        Fail(r, Status::Unavailable("redis gate: request waited longer than the timeout"));
      } else {
        live.push_back(&r);
      }
    }
    if (live.empty()) return;
    if (connection != nullptr && !redis::StillOpen(connection.get())) connection.reset();
    if (connection == nullptr) {
      // Why fail at once instead of waiting out the backoff: callers must hear
      // 503 within the timeout, and a fresh batch will try again soon enough.
      // The backoff ends early once another worker got through: Redis is back.
      if (now < next_attempt && connected_at_.load() < last_failure_of_this_worker) {
        for (auto* r : live) Fail(*r, Status::Unavailable("redis gate: reconnecting to redis"));
        return;
      }
      auto c = ConnectWithScripts(address_, options_.timeout, nullptr);
      if (!c.ok()) {
        last_failure_of_this_worker = Clock::now().time_since_epoch().count();
        next_attempt = Clock::now() + backoff;
        backoff = std::min(backoff * 2, kMaxBackoff);
        for (auto* r : live) Fail(*r, c.status());
        return;
      }
      connection = std::move(c).value();
      backoff = kMinBackoff;
      connected_at_.store(Clock::now().time_since_epoch().count());
    }
    std::vector<Request*> noscript;
    if (!Pipeline(connection.get(), live, &noscript)) {
      connection.reset();  // reconnect on the next batch, then back off
      return;
    }
    if (noscript.empty()) return;
    // The script cache was emptied (SCRIPT FLUSH, FLUSHALL, a restart). NOSCRIPT
    // means the script did not run, so loading it again and retrying cannot
    // decide anything twice.
    ScriptShas loaded;
    if (Status s = redis::LoadScripts(connection.get(), &loaded); !s.ok()) {
      for (auto* r : noscript) Fail(*r, s);
      if (connection->err != 0) connection.reset();
      return;
    }
    std::vector<Request*> again;
    if (!Pipeline(connection.get(), noscript, &again)) connection.reset();
    for (auto* r : again) Fail(*r, Status::Unavailable("redis gate: NOSCRIPT after reloading"));
  }

  // Sends every request, then reads every reply. Returns false when the
  // connection broke; every request not answered by then is failed.
  bool Pipeline(redisContext* c, const std::vector<Request*>& requests,
                std::vector<Request*>* noscript) {
    std::size_t appended = 0;
    for (auto* r : requests) {
      const EventKeys keys(r->event_id, r->incarnation);
      const Argv cmd = r->kind == Request::Kind::kAdmit
                           ? redis::AdmitCommand(shas_, keys, r->user_id, r->total, r->per_user)
                       : r->kind == Request::Kind::kAcknowledge
                           ? redis::AcknowledgeCommand(shas_, keys, r->record)
                           : redis::ReleaseCommand(shas_, keys, r->user_id, r->seq,
                                                   r->kind == Request::Kind::kWithdraw);
      if (!cmd.AppendTo(c)) break;
      ++appended;
    }
    for (std::size_t i = 0; i < requests.size(); ++i) {
      void* raw = nullptr;
      if (i >= appended || redisGetReply(c, &raw) != REDIS_OK) {
        const Status s = redis::ConnectionError(c, "gate");
        for (std::size_t j = i; j < requests.size(); ++j) Fail(*requests[j], s);
        return false;
      }
      ReplyPtr reply(static_cast<redisReply*>(raw));
      Request& r = *requests[i];
      if (redis::IsNoScript(*reply)) {
        noscript->push_back(&r);
      } else if (r.kind == Request::Kind::kAcknowledge) {
        // 0 (another admission's, or none) is fine: acknowledging is idempotent.
        r.released = reply->type == REDIS_REPLY_ERROR ? ErrorReplyStatus(*reply) : Status::Ok();
      } else if (r.kind != Request::Kind::kAdmit) {
        r.released = redis::DecodeRelease(*reply);
      } else {
        r.admission.emplace(redis::DecodeAdmission(*reply));
      }
    }
    return true;
  }

  // Runs commands pipelined on the control connection and returns every
  // reply (error replies included; the caller reads them). A connection that
  // had been idle may have been closed by a Redis restart: on end-of-file or
  // reset it is reopened and the commands sent once more (all callers send
  // reads, idempotent writes or a MULTI/EXEC, which Redis drops unless EXEC
  // arrived). A timeout is not retried: it would only double the wait.
  Result<std::vector<ReplyPtr>> Exchange(const std::vector<Argv>& commands) {
    std::lock_guard lock(control_mu_);
    redis::SigpipeBlock no_sigpipe;
    for (int attempt = 0;; ++attempt) {
      if (control_ != nullptr && !redis::StillOpen(control_.get())) control_.reset();
      const bool fresh = control_ == nullptr;
      if (fresh) {
        auto c = ConnectWithScripts(address_, options_.timeout, nullptr);
        if (!c.ok()) return c.status();
        control_ = std::move(c).value();
      }
      redisContext* c = control_.get();
      std::vector<ReplyPtr> replies;
      bool broken = false;
      for (const auto& cmd : commands) {
        if (!cmd.AppendTo(c)) {
          broken = true;
          break;
        }
      }
      while (!broken && replies.size() < commands.size()) {
        void* raw = nullptr;
        if (redisGetReply(c, &raw) != REDIS_OK) {
          broken = true;
          break;
        }
        replies.emplace_back(static_cast<redisReply*>(raw));
      }
      if (!broken) return replies;
      const int err = errno;
      const bool closed = c->err == REDIS_ERR_EOF ||
                          (c->err == REDIS_ERR_IO && (err == ECONNRESET || err == EPIPE));
      Status s = redis::ConnectionError(c, "control");
      control_.reset();
      if (fresh || !closed || attempt > 0) return s;
    }
  }

  // The holders are re-read each time the flag is set again after it expired
  // (so at most once per TTL and process); the read runs on the control
  // connection, in the calling worker, so it delays that worker's pipeline a
  // moment. Events larger than kMaxCachedHolders are never flagged.
  void RememberSoldOut(const std::string& event_id, std::int64_t incarnation, std::int64_t total) {
    if (!sold_out_.enabled() || total > kMaxCachedHolders) return;
    const auto now = Clock::now();
    if (sold_out_.Extend(event_id, incarnation, now)) return;
    Holders holders;
    Status read =
        ScanUsers(EventKeys(event_id, incarnation), [&](std::string user, std::string_view held) {
          holders[std::move(user)] = redis::ParseHeld(held);
        });
    if (!read.ok()) return;  // no short-circuit: every answer from the script
    sold_out_.Remember(event_id, incarnation, std::move(holders), now);
  }

  // Calls `visit` with every user of the users hash and its stored value
  // (HSCAN may repeat a field: the later call wins).
  Status ScanUsers(const EventKeys& keys,
                   const std::function<void(std::string, std::string_view)>& visit) {
    std::string cursor = "0";
    do {
      auto page = Exchange(
          {Argv{"HSCAN", keys.users, cursor, "COUNT"}.Add(static_cast<std::int64_t>(kChunk))});
      if (!page.ok()) return page.status();
      const redisReply& r = *page->front();
      if (r.type != REDIS_REPLY_ARRAY || r.elements != 2 ||
          r.element[1]->type != REDIS_REPLY_ARRAY) {
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

  const RedisGateOptions options_;
  const RedisAddress address_;
  const ScriptShas shas_;  // constant: a script's SHA1 depends on its text only

  std::mutex mu_;
  std::condition_variable ready_;  // workers: something queued or stopping
  // guarded by mu_; bounded by options_.max_queued (x2 for releases)
  std::deque<Request> queue_;
  bool stopping_ = false;                    // guarded by mu_
  std::vector<std::thread> workers_;         // set by the constructor, joined by the destructor
  std::atomic<Clock::rep> connected_at_{0};  // last successful worker connect

  std::mutex control_mu_;
  ContextPtr control_;  // guarded by control_mu_

  redis::SoldOutCache sold_out_;  // guards itself
};

Result<GateSnapshot> RedisGate::Snapshot(const Event& event) {
  EventKeys keys(event);
  // HSCAN and chunked ZRANGE do not block Redis for a big event, but they are
  // not one point in time; the counters are read before and after and the
  // whole scan is repeated (a few times) when admissions moved them meanwhile.
  Result<GateSnapshot> last = Status::Unavailable("redis gate: snapshot not taken");
  for (int attempt = 0; attempt < 3; ++attempt) {
    GateSnapshot snap;
    auto counters = Exchange({Argv{"MGET", keys.count, keys.next}});
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
    Status read = ScanUsers(keys, [&](std::string user, std::string_view held) {
      GateSnapshot::Holder h{user, {}, {}};
      redis::ParseHeld(held, &h.seqs, &h.user_seqs);
      holders[std::move(user)] = std::move(h);
    });
    if (!read.ok()) return read;
    for (auto& [user, holder] : holders) snap.holders.push_back(std::move(holder));

    for (std::int64_t start = 0;; start += static_cast<std::int64_t>(kChunk)) {
      auto page = Exchange({Argv{"ZRANGE", keys.free}.Add(start).Add(
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

    auto again = Exchange({Argv{"MGET", keys.count, keys.next, keys.total}});
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

Status RedisGate::Rebuild(const Event& event, const std::vector<Issuance>& issuances) {
  auto input = CheckRebuildInput(event, issuances, RebuildRules{});
  if (!input.ok()) return input.status();
  const std::set<std::int64_t>& held = input->held_seqs;
  const std::int64_t max_seq = input->max_seq;
  // One MULTI/EXEC: other clients see the old state or the new one, never a
  // mix; a connection lost before EXEC leaves the old state untouched.
  auto replies = Exchange(redis::RebuildCommands(event, issuances, held, max_seq));

  sold_out_.Forget(event.id);
  if (!replies.ok()) return replies.status();
  for (const auto& r : *replies) {
    if (r->type == REDIS_REPLY_ERROR) return ErrorReplyStatus(*r);
  }
  const redisReply& exec = *replies->back();
  if (exec.type != REDIS_REPLY_ARRAY) return Status::Internal("redis gate: rebuild EXEC reply");
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<Gate>> OpenRedisGate(const RedisGateOptions& options) {
  if (options.connections < 1 || options.connections > 256) {
    return Status::Invalid("redis gate: connections must be in 1..256");
  }
  if (options.timeout.count() <= 0) return Status::Invalid("redis gate: timeout must be > 0");
  if (options.max_queued < 1) return Status::Invalid("redis gate: max_queued must be >= 1");
  auto address = redis::ParseRedisUrl(options.url);
  if (!address.ok()) return address.status();
  ScriptShas shas;
  redis::SigpipeBlock no_sigpipe;
  auto control = ConnectWithScripts(*address, options.timeout, &shas);
  if (!control.ok()) return control.status();
  return std::unique_ptr<Gate>(
      new RedisGate(options, std::move(address).value(), std::move(control).value(), shas));
}

}  // namespace firstcome
