/* linear_attention.c (blas) — linear attention with CBLAS (OpenBLAS).
 *
 * Per head (the heads are independent; OpenBLAS threads inside each call):
 *
 * non-causal:  F = phi(K);  S = F^T V (sgemm);  z = colsum F
 *              F = phi(Q);  O = F S (sgemm);  den = F z (sgemv);  O /= den
 *   One buffer of N x d holds phi(K), then phi(Q).
 *
 * causal, chunkwise (blocks of C = chunk rows; never an N x N mask):
 *   for each chunk c:  A   = tril(phi(Q_c) phi(K_c)^T)        C x C
 *                      O_c = A V_c + phi(Q_c) S_prev
 *                      den = A 1   + phi(Q_c) z_prev
 *                      S  += phi(K_c)^T V_c,   z += colsum phi(K_c)
 *   This is the recurrence evaluated a block at a time: inside a chunk the
 *   causal sum is the masked product, across chunks it is the state. The
 *   work is O(N C (d + dv) + N d dv), and every product is a GEMM, which is
 *   why it beats the token-by-token recurrence on a CPU.
 *
 * phi(x) = elu(x) + 1 comes from cb_elu1_f32 (elu1.c, vectorized exp).
 * All scratch is allocated in prepare(); run() only computes.
 */
#include "kernel.h"
#include "common/elu1.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#ifdef CB_INJECT_DELAY_US
#include <time.h>
#endif

typedef struct blas_la {
    int64_t H, N, d, dv, C;
    int causal;
    float *F;    /* non-causal: phi(K) then phi(Q), N x d.  causal: phi(Q_c), C x d */
    float *G;    /* causal: phi(K_c), C x d */
    float *A;    /* causal: the masked intra-chunk scores, C x C */
    float *S;    /* d x dv */
    float *z;    /* d */
    float *den;  /* N (non-causal) or C (causal) */
} blas_la;

static void blas_la_release(void *state)
{
    blas_la *s = state;
    if (!s) return;
    free(s->F);
    free(s->G);
    free(s->A);
    free(s->S);
    free(s->z);
    free(s->den);
    free(s);
}

static float *falloc(int64_t n) { return malloc((size_t)(n > 0 ? n : 1) * sizeof(float)); }

static int blas_la_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out,
                           char *err, size_t errlen)
{
    (void)in;
    (void)out;
    blas_la *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "blas linear_attention: out of memory");
    s->H = cb_params_int(p, "H", 0);
    s->N = cb_params_int(p, "N", 0);
    s->d = cb_params_int(p, "d", 0);
    s->dv = cb_params_int(p, "dv", s->d);
    s->causal = (int)cb_params_int(p, "causal", 0);
    s->C = cb_params_int(p, "chunk", 64);
    if (s->C > s->N) s->C = s->N;
    int64_t rows = s->causal ? s->C : s->N;
    s->F = falloc(rows * s->d);
    s->G = falloc(s->causal ? s->C * s->d : 1);
    s->A = falloc(s->causal ? s->C * s->C : 1);
    s->S = falloc(s->d * s->dv);
    s->z = falloc(s->d);
    s->den = falloc(rows);
    if (!s->F || !s->G || !s->A || !s->S || !s->z || !s->den) {
        blas_la_release(s);
        return cb_fail(err, errlen, "blas linear_attention: out of memory");
    }
    /* Touch the scratch now, so no first-touch page fault lands in run(). */
    memset(s->F, 0, (size_t)(rows * s->d) * sizeof(float));
    *state = s;
    return 0;
}

/* o[i, :] /= den[i] for n rows of length dv. */
static void divide_rows(float *o, const float *den, int64_t n, int64_t dv)
{
    for (int64_t i = 0; i < n; i++) {
        float r = 1.0f / den[i];
        for (int64_t c = 0; c < dv; c++)
            o[i * dv + c] *= r;
    }
}

/* z[a] += sum_i F[i, a] over n rows of length d (row order: vectorizes over a). */
static void add_colsum(float *z, const float *F, int64_t n, int64_t d)
{
    for (int64_t i = 0; i < n; i++)
        for (int64_t a = 0; a < d; a++)
            z[a] += F[i * d + a];
}

