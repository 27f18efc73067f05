#ifndef PATRON_CSUPPORT_SHIM_H
#define PATRON_CSUPPORT_SHIM_H
// Small helpers Swift has no spelling for.

/// Asks the CPU to bring the cache line holding `p` in ahead of a write (a hint: it
/// never faults, whatever `p` is).
static inline void patron_prefetch(const void *p) { __builtin_prefetch(p, 1, 3); }
#endif
