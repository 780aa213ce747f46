#include "core/thread_name.h"

#include <gtest/gtest.h>
#include <pthread.h>

#include <array>
#include <string>
#include <thread>

namespace firstcome {
namespace {

std::string NameOf(pthread_t thread) {
  std::array<char, 16> name{};
  EXPECT_EQ(pthread_getname_np(thread, name.data(), name.size()), 0);
  return name.data();
}

TEST(ThreadName, NamesTheCallingThread) {
  std::string seen;
  std::thread t([&] {
    NameThisThread("fc-consumer");
    seen = NameOf(pthread_self());
  });
  t.join();
  EXPECT_EQ(seen, "fc-consumer");
}

TEST(ThreadName, CutsANameToTheFifteenBytesLinuxKeeps) {
  std::string seen;
  std::thread t([&] {
    NameThisThread("fc-a-name-longer-than-fifteen");
    seen = NameOf(pthread_self());
  });
  t.join();
  EXPECT_EQ(seen, "fc-a-name-longe");
}

}  // namespace
}  // namespace firstcome
