#include "app/log_format.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <ctime>

#include "core/log_context.h"

namespace firstcome {

namespace {

// Length of the valid UTF-8 sequence at the start of `s` (0: not valid).
std::size_t Utf8Length(std::string_view s) {
  const auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const auto cont = [&](std::size_t i) { return i < s.size() && (b(i) & 0xC0) == 0x80; };
  const unsigned char c = b(0);
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    if (c == 0xE0 && b(1) < 0xA0) return 0;   // overlong
    if (c == 0xED && b(1) >= 0xA0) return 0;  // surrogates
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if (c == 0xF0 && b(1) < 0x90) return 0;   // overlong
    if (c == 0xF4 && b(1) >= 0x90) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

// " request_id=…" after a text line about a request.
class RequestIdFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg&, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    std::string_view id = ScopedRequestId::Current();
    if (id.empty()) return;
    dest.append(std::string_view(" request_id="));
    dest.append(id);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<RequestIdFlag>();
  }
};

class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string& line = line_;
    line.clear();
    line += "{\"time\":\"";
    AppendTime(line, msg.time);
    line += "\",\"level\":\"";
    const auto level = spdlog::level::to_string_view(msg.level);
    line.append(level.data(), level.size());
    line += "\",\"msg\":";
    AppendJsonLogString(line, std::string_view(msg.payload.data(), msg.payload.size()));
    line += ",\"thread\":";
    line += std::to_string(msg.thread_id);
    if (std::string_view id = ScopedRequestId::Current(); !id.empty()) {
      line += ",\"request_id\":";
      AppendJsonLogString(line, id);
    }
    line += "}\n";
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }

 private:
  // RFC 3339 in UTC with milliseconds.
  static void AppendTime(std::string& out, spdlog::log_clock::time_point t) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch());
    const std::time_t seconds = static_cast<std::time_t>(ms.count() / 1000);
    std::tm tm;
    gmtime_r(&seconds, &tm);
    char buf[40];
    std::size_t n = std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
    n += static_cast<std::size_t>(
        std::snprintf(buf + n, sizeof(buf) - n, ".%03dZ", static_cast<int>(ms.count() % 1000)));
    out.append(buf, n);
  }

  std::string line_;  // reused; the sink's lock serialises format()
};

}  // namespace

void AppendJsonLogString(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  while (!text.empty()) {
    const unsigned char c = static_cast<unsigned char>(text.front());
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else if (c >= 0x80) {
      const std::size_t n = Utf8Length(text);
      if (n == 0) {
        out += "\\ufffd";
        text.remove_prefix(1);
        continue;
      }
      out.append(text.data(), n);
      text.remove_prefix(n);
      continue;
    } else {
      out += static_cast<char>(c);
    }
    text.remove_prefix(1);
  }
  out += '"';
}

Result<std::unique_ptr<spdlog::formatter>> MakeLogFormatter(std::string_view format) {
  if (format == "json") return std::unique_ptr<spdlog::formatter>(new JsonFormatter());
  if (format == "text") {
    auto text = std::make_unique<spdlog::pattern_formatter>();
    text->add_flag<RequestIdFlag>('Q').set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%^%l%$] %v%Q");
    return std::unique_ptr<spdlog::formatter>(std::move(text));
  }
  return Status::Invalid("log_format must be text | json, got '" + std::string(format) + "'");
}

Status UseLogFormat(std::string_view format) {
  auto formatter = MakeLogFormatter(format);
  if (!formatter.ok()) return formatter.status();
  spdlog::set_formatter(std::move(*formatter));
  return Status::Ok();
}

}  // namespace firstcome
