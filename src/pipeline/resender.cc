#include "pipeline/resender.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "core/thread_name.h"
#include "pipeline/append_all.h"

namespace firstcome {

namespace {

using Clock = std::chrono::steady_clock;

// Bound on one round's wait for answers. Every Log answers each append within
// its own delivery timeout; this only keeps a misbehaving one from hanging the
// resender (late answers land in the shared state and are ignored).
constexpr std::chrono::seconds kRoundTimeout{60};

}  // namespace

Resender::Resender(Log& log, ResenderOptions options) : log_(log), options_(options) {}

Resender::~Resender() { Stop(std::chrono::milliseconds(0)); }

bool Resender::Add(const Issuance& issuance) {
  bool stopping;
  {
    std::lock_guard lock(mu_);
    stopping = stopping_;
    if (!stopping && queue_.size() < options_.max_records) {
      queue_.push_back(issuance);
      waiting_.fetch_add(1);
      if (!thread_.joinable()) thread_ = std::thread([this] { Loop(); });
      cv_.notify_one();
      return true;
    }
  }
  Drop(issuance, stopping ? "the server is stopping" : "too many records waiting to be resent");
  return false;
}

void Resender::Stop(std::chrono::milliseconds grace) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      stopping_ = true;
      give_up_at_ = Clock::now() + grace;
    }
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Resender::Loop() {
  NameThisThread("fc-resender");
  auto backoff = options_.first_backoff;
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;
    if (stopping_ && Clock::now() >= give_up_at_) {
      for (const Issuance& i : queue_) Drop(i, "the server stopped before the log confirmed it");
      waiting_.fetch_sub(static_cast<std::int64_t>(queue_.size()));
      queue_.clear();
      return;
    }
    std::vector<Issuance> batch;
    const std::size_t n = std::min(queue_.size(), std::max<std::size_t>(1, options_.batch));
    batch.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    lock.unlock();
    std::vector<Issuance> sent;
    if (options_.confirmed) sent = batch;
    std::vector<Issuance> failed = AppendAll(log_, std::move(batch), kRoundTimeout);
    if (options_.confirmed) {
      // AppendAll keeps the order: what is not in `failed` was acknowledged.
      std::size_t f = 0;
      for (const Issuance& i : sent) {
        if (f < failed.size() && failed[f].seq == i.seq && failed[f].event_id == i.event_id &&
            failed[f].user_id == i.user_id) {
          ++f;
        } else {
          options_.confirmed(i);
        }
      }
    }
    lock.lock();
    const auto acked = static_cast<std::int64_t>(n - failed.size());
    confirmed_.fetch_add(acked);
    waiting_.fetch_sub(acked);
    if (acked > 0)
      spdlog::info("resender: {} unconfirmed record(s) now confirmed by the log", acked);
    if (failed.empty()) {
      backoff = options_.first_backoff;
      continue;
    }
    // Back in front, in their order; then wait before the next round.
    for (auto it = failed.rbegin(); it != failed.rend(); ++it) queue_.push_front(std::move(*it));
    const auto retry_at = Clock::now() + backoff;
    backoff = std::min(backoff * 2, options_.max_backoff);
    for (;;) {
      auto until = stopping_ ? std::min(retry_at, give_up_at_) : retry_at;
      if (Clock::now() >= until) break;
      cv_.wait_until(lock, until);
    }
  }
}

void Resender::Drop(const Issuance& issuance, const char* why) {
  dropped_.fetch_add(1);
  spdlog::error(
      "resender: {} seq {} of user {} is held by its user but unconfirmed by the log ({}); "
      "`firstcome audit --event {} --repair` appends it",
      issuance.event_id, issuance.seq, issuance.user_id, why, issuance.event_id);
}

void Resender::WriteMetrics(MetricsWriter& out) const {
  out.Gauge("firstcome_issue_unconfirmed",
            "Possibly-persisted records being appended again until the log confirms them.",
            static_cast<double>(waiting()));
  out.Counter("firstcome_issue_resend_confirmed_total",
              "Possibly-persisted records the log confirmed on a resend.",
              static_cast<double>(confirmed_total()));
  out.Counter("firstcome_issue_resend_dropped_total",
              "Unconfirmed records given up on (left to audit --repair).",
              static_cast<double>(dropped_total()));
}

}  // namespace firstcome
