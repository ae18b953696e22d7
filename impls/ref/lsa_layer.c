/* lsa_layer.c (ref) — the lsa_layer contract and its oracle.
 *
 * One linear self-attention layer as von Oswald et al. (2023, "Transformers
 * learn in-context by gradient descent") write it, with a residual
 * connection and no softmax. The tokens are the rows of z [T, D], T = N + 1:
 * rows 0..N-1 are the context tokens e_j = (x_j, y_j), row N the query
 * (x_q, y_q). Every row i (the query included) is updated by attending to
 * the N context tokens only:
 *
 *   out_i = z_i + (1/N) sum_{j<N} (wp wv z_j) ((wk z_j)^T (wq z_i)).
 *
 * The sum leaves the query out of the keys and values: the paper's update
 * sums over the N context tokens (a mask on the query's key/value), which
 * is what makes the query's y-slot receive the GD prediction unpolluted by
 * its own value when W0 != 0. P of the paper is wp / N here (the 1/N is
 * part of the kernel, wp = eta I gives P = (eta/N) I).
 *
 * This file computes it by the definition, in double: the keys k_j = wk z_j,
 * queries q_i = wq z_i and projected values u_j = wp wv z_j first (O(T D^2)),
 * then for every row i every score k_j . q_i and the weighted sum of the
 * u_j: O(T N D), quadratic in N. The optimized backends use associativity
 * instead (O(T D^2), linear in N); the two orders are independent, which is
 * what an oracle should be.
 */
#include "kernel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- the contract ------------------------------------------------------ */

static int want_dim(const cb_params *p, const char *name, int64_t *out, char *err, size_t errlen)
{
    int i = cb_params_find(p, name);
    if (i < 0)
        return cb_fail(err, errlen, "lsa_layer: missing parameter %s", name);
    double v = p->value[i];
    if (!(v == floor(v)) || v < 1 || v > 1e9)
        return cb_fail(err, errlen, "lsa_layer: %s = %g must be an integer >= 1", name, v);
    *out = (int64_t)v;
    return 0;
}

static int lsa_shapes(cb_params *p, cb_shape *in, cb_shape *out, char *err, size_t errlen)
{
    int64_t N = 0, D = 0;
    if (want_dim(p, "N", &N, err, errlen) || want_dim(p, "D", &D, err, errlen))
        return -1;
    if (D > 4096)
        return cb_fail(err, errlen, "lsa_layer: D = %lld is too large (at most 4096)", (long long)D);
    if ((N + 1) * D > ((int64_t)1 << 31))
        return cb_fail(err, errlen, "lsa_layer: (N+1)*D = %lld is too large", (long long)((N + 1) * D));
    in[0] = (cb_shape){2, {N + 1, D}};        /* z: N context tokens + the query */
    for (int t = 1; t < 5; t++)
        in[t] = (cb_shape){2, {D, D}};        /* wk, wq, wv, wp */
    out[0] = (cb_shape){2, {N + 1, D}};
    return 0;
}

static int lsa_infer(cb_params *p, const cb_shape *in, char *err, size_t errlen)
{
    if (in[0].rank != 2 || in[0].dim[0] < 2)
        return cb_fail(err, errlen, "lsa_layer: z must be [N+1, D] with N >= 1 (at least one context token and the query)");
    const int64_t D = in[0].dim[1];
    static const char *const wn[4] = {"wk", "wq", "wv", "wp"};
    for (int t = 1; t < 5; t++)
        if (in[t].rank != 2 || in[t].dim[0] != D || in[t].dim[1] != D)
            return cb_fail(err, errlen, "lsa_layer: %s must be [D, D] with D = %lld (the width of z)", wn[t - 1],
                           (long long)D);
    if (cb_params_set(p, "N", (double)(in[0].dim[0] - 1)) || cb_params_set(p, "D", (double)D))
        return cb_fail(err, errlen, "lsa_layer: too many parameters");
    return 0;
}

/* Nominal FLOPs of the linear (associative) evaluation, the same for every
 * backend: C = Zc^T Zc (2 N D^2), out = z + Z G^T (2 T D^2), and the D x D
 * chain G = wp wv C wk^T wq (4 products, 8 D^3). */
