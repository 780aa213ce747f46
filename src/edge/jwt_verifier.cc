#include "edge/jwt_verifier.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <array>
#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/value.hpp>
#include <boost/json/value_stack.hpp>
#include <cmath>
#include <fstream>
#include <iterator>
#include <limits>
#include <vector>

namespace firstcome::edge {
namespace {

namespace json = boost::json;

constexpr std::size_t kHmacSha256Bytes = 32;
constexpr std::size_t kEs256CoordinateBytes = 32;
constexpr int kMinRsaBits = 2048;
constexpr std::size_t kMaxKeyFileBytes = 1 << 20;

Status Refused(std::string_view why) {
  return Status::Invalid("invalid token: " + std::string(why));
}

// OpenSSL keeps a per-thread error queue; a failed call leaves entries there
// that would otherwise surface in an unrelated later call on this thread.
struct ErrorQueueGuard {
  ~ErrorQueueGuard() { ERR_clear_error(); }
};

// --- base64url (RFC 4648 section 5, no padding, as JWS requires) ---------

// Value of a base64url character, or -1.
int Base64UrlValue(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

// The bytes of a base64url text, or nullopt when it is not canonical
// base64url. The decoding itself is OpenSSL's EVP_DecodeBlock (no hand-made
// decoder; Boost has none that is public). EVP_DecodeBlock is lenient (it skips
// surrounding whitespace, knows only the +/ alphabet and pads with zero bytes)
// so the strictness is here: only the url alphabet, no padding, no length
// that cannot occur, and zero unused bits in the last character, so that one
// byte string has exactly one encoding.
std::optional<std::string> DecodeBase64Url(std::string_view text) {
  const std::size_t rem = text.size() % 4;
  if (rem == 1) return std::nullopt;
  std::string translated;
  translated.reserve(text.size() + 3);
  for (char c : text) {
    if (Base64UrlValue(c) < 0) return std::nullopt;
    translated.push_back(c == '-' ? '+' : c == '_' ? '/' : c);
  }
  std::size_t padding = 0;
  if (rem != 0) {
    const int last = Base64UrlValue(text.back());
    // 2 characters carry 1 byte (4 unused bits), 3 carry 2 bytes (2 unused).
    const int unused_mask = rem == 2 ? 0x0f : 0x03;
    if ((last & unused_mask) != 0) return std::nullopt;
    padding = 4 - rem;
    translated.append(padding, '=');
  }
  std::string out(translated.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(translated.data()),
                                static_cast<int>(translated.size()));
  // EVP_DecodeBlock counts the zero bytes the padding stands for.
  if (n < 0 || static_cast<std::size_t>(n) != out.size()) return std::nullopt;
  out.resize(out.size() - padding);
  return out;
}

// --- JSON with duplicate keys refused --------------------------------------

// A Boost.JSON basic_parser handler that builds the value exactly as
// boost::json::parser does (through a value_stack) and also refuses any
// object with two equal keys. Boost.JSON 1.81 has no option for this and
// silently keeps the last of duplicates; a token whose claims mean different
// things to different parsers must not pass. Keys are compared after
// unescaping ("a" and "\u0061" are the same key), once per object, by sorting
// that object's keys: O(n log n) even for a hostile header.
class StrictJsonHandler {
 public:
  static constexpr std::size_t max_object_size = json::object::max_size();
  static constexpr std::size_t max_array_size = json::array::max_size();
  static constexpr std::size_t max_key_size = json::string::max_size();
  static constexpr std::size_t max_string_size = json::string::max_size();

  json::value_stack& stack() { return stack_; }
  bool duplicate_key() const { return duplicate_key_; }

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) {
    frames_.push_back(keys_.size());
    return true;
  }
  bool on_object_end(std::size_t n, json::error_code& ec) {
    const auto first = keys_.begin() + static_cast<std::ptrdiff_t>(frames_.back());
    std::sort(first, keys_.end());
    if (std::adjacent_find(first, keys_.end()) != keys_.end()) {
      duplicate_key_ = true;
      ec = json::error::syntax;
      return false;
    }
    keys_.erase(first, keys_.end());
    frames_.pop_back();
    stack_.push_object(n);
    return true;
  }
  bool on_array_begin(json::error_code&) { return true; }
  bool on_array_end(std::size_t n, json::error_code&) {
    stack_.push_array(n);
    return true;
  }
  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    key_.append(s.data(), s.size());
    stack_.push_chars(s);
    return true;
  }
  bool on_key(json::string_view s, std::size_t, json::error_code&) {
    key_.append(s.data(), s.size());
    keys_.push_back(std::move(key_));
    key_.clear();
    stack_.push_key(s);
    return true;
  }
  bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
    stack_.push_chars(s);
    return true;
  }
  bool on_string(json::string_view s, std::size_t, json::error_code&) {
    stack_.push_string(s);
    return true;
  }
  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(std::int64_t i, json::string_view, json::error_code&) {
    stack_.push_int64(i);
    return true;
  }
  bool on_uint64(std::uint64_t u, json::string_view, json::error_code&) {
    stack_.push_uint64(u);
    return true;
  }
  bool on_double(double d, json::string_view, json::error_code&) {
    stack_.push_double(d);
    return true;
  }
  bool on_bool(bool b, json::error_code&) {
    stack_.push_bool(b);
    return true;
  }
  bool on_null(json::error_code&) {
    stack_.push_null();
    return true;
  }
  // Comments are off in the parse options; these are never called.
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

