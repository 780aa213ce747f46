#include "pipeline/log_replay.h"

namespace firstcome {

void LogReplay::Apply(const Issuance& record) {
  if (record.event_id != event_id_ || record.incarnation != incarnation_) return;
  ++records_;
  if (record.kind == RecordKind::kRevoke) {
    ++revoked_count_;
    revoked_.insert(KeyOf(record));
  } else {
    issues_.push_back(record);
  }
}

void LogReplay::Finish() {
  live_.clear();
  conflicts_.clear();
  for (const Issuance& record : issues_) {
    if (revoked_.count(KeyOf(record)) != 0) continue;
    auto [it, inserted] = live_.try_emplace(record.seq, record);
    if (inserted) continue;
    const Issuance& holder = it->second;
    if (holder.user_id != record.user_id || holder.user_seq != record.user_seq) {
      conflicts_.emplace_back(holder, record);
    }
  }
}

bool LogReplay::Revoked(std::int64_t seq, const std::string& user) const {
  auto live = live_.find(seq);
  if (live != live_.end() && live->second.user_id == user) return false;
  auto it = revoked_.lower_bound(RecordKey{seq, user, 0, 0});
  return it != revoked_.end() && std::get<0>(*it) == seq && std::get<1>(*it) == user;
}

std::vector<Issuance> LogReplay::LiveRecords() const {
  std::vector<Issuance> out;
  out.reserve(live_.size());
  for (const auto& [seq, record] : live_) out.push_back(record);
  return out;
}

}  // namespace firstcome
