// The Log port's contract (src/log/log.h), one suite run against every
// implementation: SqliteLog on a temporary file and KafkaLog on a private
// single-node Kafka. Checked: Append answers exactly once and ok only once the
// record is durable (another log object's reader then sees it), records of
// the same (event, user) keep their order, a reader sees every durable record,
// after Commit nothing is delivered again to the same group (also to a new
// reader of it), Rewind restarts from the committed position, Scan gives one
// event's records in log order, ScanAll gives every record or is Invalid, Lag.
//
// Starts: one Kafka broker for the whole binary through scripts/services
// (tests/support/fixtures.h, SharedService), stopped at exit. Each test has its
// own Kafka topic (or SQLite file) and consumer groups, named after it.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "log/kafka_log.h"
#include "log/log.h"
#include "log/sqlite_log.h"
#include "support/fixtures.h"

namespace firstcome {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using test::MakeIssuance;
using test::Name;
using test::SharedService;
using test::TempDir;

// Records are told apart by (event, user, user_seq); seq is unique per event.
using Key = std::tuple<std::string, std::string, std::int32_t>;
Key KeyOf(const Issuance& i) { return {i.event_id, i.user_id, i.user_seq}; }

class LogContractTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    name_ = test::ThisTestEventId();
    if (GetParam() == "kafka") {
      ASSERT_TRUE(SharedService("kafka").ok()) << "could not start kafka";
    }
    auto log = Open();
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    log_ = std::move(log).value();
  }

  // A log object on this test's log (a new one each call: another process).
  Result<std::unique_ptr<Log>> Open() {
    if (GetParam() == "sqlite") return OpenSqliteLog({.path = dir_.path() + "/log.db"});
    KafkaLogOptions o;
    o.brokers = SharedService("kafka").env("FIRSTCOME_KAFKA_BROKERS");
    o.topic = "contract." + name_;
    o.partitions = 3;
    o.delivery_timeout = milliseconds(3000);
    return OpenKafkaLog(o);
  }
  std::unique_ptr<LogReader> Reader(const std::string& group, Log* log = nullptr) {
    auto reader = (log != nullptr ? *log : *log_).OpenReader(name_ + "." + group);
    EXPECT_TRUE(reader.ok()) << reader.status().ToString();
    return reader.ok() ? std::move(reader).value() : nullptr;
  }

  // Appends every record without waiting; then waits for every answer and
  // expects each to come exactly once and ok.
  void AppendAll(const std::vector<Issuance>& records) {
    auto answers = std::make_shared<std::vector<std::atomic<int>>>(records.size());
    auto failures = std::make_shared<std::atomic<int>>(0);
    for (std::size_t k = 0; k < records.size(); ++k) {
      log_->Append(records[k], [answers, failures, k](AppendResult r) {
        if (!r.status.ok()) ++*failures;
        ++(*answers)[k];
      });
    }
    ASSERT_TRUE(log_->Flush(std::chrono::seconds(30)).ok());
    // Flush returned: every append has been answered, once.
    for (std::size_t k = 0; k < records.size(); ++k) {
      ASSERT_EQ((*answers)[k].load(), 1) << "append " << k << " answered that many times";
    }
    EXPECT_EQ(failures->load(), 0);
  }

  // Polls until every record of `want` arrived (or `timeout`); returns all
  // that came, in delivery order.
  static std::vector<Issuance> PollFor(LogReader& reader, const std::vector<Issuance>& want,
                                       milliseconds timeout = milliseconds(20000)) {
    std::set<Key> missing;
    for (const auto& i : want) missing.insert(KeyOf(i));
    std::vector<Issuance> got;
    const auto deadline = Clock::now() + timeout;
    while (!missing.empty() && Clock::now() < deadline) {
      auto polled = reader.Poll(1000, milliseconds(200));
      EXPECT_TRUE(polled.ok()) << polled.status().ToString();
      if (!polled.ok()) break;
      for (auto& i : *polled) {
        missing.erase(KeyOf(i));
        got.push_back(std::move(i));
      }
    }
    EXPECT_TRUE(missing.empty()) << missing.size() << " records never delivered";
    return got;
  }

  // Appends markers for many users (so every partition gets some) and polls
  // until they all came: what else arrives meanwhile was pending delivery.
  std::vector<Issuance> PollUpToMarkers(LogReader& reader, const std::string& event) {
    std::vector<Issuance> markers;
    for (int k = 1; k <= 60; ++k) markers.push_back(MakeIssuance(event, Name("marker-", k), k));
    AppendAll(markers);
    std::vector<Issuance> others;
    for (auto& i : PollFor(reader, markers)) {
      if (!i.user_id.starts_with("marker-")) others.push_back(std::move(i));
    }
    return others;
  }

  static std::set<Key> Keys(const std::vector<Issuance>& records) {
    std::set<Key> keys;
    for (const auto& i : records) keys.insert(KeyOf(i));
    return keys;
  }

  // Every (event, user)'s user_seqs appear in increasing order.
  static void ExpectOrderPerUser(const std::vector<Issuance>& records) {
    std::map<std::pair<std::string, std::string>, std::int32_t> last;
    for (const auto& i : records) {
      auto& prev = last[{i.event_id, i.user_id}];
      EXPECT_GT(i.user_seq, prev) << i.event_id << "/" << i.user_id << " out of order";
      prev = i.user_seq;
    }
  }

  TempDir dir_;
  std::string name_;
  std::unique_ptr<Log> log_;
};

