/* test_rng.h — the tests' own small input generator: xorshift64 uniforms and
 * Box–Muller normals, deliberately independent of harness/rng.c (Philox) so a
 * fault there cannot hide in the tests that check kernels against ref. */
#ifndef CB_TEST_RNG_H
#define CB_TEST_RNG_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

/* A uniform in (0, 1), never 0 (Box–Muller takes its log). */
static inline double test_next_u(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return ((double)(*s >> 11) + 0.5) * 0x1p-53;
}

/* n normals of standard deviation sd, continuing the stream *s. */
static inline void test_fill_normal_state(float *x, size_t n, double sd, uint64_t *s)
{
    for (size_t i = 0; i < n; i++) {
        double u1 = test_next_u(s), u2 = test_next_u(s);
        x[i] = (float)(sd * sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2));
    }
}

/* n normals of standard deviation scale from their own stream `seed`. */
static inline void test_fill_normal_scaled(float *x, size_t n, uint64_t seed, double scale)
{
    uint64_t s = seed * 0x9e3779b97f4a7c15ULL + 1;
    test_fill_normal_state(x, n, scale, &s);
}

static inline void test_fill_normal(float *x, size_t n, uint64_t seed)
{
    test_fill_normal_scaled(x, n, seed, 1.0);
}

/* n uniforms in [lo, hi) from their own stream `seed`. */
static inline void test_fill_uniform(float *x, size_t n, uint64_t seed, double lo, double hi)
{
    uint64_t s = seed * 0x9e3779b97f4a7c15ULL + 7;
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(lo + (hi - lo) * test_next_u(&s));
}

#endif
