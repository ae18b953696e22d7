/* rng.c — Philox-4x32-10, the counter-based generator behind every input.
 *
 * Philox (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy as
 * 1, 2, 3", SC 2011) is a keyed bijection of a 128-bit counter: ten rounds
 * of two 32x32->64 multiplies whose high halves are xored into the other
 * words, with a Weyl sequence bumping the key between rounds. Output for
 * counter c depends on c and the key only, so element i of a stream can be
 * computed without computing elements 0..i-1.
 *
 * Word order (as in Random123's philox4x32, whose known-answer vectors
 * tests/t_rng.c checks):
 *   counter = { lo32(i), hi32(i), lo32(stream), hi32(stream) }
 *   key     = { lo32(seed), hi32(seed) }
 */
#include "rng.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u   /* round multipliers */
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u   /* Weyl key bumps: golden ratio, sqrt(3)-1 */
#define PHILOX_W1 0xBB67AE85u

static const double TWO_PI = 6.283185307179586476925286766559;

/* ---- the generator ------------------------------------------------------ */

/* One round: multiply words 0 and 2, feed the high halves (xored with the
 * other words and the key) into new positions, keep the low halves. */
static void philox_round(uint32_t c[4], const uint32_t k[2])
{
    uint64_t p0 = (uint64_t)PHILOX_M0 * c[0];
    uint64_t p1 = (uint64_t)PHILOX_M1 * c[2];
    uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
    uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
    uint32_t n0 = hi1 ^ c[1] ^ k[0];
    uint32_t n2 = hi0 ^ c[3] ^ k[1];
    c[0] = n0;
    c[1] = lo1;
    c[2] = n2;
    c[3] = lo0;
}

/* Philox-4x32-10 of a raw counter and key. */
static void philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
    uint32_t c[4] = {ctr[0], ctr[1], ctr[2], ctr[3]};
    uint32_t k[2] = {key[0], key[1]};
    for (int r = 0; r < 10; r++) {
        if (r > 0) {
            k[0] += PHILOX_W0;
            k[1] += PHILOX_W1;
        }
        philox_round(c, k);
    }
    for (int j = 0; j < 4; j++) out[j] = c[j];
}

void cb_rng_bits(uint64_t seed, uint64_t stream, uint64_t i, uint32_t out[4])
{
    const uint32_t ctr[4] = {(uint32_t)i, (uint32_t)(i >> 32), (uint32_t)stream,
                             (uint32_t)(stream >> 32)};
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    philox4x32_10(ctr, key, out);
}

uint64_t cb_rng_stream(const char *name)
{
    uint64_t h = 0xcbf29ce484222325u;           /* FNV-1a 64 offset basis */
    for (const unsigned char *s = (const unsigned char *)name; *s; s++) {
        h ^= *s;
        h *= 0x100000001b3u;                    /* FNV 64 prime */
    }
    return h;
}

/* ---- uniforms ------------------------------------------------------------ */

/* Top 24 bits of a word: every value is exactly representable in a float,
 * so the result is in [0, 1 - 2^-24], never 1. */
static float u24(uint32_t w) { return (float)(w >> 8) * 0x1p-24f; }

/* 53 bits from two words: [0, 1 - 2^-53]. */
static double u53(uint32_t hi, uint32_t lo)
{
    uint64_t m = ((uint64_t)hi << 21) | (lo >> 11);
    return (double)m * 0x1p-53;
}

float cb_rng_uniform(uint64_t seed, uint64_t stream, uint64_t i)
{
    uint32_t b[4];
    cb_rng_bits(seed, stream, i, b);
    return u24(b[0]);
}

double cb_rng_uniform_d(uint64_t seed, uint64_t stream, uint64_t i)
{
    uint32_t b[4];
    cb_rng_bits(seed, stream, i, b);
    return u53(b[0], b[1]);
}

void cb_rng_fill_uniform(float *x, size_t n, uint64_t seed, uint64_t stream, float lo, float hi)
{
    /* Element i is a pure function of i: threads cannot change the result. */
#pragma omp parallel for schedule(static) if (n >= (1u << 16))
    for (size_t i = 0; i < n; i++) {
        /* In double, then rounded once to float; that rounding can land on
         * hi itself when hi - lo is small next to |hi|, so clamp below hi. */
        float v = (float)((double)lo + ((double)hi - (double)lo) * (double)cb_rng_uniform(seed, stream, i));
        if (lo < hi && v >= hi) v = nextafterf(hi, lo);
        x[i] = v;
    }
}

/* ---- normals ------------------------------------------------------------- */

/* The standard normal pair of counter j (elements 2j and 2j+1 of the
 * stream): two 53-bit uniforms u1 (words 0, 1) and u2 (words 2, 3), and
 * Box-Muller z = r cos(2 pi u2), r sin(2 pi u2) with r = sqrt(-2 ln(1 - u1)).
 * 1 - u1 lies in [2^-53, 1], so the log is finite and r <= 8.58. */
static void normal_pair(uint64_t seed, uint64_t stream, uint64_t j, double z[2])
{
    uint32_t b[4];
    cb_rng_bits(seed, stream, j, b);
    double u1 = u53(b[0], b[1]);
    double u2 = u53(b[2], b[3]);
    double r = sqrt(-2.0 * log(1.0 - u1));
    double t = TWO_PI * u2;
    z[0] = r * cos(t);
    z[1] = r * sin(t);
}

/* Elements start .. start+n-1 into xf (float) or xd (double), whichever is
 * not NULL. Each element is a pure function of its own index, so the pairs
 * can be computed in any order and on any number of threads with the same
 * result; large fills use OpenMP (an input of 10^7 elements would otherwise
 * take a second). */
static void fill_normals(float *xf, double *xd, size_t n, uint64_t seed, uint64_t stream,
                         uint64_t start, double scale)
{
    if (n == 0) return;
    const uint64_t first = start >> 1, last = (start + n - 1) >> 1;
#pragma omp parallel for schedule(static) if (n >= (1u << 16))
    for (uint64_t j = first; j <= last; j++) {
        double z[2];
        normal_pair(seed, stream, j, z);
        for (uint64_t e = 2 * j; e < 2 * j + 2; e++) {
            if (e < start || e - start >= n) continue;   /* the slice cuts this pair */
            if (xf) xf[e - start] = (float)(z[e & 1] * scale);
            else xd[e - start] = z[e & 1] * scale;
        }
    }
}

void cb_rng_normal_at(float *x, size_t n, uint64_t seed, uint64_t stream, uint64_t start,
                      float scale)
{
    fill_normals(x, NULL, n, seed, stream, start, (double)scale);
}

void cb_rng_normal(float *x, size_t n, uint64_t seed, uint64_t stream, float scale)
{
    fill_normals(x, NULL, n, seed, stream, 0, (double)scale);
}

void cb_rng_normal_d(double *x, size_t n, uint64_t seed, uint64_t stream, double scale)
{
    fill_normals(NULL, x, n, seed, stream, 0, scale);
}
