/* blas/xca.c — cross-covariance attention (XCiT) with CBLAS (OpenBLAS).
 *
 * Per head, q, k, v, o are [N, dh] row-major (see ref/xca.c for the math):
 *   for each block of B = 1024 tokens (the last one shorter):
 *     ssq[i] += sum q[n, i]^2, ssk[j] += sum k[n, j]^2         C, double sums
 *     G += q_blk^T k_blk                cblas_sgemm (Trans, NoTrans), dh x dh, K = B
 *   r[i] = tau / max(sqrt(ssq[i]), eps),  c[j] = 1 / max(sqrt(ssk[j]), eps)
 *   G[i, j] *= r[i] c[j]                C, dh^2
 *   A = row softmax(G)                  cb_softmax_rows (common/softmax_rows.c)
 *   o = v A^T                           cblas_sgemm (NoTrans, Trans): N x dh, K = dh
 *
 * Normalization is folded into the dh x dh Gram matrix instead of scaling
 * the N x dh columns of q and k: a column scale is a row (or column) scale
 * of q^T k. That saves a pass over q and k and an N x dh copy, so the only
 * scratch is the dh x dh map and the scale vectors: the extra memory is
 * O(dh^2), independent of N (the paper's O(d^2/h) term); what grows with N
 * are the inputs and the output themselves.
 *
 * Blocking: the sums of squares of a block and its Gram product read the
 * same 2 x 256 KiB of q and k (B = 1024, dh = 64), so the product finds them
 * in L2 and q and k stream from memory once instead of twice. At H = 8,
 * N = 16384, dh = 64 that took the best of 30 calls from 36.9 to 34.8 ms
 * (one process after the other, on a machine shared with other jobs).
 * dnnl/xca.c says why the oneDNN version does not block.
 *
 * The sums of squares accumulate in double: a float sum of N positive
 * terms errs by up to N eps of the sum, 1e-3 at N = 16384, and the loop is
 * bound by memory either way. The Gram product is float, as in the
 * reference code's float32 model: entries below ~1e-19 in magnitude would
 * underflow in it (they do not arise here).
 * OpenBLAS threads inside each sgemm; the heads run one after another.
 */
#include "kernel.h"
#include "common/softmax_rows.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define XCA_NORM_EPS 1e-12  /* F.normalize's default, as in ref/xca.c */

#define XCA_BLOCK 1024     /* tokens per block of the norm + Gram pass */

typedef struct blas_xca {
    int H, N, dh;
    double tau;
    float *G;           /* dh x dh: Gram matrix, then A */
    float *r, *c;       /* dh each: row scales tau/|q_i|, column scales 1/|k_j| */
    double *ssq, *ssk;  /* dh each: sums of squares of the columns of q and k */
} blas_xca;

static void blas_xca_release(void *state)
{
    blas_xca *s = state;
    if (!s) return;
    free(s->G);
    free(s->r);
    free(s->c);
    free(s->ssq);
    free(s->ssk);
    free(s);
}

static int blas_xca_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out,
                            char *err, size_t errlen)
{
    (void)in;
    (void)out;
    blas_xca *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "blas xca: out of memory");
    s->H = (int)cb_params_int(p, "H", 0);
    s->N = (int)cb_params_int(p, "N", 0);
    s->dh = (int)cb_params_int(p, "dh", 0);
    s->tau = cb_params_get(p, "tau", 1.0);
    const size_t dh = (size_t)s->dh;
    s->G = calloc(dh * dh, sizeof *s->G);   /* zeroed: pre-touched */
    s->r = calloc(dh, sizeof *s->r);
    s->c = calloc(dh, sizeof *s->c);
    s->ssq = calloc(dh, sizeof *s->ssq);
    s->ssk = calloc(dh, sizeof *s->ssk);
    if (!s->G || !s->r || !s->c || !s->ssq || !s->ssk) {
        blas_xca_release(s);
        return cb_fail(err, errlen, "blas xca: out of memory");
    }
    *state = s;
    return 0;
}

/* ss[c] += sum_n x[n, c]^2 over the L rows of x [L, dh]. Row order: the
 * inner loop runs over the contiguous channels and vectorizes (float to
 * double conversions, double adds). */
static void add_squares(const float *x, int L, int dh, double *ss)
{
    for (int n = 0; n < L; n++) {
        const float *row = x + (size_t)n * dh;
        for (int c = 0; c < dh; c++)
            ss[c] += (double)row[c] * (double)row[c];
    }
}

/* scale[c] = num / max(sqrt(ss[c]), eps) */
static void inv_norms(const double *ss, int dh, double num, float *scale)
{
    for (int c = 0; c < dh; c++) {
        double nrm = sqrt(ss[c]);
        scale[c] = (float)(num / (nrm > XCA_NORM_EPS ? nrm : XCA_NORM_EPS));
    }
}

static int blas_xca_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)p;
    blas_xca *s = state;
    const int N = s->N, dh = s->dh;
    float *G = s->G;
    for (int h = 0; h < s->H; h++) {
        const size_t off = (size_t)h * (size_t)N * (size_t)dh;
        const float *q = in[0].data + off, *k = in[1].data + off, *v = in[2].data + off;
        float *o = out[0].data + off;
        memset(s->ssq, 0, (size_t)dh * sizeof *s->ssq);
        memset(s->ssk, 0, (size_t)dh * sizeof *s->ssk);
        for (int r0 = 0; r0 < N; r0 += XCA_BLOCK) {
            const int L = N - r0 < XCA_BLOCK ? N - r0 : XCA_BLOCK;
            const float *qb = q + (size_t)r0 * dh, *kb = k + (size_t)r0 * dh;
            add_squares(qb, L, dh, s->ssq);
            add_squares(kb, L, dh, s->ssk);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, dh, dh, L, 1.0f, qb, dh, kb, dh,
                        r0 == 0 ? 0.0f : 1.0f, G, dh);
        }
        inv_norms(s->ssq, dh, s->tau, s->r);
        inv_norms(s->ssk, dh, 1.0, s->c);
        for (int i = 0; i < dh; i++) {
            const float ri = s->r[i];
            for (int j = 0; j < dh; j++)
                G[i * dh + j] = (G[i * dh + j] * ri) * s->c[j];   /* no ri*c[j] overflow */
        }
        cb_softmax_rows(G, (size_t)dh, dh, dh, dh, NULL);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, dh, dh, 1.0f, v, dh, G, dh, 0.0f, o, dh);
    }
    return 0;
}

const cb_impl cb_impl_blas_xca = {
    .kernel = "xca",
    .backend = "blas",
    .how = "per head, blocks of 1024 tokens: column sums of squares (C, double) and sgemm q^T k accumulated; scale by norms and tau, row softmax, sgemm v A^T",
    .prepare = blas_xca_prepare,
    .run = blas_xca_run,
    .release = blas_xca_release,
};
