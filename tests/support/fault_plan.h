// FaultPlan: which calls of one kind a test makes fail, and how. Beast's
// test::fail_count generalised: calls are numbered from 1 in the order they are
// made, and a test can fail call number k, the next n calls, or every call a
// predicate picks. Used by the fault-injecting ports in tests/support/.
//
// Invariants: rules are checked in the order they were added and the first
// that matches decides; a rule for a number or a count is spent once used, a
// predicate stays until Clear(). Safe to use from several threads.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

namespace firstcome::test {

// `Fault` says how a call fails (an error Status, an AppendFault…); `Call...`
// is what a predicate may look at besides the call's number.
template <class Fault, class... Call>
class FaultPlan {
 public:
  using Predicate = std::function<bool(std::int64_t number, const Call&... call)>;

  // Call number `number` (counting every call ever made, from 1) fails.
  void FailNumber(std::int64_t number, Fault how) {
    std::lock_guard lock(mu_);
    rules_.push_back({.number = number, .how = std::move(how)});
  }
  // The next `count` calls fail.
  void FailNext(int count, Fault how) {
    std::lock_guard lock(mu_);
    rules_.push_back({.left = count, .how = std::move(how)});
  }
  // Every call `when` says so about fails, until Clear().
  void FailWhen(Predicate when, Fault how) {
    std::lock_guard lock(mu_);
    rules_.push_back({.when = std::move(when), .how = std::move(how)});
  }
  // No more faults; the numbering goes on.
  void Clear() {
    std::lock_guard lock(mu_);
    rules_.clear();
  }

  // Counts one call; the fault to inject into it, if any.
  std::optional<Fault> Next(const Call&... call) {
    std::lock_guard lock(mu_);
    const std::int64_t number = ++calls_;
    for (auto it = rules_.begin(); it != rules_.end(); ++it) {
      bool spent = false;
      if (it->number > 0) {
        if (it->number != number) continue;
        spent = true;
      } else if (it->left > 0) {
        spent = --it->left == 0;
      } else if (!it->when || !it->when(number, call...)) {
        continue;
      }
      ++injected_;
      Fault how = it->how;
      if (spent) rules_.erase(it);
      return how;
    }
    return std::nullopt;
  }

  std::int64_t calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }
  std::int64_t injected() const {
    std::lock_guard lock(mu_);
    return injected_;
  }

 private:
  struct Rule {
    std::int64_t number = 0;  // > 0: exactly this call
    int left = 0;             // > 0: this many more calls
    Predicate when;           // set: whenever it says so
    Fault how;
  };

  mutable std::mutex mu_;
  std::vector<Rule> rules_;  // guarded by mu_
  std::int64_t calls_ = 0;   // guarded by mu_
  std::int64_t injected_ = 0;
};

}  // namespace firstcome::test
