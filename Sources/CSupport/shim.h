#ifndef PATRON_CSUPPORT_SHIM_H
#define PATRON_CSUPPORT_SHIM_H
// Small helpers Swift has no spelling for.

#if defined(__GLIBC__)
#include <malloc.h>
#endif

/// Asks the CPU to bring the cache line holding `p` in ahead of a write (a hint: it
/// never faults, whatever `p` is).
static inline void patron_prefetch(const void *p) { __builtin_prefetch(p, 1, 3); }

/// Gives the C heap's free memory back to the system (glibc's `malloc_trim`: whole
/// free pages inside every arena, not only at the top), so that memory freed by one
/// large step does not stay resident; does nothing elsewhere.
static inline void patron_return_free_memory(void) {
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
}
#endif
