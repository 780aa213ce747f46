// Logs and request ids against REAL `firstcome serve` processes (embedded
// gate, log and store): with log_format = json every line of the server's
// output is one JSON object; admin calls and their refusals are logged with
// the request's id (the client's X-Request-Id, or the generated one the
// answer carries); and no credential ever reaches the log: after calls
// carrying the admin token, wrong tokens, user JWTs (good and bad) and a
// database password in the configuration, none of them appears in it.
// Starts: one firstcome process per test.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "support/api_client.h"
#include "support/http_client.h"
#include "support/jwt_signer.h"
#include "support/served_firstcome.h"

namespace firstcome::test {
namespace {

namespace json = boost::json;

const std::string kAdminToken = "ADMIN-TOKEN-never-logged-4f0c1e";
const std::string kWrongToken = "WRONG-TOKEN-never-logged-9d2b77";
const std::string kJwtSecret = "JWT-SECRET-never-logged-0123456789abcdef";
const std::string kDbPassword = "DB-PASSWORD-never-logged-55aa";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

std::string Jwt(const std::string& sub, std::int64_t exp_from_now = 300) {
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  return JwtSigner::Hs256(kJwtSecret)
      .Sign(json::serialize(json::object{{"sub", sub}, {"exp", now + exp_from_now}}));
}

HttpResponse Call(const ServedFirstcome& s, const std::string& method, const std::string& target,
                  const std::string& body, const HttpHeaders& headers) {
  return HttpCall("127.0.0.1", s.port, method, target, body, {.headers = headers});
}

// Runs calls carrying every kind of credential; returns what must not leak.
std::vector<std::string> CallsWithSecrets(const ServedFirstcome& s) {
  const std::string good_jwt = Jwt("u-1");
  const std::string expired_jwt = Jwt("u-2", -3600);
  const std::string forged_jwt = JwtSigner::Hs256("some-other-secret-of-at-least-32-bytes!!")
                                     .Sign(R"({"sub":"u-3","exp":9999999999})");
  const std::string admin = "Bearer " + kAdminToken;
  EXPECT_EQ(Call(s, "POST", "/api/v1/events", R"({"id":"launch","total":10})",
                 {{"Authorization", admin}, {"X-Request-Id", "create-launch-1"}})
                .status,
            201);
  EXPECT_EQ(Call(s, "POST", "/api/v1/events", R"({"id":"other","total":10})",
                 {{"Authorization", "Bearer " + kWrongToken}, {"X-Request-Id", "wrong-token-1"}})
                .status,
            401);
  EXPECT_EQ(Call(s, "POST", "/api/v1/events?token=" + kWrongToken, R"({"id":"x","total":1})",
                 {{"Authorization", kWrongToken}})
                .status,
            401);
  for (const std::string& jwt : {good_jwt, expired_jwt, forged_jwt}) {
    Call(s, "POST", "/api/v1/events/launch/issue", "{}", {{"Authorization", "Bearer " + jwt}});
    Call(s, "GET", "/api/v1/events/launch/users/u-1", "", {{"Authorization", "Bearer " + jwt}});
  }
  // The admin token sent where a JWT is expected, and a JWT where the admin
  // token is expected.
  Call(s, "POST", "/api/v1/events/launch/issue", "{}", {{"Authorization", admin}});
  Call(s, "POST", "/api/v1/events", R"({"id":"y","total":1})",
       {{"Authorization", "Bearer " + good_jwt}});
  std::vector<std::string> secrets = {kAdminToken, kWrongToken, kJwtSecret, kDbPassword,
                                      good_jwt,    expired_jwt, forged_jwt};
  // A JWT's signature alone must not leak either.
  for (const std::string& jwt : {good_jwt, expired_jwt, forged_jwt}) {
    secrets.push_back(jwt.substr(jwt.rfind('.') + 1));
  }
  return secrets;
}

std::vector<std::string> Flags(const std::string& format) {
  return {"--log-format",  format,
          "--log-level",   "debug",
          "--admin-token", kAdminToken,
          "--user-auth",   "jwt",
          "--jwt-secret",  kJwtSecret,
          "--mysql-url",   "mysql://firstcome:" + kDbPassword + "@127.0.0.1:1/firstcome"};
}

TEST(LoggingTest, JsonLinesWithRequestIdsAndNoSecrets) {
  ServedFirstcome s(Flags("json"), kAdminToken);
  ASSERT_TRUE(s.Start());
  const std::vector<std::string> secrets = CallsWithSecrets(s);
  // An id the server made is echoed, and the log line of that call has it.
  HttpResponse refused = Call(s, "POST", "/api/v1/events", R"({"id":"z","total":1})", {});
  ASSERT_EQ(refused.status, 401);
  const std::string generated = refused.header("X-Request-Id");
  ASSERT_FALSE(generated.empty());
  ASSERT_EQ(s.process->Terminate(), 0);

  const std::string log = ReadFile(s.process->log_path());
  for (const std::string& secret : secrets) {
    EXPECT_EQ(log.find(secret), std::string::npos) << "the log holds " << secret << ":\n" << log;
  }
  bool created = false, wrong = false, made = false;
  const std::vector<std::string> lines = Lines(log);
  ASSERT_GE(lines.size(), 3u) << log;
  for (const std::string& line : lines) {
    boost::system::error_code ec;
    json::value v = json::parse(line, ec);
    ASSERT_FALSE(ec) << "not JSON: " << line;
    ASSERT_TRUE(v.is_object()) << line;
    const json::object& o = v.as_object();
    ASSERT_TRUE(o.contains("time") && o.contains("level") && o.contains("msg")) << line;
    const std::string msg(o.at("msg").as_string());
    const json::value id = JsonMember(v, "request_id");
    if (id == json::value("create-launch-1")) {
      created = true;
      EXPECT_NE(msg.find("admin: POST /api/v1/events answered 201"), std::string::npos) << line;
    } else if (id == json::value("wrong-token-1")) {
      wrong = true;
      EXPECT_NE(msg.find("answered 401"), std::string::npos) << line;
    } else if (id == json::value(generated)) {
      made = true;
    }
  }
  EXPECT_TRUE(created) << "the admin call's line with its request id:\n" << log;
  EXPECT_TRUE(wrong) << "the refused admin call's line with its request id:\n" << log;
  EXPECT_TRUE(made) << "the line of the call with a generated id:\n" << log;
}

TEST(LoggingTest, TextLinesCarryTheRequestIdAndNoSecrets) {
  ServedFirstcome s(Flags("text"), kAdminToken);
  ASSERT_TRUE(s.Start());
  const std::vector<std::string> secrets = CallsWithSecrets(s);
  ASSERT_EQ(s.process->Terminate(), 0);
  const std::string log = ReadFile(s.process->log_path());
  for (const std::string& secret : secrets) {
    EXPECT_EQ(log.find(secret), std::string::npos) << "the log holds " << secret << ":\n" << log;
  }
  EXPECT_NE(log.find("admin: POST /api/v1/events answered 201 (client 127.0.0.1) "
                     "request_id=create-launch-1\n"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("request_id=wrong-token-1\n"), std::string::npos) << log;
  EXPECT_EQ(log.find("{\"time\""), std::string::npos) << "text, not JSON:\n" << log;
}

}  // namespace
}  // namespace firstcome::test
