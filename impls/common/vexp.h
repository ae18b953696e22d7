/* vexp.h — one vectorizable e^t for t ≤ 0, shared by the optimized backends.
 *
 * Why not expf: a scalar expf call costs more than the matrix products of
 * linear attention at d = 64 and is the bottleneck of a plain C softmax.
 * glibc's vector expf (libmvec) is only declared under __FAST_MATH__, and
 * -ffast-math would break -inf masking and NaN semantics. This is straight-
 * line float arithmetic that gcc vectorizes at -O3 (16 lanes under AVX-512)
 * with IEEE semantics kept, so it gives the same bits on every build:
 *
 *   e^t = 2^n * e^r,  n = round(t / ln2),  r = t - n ln2 in [-ln2/2, ln2/2]
 *
 * r is formed with ln2 split in a high part exact in float and a low part
 * (Cody-Waite), so the reduction loses nothing for |n| <= 150. e^r is its
 * Taylor polynomial of degree 7, whose truncation error r^8/8! < 5.2e-9 is
 * under a tenth of an ulp; the rest is Horner rounding (measured within
 * 2 ulp of the correctly rounded value). 2^n is built from exponent bits in
 * two halves, so results down to the subnormal range are right; below
 * e^-104 (including -inf) the result is 0, and NaN stays NaN.
 */
#ifndef CB_VEXP_H
#define CB_VEXP_H

#include <stdint.h>
#include <string.h>

static inline float cb_bits_to_float(int32_t b)
{
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

static inline int32_t cb_float_to_bits(float f)
{
    int32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}

/* e^t for t in [-104, 0]; callers clamp (see cb_exp_nonpos). */
static inline float cb_exp_core(float t)
{
    const float log2e = 1.44269504088896341f;
    const float ln2_hi = 0.693359375f;          /* 8 significant bits: n*ln2_hi exact */
    const float ln2_lo = -2.12194440e-4f;       /* ln2 - ln2_hi */
    const float magic = 12582912.0f;            /* 1.5 * 2^23: adding it rounds to an integer */
    float k = t * log2e + magic;                /* round(t / ln2) in the low mantissa bits */
    int32_t n = cb_float_to_bits(k) - cb_float_to_bits(magic);
    float nf = k - magic;
    float r = (t - nf * ln2_hi) - nf * ln2_lo;
    float p = 1.0f / 5040.0f;                   /* Taylor coefficients 1/k!, k = 7..0 */
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t n1 = n / 2, n2 = n - n1;            /* each >= -75: 2^n1, 2^n2 are normal */
    return p * cb_bits_to_float((n1 + 127) << 23) * cb_bits_to_float((n2 + 127) << 23);
}

/* e^t for t <= 0: 0 below -104 (and for -inf), NaN for NaN. Branch-free
 * selects, so loops calling it vectorize. */
static inline float cb_exp_nonpos(float t)
{
    float tc = t >= -104.0f ? t : -104.0f;      /* -inf and NaN map into range */
    float e = cb_exp_core(tc);
    return t >= -104.0f ? e : (t < -104.0f ? 0.0f : t);
}

#endif
