/* delta_rule_util.c — float helpers of the optimized delta_rule backends:
 * key normalization, the chunk's UT transform, the causal mask. Built at
 * -O3 (impls/common); the loops are written so that they vectorize. */
#include "delta_rule_util.h"

#include <math.h>
#include <string.h>

void cb_l2norm_rows(const float *x, float *y, size_t rows, size_t d)
{
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * d;
        float *yr = y + r * d;
        double s = 0;
#pragma omp simd reduction(+ : s)
        for (size_t j = 0; j < d; j++)
            s += (double)xr[j] * xr[j];
        const float inv = (float)(1.0 / fmax(sqrt(s), 1e-12));
#pragma omp simd
        for (size_t j = 0; j < d; j++)
            yr[j] = xr[j] * inv;
    }
}

void cb_ut_transform(const float *G, size_t ldg, const float *beta, size_t C, float *T, size_t ldt)
{
    for (size_t r = 0; r < C; r++) {
        float *Tr = T + r * ldt;
        memset(Tr, 0, C * sizeof *Tr);
        /* Tr[0..r) = -sum_{i<r} G_ri T_i  (T_i is zero beyond column i) */
        for (size_t i = 0; i < r; i++) {
            const float g = G[r * ldg + i];
            const float *Ti = T + i * ldt;
#pragma omp simd
            for (size_t c = 0; c <= i; c++)
                Tr[c] -= g * Ti[c];
        }
        const float b = beta[r];
#pragma omp simd
        for (size_t c = 0; c < r; c++)
            Tr[c] *= b;
        Tr[r] = b;
    }
}

void cb_tril_inplace(float *A, size_t lda, size_t C)
{
    for (size_t r = 0; r + 1 < C; r++)
        memset(A + r * lda + r + 1, 0, (C - r - 1) * sizeof *A);
}
