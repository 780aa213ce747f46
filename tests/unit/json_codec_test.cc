// The issue body's one-pass check (ParseIssueBody, a SAX pass without a DOM)
// answers as the DOM parse every other body goes through (ParseObject, seen
// here through ParseEmptyBody): the same refusal, in the same order (syntax
// first, then a root that is not an object, then a key named twice), with
// the same detail.
#include "http/json_codec.h"

#include <gtest/gtest.h>

#include <string>

namespace firstcome::http {
namespace {

TEST(ParseIssueBody, RefusesAsTheDomParseDoes) {
  for (const char* body : {
           "{",
           "[]",
           "5",
           "\"x\"",
           "null",
           "true",
           "{}x",
           "{} {}",
           "{\"a\":1,}",
           "{'a':1}",
           "{\"a\":1,\"a\":2",
           "{\"a\":1,\"a\":2} x",
           "[{\"a\":1,\"a\":2}]",
           "{\"a\":1,\"a\":2}",
           "{\"x\":{\"b\":[{\"c\":1,\"c\":2}]}}",
           "{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{"
           "\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":1}}}}}}}}}}}}}}}}}",
           "{\"\\u0061\":1,\"a\":2}",
           "{\"a\":\"\xff\"}",
           "{\"user_id\":\"u-1\"/*c*/}",
       }) {
    SCOPED_TRACE(body);
    std::string user;
    const Status one_pass = ParseIssueBody(body, &user);
    const Status dom = ParseEmptyBody(body);
    ASSERT_FALSE(one_pass.ok());
    ASSERT_FALSE(dom.ok());
    EXPECT_EQ(one_pass.message(), dom.message());
    EXPECT_TRUE(user.empty());
  }
}

TEST(ParseIssueBody, ReadsTheRootUserId) {
  std::string user;
  ASSERT_TRUE(ParseIssueBody(R"({"user_id":"u-1"})", &user).ok());
  EXPECT_EQ(user, "u-1");
  // Escapes, other keys, and a user_id in a nested object (not the one read).
  ASSERT_TRUE(ParseIssueBody(
                  R"({"x":{"user_id":1},"us\u0065r_id":"u-\u0032","y":[{"a":1},{"a":2}]})", &user)
                  .ok());
  EXPECT_EQ(user, "u-2");
  // Optional when the user comes from elsewhere.
  ASSERT_TRUE(ParseIssueBody("", &user, /*user_id_required=*/false).ok());
  ASSERT_TRUE(ParseIssueBody("{}", &user, /*user_id_required=*/false).ok());
  EXPECT_TRUE(user.empty());
}

TEST(ParseIssueBody, SaysWhatIsWrongWithUserId) {
  std::string user;
  EXPECT_EQ(ParseIssueBody("", &user).message(), "the body must be a JSON object; it is empty");
  EXPECT_EQ(ParseIssueBody("{}", &user).message(), "\"user_id\" is missing");
  EXPECT_EQ(ParseIssueBody("[]", &user).message(), "the body must be a JSON object, not an array");
  const char* kinds[][2] = {{"5", "an integer"},
                            {"18446744073709551615", "an integer"},
                            {"1.5", "a fractional number"},
                            {"null", "null"},
                            {"true", "a boolean"},
                            {"[\"u-1\"]", "an array"},
                            {"{\"a\":\"u-1\"}", "an object"}};
  for (auto& [value, kind] : kinds) {
    SCOPED_TRACE(value);
    EXPECT_EQ(ParseIssueBody(std::string("{\"user_id\":") + value + "}", &user).message(),
              std::string("\"user_id\" must be a string, not ") + kind);
  }
  EXPECT_EQ(ParseIssueBody(R"({"user_id":"a b"})", &user).message(),
            "\"user_id\" must be 1-64 characters of A-Z a-z 0-9 . _ - : @");
  EXPECT_EQ(ParseIssueBody(R"({"user_id":"u-1","user_id":"u-2"})", &user).message(),
            "the body names \"user_id\" more than once");
  // A refused body leaves no user behind, also after a good one.
  ASSERT_TRUE(ParseIssueBody(R"({"user_id":"u-1"})", &user).ok());
  EXPECT_FALSE(ParseIssueBody(R"({"user_id":"u-1","user_id":"u-1"})", &user).ok());
  EXPECT_TRUE(user.empty());
}

}  // namespace
}  // namespace firstcome::http
