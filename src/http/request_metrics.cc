#include "http/request_metrics.h"

#include <cstdio>

namespace firstcome::http {

RequestMetrics::RequestMetrics(int shards)
    : shard_count_(shards < 1 ? 1 : shards), shards_(new Shard[shard_count_]) {}

void RequestMetrics::Record(int shard, Route route, int http_status, std::int64_t nanos) {
  Shard& s = shards_[static_cast<std::size_t>(shard) % shard_count_];
  auto r = static_cast<std::size_t>(route);
  std::size_t status_index = kStatuses.size() - 1;
  for (std::size_t i = 0; i + 1 < kStatuses.size(); ++i) {
    if (kStatuses[i] == http_status) {
      status_index = i;
      break;
    }
  }
  s.requests[r][status_index].fetch_add(1, std::memory_order_relaxed);
  double seconds = static_cast<double>(nanos) / 1e9;
  std::size_t b = 0;
  while (b < kBuckets.size() && seconds > kBuckets[b]) ++b;
  s.buckets[r][b].fetch_add(1, std::memory_order_relaxed);
  s.nanos_sum[r].fetch_add(static_cast<std::uint64_t>(nanos < 0 ? 0 : nanos),
                           std::memory_order_relaxed);
}

void RequestMetrics::WriteMetrics(MetricsWriter& out) const {
  out.Family("firstcome_http_requests_total", "HTTP requests answered, by route and status.",
             MetricType::kCounter);
  for (std::size_t r = 0; r < kRouteCount; ++r) {
    for (std::size_t i = 0; i < kStatuses.size(); ++i) {
      std::uint64_t n = 0;
      for (int k = 0; k < shard_count_; ++k) {
        n += shards_[k].requests[r][i].load(std::memory_order_relaxed);
      }
      if (n == 0) continue;
      char status[8] = "other";
      if (kStatuses[i] != 0) std::snprintf(status, sizeof(status), "%d", kStatuses[i]);
      out.Sample({{"route", RouteName(static_cast<Route>(r))}, {"status", status}},
                 static_cast<double>(n));
    }
  }
  out.Family("firstcome_http_request_duration_seconds",
             "Time from a request's arrival to its answer being handed to the socket.",
             MetricType::kHistogram);
  for (std::size_t r = 0; r < kRouteCount; ++r) {
    std::array<std::uint64_t, kBuckets.size() + 1> counts{};
    std::uint64_t sum_nanos = 0;
    std::uint64_t total = 0;
    for (int k = 0; k < shard_count_; ++k) {
      for (std::size_t b = 0; b < counts.size(); ++b) {
        counts[b] += shards_[k].buckets[r][b].load(std::memory_order_relaxed);
      }
      sum_nanos += shards_[k].nanos_sum[r].load(std::memory_order_relaxed);
    }
    for (std::uint64_t c : counts) total += c;
    if (total == 0) continue;
    const MetricLabel route[] = {{"route", RouteName(static_cast<Route>(r))}};
    out.Histogram(route, kBuckets, counts, static_cast<double>(sum_nanos) / 1e9);
  }
  out.Gauge("firstcome_http_open_connections", "Connections open now.",
            static_cast<double>(open_connections_.load(std::memory_order_relaxed)));
  out.Counter("firstcome_http_refused_connections_total",
              "Connections refused at once because max_connections were open.",
              static_cast<double>(refused_connections_.load(std::memory_order_relaxed)));
}

}  // namespace firstcome::http
