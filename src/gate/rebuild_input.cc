#include "gate/rebuild_input.h"

#include <algorithm>
#include <string>
#include <utility>

namespace firstcome {

Result<RebuildInput> CheckRebuildInput(const Event& event, const std::vector<Issuance>& issuances,
                                       const RebuildRules& rules) {
  RebuildInput input;
  std::set<std::pair<std::string_view, std::int32_t>> user_seqs;
  for (const Issuance& i : issuances) {
    if (i.event_id != event.id) {
      return Status::Invalid("rebuild: issuance of event '" + i.event_id + "' given for '" +
                             event.id + "'");
    }
    if (rules.check_user != nullptr) {
      if (Status s = rules.check_user(i.user_id); !s.ok()) return s;
    }
    if (i.seq < 1 || i.seq > event.total) {
      return Status::Invalid("rebuild: seq " + std::to_string(i.seq) + " outside 1.." +
                             std::to_string(event.total));
    }
    if (rules.max_user_seq) {
      if (i.user_seq < 1 || i.user_seq > *rules.max_user_seq) {
        return Status::Invalid("rebuild: user_seq outside 1.." +
                               std::to_string(*rules.max_user_seq));
      }
    } else if (i.user_seq < 1) {
      return Status::Invalid("rebuild: user_seq below 1");
    }
    if (!input.held_seqs.insert(i.seq).second) {
      return Status::Invalid("rebuild: seq " + std::to_string(i.seq) + " given twice");
    }
    if (!user_seqs.emplace(i.user_id, i.user_seq).second) {
      return Status::Invalid("rebuild: user '" + i.user_id + "' has user_seq " +
                             std::to_string(i.user_seq) + " twice");
    }
    input.max_seq = std::max(input.max_seq, i.seq);
  }
  if (input.max_seq - static_cast<std::int64_t>(input.held_seqs.size()) > kMaxFreeOnRebuild) {
    return Status::Invalid("rebuild: more than " + std::to_string(kMaxFreeOnRebuild) +
                           " free seqs below the highest one");
  }
  return input;
}

}  // namespace firstcome
