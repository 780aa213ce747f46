// Starts and stops a real `firstcome` process for integration tests.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace firstcome::test {

// A free TCP port on 127.0.0.1 (bound to 0 and released; racy but fine here).
int FreePort();
class FirstcomeProcess {
 public:
  // `args` follow the binary, e.g. {"serve", "--port", "8081", "--data-dir", dir}.
  // `env` entries are "NAME=value", added to this process's environment.
  FirstcomeProcess(std::vector<std::string> args, std::vector<std::string> env = {});
  ~FirstcomeProcess();  // SIGKILL if still running
  FirstcomeProcess(const FirstcomeProcess&) = delete;
  FirstcomeProcess& operator=(const FirstcomeProcess&) = delete;

  bool Start();
  // Waits until GET /healthz on `port` answers 200.
  bool WaitHealthy(int port, std::chrono::milliseconds timeout = std::chrono::seconds(30));
  void Kill9();
  // SIGTERM, then waits; returns the exit code (-1 if it had to be killed).
  int Terminate(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  bool running() const;
  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }

 private:
  std::vector<std::string> args_;
  std::vector<std::string> env_;
  pid_t pid_ = -1;
  std::string log_path_;
};

// SIGSTOP to `pid`, then waits (up to `timeout`) until every one of its
// threads is really stopped: kill() returns before the stop takes effect, and
// a thread still running meanwhile may answer one more request. True when all
// threads are stopped.
bool FreezeProcess(pid_t pid, std::chrono::milliseconds timeout = std::chrono::seconds(5));
// SIGCONT to `pid`.
bool ThawProcess(pid_t pid);

// Runs `firstcome args...` to completion; returns the exit code, output in *out.
int RunFirstcome(const std::vector<std::string>& args, std::string* out = nullptr,
                 const std::vector<std::string>& env = {});

}  // namespace firstcome::test
