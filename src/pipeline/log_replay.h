// LogReplay: what the log records of one event incarnation add up to, read in
// log order. Rebuilding the in-process gate on start and `audit` both replay
// the log this way, so they agree with each other and with the consumer.
//
// Rules (the consumer's and the store's, docs/design.md "Operators"):
//   - records of another event or another incarnation are skipped (a deleted
//     event leaves records behind that no longer count);
//   - an issue record makes the seq its user's; the same record again is a
//     duplicate (a redelivery or a resend) and changes nothing; an issue
//     record for a seq someone else holds is a conflict (kept aside, the
//     first holder stays: this never happens unless the gate lost state);
//   - a revoke record frees the seq when its holder is that very issuance,
//     and every later copy of that issuance (same seq, user, user_seq,
//     issued_at) stays revoked, as the store ignores it.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "core/event.h"

namespace firstcome {

class LogReplay {
 public:
  explicit LogReplay(const Event& event) : event_id_(event.id), incarnation_(event.incarnation) {}

  void Apply(const Issuance& record);

  // Who holds what after every record so far, by seq.
  const std::map<std::int64_t, Issuance>& live() const { return live_; }
  std::vector<Issuance> LiveRecords() const;
  // Issue records for a seq another user held then: (holder, record).
  const std::vector<std::pair<Issuance, Issuance>>& conflicts() const { return conflicts_; }
  // Whether the last record of `user` about `seq` revoked it.
  bool RevokedLast(std::int64_t seq, const std::string& user) const {
    return revoked_last_.count({seq, user}) != 0;
  }
  // Records of this incarnation seen (issues and revocations).
  std::int64_t records() const { return records_; }
  std::int64_t revocations() const { return revocations_; }

 private:
  using RecordKey = std::tuple<std::int64_t, std::string, std::int32_t, UnixMillis>;
  static RecordKey KeyOf(const Issuance& r) { return {r.seq, r.user_id, r.user_seq, r.issued_at}; }

  const std::string event_id_;
  const std::int64_t incarnation_;
  std::map<std::int64_t, Issuance> live_;
  std::vector<std::pair<Issuance, Issuance>> conflicts_;
  std::set<RecordKey> revoked_;
  std::set<std::pair<std::int64_t, std::string>> revoked_last_;
  std::int64_t records_ = 0;
  std::int64_t revocations_ = 0;
};

}  // namespace firstcome
