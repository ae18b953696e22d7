/* lsa_layer.c (blas) — one linear self-attention layer with CBLAS (OpenBLAS).
 *
 * out_i = z_i + (1/N) sum_{j<N} (wp wv z_j)(wk z_j)^T (wq z_i) is linear in
 * every factor, so it can be regrouped around the D x D second-moment
 * matrix of the context, C = sum_{j<N} z_j z_j^T = Zc^T Zc:
 *
 *   sum_j (wp wv z_j)(wk z_j)^T = wp wv C wk^T,
 *   out = z + Z G^T / N,   G = wp wv C wk^T wq          (D x D)
 *
 * Why it is fast: the only passes over the tokens are one sgemm forming C
 * (inner dimension N, 2 N D^2 flops) and one sgemm applying G to all T rows
 * (2 T D^2), each reading z once; the chain of four D x D products costs
 * 8 D^3, independent of N. No N x N score matrix, no per-token key/value
 * rows: O(T D^2) time and O(D^2) scratch, linear in N. z is copied into out
 * and the last sgemm accumulates onto it (beta = 1), with 1/N folded into
 * the D x D product that forms G.
 * All scratch is allocated (and touched) in prepare(); run() only computes.
 */
#include "kernel.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

typedef struct blas_lsa {
    int64_t N, D;
    float *C, *A, *B, *G;   /* D x D each */
} blas_lsa;

static void blas_lsa_release(void *state)
{
    blas_lsa *s = state;
    if (!s) return;
    free(s->C);
    free(s->A);
    free(s->B);
    free(s->G);
    free(s);
}

static int blas_lsa_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out, char *err,
                            size_t errlen)
{
    (void)in;
    (void)out;
    blas_lsa *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "blas lsa_layer: out of memory");
    s->N = cb_params_int(p, "N", 0);
    s->D = cb_params_int(p, "D", 0);
    const size_t dd = (size_t)(s->D * s->D);
    /* cb_alloc_floats: zeroed, so pre-touched */
    s->C = cb_alloc_floats(dd);
    s->A = cb_alloc_floats(dd);
    s->B = cb_alloc_floats(dd);
    s->G = cb_alloc_floats(dd);
    if (!s->C || !s->A || !s->B || !s->G) {
        blas_lsa_release(s);
        return cb_fail(err, errlen, "blas lsa_layer: out of memory");
    }
    *state = s;
    return 0;
}

static int blas_lsa_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)p;
    blas_lsa *s = state;
    const int N = (int)s->N, D = (int)s->D, T = N + 1;
    const float *z = in[0].data, *wk = in[1].data, *wq = in[2].data, *wv = in[3].data, *wp = in[4].data;
    float *o = out[0].data;
    /* C = Zc^T Zc over the N context rows (the query row is left out) */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, D, D, N, 1.0f, z, D, z, D, 0.0f, s->C, D);
    /* A = wp wv; B = A C; A = B wk^T / N; G = A wq */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, D, D, D, 1.0f, wp, D, wv, D, 0.0f, s->A, D);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, D, D, D, 1.0f, s->A, D, s->C, D, 0.0f, s->B, D);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, D, D, D, 1.0f / (float)N, s->B, D, wk, D, 0.0f, s->A, D);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, D, D, D, 1.0f, s->A, D, wq, D, 0.0f, s->G, D);
    /* out = z + Z G^T */
    memcpy(o, z, (size_t)T * (size_t)D * sizeof *o);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, D, D, 1.0f, z, D, s->G, D, 1.0f, o, D);
    return 0;
}

const cb_impl cb_impl_blas_lsa_layer = {
    .kernel = "lsa_layer",
    .backend = "blas",
    .how = "sgemm C = Zc^T Zc (context), D x D chain G = wp wv C wk^T wq / N, sgemm out = z + Z G^T",
    .prepare = blas_lsa_prepare,
    .run = blas_lsa_run,
    .release = blas_lsa_release,
};
