#include "jwt_signer.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <stdexcept>
#include <vector>

namespace firstcome::test {
namespace {

void Check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("jwt_signer: ") + what + " failed");
}

std::shared_ptr<EVP_PKEY> Own(EVP_PKEY* key) {
  Check(key != nullptr, "key generation");
  return std::shared_ptr<EVP_PKEY>(key, &EVP_PKEY_free);
}

std::string PublicPem(EVP_PKEY* key) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  Check(bio != nullptr && PEM_write_bio_PUBKEY(bio.get(), key) == 1, "PEM_write_bio_PUBKEY");
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

std::string DigestSign(EVP_PKEY* key, std::string_view input) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  Check(ctx != nullptr && EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) == 1,
        "EVP_DigestSignInit");
  const auto* data = reinterpret_cast<const unsigned char*>(input.data());
  std::size_t len = 0;
  Check(EVP_DigestSign(ctx.get(), nullptr, &len, data, input.size()) == 1, "EVP_DigestSign");
  std::string sig(len, '\0');
  Check(EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, data,
                       input.size()) == 1,
        "EVP_DigestSign");
  sig.resize(len);
  return sig;
}

// DER ECDSA-Sig-Value to the JWS form R || S, 32 bytes each.
std::string RawEcdsa(const std::string& der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> sig(
      d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())), &ECDSA_SIG_free);
  Check(sig != nullptr, "d2i_ECDSA_SIG");
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  std::string raw(64, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  Check(BN_bn2binpad(r, out, 32) == 32 && BN_bn2binpad(s, out + 32, 32) == 32, "BN_bn2binpad");
  return raw;
}

}  // namespace

std::string Base64UrlEncode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return out;
}

JwtSigner JwtSigner::Hs256(std::string secret) {
  JwtSigner signer;
  signer.algorithm_ = "HS256";
  signer.secret_ = std::move(secret);
  return signer;
}

JwtSigner JwtSigner::Rs256(int bits) {
  JwtSigner signer;
  signer.algorithm_ = "RS256";
  signer.key_ = Own(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(bits)));
  signer.public_key_pem_ = PublicPem(signer.key_.get());
  return signer;
}

JwtSigner JwtSigner::Es256() {
  JwtSigner signer;
  signer.algorithm_ = "ES256";
  signer.key_ = Own(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  signer.public_key_pem_ = PublicPem(signer.key_.get());
  return signer;
}

std::string JwtSigner::Sign(std::string_view header_json, std::string_view payload_json) const {
  std::string input = Base64UrlEncode(header_json) + "." + Base64UrlEncode(payload_json);
  std::string signature;
  if (algorithm_ == "HS256") {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    Check(HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()),
               reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac,
               &len) != nullptr,
          "HMAC");
    signature.assign(reinterpret_cast<const char*>(mac), len);
  } else if (algorithm_ == "RS256") {
    signature = DigestSign(key_.get(), input);
  } else {
    signature = RawEcdsa(DigestSign(key_.get(), input));
  }
  return input + "." + Base64UrlEncode(signature);
}

std::string JwtSigner::Sign(std::string_view payload_json) const {
  return Sign("{\"alg\":\"" + algorithm_ + "\",\"typ\":\"JWT\"}", payload_json);
}

}  // namespace firstcome::test