 private:
  json::value_stack stack_;
  std::string key_;                  // the key being read (it may come in parts)
  std::vector<std::string> keys_;    // keys of every open object, innermost last
  std::vector<std::size_t> frames_;  // where each open object's keys start in keys_
  bool duplicate_key_ = false;
};

// The JSON object in a decoded header or payload (`part` names it in messages).
Result<json::object> ParseJsonObject(std::string_view text, std::string_view part) {
  json::basic_parser<StrictJsonHandler> parser{json::parse_options{}};
  parser.handler().stack().reset();
  json::error_code ec;
  const std::size_t used = parser.write_some(false, text.data(), text.size(), ec);
  if (parser.handler().duplicate_key()) {
    return Refused(std::string(part) + " has a duplicate key");
  }
  if (ec || used != text.size()) return Refused(std::string(part) + " is not JSON");
  json::value value = parser.handler().stack().release();
  if (!value.is_object()) return Refused(std::string(part) + " is not a JSON object");
  return std::move(value.as_object());
}

// A NumericDate claim (seconds, possibly fractional): nullopt when absent.
Result<std::optional<double>> NumericClaim(const json::object& claims, std::string_view name) {
  const json::value* v = claims.if_contains(name);
  if (v == nullptr) return std::optional<double>();
  if (!v->is_number()) return Refused(std::string(name) + " is not a number");
  const double seconds = v->to_number<double>();
  if (!std::isfinite(seconds)) return Refused(std::string(name) + " is not a finite number");
  return std::optional<double>(seconds);
}

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; };
           return lower(x) == lower(y);
         });
}

// --- keys -------------------------------------------------------------------

Result<std::string> ReadKeyFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Invalid("cannot read the JWT public key file " + path);
  std::string text;
  char buffer[4096];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    text.append(buffer, static_cast<std::size_t>(in.gcount()));
    if (text.size() > kMaxKeyFileBytes) {
      return Status::Invalid("the JWT public key file " + path + " is too large for a PEM key");
    }
  }
  if (in.bad()) return Status::Invalid("cannot read the JWT public key file " + path);
  return text;
}

