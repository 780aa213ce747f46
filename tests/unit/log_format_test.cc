// The log line formats (app/log_format.h): every JSON line parses as one
// object whatever the message holds (quotes, backslashes, control bytes,
// invalid UTF-8), carries time, level and msg, and the request id when the
// line is about a request; the text format appends request_id=….
#include "app/log_format.h"

#include <gtest/gtest.h>
#include <spdlog/details/log_msg.h>

#include <boost/json.hpp>
#include <string>

#include "core/log_context.h"

namespace firstcome {
namespace {

namespace json = boost::json;

std::string Format(std::string_view format, std::string_view message,
                   spdlog::level::level_enum level = spdlog::level::info) {
  auto formatter = MakeLogFormatter(format);
  EXPECT_TRUE(formatter.ok());
  spdlog::details::log_msg msg(spdlog::string_view_t(""), level,
                               spdlog::string_view_t(message.data(), message.size()));
  spdlog::memory_buf_t out;
  (*formatter)->format(msg, out);
  return std::string(out.data(), out.size());
}

json::object ParseLine(const std::string& line) {
  EXPECT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "one line: " << line;
  boost::system::error_code ec;
  json::value v = json::parse(line, ec);
  EXPECT_FALSE(ec) << ec.message() << ": " << line;
  EXPECT_TRUE(v.is_object()) << line;
  return v.is_object() ? v.as_object() : json::object();
}

TEST(LogFormatTest, JsonLineHasTimeLevelAndMessage) {
  json::object o = ParseLine(Format("json", "firstcome serving on 0.0.0.0:8080"));
  EXPECT_EQ(o.at("msg"), json::value("firstcome serving on 0.0.0.0:8080"));
  EXPECT_EQ(o.at("level"), json::value("info"));
  const std::string time(o.at("time").as_string());
  EXPECT_EQ(time.size(), 24u) << time;  // 2026-11-25T10:00:00.123Z
  EXPECT_EQ(time.back(), 'Z') << time;
  EXPECT_TRUE(o.at("thread").is_number());
  EXPECT_FALSE(o.contains("request_id"));
  EXPECT_EQ(ParseLine(Format("json", "x", spdlog::level::err)).at("level"), json::value("error"));
}

TEST(LogFormatTest, JsonEscapesWhateverTheMessageHolds) {
  const std::string nasty =
      std::string("quote \" backslash \\ newline \n cr \r tab \t nul ") + std::string(1, '\0') +
      " bell \x07 del \x7f unicode \xc3\xa9 \xe2\x82\xac" + " emoji \xf0\x9f\x8e\x9f";
  json::object o = ParseLine(Format("json", nasty));
  EXPECT_EQ(o.at("msg"), json::value(nasty));
}

TEST(LogFormatTest, JsonReplacesInvalidUtf8) {
  const char* cases[] = {
      "\xff", "\xc3", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82"};
  for (const char* bad : cases) {
    std::string message = std::string("a") + bad + "b";
    json::object o = ParseLine(Format("json", message));
    const std::string msg(o.at("msg").as_string());
    EXPECT_EQ(msg.front(), 'a');
    EXPECT_EQ(msg.back(), 'b');
    EXPECT_NE(msg.find("\xef\xbf\xbd"), std::string::npos) << "U+FFFD for " << message;
  }
}

TEST(LogFormatTest, RequestIdWhenTheLineIsAboutARequest) {
  {
    ScopedRequestId scope("req-42");
    EXPECT_EQ(ParseLine(Format("json", "admin: POST /api/v1/events answered 201")).at("request_id"),
              json::value("req-42"));
    const std::string text = Format("text", "admin: POST /api/v1/events answered 201");
    EXPECT_NE(text.find("[info] admin: POST /api/v1/events answered 201 request_id=req-42\n"),
              std::string::npos)
        << text;
    {
      ScopedRequestId inner("req-43");
      EXPECT_EQ(ParseLine(Format("json", "x")).at("request_id"), json::value("req-43"));
    }
    EXPECT_EQ(ParseLine(Format("json", "x")).at("request_id"), json::value("req-42"));
  }
  EXPECT_FALSE(ParseLine(Format("json", "x")).contains("request_id"));
  EXPECT_EQ(Format("text", "x").find("request_id"), std::string::npos);
}

TEST(LogFormatTest, UnknownFormatIsRefused) {
  EXPECT_FALSE(MakeLogFormatter("xml").ok());
  EXPECT_FALSE(UseLogFormat("").ok());
}

}  // namespace
}  // namespace firstcome
