/* favor_attention_rows.h — the row passes of FAVOR+ between the matrix
 * products, shared by impls/blas/favor_attention.c and
 * impls/dnnl/favor_attention.c (which do the products with OpenBLAS and
 * oneDNN respectively).
 *
 * A block of L keys or queries of one head arrives projected, P = c X_b W^T
 * (L x m, c = d^-1/4). These passes turn P into features in place:
 *
 *   keys     P -= |c k_j|^2 / 2 per row; Mb = max P; if Mb > M, the state
 *            built from earlier blocks (S^, z) is multiplied by exp(M - Mb)
 *            and M = Mb; P = exp(P - M); z += colsum P
 *   queries  P = exp(P - rowmax P)
 *   output   o_i = R_i[0..dv) / R_i[dv], R = P [S | z]
 *
 * After the shifts every argument of exp is <= 0, the domain of the
 * vectorized cb_exp_nonpos. The reductions (maxima, squared norms) keep 16
 * partial results, one per lane of an AVX-512 register, so gcc vectorizes
 * them without reassociating anything: the result is the same on every
 * build.
 */
#ifndef CB_FAVOR_ATTENTION_ROWS_H
#define CB_FAVOR_ATTENTION_ROWS_H

#include "common/vexp.h"

#include <math.h>
#include <stdint.h>

enum { FA_LANES = 16 };

/* max of p[0..n); NaN entries never win (a NaN input still reaches the
 * output through exp). */
static inline float fa_max(const float *p, int64_t n)
{
    float lane[FA_LANES];
    for (int j = 0; j < FA_LANES; j++)
        lane[j] = -INFINITY;
    const int64_t nv = n - n % FA_LANES;
    int64_t l = 0;
    for (; l < nv; l += FA_LANES)
        for (int j = 0; j < FA_LANES; j++)
            lane[j] = p[l + j] > lane[j] ? p[l + j] : lane[j];
    float mx = -INFINITY;
    for (int j = 0; j < FA_LANES; j++)
        mx = lane[j] > mx ? lane[j] : mx;
    for (; l < n; l++)
        mx = p[l] > mx ? p[l] : mx;
    return mx;
}

/* sum of p[l]^2 over l < n */
static inline float fa_sumsq(const float *p, int64_t n)
{
    float lane[FA_LANES] = {0};
    const int64_t nv = n - n % FA_LANES;
    int64_t l = 0;
    for (; l < nv; l += FA_LANES)
        for (int j = 0; j < FA_LANES; j++)
            lane[j] += p[l + j] * p[l + j];
    float s = 0;
    for (int j = 0; j < FA_LANES; j++)
        s += lane[j];
    for (; l < n; l++)
        s += p[l] * p[l];
    return s;
}

/* The keys of one block: P (L x m, leading dimension m) from c K_b W^T to
 * exp(P - |c k|^2/2 - M) with the running maximum *M, rows k (L x d);
 * hc = c^2 / 2. The state S^ (ns floats) and z (m) are rescaled when *M
 * rises; z gets the column sums. */
static inline void fa_key_block(float *P, int64_t L, int64_t m, const float *k, int64_t d, float hc,
                                float *M, float *Sh, int64_t ns, float *z)
{
    float Mb = -INFINITY;
    for (int64_t i = 0; i < L; i++) {
        float hn = hc * fa_sumsq(k + i * d, d), *pi = P + i * m;
        for (int64_t l = 0; l < m; l++)
            pi[l] -= hn;
        float mi = fa_max(pi, m);
        Mb = mi > Mb ? mi : Mb;
    }
    if (Mb > *M) {
        if (*M > -INFINITY) {   /* rescale what the earlier blocks left */
            float f = cb_exp_nonpos(*M - Mb);
            for (int64_t e = 0; e < ns; e++)
                Sh[e] *= f;
            for (int64_t l = 0; l < m; l++)
                z[l] *= f;
        }
        *M = Mb;
    }
    const float shift = *M;
    for (int64_t i = 0; i < L; i++) {
        float *pi = P + i * m;
        for (int64_t l = 0; l < m; l++) {
            pi[l] = cb_exp_nonpos(pi[l] - shift);
            z[l] += pi[l];
        }
    }
}

/* The queries of one block: each row of P (L x m) to exp(row - its max). */
static inline void fa_query_block(float *P, int64_t L, int64_t m)
{
    for (int64_t i = 0; i < L; i++) {
        float *pi = P + i * m, mx = fa_max(pi, m);
        for (int64_t l = 0; l < m; l++)
            pi[l] = cb_exp_nonpos(pi[l] - mx);
    }
}

/* o_i[0..dv) = R_i[0..dv) / R_i[dv] for L rows; R has leading dimension
 * dv + 1, o leading dimension ldo. */
static inline void fa_divide(const float *R, int64_t L, int64_t dv, float *o, int64_t ldo)
{
    for (int64_t i = 0; i < L; i++) {
        const float *r = R + i * (dv + 1);
        float inv = 1.0f / r[dv], *oi = o + i * ldo;
        for (int64_t e = 0; e < dv; e++)
            oi[e] = r[e] * inv;
    }
}

#endif
