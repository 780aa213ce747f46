// The formats of Firstcome's log lines (setting log_format):
//   text  [2026-11-25 10:00:00.123] [info] message request_id=…
//   json  {"time":"2026-11-25T10:00:00.123Z","level":"info","msg":"message",
//          "thread":1234,"request_id":"…"}   one object per line
// request_id appears when the line is about a request (core/log_context.h).
//
// Why a formatter of our own for JSON: spdlog has none, and a pattern cannot
// escape the message. Every string is escaped as JSON wants it (quote,
// backslash, control characters) and invalid UTF-8 becomes U+FFFD, so each
// line parses whatever a message holds.
#pragma once

#include <spdlog/formatter.h>

#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"

namespace firstcome {

// A spdlog formatter for `format` ("text" or "json"); Invalid otherwise.
Result<std::unique_ptr<spdlog::formatter>> MakeLogFormatter(std::string_view format);

// Makes every logger write `format`.
Status UseLogFormat(std::string_view format);

// Appends `text` as a JSON string literal (quotes included), escaping what
// JSON requires and replacing invalid UTF-8 by U+FFFD.
void AppendJsonLogString(std::string& out, std::string_view text);

}  // namespace firstcome
