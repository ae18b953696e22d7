/* fourier_attention.c (blas) — Fourier attention with CBLAS (OpenBLAS).
 *
 * Per head (OpenBLAS threads inside each call):
 *   Q~ = layernorm_rows(Q),  K~ = layernorm_rows(K)      vectorized C
 *   then one block of B query rows at a time:
 *     A   = Q~_b K~^T                                    sgemm, B x N
 *     O_b = (1/N) A V                                    sgemm, B x d, 1/N as alpha
 * The N x N score matrix of a head never exists (it would be 256 MiB at
 * N = 8192); a block of B x N scores stays in the last-level cache between
 * the two products. B = the largest power of two <= 1024 with B x N <=
 * 2^20 floats (4 MiB), so 1024 rows up to N = 1024 and 128 rows at
 * N = 8192, and never more than N.
 * All scratch is allocated and touched in prepare(); run() only computes.
 */
#include "kernel.h"
#include "common/layernorm_rows.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#define FA_BLOCK_MAX 1024
#define FA_SCORES_MAX ((int64_t)1 << 20)

typedef struct blas_fa {
    int64_t H, N, d, B;
    float *qn, *kn;   /* normalized q and k of one head, N x d */
    float *A;         /* scores of one block, B x N */
} blas_fa;

static void blas_fa_release(void *state)
{
    blas_fa *s = state;
    if (!s) return;
    free(s->qn);
    free(s->kn);
    free(s->A);
    free(s);
}

static int blas_fa_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out,
                           char *err, size_t errlen)
{
    (void)in;
    (void)out;
    blas_fa *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "blas fourier_attention: out of memory");
    s->H = cb_params_int(p, "H", 0);
    s->N = cb_params_int(p, "N", 0);
    s->d = cb_params_int(p, "d", 0);
    s->B = FA_BLOCK_MAX;
    while (s->B > 16 && s->B * s->N > FA_SCORES_MAX)
        s->B /= 2;
    if (s->B > s->N) s->B = s->N;
    /* calloc: zeroed is pre-touched, so no first-touch page fault in run() */
    s->qn = calloc((size_t)(s->N * s->d), sizeof(float));
    s->kn = calloc((size_t)(s->N * s->d), sizeof(float));
    s->A = calloc((size_t)(s->B * s->N), sizeof(float));
    if (!s->qn || !s->kn || !s->A) {
        blas_fa_release(s);
        return cb_fail(err, errlen, "blas fourier_attention: out of memory");
    }
    *state = s;
    return 0;
}

static int blas_fa_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)p;
    blas_fa *s = state;
    const int N = (int)s->N, d = (int)s->d, B = (int)s->B;
    const size_t hs = (size_t)N * (size_t)d;
    const float invN = 1.0f / (float)N;
    for (int64_t h = 0; h < s->H; h++) {
        const float *q = in[0].data + h * hs, *k = in[1].data + h * hs, *v = in[2].data + h * hs;
        float *o = out[0].data + h * hs;
        cb_layernorm_rows(q, s->qn, (size_t)N, (size_t)d, (float)CB_LN_EPS);
        cb_layernorm_rows(k, s->kn, (size_t)N, (size_t)d, (float)CB_LN_EPS);
        for (int r0 = 0; r0 < N; r0 += B) {
            const int L = N - r0 < B ? N - r0 : B;   /* the tail block may be shorter */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, L, N, d, 1.0f, s->qn + (size_t)r0 * d,
                        d, s->kn, d, 0.0f, s->A, N);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, L, d, N, invN, s->A, N, v, d, 0.0f,
                        o + (size_t)r0 * d, d);
        }
    }
    return 0;
}

const cb_impl cb_impl_blas_fourier_attention = {
    .kernel = "fourier_attention",
    .backend = "blas",
    .how = "per head: layer-norm rows of q, k (vectorized C); per block of rows sgemm A = Q~_b K~^T, sgemm O_b = A V/N",
    .prepare = blas_fa_prepare,
    .run = blas_fa_run,
    .release = blas_fa_release,
};
