/* favor_attention.c (blas) — FAVOR+ attention with CBLAS (OpenBLAS).
 *
 * The estimator is defined in impls/ref/favor_attention.c. Per head (the
 * heads are independent; OpenBLAS threads inside each sgemm), in blocks of
 * B rows, so the N x m feature matrices never exist whole:
 *
 *   keys, block b:   P  = c K_b W^T              sgemm (B x m), alpha = c = d^-1/4
 *                    P -> exp(P - |c k|^2/2 - M)  running maximum M, z += colsum P
 *                    S += P^T V_b                sgemm (m x dv), beta = 1
 *   then             S^ = [S | z]                (m x (dv + 1))
 *   queries, block:  P  = c Q_b W^T              sgemm
 *                    P -> exp(P - rowmax P)
 *                    R  = P S^                   sgemm (B x (dv + 1))
 *                    o_i = R_i[:dv] / R_i[dv]
 *
 * The row passes (impls/blas/favor_attention_rows.h) implement the paper's
 * stabilizer: for keys one maximum over all keys and features, computed on
 * the fly: when a block raises the running maximum from M to Mb, the state
 * built so far is rescaled by exp(M - Mb), so after the last block S and z
 * are exactly those of the global maximum (the streaming-softmax trick). For
 * queries the -|x|^2/2 term and the 1/sqrt(m) factor are dropped: both are
 * constant over a query row and cancel in o_i = phi(x_i)^T S / phi(x_i)^T z,
 * as 1/sqrt(m) does in S and z. Keeping z as the last column of S^ gives the
 * numerator and the denominator of every o_i from one sgemm.
 *
 * B = 256 keeps the B x m block (256 KB at m = 256) in L2 between its sgemm
 * and its exp pass. All scratch is allocated and touched in prepare(); run()
 * only computes.
 */
#include "kernel.h"
#include "blas/favor_attention_rows.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { FA_BLOCK = 256 };

typedef struct blas_fa {
    int64_t H, N, d, dv, m, B;
    float c;      /* d^(-1/4) */
    float *P;     /* B x m: projections, then features */
    float *Sh;    /* S^ = [S | z], m x (dv + 1) */
    float *z;     /* m */
    float *R;     /* B x (dv + 1) */
} blas_fa;

static void blas_fa_release(void *state)
{
    blas_fa *s = state;
    if (!s) return;
    free(s->P);
    free(s->Sh);
    free(s->z);
    free(s->R);
    free(s);
}

static float *falloc0(int64_t n)
{
    size_t bytes = (size_t)(n > 0 ? n : 1) * sizeof(float);
    float *p = malloc(bytes);
    if (p) memset(p, 0, bytes);   /* touch every page now, not in run() */
    return p;
}

static int blas_fa_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out,
                           char *err, size_t errlen)
{
    (void)in;
    (void)out;
    blas_fa *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "blas favor_attention: out of memory");
    s->H = cb_params_int(p, "H", 0);
    s->N = cb_params_int(p, "N", 0);
    s->d = cb_params_int(p, "d", 0);
    s->dv = cb_params_int(p, "dv", s->d);
    s->m = cb_params_int(p, "m", 256);
    s->B = s->N < FA_BLOCK ? s->N : FA_BLOCK;
    s->c = (float)pow((double)s->d, -0.25);
    s->P = falloc0(s->B * s->m);
    s->Sh = falloc0(s->m * (s->dv + 1));
    s->z = falloc0(s->m);
    s->R = falloc0(s->B * (s->dv + 1));
    if (!s->P || !s->Sh || !s->z || !s->R) {
        blas_fa_release(s);
        return cb_fail(err, errlen, "blas favor_attention: out of memory");
    }
    *state = s;
    return 0;
}

/* One head's keys into S^ = [S | z]. */
static void absorb_keys(blas_fa *s, const float *k, const float *v, const float *w)
{
    const int d = (int)s->d, dv = (int)s->dv, m = (int)s->m, ld = dv + 1;
    const float hc = 0.5f * s->c * s->c;
    float M = -INFINITY;
    memset(s->Sh, 0, (size_t)m * (size_t)ld * sizeof(float));
    memset(s->z, 0, (size_t)m * sizeof(float));
    for (int64_t r0 = 0; r0 < s->N; r0 += s->B) {
        const int L = (int)(s->N - r0 < s->B ? s->N - r0 : s->B);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, L, m, d, s->c, k + r0 * d, d, w, d, 0.0f, s->P, m);
        fa_key_block(s->P, L, m, k + r0 * d, d, hc, &M, s->Sh, (int64_t)m * ld, s->z);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m, dv, L, 1.0f, s->P, m, v + r0 * dv, dv, 1.0f,
                    s->Sh, ld);
    }
    for (int l = 0; l < m; l++)
        s->Sh[(size_t)l * ld + dv] = s->z[l];
}

/* One head's queries: o = phi(Q) S / phi(Q) z. */
static void read_queries(blas_fa *s, const float *q, const float *w, float *o)
{
    const int d = (int)s->d, dv = (int)s->dv, m = (int)s->m, ld = dv + 1;
    for (int64_t r0 = 0; r0 < s->N; r0 += s->B) {
        const int L = (int)(s->N - r0 < s->B ? s->N - r0 : s->B);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, L, m, d, s->c, q + r0 * d, d, w, d, 0.0f, s->P, m);
        fa_query_block(s->P, L, m);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, L, ld, m, 1.0f, s->P, m, s->Sh, ld, 0.0f, s->R,
                    ld);
        fa_divide(s->R, L, dv, o + r0 * dv, dv);
    }
}

static int blas_fa_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)p;
    blas_fa *s = state;
    const int64_t N = s->N, d = s->d, dv = s->dv;
    for (int64_t h = 0; h < s->H; h++) {
        absorb_keys(s, in[1].data + h * N * d, in[2].data + h * N * dv, in[3].data);
        read_queries(s, in[0].data + h * N * d, in[3].data, out[0].data + h * N * dv);
    }
    return 0;
}

const cb_impl cb_impl_blas_favor_attention = {
    .kernel = "favor_attention",
    .backend = "blas",
    .how = "per head, blocks of 256 rows: sgemm c X W^T, vectorized exp (running key max), sgemm phi(K)^T V, phi(Q) [S|z]",
    .prepare = blas_fa_prepare,
    .run = blas_fa_run,
    .release = blas_fa_release,
};
