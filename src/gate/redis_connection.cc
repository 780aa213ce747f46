#include "gate/redis_connection.h"

#include <pthread.h>
#include <sys/socket.h>

#include <cerrno>
#include <optional>

#include "core/durations.h"
#include "core/numbers.h"

namespace firstcome::redis {

Result<RedisAddress> ParseRedisUrl(std::string_view url) {
  constexpr std::string_view kScheme = "redis://";
  if (url.substr(0, kScheme.size()) != kScheme) {
    return Status::Invalid("redis url must start with redis:// (got '" + std::string(url) + "')");
  }
  std::string_view rest = url.substr(kScheme.size());
  RedisAddress address;
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    std::optional<std::int64_t> db = ParseInt64(rest.substr(slash + 1));
    if (!db || *db < 0 || *db > 1'000'000) {
      return Status::Invalid("redis url: bad database number in '" + std::string(url) + "'");
    }
    address.db = static_cast<int>(*db);
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
    std::optional<std::int64_t> p = ParseInt64(port);
    if (!p || *p < 1 || *p > 65535) {
      return Status::Invalid("redis url: bad port in '" + std::string(url) + "'");
    }
    address.port = static_cast<int>(*p);
  }
  return address;
}

Result<ContextPtr> Connect(const RedisAddress& address, std::chrono::milliseconds timeout) {
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
    auto reply = Call(c.get(), select, "select on " + where);
    if (!reply.ok()) return reply.status();
    if ((*reply)->type == REDIS_REPLY_ERROR) return ErrorReplyStatus(**reply);
  }
  return c;
}

bool StillOpen(const redisContext* c) {
  char byte;
  const ssize_t n = ::recv(c->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n >= 0) return false;  // 0: closed; >0: bytes nobody asked for, out of step
  return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

Status ConnectionError(const redisContext* c, std::string_view what) {
  return Status::Unavailable("redis " + std::string(what) + ": " +
                             (c != nullptr && c->errstr[0] != '\0' ? c->errstr : "no connection"));
}

bool Argv::AppendTo(redisContext* c) const {
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

Result<ReplyPtr> Call(redisContext* c, const Argv& command, std::string_view what) {
  void* raw = nullptr;
  if (!command.AppendTo(c) || redisGetReply(c, &raw) != REDIS_OK) {
    return ConnectionError(c, what);
  }
  return ReplyPtr(static_cast<redisReply*>(raw));
}

std::string_view ReplyText(const redisReply& r) {
  return r.str == nullptr ? std::string_view() : std::string_view(r.str, r.len);
}

Status ErrorReplyStatus(const redisReply& r) {
  std::string_view text = ReplyText(r);
  for (std::string_view transient : {"LOADING", "BUSY", "OOM", "READONLY", "MASTERDOWN", "TRYAGAIN",
                                     "CLUSTERDOWN", "MOVED", "ASK", "NOSCRIPT", "NOREPLICAS"}) {
    if (text.substr(0, transient.size()) == transient) {
      return Status::Unavailable("redis: " + std::string(text));
    }
  }
  return Status::Internal("redis: " + std::string(text));
}

Result<std::int64_t> IntegerOf(const redisReply& r) {
  if (r.type == REDIS_REPLY_NIL) return std::int64_t{0};
  if (r.type == REDIS_REPLY_INTEGER) return static_cast<std::int64_t>(r.integer);
  if (r.type == REDIS_REPLY_STRING) {
    if (std::optional<std::int64_t> v = ParseInt64(ReplyText(r))) return *v;
  }
  if (r.type == REDIS_REPLY_ERROR) return ErrorReplyStatus(r);
  return Status::Internal("redis: expected an integer");
}

SigpipeBlock::SigpipeBlock() {
  sigset_t pending;
  sigemptyset(&pending);
  sigpending(&pending);
  was_pending_ = sigismember(&pending, SIGPIPE) == 1;
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &block, &old_);
}

SigpipeBlock::~SigpipeBlock() {
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

void BlockSigpipeOnThisThread() {
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &block, nullptr);
}

}  // namespace firstcome::redis
