// The Store port's contract for changing and deleting events and revoking
// coupons (src/store/store.h), run against SqliteStore and MysqlStore like
// store_contract_test.cc (store_contract_fixture.h): versions and the events
// generation, deletion of an incarnation and its records arriving after,
// revocations and their late copies, migration of the previous version's
// tables.
//
// Starts: one mariadbd for the whole binary, stopped at exit.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "store_contract_fixture.h"

namespace firstcome {
namespace {

using test::MakeEvent;
using test::MakeIssuance;
using test::StoreContractTest;

// A database of the version before keeps its events (incarnation 0, open,
// version 1) and takes the new calls after Migrate.
TEST_P(StoreContractTest, MigratesTheTablesOfThePreviousVersion) {
  ASSERT_TRUE(backend_->InstallPreviousSchema());
  auto store = backend_->Reopen();
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  ASSERT_TRUE((*store)->Migrate().ok());
  ASSERT_TRUE((*store)->Migrate().ok());
  auto old = (*store)->GetEvent("old");
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  ASSERT_TRUE(old->has_value());
  EXPECT_EQ((*old)->incarnation, 0);
  EXPECT_FALSE((*old)->closed);
  EXPECT_EQ((*old)->version, 1);
  auto failed = (*store)->FailureOfSeq("old", 3);
  ASSERT_TRUE(failed.ok() && failed->has_value());
  EXPECT_EQ((*failed)->issuance.incarnation, 0);
  EXPECT_TRUE((*store)->EventsGeneration().ok());
  Event closed = **old;
  closed.closed = true;
  EXPECT_TRUE(*(*store)->UpdateEvent(closed, 1));
  EXPECT_EQ((*store)->InsertCoupons(std::vector{MakeIssuance("old", 1)})->inserted, 1);
  EXPECT_EQ(*(*store)->DeleteEvent(**old), 1);
}

TEST_P(StoreContractTest, EventsChangeUnderTheirVersionAndRaiseTheGeneration) {
  auto generation = [&] {
    auto g = store_->EventsGeneration();
    EXPECT_TRUE(g.ok()) << g.status().ToString();
    return g.ok() ? *g : -1;
  };
  const std::int64_t g0 = generation();
  Event e = MakeEvent("ev", 100);
  e.incarnation = 77;
  e.starts_at = 1'800'000'000'000;
  ASSERT_TRUE(store_->CreateEvent(e).ok());
  const std::int64_t g1 = generation();
  EXPECT_NE(g1, g0) << "a creation moves the generation";
  EXPECT_EQ(generation(), g1) << "reads do not";

  Event next = e;
  next.total = 150;
  next.name = "renamed";
  next.closed = true;
  next.starts_at.reset();
  next.ends_at = 1'900'000'000'000;
  auto updated = store_->UpdateEvent(next, 1);
  ASSERT_TRUE(updated.ok()) << updated.status().ToString();
  EXPECT_TRUE(*updated);
  const std::int64_t g2 = generation();
  EXPECT_NE(g2, g1);
  auto got = store_->GetEvent("ev");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->total, 150);
  EXPECT_EQ((*got)->name, "renamed");
  EXPECT_TRUE((*got)->closed);
  EXPECT_FALSE((*got)->starts_at.has_value());
  EXPECT_EQ((*got)->ends_at, next.ends_at);
  EXPECT_EQ((*got)->incarnation, 77);
  EXPECT_EQ((*got)->version, 2);
  EXPECT_EQ((*got)->per_user, 1) << "per_user is not changed";

