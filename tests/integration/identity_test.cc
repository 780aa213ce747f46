// Identity (docs/api.md, "Identity: who may issue for whom") against REAL
// `firstcome serve` processes (embedded gate, log and store): user JWTs
// (HS256, RS256, ES256; every way a token can be bad is 401, another user's
// id is 403), the user header from trusted proxies only, and the client
// address behind trusted proxies deciding the admin "loopback only" rule.
// Starts: one firstcome process per test.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <ctime>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "support/api_client.h"
#include "support/fixtures.h"
#include "support/http_client.h"
#include "support/jwt_signer.h"
#include "support/process.h"
#include "support/served_firstcome.h"

namespace firstcome::test {
namespace {

namespace json = boost::json;
using firstcome::test::Base64UrlEncode;
using firstcome::test::JwtSigner;

const std::string kSecret = "an-hs256-secret-of-at-least-32-bytes-0123456789";
const std::string kAdminToken = "admin-token-for-identity-tests";
const std::string kIssuer = "https://auth.example";
const std::string kAudience = "firstcome";

using Server = ServedFirstcome;

// The length of the "coupons" array of a GET users/{id} answer; -1 without one.
int CouponCount(const HttpResponse& r) {
  json::value coupons = JsonMember(r.json(), "coupons");
  return coupons.is_array() ? static_cast<int>(coupons.as_array().size()) : -1;
}

std::int64_t Now() { return static_cast<std::int64_t>(std::time(nullptr)); }

// Claims for `sub` valid for five minutes, with iss and aud as the HS256
// server wants them; `changes` replace or add claims (a null value removes).
std::string Claims(const std::string& sub, const json::object& changes = {}) {
  json::object claims{
      {"sub", sub}, {"iat", Now()}, {"exp", Now() + 300}, {"iss", kIssuer}, {"aud", kAudience}};
  for (const auto& [k, v] : changes) {
    if (v.is_null()) {
      claims.erase(k);
    } else {
      claims[k] = v;
    }
  }
  return json::serialize(claims);
}

HttpResponse IssueWith(const Server& s, const std::string& event, const std::string& body,
                       const HttpHeaders& headers, const std::string& source = "") {
  return HttpCall("127.0.0.1", s.port, "POST", "/api/v1/events/" + event + "/issue", body,
                  {.headers = headers, .source_address = source});
}

HttpResponse IssueWithToken(const Server& s, const std::string& token,
                            const std::string& body = "{}") {
  return IssueWith(s, "launch", body, {{"Authorization", "Bearer " + token}});
}

HttpResponse GetUser(const Server& s, const std::string& user, const HttpHeaders& headers,
                     const std::string& source = "") {
  return HttpCall("127.0.0.1", s.port, "GET", "/api/v1/events/launch/users/" + user, "",
                  {.headers = headers, .source_address = source});
}

void ExpectIssued(const HttpResponse& r, const std::string& user) {
  ASSERT_EQ(r.status, 201) << r.body;
  json::value v = r.json();
  ASSERT_TRUE(v.is_object()) << r.body;
  EXPECT_EQ(JsonMember(v, "status"), json::value("issued")) << r.body;
  EXPECT_EQ(JsonMember(v, "user_id"), json::value(user)) << r.body;
  const json::value coupon = JsonMember(v, "coupon_id");
  EXPECT_TRUE(coupon.is_string() && !coupon.as_string().empty()) << r.body;
}

void ExpectError(const HttpResponse& r, int status, const std::string& code, bool issue_route) {
  EXPECT_EQ(r.status, status) << r.body;
  json::value v = r.json();
  ASSERT_TRUE(v.is_object()) << r.body;
  EXPECT_EQ(JsonMember(v, "error"), json::value(code)) << r.body;
  EXPECT_TRUE(v.as_object().contains("detail")) << r.body;
  if (issue_route) {
    EXPECT_TRUE(v.as_object().contains("status")) << r.body;
  }
}

void ExpectUnauthenticated(const HttpResponse& r, bool issue_route = true) {
  ExpectError(r, 401, "unauthenticated", issue_route);
  EXPECT_EQ(r.header("WWW-Authenticate").rfind("Bearer", 0), 0u)
      << "WWW-Authenticate: '" << r.header("WWW-Authenticate") << "'";
}

// A token with "alg":"none" and no signature.
std::string UnsignedToken(const std::string& payload) {
  return Base64UrlEncode(R"({"alg":"none","typ":"JWT"})") + "." + Base64UrlEncode(payload) + ".";
}

std::vector<std::string> JwtFlags(const std::string& key_flag, const std::string& key) {
  return {"--user-auth", "jwt", key_flag, key, "--jwt-leeway-s", "30"};
}

TEST(IdentityJwt, Hs256TokensNameTheUserAndEveryBadTokenIs401) {
  auto flags = JwtFlags("--jwt-secret", kSecret);
  flags.insert(flags.end(), {"--jwt-issuer", kIssuer, "--jwt-audience", kAudience});
  flags.insert(flags.end(), {"--admin-token", kAdminToken});
  Server s(flags, kAdminToken);
  ASSERT_TRUE(s.Start());
  ASSERT_EQ(CreateEvent(s.api, "launch", 100).status, 201);
  const JwtSigner signer = JwtSigner::Hs256(kSecret);
  int issued = 0;

  // The user is the sub; the body may omit user_id, or name the sub.
  ExpectIssued(IssueWithToken(s, signer.Sign(Claims("u1"))), "u1");
  ++issued;
  ExpectIssued(IssueWithToken(s, signer.Sign(Claims("u2")), R"({"user_id":"u2"})"), "u2");
  ++issued;
  // Leeway: exp just past and nbf just ahead, both within 30 s, are accepted.
  ExpectIssued(IssueWithToken(s, signer.Sign(Claims("u3", {{"exp", Now() - 5}}))), "u3");
  ++issued;
  ExpectIssued(IssueWithToken(s, signer.Sign(Claims("u4", {{"nbf", Now() + 5}}))), "u4");
  ++issued;
  // aud may be an array holding the audience.
  ExpectIssued(
      IssueWithToken(s, signer.Sign(Claims("u5", {{"aud", json::array{"other", kAudience}}}))),
      "u5");
  ++issued;

  const std::string good = signer.Sign(Claims("v1"));
  // v2's header and payload with v1's signature.
  const std::string other = signer.Sign(Claims("v2"));
  const std::string swapped = other.substr(0, other.rfind('.')) + good.substr(good.rfind('.'));
  struct Case {
    std::string name;
    HttpHeaders headers;
  };
  auto bearer = [](const std::string& token) {
    return HttpHeaders{{"Authorization", "Bearer " + token}};
  };
  const std::vector<Case> refusals = {
      {"no Authorization", {}},
      {"empty bearer", {{"Authorization", "Bearer "}}},
      {"basic scheme", {{"Authorization", "Basic dTE6cGFzcw=="}}},
      {"not a JWT", bearer("not-a-jwt")},
      {"three garbage parts", bearer("a.b.c")},
      {"other secret", bearer(JwtSigner::Hs256(kSecret + "x").Sign(Claims("v1")))},
      {"signature cut", bearer(good.substr(0, good.size() - 4))},
      {"payload swapped", bearer(swapped)},
      {"expired beyond leeway", bearer(signer.Sign(Claims("v1", {{"exp", Now() - 120}})))},
      {"no exp", bearer(signer.Sign(Claims("v1", {{"exp", nullptr}})))},
      {"nbf in the future", bearer(signer.Sign(Claims("v1", {{"nbf", Now() + 600}})))},
      {"wrong iss", bearer(signer.Sign(Claims("v1", {{"iss", "https://evil.example"}})))},
      {"no iss", bearer(signer.Sign(Claims("v1", {{"iss", nullptr}})))},
      {"wrong aud", bearer(signer.Sign(Claims("v1", {{"aud", "other"}})))},
      {"no aud", bearer(signer.Sign(Claims("v1", {{"aud", nullptr}})))},
      {"no sub", bearer(signer.Sign(Claims("v1", {{"sub", nullptr}})))},
      {"sub not a valid id", bearer(signer.Sign(Claims("bad id")))},
      {"alg none", bearer(UnsignedToken(Claims("v1")))},
      {"alg RS256 in the header",
       bearer(signer.Sign(R"({"alg":"RS256","typ":"JWT"})", Claims("v1")))},
  };
  for (const auto& c : refusals) {
    SCOPED_TRACE(c.name);
    ExpectUnauthenticated(IssueWith(s, "launch", "{}", c.headers));
    // A good body does not stand in for a bad token.
    ExpectUnauthenticated(IssueWith(s, "launch", R"({"user_id":"v1"})", c.headers));
  }

  // Another user's id in the body: 403, nothing taken.
  ExpectError(IssueWithToken(s, signer.Sign(Claims("u6")), R"({"user_id":"u1"})"), 403, "forbidden",
              true);
  ExpectError(IssueWithToken(s, signer.Sign(Claims("u6")), R"({"user_id":"u7"})"), 403, "forbidden",
              true);

  // GET users/{id}: one's own only, or the admin's.
  const HttpHeaders u1 = bearer(signer.Sign(Claims("u1")));
  auto own = GetUser(s, "u1", u1);
  ASSERT_EQ(own.status, 200) << own.body;
  EXPECT_EQ(CouponCount(own), 1) << own.body;
  ExpectError(GetUser(s, "u2", u1), 403, "forbidden", false);
  ExpectUnauthenticated(GetUser(s, "u1", {}), false);
  ExpectUnauthenticated(GetUser(s, "u1", bearer(signer.Sign(Claims("u1", {{"exp", Now() - 600}})))),
                        false);
  for (const std::string user : {"u2", "u6", "nobody"}) {
    auto admin = GetUser(s, user, {{"Authorization", "Bearer " + kAdminToken}});
    ASSERT_EQ(admin.status, 200) << user << ": " << admin.body;
    EXPECT_EQ(CouponCount(admin), user == "u2" ? 1 : 0) << admin.body;
  }
  EXPECT_EQ(UserCoupons(s.api, "launch", "u1").size(), 1u);
  EXPECT_EQ(UserCoupons(s.api, "launch", "v1").size(), 0u);
  EXPECT_EQ(Field(GetEvent(s.api, "launch"), "issued"), issued);
}

TEST(IdentityJwt, Rs256ServerRefusesHsConfusionAndOtherKeys) {
  const JwtSigner rsa = JwtSigner::Rs256();
  TempDir keys;
  const std::string pem_path = keys.path() + "/jwt-public.pem";
  std::ofstream(pem_path) << rsa.public_key_pem();
  Server s(JwtFlags("--jwt-public-key", pem_path));
  ASSERT_TRUE(s.Start());
  ASSERT_EQ(CreateEvent(s.api, "launch", 100).status, 201);

  // No issuer or audience configured: iss and aud are not looked at.
  ExpectIssued(IssueWithToken(s, rsa.Sign(Claims("r1"))), "r1");
  ExpectIssued(IssueWithToken(s, rsa.Sign(Claims("r2", {{"iss", nullptr}, {"aud", "x"}}))), "r2");

  const std::vector<std::pair<std::string, std::string>> refusals = {
      // The classic confusion: HS256 with the public key's PEM text as secret.
      {"HS256 keyed with the public PEM",
       JwtSigner::Hs256(rsa.public_key_pem()).Sign(Claims("x1"))},
      {"HS256 keyed with the PEM, header says RS256",
       JwtSigner::Hs256(rsa.public_key_pem()).Sign(R"({"alg":"RS256","typ":"JWT"})", Claims("x1"))},
      {"another RSA key", JwtSigner::Rs256().Sign(Claims("x1"))},
      {"an EC key", JwtSigner::Es256().Sign(Claims("x1"))},
      {"alg none", UnsignedToken(Claims("x1"))},
      {"expired", rsa.Sign(Claims("x1", {{"exp", Now() - 3600}}))},
      {"nbf in the future", rsa.Sign(Claims("x1", {{"nbf", Now() + 3600}}))},
  };
  for (const auto& [name, token] : refusals) {
    SCOPED_TRACE(name);
    ExpectUnauthenticated(IssueWithToken(s, token));
  }
  ExpectError(IssueWithToken(s, rsa.Sign(Claims("r3")), R"({"user_id":"r1"})"), 403, "forbidden",
              true);
  EXPECT_EQ(UserCoupons(s.api, "launch", "x1").size(), 0u);
  EXPECT_EQ(Field(GetEvent(s.api, "launch"), "issued"), 2);
}

TEST(IdentityJwt, Es256ServerAcceptsItsKeyOnly) {
  const JwtSigner ec = JwtSigner::Es256();
  TempDir keys;
  const std::string pem_path = keys.path() + "/jwt-public.pem";
  std::ofstream(pem_path) << ec.public_key_pem();
  Server s(JwtFlags("--jwt-public-key", pem_path));
  ASSERT_TRUE(s.Start());
  ASSERT_EQ(CreateEvent(s.api, "launch", 100).status, 201);
  ExpectIssued(IssueWithToken(s, ec.Sign(Claims("e1"))), "e1");
  ExpectUnauthenticated(IssueWithToken(s, JwtSigner::Es256().Sign(Claims("x1"))));
  ExpectUnauthenticated(
      IssueWithToken(s, JwtSigner::Hs256(ec.public_key_pem()).Sign(Claims("x1"))));
  ExpectUnauthenticated(IssueWithToken(s, JwtSigner::Rs256().Sign(Claims("x1"))));
  EXPECT_EQ(Field(GetEvent(s.api, "launch"), "issued"), 1);
}

TEST(IdentityHeader, UserHeaderIsBelievedFromTrustedPeersOnly) {
  // 127.0.0.1 is the trusted proxy; 127.0.0.2 is also loopback (admin calls
  // from it are allowed) but not trusted to name users.
  Server s({"--user-auth", "header", "--trusted-proxies", "127.0.0.1/32"});
  ASSERT_TRUE(s.Start());
  ASSERT_EQ(CreateEvent(s.api, "launch", 100).status, 201);

  ExpectIssued(IssueWith(s, "launch", "{}", {{"X-User-Id", "h1"}}), "h1");
  ExpectIssued(IssueWith(s, "launch", R"({"user_id":"h2"})", {{"X-User-Id", "h2"}}), "h2");
  // From the trusted peer, without the header: nobody to issue for.
  ExpectUnauthenticated(IssueWith(s, "launch", "{}", {}));
  ExpectUnauthenticated(IssueWith(s, "launch", R"({"user_id":"h3"})", {}));
  // From an untrusted peer the header is not believed, whatever it says.
  ExpectUnauthenticated(IssueWith(s, "launch", "{}", {{"X-User-Id", "h3"}}, "127.0.0.2"));
  ExpectUnauthenticated(
      IssueWith(s, "launch", R"({"user_id":"h3"})", {{"X-User-Id", "h3"}}, "127.0.0.2"));
  // Another user's id in the body.
  ExpectError(IssueWith(s, "launch", R"({"user_id":"h1"})", {{"X-User-Id", "h4"}}), 403,
              "forbidden", true);

  // GET users/{id}: the header's own id only.
  auto own = GetUser(s, "h1", {{"X-User-Id", "h1"}});
  ASSERT_EQ(own.status, 200) << own.body;
  EXPECT_EQ(CouponCount(own), 1) << own.body;
  ExpectError(GetUser(s, "h2", {{"X-User-Id", "h1"}}), 403, "forbidden", false);
  EXPECT_EQ(GetUser(s, "h1", {{"X-User-Id", "h1"}}, "127.0.0.2").status, 401);

  EXPECT_EQ(Field(GetEvent(s.api, "launch"), "issued"), 2);
  EXPECT_EQ(UserCoupons(s.api, "launch", "h3").size(), 0u);
}

TEST(IdentityClientAddress, AdminLoopbackRuleUsesTheForwardedClient) {
  // No admin token: admin calls from loopback clients only (refused 401
  // "unauthorized", the admin refusal of version 1).
  Server s({"--trusted-proxies", "127.0.0.1/32"});
  ASSERT_TRUE(s.Start());
  auto create = [&](const std::string& id, const HttpHeaders& headers,
                    const std::string& source = "") {
    return HttpCall("127.0.0.1", s.port, "POST", "/api/v1/events",
                    R"({"id":")" + id + R"(","total":5})",
                    {.headers = headers, .source_address = source});
  };
  // The trusted proxy forwards a remote client: not loopback.
  ExpectError(create("e1", {{"X-Forwarded-For", "203.0.113.9"}}), 401, "unauthorized", false);
  // Right-most entry not trusted is the client, whatever is left of it.
  ExpectError(create("e1", {{"X-Forwarded-For", "127.0.0.1, 203.0.113.9"}}), 401, "unauthorized",
              false);
  ExpectError(create("e1", {{"X-Forwarded-For", "203.0.113.9, 127.0.0.1"}}), 401, "unauthorized",
              false);
  // The proxy itself, and a local client it forwards.
  auto r = create("e1", {});
  EXPECT_EQ(r.status, 201) << r.body;
  r = create("e2", {{"X-Forwarded-For", "127.0.0.5"}});
  EXPECT_EQ(r.status, 201) << r.body;
  // An untrusted (loopback) peer: its X-Forwarded-For is ignored, the peer is
  // the client, and it is loopback.
  r = create("e3", {{"X-Forwarded-For", "203.0.113.9"}}, "127.0.0.2");
  EXPECT_EQ(r.status, 201) << r.body;
  auto list = HttpRequest("127.0.0.1", s.port, "GET", "/api/v1/events");
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_EQ(list.json().as_array().size(), 3u) << list.body;
}

}  // namespace
}  // namespace firstcome::test
