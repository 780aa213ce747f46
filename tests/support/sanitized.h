// Whether this test binary is built with a sanitizer (scripts/sanitize): the
// firstcome binary the integration tests start is built with the same flags,
// and runs several times slower. Service-heavy tests then use smaller bursts
// (Sanitized(release, sanitized)); what they assert stays the same, and the
// release build runs them at full size.
#pragma once

namespace firstcome::test {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif
#else
inline constexpr bool kSanitized = false;
#endif

// `release` in a release build, `sanitized` in a sanitizer build.
template <typename T>
constexpr T Sanitized(T release, T sanitized) {
  return kSanitized ? sanitized : release;
}

}  // namespace firstcome::test
