// RequestMetrics: counts of HTTP answers by route and status and a latency
// histogram per route, rendered in the Prometheus text format.
//
// Sharded by I/O thread (each thread writes only its own cache-line-aligned
// shard with relaxed atomics) so that recording costs no contended write on
// the hot path; rendering sums the shards and may be a few requests stale.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "core/metrics.h"
#include "http/routes.h"

namespace firstcome::http {

class RequestMetrics final : public MetricsSource {
 public:
  // HTTP statuses with their own counter; others are counted as "other".
  static constexpr std::array<int, 15> kStatuses = {200, 201, 400, 401, 403, 404, 405, 408,
                                                    409, 410, 413, 429, 500, 503, 0};
  // Upper bounds (seconds) of the latency buckets; +Inf is implicit.
  static constexpr std::array<double, 14> kBuckets = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0};

  explicit RequestMetrics(int shards);

  // Called by the I/O thread owning `shard` once per answered request.
  void Record(int shard, Route route, int http_status, std::int64_t nanos);

  // Connection figures (any thread).
  void ConnectionOpened() { open_connections_.fetch_add(1, std::memory_order_relaxed); }
  void ConnectionClosed() { open_connections_.fetch_sub(1, std::memory_order_relaxed); }
  void ConnectionRefused() { refused_connections_.fetch_add(1, std::memory_order_relaxed); }
  std::int64_t open_connections() const {
    return open_connections_.load(std::memory_order_relaxed);
  }

  void WriteMetrics(MetricsWriter& out) const override;

 private:
  struct alignas(64) Shard {
    std::array<std::array<std::atomic<std::uint64_t>, kStatuses.size()>, kRouteCount> requests{};
    std::array<std::array<std::atomic<std::uint64_t>, kBuckets.size() + 1>, kRouteCount> buckets{};
    std::array<std::atomic<std::uint64_t>, kRouteCount> nanos_sum{};
  };
  int shard_count_;
  std::unique_ptr<Shard[]> shards_;
  std::atomic<std::int64_t> open_connections_{0};
  std::atomic<std::uint64_t> refused_connections_{0};
};

}  // namespace firstcome::http
