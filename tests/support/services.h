// Starts private Redis / MariaDB / Kafka through scripts/services for a test
// binary, and stops them at exit. Skips nothing: if a service cannot start,
// the test fails.
#pragma once

#include <map>
#include <string>

namespace firstcome::test {

class Services {
 public:
  // `only`: comma-separated subset of "redis,mariadb,kafka".
  explicit Services(const std::string& only);
  ~Services();
  Services(const Services&) = delete;
  Services& operator=(const Services&) = delete;

  bool ok() const { return ok_; }
  const std::string& dir() const { return dir_; }
  // Values printed by `scripts/services up`, e.g. env("FIRSTCOME_REDIS_URL").
  std::string env(const std::string& name) const;
  const std::map<std::string, std::string>& all_env() const { return env_; }

  // Fault injection: stop / start one service, keeping its data and port.
  bool Stop(const std::string& name);
  bool Start(const std::string& name);

 private:
  bool ok_ = false;
  std::string dir_;
  std::map<std::string, std::string> env_;
};

// Runs a shell command, returns its exit code; stdout into *out if given.
int RunShell(const std::string& command, std::string* out = nullptr);

}  // namespace firstcome::test
