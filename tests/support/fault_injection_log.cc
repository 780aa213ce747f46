#include "support/fault_injection_log.h"

#include <utility>

namespace firstcome::test {

Status InjectedFault(std::string_view what) { return Status::Unavailable(std::string(what)); }

// Forwards to a reader of the wrapped log, keeping what Poll handed out since
// the last commit or rewind that reached the wrapped reader (for OnCommit).
class FaultInjectionLog::Reader final : public LogReader {
 public:
  Reader(FaultInjectionLog& log, std::unique_ptr<LogReader> base)
      : log_(log), base_(std::move(base)) {}

  Result<std::vector<Issuance>> Poll(std::size_t max_records,
                                     std::chrono::milliseconds wait) override {
    if (rewind_failed_) ++log_.uses_after_failed_rewind_;
    if (auto fault = log_.polls_.Next()) return *fault;
    auto polled = base_->Poll(max_records, wait);
    if (polled.ok()) handed_out_.insert(handed_out_.end(), polled->begin(), polled->end());
    return polled;
  }

  Status Commit() override {
    if (rewind_failed_) ++log_.uses_after_failed_rewind_;
    const auto fault = log_.commits_.Next();
    if (fault == CommitFault::kNotCommitted) return InjectedFault("injected commit fault");
    if (Status s = base_->Commit(); !s.ok()) return s;
    log_.Committed(handed_out_);
    handed_out_.clear();
    if (fault) return InjectedFault("injected commit fault (committed, answer lost)");
    return Status::Ok();
  }

  Status Rewind() override {
    if (auto fault = log_.rewinds_.Next()) {
      rewind_failed_ = true;
      return *fault;
    }
    if (Status s = base_->Rewind(); !s.ok()) {
      rewind_failed_ = true;
      return s;
    }
    rewind_failed_ = false;
    handed_out_.clear();
    return Status::Ok();
  }

  std::int64_t Lag() override { return base_->Lag(); }

 private:
  FaultInjectionLog& log_;
  std::unique_ptr<LogReader> base_;
  std::vector<Issuance> handed_out_;
  bool rewind_failed_ = false;  // the last Rewind failed
};

FaultInjectionLog::FaultInjectionLog(std::unique_ptr<Log> base) : base_(std::move(base)) {}

FaultInjectionLog::~FaultInjectionLog() = default;

void FaultInjectionLog::OnCommit(CommitObserver observer) {
  std::lock_guard lock(mu_);
  on_commit_ = std::move(observer);
}

void FaultInjectionLog::Committed(const std::vector<Issuance>& records) {
  CommitObserver observer;
  {
    std::lock_guard lock(mu_);
    observer = on_commit_;
  }
  if (observer) observer(records);
}

void FaultInjectionLog::Append(const Issuance& issuance, AppendCallback done) {
  const auto fault = appends_.Next(issuance);
  if (!fault) return base_->Append(issuance, std::move(done));
  switch (*fault) {
    case AppendFault::kNotPersisted:
      return done(AppendResult{InjectedFault("injected append fault (not persisted)"),
                               AppendFailure::kNotPersisted});
    case AppendFault::kPossiblyPersistedLost:
      return done(AppendResult{InjectedFault("injected append fault (request lost)"),
                               AppendFailure::kPossiblyPersisted});
    case AppendFault::kPossiblyPersistedStored:
      return base_->Append(issuance, [done = std::move(done)](AppendResult stored) {
        // A real failure of the wrapped log is passed on as it is.
        if (!stored.status.ok()) return done(std::move(stored));
        done(AppendResult{InjectedFault("injected append fault (stored, answer lost)"),
                          AppendFailure::kPossiblyPersisted});
      });
  }
}

Status FaultInjectionLog::Flush(std::chrono::milliseconds timeout) { return base_->Flush(timeout); }

Status FaultInjectionLog::Scan(std::string_view event_id,
                               const std::function<void(const Issuance&)>& visit) {
  return base_->Scan(event_id, visit);
}

Status FaultInjectionLog::ScanAll(const std::function<void(const Issuance&)>& visit) {
  return base_->ScanAll(visit);
}

Result<std::unique_ptr<LogReader>> FaultInjectionLog::OpenReader(const std::string& group) {
  if (auto fault = open_readers_.Next()) return *fault;
  auto base = base_->OpenReader(group);
  if (!base.ok()) return base.status();
  return std::unique_ptr<LogReader>(std::make_unique<Reader>(*this, std::move(base).value()));
}

Status FaultInjectionLog::Health() { return base_->Health(); }

}  // namespace firstcome::test
