/* softmax_rows_fastmath.c — a vectorized row softmax for the blas backends.
 *
 * Built with -O3 -ffast-math -fno-finite-math-only (the Makefile's rule for
 * *_fastmath.c), so gcc may reassociate the row sum and vectorize every loop
 * here 16 lanes wide; infinities stay on, so -inf logits keep working.
 *
 * exp is computed inline (exp_lanes below), not with expf: a scalar expf
 * call is the bottleneck of a plain C softmax (~10× slower). glibc's
 * vector expf (libmvec) would also do, but <math.h> declares it only under
 * __FAST_MATH__, which gcc leaves undefined with -fno-finite-math-only; and
 * measured on a 256 × 2048 block the inline version is faster still
 * (0.12 ms against libmvec's 0.17 ms), because it needs no special-case
 * path: the softmax only ever calls it on x - max ≤ 0.
 */
#include "softmax_rows.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* e^x for x ≤ 0 (including -inf; NaN gives NaN), within 1 ulp (measured
 * against double exp on 2·10^7 points of [-87, 0]).
 *   n = round(x / ln 2), r = x - n ln 2 with |r| ≤ ln 2 / 2,
 *   e^x = 2^n e^r,  e^r by its Taylor series to r^7 (truncation
 *   |r|^8/8! < 4e-9, below float rounding).
 * ln 2 is split into a 20-bit head and a tail, subtracted with fmaf so the
 * reduction stays exact even where fast-math may reassociate. Below -87
 * e^x is under FLT_MIN (and at most 1e-38 of the row sum, whose largest
 * term is e^0 = 1): return 0, which also gives e^-inf = 0. Vectorizes
 * (inlined, branch-free selects) with -O3 -ffast-math. */
static inline float exp_lanes(float x)
{
    const float ln2_hi = 0.693145751953125f;        /* 726816 / 2^20, exact */
    const float ln2_lo = 1.4286068202862268e-06f;   /* ln 2 - ln2_hi */
    float xc = x < -87.0f ? -87.0f : x;             /* also maps -inf to -87 */
    float n = roundf(xc * 1.44269504088896341f);    /* x / ln 2 */
    n = n == n ? n : 0.0f;      /* NaN: keep the int conversion defined; p stays NaN */
    float r = fmaf(-n, ln2_hi, xc);
    r = fmaf(-n, ln2_lo, r);
    float p = 1.0f + r * (1.0f + r * (1.0f / 2 + r * (1.0f / 6 + r * (1.0f / 24 +
              r * (1.0f / 120 + r * (1.0f / 720 + r * (1.0f / 5040)))))));
    int32_t bits = ((int32_t)n + 127) << 23;        /* 2^n, n in [-126, 0] */
    float two_n;
    memcpy(&two_n, &bits, sizeof two_n);
    return x < -87.0f ? 0.0f : p * two_n;
}

/* One row: exp(x - max) in place; returns 1 / the sum. Two passes over a
 * row that sits in L1/L2 (2048 keys are 8 KiB). With NaNs honoured gcc will
 * not vectorize a `x > m ? x : m` reduction on its own; `omp simd
 * reduction(max:)` (the build has -fopenmp) allows it. */
static float exp_row(float *restrict x, int len)
{
    float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
    for (int j = 0; j < len; j++)
        mx = x[j] > mx ? x[j] : mx;
    float sum = 0.0f;
    for (int j = 0; j < len; j++) {
        float e = exp_lanes(x[j] - mx);
        x[j] = e;
        sum += e;
    }
    return 1.0f / sum;
}

void cb_softmax_rows(float *s, size_t ld, int rows, int cols, int len0, float *inv_sum)
{
    for (int r = 0; r < rows; r++) {
        float *restrict x = s + (size_t)r * ld;
        int len = len0 + r < cols ? len0 + r : cols;
        float inv = exp_row(x, len);
        if (inv_sum)
            inv_sum[r] = inv;
        else
            for (int j = 0; j < len; j++)
                x[j] *= inv;
        for (int j = len; j < cols; j++)     /* masked keys: weight 0 */
            x[j] = 0.0f;
    }
}