Result<std::shared_ptr<EVP_PKEY>> LoadPublicKey(JwtAlgorithm algorithm, const std::string& pem) {
  ErrorQueueGuard clear_errors;
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), int(pem.size())),
                                                &BIO_free);
  if (bio == nullptr) return Status::Internal("out of memory reading the JWT public key");
  std::shared_ptr<EVP_PKEY> key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr),
                                &EVP_PKEY_free);
  if (key == nullptr) {
    return Status::Invalid(
        "the JWT public key is not a PEM \"PUBLIC KEY\" (openssl pkey -pubout writes one)");
  }
  if (algorithm == JwtAlgorithm::kRs256) {
    // EVP_PKEY_is_a(.., "RSA") is false for RSA-PSS keys, which RS256 must not use.
    if (!EVP_PKEY_is_a(key.get(), "RSA")) {
      return Status::Invalid("RS256 needs an RSA public key");
    }
    if (EVP_PKEY_get_bits(key.get()) < kMinRsaBits) {
      return Status::Invalid("RS256 needs an RSA key of at least 2048 bits");
    }
  } else {
    if (!EVP_PKEY_is_a(key.get(), "EC")) return Status::Invalid("ES256 needs an EC public key");
    char group[64] = {};
    std::size_t group_len = 0;
    if (EVP_PKEY_get_group_name(key.get(), group, sizeof group, &group_len) != 1 ||
        OBJ_sn2nid(group) != NID_X9_62_prime256v1) {
      return Status::Invalid("ES256 needs an EC key on the P-256 curve");
    }
  }
  return key;
}

}  // namespace

std::string_view JwtAlgorithmName(JwtAlgorithm algorithm) {
  switch (algorithm) {
    case JwtAlgorithm::kHs256:
      return "HS256";
    case JwtAlgorithm::kRs256:
      return "RS256";
    case JwtAlgorithm::kEs256:
      return "ES256";
  }
  return "?";
}

Result<JwtAlgorithm> ParseJwtAlgorithm(std::string_view name) {
  for (JwtAlgorithm a : {JwtAlgorithm::kHs256, JwtAlgorithm::kRs256, JwtAlgorithm::kEs256}) {
    if (name == JwtAlgorithmName(a)) return a;
  }
  return Status::Invalid("JWT algorithm must be HS256, RS256 or ES256, not \"" + std::string(name) +
                         "\"");
}

Result<JwtVerifier> JwtVerifier::Create(JwtOptions options) {
  if (options.leeway.count() < 0) return Status::Invalid("JWT leeway must not be negative");
  const bool has_pem = !options.public_key_pem.empty();
  const bool has_file = !options.public_key_file.empty();
  if (options.algorithm == JwtAlgorithm::kHs256) {
    if (has_pem || has_file) {
      return Status::Invalid("HS256 takes a secret, not a public key");
    }
    if (options.secret.size() < kHmacSha256Bytes) {
      return Status::Invalid("the HS256 secret must be at least 32 bytes");
    }
    return JwtVerifier(std::move(options), nullptr);
  }
  const std::string_view name = JwtAlgorithmName(options.algorithm);
  if (!options.secret.empty()) {
    return Status::Invalid(std::string(name) + " takes a public key, not a secret");
  }
  if (has_pem == has_file) {
    return Status::Invalid(std::string(name) + " needs a public key: a PEM file or PEM text");
  }
  std::string pem = options.public_key_pem;
  if (has_file) {
    Result<std::string> text = ReadKeyFile(options.public_key_file);
    if (!text.ok()) return text.status();
    pem = std::move(text).value();
  }
  Result<std::shared_ptr<EVP_PKEY>> key = LoadPublicKey(options.algorithm, pem);
  if (!key.ok()) return key.status();
  return JwtVerifier(std::move(options), std::move(key).value());
}

