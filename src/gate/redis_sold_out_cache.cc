#include "gate/redis_sold_out_cache.h"

#include <utility>

namespace firstcome::redis {

bool SoldOutCache::Answer(const Event& event, std::string_view user_id, Admission* a) {
  if (!enabled()) return false;
  std::lock_guard lock(mu_);
  auto it = sold_out_.find(event.id);
  if (it == sold_out_.end() || it->second.incarnation != event.incarnation) return false;
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

bool SoldOutCache::Extend(const std::string& event_id, std::int64_t incarnation,
                          Clock::time_point now) {
  std::lock_guard lock(mu_);
  auto it = sold_out_.find(event_id);
  if (it == sold_out_.end() || it->second.incarnation != incarnation || now >= it->second.until) {
    return false;
  }
  it->second.until = now + ttl_;
  return true;
}

void SoldOutCache::Remember(const std::string& event_id, std::int64_t incarnation, Holders holders,
                            Clock::time_point now) {
  std::lock_guard lock(mu_);
  if (sold_out_.size() >= kMaxEntries) sold_out_.clear();
  sold_out_[event_id] =
      SoldOut{incarnation, now + ttl_, std::make_shared<const Holders>(std::move(holders))};
}

void SoldOutCache::Forget(const std::string& event_id) {
  std::lock_guard lock(mu_);
  sold_out_.erase(event_id);
}

}  // namespace firstcome::redis
