// EmbeddedTest: the parts of an embedded server, for tests of the pipeline
// on them: a migrated SQLite store and a SQLite log in a temporary folder,
// the memory gate, the event catalog and an Issuer. LogT is the log the
// Issuer appends to: Log itself, or a test log wrapping the SQLite one (made
// as LogT(std::unique_ptr<Log>)). Shared by the issuer, settler, lifecycle
// and event-metrics tests.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include "gate/memory_gate.h"
#include "log/sqlite_log.h"
#include "pipeline/event_catalog.h"
#include "pipeline/issuer.h"
#include "store/sqlite_store.h"
#include "support/fixtures.h"

namespace firstcome::test {

template <typename LogT = Log>
class EmbeddedTest : public ::testing::Test {
 protected:
  // Opens every part in dir_ (store.db, log.db); `store` is taken as it is but
  // for its path. The Issuer gets `issuer_args` after its parts (resender
  // options, limits, lifecycle options). Call as
  // ASSERT_NO_FATAL_FAILURE(OpenParts(...)) from SetUp.
  template <typename... IssuerArgs>
  void OpenParts(SqliteStoreOptions store, IssuerArgs&&... issuer_args) {
    store.path = dir_.path() + "/store.db";
    auto opened = OpenSqliteStore(store);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    store_ = std::move(opened).value();
    ASSERT_TRUE(store_->Migrate().ok());
    auto base = OpenSqliteLog({.path = dir_.path() + "/log.db"});
    ASSERT_TRUE(base.ok()) << base.status().ToString();
    if constexpr (std::is_same_v<LogT, Log>) {
      log_ = std::move(base).value();
    } else {
      log_ = std::make_unique<LogT>(std::move(base).value());
    }
    gate_ = NewMemoryGate();
    catalog_ = std::make_unique<EventCatalog>(*store_);
    issuer_ = std::make_unique<Issuer>(IssuerParts{.catalog = catalog_.get(),
                                                   .store = store_.get(),
                                                   .gate = gate_.get(),
                                                   .log = log_.get()},
                                       std::forward<IssuerArgs>(issuer_args)...);
  }

  void TearDown() override {
    if (issuer_) issuer_->Stop(std::chrono::milliseconds(0));
  }

  TempDir dir_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<LogT> log_;
  std::unique_ptr<Gate> gate_;
  std::unique_ptr<EventCatalog> catalog_;
  std::unique_ptr<Issuer> issuer_;
};

}  // namespace firstcome::test
