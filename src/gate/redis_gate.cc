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
// With Sentinels every (re)connect looks the primary up (redis_primary.h), a
// "not primary" reply drops the connection, a new primary's admissions wait
// for the failover fence (redis_fence.h), and with wait_replicas each batch
// that admitted someone is confirmed by WAIT before its callbacks run.
#include "gate/redis_gate.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "gate/redis_connection.h"
#include "gate/redis_fence.h"
#include "gate/redis_gate_state.h"
#include "gate/redis_primary.h"
#include "gate/redis_scripts.h"
#include "gate/redis_sold_out_cache.h"

namespace firstcome {

namespace {

using Clock = std::chrono::steady_clock;
using redis::Argv;
using redis::ContextPtr;
using redis::ControlConnection;
using redis::ErrorReplyStatus;
using redis::EventKeys;
using redis::Holders;
using redis::IntegerOf;
using redis::PrimaryLocator;
using redis::ReplyPtr;
using redis::ReplyText;
using redis::ScriptShas;
using std::chrono::milliseconds;

// Why a cap: Redis pipelines fine, but one huge batch delays every callback in
// it until the last reply is read; other workers pick up the rest.
constexpr std::size_t kMaxBatch = 512;
constexpr milliseconds kMinBackoff{50};
constexpr milliseconds kMaxBackoff{1000};
// Events larger than this are not short-circuited: their holder list would be
// too big to keep per API process.
constexpr std::int64_t kMaxCachedHolders = 50000;

// A worker's connection to the primary and whether the fence let it admit.
struct WorkerConnection {
  ContextPtr context;
  std::string run_id;
  bool checked = false;
};

class RedisGate final : public Gate {
 public:
  RedisGate(const RedisGateOptions& options, std::unique_ptr<PrimaryLocator> locator,
            ContextPtr control, ScriptShas shas)
      : options_(options),
        locator_(std::move(locator)),
        shas_(std::move(shas)),
        control_(*locator_, std::move(control)),
        sold_out_(options_.sold_out_cache) {
    if (locator_->uses_sentinel()) {
      std::function<Status()> check;
      if (options_.check_after_failover) {
        check = [this] {
          control_.Reset();
          return options_.check_after_failover(*this);
        };
      }
      fence_ =
          std::make_unique<redis::FailoverFence>(*locator_, std::move(check), options_.fence_grace);
    }
    for (int i = 0; i < options_.connections; ++i) workers_.emplace_back([this] { Work(); });
  }

  ~RedisGate() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    ready_.notify_all();
    for (auto& w : workers_) w.join();
    fence_.reset();  // its check may use this gate: gone before the rest is
    // Nothing was sent for what is still queued: answering Unavailable is exact.
    for (auto& r : queue_) Fail(r, Status::Unavailable("redis gate closing"));
    for (auto& r : queue_) Finish(r);
  }

  void Admit(const Event& event, std::string_view user_id, AdmitCallback done) override {
    if (Admission a; sold_out_.Answer(event, user_id, &a)) return done(std::move(a));
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
    const std::vector<Argv> claim = {
        redis::ClaimCommand(EventKeys(event), age.count(), static_cast<std::int64_t>(max))};
    // After a failover, claims wait for the fence like admissions (redis_fence.h).
    auto replies = fence_ ? fence_->ExchangeIfChecked(claim) : control_.Exchange(claim);
    if (!replies.ok()) return replies.status();
    return redis::DecodeClaim(event, *replies->front());
  }

  Result<std::vector<std::int64_t>> SeqsOfUser(const Event& event,
                                               std::string_view user_id) override {
    EventKeys keys(event);
    auto replies = control_.Exchange({Argv{"HGET", keys.users, user_id}});
    if (!replies.ok()) return replies.status();
    const redisReply& r = *replies->front();
    if (r.type == REDIS_REPLY_NIL) return std::vector<std::int64_t>{};
    if (r.type == REDIS_REPLY_ERROR) return ErrorReplyStatus(r);
    if (r.type != REDIS_REPLY_STRING) return Status::Internal("redis gate: HGET reply");
    return redis::ParseHeld(ReplyText(r));
  }

  Result<std::int64_t> AdmittedCount(const Event& event) override {
    EventKeys keys(event);
    auto replies = control_.Exchange({Argv{"GET", keys.count}});
    if (!replies.ok()) return replies.status();
    return IntegerOf(*replies->front());
  }

  Result<bool> IsSeqHeld(const Event& event, std::int64_t seq) override {
    EventKeys keys(event);
    auto replies = control_.Exchange({Argv{"GET", keys.next}, Argv{"ZSCORE", keys.free}.Add(seq)});
    if (!replies.ok()) return replies.status();
    auto next = IntegerOf(*(*replies)[0]);
    if (!next.ok()) return next.status();
    const redisReply& free = *(*replies)[1];
    if (free.type == REDIS_REPLY_ERROR) return ErrorReplyStatus(free);
    // Every seq in 1..next is held or free (see redis_gate.h).
    return seq >= 1 && seq <= *next && free.type == REDIS_REPLY_NIL;
  }

