#include "pipeline/event_lifecycle.h"

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>

namespace firstcome {

namespace {

// A read-modify-write that keeps losing to other operators' changes gives
// up after this many rounds (503: try again).
constexpr int kMaxRounds = 5;

Status NoSuchEvent(std::string_view event_id) {
  return Status::NotFound("no event with id " + std::string(event_id));
}

Status KeptChanging(std::string_view event_id) {
  return Status::Unavailable("event " + std::string(event_id) +
                             " kept being changed by other calls; try again");
}

std::string TotalRefusal(const TotalChange& change, std::int64_t total) {
  if (change.verdict == TotalChange::Verdict::kBelowAdmitted) {
    return "total " + std::to_string(total) + " is below the " + std::to_string(change.admitted) +
           " coupons issued";
  }
  return "total " + std::to_string(total) + " is below a seq that is held (seqs stay in " +
         "1..total; the highest handed out is " + std::to_string(change.next_seq) +
         "): revoke the coupons above it first";
}

}  // namespace

EventLifecycle::EventLifecycle(LifecycleParts parts, LifecycleOptions options, ViewOf view_of)
    : parts_(parts), options_(options), view_of_(std::move(view_of)) {}

Result<Event> EventLifecycle::LoadEvent(std::string_view event_id) {
  auto loaded = parts_.catalog->Load(event_id);
  if (!loaded.ok()) return loaded.status();
  if (!loaded->has_value()) return NoSuchEvent(event_id);
  return std::move(**loaded);
}

Result<bool> EventLifecycle::Store(const Event& current, Event& next) {
  auto stored = parts_.store->UpdateEvent(next, current.version);
  if (!stored.ok()) return stored.status();
  if (!*stored) return false;
  next.version = current.version + 1;
  parts_.catalog->Put(next);
  return true;
}

Result<EventView> EventLifecycle::SetClosed(std::string_view event_id, bool closed) {
  for (int round = 0; round < kMaxRounds; ++round) {
    auto current = LoadEvent(event_id);
    if (!current.ok()) return current.status();
    Event next = *current;
    if (current->closed != closed) {
      next.closed = closed;
      auto stored = Store(*current, next);
      if (!stored.ok()) return stored.status();
      if (!*stored) continue;
      spdlog::info("event {} {} by an operator", next.id, closed ? "closed" : "opened");
    } else {
      parts_.catalog->Put(next);  // already so; make sure this cache agrees
    }
    return view_of_(next);
  }
  return KeptChanging(event_id);
}

Result<UpdateAnswer> EventLifecycle::Update(std::string_view event_id, const EventPatch& patch) {
  for (int round = 0; round < kMaxRounds; ++round) {
    auto current = LoadEvent(event_id);
    if (!current.ok()) return current.status();
    Event next = *current;
    if (patch.total) next.total = *patch.total;
    if (patch.name) next.name = *patch.name;
    if (patch.starts_at) next.starts_at = *patch.starts_at;
    if (patch.ends_at) next.ends_at = *patch.ends_at;
    if (Status s = ValidateEvent(next); !s.ok()) return s;

    const bool total_changes = next.total != current->total;
    if (total_changes) {
      if (parts_.gate == nullptr) {
        return Status::Unavailable("this process has no gate, so it cannot change a total");
      }
      auto change = parts_.gate->SetTotal(*current, next.total);
      if (!change.ok()) return change.status();
      if (change->verdict == TotalChange::Verdict::kGone) return NoSuchEvent(event_id);
      if (change->verdict != TotalChange::Verdict::kChanged) {
        UpdateAnswer refused;
        refused.status = OperatorStatus::kTotalBelowIssued;
        refused.detail = TotalRefusal(*change, next.total);
        return refused;
      }
    }
    auto stored = Store(*current, next);
    if (!stored.ok() || !*stored) {
      if (total_changes) {
        // The gate must hold the stored total again: the one stored now (a
        // concurrent change won), or the old one when the store is down.
        auto now_stored = parts_.catalog->Load(event_id);
        const std::int64_t restore =
            now_stored.ok() && now_stored->has_value() ? (*now_stored)->total : current->total;
        auto restored = parts_.gate->SetTotal(*current, restore);
        if (!restored.ok() || restored->verdict != TotalChange::Verdict::kChanged) {
          spdlog::error(
              "event {}: the gate holds total {} but the store does not; change the "
              "total again to settle it",
              current->id, next.total);
        }
      }
      if (!stored.ok()) return stored.status();
      continue;  // changed meanwhile: start again from the new stored event
    }
    if (total_changes) {
      spdlog::info("event {}: total {} -> {} by an operator", next.id, current->total, next.total);
    }
    auto view = view_of_(next);
    if (!view.ok()) return view.status();
    UpdateAnswer answer;
    answer.view = std::move(*view);
    return answer;
  }
  return KeptChanging(event_id);
}

Status EventLifecycle::AppendAndWait(const Issuance& record) {
  struct Wait {
    std::mutex mu;
    std::condition_variable cv;
    bool answered = false;
    AppendResult result;
  };
  // Shared: the callback may come after this call gave up waiting.
  auto wait = std::make_shared<Wait>();
  parts_.log->Append(record, [wait](AppendResult r) {
    std::lock_guard lock(wait->mu);
    wait->result = std::move(r);
    wait->answered = true;
    wait->cv.notify_all();
  });
  std::unique_lock lock(wait->mu);
  if (!wait->cv.wait_for(lock, options_.log_timeout, [&] { return wait->answered; })) {
    return Status::Unavailable(
        "the log did not answer in time; the revocation may be logged: "
        "call again to finish it");
  }
  if (wait->result.status.ok()) return Status::Ok();
  if (wait->result.failure == AppendFailure::kPossiblyPersisted) {
    return Status::Unavailable("the log may have taken the revocation: call again to finish it (" +
                               wait->result.status.message() + ")");
  }
  return Status::Unavailable("the revocation could not be logged; nothing changed: " +
                             wait->result.status.message());
}

Result<RevokeAnswer> EventLifecycle::Revoke(std::string_view event_id, std::int64_t seq) {
  auto event = LoadEvent(event_id);
  if (!event.ok()) return event.status();
  if (parts_.gate == nullptr || parts_.log == nullptr) {
    return Status::Unavailable("this process does not issue, so it cannot revoke");
  }
  RevokeAnswer answer;
  answer.seq = seq;
  auto holder = parts_.store->HolderOfSeq(*event, seq);
  if (!holder.ok()) return holder.status();
  if (!holder->has_value()) {
    // Not in the store. Held in the gate means its record is on its way (in
    // the log or being appended): revoking it now could not stop a copy of
    // the issuance arriving after the revocation (its issued_at is unknown).
    auto held = parts_.gate->IsSeqHeld(*event, seq);
    if (!held.ok()) return held.status();
    answer.status = *held ? OperatorStatus::kCouponPending : OperatorStatus::kCouponNotFound;
    answer.detail = *held ? "seq " + std::to_string(seq) +
                                " is held but not in the store yet; try again in a moment"
                          : "nobody holds seq " + std::to_string(seq);
    return answer;
  }
  Issuance record = (*holder)->issuance;
  record.kind = RecordKind::kRevoke;
  record.incarnation = event->incarnation;
  // The log first: rebuild, audit and the consumer see the revocation in log
  // order. Then the store, then the gate: the seq is free only once the
  // store has forgotten the old holder and would ignore a late copy of it.
  if (Status s = AppendAndWait(record); !s.ok()) return s;
  const Issuance revocations[] = {record};
  if (Status s = parts_.store->ApplyRevocations(revocations); !s.ok()) {
    return Status::Unavailable("the revocation is logged but the store did not take it (" +
                               s.message() +
                               "); the consumer applies it later, call again to "
                               "free the seq");
  }
  std::mutex mu;
  std::condition_variable cv;
  std::optional<Status> released;
  parts_.gate->Release(*event, record.user_id, seq, [&](Status s) {
    std::lock_guard lock(mu);
    released = std::move(s);
    cv.notify_all();
  });
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return released.has_value(); });
  }
  // NotFound: the gate did not hold it for that user (already released).
  if (!released->ok() && released->code() != Status::Code::kNotFound) {
    return Status::Unavailable("revoked in the log and the store, but the gate did not free seq " +
                               std::to_string(seq) + " (" + released->message() +
                               "); `firstcome audit --repair` frees it");
  }
  spdlog::info("event {}: seq {} of user {} revoked by an operator", event->id, seq,
               record.user_id);
  answer.user_id = record.user_id;
  answer.coupon_id = record.coupon_id.empty() ? CouponId(event->id, seq) : record.coupon_id;
  return answer;
}

