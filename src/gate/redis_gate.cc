// RedisGate: admissions decided by one Lua script on Redis, pipelined.
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

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <unordered_map>
#include <utility>

namespace firstcome {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// KEYS: count, next, users, free. ARGV: user, total, per_user.
// Replies {0, seq, user_seq} admitted | {1, seq...} already_issued | {2} sold_out.
// Order of checks: a user who holds per_user seqs hears already_issued even
// after the event sold out. A user's entries are "seq:user_seq"; the new
// user_seq is the lowest one the user does not hold, so a released user_seq is
// reused (its issuance never became durable, so the store never saw it).
constexpr char kAdmitScript[] = R"lua(
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
local total = tonumber(ARGV[2])
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
return {0, seq, user_seq}
)lua";

// KEYS: count, users, free. ARGV: user, seq. Replies 1 released | 0 not held.
constexpr char kReleaseScript[] = R"lua(
local held = redis.call('HGET', KEYS[2], ARGV[1])
if not held then return 0 end
local kept, found = {}, false
for s, u in string.gmatch(held, '(%d+):(%d+)') do
  if not found and s == ARGV[2] then found = true else kept[#kept + 1] = s .. ':' .. u end
end
if not found then return 0 end
if #kept == 0 then
  redis.call('HDEL', KEYS[2], ARGV[1])
else
  redis.call('HSET', KEYS[2], ARGV[1], table.concat(kept, ','))
end
redis.call('DECR', KEYS[1])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[2])
return 1
)lua";

// Why a cap: Redis pipelines fine, but one huge batch delays every callback in
// it until the last reply is read; other workers pick up the rest.
constexpr std::size_t kMaxBatch = 512;
constexpr milliseconds kMinBackoff{50};
constexpr milliseconds kMaxBackoff{1000};
// Rebuild writes free seqs one by one; beyond this the caller's issuances are
// too sparse for a dense gate and are refused instead of exhausting memory.
constexpr std::int64_t kMaxFreeOnRebuild = 1'000'000;
constexpr std::size_t kChunk = 500;  // fields per HSET/ZADD/ZRANGE/HSCAN call
constexpr std::size_t kMaxSoldOutEntries = 10000;
// Events larger than this are not short-circuited: their holder list would be
// too big to keep per API process.
constexpr std::int64_t kMaxCachedHolders = 50000;

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

bool ParseInt(std::string_view text, std::int64_t* out) {
  if (text.empty()) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size();
}

Result<RedisAddress> ParseRedisUrl(std::string_view url) {
  constexpr std::string_view kScheme = "redis://";
  if (url.substr(0, kScheme.size()) != kScheme) {
    return Status::Invalid("redis url must start with redis:// (got '" + std::string(url) + "')");
  }
  std::string_view rest = url.substr(kScheme.size());
  RedisAddress address;
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    std::int64_t db = 0;
    if (!ParseInt(rest.substr(slash + 1), &db) || db < 0 || db > 1'000'000) {
      return Status::Invalid("redis url: bad database number in '" + std::string(url) + "'");
    }
    address.db = static_cast<int>(db);
    rest = rest.substr(0, slash);
  }
  if (rest.find('@') != std::string_view::npos) {
    return Status::Invalid("redis url: credentials are not supported");
  }
  std::string_view host = rest;
  std::string_view port;
  if (!rest.empty() && rest.front() == '[') {  // [IPv6]:port
    auto close = rest.find(']');
    if (close == std::string_view::npos) return Status::Invalid("redis url: unclosed '['");
    host = rest.substr(1, close - 1);
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':')
        return Status::Invalid("redis url: bad host in '" + std::string(url) + "'");
      port = rest.substr(close + 2);
    }
  } else if (auto colon = rest.rfind(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  if (host.empty()) return Status::Invalid("redis url: no host in '" + std::string(url) + "'");
  address.host = std::string(host);
  if (!port.empty()) {
    std::int64_t p = 0;
    if (!ParseInt(port, &p) || p < 1 || p > 65535) {
      return Status::Invalid("redis url: bad port in '" + std::string(url) + "'");
    }
    address.port = static_cast<int>(p);
  }
  return address;
}

timeval ToTimeval(milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

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
  bool AppendTo(redisContext* c) const {
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    argv.reserve(parts_.size());
    lens.reserve(parts_.size());
    for (const auto& p : parts_) {
      argv.push_back(p.data());
      lens.push_back(p.size());
    }
    return redisAppendCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()) ==
           REDIS_OK;
  }

 private:
  std::vector<std::string> parts_;
};

