// Issuer's answers when the log fails, on the embedded pipeline (memory gate,
// SQLite log and store in a temporary folder), with the log's failures made
// by a FaultInjectionLog (tests/support/):
//   - definitely not persisted: the client hears 503, the gate slot is
//     released and its seq goes to the next user;
//   - possibly persisted: the client hears 503 but keeps the seq (a retry
//     hears already_issued with that coupon), the Resender appends it again
//     until the log confirms, and the coupon reaches the store exactly once.
#include "pipeline/issuer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <map>
#include <thread>

#include "gate/memory_gate.h"
#include "log/sqlite_log.h"
#include "pipeline/consumer.h"
#include "pipeline/event_catalog.h"
#include "store/sqlite_store.h"
#include "support/fault_injection_log.h"
#include "support/fixtures.h"
#include "unit/embedded_fixture.h"

namespace firstcome {
namespace {

using std::chrono::milliseconds;
using test::AppendFault;
using test::FaultInjectionLog;
using test::MakeEvent;
using test::TempDir;
using test::WaitFor;

class IssuerTest : public test::EmbeddedTest<FaultInjectionLog> {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(OpenParts(
        {}, ResenderOptions{.first_backoff = milliseconds(10), .max_backoff = milliseconds(40)}));
  }

  IssueAnswer Issue(const std::string& event, const std::string& user) {
    auto answer = std::make_shared<std::promise<Result<IssueAnswer>>>();
    auto future = answer->get_future();
    issuer_->Issue(event, user,
                   [answer](Result<IssueAnswer> a) { answer->set_value(std::move(a)); });
    if (future.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
      ADD_FAILURE() << "no answer for " << user;
      return IssueAnswer{};
    }
    auto got = future.get();
    EXPECT_TRUE(got.ok()) << got.status().ToString();
    return got.ok() ? *got : IssueAnswer{};
  }

  // A counter or gauge of /metrics (-1 when absent).
  std::int64_t Metric(const std::string& name) {
    std::string text = "\n";
    MetricsWriter writer(text);
    issuer_->WriteMetrics(writer);
    const auto at = text.find("\n" + name + " ");
    if (at == std::string::npos) return -1;
    return std::stoll(text.substr(at + name.size() + 2));
  }

  // How many copies of each (user, seq) of `event` the wrapped log holds.
  std::map<std::pair<std::string, std::int64_t>, int> Logged(const std::string& event) {
    std::map<std::pair<std::string, std::int64_t>, int> copies;
    Status s = log_->base().Scan(event, [&](const Issuance& i) { ++copies[{i.user_id, i.seq}]; });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return copies;
  }