  // A write based on an older version, or on another incarnation, misses.
  next.total = 999;
  EXPECT_FALSE(*store_->UpdateEvent(next, 1));
  Event other = next;
  other.incarnation = 78;
  EXPECT_FALSE(*store_->UpdateEvent(other, 2));
  Event missing = next;
  missing.id = "missing";
  EXPECT_FALSE(*store_->UpdateEvent(missing, 1));
  EXPECT_EQ(generation(), g2) << "a missed write changes nothing";
  EXPECT_EQ((*store_->GetEvent("ev"))->total, 150);
  next.closed = false;
  EXPECT_TRUE(*store_->UpdateEvent(next, 2));
  got = store_->GetEvent("ev");
  EXPECT_FALSE((*got)->closed);
  EXPECT_EQ((*got)->total, 999);
  EXPECT_EQ((*got)->version, 3);
  EXPECT_EQ((*store_->ListEvents())[0].version, 3);
}

TEST_P(StoreContractTest, DeleteTakesTheIncarnationWithEverythingAndIgnoresItsRecordsAfter) {
  Event e = MakeEvent("ev", 100);
  e.incarnation = 5;
  Have({"kept"});
  ASSERT_TRUE(store_->CreateEvent(e).ok());
  auto of = [](Issuance i, std::int64_t incarnation) {
    i.incarnation = incarnation;
    return i;
  };
  std::vector<Issuance> batch;
  for (int seq = 1; seq <= 4; ++seq) batch.push_back(of(MakeIssuance("ev", seq), 5));
  ASSERT_EQ(store_->InsertCoupons(batch)->inserted, 4);
  ASSERT_TRUE(store_->InsertCoupons(std::vector{MakeIssuance("kept", 1)}).ok());
  ASSERT_TRUE(store_->RecordFailure(of(MakeIssuance("ev", 9), 5), "refused", NowMillis()).ok());
  Issuance revoked = of(MakeIssuance("ev", 4), 5);
  revoked.kind = RecordKind::kRevoke;
  ASSERT_TRUE(store_->ApplyRevocations(std::vector{revoked}).ok());
  EXPECT_EQ(Counts("ev").persisted, 3);
  EXPECT_EQ(Counts("ev").failed, 1);
  const std::int64_t before = *store_->EventsGeneration();

  Event wrong = e;
  wrong.incarnation = 6;
  EXPECT_EQ(store_->DeleteEvent(wrong).status().code(), Status::Code::kNotFound);
  auto deleted = store_->DeleteEvent(e);
  ASSERT_TRUE(deleted.ok()) << deleted.status().ToString();
  EXPECT_EQ(*deleted, 3);
  EXPECT_NE(*store_->EventsGeneration(), before);
  EXPECT_FALSE(store_->GetEvent("ev")->has_value());
  EXPECT_EQ(Counts("ev").persisted, 0);
  EXPECT_EQ(Counts("ev").failed + Counts("ev").dead, 0);
  EXPECT_TRUE(Scan("ev").empty());
  EXPECT_EQ(Counts("kept").persisted, 1) << "other events are untouched";
  EXPECT_EQ(store_->DeleteEvent(e).status().code(), Status::Code::kNotFound);

  // Records of the deleted incarnation arriving late (Kafka keeps them) are
  // ignored, before and after the id is created again.
  auto late = store_->InsertCoupons(batch);
  ASSERT_TRUE(late.ok());
  EXPECT_EQ(late->ignored, 4);
  EXPECT_EQ(late->inserted + late->duplicates, 0);
  EXPECT_TRUE(late->failed.empty());
  Event again = e;
  again.incarnation = 8;
  ASSERT_TRUE(store_->CreateEvent(again).ok());
  late = store_->InsertCoupons(batch);
  EXPECT_EQ(late->ignored, 4);
  ASSERT_TRUE(store_->RecordFailure(batch[0], "late failure", NowMillis()).ok());
  EXPECT_EQ(Counts("ev").failed, 0) << "a failure of a deleted incarnation is not recorded";
  ASSERT_TRUE(store_->ApplyRevocations(std::vector{revoked}).ok());
  auto fresh = store_->InsertCoupons(std::vector{of(MakeIssuance("ev", "new-1", 1), 8)});
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh->inserted, 1) << "the new incarnation starts clean at seq 1";
  EXPECT_EQ(Scan("ev").size(), 1u);
  EXPECT_EQ(Scan("ev")[0].user_id, "new-1");
}

