#include "core/thread_name.h"

#include <gtest/gtest.h>
#include <pthread.h>

#include <array>
#include <string>
#include <string_view>
#include <thread>

namespace firstcome {
namespace {

// The name a new thread has after NameThisThread(name), as Linux keeps it.
std::string NameKept(std::string_view name) {
  std::array<char, 16> kept{};
  int rc = -1;
  std::thread t([&] {
    NameThisThread(name);
    rc = pthread_getname_np(pthread_self(), kept.data(), kept.size());
  });
  t.join();
  EXPECT_EQ(rc, 0);
  return kept.data();
}

TEST(ThreadName, NamesTheCallingThread) { EXPECT_EQ(NameKept("fc-consumer"), "fc-consumer"); }

TEST(ThreadName, CutsANameToTheFifteenBytesLinuxKeeps) {
  EXPECT_EQ(NameKept("fc-a-name-longer-than-fifteen"), "fc-a-name-longe");
}

}  // namespace
}  // namespace firstcome
