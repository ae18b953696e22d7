/* galerkin_attention.c (blas) — Galerkin attention with CBLAS (OpenBLAS).
 *
 * Per head (the heads are independent; OpenBLAS threads inside each call):
 *   K~ = layernorm_rows(K),  V~ = layernorm_rows(V)      vectorized C
 *   S  = (1/N) K~^T V~                                   sgemm, d x d, 1/N as alpha
 *   O  = Q S                                             sgemm, N x d
 * The 1/N goes on the small d x d product, not on the N x d output. The
 * d x d matrix is formed first (associativity), so the work is 4 N d^2:
 * linear in N. K~ and V~ of one head (2 x N x d floats, 4 MiB at
 * N = 8192, d = 64) are written to scratch and read once by the first sgemm
 * while they are still in the last-level cache.
 * All scratch is allocated and touched in prepare(); run() only computes.
 */
#include "kernel.h"
#include "common/layernorm_rows.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

typedef struct blas_ga {
    int64_t H, N, d;
    float *kn, *vn;   /* normalized k and v of one head, N x d */
    float *S;         /* d x d */
} blas_ga;

static void blas_ga_release(void *state)
{
    blas_ga *s = state;
    if (!s) return;
    free(s->kn);
    free(s->vn);
    free(s->S);
    free(s);
}

static int blas_ga_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out,
                           char *err, size_t errlen)
{
    (void)in;
    (void)out;
    blas_ga *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "blas galerkin_attention: out of memory");
    s->H = cb_params_int(p, "H", 0);
    s->N = cb_params_int(p, "N", 0);
    s->d = cb_params_int(p, "d", 0);
    /* calloc: zeroed is pre-touched, so no first-touch page fault in run() */
    s->kn = calloc((size_t)(s->N * s->d), sizeof(float));
    s->vn = calloc((size_t)(s->N * s->d), sizeof(float));
    s->S = calloc((size_t)(s->d * s->d), sizeof(float));
    if (!s->kn || !s->vn || !s->S) {
        blas_ga_release(s);
        return cb_fail(err, errlen, "blas galerkin_attention: out of memory");
    }
    *state = s;
    return 0;
}

static int blas_ga_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)p;
    blas_ga *s = state;
    const int N = (int)s->N, d = (int)s->d;
    const size_t hs = (size_t)N * (size_t)d;
    for (int64_t h = 0; h < s->H; h++) {
        const float *q = in[0].data + h * hs, *k = in[1].data + h * hs, *v = in[2].data + h * hs;
        float *o = out[0].data + h * hs;
        cb_layernorm_rows(k, s->kn, (size_t)N, (size_t)d, (float)CB_LN_EPS);
        cb_layernorm_rows(v, s->vn, (size_t)N, (size_t)d, (float)CB_LN_EPS);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d, d, N, 1.0f / (float)N, s->kn, d,
                    s->vn, d, 0.0f, s->S, d);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, d, d, 1.0f, q, d, s->S, d, 0.0f,
                    o, d);
    }
    return 0;
}

const cb_impl cb_impl_blas_galerkin_attention = {
    .kernel = "galerkin_attention",
    .backend = "blas",
    .how = "per head: layer-norm rows of k, v (vectorized C); sgemm S = K~^T V~/N (d x d); sgemm O = Q S",
    .prepare = blas_ga_prepare,
    .run = blas_ga_run,
    .release = blas_ga_release,
};
