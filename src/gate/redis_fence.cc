#include "gate/redis_fence.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <random>

#include "core/thread_name.h"

namespace firstcome::redis {

namespace {

constexpr std::string_view kCheckedKey = "fc:gate:checked";
constexpr std::string_view kFenceKey = "fc:gate:fence";
constexpr std::chrono::milliseconds kRetry{200};
// The lease covers the grace and a slow check; should its holder die, another
// process takes over once it ran out. Two checks at once are harmless (both
// rebuild the same state from the same log while admissions are fenced).
constexpr std::chrono::milliseconds kCheckLeaseBeyondGrace{10000};

// Deletes the fence key only while it still holds our token.
constexpr std::string_view kUnlockScript =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end "
    "return 0";

std::string NewToken() {
  std::random_device random;
  return std::to_string(::getpid()) + "-" + std::to_string(random()) + std::to_string(random());
}

Result<bool> IsChecked(redisContext* c, const std::string& run_id) {
  auto reply = Call(c, Argv{"GET", kCheckedKey}, "fence");
  if (!reply.ok()) return reply.status();
  if ((*reply)->type == REDIS_REPLY_ERROR) return ErrorReplyStatus(**reply);
  return (*reply)->type == REDIS_REPLY_STRING && ReplyText(**reply) == run_id;
}

}  // namespace

FailoverFence::FailoverFence(const PrimaryLocator& locator, std::function<Status()> check,
                             std::chrono::milliseconds grace)
    : locator_(locator), check_(std::move(check)), grace_(grace), token_(NewToken()) {
  thread_ = std::thread([this] { Loop(); });
}

FailoverFence::~FailoverFence() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

Result<bool> FailoverFence::Open(redisContext* c, const std::string& run_id) {
  auto checked = IsChecked(c, run_id);
  if (!checked.ok() || *checked) return checked;
  {
    std::lock_guard lock(mu_);
    wanted_ = true;
  }
  wake_.notify_all();
  return false;
}

Result<std::vector<ReplyPtr>> FailoverFence::ExchangeIfChecked(const std::vector<Argv>& commands) {
  std::lock_guard lock(exchange_mu_);
  SigpipeBlock no_sigpipe;
  if (exchange_.context != nullptr && !StillOpen(exchange_.context.get())) {
    exchange_.context.reset();
  }
  if (exchange_.context == nullptr) {
    auto c = locator_.Connect();
    if (!c.ok()) return c.status();
    exchange_ = std::move(c).value();
  }
  redisContext* c = exchange_.context.get();
  bool sent = Argv{"GET", kCheckedKey}.AppendTo(c);
  for (const auto& cmd : commands) sent = sent && cmd.AppendTo(c);
  std::vector<ReplyPtr> replies;
  while (sent && replies.size() < commands.size() + 1) {
    void* raw = nullptr;
    if (redisGetReply(c, &raw) != REDIS_OK) break;
    replies.emplace_back(static_cast<redisReply*>(raw));
  }
  if (replies.size() < commands.size() + 1) {
    Status s = ConnectionError(c, "fence");
    exchange_.context.reset();
    return s;
  }
  const redisReply& checked = *replies.front();
  if (checked.type != REDIS_REPLY_STRING || ReplyText(checked) != exchange_.run_id) {
    exchange_.context.reset();  // look the primary up again next time
    return Status::Unavailable("redis gate: the primary's state is not checked yet");
  }
  replies.erase(replies.begin());
  return replies;
}

bool FailoverFence::Sleep(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  return !wake_.wait_for(lock, d, [this] { return stopping_; });
}

void FailoverFence::Loop() {
  NameThisThread("fc-redis-fence");
  BlockSigpipeOnThisThread();
  for (;;) {
    {
      std::unique_lock lock(mu_);
      wake_.wait(lock, [this] { return stopping_ || wanted_; });
      if (stopping_) return;
      wanted_ = false;
    }
    for (;;) {
      Status s = Attempt();
      if (s.ok()) break;
      spdlog::debug("redis failover fence: {}", s.message());
      if (!Sleep(kRetry)) return;
    }
  }
}

Status FailoverFence::Attempt() {
  auto primary = locator_.Connect();
  if (!primary.ok()) return primary.status();
  redisContext* c = primary->context.get();
  auto checked = IsChecked(c, primary->run_id);
  if (!checked.ok() || *checked) return checked.status();
  if (!check_) return Status::Unavailable("waiting for another process to check the gate");
  auto lock = Call(c,
                   Argv{"SET", kFenceKey, token_, "NX", "PX"}.Add(
                       static_cast<std::int64_t>((grace_ + kCheckLeaseBeyondGrace).count())),
                   "fence");
  if (!lock.ok()) return lock.status();
  if ((*lock)->type != REDIS_REPLY_STATUS) {
    return (*lock)->type == REDIS_REPLY_ERROR ? ErrorReplyStatus(**lock)
                                              : Status::Unavailable("another process checks");
  }
  const auto started = std::chrono::steady_clock::now();
  spdlog::warn(
      "redis primary {} has unchecked gate state (failover or restart): admissions stop; "
      "checking every event against the log and the store in {} ms",
      primary->run_id, grace_.count());
  if (!Sleep(grace_)) return Status::Unavailable("closing");
  Status s = check_();
  if (!s.ok())
    spdlog::warn("redis failover fence: the check failed, trying again: {}", s.message());
  // A new connection: the check may have taken longer than the old one lived.
  auto again = locator_.Connect();
  if (!again.ok()) return again.status();
  if (s.ok() && again->run_id != primary->run_id) {
    s = Status::Unavailable("the primary changed again during the check");
  }
  if (s.ok()) {
    auto set = Call(again->context.get(), Argv{"SET", kCheckedKey, primary->run_id}, "fence");
    if (!set.ok()) return set.status();
    if ((*set)->type == REDIS_REPLY_ERROR) return ErrorReplyStatus(**set);
  }
  auto unlock =
      Call(again->context.get(), Argv{"EVAL", kUnlockScript, "1", kFenceKey, token_}, "fence");
  if (!s.ok()) return s;
  spdlog::warn("redis primary {}: gate state checked in {} ms; admissions resume", primary->run_id,
               std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - started)
                   .count());
  if (!unlock.ok()) spdlog::debug("redis failover fence: unlock: {}", unlock.status().message());
  return Status::Ok();
}

}  // namespace firstcome::redis