struct EventKeys {
  explicit EventKeys(const std::string& event_id)
      : count("fc:{" + event_id + "}:count"),
        next("fc:{" + event_id + "}:next"),
        users("fc:{" + event_id + "}:users"),
        free("fc:{" + event_id + "}:free") {}
  std::string count, next, users, free;
};

std::string_view ReplyText(const redisReply& r) {
  return r.str == nullptr ? std::string_view() : std::string_view(r.str, r.len);
}

// An error reply as a Status: conditions that pass (loading, busy script,
// failover, memory pressure) are Unavailable, anything else is a bug.
Status ErrorReplyStatus(const redisReply& r) {
  std::string_view text = ReplyText(r);
  for (std::string_view transient : {"LOADING", "BUSY", "OOM", "READONLY", "MASTERDOWN", "TRYAGAIN",
                                     "CLUSTERDOWN", "MOVED", "ASK", "NOSCRIPT"}) {
    if (text.substr(0, transient.size()) == transient) {
      return Status::Unavailable("redis: " + std::string(text));
    }
  }
  return Status::Internal("redis: " + std::string(text));
}

// "seq:user_seq,..." -> seqs in the order stored. Malformed parts are skipped
// (only the scripts and Rebuild write these values).
std::vector<std::int64_t> ParseHeld(std::string_view held) {
  std::vector<std::int64_t> seqs;
  while (!held.empty()) {
    auto comma = held.find(',');
    std::string_view entry = held.substr(0, comma);
    held = comma == std::string_view::npos ? std::string_view() : held.substr(comma + 1);
    std::int64_t seq = 0;
    if (ParseInt(entry.substr(0, entry.find(':')), &seq)) seqs.push_back(seq);
  }
  return seqs;
}

Result<std::int64_t> IntegerOf(const redisReply& r) {
  if (r.type == REDIS_REPLY_NIL) return std::int64_t{0};
  if (r.type == REDIS_REPLY_INTEGER) return static_cast<std::int64_t>(r.integer);
  std::int64_t v = 0;
  if (r.type == REDIS_REPLY_STRING && ParseInt(ReplyText(r), &v)) return v;
  if (r.type == REDIS_REPLY_ERROR) return ErrorReplyStatus(r);
  return Status::Internal("redis: expected an integer");
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
      if (r.elements != 3) return bad();
      a.verdict = AdmitVerdict::kAdmitted;
      a.seq = r.element[1]->integer;
      a.user_seq = static_cast<std::int32_t>(r.element[2]->integer);
      return a;
    case 1:
      a.verdict = AdmitVerdict::kAlreadyIssued;
      for (std::size_t i = 1; i < r.elements; ++i) a.held_seqs.push_back(r.element[i]->integer);
      return a;
    case 2:
      a.verdict = AdmitVerdict::kSoldOut;
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
  return Status::NotFound("redis gate: the user does not hold that seq");
}

Status ConnectionError(const redisContext* c, std::string_view what) {
  return Status::Unavailable("redis " + std::string(what) + ": " +
                             (c != nullptr && c->errstr[0] != '\0' ? c->errstr : "no connection"));
}