Result<DeleteAnswer> EventLifecycle::Delete(std::string_view event_id) {
  // Closed first, everywhere: API processes stop admitting before the gate
  // forgets the incarnation (the gate's gone marker catches any that still
  // would).
  auto closed = SetClosed(event_id, true);
  if (!closed.ok()) return closed.status();
  if (options_.propagation_wait.count() > 0) std::this_thread::sleep_for(options_.propagation_wait);
  auto event = LoadEvent(event_id);
  if (!event.ok()) return event.status();
  if (parts_.gate != nullptr) {
    if (Status s = parts_.gate->Forget(*event); !s.ok()) return s;
  }
  auto coupons = parts_.store->DeleteEvent(*event);
  if (!coupons.ok()) return coupons.status();
  parts_.catalog->Drop(event_id);
  spdlog::info("event {} deleted by an operator ({} coupons)", event->id, *coupons);
  return DeleteAnswer{.event_id = event->id, .coupons = *coupons};
}

Result<std::vector<FailedEventView>> EventLifecycle::Failed(std::string_view event_id) {
  auto event = LoadEvent(event_id);
  if (!event.ok()) return event.status();
  auto failures = parts_.store->FailuresOf(event_id);
  if (!failures.ok()) return failures.status();
  std::vector<FailedEventView> views;
  views.reserve(failures->size());
  for (const FailedEvent& f : *failures) {
    views.push_back(FailedEventView{.seq = f.issuance.seq,
                                    .user_id = f.issuance.user_id,
                                    .coupon_id = f.issuance.coupon_id,
                                    .error = f.error,
                                    .attempts = f.attempts,
                                    .next_attempt_at = f.next_attempt_at,
                                    .dead = f.dead});
  }
  return views;
}

Result<RetryAnswer> EventLifecycle::RetryFailed(std::string_view event_id, std::int64_t seq) {
  auto event = LoadEvent(event_id);
  if (!event.ok()) return event.status();
  RetryAnswer answer;
  answer.seq = seq;
  auto failed = parts_.store->FailureOfSeq(event_id, seq);
  if (!failed.ok()) return failed.status();
  if (!failed->has_value()) {
    answer.status = OperatorStatus::kFailedEventNotFound;
    answer.detail = "no failed event for seq " + std::to_string(seq);
    return answer;
  }
  auto attempt = AttemptFailedEvent(*parts_.store, options_.retry, **failed, NowMillis());
  if (!attempt.ok()) return attempt.status();
  answer.persisted = attempt->persisted;
  if (attempt->ignored) {
    answer.error = "its coupon was revoked or its event deleted; the failed event is removed";
  } else if (!attempt->persisted) {
    answer.error = attempt->error;
  }
  return answer;
}

}  // namespace firstcome