static void head_noncausal(blas_la *s, const float *q, const float *k, const float *v, float *o)
{
    const int N = (int)s->N, d = (int)s->d, dv = (int)s->dv;
    cb_elu1_f32(k, s->F, (size_t)N * (size_t)d);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d, dv, N, 1.0f, s->F, d, v, dv, 0.0f, s->S, dv);
    memset(s->z, 0, (size_t)d * sizeof(float));
    add_colsum(s->z, s->F, N, d);
    cb_elu1_f32(q, s->F, (size_t)N * (size_t)d);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, dv, d, 1.0f, s->F, d, s->S, dv, 0.0f, o, dv);
    cblas_sgemv(CblasRowMajor, CblasNoTrans, N, d, 1.0f, s->F, d, s->z, 1, 0.0f, s->den, 1);
    divide_rows(o, s->den, N, dv);
}

static void head_causal(blas_la *s, const float *q, const float *k, const float *v, float *o)
{
    const int N = (int)s->N, d = (int)s->d, dv = (int)s->dv, C = (int)s->C;
    float *FQ = s->F, *FK = s->G, *A = s->A;
    memset(s->S, 0, (size_t)d * (size_t)dv * sizeof(float));
    memset(s->z, 0, (size_t)d * sizeof(float));
    for (int r0 = 0; r0 < N; r0 += C) {
        const int L = N - r0 < C ? N - r0 : C;   /* the tail chunk may be shorter */
        const float *vc = v + (size_t)r0 * dv;
        float *oc = o + (size_t)r0 * dv;
        cb_elu1_f32(q + (size_t)r0 * d, FQ, (size_t)L * (size_t)d);
        cb_elu1_f32(k + (size_t)r0 * d, FK, (size_t)L * (size_t)d);
        /* A = tril(phi(Q_c) phi(K_c)^T), row sums into den */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, L, L, d, 1.0f, FQ, d, FK, d, 0.0f, A, C);
        for (int i = 0; i < L; i++) {
            float rs = 0.0f;
            for (int j = 0; j <= i; j++)
                rs += A[i * C + j];
            for (int j = i + 1; j < L; j++)
                A[i * C + j] = 0.0f;
            s->den[i] = rs;
        }
        /* O_c = A V_c + phi(Q_c) S_prev;  den += phi(Q_c) z_prev */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, L, dv, L, 1.0f, A, C, vc, dv, 0.0f, oc, dv);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, L, dv, d, 1.0f, FQ, d, s->S, dv, 1.0f, oc, dv);
        cblas_sgemv(CblasRowMajor, CblasNoTrans, L, d, 1.0f, FQ, d, s->z, 1, 1.0f, s->den, 1);
        divide_rows(oc, s->den, L, dv);
        /* S += phi(K_c)^T V_c;  z += colsum phi(K_c) */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d, dv, L, 1.0f, FK, d, vc, dv, 1.0f, s->S, dv);
        add_colsum(s->z, FK, L, d);
    }
}

static int blas_la_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)p;
    blas_la *s = state;
    const int64_t N = s->N, d = s->d, dv = s->dv;
    for (int64_t h = 0; h < s->H; h++) {
        const float *q = in[0].data + h * N * d, *k = in[1].data + h * N * d;
        const float *v = in[2].data + h * N * dv;
        float *o = out[0].data + h * N * dv;
        if (s->causal)
            head_causal(s, q, k, v, o);
        else
            head_noncausal(s, q, k, v, o);
    }
#ifdef CB_INJECT_PERTURB
    /* Test-only (make inject, tests/t_compare.t): an injected numerical
     * regression, every output 0.1% too large. */
    for (int64_t i = 0; i < s->H * N * dv; i++)
        out[0].data[i] *= 1.001f;
#endif
#ifdef CB_INJECT_DELAY_US
    /* Test-only (make inject, tests/t_compare.t): an injected performance
     * regression, a busy wait of CB_INJECT_DELAY_US microseconds per call. */
    {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        do
            clock_gettime(CLOCK_MONOTONIC, &t1);
        while ((t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000L < (CB_INJECT_DELAY_US));
    }
#endif
    return 0;
}

const cb_impl cb_impl_blas_linear_attention = {
    .kernel = "linear_attention",
    .backend = "blas",
    .how = "per head: sgemm phi(K)^T V, sgemm phi(Q) S; causal chunkwise (tril intra-chunk sgemm + state)",
    .prepare = blas_la_prepare,
    .run = blas_la_run,
    .release = blas_la_release,
};
