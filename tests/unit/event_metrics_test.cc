// EventMetrics on the embedded pipeline (memory gate, SQLite log and store in
// a temporary folder): the per-event gauges show the event object's figures
// and state, only the most recently created events are exported when there
// are more than the bound, and the text keeps the exposition rules (HELP and
// TYPE before every family's samples, _total on counters only).
#include "pipeline/event_metrics.h"

#include <gtest/gtest.h>

#include <future>
#include <set>
#include <sstream>

#include "gate/memory_gate.h"
#include "log/sqlite_log.h"
#include "pipeline/event_catalog.h"
#include "pipeline/issuer.h"
#include "store/sqlite_store.h"
#include "support/fixtures.h"
#include "unit/embedded_fixture.h"

namespace firstcome {
namespace {

using test::MakeEvent;
using test::TempDir;

class EventMetricsTest : public test::EmbeddedTest<> {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(OpenParts({})); }

  void Create(const std::string& id, std::int64_t total, UnixMillis created_at) {
    Event e = MakeEvent(id, total);
    e.created_at = created_at;
    ASSERT_TRUE(issuer_->CreateEvent(e).ok());
  }

  void Issue(const std::string& event, const std::string& user) {
    std::promise<Result<IssueAnswer>> answer;
    issuer_->Issue(event, user, [&](Result<IssueAnswer> a) { answer.set_value(std::move(a)); });
    auto got = answer.get_future().get();
    ASSERT_TRUE(got.ok());
    ASSERT_EQ(got->status, IssueStatus::kIssued);
  }

  std::string Render(std::size_t max_events) {
    EventMetrics metrics(*catalog_, *issuer_, max_events);
    std::string text;
    MetricsWriter writer(text);
    metrics.WriteMetrics(writer);
    issuer_->WriteMetrics(writer);
    return text;
  }
};

bool Has(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.rfind(line + "\n", 0) == 0;
}

// The exposition rules every scrape must keep (core/metrics.h).
void ExpectWellFormed(const std::string& text) {
  std::istringstream in(text);
  std::string line, family, type;
  std::set<std::string> seen;
  bool help = false;
  while (std::getline(in, line)) {
    if (line.rfind("# HELP ", 0) == 0) {
      family = line.substr(7, line.find(' ', 7) - 7);
      EXPECT_TRUE(seen.insert(family).second) << family << " written twice";
      help = true;
      type.clear();
    } else if (line.rfind("# TYPE ", 0) == 0) {
      EXPECT_TRUE(help) << line;
      EXPECT_EQ(line.substr(7, family.size()), family);
      type = line.substr(7 + family.size() + 1);
      const bool total = family.size() > 6 && family.substr(family.size() - 6) == "_total";
      EXPECT_EQ(total, type == "counter") << family << " is a " << type;
    } else {
      ASSERT_FALSE(type.empty()) << "a sample before its TYPE: " << line;
      const std::string name = line.substr(0, line.find_first_of("{ "));
      const bool own =
          name == family ||
          (type == "histogram" &&
           (name == family + "_bucket" || name == family + "_sum" || name == family + "_count"));
      EXPECT_TRUE(own) << line << " under " << family;
    }
  }
}

TEST_F(EventMetricsTest, FiguresAndStateOfEachEvent) {
  Create("shoes", 10, 1000);
  Create("hats", 1, 2000);
  Issue("shoes", "u1");
  Issue("shoes", "u2");
  Issue("hats", "u1");
  const std::string text = Render(100);
  EXPECT_TRUE(Has(text, "firstcome_events 2")) << text;
  EXPECT_TRUE(Has(text, "firstcome_event_metrics_omitted 0")) << text;
  EXPECT_TRUE(Has(text, "firstcome_event_coupons{event=\"shoes\"} 10")) << text;
  EXPECT_TRUE(Has(text, "firstcome_event_issued{event=\"shoes\"} 2")) << text;
  EXPECT_TRUE(Has(text, "firstcome_event_remaining{event=\"shoes\"} 8")) << text;
  EXPECT_TRUE(Has(text, "firstcome_event_persisted{event=\"shoes\"} 0")) << "no consumer runs";
  EXPECT_TRUE(Has(text, "firstcome_event_failed{event=\"shoes\"} 0")) << text;
  EXPECT_TRUE(Has(text, "firstcome_event_dead{event=\"shoes\"} 0")) << text;
  EXPECT_TRUE(Has(text, "firstcome_event_state{event=\"shoes\",state=\"open\"} 1")) << text;
  EXPECT_TRUE(Has(text, "firstcome_event_remaining{event=\"hats\"} 0")) << text;
  EXPECT_TRUE(Has(text, "firstcome_event_state{event=\"hats\",state=\"sold_out\"} 1")) << text;
  EXPECT_TRUE(Has(text, "firstcome_log_lag 0")) << "every append was answered";
  ExpectWellFormed(text);
}

TEST_F(EventMetricsTest, OnlyTheNewestEventsOverTheBound) {
  Create("first", 5, 1000);
  Create("second", 5, 2000);
  Create("third", 5, 3000);
  const std::string text = Render(2);
  EXPECT_TRUE(Has(text, "firstcome_events 3")) << text;
  EXPECT_TRUE(Has(text, "firstcome_event_metrics_omitted 1")) << text;
  EXPECT_EQ(text.find("event=\"first\""), std::string::npos) << text;
  EXPECT_TRUE(Has(text, "firstcome_event_issued{event=\"second\"} 0")) << text;
  EXPECT_TRUE(Has(text, "firstcome_event_issued{event=\"third\"} 0")) << text;
  ExpectWellFormed(text);
}

TEST_F(EventMetricsTest, NoEventsStillWritesEveryFamily) {
  const std::string text = Render(100);
  EXPECT_TRUE(Has(text, "firstcome_events 0")) << text;
  EXPECT_NE(text.find("# TYPE firstcome_event_issued gauge\n"), std::string::npos) << text;
  ExpectWellFormed(text);
}

}  // namespace
}  // namespace firstcome
