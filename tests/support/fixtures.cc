#include "support/fixtures.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

namespace firstcome::test {

Event MakeEvent(std::string id, std::int64_t total, std::int32_t per_user) {
  Event e;
  e.name = "Drop " + id;
  e.id = std::move(id);
  e.total = total;
  e.per_user = per_user;
  e.created_at = NowMillis();
  return e;
}

std::string ThisTestEventId() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string id = "ev-";
  if (info != nullptr) {
    id += info->test_suite_name();
    id += '.';
    id += info->name();
  }
  // Parameterised names hold '/'; ids allow only A-Z a-z 0-9 . _ - : @.
  for (char& c : id) {
    if (!IsValidId(std::string_view(&c, 1))) c = '_';
  }
  if (id.size() > kMaxIdLength) id.erase(0, id.size() - kMaxIdLength);
  return id;
}

Event EventOfThisTest(std::int64_t total, std::int32_t per_user) {
  return MakeEvent(ThisTestEventId(), total, per_user);
}

Issuance MakeIssuance(std::string event, std::string user, std::int64_t seq,
                      std::int32_t user_seq) {
  Issuance i;
  i.coupon_id = CouponId(event, seq);
  i.event_id = std::move(event);
  i.user_id = std::move(user);
  i.seq = seq;
  i.user_seq = user_seq;
  i.issued_at = 1'700'000'000'000 + seq;
  return i;
}

Issuance MakeIssuance(std::string event, std::int64_t seq) {
  return MakeIssuance(std::move(event), Name("user-", seq), seq);
}

std::vector<Issuance> MakeIssuances(const std::string& event, std::int64_t from,
                                    std::int64_t count) {
  std::vector<Issuance> out;
  out.reserve(static_cast<std::size_t>(count));
  for (std::int64_t s = from; s < from + count; ++s) {
    out.push_back(MakeIssuance(event, s));
  }
  return out;
}

std::string Name(std::string_view prefix, std::int64_t n) {
  std::string s(prefix);
  s += std::to_string(n);
  return s;
}

Result<Admission> AdmitAndWait(Gate& gate, const Event& event, std::string_view user,
                               std::chrono::milliseconds limit) {
  auto promise = std::make_shared<std::promise<Result<Admission>>>();
  auto answer = promise->get_future();
  gate.Admit(event, user, [promise](Result<Admission> r) { promise->set_value(std::move(r)); });
  if (answer.wait_for(limit) != std::future_status::ready) {
    ADD_FAILURE() << "no admit answer within " << limit.count() << " ms";
    return Status::Internal("no answer");
  }
  return answer.get();
}

Status ReleaseAndWait(Gate& gate, const Event& event, std::string_view user, std::int64_t seq,
                      std::chrono::milliseconds limit) {
  auto promise = std::make_shared<std::promise<Status>>();
  auto answer = promise->get_future();
  gate.Release(event, user, seq, [promise](Status s) { promise->set_value(std::move(s)); });
  if (answer.wait_for(limit) != std::future_status::ready) {
    ADD_FAILURE() << "no release answer within " << limit.count() << " ms";
    return Status::Internal("no answer");
  }
  return answer.get();
}

TempDir::TempDir() {
  char tmpl[] = "/tmp/fc-test.XXXXXX";
  const char* made = ::mkdtemp(tmpl);
  if (made == nullptr) ADD_FAILURE() << "mkdtemp failed";
  path_ = made != nullptr ? made : "/nonexistent";
}

TempDir::~TempDir() {
  std::error_code ec;
  if (std::getenv("FIRSTCOME_KEEP_TEST_DIRS") == nullptr) std::filesystem::remove_all(path_, ec);
}

Services& SharedService(const std::string& name) {
  // Destroyed at exit, which stops the servers.
  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<Services>> running;
  std::lock_guard lock(mu);
  auto& service = running[name];
  if (!service) service = std::make_unique<Services>(name);
  return *service;
}

std::string MariadbPort() {
  const std::string url = SharedService("mariadb").env("FIRSTCOME_MYSQL_URL");
  auto colon = url.rfind(':');
  auto slash = url.rfind('/');
  return url.substr(colon + 1, slash - colon - 1);
}

int MariadbSql(const std::string& sql) {
  Services& mariadb = SharedService("mariadb");
  const std::string file = mariadb.dir() + "/contract.sql";
  std::ofstream(file) << sql;
  return RunShell("mariadb --no-defaults -h127.0.0.1 -P" + MariadbPort() +
                  " -ufirstcome -pfirstcome firstcome < " + file + " 2>&1");
}

bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

}  // namespace firstcome::test
