// Fuzz target: user JWTs as they arrive in "Authorization: Bearer …", through
// the verifier configured for HS256 (the signature is checked before the
// payload is parsed, so the input's second byte decides whether the rest is
// signed with the right secret: then header and payload parsing are reached).
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "edge/jwt_verifier.h"

namespace {

constexpr std::string_view kSecret = "fuzzing-secret-of-at-least-32-bytes!";

std::string Base64Url(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const firstcome::edge::JwtVerifier verifier = [] {
    auto v = firstcome::edge::JwtVerifier::Create(
        {.algorithm = firstcome::edge::JwtAlgorithm::kHs256, .secret = std::string(kSecret)});
    if (!v.ok()) std::abort();
    return std::move(*v);
  }();
  if (size < 1) return 0;
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  std::string token;
  if (data[0] & 1) {
    // Raw: the bytes are the token.
    token.assign(rest);
  } else {
    // Signed: "header-json\npayload-json" becomes a correctly signed token.
    std::size_t nl = rest.find('\n');
    std::string signing = Base64Url(rest.substr(0, nl)) + "." +
                          Base64Url(nl == std::string_view::npos ? "" : rest.substr(nl + 1));
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    HMAC(EVP_sha256(), kSecret.data(), static_cast<int>(kSecret.size()),
         reinterpret_cast<const unsigned char*>(signing.data()), signing.size(), mac, &mac_len);
    token = signing + "." + Base64Url(std::string_view(reinterpret_cast<char*>(mac), mac_len));
  }
  auto verified = verifier.Verify(token, 1'800'000'000'000);
  if (verified.ok() && !firstcome::IsValidId(verified->subject)) std::abort();
  return 0;
}
