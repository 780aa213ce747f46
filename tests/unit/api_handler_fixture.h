// The ApiHandler test fixture: a scripted CouponService (FakeCouponService)
// and ApiHandlerTest, which drives a request through Handle / StartIssue /
// AnswerIssue / RunBlocking as the transport would. Shared by
// api_handler_test.cc and operator_handler_test.cc.
#pragma once

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "http/api_handler.h"
#include "http/errors.h"
#include "http/request_metrics.h"

namespace firstcome::http::test_fixture {

namespace json = boost::json;

// Answers as scripted by the test; records the calls it got.
class FakeCouponService : public CouponService, public MetricsSource {
 public:
  Result<EventView> CreateEvent(const Event& event) override {
    created.push_back(event);
    if (events.count(event.id)) return Status::Exists("event " + event.id + " exists");
    events[event.id] = event;
    return ViewOf(event);
  }
  Result<EventView> GetEvent(std::string_view id) override {
    if (!down.ok()) return down;
    auto it = events.find(std::string(id));
    if (it == events.end()) return Status::NotFound("no event " + std::string(id));
    return ViewOf(it->second);
  }
  Result<std::vector<EventView>> ListEvents() override {
    if (!down.ok()) return down;
    std::vector<EventView> out;
    for (auto& [id, e] : events) out.push_back(ViewOf(e));
    return out;
  }
  Result<std::vector<CouponView>> CouponsOfUser(std::string_view event_id,
                                                std::string_view user_id) override {
    last_user = std::string(user_id);
    if (!events.count(std::string(event_id))) return Status::NotFound("no such event");
    return std::vector<CouponView>{{CouponId(event_id, 3), 3, "persisted"}};
  }
  void Issue(std::string_view event_id, std::string_view user_id, IssueCallback done) override {
    last_event = std::string(event_id);
    last_user = std::string(user_id);
    ++issue_calls;
    done(Result<IssueAnswer>(issue_result));  // a copy: the fake answers the same every time
  }
  Status Health() override { return down; }

  // Operator calls: recorded in `operator_calls` ("close launch", "revoke launch 7", …)
  // and answered from the scripted values below.
  Result<EventView> CloseEvent(std::string_view id) override {
    return Operate("close", id, [&] { return GetEvent(id); });
  }
  Result<EventView> OpenEvent(std::string_view id) override {
    return Operate("open", id, [&] { return GetEvent(id); });
  }
  Result<UpdateAnswer> UpdateEvent(std::string_view id, const EventPatch& patch) override {
    last_patch = patch;
    return Operate("update", id, [&]() -> Result<UpdateAnswer> {
      if (update_refusal != OperatorStatus::kDone) {
        return UpdateAnswer{.status = update_refusal, .detail = "refused by the fake"};
      }
      auto view = GetEvent(id);
      if (!view.ok()) return view.status();
      return UpdateAnswer{.view = *view};
    });
  }
  Result<RevokeAnswer> RevokeCoupon(std::string_view id, std::int64_t seq) override {
    return Operate("revoke", id, seq, [&]() -> Result<RevokeAnswer> {
      if (revoke_refusal != OperatorStatus::kDone) {
        return RevokeAnswer{.status = revoke_refusal, .detail = "refused by the fake"};
      }
      return RevokeAnswer{.seq = seq, .user_id = "u-9", .coupon_id = CouponId(id, seq)};
    });
  }
  Result<DeleteAnswer> DeleteEvent(std::string_view id) override {
    return Operate("delete", id, [&]() -> Result<DeleteAnswer> {
      return DeleteAnswer{.event_id = std::string(id), .coupons = 4};
    });
  }
  Result<std::vector<FailedEventView>> FailedEvents(std::string_view id) override {
    return Operate("failed", id, [&]() -> Result<std::vector<FailedEventView>> {
      return std::vector<FailedEventView>{{.seq = 2,
                                           .user_id = "u-2",
                                           .coupon_id = CouponId(id, 2),
                                           .error = "refused",
                                           .attempts = 3,
                                           .next_attempt_at = 1764064800000,
                                           .dead = true}};
    });
  }
  Result<RetryAnswer> RetryFailedEvent(std::string_view id, std::int64_t seq) override {
    return Operate("retry", id, seq, [&]() -> Result<RetryAnswer> {
      if (retry_refusal != OperatorStatus::kDone) {
        return RetryAnswer{.status = retry_refusal, .detail = "refused by the fake"};
      }
      return RetryAnswer{.seq = seq, .persisted = false, .error = "still refused"};
    });
  }

