/* ref/xca.c — the xca contract and its oracle: cross-covariance attention.
 *
 * XCiT (El-Nouby et al., NeurIPS 2021) attends across feature channels
 * instead of tokens. Per head, with q, k, v of shape [N, dh] (N tokens,
 * dh channels), as the reference code computes it (facebookresearch/xcit,
 * xcit.py, class XCA: q, k, v transposed to [dh, N], F.normalize(dim=-1),
 * attn = (q @ k^T) * temperature, attn.softmax(dim=-1), attn @ v):
 *
 *   q^_:,i = q_:,i / max(||q_:,i||, eps)      column i over the N tokens
 *   k^_:,j = k_:,j / max(||k_:,j||, eps)      (eps = 1e-12, as F.normalize)
 *   A[i, j] = softmax_j( tau * sum_n q^[n, i] k^[n, j] )     dh x dh
 *   o[n, i] = sum_j A[i, j] v[n, j]           i.e. o = v A^T, [N, dh]
 *
 * The dh x dh map A replaces the N x N map of token attention, so the cost
 * is O(N dh^2) per head, linear in N. H heads are independent.
 *
 * The reference accumulates in double. Normalizing a column is scaling it,
 * so sum_n q^[n,i] k^[n,j] = (sum_n q[n,i] k[n,j]) / (|q_i| |k_j|): the
 * oracle forms the raw Gram matrix q^T k and divides each entry by the two
 * clamped norms, which is the same number without an N x dh copy.
 */
#include "kernel.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* F.normalize's default eps: the norm is clamped to at least this. */
#define XCA_NORM_EPS 1e-12

/* ---- the contract ------------------------------------------------------ */

/* An integer parameter in [1, INT_MAX] (cblas and oneDNN index with int). */
static int get_dim(const cb_params *p, const char *name, int64_t *out, char *err, size_t errlen)
{
    if (!cb_params_has(p, name))
        return cb_fail(err, errlen, "xca: missing parameter %s", name);
    double v = cb_params_get(p, name, 0);
    if (!(v == floor(v)) || v < 1 || v > (double)INT_MAX)
        return cb_fail(err, errlen, "xca: parameter %s=%g must be an integer in [1, %d]", name, v, INT_MAX);
    *out = (int64_t)v;
    return 0;
}

static int xca_shapes(cb_params *p, cb_shape *in, cb_shape *out, char *err, size_t errlen)
{
    int64_t H, N, dh;
    if (get_dim(p, "H", &H, err, errlen) || get_dim(p, "N", &N, err, errlen) ||
        get_dim(p, "dh", &dh, err, errlen))
        return -1;
    if (cb_params_default(p, "tau", 1.0))
        return cb_fail(err, errlen, "xca: too many parameters");
    double tau = cb_params_get(p, "tau", 1.0);
    if (!isfinite(tau) || fabs(tau) > FLT_MAX)
        return cb_fail(err, errlen, "xca: parameter tau=%g must be a finite float", tau);
    if ((double)H * (double)N * (double)dh > 0x1p48 || (double)N * (double)dh > (double)INT_MAX)
        return cb_fail(err, errlen, "xca: H, N, dh give tensors that are too large");
    for (int t = 0; t < 3; t++)
        in[t] = (cb_shape){3, {H, N, dh}};   /* q, k, v */
    out[0] = (cb_shape){3, {H, N, dh}};      /* o */
    return 0;
}

static int xca_infer(cb_params *p, const cb_shape *in, char *err, size_t errlen)
{
    static const char *const names[3] = {"q", "k", "v"};
    for (int t = 0; t < 3; t++)
        if (in[t].rank != 3)
            return cb_fail(err, errlen, "xca: input %s must have rank 3 ([H, N, dh]), got rank %d",
                           names[t], in[t].rank);
    for (int t = 1; t < 3; t++)
        for (int a = 0; a < 3; a++)
            if (in[t].dim[a] != in[0].dim[a])
                return cb_fail(err, errlen, "xca: %s must have the shape of q [%lld, %lld, %lld]", names[t],
                               (long long)in[0].dim[0], (long long)in[0].dim[1], (long long)in[0].dim[2]);
    if (cb_params_set(p, "H", (double)in[0].dim[0]) || cb_params_set(p, "N", (double)in[0].dim[1]) ||
        cb_params_set(p, "dh", (double)in[0].dim[2]))
        return cb_fail(err, errlen, "xca: too many parameters");
    return 0;
}

/* Nominal FLOPs, the same for every backend (2 per multiply-add):
 *   2*H*N*dh^2   the Gram matrix q^T k (dh x dh, a sum over N)
 *   2*H*N*dh^2   o = v A^T
 *   4*H*N*dh     the two sums of squares over the tokens (q and k)
 * The dh^2 scalings and the dh x dh softmax are not counted. */
