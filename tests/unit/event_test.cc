#include "core/event.h"

#include <gtest/gtest.h>

namespace firstcome {
namespace {

TEST(IdValidation, AcceptsTheDocumentedAlphabet) {
  EXPECT_TRUE(IsValidId("u-42"));
  EXPECT_TRUE(IsValidId("A.b_c-d:e@f9"));
  EXPECT_TRUE(IsValidId(std::string(64, 'x')));
}

TEST(IdValidation, RejectsEmptyLongAndForeignCharacters) {
  EXPECT_FALSE(IsValidId(""));
  EXPECT_FALSE(IsValidId(std::string(65, 'x')));
  EXPECT_FALSE(IsValidId("a b"));
  EXPECT_FALSE(IsValidId("a/b"));
  EXPECT_FALSE(IsValidId("caf\xc3\xa9"));
  EXPECT_FALSE(IsValidId(std::string("a\0b", 3)));
}

TEST(EventValidation, ChecksRanges) {
  Event e{.id = "launch", .total = 100};
  EXPECT_TRUE(ValidateEvent(e).ok());
  e.total = 0;
  EXPECT_EQ(ValidateEvent(e).code(), Status::Code::kInvalid);
  e.total = -5;
  EXPECT_FALSE(ValidateEvent(e).ok());
  e.total = kMaxTotal + 1;
  EXPECT_FALSE(ValidateEvent(e).ok());
  e.total = kMaxTotal;
  EXPECT_TRUE(ValidateEvent(e).ok());
  e.per_user = 0;
  EXPECT_FALSE(ValidateEvent(e).ok());
  e.per_user = 1001;
  EXPECT_FALSE(ValidateEvent(e).ok());
  e.per_user = 1000;
  EXPECT_TRUE(ValidateEvent(e).ok());
  e.starts_at = 2000;
  e.ends_at = 1000;
  EXPECT_FALSE(ValidateEvent(e).ok());
}

TEST(Rfc3339, RoundTripsUtc) {
  auto t = ParseRfc3339("2026-11-25T10:00:00Z");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, 1795600800000);
  EXPECT_EQ(FormatRfc3339(*t), "2026-11-25T10:00:00Z");
  EXPECT_EQ(FormatRfc3339(*t + 250), "2026-11-25T10:00:00.250Z");
}

TEST(Rfc3339, AppliesOffsetsAndFractions) {
  auto t = ParseRfc3339("2026-11-25T19:00:00.5+09:00");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, 1795600800500);
}

TEST(Rfc3339, RejectsGarbage) {
  for (const char* s : {"", "2026-11-25", "2026-13-01T00:00:00Z", "2026-11-25T10:00:00",
                        "2026-11-25T10:00:00Zjunk", "yesterday", "2026-11-25T25:00:00Z"}) {
    EXPECT_FALSE(ParseRfc3339(s).ok()) << s;
  }
}

TEST(Rfc3339, RejectsDaysThatDoNotExist) {
  EXPECT_FALSE(ParseRfc3339("2025-02-29T00:00:00Z").ok());
  EXPECT_FALSE(ParseRfc3339("1900-02-29T00:00:00Z").ok());
  EXPECT_TRUE(ParseRfc3339("2000-02-29T00:00:00Z").ok());
  EXPECT_TRUE(ParseRfc3339("2024-02-29T00:00:00Z").ok());
}

// Found by fuzz_rfc3339: an offset carried the instant before year 0000 (or
// after 9999), where the formatted text no longer parses.
TEST(Rfc3339, EveryParsedTimeFormatsBackToItself) {
  for (const char* s : {"0000-01-01T00:00:00Z", "0000-01-01T00:00:00-23:59",
                        "9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59+23:59"}) {
    auto t = ParseRfc3339(s);
    ASSERT_TRUE(t.ok()) << s;
    auto again = ParseRfc3339(FormatRfc3339(*t));
    ASSERT_TRUE(again.ok()) << s << " -> " << FormatRfc3339(*t);
    EXPECT_EQ(*again, *t) << s;
  }
  EXPECT_FALSE(ParseRfc3339("0000-01-01T00:00:00+00:01").ok());
  EXPECT_FALSE(ParseRfc3339("9999-12-31T23:59:59-00:01").ok());
  EXPECT_FALSE(ParseRfc3339("9999-12-31T23:59:60Z").ok());
}

TEST(Phase, FollowsTheWindow) {
  Event e{.id = "x", .total = 1, .starts_at = 1000, .ends_at = 2000};
  EXPECT_EQ(PhaseAt(e, 999), EventPhase::kScheduled);
  EXPECT_EQ(PhaseAt(e, 1000), EventPhase::kOpen);
  EXPECT_EQ(PhaseAt(e, 2000), EventPhase::kEnded);
}

}  // namespace
}  // namespace firstcome
