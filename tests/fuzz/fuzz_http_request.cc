// Fuzz target: bytes as the HTTP session receives them from a socket, through
// the same RequestParser (header limit, body limit) and the same ApiHandler
// (routing, id checks, admin check, body parsing, outcome mapping). The
// CouponService behind it answers every call at once without state, so what
// is fuzzed is the server's own parsing, not a backend.
#include <boost/beast/core/flat_buffer.hpp>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "http/api_handler.h"
#include "http/request_metrics.h"
#include "http/request_parser.h"

namespace {

using namespace firstcome;

class AnsweringService final : public CouponService {
 public:
  Result<EventView> CreateEvent(const Event& event) override { return EventView{.event = event}; }
  Result<EventView> GetEvent(std::string_view id) override {
    return EventView{.event = Event{.id = std::string(id), .total = 1}};
  }
  Result<std::vector<EventView>> ListEvents() override { return std::vector<EventView>(1); }
  Result<std::vector<CouponView>> CouponsOfUser(std::string_view, std::string_view) override {
    return std::vector<CouponView>{{"c-1", 1, "pending"}};
  }
  void Issue(std::string_view event_id, std::string_view user_id, IssueCallback done) override {
    IssueAnswer a;
    a.status = IssueStatus::kIssued;
    a.event_id = event_id;
    a.user_id = user_id;
    a.coupon_id = "c-1";
    a.seq = 1;
    done(std::move(a));
  }
  Status Health() override { return Status::Ok(); }
  Result<EventView> CloseEvent(std::string_view id) override { return GetEvent(id); }
  Result<EventView> OpenEvent(std::string_view id) override { return GetEvent(id); }
  Result<UpdateAnswer> UpdateEvent(std::string_view id, const EventPatch&) override {
    return UpdateAnswer{.view = *GetEvent(id)};
  }
  Result<RevokeAnswer> RevokeCoupon(std::string_view, std::int64_t seq) override {
    return RevokeAnswer{.seq = seq, .user_id = "u-1", .coupon_id = "c-1"};
  }
  Result<DeleteAnswer> DeleteEvent(std::string_view id) override {
    return DeleteAnswer{.event_id = std::string(id), .coupons = 1};
  }
  Result<std::vector<FailedEventView>> FailedEvents(std::string_view) override {
    return std::vector<FailedEventView>{{.seq = 1, .user_id = "u-1", .coupon_id = "c-1"}};
  }
  Result<RetryAnswer> RetryFailedEvent(std::string_view, std::int64_t seq) override {
    return RetryAnswer{.seq = seq, .error = "refused"};
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static AnsweringService service;
  static http::RequestMetrics metrics(1);
  static http::ApiHandler handler({.admin_token = "secret"}, service, metrics);
  // The first byte chooses the connection's properties; the rest is the wire.
  if (size == 0) return 0;
  http::ApiRequest request;
  request.loopback = (data[0] & 1) != 0;
  std::string_view wire(reinterpret_cast<const char*>(data + 1), size - 1);
  boost::beast::flat_buffer buffer;
  // Pipelined requests: parse one after another, as the session does.
  while (!wire.empty()) {
    request.clear();
    http::RequestParser parser(request, 4096);
    boost::beast::error_code ec;
    std::size_t used = 0;
    while (!parser.is_done()) {
      std::size_t n = parser.put(boost::asio::buffer(wire.data() + used, wire.size() - used), ec);
      used += n;
      if (ec == boost::beast::http::error::need_more) {
        ec = {};
        if (n == 0) break;
        continue;
      }
      if (ec || n == 0) break;
    }
    wire.remove_prefix(used);
    http::Reply reply;
    http::ApiCall call;
    if (ec || !parser.is_done()) {
      http::ApiHandler::Refuse(request,
                               ec == boost::beast::http::error::body_limit
                                   ? http::Refusal::kPayloadTooLarge
                                   : http::Refusal::kMalformed,
                               ec.message(), call, reply);
      break;
    }
    switch (handler.Handle(request, call, reply)) {
      case http::ApiHandler::Next::kReply:
        break;
      case http::ApiHandler::Next::kIssue:
        handler.StartIssue(
            call, [&](Result<IssueAnswer> r) { handler.AnswerIssue(std::move(r), call, reply); });
        break;
      case http::ApiHandler::Next::kBlocking:
        handler.RunBlocking(call, reply);
        break;
    }
    handler.Answered(request, call, reply);
    if (used == 0) break;
  }
  return 0;
}
