// What request ids cost the request path (docs/design.md, "Observability on
// the hot path"), next to the whole handling of a sold-out issue request:
//
//   BM_NewRequestId           a generated id written into a warm string.
//   BM_ParseIssue/0|1         the request parser on a typical issue request,
//                             without (0) and with (1) an X-Request-Id header.
//   BM_HandleSoldOut/0|1      ApiHandler::Handle + AnswerIssue + Answered for
//                             an issue answered sold_out at once, without
//                             (0: the id is generated) and with (1) the header.
// Thread counts 1 and 2 (the HTTP server's I/O threads).
#include <benchmark/benchmark.h>

#include <boost/asio/buffer.hpp>
#include <string>

#include "http/api_handler.h"
#include "http/request_id.h"
#include "http/request_metrics.h"
#include "http/request_parser.h"

namespace firstcome::http {
namespace {

std::string IssueRequest(bool with_id) {
  const std::string body = R"({"user_id":"u-123456"})";
  std::string r =
      "POST /api/v1/events/launch/issue HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
      "User-Agent: firstcome-bench\r\nContent-Type: application/json\r\n";
  if (with_id) r += "X-Request-Id: 4bf92f35-77b3-4da6-a3ce-929d0e0e4736\r\n";
  r += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  return r;
}

// Answers every issue sold_out at once (inline), as a sold-out gate does.
class SoldOutService final : public CouponService {
 public:
  Result<EventView> CreateEvent(const Event&) override { return Status::Invalid("no"); }
  Result<EventView> GetEvent(std::string_view) override { return Status::Invalid("no"); }
  Result<std::vector<EventView>> ListEvents() override { return Status::Invalid("no"); }
  Result<std::vector<CouponView>> CouponsOfUser(std::string_view, std::string_view) override {
    return Status::Invalid("no");
  }
  void Issue(std::string_view event_id, std::string_view user_id, IssueCallback done) override {
    IssueAnswer a;
    a.status = IssueStatus::kSoldOut;
    a.event_id = event_id;
    a.user_id = user_id;
    done(std::move(a));
  }
  // Operator calls are not benchmarked here.
  Result<EventView> CloseEvent(std::string_view) override { return Status::Invalid("no"); }
  Result<EventView> OpenEvent(std::string_view) override { return Status::Invalid("no"); }
  Result<UpdateAnswer> UpdateEvent(std::string_view, const EventPatch&) override {
    return Status::Invalid("no");
  }
  Result<RevokeAnswer> RevokeCoupon(std::string_view, std::int64_t) override {
    return Status::Invalid("no");
  }
  Result<DeleteAnswer> DeleteEvent(std::string_view) override { return Status::Invalid("no"); }
  Result<std::vector<FailedEventView>> FailedEvents(std::string_view) override {
    return Status::Invalid("no");
  }
  Result<RetryAnswer> RetryFailedEvent(std::string_view, std::int64_t) override {
    return Status::Invalid("no");
  }
  Status Health() override { return Status::Ok(); }
};

void BM_NewRequestId(benchmark::State& state) {
  std::string id;
  id.reserve(32);
  for (auto _ : state) {
    NewRequestId(id);
    benchmark::DoNotOptimize(id.data());
  }
}
BENCHMARK(BM_NewRequestId)->Threads(1)->Threads(2);

void BM_ParseIssue(benchmark::State& state) {
  const std::string raw = IssueRequest(state.range(0) != 0);
  ApiRequest request;
  for (auto _ : state) {
    request.clear();
    RequestParser parser(request, 64 * 1024);
    parser.eager(true);
    boost::beast::error_code ec;
    parser.put(boost::asio::buffer(raw), ec);
    if (ec || !parser.is_done()) state.SkipWithError("did not parse");
    benchmark::DoNotOptimize(request.body.data());
  }
}
BENCHMARK(BM_ParseIssue)->Arg(0)->Arg(1)->Threads(1)->Threads(2);

void BM_HandleSoldOut(benchmark::State& state) {
  static SoldOutService service;
  static RequestMetrics metrics(2);
  static const ApiHandler handler(ApiOptions{}, service, metrics);
  ApiRequest request;
  request.method = Method::kPost;
  request.target = "/api/v1/events/launch/issue";
  request.body = R"({"user_id":"u-123456"})";
  request.loopback = true;
  if (state.range(0) != 0) request.request_id = "4bf92f35-77b3-4da6-a3ce-929d0e0e4736";
  ApiCall call;
  Reply reply;
  for (auto _ : state) {
    if (handler.Handle(request, call, reply) != ApiHandler::Next::kIssue) {
      state.SkipWithError("not an issue");
    }
    handler.StartIssue(
        call, [&](Result<IssueAnswer> r) { handler.AnswerIssue(std::move(r), call, reply); });
    handler.Answered(request, call, reply);
    benchmark::DoNotOptimize(reply.body.data());
  }
}
BENCHMARK(BM_HandleSoldOut)->Arg(0)->Arg(1)->Threads(1)->Threads(2);

}  // namespace
}  // namespace firstcome::http

BENCHMARK_MAIN();