Status JwtVerifier::CheckSignature(std::string_view signing_input,
                                   std::string_view signature) const {
  ErrorQueueGuard clear_errors;
  const auto* data = reinterpret_cast<const unsigned char*>(signing_input.data());
  const auto* sig = reinterpret_cast<const unsigned char*>(signature.data());

  if (options_.algorithm == JwtAlgorithm::kHs256) {
    if (signature.size() != kHmacSha256Bytes) return Refused("bad signature");
    std::array<unsigned char, EVP_MAX_MD_SIZE> mac;
    unsigned int mac_len = 0;
    if (HMAC(EVP_sha256(), options_.secret.data(), static_cast<int>(options_.secret.size()), data,
             signing_input.size(), mac.data(), &mac_len) == nullptr ||
        mac_len != kHmacSha256Bytes) {
      return Status::Internal("HMAC-SHA256 failed");
    }
    // Constant time: how many leading bytes matched must not leak.
    if (CRYPTO_memcmp(mac.data(), sig, kHmacSha256Bytes) != 0) return Refused("bad signature");
    return Status::Ok();
  }

  // RS256 verifies the JWS signature as is. ES256's is R || S (32 bytes
  // each, RFC 7518 section 3.4); OpenSSL verifies DER ECDSA-Sig-Value.
  std::string der;
  if (options_.algorithm == JwtAlgorithm::kEs256) {
    if (signature.size() != 2 * kEs256CoordinateBytes) return Refused("bad signature");
    std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> ecdsa(ECDSA_SIG_new(), &ECDSA_SIG_free);
    BIGNUM* r = BN_bin2bn(sig, kEs256CoordinateBytes, nullptr);
    BIGNUM* s = BN_bin2bn(sig + kEs256CoordinateBytes, kEs256CoordinateBytes, nullptr);
    if (ecdsa == nullptr || r == nullptr || s == nullptr ||
        ECDSA_SIG_set0(ecdsa.get(), r, s) != 1) {
      BN_free(r);
      BN_free(s);
      return Status::Internal("out of memory checking an ES256 signature");
    }
    // ECDSA_SIG_set0 took r and s.
    unsigned char* out = nullptr;
    const int der_len = i2d_ECDSA_SIG(ecdsa.get(), &out);
    if (der_len <= 0) return Status::Internal("cannot encode an ES256 signature");
    der.assign(reinterpret_cast<const char*>(out), static_cast<std::size_t>(der_len));
    OPENSSL_free(out);
    sig = reinterpret_cast<const unsigned char*>(der.data());
  } else if (signature.size() != static_cast<std::size_t>(EVP_PKEY_get_size(key_.get()))) {
    return Refused("bad signature");
  }
  const std::size_t sig_len = der.empty() ? signature.size() : der.size();

  // A context per call: the shared EVP_PKEY is only read.
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  EVP_PKEY_CTX* pkey_ctx = nullptr;  // owned by ctx
  if (ctx == nullptr ||
      EVP_DigestVerifyInit(ctx.get(), &pkey_ctx, EVP_sha256(), nullptr, key_.get()) != 1) {
    return Status::Internal("cannot start a signature check");
  }
  if (options_.algorithm == JwtAlgorithm::kRs256 &&
      EVP_PKEY_CTX_set_rsa_padding(pkey_ctx, RSA_PKCS1_PADDING) != 1) {
    return Status::Internal("cannot select PKCS#1 v1.5 padding");
  }
  // 1: good; 0: bad signature; < 0: malformed signature or failure. Only a
  // 1 lets the token through.
  if (EVP_DigestVerify(ctx.get(), sig, sig_len, data, signing_input.size()) != 1) {
    return Refused("bad signature");
  }
  return Status::Ok();
}

