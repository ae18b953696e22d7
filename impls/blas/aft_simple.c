/* aft_simple.c (blas) — AFT-simple as three vectorized passes in plain C.
 *
 *   pass 1  m_c = max_t k_tc                                  (reads K)
 *   pass 2  num_c = Σ_t e_tc v_tc,  den_c = Σ_t e_tc,
 *           e_tc = exp(k_tc - m_c)                            (reads K, V)
 *   pass 3  o_tc = sigmoid(q_tc) · num_c / den_c              (reads Q, writes O)
 *
 * AFT-simple has no matrix product to hand to OpenBLAS: its token reduction
 * is the diagonal of E^T V, an elementwise product summed down the columns.
 * A BLAS formulation (sgemv of [E⊙V | E]^T against a vector of ones) would
 * first have to write E⊙V and E to an N × 2d scratch and read them back, two
 * extra passes over memory for a computation that is bandwidth-bound; so
 * this backend fuses the passes in C instead and keeps O(d) working memory.
 * Every loop runs down the rows and across the d channels, reading the
 * row-major tensors in order, and gcc -O3 vectorizes it over c with the
 * inline exp of common/vexp.h (a scalar expf would dominate the time).
 * The loops run on the calling thread, like the C parts of every blas kernel
 * here (OpenMP regions beside OpenBLAS's spinning workers were measured 2-3×
 * slower in blas/softmax_attention.c).
 *
 * Accuracy: the column sums run over N up to ~10^6 terms. Summed in float
 * one by one, their rounding error could grow like N·eps; here each block of
 * 256 rows is summed in float (error <= 256 eps of the block sum) and the
 * block sums are added in double, so the error no longer grows with N.
 */
#include "kernel.h"
#include "blas/aft_simple_util.h"

#include <stdlib.h>
#include <string.h>

enum { AS_BLOCK = 256 };   /* rows per float partial sum */

typedef struct blas_as {
    int64_t N, d;
    float *m, *nb, *db, *ctx;   /* d each: maxima, block sums, context */
    double *num, *den;          /* d each: running totals */
} blas_as;

static void blas_as_release(void *state)
{
    blas_as *s = state;
    if (!s) return;
    free(s->m);
    free(s->nb);
    free(s->db);
    free(s->ctx);
    free(s->num);
    free(s->den);
    free(s);
}

static int blas_as_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out,
                           char *err, size_t errlen)
{
    (void)in;
    (void)out;
    blas_as *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "blas aft_simple: out of memory");
    s->N = cb_params_int(p, "N", 0);
    s->d = cb_params_int(p, "d", 0);
    size_t d = (size_t)s->d;
    s->m = calloc(d, sizeof *s->m);     /* calloc: zeroed, so pre-touched */
    s->nb = calloc(d, sizeof *s->nb);
    s->db = calloc(d, sizeof *s->db);
    s->ctx = calloc(d, sizeof *s->ctx);
    s->num = calloc(d, sizeof *s->num);
    s->den = calloc(d, sizeof *s->den);
    if (!s->m || !s->nb || !s->db || !s->ctx || !s->num || !s->den) {
        blas_as_release(s);
        return cb_fail(err, errlen, "blas aft_simple: out of memory");
    }
    *state = s;
    return 0;
}

static int blas_as_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)p;
    blas_as *s = state;
    const int64_t N = s->N, d = s->d;
    const float *q = in[0].data, *k = in[1].data, *v = in[2].data;
    float *o = out[0].data;
    float *restrict m = s->m, *restrict nb = s->nb, *restrict db = s->db, *restrict ctx = s->ctx;

    cb_aft_colmax(k, N, d, m);
    memset(s->num, 0, (size_t)d * sizeof *s->num);
    memset(s->den, 0, (size_t)d * sizeof *s->den);
    for (int64_t t0 = 0; t0 < N; t0 += AS_BLOCK) {
        const int64_t t1 = t0 + AS_BLOCK < N ? t0 + AS_BLOCK : N;
        memset(nb, 0, (size_t)d * sizeof *nb);
        memset(db, 0, (size_t)d * sizeof *db);
        for (int64_t t = t0; t < t1; t++) {
            const float *restrict kr = k + t * d, *restrict vr = v + t * d;
            for (int64_t c = 0; c < d; c++) {
                float e = cb_exp_nonpos(kr[c] - m[c]);
                nb[c] += e * vr[c];
                db[c] += e;
            }
        }
        for (int64_t c = 0; c < d; c++) {
            s->num[c] += nb[c];
            s->den[c] += db[c];
        }
    }
    for (int64_t c = 0; c < d; c++)
        ctx[c] = (float)(s->num[c] / s->den[c]);
    for (int64_t t = 0; t < N; t++) {
        const float *restrict qr = q + t * d;
        float *restrict orow = o + t * d;
        for (int64_t c = 0; c < d; c++)
            orow[c] = cb_aft_sigmoid(qr[c]) * ctx[c];
    }
    return 0;
}

const cb_impl cb_impl_blas_aft_simple = {
    .kernel = "aft_simple",
    .backend = "blas",
    .how = "C, vectorized (no product to give BLAS): column max, fused exp-weighted column sums, gate",
    .prepare = blas_as_prepare,
    .run = blas_as_run,
    .release = blas_as_release,
};
