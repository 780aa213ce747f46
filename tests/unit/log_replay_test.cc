// LogReplay (src/pipeline/log_replay.h): what a log's records add up to, the
// way rebuild and audit count them. A revocation takes back exactly its
// issuance, in whatever order the records are read (a Kafka scan reads
// partition after partition), and records of other incarnations do not count.
#include "pipeline/log_replay.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "support/fixtures.h"

namespace firstcome {
namespace {

using test::MakeEvent;
using test::MakeIssuance;

Issuance Revocation(Issuance i) {
  i.kind = RecordKind::kRevoke;
  return i;
}

LogReplay Replay(const Event& event, const std::vector<Issuance>& records) {
  LogReplay replay(event);
  for (const Issuance& r : records) replay.Apply(r);
  replay.Finish();
  return replay;
}

TEST(LogReplayTest, ARevokedSeqBelongsToItsNextHolderInEveryOrder) {
  const Event ev = MakeEvent("ev", 10);
  const Issuance ann = MakeIssuance("ev", "ann", 5);
  const Issuance bob = MakeIssuance("ev", "bob", 5);
  const Issuance keep = MakeIssuance("ev", "cat", 6);
  std::vector<Issuance> records = {ann, Revocation(ann), bob, keep};
  std::sort(records.begin(), records.end(), [](const Issuance& x, const Issuance& y) {
    return std::tie(x.user_id, x.kind) < std::tie(y.user_id, y.kind);
  });
  int orders = 0;
  do {
    ++orders;
    LogReplay replay = Replay(ev, records);
    ASSERT_TRUE(replay.conflicts().empty());
    ASSERT_EQ(replay.live().size(), 2u);
    EXPECT_EQ(replay.live().at(5).user_id, "bob");
    EXPECT_EQ(replay.live().at(6).user_id, "cat");
    EXPECT_TRUE(replay.Revoked(5, "ann"));
    EXPECT_FALSE(replay.Revoked(5, "bob"));
    EXPECT_EQ(replay.records(), 4);
    EXPECT_EQ(replay.revocations(), 1);
  } while (std::next_permutation(records.begin(), records.end(),
                                 [](const Issuance& x, const Issuance& y) {
                                   return std::tie(x.user_id, x.kind) < std::tie(y.user_id, y.kind);
                                 }));
  EXPECT_EQ(orders, 24);
}

TEST(LogReplayTest, LateCopiesStayRevokedAndANewIssuanceOfTheSameUserCounts) {
  const Event ev = MakeEvent("ev", 10);
  const Issuance ann = MakeIssuance("ev", "ann", 5);
  Issuance again = ann;
  again.issued_at += 1;  // ann asked again and got seq 5 back: a new issuance
  LogReplay copies = Replay(ev, {ann, Revocation(ann), ann, ann});
  EXPECT_TRUE(copies.live().empty());
  EXPECT_TRUE(copies.Revoked(5, "ann"));
  LogReplay back = Replay(ev, {ann, Revocation(ann), again});
  ASSERT_EQ(back.live().size(), 1u);
  EXPECT_EQ(back.live().at(5).issued_at, again.issued_at);
  EXPECT_FALSE(back.Revoked(5, "ann"));
}

TEST(LogReplayTest, DuplicatesCountOnceAndTwoHoldersAreAConflict) {
  const Event ev = MakeEvent("ev", 10);
  const Issuance ann = MakeIssuance("ev", "ann", 1);
  LogReplay dup = Replay(ev, {ann, ann, ann});
  EXPECT_EQ(dup.live().size(), 1u);
  EXPECT_TRUE(dup.conflicts().empty());
  LogReplay clash = Replay(ev, {ann, MakeIssuance("ev", "bob", 1)});
  ASSERT_EQ(clash.conflicts().size(), 1u);
  EXPECT_EQ(clash.conflicts()[0].first.user_id, "ann");
  EXPECT_EQ(clash.conflicts()[0].second.user_id, "bob");
  EXPECT_EQ(clash.live().at(1).user_id, "ann");
}

TEST(LogReplayTest, OtherIncarnationsAndEventsDoNotCount) {
  Event ev = MakeEvent("ev", 10);
  ev.incarnation = 9;
  Issuance old = MakeIssuance("ev", "ann", 1);  // incarnation 0: the deleted one
  Issuance now = MakeIssuance("ev", "bob", 1);
  now.incarnation = 9;
  Issuance other = MakeIssuance("other", "cat", 2);
  other.incarnation = 9;
  LogReplay replay = Replay(ev, {old, Revocation(old), now, other});
  ASSERT_EQ(replay.live().size(), 1u);
  EXPECT_EQ(replay.live().at(1).user_id, "bob");
  EXPECT_EQ(replay.records(), 1);
  EXPECT_EQ(replay.revocations(), 0);
}

}  // namespace
}  // namespace firstcome
