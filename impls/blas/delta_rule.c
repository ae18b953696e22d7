/* delta_rule.c (blas) — the delta rule computed chunkwise with CBLAS
 * (OpenBLAS), through the WY/UT representation (Yang et al. 2024, §3).
 *
 * Per head, the state is kept transposed, M = S^T (d x dv), and the sequence
 * is cut into chunks of C tokens (the last one may be shorter, L <= C). For
 * a chunk with normalized keys K (L x d), queries Q (L x d), values V
 * (L x dv), betas b and the state M before it:
 *
 *   G  = K K^T                                  sgemm  L x L x d
 *   A  = tril(Q K^T)  (diagonal kept)           sgemm  + mask
 *   T  = (I + tril(diag(b) G, -1))^-1 diag(b)   forward substitution (UT transform)
 *   W  = T K,  U = T V                          sgemm x 2  (the WY factors)
 *   U~ = U - W M                                sgemm, beta = 1, alpha = -1
 *   O  = Q M + A U~                             sgemm x 2
 *   M  = M + K^T U~                             sgemm
 *
 * Why this is the recurrence (derived in tasks/deltanet_chunkwise.md): inside
 * the chunk S_r = S_0 + sum_{i<=r} u~_i k_i^T with u~_i = u_i - S_0 w_i, where
 * w_r = b_r (k_r - sum_{i<r} (k_i.k_r) w_i) and u_r likewise with v_r, i.e.
 * (I + tril(diag(b) G, -1)) [W U] = diag(b) [K V]; then o_r = S_r q_r.
 *
 * Why it is fast: the L rank-1 updates of the recurrence, each streaming the
 * whole state, become seven small matrix products per chunk (BLAS-3, the
 * state read and written once per chunk instead of once per token). The price
 * is more flops: per token 6 d dv + C (6 d + 4 dv) + C^2/3 against the
 * recurrence's 6 d dv, about 2.7x at C = d = dv = 64.
 * Heads run in parallel on OpenMP threads, each with its own scratch. Every
 * product is issued in column blocks of at most 64^3 = 262144 multiply-adds
 * (gemm_blocks below), the size up to which OpenBLAS 0.3.21 runs a gemm on
 * the calling thread: larger ones (at d = 128: W M is 64 x 128 x 128) would
 * make OpenBLAS start its own threads inside each OpenMP thread and
 * oversubscribe the cores. All scratch is allocated in prepare(); run()
 * only computes.
 */
#include "kernel.h"
#include "common/delta_rule_util.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

typedef struct blas_dr {
    int64_t H, N, d, dv, C;
    float *kn;             /* H x N x d normalized keys */
    float *G, *A, *T;      /* per head C x C */
    float *W, *U;          /* per head C x d, C x dv */
    float *M;              /* per head d x dv */
} blas_dr;

static void blas_dr_release(void *state)
{
    blas_dr *s = state;
    if (!s) return;
    free(s->kn);
    free(s->G);
    free(s->A);
    free(s->T);
    free(s->W);
    free(s->U);
    free(s->M);
    free(s);
}

static int blas_dr_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out, char *err,
                           size_t errlen)
{
    (void)in;
    (void)out;
    blas_dr *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "blas delta_rule: out of memory");
    s->H = cb_params_int(p, "H", 0);
    s->N = cb_params_int(p, "N", 0);
    s->d = cb_params_int(p, "d", 0);
    s->dv = cb_params_int(p, "dv", 0);
    s->C = cb_params_int(p, "chunk", 64);
    if (s->C > s->N) s->C = s->N;   /* one chunk covers the sequence */
    const size_t H = (size_t)s->H, C = (size_t)s->C;
    s->kn = cb_alloc_floats(H * (size_t)(s->N * s->d));
    s->G = cb_alloc_floats(H * C * C);
    s->A = cb_alloc_floats(H * C * C);
    s->T = cb_alloc_floats(H * C * C);
    s->W = cb_alloc_floats(H * C * (size_t)s->d);
    s->U = cb_alloc_floats(H * C * (size_t)s->dv);
    s->M = cb_alloc_floats(H * (size_t)(s->d * s->dv));
    if (!s->kn || !s->G || !s->A || !s->T || !s->W || !s->U || !s->M) {
        blas_dr_release(s);
        return cb_fail(err, errlen, "blas delta_rule: out of memory");
    }
    *state = s;
    return 0;
}

/* Row-major C = alpha op(A) B + beta C (B never transposed here), issued in
 * column blocks of C so that each call does at most 2^18 multiply-adds and
 * OpenBLAS keeps it on the calling thread. */