TEST_P(StoreContractTest, RevocationsTakeTheRecordBackAndIgnoreItsLateCopies) {
  Have({"ev"});
  Issuance a = MakeIssuance("ev", "ann", 5);
  Issuance b = MakeIssuance("ev", "bob", 6);
  ASSERT_EQ(store_->InsertCoupons(std::vector{a, b})->inserted, 2);
  auto holder = store_->HolderOfSeq(MakeEvent("ev", 1), 5);
  ASSERT_TRUE(holder.ok()) << holder.status().ToString();
  ASSERT_TRUE(holder->has_value());
  EXPECT_EQ((*holder)->issuance.user_id, "ann");
  EXPECT_EQ((*holder)->issuance.user_seq, 1);
  EXPECT_EQ((*holder)->issuance.issued_at, a.issued_at);
  EXPECT_EQ((*holder)->issuance.coupon_id, a.coupon_id);
  EXPECT_FALSE((*holder)->failed);
  EXPECT_FALSE(store_->HolderOfSeq(MakeEvent("ev", 1), 7)->has_value());

  Issuance revoke = a;
  revoke.kind = RecordKind::kRevoke;
  ASSERT_TRUE(store_->ApplyRevocations(std::vector{revoke}).ok());
  ASSERT_TRUE(store_->ApplyRevocations(std::vector{revoke}).ok()) << "idempotent";
  EXPECT_FALSE(store_->HolderOfSeq(MakeEvent("ev", 1), 5)->has_value());
  EXPECT_TRUE(store_->CouponsOfUser("ev", "ann")->empty());
  EXPECT_EQ(Counts("ev").persisted, 1);

  // A late copy of ann's issuance (a resend) is ignored; the seq goes to the
  // next holder, whose record is not touched by ann's revocation.
  auto copy = store_->InsertCoupons(std::vector{a});
  ASSERT_TRUE(copy.ok());
  EXPECT_EQ(copy->ignored, 1);
  Issuance c = MakeIssuance("ev", "cat", 5);
  ASSERT_EQ(store_->InsertCoupons(std::vector{c})->inserted, 1);
  ASSERT_TRUE(store_->ApplyRevocations(std::vector{revoke}).ok());
  EXPECT_EQ((*store_->HolderOfSeq(MakeEvent("ev", 1), 5))->issuance.user_id, "cat");
  ASSERT_TRUE(store_->RecordFailure(a, "late", NowMillis()).ok());
  EXPECT_EQ(Counts("ev").failed, 0) << "a revoked record never becomes a failed event";
  // ann asking again later gets a new issuance (another issued_at): stored.
  Issuance again = MakeIssuance("ev", "ann", 7);
  again.issued_at = a.issued_at + 1;
  again.seq = 7;
  EXPECT_EQ(store_->InsertCoupons(std::vector{again})->inserted, 1);

  // A failed event is a holder too, and the revocation takes it with it.
  Issuance d = MakeIssuance("ev", "dan", 8);
  ASSERT_TRUE(store_->RecordFailure(d, "refused", NowMillis()).ok());
  holder = store_->HolderOfSeq(MakeEvent("ev", 1), 8);
  ASSERT_TRUE(holder->has_value());
  EXPECT_TRUE((*holder)->failed);
  EXPECT_EQ((*holder)->issuance.user_id, "dan");
  auto failed = store_->FailureOfSeq("ev", 8);
  ASSERT_TRUE(failed.ok() && failed->has_value());
  EXPECT_EQ((*failed)->error, "refused");
  EXPECT_FALSE(store_->FailureOfSeq("ev", 9)->has_value());
  Issuance revoke_d = d;
  revoke_d.kind = RecordKind::kRevoke;
  ASSERT_TRUE(store_->ApplyRevocations(std::vector{revoke_d}).ok());
  EXPECT_FALSE(store_->FailureOfSeq("ev", 8)->has_value());
  EXPECT_EQ(Counts("ev").failed, 0);
  EXPECT_EQ(store_->InsertCoupons(std::vector{d})->ignored, 1);
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreContractTest, ::testing::Values("sqlite", "mariadb"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace firstcome
