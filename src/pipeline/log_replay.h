// LogReplay: what the log records of one event incarnation add up to.
// Rebuilding the in-process gate on start and `audit` both replay the log this
// way, so they agree with each other and with the consumer and the store.
//
// Rules (the consumer's and the store's, docs/design.md "Operators"):
//   - records of another event or another incarnation are skipped (a deleted
//     event leaves records behind that no longer count);
//   - a revoke record takes back exactly one issuance (same seq, user,
//     user_seq and issued_at), every copy of it, wherever it stands in the
//     log: the store keeps the revocation and ignores such copies too;
//   - every other issue record holds its seq; the same record twice is a
//     duplicate (a redelivery or a resend); two different records holding
//     one seq are a conflict (the first kept, the other set aside), which
//     never happens unless the gate lost state.
// Why the result does not depend on the order of records across users: a
// Kafka log keeps order per (event, user) only, and a scan reads partition
// after partition. A revocation names its issuance exactly, so taking the
// revoked records out of all the issue records gives the same holders in any
// order.
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
  // After the last Apply: works out the holders (the getters below need it).
  void Finish();

  // Who holds what, by seq.
  const std::map<std::int64_t, Issuance>& live() const { return live_; }
  std::vector<Issuance> LiveRecords() const;
  // Issue records for a seq another record holds: (holder, record).
  const std::vector<std::pair<Issuance, Issuance>>& conflicts() const { return conflicts_; }
  // Whether an issuance of `seq` to `user` was revoked and `user` holds no
  // live record of it.
  bool Revoked(std::int64_t seq, const std::string& user) const;
  // Records of this incarnation seen (issues and revocations).
  std::int64_t records() const { return records_; }
  std::int64_t revocations() const { return static_cast<std::int64_t>(revoked_count_); }

 private:
  using RecordKey = std::tuple<std::int64_t, std::string, std::int32_t, UnixMillis>;
  static RecordKey KeyOf(const Issuance& r) { return {r.seq, r.user_id, r.user_seq, r.issued_at}; }

  const std::string event_id_;
  const std::int64_t incarnation_;
  std::vector<Issuance> issues_;  // in the order read
  std::set<RecordKey> revoked_;
  std::size_t revoked_count_ = 0;
  std::map<std::int64_t, Issuance> live_;
  std::vector<std::pair<Issuance, Issuance>> conflicts_;
  std::int64_t records_ = 0;
};

}  // namespace firstcome