static void gemm_blocks(CBLAS_TRANSPOSE ta, int m, int n, int k, float alpha, const float *A, int lda,
                        const float *B, int ldb, float beta, float *C, int ldc)
{
    const long cap = 1L << 18;
    long mk = (long)m * k;
    int nb = mk > 0 && cap / mk < n ? (int)(cap / mk) : n;
    if (nb < 1) nb = 1;
    for (int j = 0; j < n; j += nb) {
        const int w = n - j < nb ? n - j : nb;
        cblas_sgemm(CblasRowMajor, ta, CblasNoTrans, m, w, k, alpha, A, lda, B + j, ldb, beta, C + j, ldc);
    }
}

/* C = A B^T (C overwritten), in column blocks of C (= row blocks of B),
 * with the same cap. */
static void gemm_nt_blocks(int m, int n, int k, const float *A, int lda, const float *B, int ldb, float *C,
                           int ldc)
{
    const long cap = 1L << 18;
    long mk = (long)m * k;
    int nb = mk > 0 && cap / mk < n ? (int)(cap / mk) : n;
    if (nb < 1) nb = 1;
    for (int j = 0; j < n; j += nb) {
        const int w = n - j < nb ? n - j : nb;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, w, k, 1.0f, A, lda, B + (size_t)j * ldb, ldb,
                    0.0f, C + j, ldc);
    }
}

/* One head, chunk by chunk. */
static void blas_head(const blas_dr *s, int64_t h, const float *q, const float *v, const float *beta,
                      float *o)
{
    const int N = (int)s->N, d = (int)s->d, dv = (int)s->dv, C = (int)s->C;
    const float *kn = s->kn + h * s->N * s->d;
    float *G = s->G + h * C * C, *A = s->A + h * C * C, *T = s->T + h * C * C;
    float *W = s->W + h * C * d, *U = s->U + h * C * dv, *M = s->M + h * d * dv;
    memset(M, 0, (size_t)d * (size_t)dv * sizeof *M);   /* S_0 = 0 */
    for (int t0 = 0; t0 < N; t0 += C) {
        const int L = N - t0 < C ? N - t0 : C;
        const float *K = kn + (size_t)t0 * d, *Q = q + (size_t)t0 * d, *V = v + (size_t)t0 * dv;
        float *O = o + (size_t)t0 * dv;
        /* G = K K^T, A = tril(Q K^T) */
        gemm_nt_blocks(L, L, d, K, d, K, d, G, C);
        gemm_nt_blocks(L, L, d, Q, d, K, d, A, C);
        cb_tril_inplace(A, (size_t)C, (size_t)L);
        /* T = (I + tril(diag(b) G, -1))^-1 diag(b) */
        cb_ut_transform(G, (size_t)C, beta + t0, (size_t)L, T, (size_t)C);
        /* W = T K, U = T V */
        gemm_blocks(CblasNoTrans, L, d, L, 1.0f, T, C, K, d, 0.0f, W, d);
        gemm_blocks(CblasNoTrans, L, dv, L, 1.0f, T, C, V, dv, 0.0f, U, dv);
        /* U~ = U - W M */
        gemm_blocks(CblasNoTrans, L, dv, d, -1.0f, W, d, M, dv, 1.0f, U, dv);
        /* O = Q M + A U~ */
        gemm_blocks(CblasNoTrans, L, dv, d, 1.0f, Q, d, M, dv, 0.0f, O, dv);
        gemm_blocks(CblasNoTrans, L, dv, L, 1.0f, A, C, U, dv, 1.0f, O, dv);
        /* M += K^T U~ */
        gemm_blocks(CblasTrans, d, dv, L, 1.0f, K, d, U, dv, 1.0f, M, dv);
    }
}

static int blas_dr_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)p;
    blas_dr *s = state;
    const int64_t N = s->N, d = s->d, dv = s->dv;
#pragma omp parallel for schedule(static)
    for (int64_t h = 0; h < s->H; h++) {
        cb_l2norm_rows(in[1].data + h * N * d, s->kn + h * N * d, (size_t)N, (size_t)d);
        blas_head(s, h, in[0].data + h * N * d, in[2].data + h * N * dv, in[3].data + h * N,
                  out[0].data + h * N * dv);
    }
    return 0;
}

const cb_impl cb_impl_blas_delta_rule = {
    .kernel = "delta_rule",
    .backend = "blas",
    .how = "chunkwise WY/UT form: per chunk sgemm K K^T, Q K^T, UT transform, W = T K, U = T V, U -= W S^T, O = Q S^T + A U, S^T += K^T U; OpenMP over heads",
    .prepare = blas_dr_prepare,
    .run = blas_dr_run,
    .release = blas_dr_release,
};
