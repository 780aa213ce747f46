// MetricsWriter: the one writer of the Prometheus text exposition format
// (version 0.0.4) in Firstcome, and MetricsSource, what a component implements
// to appear in GET /metrics.
//
// Invariants the writer keeps, so that every scrape parses:
//   - every metric family starts with its "# HELP" and "# TYPE" lines, written
//     once, and all of its samples follow them without another family between;
//   - sample names are the family name, or for histograms the family name with
//     _bucket/_sum/_count;
//   - label values are escaped (backslash, quote, newline).
// Components never format these lines themselves; src/app lists the sources of
// a process and the HTTP layer asks them in turn.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace firstcome {

enum class MetricType { kCounter, kGauge, kHistogram };

struct MetricLabel {
  std::string_view name;
  std::string_view value;
};

class MetricsWriter {
 public:
  explicit MetricsWriter(std::string& out) : out_(out) {}

  // A family with one unlabelled sample.
  void Counter(std::string_view name, std::string_view help, double value);
  void Gauge(std::string_view name, std::string_view help, double value);

  // A family whose samples (labelled) follow with Sample(); ends at the next
  // Family() or when the writer is done.
  void Family(std::string_view name, std::string_view help, MetricType type);
  // A sample of the current family: `suffix` is "" for counters and gauges,
  // "_bucket", "_sum" or "_count" for histograms.
  void Sample(std::initializer_list<MetricLabel> labels, double value,
              std::string_view suffix = {});
  void Sample(std::span<const MetricLabel> labels, double value, std::string_view suffix = {});

  // One histogram series of the current family: cumulative buckets from
  // per-bucket `counts` (counts.size() == bounds.size() + 1, the last being
  // +Inf), then _sum and _count. `labels` are the series' own labels.
  void Histogram(std::span<const MetricLabel> labels, std::span<const double> bounds,
                 std::span<const std::uint64_t> counts, double sum);

 private:
  void Value(double value);
  std::string& out_;
  std::string family_;
};

class MetricsSource {
 public:
  virtual ~MetricsSource() = default;
  // Writes this component's families. Called from a blocking thread, at any
  // time, concurrently with the component's own work (read atomics, or lock).
  virtual void WriteMetrics(MetricsWriter& out) const = 0;
};

// Several sources as one, written in the order given (src/app builds it).
class MetricsSources final : public MetricsSource {
 public:
  void Add(const MetricsSource* source) {
    if (source != nullptr) sources_.push_back(source);
  }
  void WriteMetrics(MetricsWriter& out) const override {
    for (const MetricsSource* s : sources_) s->WriteMetrics(out);
  }

 private:
  std::vector<const MetricsSource*> sources_;
};

}  // namespace firstcome
