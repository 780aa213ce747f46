// The checks both gates make on the input of Gate::Rebuild before they touch
// any state, so a refused rebuild leaves the gate as it was and both gates
// refuse the same input with the same error. Internal to src/gate (not part
// of the port).
//
// An input passes when, for every issuance in order: it is of `event`, its
// user id passes rules.check_user (when given), 1 <= seq <= event.total,
// 1 <= user_seq (<= rules.max_user_seq when given), its seq was not given
// before and its (user, user_seq) was not given before; and, for the whole
// input, at most kMaxFreeOnRebuild seqs below the highest one are not held.
// The first failed check is the error (Status::Invalid, or whatever
// check_user returns).
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string_view>
#include <vector>

#include "core/event.h"
#include "core/status.h"

namespace firstcome {

// Rebuild hands out every seq below the highest one that is not held as free,
// one by one; beyond this the issuances are too sparse for a dense gate and
// are refused rather than materialising millions of free seqs.
inline constexpr std::int64_t kMaxFreeOnRebuild = 1'000'000;

// What a gate checks beyond the common rules.
struct RebuildRules {
  // Checked on each issuance's user id right after its event id.
  Status (*check_user)(std::string_view user_id) = nullptr;
  // Highest user_seq accepted; unset: any user_seq >= 1.
  std::optional<std::int32_t> max_user_seq;
};

// A checked input, summed up.
struct RebuildInput {
  std::set<std::int64_t> held_seqs;  // every seq given (each exactly once)
  std::int64_t max_seq = 0;          // the highest of them, 0 when none
};

Result<RebuildInput> CheckRebuildInput(const Event& event, const std::vector<Issuance>& issuances,
                                       const RebuildRules& rules);

}  // namespace firstcome