  Result<GateSnapshot> Snapshot(const Event& event) override {
    return redis::ReadSnapshot(control_, event);
  }
  Status Rebuild(const Event& event, const std::vector<Issuance>& issuances) override {
    Status s = redis::WriteRebuild(control_, event, issuances);
    sold_out_.Forget(event.id);
    return s;
  }

  Result<TotalChange> SetTotal(const Event& event, std::int64_t total) override {
    if (total < 1 || total > kMaxTotal) return Status::Invalid("redis gate: total out of range");
    auto replies = control_.Exchange({redis::SetTotalCommand(EventKeys(event), total)});
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
    auto replies = control_.Exchange(
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
    auto replies = control_.Exchange({Argv{"PING"}});
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
    WorkerConnection connection;
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

  void Process(std::vector<Request>& batch, WorkerConnection& connection, milliseconds& backoff,
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
    if (connection.context != nullptr && !redis::StillOpen(connection.context.get())) {
      connection.context.reset();
    }
    if (connection.context == nullptr) {
      // Why fail at once instead of waiting out the backoff: callers must hear
      // 503 within the timeout, and a fresh batch will try again soon enough.
      // The backoff ends early once another worker got through: Redis is back.
      if (now < next_attempt && connected_at_.load() < last_failure_of_this_worker) {
        for (auto* r : live) Fail(*r, Status::Unavailable("redis gate: reconnecting to redis"));
        return;
      }
      auto c = redis::ConnectWithScripts(*locator_, nullptr);
      if (!c.ok()) {
        last_failure_of_this_worker = Clock::now().time_since_epoch().count();
        next_attempt = Clock::now() + backoff;
        backoff = std::min(backoff * 2, kMaxBackoff);
        for (auto* r : live) Fail(*r, c.status());
        return;
      }
      connection = WorkerConnection{std::move(c->context), std::move(c->run_id), fence_ == nullptr};
      backoff = kMinBackoff;
      connected_at_.store(Clock::now().time_since_epoch().count());
    }
    if (!connection.checked) {
      auto open = fence_->Open(connection.context.get(), connection.run_id);
      if (!open.ok() || !*open) {
        const Status s = open.ok() ? Status::Unavailable(
                                         "redis gate: the primary changed; admissions wait until "
                                         "the gate state is checked against the log")
                                   : open.status();
        for (auto* r : live) Fail(*r, s);
        if (!open.ok()) connection.context.reset();
        return;
      }
      connection.checked = true;
    }
    std::vector<Request*> noscript;
    bool not_primary = false;
    const bool sent = Pipeline(connection.context.get(), live, &noscript, &not_primary);
    if (sent && noscript.empty()) ConfirmReplicated(connection, live);
    if (!sent || not_primary) {
      connection.context.reset();  // look the primary up again on the next batch
      return;
    }
    if (noscript.empty()) return;
    // The script cache was emptied (SCRIPT FLUSH, FLUSHALL, a restart). NOSCRIPT
    // means the script did not run, so loading it again and retrying cannot
    // decide anything twice.
    ScriptShas loaded;
    if (Status s = redis::LoadScripts(connection.context.get(), &loaded); !s.ok()) {
      for (auto* r : noscript) Fail(*r, s);
      if (connection.context->err != 0) connection.context.reset();
      return;
    }
    std::vector<Request*> again;
    if (!Pipeline(connection.context.get(), noscript, &again, &not_primary) || not_primary) {
      connection.context.reset();
    }
    for (auto* r : again) Fail(*r, Status::Unavailable("redis gate: NOSCRIPT after reloading"));
    ConfirmReplicated(connection, live);
  }

  // With wait_replicas: WAIT until that many replicas have every write of
  // this connection so far. Short of it (a replica down, a primary cut off
  // from its replicas), each admission of the batch is released and answered
  // Unavailable: it is not logged, so a failover that loses it loses nothing
  // anyone was told. The connection is dropped so the next batch looks the
  // primary up again.
  void ConfirmReplicated(WorkerConnection& connection, const std::vector<Request*>& requests) {
    if (options_.wait_replicas <= 0 || connection.context == nullptr) return;
    std::vector<Request*> admitted;
    for (auto* r : requests) {
      if (r->kind == Request::Kind::kAdmit && r->admission && r->admission->ok() &&
          (*r->admission)->verdict == AdmitVerdict::kAdmitted) {
        admitted.push_back(r);
      }
    }
    if (admitted.empty()) return;
    // Half the timeout: the connection's read timeout must not fire first.
    auto acked = redis::WaitForReplicas(connection.context.get(), options_.wait_replicas,
                                        std::max(options_.timeout / 2, milliseconds(1)));
    if (acked.ok() && *acked >= options_.wait_replicas) return;
    const Status s = Status::Unavailable(
        "redis gate: admission not on " + std::to_string(options_.wait_replicas) +
        " replica(s) in time" + (acked.ok() ? "" : ": " + acked.status().message()));
    if (acked.ok()) {
      for (auto* r : admitted) {
        const EventKeys keys(r->event_id, r->incarnation);
        redis::ReleaseCommand(shas_, keys, r->user_id, (*r->admission)->seq,
                              /*only_unclaimed=*/true)
            .AppendTo(connection.context.get());
      }
      for (std::size_t i = 0; i < admitted.size(); ++i) {
        void* raw = nullptr;
        if (redisGetReply(connection.context.get(), &raw) != REDIS_OK) break;
        ReplyPtr reply(static_cast<redisReply*>(raw));
      }
    }
    // A connection that failed the WAIT leaves its slots taken until the
    // fence or `audit --repair` frees them: never over-issued.
    for (auto* r : admitted) r->admission.emplace(s);
    connection.context.reset();
  }

  // Sends every request, then reads every reply. Returns false when the
  // connection broke; every request not answered by then is failed.
  bool Pipeline(redisContext* c, const std::vector<Request*>& requests,
                std::vector<Request*>* noscript, bool* not_primary) {
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
      if (redis::IsNotPrimary(*reply)) *not_primary = true;
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

  // The holders are re-read each time the flag is set again after it expired
  // (so at most once per TTL and process); the read runs on the control
  // connection, in the calling worker, so it delays that worker's pipeline a
  // moment. Events larger than kMaxCachedHolders are never flagged.
  void RememberSoldOut(const std::string& event_id, std::int64_t incarnation, std::int64_t total) {
    if (!sold_out_.enabled() || total > kMaxCachedHolders) return;
    const auto now = Clock::now();
    if (sold_out_.Extend(event_id, incarnation, now)) return;
    Holders holders;
    Status read = redis::ScanUsers(control_, EventKeys(event_id, incarnation),
                                   [&](std::string user, std::string_view held) {
                                     holders[std::move(user)] = redis::ParseHeld(held);
                                   });
    if (!read.ok()) return;  // no short-circuit: every answer from the script
    sold_out_.Remember(event_id, incarnation, std::move(holders), now);
  }

  const RedisGateOptions options_;
  const std::unique_ptr<PrimaryLocator> locator_;
  const ScriptShas shas_;  // constant: a script's SHA1 depends on its text only

  std::mutex mu_;
  std::condition_variable ready_;  // workers: something queued or stopping
  // guarded by mu_; bounded by options_.max_queued (x2 for releases)
  std::deque<Request> queue_;
  bool stopping_ = false;                    // guarded by mu_
  std::vector<std::thread> workers_;         // set by the constructor, joined by the destructor
  std::atomic<Clock::rep> connected_at_{0};  // last successful worker connect

  ControlConnection control_;                    // guards itself
  std::unique_ptr<redis::FailoverFence> fence_;  // with sentinels only; before workers_ stop

  redis::SoldOutCache sold_out_;  // guards itself
};

}  // namespace

Result<std::unique_ptr<Gate>> OpenRedisGate(const RedisGateOptions& options) {
  if (options.connections < 1 || options.connections > 256) {
    return Status::Invalid("redis gate: connections must be in 1..256");
  }
  if (options.timeout.count() <= 0) return Status::Invalid("redis gate: timeout must be > 0");
  if (options.max_queued < 1) return Status::Invalid("redis gate: max_queued must be >= 1");
  if (options.wait_replicas < 0) return Status::Invalid("redis gate: wait_replicas must be >= 0");
  auto address = redis::ParseRedisUrl(options.url);
  if (!address.ok()) return address.status();
  redis::PrimaryOptions primary{
      .fixed = *address, .master_name = options.master_name, .timeout = options.timeout};
  if (!options.sentinels.empty()) {
    auto sentinels = redis::ParseSentinels(options.sentinels);
    if (!sentinels.ok()) return sentinels.status();
    primary.sentinels = std::move(sentinels).value();
  }
  auto locator = std::make_unique<PrimaryLocator>(std::move(primary));
  ScriptShas shas;
  redis::SigpipeBlock no_sigpipe;
  auto control = redis::ConnectWithScripts(*locator, &shas);
  if (!control.ok()) return control.status();
  return std::unique_ptr<Gate>(
      new RedisGate(options, std::move(locator), std::move(control->context), shas));
}

}  // namespace firstcome
