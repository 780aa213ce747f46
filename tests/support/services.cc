#include "support/services.h"

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>

namespace firstcome::test {

int RunShell(const std::string& command, std::string* out) {
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return -1;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) {
    if (out) out->append(buf, n);
  }
  int rc = ::pclose(pipe);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

Services::Services(const std::string& only) {
  char tmpl[] = "/tmp/fc-test-services.XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return;
  dir_ = tmpl;
  std::string out;
  int rc = RunShell(
      std::string(FIRSTCOME_SOURCE_DIR) + "/scripts/services up --dir " + dir_ + " --only " + only,
      &out);
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) {
    const std::string prefix = "export ";
    if (line.rfind(prefix, 0) != 0) continue;
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    env_[line.substr(prefix.size(), eq - prefix.size())] = line.substr(eq + 1);
  }
  ok_ = rc == 0;
}

Services::~Services() {
  if (!dir_.empty()) {
    RunShell(std::string(FIRSTCOME_SOURCE_DIR) + "/scripts/services down --dir " + dir_ +
             " >/dev/null 2>&1");
  }
}

std::string Services::env(const std::string& name) const {
  auto it = env_.find(name);
  return it == env_.end() ? std::string() : it->second;
}

bool Services::Stop(const std::string& name) {
  return RunShell(std::string(FIRSTCOME_SOURCE_DIR) + "/scripts/services stop " + name + " --dir " +
                  dir_ + " >/dev/null 2>&1") == 0;
}

bool Services::Start(const std::string& name) {
  return RunShell(std::string(FIRSTCOME_SOURCE_DIR) + "/scripts/services start " + name +
                  " --dir " + dir_ + " >/dev/null 2>&1") == 0;
}

}  // namespace firstcome::test
