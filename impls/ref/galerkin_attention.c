/* galerkin_attention.c (ref) — the galerkin_attention contract and its oracle.
 *
 * Galerkin-type attention (Cao 2021, "Choose a Transformer: Fourier or
 * Galerkin") drops the softmax and normalizes keys and values instead:
 *
 *   o = q (k~^T v~) / N,
 *
 * where x~ is x with every token row (its d features) normalized to zero
 * mean and unit variance: a layer norm without scale and shift, biased
 * variance, eps = 1e-5 (common/layernorm_rows.h). Per head, q, k, v and o are
 * [N, d]; H heads are independent. Because no softmax sits between the two
 * products, the d x d matrix k~^T v~ can be formed first: 4 N d^2 flops per
 * head instead of the 4 N^2 d of (q k~^T) v~, so the cost is linear in N.
 *
 * This file computes it the obvious way, in double: per head, the d x d
 * matrix S = (1/N) sum_j k~_j v~_j^T, then o_i = q_i^T S for every row.
 */
#include "kernel.h"
#include "common/layernorm_rows.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- the contract ------------------------------------------------------ */

/* Fetch a required parameter that must be an integer >= 1. */
static int want_dim(const cb_params *p, const char *name, int64_t *out, char *err, size_t errlen)
{
    int i = cb_params_find(p, name);
    if (i < 0)
        return cb_fail(err, errlen, "galerkin_attention: missing parameter %s", name);
    double v = p->value[i];
    if (!(v == floor(v)) || v < 1 || v > 1e9)
        return cb_fail(err, errlen, "galerkin_attention: %s = %g must be an integer >= 1", name, v);
    *out = (int64_t)v;
    return 0;
}

static int ga_shapes(cb_params *p, cb_shape *in, cb_shape *out, char *err, size_t errlen)
{
    int64_t H = 0, N = 0, d = 0;
    if (want_dim(p, "H", &H, err, errlen) || want_dim(p, "N", &N, err, errlen) ||
        want_dim(p, "d", &d, err, errlen))
        return -1;
    if (H * N * d > ((int64_t)1 << 31))
        return cb_fail(err, errlen, "galerkin_attention: H*N*d = %lld is too large",
                       (long long)(H * N * d));
    for (int t = 0; t < 3; t++)
        in[t] = (cb_shape){3, {H, N, d}};   /* q, k, v */
    out[0] = (cb_shape){3, {H, N, d}};      /* o */
    return 0;
}

static int ga_infer(cb_params *p, const cb_shape *in, char *err, size_t errlen)
{
    for (int t = 0; t < 3; t++)
        if (in[t].rank != 3)
            return cb_fail(err, errlen, "galerkin_attention: input %d must be [H, N, d]", t);
    for (int t = 1; t < 3; t++)
        for (int a = 0; a < 3; a++)
            if (in[t].dim[a] != in[0].dim[a])
                return cb_fail(err, errlen, "galerkin_attention: %s must have the shape of q",
                               t == 1 ? "k" : "v");
    if (cb_params_set(p, "H", (double)in[0].dim[0]) || cb_params_set(p, "N", (double)in[0].dim[1]) ||
        cb_params_set(p, "d", (double)in[0].dim[2]))
        return cb_fail(err, errlen, "galerkin_attention: too many parameters");
    return 0;
}

/* Nominal FLOPs, the same for every backend: 4*H*N*d^2, the two products
 * k~^T v~ and q S at 2 flops per multiply-add. The normalizations (about
 * 8*H*N*d) and the 1/N scaling are not counted. */
static double ga_flops(const cb_params *p)
{
    double H = cb_params_get(p, "H", 0), N = cb_params_get(p, "N", 0), d = cb_params_get(p, "d", 0);
    return 4 * H * N * d * d;
}

const cb_kernel cb_kernel_galerkin_attention = {
    .name = "galerkin_attention",
    .summary = "q (k~^T v~)/N, k~ v~ layer-normalized per token, no softmax (Cao 2021)",
    .params_doc = "H N d",
    .n_in = 3,
    .in = {"q", "k", "v"},
    .n_out = 1,
    .out = {"o"},
    .shapes = ga_shapes,
    .infer = ga_infer,
    .flops = ga_flops,
};

/* ---- the reference implementation ------------------------------------- */

typedef struct ref_ga {
    int64_t H, N, d;
    double *S;    /* d x d */
    double *kn;   /* one normalized key row, d */
    double *vn;   /* one normalized value row, d */
} ref_ga;

static void ref_ga_release(void *state)
{
    ref_ga *s = state;
    if (!s) return;
    free(s->S);
    free(s->kn);
    free(s->vn);
    free(s);
}

static int ref_ga_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out,
                          char *err, size_t errlen)
{
    (void)in;
    (void)out;
    ref_ga *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "ref galerkin_attention: out of memory");
    s->H = cb_params_int(p, "H", 0);
    s->N = cb_params_int(p, "N", 0);
    s->d = cb_params_int(p, "d", 0);
    s->S = malloc((size_t)(s->d * s->d) * sizeof *s->S);
    s->kn = malloc((size_t)s->d * sizeof *s->kn);
    s->vn = malloc((size_t)s->d * sizeof *s->vn);
    if (!s->S || !s->kn || !s->vn) {
        ref_ga_release(s);
        return cb_fail(err, errlen, "ref galerkin_attention: out of memory");
    }
    *state = s;
    return 0;
}

static int ref_ga_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)p;
    ref_ga *s = state;
    const int64_t N = s->N, d = s->d;
    for (int64_t h = 0; h < s->H; h++) {
        const float *q = in[0].data + h * N * d, *k = in[1].data + h * N * d;
        const float *v = in[2].data + h * N * d;
        float *o = out[0].data + h * N * d;
        /* S = (1/N) sum_j k~_j v~_j^T */
        memset(s->S, 0, (size_t)(d * d) * sizeof *s->S);
        for (int64_t j = 0; j < N; j++) {
            cb_layernorm_row_d(k + j * d, s->kn, (size_t)d, CB_LN_EPS);
            cb_layernorm_row_d(v + j * d, s->vn, (size_t)d, CB_LN_EPS);
            for (int64_t a = 0; a < d; a++)
                for (int64_t c = 0; c < d; c++)
                    s->S[a * d + c] += s->kn[a] * s->vn[c];
        }
        for (int64_t e = 0; e < d * d; e++)
            s->S[e] /= (double)N;
        /* o_i = q_i^T S */
        for (int64_t i = 0; i < N; i++)
            for (int64_t c = 0; c < d; c++) {
                double acc = 0;
                for (int64_t a = 0; a < d; a++)
                    acc += (double)q[i * d + a] * s->S[a * d + c];
                o[i * d + c] = (float)acc;
            }
    }
    return 0;
}

const cb_impl cb_impl_ref_galerkin_attention = {
    .kernel = "galerkin_attention",
    .backend = "ref",
    .how = "double: layer-norm rows of k, v; S = k~^T v~ / N (d x d); o = q S",
    .prepare = ref_ga_prepare,
    .run = ref_ga_run,
    .release = ref_ga_release,
};
