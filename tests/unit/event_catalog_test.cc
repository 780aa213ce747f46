// EventCatalog (src/pipeline/event_catalog.h) as two API processes use it: two
// catalogs over two store objects on one SQLite file. A change made through
// one is in its own cache at once and reaches the other through Refresh (the
// events generation), or by itself within the refresh interval once Start
// runs; deletions and creations elsewhere too.
#include "pipeline/event_catalog.h"

#include <gtest/gtest.h>

#include "store/sqlite_store.h"
#include "support/fixtures.h"

namespace firstcome {
namespace {

using std::chrono::milliseconds;
using test::TempDir;
using test::WaitFor;

class EventCatalogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (auto* store : {&store_a_, &store_b_}) {
      auto opened = OpenSqliteStore({.path = dir_.path() + "/store.db"});
      ASSERT_TRUE(opened.ok()) << opened.status().ToString();
      *store = std::move(opened).value();
      ASSERT_TRUE((*store)->Migrate().ok());
    }
    a_ = std::make_unique<EventCatalog>(*store_a_);
    b_ = std::make_unique<EventCatalog>(*store_b_,
                                        CatalogOptions{.refresh_interval = milliseconds(20)});
  }

  // What an operator's change through process A does: the store, then A's cache.
  void ChangeThroughA(const std::string& id, const std::function<void(Event&)>& change) {
    auto current = a_->Load(id);
    ASSERT_TRUE(current.ok() && current->has_value());
    Event next = **current;
    change(next);
    ASSERT_TRUE(*store_a_->UpdateEvent(next, next.version));
    next.version += 1;
    a_->Put(next);
  }
  std::shared_ptr<const Event> Find(EventCatalog& catalog, const std::string& id) {
    auto found = catalog.Find(id);
    EXPECT_TRUE(found.ok()) << found.status().ToString();
    return found.ok() ? *found : nullptr;
  }

  TempDir dir_;
  std::unique_ptr<Store> store_a_, store_b_;
  std::unique_ptr<EventCatalog> a_, b_;
};

TEST_F(EventCatalogTest, AChangeIsLocalAtOnceAndReachesTheOtherOnRefresh) {
  ASSERT_TRUE(a_->Create(Event{.id = "ev", .total = 10}).ok());
  auto first = Find(*b_, "ev");
  ASSERT_TRUE(first);
  EXPECT_NE(first->incarnation, 0) << "a created event gets an incarnation";
  EXPECT_EQ(Find(*a_, "ev")->incarnation, first->incarnation);

  ChangeThroughA("ev", [](Event& e) { e.closed = true; });
  EXPECT_TRUE(Find(*a_, "ev")->closed) << "the process that changed it, at once";
  EXPECT_FALSE(Find(*b_, "ev")->closed) << "the other one, not before its refresh";
  ASSERT_TRUE(b_->Refresh().ok());
  auto refreshed = Find(*b_, "ev");
  EXPECT_TRUE(refreshed->closed);
  EXPECT_EQ(refreshed->version, 2);
  EXPECT_FALSE(first->closed) << "an event a caller holds never changes under it";
  ASSERT_TRUE(b_->Refresh().ok());
  EXPECT_EQ(Find(*b_, "ev"), refreshed) << "nothing changed: the same object";
}

TEST_F(EventCatalogTest, TheRefreshThreadPicksChangesUpByItself) {
  ASSERT_TRUE(a_->Create(Event{.id = "ev", .total = 10}).ok());
  ASSERT_TRUE(Find(*b_, "ev"));
  b_->Start();
  ChangeThroughA("ev", [](Event& e) { e.total = 20; });
  EXPECT_TRUE(WaitFor([&] { return Find(*b_, "ev")->total == 20; }, milliseconds(2000)));
  b_->Stop();
}

TEST_F(EventCatalogTest, DeletionsAndCreationsElsewhereAreSeen) {
  ASSERT_TRUE(a_->Create(Event{.id = "ev", .total = 10}).ok());
  auto old = Find(*b_, "ev");
  ASSERT_TRUE(old);
  EXPECT_FALSE(Find(*b_, "later")) << "unknown, and remembered as unknown for a while";

  ASSERT_TRUE(store_a_->DeleteEvent(*old).ok());
  a_->Drop("ev");
  EXPECT_FALSE(Find(*a_, "ev"));
  ASSERT_TRUE(a_->Create(Event{.id = "ev", .total = 3}).ok());
  ASSERT_TRUE(a_->Create(Event{.id = "later", .total = 1}).ok());
  ASSERT_TRUE(b_->Refresh().ok());
  auto again = Find(*b_, "ev");
  ASSERT_TRUE(again);
  EXPECT_NE(again->incarnation, old->incarnation) << "the new creation, not the deleted one";
  EXPECT_EQ(again->total, 3);
  EXPECT_TRUE(Find(*b_, "later")) << "a refresh that saw a change forgets the unknown ids";

  ASSERT_TRUE(store_a_->DeleteEvent(*again).ok());
  a_->Drop("ev");
  ASSERT_TRUE(b_->Refresh().ok());
  EXPECT_FALSE(Find(*b_, "ev"));
}

}  // namespace
}  // namespace firstcome
