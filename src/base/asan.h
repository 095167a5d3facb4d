/* L0 base/asan: whether this build runs under AddressSanitizer. */
#ifndef SL_ASAN_H
#define SL_ASAN_H

/* SL_ASAN is 1 under AddressSanitizer, whichever compiler: gcc defines
 * __SANITIZE_ADDRESS__, clang (the fuzz build) only answers
 * __has_feature(address_sanitizer). Pools that keep freed blocks for
 * reuse (rcbufs, Lua's slab) turn themselves off with it, so that ASan
 * sees every free. gcc 12 rejects __has_feature(...) in the same #if as
 * defined(__has_feature), hence the nesting. */
#if defined(__SANITIZE_ADDRESS__)
#define SL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SL_ASAN 1
#endif
#endif
#ifndef SL_ASAN
#define SL_ASAN 0
#endif

#endif
