#include "pipeline/append_all.h"

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>

namespace firstcome {

std::vector<Issuance> AppendAll(Log& log, std::vector<Issuance> batch,
                                std::chrono::milliseconds timeout) {
  // Shared with the callbacks: an answer after the timeout lands here and is
  // ignored instead of touching a finished stack frame.
  struct Round {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<std::optional<bool>> acked;  // per record: answered, ok
    std::size_t answered = 0;
  };
  auto round = std::make_shared<Round>();
  round->acked.resize(batch.size());
  for (std::size_t i = 0; i < batch.size(); ++i) {
    log.Append(batch[i], [round, i](AppendResult r) {
      std::lock_guard lock(round->mu);
      round->acked[i] = r.status.ok();
      if (++round->answered == round->acked.size()) round->cv.notify_all();
    });
  }
  std::vector<Issuance> failed;
  std::unique_lock lock(round->mu);
  round->cv.wait_for(lock, timeout, [&] { return round->answered == round->acked.size(); });
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (!round->acked[i].value_or(false)) failed.push_back(std::move(batch[i]));
  }
  return failed;
}

}  // namespace firstcome
