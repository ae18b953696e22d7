/* aft_simple_util.h — the small pieces both AFT kernels share in their
 * optimized backends (blas/aft_simple.c, blas/aft_full.c and the C loops of
 * dnnl/aft_full.c): the per-channel maximum over tokens, the sigmoid gate,
 * and AFT-full's direct recomputation of the entries its factorized form
 * cannot resolve in float. Header-only (static inline), so each loop that
 * uses them is vectorized in place by gcc -O3, like the shared exp of
 * common/vexp.h.
 */
#ifndef CB_BLAS_AFT_SIMPLE_UTIL_H
#define CB_BLAS_AFT_SIMPLE_UTIL_H

#include "common/vexp.h"

#include <math.h>
#include <stdint.h>

/* m[c] = max over the n rows of x[t*d + c] (-inf for n = 0). A NaN never
 * wins a comparison, so it is skipped here; it still reaches the output
 * through exp(NaN - m) = NaN. The loop runs down the rows and across the
 * channels, so it reads x once, in order, and vectorizes over c. */
static inline void cb_aft_colmax(const float *restrict x, int64_t n, int64_t d, float *restrict m)
{
    for (int64_t c = 0; c < d; c++)
        m[c] = -INFINITY;
    for (int64_t t = 0; t < n; t++) {
        const float *restrict row = x + t * d;
        for (int64_t c = 0; c < d; c++)
            m[c] = row[c] > m[c] ? row[c] : m[c];
    }
}

/* sigmoid(x) = 1 / (1 + e^-x), from e = e^-|x| <= 1 so nothing overflows:
 * x >= 0: 1 / (1 + e);  x < 0: e / (1 + e) (full relative accuracy where
 * sigmoid is tiny, unlike 1 - 1/(1 + e)). NaN stays NaN. Branch-free. */
static inline float cb_aft_sigmoid(float x)
{
    float e = cb_exp_nonpos(-fabsf(x));
    float r = 1.0f / (1.0f + e);
    return x >= 0.0f ? r : e * r;
}

/* ---- AFT-full's factorized form: the entries it cannot resolve ---------- */

/* The factorized backends shift exp(k + w) by a separable maximum
 * (mw_t + mk_c), which can exceed the true max over t' of k_t'c + w_t,t'. Their
 * denominator Σ_t' exp(w - mw) exp(k - mk) is then < 1, and once it falls
 * below this threshold the float terms that make it up may have been
 * flushed to subnormal or zero, so the entry is recomputed directly. With a
 * largest term >= 2^-60, terms lost below FLT_MIN = 2^-126 weigh < N·2^-66
 * relative: nothing. Typical inputs never get near it (den >= 1/N there). */
#define CB_AFT_DEN_MIN 0x1p-60f

/* o_tc of AFT-full (Eq. 2) the direct way, in double, with the softmax's own
 * maximum over t': O(N), for the rare entries flagged above. */
static inline float cb_aft_full_direct(const float *q, const float *k, const float *v, const float *w,
                                       int64_t N, int64_t d, int64_t t, int64_t c)
{
    const float *wt = w + t * N;
    double m = -INFINITY, num = 0, den = 0;
    for (int64_t u = 0; u < N; u++) {
        double x = (double)k[u * d + c] + wt[u];
        m = x > m ? x : m;
    }
    for (int64_t u = 0; u < N; u++) {
        double e = exp((double)k[u * d + c] + wt[u] - m);
        num += e * v[u * d + c];
        den += e;
    }
    return (float)(num / den / (1.0 + exp(-(double)q[t * d + c])));
}

/* For rows t0 .. t1-1: recompute directly every o_tc whose denominator
 * R[t, d + c] (R is N x 2d: numerators | denominators) is below
 * CB_AFT_DEN_MIN or NaN. Returns how many entries it recomputed. */
static inline int64_t cb_aft_full_fixup(const float *q, const float *k, const float *v, const float *w,
                                        const float *R, float *o, int64_t N, int64_t d, int64_t t0,
                                        int64_t t1)
{
    int64_t n = 0;
    for (int64_t t = t0; t < t1; t++)
        for (int64_t c = 0; c < d; c++)
            if (!(R[t * 2 * d + d + c] >= CB_AFT_DEN_MIN)) {
                o[t * d + c] = cb_aft_full_direct(q, k, v, w, N, d, t, c);
                n++;
            }
    return n;
}

#endif