TEST_P(LogContractTest, AckedAppendsAreDurableAndSeenByAnotherLogObject) {
  EXPECT_TRUE(log_->Health().ok());
  const auto records = test::MakeIssuances("ev", 1, 200);
  AppendAll(records);
  // Another log object (a restarted process) reads every acknowledged record.
  auto other = Open();
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  auto reader = Reader("fresh", other->get());
  ASSERT_TRUE(reader);
  auto got = PollFor(*reader, records);
  EXPECT_EQ(Keys(got), Keys(records));
  for (const auto& i : got) {
    EXPECT_EQ(i.coupon_id, CouponId("ev", i.seq));
    EXPECT_EQ(i.user_id, Name("user-", i.seq));
    EXPECT_EQ(i.issued_at, records[static_cast<std::size_t>(i.seq - 1)].issued_at);
  }
}

TEST_P(LogContractTest, RecordsOfOneEventAndUserKeepTheirOrder) {
  // Three users' records interleaved, appended without waiting.
  std::vector<Issuance> records;
  for (int k = 1; k <= 100; ++k) {
    records.push_back(MakeIssuance("ev", Name("u", k % 3), k, (k + 2) / 3));
    records.push_back(MakeIssuance("other", "u0", k, k));
  }
  AppendAll(records);
  auto reader = Reader("g");
  ASSERT_TRUE(reader);
  auto got = PollFor(*reader, records);
  ExpectOrderPerUser(got);
  std::vector<Issuance> scanned;
  ASSERT_TRUE(log_->Scan("ev", [&](const Issuance& i) { scanned.push_back(i); }).ok());
  EXPECT_EQ(scanned.size(), 100u);
  ExpectOrderPerUser(scanned);
}

TEST_P(LogContractTest, CommittedRecordsAreNotDeliveredAgainToTheGroup) {
  const auto first = test::MakeIssuances("ev", 1, 100);
  AppendAll(first);
  {
    auto reader = Reader("g");
    ASSERT_TRUE(reader);
    auto got = PollFor(*reader, first);
    EXPECT_EQ(Keys(got), Keys(first));
    ASSERT_TRUE(reader->Commit().ok());
    // The same reader goes on after what it committed.
    const auto second = test::MakeIssuances("ev", 101, 20);
    AppendAll(second);
    auto more = PollFor(*reader, second);
    EXPECT_EQ(Keys(more), Keys(second)) << "committed records came again";
    ASSERT_TRUE(reader->Commit().ok());
    EXPECT_EQ(reader->Lag(), 0);
  }
  // A new reader of the group (a restarted consumer) starts after the commit.
  auto again = Reader("g");
  ASSERT_TRUE(again);
  auto redelivered = PollUpToMarkers(*again, "ev-markers");
  EXPECT_TRUE(redelivered.empty()) << redelivered.size() << " committed records came again";
  // Another group has its own position: it sees everything.
  auto other = Reader("other");
  ASSERT_TRUE(other);
  auto all = PollFor(*other, test::MakeIssuances("ev", 1, 120));
  EXPECT_GE(all.size(), 120u);
}

TEST_P(LogContractTest, RewindRestartsFromTheCommittedPosition) {
  const auto first = test::MakeIssuances("ev", 1, 30);
  AppendAll(first);
  auto reader = Reader("g");
  ASSERT_TRUE(reader);
  PollFor(*reader, first);
  ASSERT_TRUE(reader->Commit().ok());
  const auto second = test::MakeIssuances("ev", 31, 20);
  AppendAll(second);
  auto polled = PollFor(*reader, second);
  EXPECT_EQ(Keys(polled), Keys(second));
  EXPECT_EQ(reader->Lag(), 20) << "polled but not committed";
  // The store was down: the uncommitted records come again, and only they.
  ASSERT_TRUE(reader->Rewind().ok());
  auto again = PollFor(*reader, second);
  EXPECT_EQ(Keys(again), Keys(second));
  EXPECT_EQ(again.size(), second.size());
  ASSERT_TRUE(reader->Commit().ok());
  EXPECT_EQ(reader->Lag(), 0);
  // Rewinding with nothing uncommitted changes nothing.
  ASSERT_TRUE(reader->Rewind().ok());
  EXPECT_TRUE(PollUpToMarkers(*reader, "ev-markers").empty());
}

