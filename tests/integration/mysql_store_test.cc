// MysqlStore specifics beyond the shared contract (store_contract_test.cc):
// URL parsing, an unreachable server, values MariaDB refuses, error texts it
// could not store as given, and several writers racing on the same coupons.
//
// Starts: one private mariadbd through scripts/services (tests/support/services.h).
#include "store/mysql_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "support/fixtures.h"
#include "support/process.h"
#include "support/services.h"

namespace firstcome {
namespace {

using test::MakeIssuance;
using test::Name;
using test::Services;
using Clock = std::chrono::steady_clock;

Services& Mariadb() { return test::SharedService("mariadb"); }

std::unique_ptr<Store> OpenStore(int connections = 4) {
  EXPECT_TRUE(Mariadb().ok());
  auto store =
      OpenMysqlStore({.url = Mariadb().env("FIRSTCOME_MYSQL_URL"), .connections = connections});
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  if (!store.ok()) return nullptr;
  EXPECT_TRUE((*store)->Migrate().ok());
  // The store keeps coupons of events it holds only (incarnation 0, as
  // MakeIssuance's records); created once, kept for the whole binary.
  for (const char* id : {"bad-values", "errors", "race"}) {
    Status created = (*store)->CreateEvent(test::MakeEvent(id, kMaxTotal));
    EXPECT_TRUE(created.ok() || created.code() == Status::Code::kExists) << created.ToString();
  }
  return std::move(store).value();
}

TEST(MysqlStoreTest, MalformedUrlsAreInvalid) {
  for (const char* url :
       {"", "mysql://", "postgres://u:p@h:1/db", "mysql://u:p@h:1", "mysql://u:p@h:1/",
        "mysql://h:1/db", "mysql://u:p@:1/db", "mysql://u:p@h:0/db", "mysql://u:p@h:99999/db",
        "mysql://u:p@h:12x/db", "mysql://u:%zz@h:1/db", "mysql://:p@h:1/db",
        "mysql://u:p@h:1/db?ssl=1"}) {
    auto store = OpenMysqlStore({.url = url});
    ASSERT_FALSE(store.ok()) << url;
    EXPECT_EQ(store.status().code(), Status::Code::kInvalid) << url;
  }
  EXPECT_EQ(OpenMysqlStore({.url = "mysql://u:p@h/db", .connections = 0}).status().code(),
            Status::Code::kInvalid);
  // %-encoded password and no port (3306 by default) parse; nothing connects yet.
  EXPECT_TRUE(OpenMysqlStore({.url = "mysql://u:p%40ss%3A@127.0.0.1/db"}).ok());
}

TEST(MysqlStoreTest, UnreachableServerIsUnavailableQuickly) {
  const int port = test::FreePort();  // nothing listens there
  auto store = OpenMysqlStore(
      {.url = "mysql://u:p@127.0.0.1:" + std::to_string(port) + "/db", .connections = 2});
  ASSERT_TRUE(store.ok());
  auto start = Clock::now();
  EXPECT_EQ((*store)->Migrate().code(), Status::Code::kUnavailable);
  EXPECT_EQ((*store)->Health().code(), Status::Code::kUnavailable);
  EXPECT_EQ((*store)->InsertCoupons(std::vector{MakeIssuance("e", "u", 1)}).status().code(),
            Status::Code::kUnavailable);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(2));
}

TEST(MysqlStoreTest, ValuesTheServerRefusesFailOneByOne) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  // Strict mode: too long and non-ASCII ids are refused, never truncated.
  std::vector<Issuance> batch;
  for (int s = 1; s <= 40; ++s) batch.push_back(MakeIssuance("bad-values", Name("u", s), s));
  batch[5].user_id = std::string(100, 'x');
  batch[30].user_id = "caf\xc3\xa9";
  auto out = store->InsertCoupons(batch);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->inserted, 38);
  ASSERT_EQ(out->failed.size(), 2u);
  EXPECT_EQ(out->failed[0].index, 5u);
  EXPECT_EQ(out->failed[1].index, 30u);
  auto counts = store->CountsOf("bad-values");
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ(counts->persisted, 38);
}

TEST(MysqlStoreTest, ErrorTextsAreBoundedAndValidUtf8) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  std::string error = "bad \xff\xfe bytes, then \xe2\x9c\x93 and ";
  error.append(10000, 'e');
  ASSERT_TRUE(store->RecordFailure(MakeIssuance("errors", "u", 1), error, 0).ok());
  auto failed = store->FailuresOf("errors");
  ASSERT_TRUE(failed.ok());
  ASSERT_EQ(failed->size(), 1u);
  const std::string& stored = (*failed)[0].error;
  EXPECT_EQ(stored.rfind("bad ?? bytes, then \xe2\x9c\x93 and eee", 0), 0u) << stored.substr(0, 40);
  EXPECT_LE(stored.size(), 2000u);
}

// Two store objects (two consumer processes) with small pools, eight threads
// each, inserting shuffled overlapping batches of the same 20,000 coupons:
// every coupon ends up exactly once, every insert is counted exactly once.
TEST(MysqlStoreTest, RacingWritersNeverPersistTwice) {
  std::unique_ptr<Store> stores[2] = {OpenStore(2), OpenStore(2)};
  ASSERT_TRUE(stores[0] && stores[1]);
  constexpr int kCoupons = 20000, kThreads = 16, kRounds = 10;
  std::vector<Issuance> all;
  for (int s = 1; s <= kCoupons; ++s) all.push_back(MakeIssuance("race", Name("u", s), s));
  std::atomic<std::int64_t> inserted{0}, duplicates{0}, failed{0}, unavailable{0}, rows{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t));
      Store& store = *stores[t % 2];
      for (int r = 0; r < kRounds; ++r) {
        std::size_t from = rng() % (kCoupons - 1000);
        std::vector<Issuance> batch(all.begin() + from, all.begin() + from + 1000);
        std::shuffle(batch.begin(), batch.end(), rng);
        for (;;) {  // a deadlock between two writers is kUnavailable: retry
          auto out = store.InsertCoupons(batch);
          if (!out.ok()) {
            ASSERT_EQ(out.status().code(), Status::Code::kUnavailable) << out.status().ToString();
            ++unavailable;
            continue;
          }
          inserted += out->inserted;
          duplicates += out->duplicates;
          failed += static_cast<std::int64_t>(out->failed.size());
          rows += static_cast<std::int64_t>(batch.size());
          break;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  // Then everything once more, so every coupon is surely there.
  auto last = stores[0]->InsertCoupons(all);
  ASSERT_TRUE(last.ok());
  inserted += last->inserted;
  duplicates += last->duplicates;
  rows += kCoupons;

  auto counts = stores[1]->CountsOf("race");
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ(counts->persisted, kCoupons);
  EXPECT_EQ(inserted.load(), kCoupons);
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(inserted.load() + duplicates.load(), rows.load());
  std::printf(
      "[ mariadb ] racing writers: %lld rows, %lld inserted, %lld duplicates, %lld retries\n",
      static_cast<long long>(rows.load()), static_cast<long long>(inserted.load()),
      static_cast<long long>(duplicates.load()), static_cast<long long>(unavailable.load()));
}

}  // namespace
}  // namespace firstcome
