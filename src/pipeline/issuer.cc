#include "pipeline/issuer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>

namespace firstcome {

namespace {

IssueAnswer Unavailable(std::string_view event_id, std::string_view user_id, std::string detail) {
  IssueAnswer a;
  a.status = IssueStatus::kUnavailable;
  a.event_id = event_id;
  a.user_id = user_id;
  a.detail = std::move(detail);
  return a;
}

const char* StateName(CouponState s) {
  return s == CouponState::kPersisted ? "persisted" : "failed";
}

}  // namespace

Issuer::Issuer(IssuerParts parts, ResenderOptions resend, IssuerLimits limits,
               LifecycleOptions lifecycle)
    : parts_(parts),
      limits_(limits),
      lifecycle_(
          {.catalog = parts.catalog, .store = parts.store, .gate = parts.gate, .log = parts.log},
          lifecycle, [this](const Event& event) { return ViewOf(event); }) {
  if (parts_.log != nullptr) {
    if (Gate* gate = parts_.gate; gate != nullptr) {
      // A resent record the log took is no longer pending (no settler needs
      // to log it).
      resend.confirmed = [gate](const Issuance& i) { gate->Acknowledge(i, [](Status) {}); };
    }
    resender_ = std::make_unique<Resender>(*parts_.log, resend);
  }
}

void Issuer::Stop(std::chrono::milliseconds grace) {
  if (resender_) resender_->Stop(grace);
}

Result<EventView> Issuer::ViewOf(const Event& event) const {
  EventView view;
  view.event = event;
  auto counts = parts_.store->CountsOf(event.id);
  if (!counts.ok()) return counts.status();
  view.persisted = counts->persisted;
  view.failed = counts->failed;
  view.dead = counts->dead;
  if (parts_.gate != nullptr) {
    auto admitted = parts_.gate->AdmittedCount(event);
    if (!admitted.ok()) return admitted.status();
    // The gate's count. It includes admissions whose log write is under way
    // (a few milliseconds at most; see firstcome_issue_in_flight); a failed
    // write releases its slot, so the count settles on what the log holds.
    view.issued = *admitted;
  } else {
    view.issued = counts->persisted + counts->failed + counts->dead;
  }
  view.remaining = std::max<std::int64_t>(0, event.total - view.issued);
  switch (PhaseAt(event, NowMillis())) {
    case EventPhase::kScheduled:
      view.state = "scheduled";
      break;
    case EventPhase::kEnded:
      view.state = "ended";
      break;
    case EventPhase::kOpen:
      view.state = view.remaining == 0 ? "sold_out" : "open";
      break;
    case EventPhase::kClosed:
      view.state = "closed";
      break;
  }
  return view;
}

Result<EventView> Issuer::CreateEvent(const Event& event) {
  auto created = parts_.catalog->Create(event);
  if (!created.ok()) return created.status();
  return ViewOf(**created);
}

Result<EventView> Issuer::GetEvent(std::string_view event_id) {
  auto event = parts_.catalog->Find(event_id);
  if (!event.ok()) return event.status();
  if (!*event) return Status::NotFound("no event with id " + std::string(event_id));
  return ViewOf(**event);
}

Result<std::vector<EventView>> Issuer::ListEvents() {
  auto events = parts_.catalog->List();
  if (!events.ok()) return events.status();
  std::vector<EventView> views;
  for (const auto& e : *events) {
    auto v = ViewOf(*e);
    if (!v.ok()) return v.status();
    views.push_back(std::move(*v));
  }
  return views;
}

Result<std::vector<CouponView>> Issuer::CouponsOfUser(std::string_view event_id,
                                                      std::string_view user_id) {
  auto event = parts_.catalog->Find(event_id);
  if (!event.ok()) return event.status();
  if (!*event) return Status::NotFound("no event with id " + std::string(event_id));
  if (Status s = CheckId("user_id", user_id); !s.ok()) return s;
  // The gate knows every admission (pending ones too); the store knows what
  // was persisted or refused. A coupon the store has and the gate lost (the
  // gate was reset) is still the user's, so the union is shown.
  std::map<std::int64_t, CouponView> by_seq;
  if (parts_.gate != nullptr) {
    auto seqs = parts_.gate->SeqsOfUser(**event, user_id);
    if (!seqs.ok()) return seqs.status();
    for (std::int64_t seq : *seqs) {
      by_seq[seq] = CouponView{CouponId(event_id, seq), seq, "pending"};
    }
  }
  auto stored = parts_.store->CouponsOfUser(event_id, user_id);
  if (!stored.ok()) return stored.status();
  for (const auto& c : *stored) {
    by_seq[c.seq] = CouponView{c.coupon_id, c.seq, StateName(c.state)};
  }
  std::vector<CouponView> out;
  out.reserve(by_seq.size());
  for (auto& [seq, view] : by_seq) out.push_back(std::move(view));
  return out;
}

void Issuer::Issue(std::string_view event_id, std::string_view user_id, IssueCallback done) {
  if (Status s = CheckId("user_id", user_id); !s.ok()) return done(std::move(s));
  auto found = parts_.catalog->Find(event_id);
  if (!found.ok()) return done(Unavailable(event_id, user_id, found.status().message()));
  if (!*found) return done(Status::NotFound("no event with id " + std::string(event_id)));
  std::shared_ptr<const Event> event = std::move(*found);
  if (parts_.gate == nullptr || parts_.log == nullptr) {
    return done(Unavailable(event_id, user_id, "this process does not issue (role consumer)"));
  }
  const UnixMillis now = NowMillis();
  if (EventPhase phase = PhaseAt(*event, now); phase != EventPhase::kOpen) {
    IssueAnswer a;
    a.status = IssueStatus::kNotOpen;
    a.event_id = event_id;
    a.user_id = user_id;
    switch (phase) {
      case EventPhase::kScheduled:
        a.detail = "opens at " + FormatRfc3339(*event->starts_at);
        break;
      case EventPhase::kEnded:
        a.detail = "ended at " + FormatRfc3339(*event->ends_at);
        break;
      case EventPhase::kClosed:
      case EventPhase::kOpen:
        a.detail = "closed by an operator";
        break;
    }
    return done(std::move(a));
  }
  if (in_flight_.load(std::memory_order_relaxed) >= limits_.max_in_flight) {
    overloaded_.fetch_add(1, std::memory_order_relaxed);
    return done(Unavailable(event_id, user_id,
                            "too many admissions are waiting for the log; retry shortly"));
  }
  const Event& ev = *event;
  // The gate's answer at once when it has one (always in memory; sold out
  // from the Redis gate's cache): no callback object is made.
  if (std::optional<Result<Admission>> now_answer = parts_.gate->AdmitNow(ev, user_id)) {
    if (!now_answer->ok()) {
      return done(Unavailable(event_id, user_id, now_answer->status().message()));
    }
    return OnAdmitted(std::move(event), std::string(user_id), **now_answer, std::move(done));
  }
  parts_.gate->Admit(ev, user_id,
                     [this, event = std::move(event), user = std::string(user_id),
                      done = std::move(done)](Result<Admission> admission) mutable {
                       if (!admission.ok()) {
                         return done(Unavailable(event->id, user, admission.status().message()));
                       }
                       OnAdmitted(std::move(event), std::move(user), *admission, std::move(done));
                     });
}

void Issuer::OnAdmitted(std::shared_ptr<const Event> event, std::string user_id,
                        const Admission& admission, IssueCallback done) {
  switch (admission.verdict) {
    case AdmitVerdict::kSoldOut:
      // The answer most requests of a drop get: built in place, the user id
      // moved in, not copied.
      return done(IssueAnswer{
          .status = IssueStatus::kSoldOut, .event_id = event->id, .user_id = std::move(user_id)});
    case AdmitVerdict::kAlreadyIssued: {
      IssueAnswer answer{.status = IssueStatus::kAlreadyIssued,
                         .event_id = event->id,
                         .user_id = std::move(user_id)};
      for (std::int64_t seq : admission.held_seqs) {
        answer.coupons.push_back(CouponView{CouponId(event->id, seq), seq, ""});
      }
      return done(std::move(answer));
    }
    case AdmitVerdict::kGone:
      // This process's catalog has not seen the deletion yet; the gate has.
      return done(Status::NotFound("no event with id " + event->id + " (deleted)"));
    case AdmitVerdict::kAdmitted:
      break;
  }
  Issuance issuance{.event_id = event->id,
                    .user_id = user_id,
                    .seq = admission.seq,
                    .user_seq = admission.user_seq,
                    .coupon_id = CouponId(event->id, admission.seq),
                    // The gate's admission time: a settler's copy of this
                    // record is then the same issuance (gate.h).
                    .issued_at = admission.admitted_at != 0 ? admission.admitted_at : NowMillis(),
                    .incarnation = event->incarnation};
  in_flight_.fetch_add(1, std::memory_order_relaxed);
  parts_.log->Append(issuance, [this, event = std::move(event), issuance,
                                done = std::move(done)](AppendResult appended) mutable {
    in_flight_.fetch_sub(1, std::memory_order_relaxed);
    if (appended.status.ok()) {
      IssueAnswer a;
      a.status = IssueStatus::kIssued;
      a.event_id = issuance.event_id;
      a.user_id = issuance.user_id;
      a.coupon_id = issuance.coupon_id;
      a.seq = issuance.seq;
      // Not waited for (it only queues): an acknowledgement that is lost
      // only makes a settler append the same record again (a duplicate).
      // Before the answer, so nothing here runs after the caller moved on.
      parts_.gate->Acknowledge(issuance, [](Status) {});
      return done(std::move(a));
    }
    log_failures_.fetch_add(1, std::memory_order_relaxed);
    if (appended.failure == AppendFailure::kPossiblyPersisted) {
      // The record may still land in the log: the seq must stay this user's
      // (a retry answers already_issued), and the resender makes sure it lands.
      spdlog::warn("issue: {} seq {} for {} possibly persisted, resending: {}", issuance.event_id,
                   issuance.seq, issuance.user_id, appended.status.message());
      resender_->Add(issuance);
      return done(Unavailable(issuance.event_id, issuance.user_id,
                              "the log did not confirm in time: " + appended.status.message()));
    }
    // Withdraw, not Release: a settler may have claimed this admission
    // (this process was slower than settle_after) and be logging it; then
    // the seq must stay the user's.
    const Event& ev = *event;
    parts_.gate->Withdraw(
        ev, issuance.user_id, issuance.seq,
        [this, event = std::move(event), issuance, detail = appended.status.message(),
         done = std::move(done)](Status released) mutable {
          if (released.ok()) {
            released_.fetch_add(1, std::memory_order_relaxed);
          } else if (released.code() == Status::Code::kExists) {
            spdlog::warn(
                "issue: {} seq {} for {} was claimed by a settler: it is logged, the user "
                "keeps it",
                issuance.event_id, issuance.seq, issuance.user_id);
          } else {
            // The slot stays taken: never over-issue. The admission stays
            // pending, so a settler logs it after settle_after: the user keeps
            // the coupon.
            spdlog::error("issue: could not release {} seq {}: {}", issuance.event_id, issuance.seq,
                          released.ToString());
          }
          done(Unavailable(issuance.event_id, issuance.user_id,
                           "could not be made durable: " + detail));
        });
  });
}

Result<EventView> Issuer::CloseEvent(std::string_view event_id) {
  return lifecycle_.SetClosed(event_id, true);
}

Result<EventView> Issuer::OpenEvent(std::string_view event_id) {
  return lifecycle_.SetClosed(event_id, false);
}

Result<UpdateAnswer> Issuer::UpdateEvent(std::string_view event_id, const EventPatch& patch) {
  return lifecycle_.Update(event_id, patch);
}

Result<RevokeAnswer> Issuer::RevokeCoupon(std::string_view event_id, std::int64_t seq) {
  return lifecycle_.Revoke(event_id, seq);
}

Result<DeleteAnswer> Issuer::DeleteEvent(std::string_view event_id) {
  return lifecycle_.Delete(event_id);
}

Result<std::vector<FailedEventView>> Issuer::FailedEvents(std::string_view event_id) {
  return lifecycle_.Failed(event_id);
}

Result<RetryAnswer> Issuer::RetryFailedEvent(std::string_view event_id, std::int64_t seq) {
  return lifecycle_.RetryFailed(event_id, seq);
}

Status Issuer::Health() {
  if (Status s = parts_.store->Health(); !s.ok()) return s;
  if (parts_.gate != nullptr) {
    if (Status s = parts_.gate->Health(); !s.ok()) return s;
  }
  if (parts_.log != nullptr) {
    if (Status s = parts_.log->Health(); !s.ok()) return s;
  }
  return Status::Ok();
}

void Issuer::WriteMetrics(MetricsWriter& out) const {
  out.Gauge("firstcome_issue_in_flight", "Admissions waiting for the log to make them durable.",
            static_cast<double>(in_flight_.load()));
  out.Counter("firstcome_issue_log_failures_total",
              "Appends the log refused or could not confirm (the client heard 503).",
              static_cast<double>(log_failures_.load()));
  out.Counter("firstcome_issue_released_total",
              "Gate slots given back because their record was definitely not persisted.",
              static_cast<double>(released_.load()));
  out.Counter("firstcome_issue_overloaded_total",
              "Issue requests answered 503 at once because max_in_flight admissions waited.",
              static_cast<double>(overloaded_.load()));
  if (resender_) resender_->WriteMetrics(out);
  // How far the log is behind the gate: admissions made that the log has not
  // confirmed durable yet (first appends under way, and records being resent).
  // The consumer's firstcome_consumer_lag is the next step: how far the store
  // is behind the log.
  const std::int64_t unconfirmed = resender_ ? resender_->waiting() : 0;
  out.Gauge("firstcome_log_lag",
            "Admissions this process made that the log has not confirmed durable yet.",
            static_cast<double>(in_flight_.load() + unconfirmed));
}

}  // namespace firstcome
