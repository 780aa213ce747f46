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

void RequestMetrics::AppendPrometheus(std::string& out) const {
  char line[256];
  out += "# HELP firstcome_http_requests_total HTTP requests answered, by route and status.\n";
  out += "# TYPE firstcome_http_requests_total counter\n";
  for (std::size_t r = 0; r < kRouteCount; ++r) {
    for (std::size_t i = 0; i < kStatuses.size(); ++i) {
      std::uint64_t n = 0;
      for (int k = 0; k < shard_count_; ++k) {
        n += shards_[k].requests[r][i].load(std::memory_order_relaxed);
      }
      if (n == 0) continue;
      char status[8];
      if (kStatuses[i] == 0) {
        std::snprintf(status, sizeof(status), "other");
      } else {
        std::snprintf(status, sizeof(status), "%d", kStatuses[i]);
      }
      std::snprintf(line, sizeof(line),
                    "firstcome_http_requests_total{route=\"%s\",status=\"%s\"} %llu\n",
                    RouteName(static_cast<Route>(r)), status, static_cast<unsigned long long>(n));
      out += line;
    }
  }
  out +=
      "# HELP firstcome_http_request_duration_seconds Time from a request's arrival to its "
      "answer being handed to the socket.\n";
  out += "# TYPE firstcome_http_request_duration_seconds histogram\n";
  for (std::size_t r = 0; r < kRouteCount; ++r) {
    std::array<std::uint64_t, kBuckets.size() + 1> counts{};
    std::uint64_t sum_nanos = 0;
    for (int k = 0; k < shard_count_; ++k) {
      for (std::size_t b = 0; b < counts.size(); ++b) {
        counts[b] += shards_[k].buckets[r][b].load(std::memory_order_relaxed);
      }
      sum_nanos += shards_[k].nanos_sum[r].load(std::memory_order_relaxed);
    }
    std::uint64_t cumulative = 0;
    for (std::size_t b = 0; b < counts.size(); ++b) cumulative += counts[b];
    if (cumulative == 0) continue;
    const char* name = RouteName(static_cast<Route>(r));
    cumulative = 0;
    for (std::size_t b = 0; b < counts.size(); ++b) {
      cumulative += counts[b];
      if (b < kBuckets.size()) {
        std::snprintf(line, sizeof(line),
                      "firstcome_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} "
                      "%llu\n",
                      name, kBuckets[b], static_cast<unsigned long long>(cumulative));
      } else {
        std::snprintf(line, sizeof(line),
                      "firstcome_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} "
                      "%llu\n",
                      name, static_cast<unsigned long long>(cumulative));
      }
      out += line;
    }
    std::snprintf(line, sizeof(line),
                  "firstcome_http_request_duration_seconds_sum{route=\"%s\"} %.9f\n"
                  "firstcome_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
                  name, static_cast<double>(sum_nanos) / 1e9, name,
                  static_cast<unsigned long long>(cumulative));
    out += line;
  }
  std::snprintf(
      line, sizeof(line),
      "# TYPE firstcome_http_open_connections gauge\n"
      "firstcome_http_open_connections %lld\n"
      "# TYPE firstcome_http_refused_connections_total counter\n"
      "firstcome_http_refused_connections_total %llu\n",
      static_cast<long long>(open_connections_.load(std::memory_order_relaxed)),
      static_cast<unsigned long long>(refused_connections_.load(std::memory_order_relaxed)));
  out += line;
}

}  // namespace firstcome::http
