#include "core/metrics.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace firstcome {

namespace {

const char* TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

void AppendEscaped(std::string& out, std::string_view text, bool quote) {
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quote && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

}  // namespace

void MetricsWriter::Counter(std::string_view name, std::string_view help, double value) {
  Family(name, help, MetricType::kCounter);
  Sample({}, value);
}

void MetricsWriter::Gauge(std::string_view name, std::string_view help, double value) {
  Family(name, help, MetricType::kGauge);
  Sample({}, value);
}

void MetricsWriter::Family(std::string_view name, std::string_view help, MetricType type) {
  family_.assign(name);
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  AppendEscaped(out_, help, /*quote=*/false);
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += TypeName(type);
  out_ += '\n';
}

void MetricsWriter::Sample(std::initializer_list<MetricLabel> labels, double value,
                           std::string_view suffix) {
  Sample(std::span<const MetricLabel>(labels.begin(), labels.size()), value, suffix);
}

void MetricsWriter::Sample(std::span<const MetricLabel> labels, double value,
                           std::string_view suffix) {
  out_ += family_;
  out_ += suffix;
  if (!labels.empty()) {
    out_ += '{';
    bool first = true;
    for (const MetricLabel& l : labels) {
      if (!first) out_ += ',';
      first = false;
      out_ += l.name;
      out_ += "=\"";
      AppendEscaped(out_, l.value, /*quote=*/true);
      out_ += '"';
    }
    out_ += '}';
  }
  out_ += ' ';
  Value(value);
  out_ += '\n';
}

void MetricsWriter::Histogram(std::span<const MetricLabel> labels, std::span<const double> bounds,
                              std::span<const std::uint64_t> counts, double sum) {
  std::vector<MetricLabel> with_le(labels.begin(), labels.end());
  with_le.push_back({"le", ""});
  std::uint64_t cumulative = 0;
  char le[32];
  for (std::size_t b = 0; b < counts.size(); ++b) {
    cumulative += counts[b];
    if (b < bounds.size()) {
      // %g: "0.0001", as Prometheus client libraries write bounds (the
      // shortest round-trip form would be "1e-04").
      int n = std::snprintf(le, sizeof(le), "%g", bounds[b]);
      with_le.back().value = std::string_view(le, static_cast<std::size_t>(n));
    } else {
      with_le.back().value = "+Inf";
    }
    Sample(with_le, static_cast<double>(cumulative), "_bucket");
  }
  Sample(labels, sum, "_sum");
  Sample(labels, static_cast<double>(cumulative), "_count");
}

void MetricsWriter::Value(double value) {
  if (std::isnan(value)) {
    out_ += "NaN";
    return;
  }
  if (std::isinf(value)) {
    out_ += value > 0 ? "+Inf" : "-Inf";
    return;
  }
  // Integers (every counter and most gauges) print without an exponent or a
  // fraction; other values in the shortest form that reads back exactly.
  char buf[32];
  std::to_chars_result r;
  if (value == std::floor(value) && std::fabs(value) < 9.0e15) {
    r = std::to_chars(buf, buf + sizeof(buf), static_cast<long long>(value));
  } else {
    r = std::to_chars(buf, buf + sizeof(buf), value);
  }
  out_.append(buf, r.ptr);
}

}  // namespace firstcome