Result<VerifiedToken> JwtVerifier::Verify(std::string_view token, UnixMillis now) const {
  if (token.empty()) return Refused("empty");
  if (token.size() > options_.max_token_bytes) {
    return Refused("longer than " + std::to_string(options_.max_token_bytes) + " bytes");
  }
  const std::size_t dot1 = token.find('.');
  const std::size_t dot2 = dot1 == token.npos ? token.npos : token.find('.', dot1 + 1);
  if (dot2 == token.npos || token.find('.', dot2 + 1) != token.npos) {
    return Refused("not three dot-separated parts");
  }
  const std::string_view header_text = token.substr(0, dot1);
  const std::string_view payload_text = token.substr(dot1 + 1, dot2 - dot1 - 1);
  const std::string_view signature_text = token.substr(dot2 + 1);

  // Header first: it decides nothing but whether to go on.
  std::optional<std::string> header_json = DecodeBase64Url(header_text);
  if (!header_json) return Refused("header is not base64url");
  Result<json::object> header = ParseJsonObject(*header_json, "header");
  if (!header.ok()) return header.status();
  const json::value* alg = header->if_contains("alg");
  if (alg == nullptr || !alg->is_string()) return Refused("header has no alg");
  const std::string_view want = JwtAlgorithmName(options_.algorithm);
  if (alg->as_string() != want) {
    return Refused("alg must be " + std::string(want));
  }
  if (const json::value* typ = header->if_contains("typ")) {
    // Media type names compare case-insensitively (RFC 7515 section 4.1.9).
    if (!typ->is_string() || !EqualsIgnoringCase(typ->as_string(), "JWT")) {
      return Refused("typ must be JWT");
    }
  }
  // RFC 7515 section 4.1.11: extensions we do not implement must be refused.
  if (header->contains("crit")) return Refused("crit extensions are not supported");

  std::optional<std::string> signature = DecodeBase64Url(signature_text);
  if (!signature) return Refused("signature is not base64url");
  if (Status s = CheckSignature(token.substr(0, dot2), *signature); !s.ok()) return s;

  std::optional<std::string> payload_json = DecodeBase64Url(payload_text);
  if (!payload_json) return Refused("payload is not base64url");
  Result<json::object> claims = ParseJsonObject(*payload_json, "payload");
  if (!claims.ok()) return claims.status();

  const double now_ms = static_cast<double>(now);
  const double leeway_ms = 1000.0 * static_cast<double>(options_.leeway.count());
  Result<std::optional<double>> exp = NumericClaim(*claims, "exp");
  if (!exp.ok()) return exp.status();
  if (!exp->has_value()) return Refused("exp is missing");
  const double exp_ms = 1000.0 * **exp;
  // RFC 7519 section 4.1.4: valid only strictly before exp.
  if (now_ms >= exp_ms + leeway_ms) return Refused("expired");
  Result<std::optional<double>> nbf = NumericClaim(*claims, "nbf");
  if (!nbf.ok()) return nbf.status();
  if (nbf->has_value() && now_ms + leeway_ms < 1000.0 * **nbf) return Refused("not valid yet");

  if (options_.issuer) {
    const json::value* iss = claims->if_contains("iss");
    if (iss == nullptr || !iss->is_string() || iss->as_string() != *options_.issuer) {
      return Refused("wrong issuer");
    }
  }
  if (options_.audience) {
    const json::value* aud = claims->if_contains("aud");
    bool found = false;
    if (aud != nullptr && aud->is_string()) {
      found = aud->as_string() == *options_.audience;
    } else if (aud != nullptr && aud->is_array()) {
      for (const json::value& v : aud->as_array()) {
        if (v.is_string() && v.as_string() == *options_.audience) found = true;
      }
    }
    if (!found) return Refused("wrong audience");
  }

  const json::value* sub = claims->if_contains("sub");
  if (sub == nullptr || !sub->is_string()) return Refused("sub is missing");
  const std::string_view subject(sub->as_string().data(), sub->as_string().size());
  if (!IsValidId(subject)) return Refused("sub is not a valid user id");

  VerifiedToken verified;
  verified.subject = std::string(subject);
  // Clamped: exp may be any finite number.
  constexpr double kMaxMillis = 9.0e18;
  verified.expires_at = static_cast<UnixMillis>(std::clamp(exp_ms, -kMaxMillis, kMaxMillis));
  return verified;
}

}  // namespace firstcome::edge
