#include "edge/jwt_verifier.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "support/jwt_signer.h"

namespace firstcome::edge {
namespace {

using test::Base64UrlEncode;
using test::JwtSigner;

constexpr UnixMillis kNow = 1'800'000'000'000;  // 2027-01-15
constexpr std::int64_t kNowSeconds = kNow / 1000;
const std::string kSecret = "0123456789abcdef0123456789abcdef";  // 32 bytes

// Keys are generated once: RSA key generation is slow.
const JwtSigner& Rsa() {
  static const JwtSigner signer = JwtSigner::Rs256();
  return signer;
}
const JwtSigner& OtherRsa() {
  static const JwtSigner signer = JwtSigner::Rs256();
  return signer;
}
const JwtSigner& Ec() {
  static const JwtSigner signer = JwtSigner::Es256();
  return signer;
}
const JwtSigner& Hmac() {
  static const JwtSigner signer = JwtSigner::Hs256(kSecret);
  return signer;
}

// {"sub":"<sub>","exp":<exp>[,<extra>]}
std::string Claims(std::string_view sub = "u-42", std::int64_t exp = kNowSeconds + 300,
                   std::string_view extra = "") {
  std::string s = "{\"sub\":\"" + std::string(sub) + "\",\"exp\":" + std::to_string(exp);
  if (!extra.empty()) s += "," + std::string(extra);
  return s + "}";
}

JwtVerifier Make(JwtOptions options) {
  Result<JwtVerifier> v = JwtVerifier::Create(std::move(options));
  EXPECT_TRUE(v.ok()) << v.status().ToString();
  return std::move(v).value();
}

JwtVerifier HsVerifier(std::optional<std::string> issuer = std::nullopt,
                       std::optional<std::string> audience = std::nullopt) {
  return Make({.algorithm = JwtAlgorithm::kHs256,
               .secret = kSecret,
               .issuer = std::move(issuer),
               .audience = std::move(audience)});
}

JwtVerifier RsVerifier() {
  return Make({.algorithm = JwtAlgorithm::kRs256, .public_key_pem = Rsa().public_key_pem()});
}

JwtVerifier EsVerifier() {
  return Make({.algorithm = JwtAlgorithm::kEs256, .public_key_pem = Ec().public_key_pem()});
}

// Refused, with a message that starts like every refusal does.
void ExpectRefused(const JwtVerifier& v, std::string_view token, std::string_view why,
                   UnixMillis now = kNow) {
  Result<VerifiedToken> r = v.Verify(token, now);
  ASSERT_FALSE(r.ok()) << "accepted: " << token;
  EXPECT_EQ(r.status().code(), Status::Code::kInvalid);
  EXPECT_NE(r.status().message().find("invalid token"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find(why), std::string::npos)
      << "want \"" << why << "\", got: " << r.status().message();
}

std::string ExpectSubject(const JwtVerifier& v, std::string_view token, UnixMillis now = kNow) {
  Result<VerifiedToken> r = v.Verify(token, now);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? r->subject : "";
}

TEST(JwtAlgorithm, NamesRoundTripAndOthersAreRefused) {
  for (JwtAlgorithm a : {JwtAlgorithm::kHs256, JwtAlgorithm::kRs256, JwtAlgorithm::kEs256}) {
    Result<JwtAlgorithm> parsed = ParseJwtAlgorithm(JwtAlgorithmName(a));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, a);
  }
  EXPECT_FALSE(ParseJwtAlgorithm("none").ok());
  EXPECT_FALSE(ParseJwtAlgorithm("hs256").ok());
  EXPECT_FALSE(ParseJwtAlgorithm("PS256").ok());
}

TEST(JwtVerifierCreate, RefusesKeysThatDoNotFitTheAlgorithm) {
  auto invalid = [](JwtOptions o) {
    Result<JwtVerifier> v = JwtVerifier::Create(std::move(o));
    return !v.ok() && v.status().code() == Status::Code::kInvalid;
  };
  EXPECT_TRUE(invalid({.algorithm = JwtAlgorithm::kHs256, .secret = "short"}));
  EXPECT_TRUE(invalid({.algorithm = JwtAlgorithm::kHs256, .secret = std::string(31, 'x')}));
  EXPECT_TRUE(invalid({.algorithm = JwtAlgorithm::kHs256,
                       .secret = kSecret,
                       .public_key_pem = Rsa().public_key_pem()}));
  EXPECT_TRUE(invalid({.algorithm = JwtAlgorithm::kRs256}));
  EXPECT_TRUE(invalid({.algorithm = JwtAlgorithm::kRs256, .secret = kSecret}));
  EXPECT_TRUE(invalid({.algorithm = JwtAlgorithm::kRs256, .public_key_pem = "not a key"}));
  EXPECT_TRUE(
      invalid({.algorithm = JwtAlgorithm::kRs256, .public_key_pem = Ec().public_key_pem()}));
  EXPECT_TRUE(
      invalid({.algorithm = JwtAlgorithm::kEs256, .public_key_pem = Rsa().public_key_pem()}));
  EXPECT_TRUE(invalid({.algorithm = JwtAlgorithm::kRs256,
                       .public_key_pem = JwtSigner::Rs256(1024).public_key_pem()}));
  EXPECT_TRUE(invalid({.algorithm = JwtAlgorithm::kRs256,
                       .public_key_pem = Rsa().public_key_pem(),
                       .public_key_file = "/etc/hostname"}));
  EXPECT_TRUE(invalid(
      {.algorithm = JwtAlgorithm::kRs256, .public_key_file = "/nonexistent/firstcome/key.pem"}));
  EXPECT_TRUE(invalid(
      {.algorithm = JwtAlgorithm::kHs256, .secret = kSecret, .leeway = std::chrono::seconds(-1)}));
}

TEST(JwtVerifierCreate, ReadsThePublicKeyFromAFile) {
  const std::filesystem::path path = std::filesystem::temp_directory_path() /
                                     ("fc_jwt_key_" + std::to_string(::getpid()) + ".pem");
  {
    std::ofstream out(path);
    out << Ec().public_key_pem();
  }
  Result<JwtVerifier> v =
      JwtVerifier::Create({.algorithm = JwtAlgorithm::kEs256, .public_key_file = path.string()});
  std::filesystem::remove(path);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(ExpectSubject(*v, Ec().Sign(Claims())), "u-42");
}

TEST(JwtVerifier, AcceptsValidTokensOfEachAlgorithm) {
  EXPECT_EQ(ExpectSubject(HsVerifier(), Hmac().Sign(Claims("alice"))), "alice");
  EXPECT_EQ(ExpectSubject(RsVerifier(), Rsa().Sign(Claims("bob@example.com"))), "bob@example.com");
  EXPECT_EQ(ExpectSubject(EsVerifier(), Ec().Sign(Claims("carol:7"))), "carol:7");

  Result<VerifiedToken> r = HsVerifier().Verify(Hmac().Sign(Claims("u-1", kNowSeconds + 60)), kNow);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->expires_at, kNow + 60'000);
}

TEST(JwtVerifier, AcceptsTypJwtInAnyCaseAndNoTyp) {
  const JwtVerifier v = HsVerifier();
  EXPECT_EQ(ExpectSubject(v, Hmac().Sign(R"({"alg":"HS256"})", Claims())), "u-42");
  EXPECT_EQ(ExpectSubject(v, Hmac().Sign(R"({"typ":"jwt","alg":"HS256"})", Claims())), "u-42");
  ExpectRefused(v, Hmac().Sign(R"({"alg":"HS256","typ":"at+jwt"})", Claims()), "typ");
  ExpectRefused(v, Hmac().Sign(R"({"alg":"HS256","typ":1})", Claims()), "typ");
  ExpectRefused(v, Hmac().Sign(R"({"alg":"HS256","crit":["exp"]})", Claims()), "crit");
}

TEST(JwtVerifier, RefusesMalformedTokens) {
  const JwtVerifier v = HsVerifier();
  const std::string good = Hmac().Sign(Claims());
  ExpectRefused(v, "", "empty");
  ExpectRefused(v, "abc", "three");
  ExpectRefused(v, good.substr(0, good.rfind('.')), "three");
  ExpectRefused(v, good + ".", "three");
  ExpectRefused(v, good + ".xyz", "three");
  ExpectRefused(v, "..", "header");
  ExpectRefused(v, "*" + good, "base64url");
  ExpectRefused(v, "ey J." + good.substr(good.find('.') + 1), "base64url");
  // Standard base64 (+ /) and padding are not base64url.
  ExpectRefused(v, Base64UrlEncode(R"({"alg":"HS256"})") + "=" + good.substr(good.find('.')),
                "base64url");
  ExpectRefused(v, good.substr(0, good.rfind('.') + 1) + "ab+/", "base64url");
  // A length no base64 text has (4n + 1).
  ExpectRefused(v, "abcde" + good.substr(good.find('.')), "base64url");
  ExpectRefused(v, Base64UrlEncode("not json") + good.substr(good.find('.')), "header is not JSON");
  ExpectRefused(v, Base64UrlEncode(R"(["alg","HS256"])") + good.substr(good.find('.')),
                "not a JSON object");
  ExpectRefused(v, Hmac().Sign(R"({"alg":"HS256"} {})", Claims()), "header is not JSON");
  // Signed, so that the payload is reached.
  ExpectRefused(v, Hmac().Sign("not json"), "payload is not JSON");
  ExpectRefused(v, Hmac().Sign("[1,2]"), "payload is not a JSON object");
  ExpectRefused(v, Hmac().Sign(Claims() + "x"), "payload is not JSON");
}

TEST(JwtVerifier, RefusesBase64WithNonZeroUnusedBits) {
  // 32 signature bytes take 43 characters whose last one carries 2 unused
  // bits: another last character with the same 4 high bits would decode to
  // the same signature, so the token would have two spellings.
  const JwtVerifier v = HsVerifier();
  std::string token = Hmac().Sign(Claims());
  ASSERT_EQ(token.size() - token.rfind('.') - 1, 43u);
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const std::size_t value = alphabet.find(token.back());
  ASSERT_EQ(value & 3, 0u);
  token.back() = alphabet[value | 1];
  ExpectRefused(v, token, "base64url");
}

TEST(JwtVerifier, RefusesMissingOrOtherAlgorithms) {
  const JwtVerifier hs = HsVerifier();
  const std::string payload = Base64UrlEncode(Claims());
  ExpectRefused(hs, Base64UrlEncode(R"({"typ":"JWT"})") + "." + payload + ".", "no alg");
  ExpectRefused(hs, Hmac().Sign(R"({"alg":5})", Claims()), "no alg");
  // alg none: with and without a signature.
  ExpectRefused(hs, Base64UrlEncode(R"({"alg":"none"})") + "." + payload + ".",
                "alg must be HS256");
  ExpectRefused(hs, Hmac().Sign(R"({"alg":"none"})", Claims()), "alg must be HS256");
  ExpectRefused(RsVerifier(), Base64UrlEncode(R"({"alg":"none"})") + "." + payload + ".",
                "alg must be RS256");
  ExpectRefused(hs, Hmac().Sign(R"({"alg":"hs256"})", Claims()), "alg must be HS256");
}

TEST(JwtVerifier, RefusesAlgorithmConfusion) {
  // The classic attack: the RSA public key (which is public) used as an HMAC
  // secret, the token saying HS256, sent to a verifier that holds that key.
  const JwtSigner forger = JwtSigner::Hs256(Rsa().public_key_pem());
  const std::string forged = forger.Sign(Claims("admin"));
  ExpectRefused(RsVerifier(), forged, "alg must be RS256");
  // The forgery is otherwise perfect: an HS256 verifier with that secret takes it.
  EXPECT_EQ(
      ExpectSubject(Make({.algorithm = JwtAlgorithm::kHs256, .secret = Rsa().public_key_pem()}),
                    forged),
      "admin");
  // A forged token that claims RS256 but carries an HMAC is a bad signature.
  ExpectRefused(RsVerifier(), forger.Sign(R"({"alg":"RS256"})", Claims("admin")), "bad signature");

  ExpectRefused(HsVerifier(), Rsa().Sign(Claims()), "alg must be HS256");
  ExpectRefused(RsVerifier(), Ec().Sign(Claims()), "alg must be RS256");
  ExpectRefused(EsVerifier(), Rsa().Sign(Claims()), "alg must be ES256");
  ExpectRefused(EsVerifier(), Hmac().Sign(Claims()), "alg must be ES256");
}

std::string WithSignature(const std::string& token, std::string_view signature_b64) {
  return token.substr(0, token.rfind('.') + 1) + std::string(signature_b64);
}

TEST(JwtVerifier, RefusesBadSignatures) {
  struct Case {
    const JwtSigner& signer;
    JwtVerifier verifier;
  };
  std::vector<Case> cases;
  cases.push_back({Hmac(), HsVerifier()});
  cases.push_back({Rsa(), RsVerifier()});
  cases.push_back({Ec(), EsVerifier()});
  for (const Case& c : cases) {
    SCOPED_TRACE(c.signer.algorithm());
    const std::string token = c.signer.Sign(Claims());
    const std::size_t dot = token.rfind('.');
    std::string flipped = token;
    flipped[dot + 5] = flipped[dot + 5] == 'A' ? 'B' : 'A';
    ExpectRefused(c.verifier, flipped, "bad signature");
    ExpectRefused(c.verifier, token.substr(0, dot + 1), "bad signature");
    // Too short (40 characters: still canonical base64url) and too long.
    ExpectRefused(c.verifier, WithSignature(token, token.substr(dot + 1, 40)), "bad signature");
    ExpectRefused(c.verifier, token + "AAAA", "bad signature");
    ExpectRefused(c.verifier, WithSignature(token, Base64UrlEncode(std::string(64, '\0'))),
                  "bad signature");
    // The same signature over another payload.
    const std::string other = c.signer.Sign(Claims("mallory"));
    ExpectRefused(c.verifier, other.substr(0, other.rfind('.')) + token.substr(dot),
                  "bad signature");
  }
  // Signed by another key of the right type.
  ExpectRefused(RsVerifier(), OtherRsa().Sign(Claims()), "bad signature");
  ExpectRefused(EsVerifier(), JwtSigner::Es256().Sign(Claims()), "bad signature");
  ExpectRefused(HsVerifier(), JwtSigner::Hs256(kSecret + "!").Sign(Claims()), "bad signature");
}

TEST(JwtVerifier, ChecksExpiryWithLeeway) {
  const JwtVerifier v = HsVerifier();  // leeway 30 s
  ExpectRefused(v, Hmac().Sign(R"({"sub":"u-1"})"), "exp is missing");
  ExpectRefused(v, Hmac().Sign(R"({"sub":"u-1","exp":"soon"})"), "exp is not a number");
  ExpectRefused(v, Hmac().Sign(R"({"sub":"u-1","exp":null})"), "exp is not a number");
  ExpectRefused(v, Hmac().Sign(Claims("u-1", kNowSeconds - 31)), "expired");
  ExpectRefused(v, Hmac().Sign(Claims("u-1", kNowSeconds - 30)), "expired");
  EXPECT_EQ(ExpectSubject(v, Hmac().Sign(Claims("u-1", kNowSeconds - 29))), "u-1");
  EXPECT_EQ(ExpectSubject(v, Hmac().Sign(Claims("u-1", kNowSeconds))), "u-1");
  const std::string fractional = "{\"sub\":\"u-1\",\"exp\":" + std::to_string(kNowSeconds) + ".5}";
  EXPECT_EQ(ExpectSubject(v, Hmac().Sign(fractional)), "u-1");
  EXPECT_EQ(ExpectSubject(v, Hmac().Sign(R"({"sub":"u-1","exp":1e300})")), "u-1");

  const JwtVerifier strict = Make(
      {.algorithm = JwtAlgorithm::kHs256, .secret = kSecret, .leeway = std::chrono::seconds(0)});
  ExpectRefused(strict, Hmac().Sign(Claims("u-1", kNowSeconds)), "expired");
  EXPECT_EQ(ExpectSubject(strict, Hmac().Sign(Claims("u-1", kNowSeconds)), kNow - 1), "u-1");
}

TEST(JwtVerifier, HonoursNotBeforeWithLeeway) {
  const JwtVerifier v = HsVerifier();
  auto nbf = [](std::int64_t at) {
    return Hmac().Sign(Claims("u-1", kNowSeconds + 600, "\"nbf\":" + std::to_string(at)));
  };
  ExpectRefused(v, nbf(kNowSeconds + 31), "not valid yet");
  EXPECT_EQ(ExpectSubject(v, nbf(kNowSeconds + 30)), "u-1");
  EXPECT_EQ(ExpectSubject(v, nbf(kNowSeconds - 1000)), "u-1");
  ExpectRefused(v, Hmac().Sign(Claims("u-1", kNowSeconds + 600, R"("nbf":"later")")),
                "nbf is not a number");
}

TEST(JwtVerifier, ChecksIssuerWhenConfigured) {
  const JwtVerifier v = HsVerifier("https://id.example.com");
  EXPECT_EQ(ExpectSubject(v, Hmac().Sign(Claims("u-1", kNowSeconds + 60,
                                                R"("iss":"https://id.example.com")"))),
            "u-1");
  ExpectRefused(v, Hmac().Sign(Claims("u-1", kNowSeconds + 60, R"("iss":"https://evil.example")")),
                "wrong issuer");
  ExpectRefused(v, Hmac().Sign(Claims()), "wrong issuer");
  ExpectRefused(v,
                Hmac().Sign(Claims("u-1", kNowSeconds + 60, R"("iss":["https://id.example.com"])")),
                "wrong issuer");
  // Not configured: not checked.
  EXPECT_EQ(ExpectSubject(HsVerifier(),
                          Hmac().Sign(Claims("u-1", kNowSeconds + 60, R"("iss":"anyone")"))),
            "u-1");
}

TEST(JwtVerifier, ChecksAudienceStringOrArrayWhenConfigured) {
  const JwtVerifier v = HsVerifier(std::nullopt, "firstcome");
  auto aud = [](std::string_view json) {
    return Hmac().Sign(Claims("u-1", kNowSeconds + 60, "\"aud\":" + std::string(json)));
  };
  EXPECT_EQ(ExpectSubject(v, aud(R"("firstcome")")), "u-1");
  EXPECT_EQ(ExpectSubject(v, aud(R"(["shop","firstcome"])")), "u-1");
  ExpectRefused(v, aud(R"("shop")"), "wrong audience");
  ExpectRefused(v, aud(R"(["shop","firstcome-2"])"), "wrong audience");
  ExpectRefused(v, aud("[]"), "wrong audience");
  ExpectRefused(v, aud("7"), "wrong audience");
  ExpectRefused(v, aud(R"([["firstcome"]])"), "wrong audience");
  ExpectRefused(v, Hmac().Sign(Claims()), "wrong audience");
  EXPECT_EQ(ExpectSubject(HsVerifier(), aud(R"("shop")")), "u-1");
}

TEST(JwtVerifier, RefusesDuplicateKeys) {
  const JwtVerifier v = HsVerifier();
  const std::string exp = std::to_string(kNowSeconds + 60);
  ExpectRefused(v, Hmac().Sign(R"({"sub":"u-1","sub":"admin","exp":)" + exp + "}"),
                "payload has a duplicate key");
  ExpectRefused(v, Hmac().Sign(R"({"sub":"u-1","exp":)" + exp + R"(,"exp":)" + exp + "}"),
                "duplicate key");
  // Equal once unescaped.
  ExpectRefused(v, Hmac().Sign(R"({"sub":"u-1","s\u0075b":"admin","exp":)" + exp + "}"),
                "duplicate key");
  // In a nested object too.
  ExpectRefused(v, Hmac().Sign(Claims("u-1", kNowSeconds + 60, R"("x":{"a":1,"b":{},"a":2})")),
                "duplicate key");
  ExpectRefused(v, Hmac().Sign(R"({"alg":"HS256","alg":"none"})", Claims()),
                "header has a duplicate key");
  // The same name in different objects is fine.
  EXPECT_EQ(ExpectSubject(v, Hmac().Sign(Claims("u-1", kNowSeconds + 60,
                                                R"("x":{"sub":{"sub":1}},"y":[{"a":1},{"a":2}])"))),
            "u-1");
}

TEST(JwtVerifier, RefusesMissingOrInvalidSubject) {
  const JwtVerifier v = HsVerifier();
  const std::string exp = std::to_string(kNowSeconds + 60);
  ExpectRefused(v, Hmac().Sign(R"({"exp":)" + exp + "}"), "sub is missing");
  ExpectRefused(v, Hmac().Sign(R"({"sub":42,"exp":)" + exp + "}"), "sub is missing");
  ExpectRefused(v, Hmac().Sign(Claims("")), "sub is not a valid user id");
  ExpectRefused(v, Hmac().Sign(Claims("a b")), "sub is not a valid user id");
  ExpectRefused(v, Hmac().Sign(Claims("a/b")), "sub is not a valid user id");
  ExpectRefused(v, Hmac().Sign(Claims(std::string(65, 'x'))), "sub is not a valid user id");
  ExpectRefused(v, Hmac().Sign(Claims("u\\u0000")), "sub is not a valid user id");
  EXPECT_EQ(ExpectSubject(v, Hmac().Sign(Claims(std::string(64, 'x')))), std::string(64, 'x'));
}

TEST(JwtVerifier, RefusesOversizeTokens) {
  auto padded = [](std::size_t pad) {
    return Hmac().Sign(
        Claims("u-1", kNowSeconds + 60, "\"pad\":\"" + std::string(pad, 'p') + "\""));
  };
  // The default bound is 8 KiB.
  const JwtVerifier v = HsVerifier();
  const std::string under = padded(6000);
  ASSERT_LT(under.size(), 8 * 1024u);
  ASSERT_GT(under.size(), 8000u);
  EXPECT_EQ(ExpectSubject(v, under), "u-1");
  const std::string over = padded(6100);
  ASSERT_GT(over.size(), 8 * 1024u);
  ExpectRefused(v, over, "longer than 8192 bytes");
  ExpectRefused(v, std::string(100'000, 'a'), "longer than");

  // The bound is inclusive.
  const std::string token = Hmac().Sign(Claims());
  const JwtVerifier exact =
      Make({.algorithm = JwtAlgorithm::kHs256, .secret = kSecret, .max_token_bytes = token.size()});
  EXPECT_EQ(ExpectSubject(exact, token), "u-42");
  const JwtVerifier small = Make(
      {.algorithm = JwtAlgorithm::kHs256, .secret = kSecret, .max_token_bytes = token.size() - 1});
  ExpectRefused(small, token, "longer than " + std::to_string(token.size() - 1) + " bytes");
}

TEST(JwtVerifier, VerifiesConcurrently) {
  const JwtVerifier rs = RsVerifier();
  const JwtVerifier es = EsVerifier();
  const JwtVerifier hs = HsVerifier();
  const std::string rs_token = Rsa().Sign(Claims("r"));
  const std::string es_token = Ec().Sign(Claims("e"));
  const std::string hs_token = Hmac().Sign(Claims("h"));
  const std::string bad = OtherRsa().Sign(Claims("r"));
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        Result<VerifiedToken> a = rs.Verify(rs_token, kNow);
        Result<VerifiedToken> b = es.Verify(es_token, kNow);
        Result<VerifiedToken> c = hs.Verify(hs_token, kNow);
        Result<VerifiedToken> d = rs.Verify(bad, kNow);
        if (!a.ok() || a->subject != "r" || !b.ok() || b->subject != "e" || !c.ok() ||
            c->subject != "h" || d.ok()) {
          ++failures;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST(JwtVerifier, CopiesShareTheKeyAndStayUsable) {
  std::optional<JwtVerifier> copy;
  {
    const JwtVerifier original = RsVerifier();
    copy.emplace(original);
  }
  EXPECT_EQ(ExpectSubject(*copy, Rsa().Sign(Claims())), "u-42");
}

}  // namespace
}  // namespace firstcome::edge
