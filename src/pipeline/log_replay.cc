#include "pipeline/log_replay.h"

namespace firstcome {

void LogReplay::Apply(const Issuance& record) {
  if (record.event_id != event_id_ || record.incarnation != incarnation_) return;
  ++records_;
  if (record.kind == RecordKind::kRevoke) {
    ++revocations_;
    revoked_.insert(KeyOf(record));
    auto it = live_.find(record.seq);
    if (it != live_.end() && it->second.user_id == record.user_id &&
        it->second.user_seq == record.user_seq) {
      live_.erase(it);
    }
    revoked_last_.emplace(record.seq, record.user_id);
    return;
  }
  if (revoked_.count(KeyOf(record)) != 0) return;  // a late copy of a revoked issuance
  auto [it, inserted] = live_.try_emplace(record.seq, record);
  if (!inserted) {
    const Issuance& holder = it->second;
    const bool same = holder.user_id == record.user_id && holder.user_seq == record.user_seq;
    if (!same) conflicts_.emplace_back(holder, record);
    return;
  }
  it->second.kind = RecordKind::kIssue;
  revoked_last_.erase({record.seq, record.user_id});
}

std::vector<Issuance> LogReplay::LiveRecords() const {
  std::vector<Issuance> out;
  out.reserve(live_.size());
  for (const auto& [seq, record] : live_) out.push_back(record);
  return out;
}

}  // namespace firstcome
