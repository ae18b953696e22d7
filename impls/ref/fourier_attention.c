/* fourier_attention.c (ref) — the fourier_attention contract and its oracle.
 *
 * Fourier-type attention (Cao 2021, "Choose a Transformer: Fourier or
 * Galerkin") drops the softmax and normalizes queries and keys instead:
 *
 *   o = (q~ k~^T) v / N,
 *
 * where x~ is x with every token row (its d features) normalized to zero
 * mean and unit variance: a layer norm without scale and shift, biased
 * variance, eps = 1e-5 (common/layernorm_rows.h). Per head, q, k, v and o are
 * [N, d]; H heads are independent. The N x N score matrix q~ k~^T is the
 * kernel of a Fredholm integral operator (the "Fourier" reading of the
 * paper), and computing it costs 4 N^2 d flops per head: quadratic in N.
 * (Associativity would allow q~ (k~^T v)/N, which is the point of the
 * galerkin_attention kernel; this kernel times the quadratic order, as the
 * paper's Fourier Transformer computes it.)
 *
 * This file computes it the obvious way, in double: normalize q and k once
 * per head, then for every query row its N scores and the score-weighted sum
 * of the value rows.
 */
#include "kernel.h"
#include "common/layernorm_rows.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- the contract ------------------------------------------------------ */

static int want_dim(const cb_params *p, const char *name, int64_t *out, char *err, size_t errlen)
{
    int i = cb_params_find(p, name);
    if (i < 0)
        return cb_fail(err, errlen, "fourier_attention: missing parameter %s", name);
    double v = p->value[i];
    if (!(v == floor(v)) || v < 1 || v > 1e9)
        return cb_fail(err, errlen, "fourier_attention: %s = %g must be an integer >= 1", name, v);
    *out = (int64_t)v;
    return 0;
}

static int fa_shapes(cb_params *p, cb_shape *in, cb_shape *out, char *err, size_t errlen)
{
    int64_t H = 0, N = 0, d = 0;
    if (want_dim(p, "H", &H, err, errlen) || want_dim(p, "N", &N, err, errlen) ||
        want_dim(p, "d", &d, err, errlen))
        return -1;
    if (H * N * d > ((int64_t)1 << 31))
        return cb_fail(err, errlen, "fourier_attention: H*N*d = %lld is too large",
                       (long long)(H * N * d));
    for (int t = 0; t < 3; t++)
        in[t] = (cb_shape){3, {H, N, d}};   /* q, k, v */
    out[0] = (cb_shape){3, {H, N, d}};      /* o */
    return 0;
}

static int fa_infer(cb_params *p, const cb_shape *in, char *err, size_t errlen)
{
    for (int t = 0; t < 3; t++)
        if (in[t].rank != 3)
            return cb_fail(err, errlen, "fourier_attention: input %d must be [H, N, d]", t);
    for (int t = 1; t < 3; t++)
        for (int a = 0; a < 3; a++)
            if (in[t].dim[a] != in[0].dim[a])
                return cb_fail(err, errlen, "fourier_attention: %s must have the shape of q",
                               t == 1 ? "k" : "v");
    if (cb_params_set(p, "H", (double)in[0].dim[0]) || cb_params_set(p, "N", (double)in[0].dim[1]) ||
        cb_params_set(p, "d", (double)in[0].dim[2]))
        return cb_fail(err, errlen, "fourier_attention: too many parameters");
    return 0;
}

/* Nominal FLOPs, the same for every backend: 4*H*N^2*d, the two products
 * q~ k~^T and (.) v at 2 flops per multiply-add. The normalizations (about
 * 8*H*N*d) and the 1/N scaling are not counted. */
static double fa_flops(const cb_params *p)
{
    double H = cb_params_get(p, "H", 0), N = cb_params_get(p, "N", 0), d = cb_params_get(p, "d", 0);
    return 4 * H * N * N * d;
}

const cb_kernel cb_kernel_fourier_attention = {
    .name = "fourier_attention",
    .summary = "(q~ k~^T) v/N, q~ k~ layer-normalized per token, no softmax (Cao 2021)",
    .params_doc = "H N d",
    .n_in = 3,
    .in = {"q", "k", "v"},
    .n_out = 1,
    .out = {"o"},
    .shapes = fa_shapes,
    .infer = fa_infer,
    .flops = fa_flops,
};

/* ---- the reference implementation ------------------------------------- */

typedef struct ref_fa {
    int64_t H, N, d;
    double *qn, *kn;   /* normalized q and k of one head, N x d */
    double *w;         /* the scores of one query row, N */
    double *acc;       /* one output row, d */
} ref_fa;

static void ref_fa_release(void *state)
{
    ref_fa *s = state;
    if (!s) return;
    free(s->qn);
    free(s->kn);
    free(s->w);
    free(s->acc);
    free(s);
}

static int ref_fa_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out,
                          char *err, size_t errlen)
{
    (void)in;
    (void)out;
    ref_fa *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "ref fourier_attention: out of memory");
    s->H = cb_params_int(p, "H", 0);
    s->N = cb_params_int(p, "N", 0);
    s->d = cb_params_int(p, "d", 0);
    s->qn = malloc((size_t)(s->N * s->d) * sizeof *s->qn);
    s->kn = malloc((size_t)(s->N * s->d) * sizeof *s->kn);
    s->w = malloc((size_t)s->N * sizeof *s->w);
    s->acc = malloc((size_t)s->d * sizeof *s->acc);
    if (!s->qn || !s->kn || !s->w || !s->acc) {
        ref_fa_release(s);
        return cb_fail(err, errlen, "ref fourier_attention: out of memory");
    }
    *state = s;
    return 0;
}

static int ref_fa_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)p;
    ref_fa *s = state;
    const int64_t N = s->N, d = s->d;
    for (int64_t h = 0; h < s->H; h++) {
        const float *q = in[0].data + h * N * d, *k = in[1].data + h * N * d;
        const float *v = in[2].data + h * N * d;
        float *o = out[0].data + h * N * d;
        for (int64_t i = 0; i < N; i++) {
            cb_layernorm_row_d(q + i * d, s->qn + i * d, (size_t)d, CB_LN_EPS);
            cb_layernorm_row_d(k + i * d, s->kn + i * d, (size_t)d, CB_LN_EPS);
        }
        for (int64_t i = 0; i < N; i++) {
            /* w_j = q~_i . k~_j */
            for (int64_t j = 0; j < N; j++) {
                double dot = 0;
                for (int64_t a = 0; a < d; a++)
                    dot += s->qn[i * d + a] * s->kn[j * d + a];
                s->w[j] = dot;
            }
            /* o_i = (1/N) sum_j w_j v_j */
            memset(s->acc, 0, (size_t)d * sizeof *s->acc);
            for (int64_t j = 0; j < N; j++)
                for (int64_t c = 0; c < d; c++)
                    s->acc[c] += s->w[j] * (double)v[j * d + c];
            for (int64_t c = 0; c < d; c++)
                o[i * d + c] = (float)(s->acc[c] / (double)N);
        }
    }
    return 0;
}

const cb_impl cb_impl_ref_fourier_attention = {
    .kernel = "fourier_attention",
    .backend = "ref",
    .how = "double: layer-norm rows of q, k; per query row N scores q~.k~_j, o = sum_j w_j v_j / N",
    .prepare = ref_fa_prepare,
    .run = ref_fa_run,
    .release = ref_fa_release,
};
