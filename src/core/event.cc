#include "core/event.h"

#include <array>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <utility>

namespace firstcome {

EventPhase PhaseAt(const Event& event, UnixMillis now) {
  if (event.closed) return EventPhase::kClosed;
  if (event.starts_at && now < *event.starts_at) return EventPhase::kScheduled;
  if (event.ends_at && now >= *event.ends_at) return EventPhase::kEnded;
  return EventPhase::kOpen;
}

namespace {

// kIdRule's characters as a table: one load per character on the request
// path (every issue checks its event and user ids) instead of a chain of
// range tests.
constexpr std::array<bool, 256> kIdChar = [] {
  std::array<bool, 256> table{};
  for (int c = 0; c < 256; ++c) {
    table[c] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '_' || c == '-' || c == ':' || c == '@';
  }
  return table;
}();

}  // namespace

bool IsValidId(std::string_view id) {
  if (id.empty() || id.size() > kMaxIdLength) return false;
  bool ok = true;
  // No early exit: ids are short, and a branch-free loop is cheaper for the
  // valid ids that are almost all of them.
  for (char c : id) ok &= kIdChar[static_cast<unsigned char>(c)];
  return ok;
}

Status CheckId(std::string_view what, std::string_view id) {
  if (IsValidId(id)) return Status::Ok();
  std::string message(what);
  message += " must be ";
  message += kIdRule;
  return Status::Invalid(std::move(message));
}

Status ValidateEvent(const Event& event) {
  if (Status s = CheckId("id", event.id); !s.ok()) return s;
  if (event.total < 1 || event.total > kMaxTotal) {
    return Status::Invalid("total must be between 1 and 1000000000");
  }
  if (event.per_user < 1 || event.per_user > kMaxPerUser) {
    return Status::Invalid("per_user must be between 1 and 1000");
  }
  if (event.name.size() > 200) return Status::Invalid("name must be at most 200 bytes");
  if (event.starts_at && event.ends_at && *event.ends_at <= *event.starts_at) {
    return Status::Invalid("ends_at must be after starts_at");
  }
  return Status::Ok();
}

std::string CouponId(std::string_view event_id, std::int64_t seq) {
  std::string id(event_id);
  id += '-';
  id += std::to_string(seq);
  return id;
}

std::int64_t NewIncarnation() {
  // random_device reads the kernel's entropy: distinct processes (and
  // machines) creating events never share a sequence.
  std::random_device rd;
  std::uint64_t bits = (static_cast<std::uint64_t>(rd()) << 32) | rd();
  bits &= (std::uint64_t{1} << 53) - 1;
  return bits == 0 ? 1 : static_cast<std::int64_t>(bits);
}

UnixMillis NowMillis() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

namespace {

// Days from 1970-01-01 to y-m-d (proleptic Gregorian), Howard Hinnant's algorithm.
std::int64_t DaysFromCivil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

bool ReadDigits(std::string_view s, std::size_t pos, std::size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

}  // namespace

// Hand-written because neither the C++20 library shipped with GCC 12 nor the
// Debian packages we use parse RFC 3339 with offsets; the grammar is small.
Result<UnixMillis> ParseRfc3339(std::string_view s) {
  auto bad = [&] {
    return Status::Invalid("expected an RFC 3339 time such as 2026-11-25T10:00:00Z");
  };
  int year, month, day, hour, minute, second;
  if (s.size() < 20 || !ReadDigits(s, 0, 4, &year) || s[4] != '-' || !ReadDigits(s, 5, 2, &month) ||
      s[7] != '-' || !ReadDigits(s, 8, 2, &day) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      !ReadDigits(s, 11, 2, &hour) || s[13] != ':' || !ReadDigits(s, 14, 2, &minute) ||
      s[16] != ':' || !ReadDigits(s, 17, 2, &second)) {
    return bad();
  }
  static constexpr int kDaysInMonth[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
  if (month < 1 || month > 12 || day < 1 || day > kDaysInMonth[month - 1] ||
      (month == 2 && day == 29 && !leap) || hour > 23 || minute > 59 || second > 60) {
    return bad();
  }
  std::size_t pos = 19;
  int millis = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int digits = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (digits < 3) millis = millis * 10 + (s[pos] - '0');
      ++digits;
      ++pos;
    }
    if (digits == 0) return bad();
    for (int i = digits; i < 3; ++i) millis *= 10;
  }
  int offset_minutes = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!ReadDigits(s, pos + 1, 2, &oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !ReadDigits(s, pos + 4, 2, &om) || oh > 23 || om > 59) {
      return bad();
    }
    offset_minutes = (oh * 60 + om) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return bad();
  }
  if (pos != s.size()) return bad();
  std::int64_t days = DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  std::int64_t secs = days * 86400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
  const UnixMillis t = secs * 1000 + millis;
  // An offset can move the instant out of years 0000-9999 in UTC
  // ("0000-01-01T00:00:00+01:00"), which FormatRfc3339 could not write back
  // as a time this parser reads (fuzz_rfc3339 found it).
  static const UnixMillis kFirst = DaysFromCivil(0, 1, 1) * 86400 * 1000;
  static const UnixMillis kLast = DaysFromCivil(10000, 1, 1) * 86400 * 1000 - 1;
  if (t < kFirst || t > kLast) {
    return Status::Invalid("the time must fall in the years 0000 to 9999 in UTC");
  }
  return t;
}

std::string FormatRfc3339(UnixMillis millis) {
  std::int64_t secs = millis >= 0 ? millis / 1000 : (millis - 999) / 1000;
  int ms = static_cast<int>(millis - secs * 1000);
  std::int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
  std::int64_t rem = secs - days * 86400;
  // civil_from_days, Howard Hinnant's algorithm.
  std::int64_t z = days + 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
  char buf[40];
  int h = static_cast<int>(rem / 3600), mi = static_cast<int>(rem % 3600 / 60),
      s = static_cast<int>(rem % 60);
  if (ms != 0) {
    std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02d:%02d:%02d.%03dZ",
                  static_cast<long long>(y), m, d, h, mi, s, ms);
  } else {
    std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02d:%02d:%02dZ", static_cast<long long>(y), m,
                  d, h, mi, s);
  }
  return buf;
}

}  // namespace firstcome
