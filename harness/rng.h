/* rng.h — a seeded counter-based generator for kernel inputs.
 *
 * Element i of a stream is a pure function of (seed, stream, i): Philox-4x32-10
 * over the 128-bit counter (i, stream) with the seed as key. So every backend,
 * thread count, machine and run sees the same bits, and any slice can be
 * generated independently of the others.
 */
#ifndef CB_RNG_H
#define CB_RNG_H

#include <stddef.h>
#include <stdint.h>

/* A stream id from a string (FNV-1a 64), e.g. "q" or "q/H=8,N=64". */
uint64_t cb_rng_stream(const char *name);
/* 4 × 32 random bits for counter index i. */
void cb_rng_bits(uint64_t seed, uint64_t stream, uint64_t i, uint32_t out[4]);
/* Uniform in [0, 1) with 24 random bits, element i. */
float cb_rng_uniform(uint64_t seed, uint64_t stream, uint64_t i);
/* Uniform double in [0,1) with 53 random bits. */
double cb_rng_uniform_d(uint64_t seed, uint64_t stream, uint64_t i);
/* Fill x[0..n) with standard normal values (Box-Muller on the bits of
 * counter j = k/2 for pair k), times `scale`. */
void cb_rng_normal(float *x, size_t n, uint64_t seed, uint64_t stream, float scale);
/* The same values for elements start .. start+n-1 of the stream, so any slice
 * can be filled on its own: x[k] = element start+k. cb_rng_normal is start 0. */
void cb_rng_normal_at(float *x, size_t n, uint64_t seed, uint64_t stream, uint64_t start,
                      float scale);
void cb_rng_normal_d(double *x, size_t n, uint64_t seed, uint64_t stream, double scale);
/* Fill with uniform values in [lo, hi). */
void cb_rng_fill_uniform(float *x, size_t n, uint64_t seed, uint64_t stream, float lo, float hi);

#endif