// hiredis writes with write(2): a write to a connection Redis closed raises
// SIGPIPE, which kills a process that did not ignore it. A library must not
// rely on its host for that, so SIGPIPE is blocked on the calling thread while
// it talks to Redis, and a SIGPIPE raised meanwhile is consumed (write then
// just fails with EPIPE). Workers block it for their whole life instead.
class SigpipeBlock {
 public:
  SigpipeBlock() {
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &block, &old_);
  }
  ~SigpipeBlock() {
    if (!was_pending_) {
      sigset_t pending;
      sigemptyset(&pending);
      sigpending(&pending);
      if (sigismember(&pending, SIGPIPE) == 1) {
        sigset_t pipe;
        sigemptyset(&pipe);
        sigaddset(&pipe, SIGPIPE);
        const timespec zero{};
        sigtimedwait(&pipe, nullptr, &zero);
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeBlock(const SigpipeBlock&) = delete;
  SigpipeBlock& operator=(const SigpipeBlock&) = delete;

 private:
  sigset_t old_;
  bool was_pending_ = false;
};

// False when Redis closed the connection (a restart, a stop, an idle
// timeout) since it was last used. Why check before sending: a batch written
// to a dead connection fails as a whole and its callers hear 503 although a
// restarted Redis is already up; checking costs one non-blocking syscall and
// nothing has been sent yet, so reconnecting here is always safe.
bool StillOpen(const redisContext* c) {
  char byte;
  const ssize_t n = ::recv(c->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n >= 0) return false;  // 0: closed; >0: bytes nobody asked for, out of step
  return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

// The scripts' SHA1 digests, as Redis computed them on the first SCRIPT LOAD.
struct ScriptShas {
  std::string admit;
  std::string release;
};

Status LoadScripts(redisContext* c, ScriptShas* shas) {
  for (auto [body, sha] :
       {std::pair{kAdmitScript, &shas->admit}, std::pair{kReleaseScript, &shas->release}}) {
    Argv load{"SCRIPT", "LOAD", body};
    if (!load.AppendTo(c)) return ConnectionError(c, "script load");
    void* raw = nullptr;
    if (redisGetReply(c, &raw) != REDIS_OK) return ConnectionError(c, "script load");
    ReplyPtr reply(static_cast<redisReply*>(raw));
    if (reply->type == REDIS_REPLY_ERROR) return ErrorReplyStatus(*reply);
    if (reply->type != REDIS_REPLY_STRING) return Status::Internal("redis: SCRIPT LOAD reply");
    *sha = std::string(ReplyText(*reply));
  }
  return Status::Ok();
}

// Connects with the timeout on connect and on every later read and write,
// selects the database and makes sure the scripts are in Redis's cache.
Result<ContextPtr> Connect(const RedisAddress& address, milliseconds timeout, ScriptShas* shas) {
  ContextPtr c(redisConnectWithTimeout(address.host.c_str(), address.port, ToTimeval(timeout)));
  if (c == nullptr) return Status::Unavailable("redis connect: out of memory");
  const std::string where = address.host + ":" + std::to_string(address.port);
  if (c->err != 0) return ConnectionError(c.get(), "connect to " + where);
  if (redisSetTimeout(c.get(), ToTimeval(timeout)) != REDIS_OK) {
    return ConnectionError(c.get(), "set timeout on " + where);
  }
  if (address.db != 0) {
    Argv select{"SELECT"};
    select.Add(address.db);
    void* raw = nullptr;
    if (!select.AppendTo(c.get()) || redisGetReply(c.get(), &raw) != REDIS_OK) {
      return ConnectionError(c.get(), "select on " + where);
    }
    ReplyPtr reply(static_cast<redisReply*>(raw));
    if (reply->type == REDIS_REPLY_ERROR) return ErrorReplyStatus(*reply);
  }
  ScriptShas loaded;
  if (Status s = LoadScripts(c.get(), &loaded); !s.ok()) return s;
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
        control_(std::move(control)) {
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

  void Admit(const Event& event, std::string_view user_id, AdmitCallback done) override {
    if (Admission a; CachedSoldOut(event, user_id, &a)) return done(std::move(a));
    Request r;
    r.event_id = event.id;
    r.user_id = std::string(user_id);
    r.total = event.total;
    r.per_user = event.per_user;
    r.admit_done = std::move(done);
    if (!Enqueue(r)) r.admit_done(Status::Unavailable("redis gate: too many requests queued"));
  }

  void Release(const Event& event, std::string_view user_id, std::int64_t seq,
               DoneCallback done) override {
    Request r;
    r.release = true;
    r.event_id = event.id;
    r.user_id = std::string(user_id);
    r.seq = seq;
    r.release_done = std::move(done);
    if (!Enqueue(r)) r.release_done(Status::Unavailable("redis gate: too many requests queued"));
  }

  Result<std::vector<std::int64_t>> SeqsOfUser(const Event& event,
                                               std::string_view user_id) override {
    EventKeys keys(event.id);
    auto replies = Exchange({Argv{"HGET", keys.users, user_id}});
    if (!replies.ok()) return replies.status();
    const redisReply& r = *replies->front();
    if (r.type == REDIS_REPLY_NIL) return std::vector<std::int64_t>{};
    if (r.type == REDIS_REPLY_ERROR) return ErrorReplyStatus(r);
    if (r.type != REDIS_REPLY_STRING) return Status::Internal("redis gate: HGET reply");
    return ParseHeld(ReplyText(r));
  }

  Result<std::int64_t> AdmittedCount(const Event& event) override {
    EventKeys keys(event.id);
    auto replies = Exchange({Argv{"GET", keys.count}});
    if (!replies.ok()) return replies.status();
    return IntegerOf(*replies->front());
  }

  Result<GateSnapshot> Snapshot(const Event& event) override;
  Status Rebuild(const Event& event, const std::vector<Issuance>& issuances) override;

  Status Forget(const Event& event) override {
    EventKeys keys(event.id);
    auto replies = Exchange({Argv{"DEL", keys.count, keys.next, keys.users, keys.free}});
    ForgetSoldOut(event.id);
    if (!replies.ok()) return replies.status();
    const redisReply& r = *replies->front();
    return r.type == REDIS_REPLY_ERROR ? ErrorReplyStatus(r) : Status::Ok();
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
    bool release = false;
    std::string event_id;
    std::string user_id;
    std::int64_t total = 0;
    std::int32_t per_user = 1;
    std::int64_t seq = 0;  // release only
    AdmitCallback admit_done;
    DoneCallback release_done;
    Clock::time_point enqueued;
    // Set exactly once before Finish().
    std::optional<Result<Admission>> admission;
    Status released = Status::Internal("redis gate: no answer");
  };

  bool Enqueue(Request& r) {
    r.enqueued = Clock::now();
    {
      std::lock_guard lock(mu_);
      // Releases get headroom beyond the bound: a refused release leaves a
      // slot taken until audit --repair, so it is worth a little more memory.
      const std::size_t bound = options_.max_queued * (r.release ? 2 : 1);
      if (stopping_ || queue_.size() >= bound) return false;
      queue_.push_back(std::move(r));
    }
    ready_.notify_one();
    return true;
  }

  static void Fail(Request& r, const Status& s) {
    if (r.release) {
      r.released = s;
    } else {
      r.admission.emplace(s);
    }
  }

  void Finish(Request& r) {
    if (r.release) {
      if (r.released.ok()) ForgetSoldOut(r.event_id);
      if (r.release_done) r.release_done(std::move(r.released));
      return;
    }
    if (r.admission->ok() && (*r.admission)->verdict == AdmitVerdict::kSoldOut) {
      RememberSoldOut(r.event_id, r.total);
    }
    if (r.admit_done) r.admit_done(std::move(*r.admission));
  }

  void Work() {
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &block, nullptr);  // see SigpipeBlock
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
    if (connection != nullptr && !StillOpen(connection.get())) connection.reset();
    if (connection == nullptr) {
      // Why fail at once instead of waiting out the backoff: callers must hear
      // 503 within the timeout, and a fresh batch will try again soon enough.
      // The backoff ends early once another worker got through: Redis is back.
      if (now < next_attempt && connected_at_.load() < last_failure_of_this_worker) {
        for (auto* r : live) Fail(*r, Status::Unavailable("redis gate: reconnecting to redis"));
        return;
      }
      auto c = Connect(address_, options_.timeout, nullptr);
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
    if (Status s = LoadScripts(connection.get(), &loaded); !s.ok()) {
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
      EventKeys keys(r->event_id);
      Argv cmd;
      if (r->release) {
        cmd.Add("EVALSHA").Add(shas_.release).Add(3).Add(keys.count).Add(keys.users);
        cmd.Add(keys.free).Add(r->user_id).Add(r->seq);
      } else {
        cmd.Add("EVALSHA").Add(shas_.admit).Add(4).Add(keys.count).Add(keys.next);
        cmd.Add(keys.users).Add(keys.free).Add(r->user_id).Add(r->total).Add(r->per_user);
      }
      if (!cmd.AppendTo(c)) break;
      ++appended;
    }
    for (std::size_t i = 0; i < requests.size(); ++i) {
      void* raw = nullptr;
      if (i >= appended || redisGetReply(c, &raw) != REDIS_OK) {
        const Status s = ConnectionError(c, "gate");
        for (std::size_t j = i; j < requests.size(); ++j) Fail(*requests[j], s);
        return false;
      }
      ReplyPtr reply(static_cast<redisReply*>(raw));
      Request& r = *requests[i];
      if (reply->type == REDIS_REPLY_ERROR && ReplyText(*reply).substr(0, 8) == "NOSCRIPT") {
        noscript->push_back(&r);
      } else if (r.release) {
        r.released = DecodeRelease(*reply);
      } else {
        r.admission.emplace(DecodeAdmission(*reply));
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
    SigpipeBlock no_sigpipe;
    for (int attempt = 0;; ++attempt) {
      if (control_ != nullptr && !StillOpen(control_.get())) control_.reset();
      const bool fresh = control_ == nullptr;
      if (fresh) {
        auto c = Connect(address_, options_.timeout, nullptr);
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
      Status s = ConnectionError(c, "control");
      control_.reset();
      if (fresh || !closed || attempt > 0) return s;
    }
  }

  // The sold-out short-circuit answers exactly what the script would: a user
  // who holds per_user coupons hears already_issued (with the seqs), everyone
  // else sold_out. So the cache keeps, with the flag, the event's holders as
  // read from Redis when it sold out (at most kMaxCachedHolders of them).
  bool CachedSoldOut(const Event& event, std::string_view user_id, Admission* a) {
    if (options_.sold_out_cache.count() <= 0) return false;
    std::lock_guard lock(cache_mu_);
    auto it = sold_out_.find(event.id);
    if (it == sold_out_.end()) return false;
    if (Clock::now() >= it->second.until) {
      it->second.until = {};  // expired: the next answer comes from the script
      return false;
    }
    auto held = it->second.holders->find(std::string(user_id));
    if (held != it->second.holders->end() &&
        held->second.size() >= static_cast<std::size_t>(event.per_user)) {
      a->verdict = AdmitVerdict::kAlreadyIssued;
      a->held_seqs = held->second;
    } else {
      a->verdict = AdmitVerdict::kSoldOut;
    }
    return true;
  }

  // Why a short TTL is safe: an event's gate only moves toward sold-out; it
  // opens again only by a release (a failed log write, here or in another API
  // process) or a rebuild. A local release drops the flag at once; one
  // elsewhere is noticed within the TTL, and until then a freed slot merely
  // waits a little for its next taker. Nothing is ever over-issued.
  // The holders are re-read each time the flag is set again after it expired
  // (so at most once per TTL and process); the read runs on the control
  // connection, in the calling worker, so it delays that worker's pipeline a
  // moment.
  void RememberSoldOut(const std::string& event_id, std::int64_t total) {
    if (options_.sold_out_cache.count() <= 0 || total > kMaxCachedHolders) return;
    const auto now = Clock::now();
    {
      std::lock_guard lock(cache_mu_);
      auto it = sold_out_.find(event_id);
      if (it != sold_out_.end() && now < it->second.until) {
        it->second.until = now + options_.sold_out_cache;
        return;
      }
    }
    auto holders = ReadHolders(event_id);
    if (!holders.ok()) return;  // no short-circuit: every answer from the script
    std::lock_guard lock(cache_mu_);
    if (sold_out_.size() >= kMaxSoldOutEntries) sold_out_.clear();
    sold_out_[event_id] = SoldOut{now + options_.sold_out_cache,
                                  std::make_shared<const Holders>(std::move(holders).value())};
  }

  void ForgetSoldOut(const std::string& event_id) {
    std::lock_guard lock(cache_mu_);
    sold_out_.erase(event_id);
  }

  using Holders = std::unordered_map<std::string, std::vector<std::int64_t>>;

  Result<Holders> ReadHolders(const std::string& event_id) {
    EventKeys keys(event_id);
    Holders holders;
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
        holders[std::string(ReplyText(*fields.element[i]))] =
            ParseHeld(ReplyText(*fields.element[i + 1]));  // HSCAN may repeat a field
      }
    } while (cursor != "0");
    return holders;
  }

  struct SoldOut {
    Clock::time_point until;  // trusted until then; {} once expired
    std::shared_ptr<const Holders> holders;
  };

  const RedisGateOptions options_;
  const RedisAddress address_;
  const ScriptShas shas_;  // constant: a script's SHA1 depends on its text only

  std::mutex mu_;
  std::condition_variable ready_;
  std::deque<Request> queue_;  // bounded by options_.max_queued (x2 for releases)
  bool stopping_ = false;
  std::vector<std::thread> workers_;
  std::atomic<Clock::rep> connected_at_{0};  // last successful worker connect

  std::mutex control_mu_;
  ContextPtr control_;  // guarded by control_mu_

  std::mutex cache_mu_;
  std::unordered_map<std::string, SoldOut> sold_out_;
};

Result<GateSnapshot> RedisGate::Snapshot(const Event& event) {
  EventKeys keys(event.id);
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

    auto read = ReadHolders(event.id);
    if (!read.ok()) return read.status();
    std::map<std::string, std::vector<std::int64_t>> holders(read->begin(), read->end());
    for (auto& [user, seqs] : holders) snap.holders.push_back({user, std::move(seqs)});

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
        std::int64_t seq = 0;
        if (ParseInt(ReplyText(*r.element[i]), &seq)) snap.free_seqs.push_back(seq);
      }
      if (r.elements < kChunk) break;
    }

    auto again = Exchange({Argv{"MGET", keys.count, keys.next}});
    if (!again.ok()) return again.status();
    const redisReply& after = *again->front();
    const bool steady =
        after.type == REDIS_REPLY_ARRAY && after.elements == 2 &&
        IntegerOf(*after.element[0]).ok() && *IntegerOf(*after.element[0]) == snap.admitted &&
        IntegerOf(*after.element[1]).ok() && *IntegerOf(*after.element[1]) == snap.next_seq;
    last = std::move(snap);
    if (steady) break;
  }
  return last;
}

Status RedisGate::Rebuild(const Event& event, const std::vector<Issuance>& issuances) {
  // user -> (user_seq -> seq), ordered so stored values are deterministic.
  std::map<std::string, std::map<std::int32_t, std::int64_t>> users;
  std::set<std::int64_t> held;
  std::int64_t max_seq = 0;
  for (const auto& i : issuances) {
    if (i.event_id != event.id) {
      return Status::Invalid("rebuild: issuance of event '" + i.event_id + "' given for '" +
                             event.id + "'");
    }
    if (i.seq < 1 || i.seq > event.total) {
      return Status::Invalid("rebuild: seq " + std::to_string(i.seq) + " outside 1.." +
                             std::to_string(event.total));
    }
    if (i.user_seq < 1) return Status::Invalid("rebuild: user_seq below 1");
    if (!held.insert(i.seq).second) {
      return Status::Invalid("rebuild: seq " + std::to_string(i.seq) + " given twice");
    }
    if (!users[i.user_id].emplace(i.user_seq, i.seq).second) {
      return Status::Invalid("rebuild: user '" + i.user_id + "' has user_seq " +
                             std::to_string(i.user_seq) + " twice");
    }
    max_seq = std::max(max_seq, i.seq);
  }
  if (max_seq - static_cast<std::int64_t>(held.size()) > kMaxFreeOnRebuild) {
    return Status::Invalid("rebuild: more than " + std::to_string(kMaxFreeOnRebuild) +
                           " free seqs below the highest one");
  }

  EventKeys keys(event.id);
  // One MULTI/EXEC: other clients see the old state or the new one, never a
  // mix; a connection lost before EXEC leaves the old state untouched.
  std::vector<Argv> tx;
  tx.push_back(Argv{"MULTI"});
  tx.push_back(Argv{"DEL", keys.count, keys.next, keys.users, keys.free});
  tx.push_back(Argv{"SET", keys.count}.Add(static_cast<std::int64_t>(held.size())));
  tx.push_back(Argv{"SET", keys.next}.Add(max_seq));
  Argv hset{"HSET", keys.users};
  for (const auto& [user, seqs] : users) {
    std::string value;
    for (const auto& [user_seq, seq] : seqs) {
      if (!value.empty()) value += ',';
      value += std::to_string(seq) + ":" + std::to_string(user_seq);
    }
    hset.Add(user).Add(value);
    if (hset.size() >= 2 + 2 * kChunk) {
      tx.push_back(std::move(hset));
      hset = Argv{"HSET", keys.users};
    }
  }
  if (hset.size() > 2) tx.push_back(std::move(hset));
  Argv zadd{"ZADD", keys.free};
  for (std::int64_t seq = 1; seq <= max_seq; ++seq) {
    if (held.count(seq) != 0) continue;
    zadd.Add(seq).Add(seq);
    if (zadd.size() >= 2 + 2 * kChunk) {
      tx.push_back(std::move(zadd));
      zadd = Argv{"ZADD", keys.free};
    }
  }
  if (zadd.size() > 2) tx.push_back(std::move(zadd));
  tx.push_back(Argv{"EXEC"});

  auto replies = Exchange(tx);
  ForgetSoldOut(event.id);
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
  auto address = ParseRedisUrl(options.url);
  if (!address.ok()) return address.status();
  ScriptShas shas;
  SigpipeBlock no_sigpipe;
  auto control = Connect(*address, options.timeout, &shas);
  if (!control.ok()) return control.status();
  return std::unique_ptr<Gate>(
      new RedisGate(options, std::move(address).value(), std::move(control).value(), shas));
}

}  // namespace firstcome
