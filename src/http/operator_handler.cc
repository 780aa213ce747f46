// The operator calls of ApiHandler (docs/api.md, "Operators"): close, open,
// change and delete an event, revoke a coupon, list and retry failed events.
// Each is an admin call (the same check as event creation) and a blocking
// service call, so Handle checks the request here and RunBlocking runs it on
// the blocking pool, never on an I/O thread.
#include <charconv>

#include "http/api_handler.h"
#include "http/json_codec.h"

namespace firstcome::http {

namespace {

// A seq in the path: digits only, 1..kMaxTotal.
Status ParseSeq(std::string_view text, std::int64_t* seq) {
  std::int64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || value < 1 || value > kMaxTotal) {
    return Status::Invalid("the seq in the path must be an integer between 1 and 1000000000");
  }
  *seq = value;
  return Status::Ok();
}

}  // namespace

ApiHandler::Next ApiHandler::HandleOperator(const ApiRequest& request, const RouteMatch& m,
                                            ApiCall& call, Reply& reply) const {
  if (!AdminAllowed(request, reply)) return Next::kReply;
  Status checked;
  switch (m.route) {
    case Route::kEvent:
      if (request.method == Method::kPatch) {
        auto patch = ParseEventPatch(request.body);
        if (!patch.ok()) {
          checked = patch.status();
        } else {
          call.patch = std::move(*patch);
        }
      } else {
        // DELETE: only with ?confirm=<the id>, so a stray call (a script with
        // a wrong variable, a replayed URL of another event) deletes nothing.
        auto confirm = QueryParameter(request.target, "confirm");
        if (!confirm || *confirm != m.event_id) {
          checked = Status::Invalid(
              "deleting an event needs ?confirm= followed by the event id (confirm=" +
              std::string(m.event_id) + ")");
        }
      }
      break;
    case Route::kEventClose:
    case Route::kEventOpen:
      checked = ParseEmptyBody(request.body);
      break;
    case Route::kCoupon:
      checked = ParseSeq(m.seq, &call.seq);
      break;
    case Route::kFailedRetry:
      checked = ParseSeq(m.seq, &call.seq);
      if (checked.ok()) checked = ParseEmptyBody(request.body);
      break;
    default:
      break;
  }
  if (!checked.ok()) {
    SetError(reply, checked);
    return Next::kReply;
  }
  return Next::kBlocking;
}

void ApiHandler::RunOperator(const ApiCall& call, Reply& reply) const {
  switch (call.route) {
    case Route::kEventClose:
    case Route::kEventOpen: {
      auto view = call.route == Route::kEventClose ? service_.CloseEvent(call.event_id)
                                                   : service_.OpenEvent(call.event_id);
      if (!view.ok()) return SetError(reply, view.status());
      AppendEventView(reply.body, *view);
      return;
    }
    case Route::kEvent:
      if (call.method == Method::kPatch) {
        auto updated = service_.UpdateEvent(call.event_id, call.patch);
        if (!updated.ok()) return SetError(reply, updated.status());
        if (updated->status != OperatorStatus::kDone) {
          return SetError(reply, updated->status, updated->detail);
        }
        AppendEventView(reply.body, updated->view);
      } else {
        auto deleted = service_.DeleteEvent(call.event_id);
        if (!deleted.ok()) return SetError(reply, deleted.status());
        AppendDeleted(reply.body, *deleted);
      }
      return;
    case Route::kCoupon: {
      auto revoked = service_.RevokeCoupon(call.event_id, call.seq);
      if (!revoked.ok()) return SetError(reply, revoked.status());
      if (revoked->status != OperatorStatus::kDone) {
        return SetError(reply, revoked->status, revoked->detail);
      }
      AppendRevoked(reply.body, *revoked);
      return;
    }
    case Route::kFailed: {
      auto failed = service_.FailedEvents(call.event_id);
      if (!failed.ok()) return SetError(reply, failed.status());
      AppendFailedEvents(reply.body, call.event_id, *failed);
      return;
    }
    case Route::kFailedRetry: {
      auto retried = service_.RetryFailedEvent(call.event_id, call.seq);
      if (!retried.ok()) return SetError(reply, retried.status());
      if (retried->status != OperatorStatus::kDone) {
        return SetError(reply, retried->status, retried->detail);
      }
      AppendRetryAnswer(reply.body, *retried);
      return;
    }
    default:
      break;
  }
  // Handle never asks for this: a bug in the transport.
  SetError(reply, Refusal::kInternal, "not an operator call");
}

}  // namespace firstcome::http