static double lsa_flops(const cb_params *p)
{
    double N = cb_params_get(p, "N", 0), D = cb_params_get(p, "D", 0);
    return 2 * N * D * D + 2 * (N + 1) * D * D + 8 * D * D * D;
}

const cb_kernel cb_kernel_lsa_layer = {
    .name = "lsa_layer",
    .summary = "linear self-attention layer over N context tokens + query (von Oswald 2023): z + (1/N) sum_j (wp wv z_j)(wk z_j . wq z_i)",
    .params_doc = "N D",
    .n_in = 5,
    .in = {"z", "wk", "wq", "wv", "wp"},
    .n_out = 1,
    .out = {"out"},
    .shapes = lsa_shapes,
    .infer = lsa_infer,
    .flops = lsa_flops,
};

/* ---- the reference implementation ------------------------------------- */

typedef struct ref_lsa {
    int64_t N, D;
    double *k, *q, *u;   /* keys [N, D], queries [T, D], projected values [N, D] */
    double *v;           /* one value row wv z_j, D */
    double *acc;         /* one output row, D */
} ref_lsa;

static void ref_lsa_release(void *state)
{
    ref_lsa *s = state;
    if (!s) return;
    free(s->k);
    free(s->q);
    free(s->u);
    free(s->v);
    free(s->acc);
    free(s);
}

static int ref_lsa_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out, char *err,
                           size_t errlen)
{
    (void)in;
    (void)out;
    ref_lsa *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "ref lsa_layer: out of memory");
    s->N = cb_params_int(p, "N", 0);
    s->D = cb_params_int(p, "D", 0);
    const size_t T = (size_t)s->N + 1, D = (size_t)s->D;
    s->k = malloc((size_t)s->N * D * sizeof *s->k);
    s->q = malloc(T * D * sizeof *s->q);
    s->u = malloc((size_t)s->N * D * sizeof *s->u);
    s->v = malloc(D * sizeof *s->v);
    s->acc = malloc(D * sizeof *s->acc);
    if (!s->k || !s->q || !s->u || !s->v || !s->acc) {
        ref_lsa_release(s);
        return cb_fail(err, errlen, "ref lsa_layer: out of memory");
    }
    *state = s;
    return 0;
}

/* y = W x for a row-major D x D float matrix W and a float row x. */
static void matvec(const float *W, const float *x, double *y, int64_t D)
{
    for (int64_t a = 0; a < D; a++) {
        double t = 0;
        for (int64_t b = 0; b < D; b++)
            t += (double)W[a * D + b] * (double)x[b];
        y[a] = t;
    }
}

static int ref_lsa_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)p;
    ref_lsa *s = state;
    const int64_t N = s->N, D = s->D, T = N + 1;
    const float *z = in[0].data, *wk = in[1].data, *wq = in[2].data, *wv = in[3].data, *wp = in[4].data;
    float *o = out[0].data;
    for (int64_t j = 0; j < N; j++) {
        matvec(wk, z + j * D, s->k + j * D, D);
        matvec(wv, z + j * D, s->v, D);
        for (int64_t a = 0; a < D; a++) {   /* u_j = wp (wv z_j) */
            double t = 0;
            for (int64_t b = 0; b < D; b++)
                t += (double)wp[a * D + b] * s->v[b];
            s->u[j * D + a] = t;
        }
    }
    for (int64_t i = 0; i < T; i++)
        matvec(wq, z + i * D, s->q + i * D, D);
    for (int64_t i = 0; i < T; i++) {
        memset(s->acc, 0, (size_t)D * sizeof *s->acc);
        for (int64_t j = 0; j < N; j++) {    /* context tokens only */
            double score = 0;
            for (int64_t a = 0; a < D; a++)
                score += s->k[j * D + a] * s->q[i * D + a];
            for (int64_t a = 0; a < D; a++)
                s->acc[a] += score * s->u[j * D + a];
        }
        for (int64_t a = 0; a < D; a++)
            o[i * D + a] = (float)((double)z[i * D + a] + s->acc[a] / (double)N);
    }
    return 0;
}

const cb_impl cb_impl_ref_lsa_layer = {
    .kernel = "lsa_layer",
    .backend = "ref",
    .how = "double, by the definition: k, q, u = wp wv z per token, then every score k_j.q_i (O(T N D))",
    .prepare = ref_lsa_prepare,
    .run = ref_lsa_run,
    .release = ref_lsa_release,
};
