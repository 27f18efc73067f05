#ifndef PATRON_CSUPPORT_SHIM_H
#define PATRON_CSUPPORT_SHIM_H
// Small helpers Swift has no spelling for.

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#if defined(__linux__)
#include <sys/random.h>
#endif

/// Asks the CPU to bring the cache line holding `p` in ahead of a write (a hint: it
/// never faults, whatever `p` is).
static inline void patron_prefetch(const void *p) { __builtin_prefetch(p, 1, 3); }

/// Whether this CPU computes CRC-32C in hardware (x86-64 with SSE 4.2, asked at run
/// time; arm64 when compiled for the CRC extension), so that ``patron_crc32c_update``
/// may be called.
static inline int patron_has_crc32c(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2");
#elif defined(__aarch64__) && defined(__ARM_FEATURE_CRC32)
    return 1;
#else
    return 0;
#endif
}

/// Runs CRC-32C (Castagnoli, reflected) over `n` bytes at `p` from the running value
/// `crc` (no inversion in or out), with the CPU's instruction: call only when
/// ``patron_has_crc32c`` says it exists (elsewhere it returns `crc` unchanged).
#if defined(__x86_64__)
#define PATRON_CRC32C_TARGET __attribute__((target("sse4.2")))
#define PATRON_CRC32C_8(c, w) ((uint32_t)__builtin_ia32_crc32di((c), (w)))
#define PATRON_CRC32C_1(c, b) __builtin_ia32_crc32qi((c), (b))
#elif defined(__aarch64__) && defined(__ARM_FEATURE_CRC32)
#define PATRON_CRC32C_TARGET
#define PATRON_CRC32C_8(c, w) __builtin_arm_crc32cd((c), (w))
#define PATRON_CRC32C_1(c, b) __builtin_arm_crc32cb((c), (b))
#endif
#if defined(PATRON_CRC32C_8)
PATRON_CRC32C_TARGET
static inline uint32_t patron_crc32c_update(uint32_t crc, const void *p, size_t n) {
    const unsigned char *b = (const unsigned char *)p;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, b, 8);
        crc = PATRON_CRC32C_8(crc, w);
        b += 8;
        n -= 8;
    }
    while (n > 0) {
        crc = PATRON_CRC32C_1(crc, *b);
        b += 1;
        n -= 1;
    }
    return crc;
}
#else
static inline uint32_t patron_crc32c_update(uint32_t crc, const void *p, size_t n) {
    (void)p;
    (void)n;
    return crc;
}
#endif

/// Fills `n` bytes at `p` from the kernel's secure random source in one call
/// (`getrandom`, Linux); returns the bytes filled, or -1 where there is no such call
/// (or it failed).
static inline long patron_random_bytes(void *p, size_t n) {
#if defined(__linux__)
    return (long)getrandom(p, n, 0);
#else
    (void)p;
    (void)n;
    return -1;
#endif
}
#endif
