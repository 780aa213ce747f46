// A JWT signer for tests (HS256, RS256, ES256 through OpenSSL), so that tests
// can mint tokens the server must accept or refuse. Header and payload are
// given as JSON text, untouched, so that a test can craft odd ones
// (duplicate keys, "alg": "none", a wrong alg for the key).
// Failures throw std::runtime_error: they are bugs in the test setup.
#pragma once

#include <memory>
#include <string>
#include <string_view>

struct evp_pkey_st;

namespace firstcome::test {

// RFC 4648 section 5 without padding.
std::string Base64UrlEncode(std::string_view bytes);

class JwtSigner {
 public:
  static JwtSigner Hs256(std::string secret);
  static JwtSigner Rs256(int bits = 2048);  // a fresh RSA key
  static JwtSigner Es256();                 // a fresh P-256 key

  // header.payload.signature, signed with this signer's algorithm and key
  // whatever `header_json` says.
  std::string Sign(std::string_view header_json, std::string_view payload_json) const;
  // With the header {"alg":"<this algorithm>","typ":"JWT"}.
  std::string Sign(std::string_view payload_json) const;

  const std::string& algorithm() const { return algorithm_; }
  // RS256/ES256: the public key as PEM "PUBLIC KEY"; empty for HS256.
  const std::string& public_key_pem() const { return public_key_pem_; }

 private:
  JwtSigner() = default;
  std::string algorithm_;
  std::string secret_;
  std::shared_ptr<evp_pkey_st> key_;
  std::string public_key_pem_;
};

}  // namespace firstcome::test