static double xca_flops(const cb_params *p)
{
    double H = (double)cb_params_int(p, "H", 0), N = (double)cb_params_int(p, "N", 0);
    double dh = (double)cb_params_int(p, "dh", 0);
    return H * (4 * N * dh * dh + 4 * N * dh);
}

const cb_kernel cb_kernel_xca = {
    .name = "xca",
    .summary = "cross-covariance attention: o = v softmax(tau q^T k / norms)^T per head (XCiT 2021)",
    .params_doc = "H N dh tau(=1)",
    .n_in = 3,
    .in = {"q", "k", "v"},
    .n_out = 1,
    .out = {"o"},
    .shapes = xca_shapes,
    .infer = xca_infer,
    .flops = xca_flops,
};

/* ---- the reference implementation ------------------------------------- */

typedef struct ref_xca {
    int64_t H, N, dh;
    double tau;
    double *G;      /* dh x dh: Gram matrix, then logits, then A */
    double *nq;     /* dh: clamped column norms of q */
    double *nk;     /* dh: clamped column norms of k */
} ref_xca;

static void ref_xca_release(void *state)
{
    ref_xca *s = state;
    if (!s) return;
    free(s->G);
    free(s->nq);
    free(s->nk);
    free(s);
}

static int ref_xca_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out,
                           char *err, size_t errlen)
{
    (void)in;
    (void)out;
    ref_xca *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "ref xca: out of memory");
    s->H = cb_params_int(p, "H", 0);
    s->N = cb_params_int(p, "N", 0);
    s->dh = cb_params_int(p, "dh", 0);
    s->tau = cb_params_get(p, "tau", 1.0);
    s->G = malloc((size_t)(s->dh * s->dh) * sizeof *s->G);
    s->nq = malloc((size_t)s->dh * sizeof *s->nq);
    s->nk = malloc((size_t)s->dh * sizeof *s->nk);
    if (!s->G || !s->nq || !s->nk) {
        ref_xca_release(s);
        return cb_fail(err, errlen, "ref xca: out of memory");
    }
    *state = s;
    return 0;
}

/* nrm[c] = max(sqrt(sum_n x[n, c]^2), eps) for the dh columns of x [N, dh]. */
static void column_norms(const float *x, int64_t N, int64_t dh, double *nrm)
{
    for (int64_t c = 0; c < dh; c++)
        nrm[c] = 0;
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < dh; c++)
            nrm[c] += (double)x[n * dh + c] * (double)x[n * dh + c];
    for (int64_t c = 0; c < dh; c++) {
        double r = sqrt(nrm[c]);
        nrm[c] = r > XCA_NORM_EPS ? r : XCA_NORM_EPS;
    }
}

static int ref_xca_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)p;
    ref_xca *s = state;
    const int64_t N = s->N, dh = s->dh;
    double *G = s->G;
    for (int64_t h = 0; h < s->H; h++) {
        const float *q = in[0].data + h * N * dh, *k = in[1].data + h * N * dh;
        const float *v = in[2].data + h * N * dh;
        float *o = out[0].data + h * N * dh;
        column_norms(q, N, dh, s->nq);
        column_norms(k, N, dh, s->nk);
        /* G = q^T k, a sum over the tokens */
        memset(G, 0, (size_t)(dh * dh) * sizeof *G);
        for (int64_t n = 0; n < N; n++)
            for (int64_t i = 0; i < dh; i++) {
                double qi = q[n * dh + i];
                for (int64_t j = 0; j < dh; j++)
                    G[i * dh + j] += qi * (double)k[n * dh + j];
            }
        /* A[i, :] = softmax(tau G[i, :] / (|q_i| |k_j|)), the row maximum
         * subtracted first so that no exp overflows */
        for (int64_t i = 0; i < dh; i++) {
            double *row = G + i * dh, mx = -INFINITY, sum = 0;
            for (int64_t j = 0; j < dh; j++) {
                row[j] = s->tau * (row[j] / (s->nq[i] * s->nk[j]));
                if (row[j] > mx) mx = row[j];
            }
            for (int64_t j = 0; j < dh; j++) {
                row[j] = exp(row[j] - mx);
                sum += row[j];
            }
            for (int64_t j = 0; j < dh; j++)
                row[j] /= sum;
        }
        /* o[n, i] = sum_j A[i, j] v[n, j] */
        for (int64_t n = 0; n < N; n++)
            for (int64_t i = 0; i < dh; i++) {
                double acc = 0;
                for (int64_t j = 0; j < dh; j++)
                    acc += G[i * dh + j] * (double)v[n * dh + j];
                o[n * dh + i] = (float)acc;
            }
    }
    return 0;
}

const cb_impl cb_impl_ref_xca = {
    .kernel = "xca",
    .backend = "ref",
    .how = "double loops per head: column norms, Gram q^T k, scaled row softmax, o = v A^T",
    .prepare = ref_xca_prepare,
    .run = ref_xca_run,
    .release = ref_xca_release,
};