  struct Consumed {
    std::int64_t inserted = 0;
    std::int64_t duplicates = 0;
  };
  // Moves everything the log holds into the store.
  Consumed Consume() {
    Consumer consumer(*log_, *store_, {});
    Status drained = consumer.Drain(std::chrono::seconds(30));
    EXPECT_TRUE(drained.ok()) << drained.ToString();
    return {consumer.stats().rows_inserted.load(), consumer.stats().duplicates.load()};
  }
};

TEST_F(IssuerTest, AppendNotPersistedReleasesTheSlotForTheNextUser) {
  ASSERT_TRUE(issuer_->CreateEvent(MakeEvent("drop", 1)).ok());
  log_->appends().FailNext(1, AppendFault::kNotPersisted);

  IssueAnswer alice = Issue("drop", "alice");
  EXPECT_EQ(alice.status, IssueStatus::kUnavailable);
  EXPECT_NE(alice.detail.find("could not be made durable"), std::string::npos) << alice.detail;
  const Event& drop = **catalog_->Find("drop");
  EXPECT_EQ(*gate_->AdmittedCount(drop), 0) << "the slot is released before the answer";
  EXPECT_TRUE(gate_->SeqsOfUser(drop, "alice")->empty());
  EXPECT_EQ(Metric("firstcome_issue_released_total"), 1);
  EXPECT_EQ(Metric("firstcome_issue_log_failures_total"), 1);
  EXPECT_EQ(Metric("firstcome_issue_unconfirmed"), 0) << "nothing to resend";

  // The seq goes to the next user, and the event is sold out after it.
  IssueAnswer bob = Issue("drop", "bob");
  EXPECT_EQ(bob.status, IssueStatus::kIssued);
  EXPECT_EQ(bob.seq, 1);
  EXPECT_EQ(bob.coupon_id, CouponId("drop", 1));
  EXPECT_EQ(Issue("drop", "carol").status, IssueStatus::kSoldOut);
  EXPECT_EQ(Issue("drop", "alice").status, IssueStatus::kSoldOut);

  using Key = std::pair<std::string, std::int64_t>;
  EXPECT_EQ(Logged("drop"), (std::map<Key, int>{{{"bob", 1}, 1}})) << "alice's never got there";
  Consumed consumed = Consume();
  EXPECT_EQ(consumed.inserted, 1);
  auto view = issuer_->GetEvent("drop");
  ASSERT_TRUE(view.ok()) << view.status().ToString();
  EXPECT_EQ(view->issued, 1);
  EXPECT_EQ(view->persisted, 1);
  EXPECT_EQ(view->state, "sold_out");
}

// Possibly persisted: the first copy either never reached the log or did and
// its acknowledgement was lost. Either way the seq stays alice's and exactly
// one coupon ends up in the store.
class IssuerResendTest : public IssuerTest, public ::testing::WithParamInterface<AppendFault> {};

TEST_P(IssuerResendTest, PossiblyPersistedKeepsTheSeqAndIsStoredOnce) {
  ASSERT_TRUE(issuer_->CreateEvent(MakeEvent("drop", 2)).ok());
  // Alice's first append fails as the test says; the resender's next three
  // tries are lost too, the one after them is confirmed.
  log_->appends().FailNumber(1, GetParam());
  std::atomic<int> alice_resends{0};
  log_->appends().FailWhen(
      [&alice_resends](std::int64_t, const Issuance& i) {
        return i.user_id == "alice" && ++alice_resends <= 3;
      },
      AppendFault::kPossiblyPersistedLost);

  IssueAnswer first = Issue("drop", "alice");
  EXPECT_EQ(first.status, IssueStatus::kUnavailable);
  EXPECT_NE(first.detail.find("did not confirm"), std::string::npos) << first.detail;
  // A retry hears the coupon the resender is getting into the log.
  IssueAnswer retry = Issue("drop", "alice");
  EXPECT_EQ(retry.status, IssueStatus::kAlreadyIssued);
  ASSERT_EQ(retry.coupons.size(), 1u);
  EXPECT_EQ(retry.coupons[0].seq, 1);
  EXPECT_EQ(retry.coupons[0].coupon_id, CouponId("drop", 1));
  const Event& drop = **catalog_->Find("drop");
  EXPECT_EQ(*gate_->SeqsOfUser(drop, "alice"), std::vector<std::int64_t>{1});
  EXPECT_EQ(Metric("firstcome_issue_released_total"), 0) << "a possibly persisted seq is kept";
  // Nobody else gets seq 1.
  IssueAnswer bob = Issue("drop", "bob");
  EXPECT_EQ(bob.status, IssueStatus::kIssued);
  EXPECT_EQ(bob.seq, 2);

  ASSERT_TRUE(WaitFor([&] { return Metric("firstcome_issue_resend_confirmed_total") == 1; }))
      << "the resender never got alice's coupon confirmed";
  EXPECT_EQ(Metric("firstcome_issue_unconfirmed"), 0);
  EXPECT_EQ(Metric("firstcome_issue_resend_dropped_total"), 0);
  EXPECT_EQ(alice_resends.load(), 4) << "three lost resends, then the confirmed one";

  const bool first_copy_stored = GetParam() == AppendFault::kPossiblyPersistedStored;
  using Key = std::pair<std::string, std::int64_t>;
  EXPECT_EQ(Logged("drop"),
            (std::map<Key, int>{{{"alice", 1}, first_copy_stored ? 2 : 1}, {{"bob", 2}, 1}}));
  Consumed consumed = Consume();
  EXPECT_EQ(consumed.inserted, 2);
  EXPECT_EQ(consumed.duplicates, first_copy_stored ? 1 : 0) << "a second copy is a duplicate";
  auto coupons = issuer_->CouponsOfUser("drop", "alice");
  ASSERT_TRUE(coupons.ok()) << coupons.status().ToString();
  ASSERT_EQ(coupons->size(), 1u);
  EXPECT_EQ((*coupons)[0].seq, 1);
  EXPECT_EQ((*coupons)[0].state, "persisted");
  auto counts = store_->CountsOf("drop");
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ(counts->persisted, 2);
  EXPECT_EQ(counts->failed, 0);
}

INSTANTIATE_TEST_SUITE_P(FirstCopy, IssuerResendTest,
                         ::testing::Values(AppendFault::kPossiblyPersistedLost,
                                           AppendFault::kPossiblyPersistedStored),
                         [](const auto& info) {
                           return info.param == AppendFault::kPossiblyPersistedLost
                                      ? std::string("Lost")
                                      : std::string("Stored");
                         });

}  // namespace
}  // namespace firstcome
