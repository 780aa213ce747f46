#include "gate/redis_primary.h"

#include <cerrno>
#include <optional>

#include "core/numbers.h"

namespace firstcome::redis {

Result<std::vector<RedisAddress>> ParseSentinels(std::string_view list) {
  std::vector<RedisAddress> out;
  while (!list.empty()) {
    const auto comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    // Same host:port rules as a redis:// URL (ParseRedisUrl), without a database.
    if (item.empty() || item.find('/') != std::string_view::npos) {
      return Status::Invalid("redis_sentinels: expected host:port[,host:port], got '" +
                             std::string(item) + "'");
    }
    auto address = ParseRedisUrl("redis://" + std::string(item));
    if (!address.ok()) return Status::Invalid("redis_sentinels: " + address.status().message());
    if (item.find(':') == std::string_view::npos || item.back() == ']') {
      return Status::Invalid("redis_sentinels: '" + std::string(item) + "' has no port");
    }
    out.push_back(std::move(address).value());
  }
  if (out.empty()) return Status::Invalid("redis_sentinels: empty list");
  if (out.size() > 32) return Status::Invalid("redis_sentinels: at most 32");
  return out;
}

Result<RedisAddress> PrimaryLocator::Ask(const RedisAddress& sentinel) const {
  RedisAddress at_sentinel = sentinel;
  at_sentinel.db = 0;  // a Sentinel has no databases
  auto c = redis::Connect(at_sentinel, options_.timeout);
  if (!c.ok()) return c.status();
  auto reply =
      Call(c->get(), Argv{"SENTINEL", "get-master-addr-by-name", options_.master_name}, "sentinel");
  if (!reply.ok()) return reply.status();
  const redisReply& r = **reply;
  if (r.type == REDIS_REPLY_ERROR) return ErrorReplyStatus(r);
  if (r.type != REDIS_REPLY_ARRAY || r.elements != 2) {
    return Status::Unavailable("redis sentinel names no primary '" + options_.master_name + "'");
  }
  std::optional<std::int64_t> port = ParseInt64(ReplyText(*r.element[1]));
  if (!port || *port < 1 || *port > 65535) return Status::Internal("redis sentinel: bad port");
  return RedisAddress{.host = std::string(ReplyText(*r.element[0])),
                      .port = static_cast<int>(*port),
                      .db = options_.fixed.db};
}

Result<PrimaryConnection> PrimaryLocator::Connect() const {
  if (!uses_sentinel()) {
    auto c = redis::Connect(options_.fixed, options_.timeout);
    if (!c.ok()) return c.status();
    return PrimaryConnection{std::move(c).value(), {}};
  }
  Status last = Status::Unavailable("redis: no sentinel answered");
  for (const RedisAddress& sentinel : options_.sentinels) {
    auto address = Ask(sentinel);
    if (!address.ok()) {
      last = address.status();
      continue;
    }
    auto c = redis::Connect(*address, options_.timeout);
    if (!c.ok()) {
      last = c.status();
      continue;
    }
    // Sentinel's answer can lag the truth by a moment in both directions
    // (the old primary right after it was demoted, or one not promoted yet):
    // only a server that says it is a master takes writes.
    auto role = Call(c->get(), Argv{"ROLE"}, "role");
    if (!role.ok()) return role.status();
    const redisReply& r = **role;
    if (r.type != REDIS_REPLY_ARRAY || r.elements < 1 || ReplyText(*r.element[0]) != "master") {
      last = Status::Unavailable("redis: the server Sentinel names is not a primary (yet)");
      continue;
    }
    auto info = Call(c->get(), Argv{"INFO", "server"}, "info");
    if (!info.ok()) return info.status();
    const std::string_view text = ReplyText(**info);
    constexpr std::string_view kRunId = "run_id:";
    const auto at = text.find(kRunId);
    if (at == std::string_view::npos) return Status::Internal("redis: INFO without run_id");
    std::string_view run_id = text.substr(at + kRunId.size());
    run_id = run_id.substr(0, run_id.find_first_of("\r\n"));
    return PrimaryConnection{std::move(c).value(), std::string(run_id)};
  }
  return last;
}

Result<PrimaryConnection> ConnectWithScripts(const PrimaryLocator& locator, ScriptShas* shas) {
  auto c = locator.Connect();
  if (!c.ok()) return c.status();
  ScriptShas loaded;
  if (Status s = LoadScripts(c->context.get(), &loaded); !s.ok()) return s;
  if (shas != nullptr) *shas = loaded;
  return c;
}

Result<std::vector<ReplyPtr>> ControlConnection::Exchange(const std::vector<Argv>& commands) {
  std::lock_guard lock(mu_);
  SigpipeBlock no_sigpipe;
  for (int attempt = 0;; ++attempt) {
    if (context_ != nullptr && !StillOpen(context_.get())) context_.reset();
    const bool fresh = context_ == nullptr;
    if (fresh) {
      auto c = ConnectWithScripts(locator_, nullptr);
      if (!c.ok()) return c.status();
      context_ = std::move(c->context);
    }
    redisContext* c = context_.get();
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
    if (!broken) {
      // A demoted primary answers writes with READONLY: look it up again next time.
      for (const auto& r : replies) {
        if (IsNotPrimary(*r)) context_.reset();
      }
      return replies;
    }
    const int err = errno;
    const bool closed =
        c->err == REDIS_ERR_EOF || (c->err == REDIS_ERR_IO && (err == ECONNRESET || err == EPIPE));
    Status s = ConnectionError(c, "control");
    context_.reset();
    if (fresh || !closed || attempt > 0) return s;
  }
}

bool IsNotPrimary(const redisReply& r) {
  if (r.type != REDIS_REPLY_ERROR) return false;
  const std::string_view text = ReplyText(r);
  for (std::string_view prefix : {"READONLY", "NOREPLICAS", "MASTERDOWN"}) {
    if (text.substr(0, prefix.size()) == prefix) return true;
  }
  return false;
}

Result<std::int64_t> WaitForReplicas(redisContext* c, std::int64_t replicas,
                                     std::chrono::milliseconds timeout) {
  auto reply =
      Call(c, Argv{"WAIT"}.Add(replicas).Add(static_cast<std::int64_t>(timeout.count())), "wait");
  if (!reply.ok()) return reply.status();
  return IntegerOf(**reply);
}

}  // namespace firstcome::redis
