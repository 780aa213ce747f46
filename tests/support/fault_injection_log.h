// FaultInjectionLog: a Log that forwards everything to a real one (a SqliteLog
// in a temporary folder, say) except the calls a test chose to fail. Models:
// LevelDB's FaultInjectionTestEnv (a real Env, failures where the test says)
// and Beast's test::fail_count (fail call number k); see fault_plan.h.
//
// What an injected fault does, so tests can reason about the wrapped log:
//   Append  kNotPersisted             answered kNotPersisted; the record never
//                                     reaches the wrapped log.
//           kPossiblyPersistedLost    answered kPossiblyPersisted; the record
//                                     never reaches it (the request was lost).
//           kPossiblyPersistedStored  answered kPossiblyPersisted; the record
//                                     does reach it (the acknowledgement was lost).
//   Poll    an error; nothing is read, the position stays.
//   Rewind  an error; the wrapped reader is not rewound, so its position stays
//           after what Poll handed out (what a failed Kafka seek leaves).
//   Commit  kNotCommitted: an error, nothing committed; kCommittedAnswerLost:
//           committed in the wrapped reader, yet answered with an error.
//   OpenReader  the planned error.
// Injected append answers run inline, before Append returns (as KafkaLog's
// refusals do). The plans apply to every reader of this log, whenever opened.
// The log must outlive its readers.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "log/log.h"
#include "support/fault_plan.h"

namespace firstcome::test {

enum class AppendFault { kNotPersisted, kPossiblyPersistedLost, kPossiblyPersistedStored };
enum class CommitFault { kNotCommitted, kCommittedAnswerLost };

// The error an injected fault answers with: kUnavailable, as a dependency that
// timed out or went away.
Status InjectedFault(std::string_view what = "injected fault");

class FaultInjectionLog final : public Log {
 public:
  using CommitObserver = std::function<void(const std::vector<Issuance>& committed)>;

  explicit FaultInjectionLog(std::unique_ptr<Log> base);
  ~FaultInjectionLog() override;

  Log& base() { return *base_; }

  // The plans: e.g. appends().FailNumber(3, AppendFault::kNotPersisted),
  // rewinds().FailNext(2, InjectedFault()). A predicate must not call back
  // into its plan.
  FaultPlan<AppendFault, Issuance>& appends() { return appends_; }
  FaultPlan<Status>& polls() { return polls_; }
  FaultPlan<Status>& rewinds() { return rewinds_; }
  FaultPlan<CommitFault>& commits() { return commits_; }
  FaultPlan<Status>& open_readers() { return open_readers_; }

  // Called (on the committing thread) each time a reader's Commit reached the
  // wrapped reader and succeeded there, with the records it committed: every
  // record that reader's Poll returned since its last such Commit or its last
  // rewind that was not injected to fail.
  void OnCommit(CommitObserver observer);

  // Poll and Commit calls made on a reader whose last Rewind failed. Such a
  // reader may stand past records that were never handled, so a consumer must
  // not use it again: this stays 0 with a correct one.
  std::int64_t uses_after_failed_rewind() const { return uses_after_failed_rewind_.load(); }

  void Append(const Issuance& issuance, AppendCallback done) override;
  Status Flush(std::chrono::milliseconds timeout) override;
  Status Scan(std::string_view event_id,
              const std::function<void(const Issuance&)>& visit) override;
  Status ScanAll(const std::function<void(const Issuance&)>& visit) override;
  Result<std::unique_ptr<LogReader>> OpenReader(const std::string& group) override;
  Status Health() override;

 private:
  class Reader;
  void Committed(const std::vector<Issuance>& records);

  std::unique_ptr<Log> base_;
  FaultPlan<AppendFault, Issuance> appends_;
  FaultPlan<Status> polls_;
  FaultPlan<Status> rewinds_;
  FaultPlan<CommitFault> commits_;
  FaultPlan<Status> open_readers_;
  std::atomic<std::int64_t> uses_after_failed_rewind_{0};
  std::mutex mu_;
  CommitObserver on_commit_;  // guarded by mu_
};

}  // namespace firstcome::test
