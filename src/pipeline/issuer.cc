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

Issuer::Issuer(IssuerParts parts, ResenderOptions resend) : parts_(parts) {
  if (parts_.log != nullptr) resender_ = std::make_unique<Resender>(*parts_.log, resend);
}

void Issuer::Stop(std::chrono::milliseconds grace) {
  if (resender_) resender_->Stop(grace);
}

Result<EventView> Issuer::ViewOf(const Event& event) {
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
    a.detail = phase == EventPhase::kScheduled ? "opens at " + FormatRfc3339(*event->starts_at)
                                               : "ended at " + FormatRfc3339(*event->ends_at);
    return done(std::move(a));
  }
  const Event& ev = *event;
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
  IssueAnswer answer;
  answer.event_id = event->id;
  answer.user_id = user_id;
  switch (admission.verdict) {
    case AdmitVerdict::kSoldOut:
      answer.status = IssueStatus::kSoldOut;
      return done(std::move(answer));
    case AdmitVerdict::kAlreadyIssued:
      answer.status = IssueStatus::kAlreadyIssued;
      for (std::int64_t seq : admission.held_seqs) {
        answer.coupons.push_back(CouponView{CouponId(event->id, seq), seq, ""});
      }
      return done(std::move(answer));
    case AdmitVerdict::kAdmitted:
      break;
  }
  Issuance issuance{.event_id = event->id,
                    .user_id = user_id,
                    .seq = admission.seq,
                    .user_seq = admission.user_seq,
                    .coupon_id = CouponId(event->id, admission.seq),
                    .issued_at = NowMillis()};
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
    const Event& ev = *event;
    parts_.gate->Release(
        ev, issuance.user_id, issuance.seq,
        [this, event = std::move(event), issuance, detail = appended.status.message(),
         done = std::move(done)](Status released) mutable {
          if (released.ok()) {
            released_.fetch_add(1, std::memory_order_relaxed);
          } else {
            // The slot stays taken: never over-issue. audit --repair frees it.
            spdlog::error("issue: could not release {} seq {}: {}", issuance.event_id, issuance.seq,
                          released.ToString());
          }
          done(Unavailable(issuance.event_id, issuance.user_id,
                           "could not be made durable: " + detail));
        });
  });
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

void Issuer::AppendMetrics(std::string& out) {
  auto line = [&out](std::string_view name, std::string_view labels, std::int64_t value) {
    out += name;
    if (!labels.empty()) {
      out += '{';
      out += labels;
      out += '}';
    }
    out += ' ';
    out += std::to_string(value);
    out += '\n';
  };
  out += "# TYPE firstcome_issue_in_flight gauge\n";
  line("firstcome_issue_in_flight", "", in_flight_.load());
  out += "# TYPE firstcome_issue_log_failures_total counter\n";
  line("firstcome_issue_log_failures_total", "", log_failures_.load());
  out += "# TYPE firstcome_issue_released_total counter\n";
  line("firstcome_issue_released_total", "", released_.load());
  if (resender_) {
    out += "# TYPE firstcome_issue_unconfirmed gauge\n";
    line("firstcome_issue_unconfirmed", "", resender_->waiting());
    out += "# TYPE firstcome_issue_resend_confirmed_total counter\n";
    line("firstcome_issue_resend_confirmed_total", "", resender_->confirmed_total());
    out += "# TYPE firstcome_issue_resend_dropped_total counter\n";
    line("firstcome_issue_resend_dropped_total", "", resender_->dropped_total());
  }
  if (const Consumer* c = parts_.consumer) {
    const ConsumerStats& s = c->stats();
    out += "# TYPE firstcome_consumer_rows_total counter\n";
    line("firstcome_consumer_rows_total", "", s.rows_inserted.load());
    out += "# TYPE firstcome_consumer_duplicates_total counter\n";
    line("firstcome_consumer_duplicates_total", "", s.duplicates.load());
    out += "# TYPE firstcome_consumer_failed_total counter\n";
    line("firstcome_consumer_failed_total", "", s.failed.load());
    out += "# TYPE firstcome_consumer_lag gauge\n";
    line("firstcome_consumer_lag", "", s.lag.load());
    out += "# TYPE firstcome_consumer_paused gauge\n";
    line("firstcome_consumer_paused", "", s.paused.load() ? 1 : 0);
    out += "# TYPE firstcome_consumer_store_outages_total counter\n";
    line("firstcome_consumer_store_outages_total", "", s.store_outages.load());
    out += "# TYPE firstcome_consumer_seconds_total counter\n";
    const auto seconds = [](const std::atomic<std::int64_t>& us) {
      return std::to_string(static_cast<double>(us.load()) / 1e6);
    };
    out += "firstcome_consumer_seconds_total{phase=\"poll\"} " + seconds(s.poll_us) + "\n";
    out += "firstcome_consumer_seconds_total{phase=\"insert\"} " + seconds(s.insert_us) + "\n";
    out += "firstcome_consumer_seconds_total{phase=\"commit\"} " + seconds(s.commit_us) + "\n";
    out += "# TYPE firstcome_consumer_batches_total counter\n";
    line("firstcome_consumer_batches_total", "", s.batches.load());
  }
  if (const RetryJob* r = parts_.retry) {
    out += "# TYPE firstcome_retry_resolved_total counter\n";
    line("firstcome_retry_resolved_total", "", r->resolved_total());
    out += "# TYPE firstcome_retry_dead_total counter\n";
    line("firstcome_retry_dead_total", "", r->dead_total());
  }
  auto events = parts_.catalog->List();
  if (!events.ok()) return;
  std::string issued, persisted, failed, dead;
  for (const auto& e : *events) {
    auto v = ViewOf(*e);
    if (!v.ok()) continue;
    std::string label = "event=\"" + e->id + "\"";  // ids cannot contain quotes
    auto add = [&label](std::string& to, std::string_view name, std::int64_t value) {
      to += name;
      to += '{' + label + "} " + std::to_string(value) + '\n';
    };
    add(issued, "firstcome_event_issued", v->issued);
    add(persisted, "firstcome_event_persisted", v->persisted);
    add(failed, "firstcome_event_failed", v->failed);
    add(dead, "firstcome_event_dead", v->dead);
  }
  out += "# TYPE firstcome_event_issued gauge\n" + issued;
  out += "# TYPE firstcome_event_persisted gauge\n" + persisted;
  out += "# TYPE firstcome_event_failed gauge\n" + failed;
  out += "# TYPE firstcome_event_dead gauge\n" + dead;
}

}  // namespace firstcome
