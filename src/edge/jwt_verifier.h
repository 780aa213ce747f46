// JwtVerifier: checks a compact JWS (RFC 7515/7519) bearer token and yields
// its subject, for `user_auth = jwt`.
//
// Invariants:
//  - The algorithm comes from the configuration only. A token whose header
//    names another one (including "none", or HS256 against an RSA key) is
//    refused before any signature check, so algorithm confusion is impossible.
//  - The key is checked against the algorithm when the verifier is built: an
//    RS256 verifier holds an RSA key of at least 2048 bits, an ES256 verifier
//    a P-256 key, an HS256 verifier a secret of at least 32 bytes (RFC 7518
//    section 3.2).
//  - The payload is parsed only after the signature is good, so unsigned
//    input reaches nothing but the header parser.
//  - A JwtVerifier is immutable once built; Verify may be called from any
//    number of threads at once.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/event.h"
#include "core/status.h"

// OpenSSL's key type, kept out of this header.
struct evp_pkey_st;

namespace firstcome::edge {

enum class JwtAlgorithm { kHs256, kRs256, kEs256 };

// "HS256", "RS256", "ES256" (exact, as in the JWS "alg" header).
std::string_view JwtAlgorithmName(JwtAlgorithm algorithm);
Result<JwtAlgorithm> ParseJwtAlgorithm(std::string_view name);

struct JwtOptions {
  JwtAlgorithm algorithm = JwtAlgorithm::kHs256;
  // HS256: the shared secret (raw bytes).
  std::string secret;
  // RS256 / ES256: the public key as PEM "PUBLIC KEY" (SubjectPublicKeyInfo,
  // what `openssl pkey -pubout` writes), given either as text or as the path
  // of a file holding it. Exactly one of the two.
  std::string public_key_pem;
  std::string public_key_file;
  // When set, "iss" must equal it.
  std::optional<std::string> issuer;
  // When set, "aud" (a string or an array of strings) must contain it. When
  // unset, "aud" is not looked at (the contract checks it only when set).
  std::optional<std::string> audience;
  // Allowed clock difference for "exp" and "nbf".
  std::chrono::seconds leeway{30};
  // Longer tokens are refused before any decoding.
  std::size_t max_token_bytes = 8 * 1024;
};

struct VerifiedToken {
  std::string subject;    // "sub", a valid id (IsValidId)
  UnixMillis expires_at;  // "exp", in milliseconds
};

class JwtVerifier {
 public:
  // Status::Invalid when the key does not parse, does not match the
  // algorithm, or the secret is too short.
  static Result<JwtVerifier> Create(JwtOptions options);

  // The subject of a token that is well formed, signed with the configured
  // key and algorithm, and valid at `now`. Any other token: Status::Invalid
  // with a message saying what is wrong (the HTTP layer answers 401).
  Result<VerifiedToken> Verify(std::string_view token, UnixMillis now) const;

  JwtAlgorithm algorithm() const { return options_.algorithm; }

 private:
  JwtVerifier(JwtOptions options, std::shared_ptr<evp_pkey_st> key)
      : options_(std::move(options)), key_(std::move(key)) {}

  Status CheckSignature(std::string_view signing_input, std::string_view signature) const;

  JwtOptions options_;
  // RS256/ES256 only; shared between copies, never modified after Create.
  std::shared_ptr<evp_pkey_st> key_;
};

}  // namespace firstcome::edge