  void WriteMetrics(MetricsWriter& out) const override {
    out.Gauge("firstcome_fake_metric", "A figure of the fake service.", 1);
  }

  std::map<std::string, Event> events;
  std::vector<Event> created;
  Status down;  // ok, or what GetEvent/ListEvents/Health fail with
  Result<IssueAnswer> issue_result = IssueAnswer{};
  std::string last_event, last_user;
  int issue_calls = 0;
  std::vector<std::string> operator_calls;
  EventPatch last_patch;
  OperatorStatus update_refusal = OperatorStatus::kDone;
  OperatorStatus revoke_refusal = OperatorStatus::kDone;
  OperatorStatus retry_refusal = OperatorStatus::kDone;

 private:
  // Records the call; unknown events are 404 and `down` fails every call.
  template <class Answer>
  auto Operate(const char* what, std::string_view id, Answer answer) -> decltype(answer()) {
    operator_calls.push_back(std::string(what) + " " + std::string(id));
    if (!down.ok()) return down;
    if (!events.count(std::string(id))) return Status::NotFound("no event " + std::string(id));
    return answer();
  }
  template <class Answer>
  auto Operate(const char* what, std::string_view id, std::int64_t seq, Answer answer)
      -> decltype(answer()) {
    return Operate((std::string(what) + " " + std::to_string(seq)).c_str(), id, answer);
  }

  static EventView ViewOf(const Event& e) {
    EventView v;
    v.event = e;
    v.remaining = e.total;
    v.state = "open";
    return v;
  }
};

inline ApiRequest Request(Method method, std::string target, std::string body = "",
                          bool loopback = true) {
  ApiRequest r;
  r.method = method;
  r.target = std::move(target);
  r.body = std::move(body);
  r.loopback = loopback;
  return r;
}

class ApiHandlerTest : public ::testing::Test {
 protected:
  ApiHandlerTest() { Rebuild({}); }

  void Rebuild(ApiOptions options) {
    handler_.reset();
    options.metrics = &service_;
    handler_.emplace(std::move(options), service_, metrics_);
  }

  // Runs the request to its answer, the way the transport does.
  Reply Run(const ApiRequest& request) {
    Reply reply;
    last_next_ = handler_->Handle(request, call_, reply);
    switch (last_next_) {
      case ApiHandler::Next::kReply:
        break;
      case ApiHandler::Next::kIssue: {
        std::optional<Result<IssueAnswer>> got;
        handler_->StartIssue(call_, [&](Result<IssueAnswer> r) { got.emplace(std::move(r)); });
        EXPECT_TRUE(got.has_value());
        if (got) handler_->AnswerIssue(std::move(*got), call_, reply);
        break;
      }
      case ApiHandler::Next::kBlocking:
        handler_->RunBlocking(call_, reply);
        break;
    }
    return reply;
  }

  Reply Issue(const std::string& event, const std::string& body) {
    return Run(Request(Method::kPost, "/api/v1/events/" + event + "/issue", body));
  }

  static json::value Body(const Reply& r) { return json::parse(r.body); }

  static void ExpectError(const Reply& r, int status, const std::string& code,
                          bool with_status = false) {
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_STREQ(r.content_type, kJsonType);
    json::value v = Body(r);
    ASSERT_TRUE(v.is_object()) << r.body;
    EXPECT_EQ(v.at("error"), json::value(code)) << r.body;
    ASSERT_TRUE(v.at("detail").is_string()) << r.body;
    EXPECT_FALSE(v.at("detail").as_string().empty()) << r.body;
    EXPECT_EQ(v.as_object().contains("status"), with_status) << r.body;
    if (with_status) {
      EXPECT_EQ(v.at("status"), json::value(code)) << r.body;
    }
  }

  void AddEvent(const std::string& id) { service_.events[id] = Event{.id = id, .total = 10}; }

  FakeCouponService service_;
  RequestMetrics metrics_{1};
  std::optional<ApiHandler> handler_;
  ApiCall call_;
  ApiHandler::Next last_next_ = ApiHandler::Next::kReply;
};

}  // namespace firstcome::http::test_fixture
