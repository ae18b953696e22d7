/* elu1.c — phi(x) = elu(x) + 1 = (x > 0 ? x + 1 : exp(x)) in float, vectorized.
 *
 * Why not expf: scalar expf costs more than the matrix products of linear
 * attention at d = 64, and glibc's vector expf (libmvec) is only declared
 * when __FAST_MATH__ is defined, which the *_fastmath.c flags
 * (-ffast-math -fno-finite-math-only) do not define, so gcc keeps calling
 * the scalar expf. Here exp is computed by straight-line float arithmetic
 * that gcc vectorizes at plain -O3 (16 lanes under AVX-512), without
 * -ffast-math, so it gives the same bits on every build:
 *
 *   exp(t) = 2^n * exp(r),  n = round(t / ln2),  r = t - n ln2 in [-ln2/2, ln2/2]
 *
 * r is formed with ln2 split in a high part exact in float and a low part
 * (Cody-Waite), so the reduction loses nothing for |n| <= 150. exp(r) is its
 * Taylor polynomial of degree 7, whose truncation error r^8/8! < 5.2e-9 is
 * under a tenth of an ulp; the rest is Horner rounding (about 1 ulp).
 * 2^n is built from exponent bits in two halves, so results down to the
 * subnormal range are right and anything below e^-104 is 0.
 */
#include "elu1.h"

#include <stdint.h>
#include <string.h>

static inline float bits_to_float(int32_t b)
{
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

static inline int32_t float_to_bits(float f)
{
    int32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}

/* exp(t) for t in [-104, 0]. */
static inline float exp_nonpos(float t)
{
    const float log2e = 1.44269504088896341f;
    const float ln2_hi = 0.693359375f;          /* 8 significant bits: n*ln2_hi exact */
    const float ln2_lo = -2.12194440e-4f;       /* ln2 - ln2_hi */
    const float magic = 12582912.0f;            /* 1.5 * 2^23: adding it rounds to an integer */
    float k = t * log2e + magic;                /* round(t / ln2) in the low mantissa bits */
    int32_t n = float_to_bits(k) - float_to_bits(magic);
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
    return p * bits_to_float((n1 + 127) << 23) * bits_to_float((n2 + 127) << 23);
}

void cb_elu1_f32(const float *x, float *y, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float xi = x[i];
        float t = xi > 0.0f ? 0.0f : xi;        /* exp is only needed for x <= 0 */
        t = t >= -104.0f ? t : -104.0f;         /* also maps NaN to a safe value */
        float e = exp_nonpos(t);
        y[i] = xi > 0.0f ? xi + 1.0f : (xi <= 0.0f ? e : xi); /* NaN passes through */
    }
}

void cb_elu1_rows_f32(const float *x, size_t ldx, float *y, size_t rows, size_t cols)
{
    for (size_t r = 0; r < rows; r++)
        cb_elu1_f32(x + r * ldx, y + r * cols, cols);
}