TEST_P(LogContractTest, LagCountsDurableRecordsNotYetCommitted) {
  const auto records = test::MakeIssuances("ev", 1, 40);
  AppendAll(records);
  auto reader = Reader("g");
  ASSERT_TRUE(reader);
  const std::int64_t before = reader->Lag();
  EXPECT_TRUE(before == 40 || before == -1) << "lag " << before << " (-1: not known yet)";
  PollFor(*reader, records);
  EXPECT_EQ(reader->Lag(), 40) << "polled is not committed";
  ASSERT_TRUE(reader->Commit().ok());
  EXPECT_EQ(reader->Lag(), 0);
}

TEST_P(LogContractTest, ScanGivesOneEventInLogOrder) {
  std::vector<Issuance> a, b;
  for (int k = 1; k <= 60; ++k) {
    a.push_back(MakeIssuance("alpha", Name("u", k % 4), k, (k + 3) / 4));
    if (k <= 25) b.push_back(MakeIssuance("beta", Name("u", k), k));
  }
  std::vector<Issuance> all = a;
  all.insert(all.end(), b.begin(), b.end());
  AppendAll(all);
  std::vector<Issuance> alpha, beta;
  ASSERT_TRUE(log_->Scan("alpha", [&](const Issuance& i) { alpha.push_back(i); }).ok());
  ASSERT_TRUE(log_->Scan("beta", [&](const Issuance& i) { beta.push_back(i); }).ok());
  EXPECT_EQ(alpha.size(), a.size());
  EXPECT_EQ(Keys(alpha), Keys(a));
  EXPECT_EQ(Keys(beta), Keys(b));
  ExpectOrderPerUser(alpha);
  int none = 0;
  ASSERT_TRUE(log_->Scan("alph", [&](const Issuance&) { ++none; }).ok());
  ASSERT_TRUE(log_->Scan("nothing-here", [&](const Issuance&) { ++none; }).ok());
  EXPECT_EQ(none, 0) << "only records of exactly that event";

  // ScanAll: every record of every event, or Invalid where unsupported.
  std::vector<Issuance> everything;
  Status s = log_->ScanAll([&](const Issuance& i) { everything.push_back(i); });
  if (s.code() == Status::Code::kInvalid) return;  // allowed: unsupported by this log
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(Keys(everything), Keys(all));
  ExpectOrderPerUser(everything);
}

// Records carry their kind and incarnation through the log unchanged, and a
// revocation keyed like its issuance comes after it (same event and user).
TEST_P(LogContractTest, RevocationsAndIncarnationsComeBackAsAppended) {
  Issuance issued = MakeIssuance("rv", "ann", 5);
  issued.incarnation = 4503599627370495;  // 2^52 - 1: big incarnations survive
  Issuance revoked = issued;
  revoked.kind = RecordKind::kRevoke;
  Issuance next = MakeIssuance("rv", "bob", 5);
  next.incarnation = issued.incarnation;
  Issuance legacy = MakeIssuance("rv", "cat", 6);  // incarnation 0, as older records
  AppendAll({issued, revoked, next, legacy});
  auto reader = Reader("kinds");
  ASSERT_TRUE(reader);
  std::vector<Issuance> got;
  const auto deadline = Clock::now() + milliseconds(20000);
  while (got.size() < 4 && Clock::now() < deadline) {
    auto polled = reader->Poll(100, milliseconds(200));
    ASSERT_TRUE(polled.ok()) << polled.status().ToString();
    got.insert(got.end(), polled->begin(), polled->end());
  }
  ASSERT_EQ(got.size(), 4u);
  std::vector<Issuance> scanned;
  ASSERT_TRUE(log_->Scan("rv", [&](const Issuance& i) { scanned.push_back(i); }).ok());
  ASSERT_EQ(scanned.size(), 4u);
  for (const auto* records : {&got, &scanned}) {
    int ann_issue = -1, ann_revoke = -1;
    for (int k = 0; k < 4; ++k) {
      const Issuance& i = (*records)[static_cast<std::size_t>(k)];
      EXPECT_EQ(i.coupon_id, CouponId("rv", i.seq));
      if (i.user_id == "ann") {
        EXPECT_EQ(i.incarnation, issued.incarnation);
        EXPECT_EQ(i.issued_at, issued.issued_at);
        (i.kind == RecordKind::kIssue ? ann_issue : ann_revoke) = k;
      } else if (i.user_id == "bob") {
        EXPECT_EQ(i.kind, RecordKind::kIssue);
        EXPECT_EQ(i.incarnation, issued.incarnation);
      } else {
        EXPECT_EQ(i.user_id, "cat");
        EXPECT_EQ(i.kind, RecordKind::kIssue);
        EXPECT_EQ(i.incarnation, 0);
      }
    }
    EXPECT_GE(ann_issue, 0);
    EXPECT_GT(ann_revoke, ann_issue) << "the revocation comes after the issuance";
  }
}

INSTANTIATE_TEST_SUITE_P(Logs, LogContractTest, ::testing::Values("sqlite", "kafka"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace firstcome
