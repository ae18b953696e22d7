/* aft_full.c (ref) — the aft_full contract and its oracle.
 *
 * AFT-full (Zhai et al. 2021, "An Attention Free Transformer", Eq. 2) adds a
 * learned pairwise position bias w [N, N] to the keys inside the pooling:
 *
 *   o_t = sigmoid(q_t) ⊙ Σ_t' exp(k_t' + w_t,t') ⊙ v_t' / Σ_t' exp(k_t' + w_t,t')
 *
 * i.e. for every query position t and channel c a softmax over the N key
 * positions of the logits k_t'c + w_t,t'. Written out, that is an N × N × d
 * array of weights, which is what the paper's claim is about: the layer
 * never needs it, its memory is linear in N and d (w itself is a parameter).
 *
 * This file evaluates Eq. 2 literally, in double, one (t, c) softmax at a
 * time, with that softmax's own maximum
 *   m_tc = max_t' (k_t'c + w_t,t')
 * subtracted, so no exp can overflow and the largest term is exactly 1 (the
 * denominator is >= 1). Working memory: three vectors of d doubles, so no
 * N × N × d tensor, and also no N × N one. Time O(N² d), with N² d calls to
 * exp: the oracle is written for clarity, not speed. It deliberately does not
 * use the factorization exp(k + w) = exp(w) exp(k) that the optimized
 * backends rely on, so agreeing with it tests that factorization.
 *
 * q, k, v, o are [N, d]; w is [N, N], row t holding w_t,t' over t'.
 */
#include "kernel.h"

#include <math.h>
#include <stdlib.h>

/* ---- the contract ------------------------------------------------------ */

/* Fetch a required parameter that must be an integer >= lo. */
static int want_int(cb_params *p, const char *name, int64_t lo, int64_t *out, char *err, size_t errlen)
{
    int i = cb_params_find(p, name);
    if (i < 0)
        return cb_fail(err, errlen, "aft_full: missing parameter %s", name);
    double v = p->value[i];
    if (!(v == floor(v)) || v < (double)lo || v > 1e12)
        return cb_fail(err, errlen, "aft_full: %s = %g must be an integer >= %lld", name, v,
                       (long long)lo);
    *out = (int64_t)v;
    return 0;
}

static int af_shapes(cb_params *p, cb_shape *in, cb_shape *out, char *err, size_t errlen)
{
    int64_t N = 0, d = 0;
    if (want_int(p, "N", 1, &N, err, errlen) || want_int(p, "d", 1, &d, err, errlen))
        return -1;
    /* the optimized backends index N x N and N x 2d blocks with int (BLAS) */
    if (N > 46340 || d > INT32_MAX / 2)
        return cb_fail(err, errlen, "aft_full: N = %lld (max 46340), d = %lld too large", (long long)N,
                       (long long)d);
    for (int t = 0; t < 3; t++)
        in[t] = (cb_shape){2, {N, d}};   /* q, k, v */
    in[3] = (cb_shape){2, {N, N}};       /* w */
    out[0] = (cb_shape){2, {N, d}};      /* o */
    return 0;
}

static int af_infer(cb_params *p, const cb_shape *in, char *err, size_t errlen)
{
    for (int t = 0; t < 4; t++)
        if (in[t].rank != 2)
            return cb_fail(err, errlen, "aft_full: input %d must be a matrix ([N, d], or [N, N] for w)", t);
    for (int t = 1; t < 3; t++)
        if (in[t].dim[0] != in[0].dim[0] || in[t].dim[1] != in[0].dim[1])
            return cb_fail(err, errlen, "aft_full: %s must have the shape of q", t == 1 ? "k" : "v");
    if (in[3].dim[0] != in[0].dim[0] || in[3].dim[1] != in[0].dim[0])
        return cb_fail(err, errlen, "aft_full: w must be [N, N] with q's N");
    if (cb_params_set(p, "N", (double)in[0].dim[0]) || cb_params_set(p, "d", (double)in[0].dim[1]))
        return cb_fail(err, errlen, "aft_full: too many parameters");
    return 0;
}

/* Nominal FLOPs, the same for every backend: the two weighted sums over t'
 * for every (t, c), one multiply-add each, 4·N²·d. The exponentials (N² d in
 * the direct form, N² + N d in the factorized one) and the O(N d)
 * elementwise work are not counted. */
static double af_flops(const cb_params *p)
{
    double N = cb_params_get(p, "N", 0), d = cb_params_get(p, "d", 0);
    return 4.0 * N * N * d;
}

const cb_kernel cb_kernel_aft_full = {
    .name = "aft_full",
    .summary = "AFT-full: sigmoid(Q) * softmax over t' of K + w[t, t'] pooling V (Zhai 2021, Eq. 2)",
    .params_doc = "N d",
    .n_in = 4,
    .in = {"q", "k", "v", "w"},
    .n_out = 1,
    .out = {"o"},
    .shapes = af_shapes,
    .infer = af_infer,
    .flops = af_flops,
};

/* ---- the reference implementation ------------------------------------- */

typedef struct ref_af {
    int64_t N, d;
    double *m, *num, *den;   /* d each: one query row's maxima and sums */
} ref_af;

static void ref_af_release(void *state)
{
    ref_af *s = state;
    if (!s) return;
    free(s->m);
    free(s->num);
    free(s->den);
    free(s);
}

static int ref_af_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out,
                          char *err, size_t errlen)
{
    (void)in;
    (void)out;
    ref_af *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "ref aft_full: out of memory");
    s->N = cb_params_int(p, "N", 0);
    s->d = cb_params_int(p, "d", 0);
    s->m = malloc((size_t)s->d * sizeof *s->m);
    s->num = malloc((size_t)s->d * sizeof *s->num);
    s->den = malloc((size_t)s->d * sizeof *s->den);
    if (!s->m || !s->num || !s->den) {
        ref_af_release(s);
        return cb_fail(err, errlen, "ref aft_full: out of memory");
    }
    *state = s;
    return 0;
}

static int ref_af_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)p;
    ref_af *s = state;
    const int64_t N = s->N, d = s->d;
    const float *q = in[0].data, *k = in[1].data, *v = in[2].data, *w = in[3].data;
    float *o = out[0].data;
    for (int64_t t = 0; t < N; t++) {
        const float *wt = w + t * N;
        for (int64_t c = 0; c < d; c++) {
            s->m[c] = -INFINITY;
            s->num[c] = 0;
            s->den[c] = 0;
        }
        for (int64_t u = 0; u < N; u++)      /* m_tc = max over t' of k_t'c + w_t,t' */
            for (int64_t c = 0; c < d; c++) {
                double x = (double)k[u * d + c] + wt[u];
                if (x > s->m[c]) s->m[c] = x;
            }
        for (int64_t u = 0; u < N; u++)      /* the softmax-weighted sums */
            for (int64_t c = 0; c < d; c++) {
                double e = exp((double)k[u * d + c] + wt[u] - s->m[c]);
                s->num[c] += e * v[u * d + c];
                s->den[c] += e;
            }
        for (int64_t c = 0; c < d; c++) {
            double g = 1.0 / (1.0 + exp(-(double)q[t * d + c]));
            o[t * d + c] = (float)(g * (s->num[c] / s->den[c]));
        }
    }
    return 0;
}

const cb_impl cb_impl_ref_aft_full = {
    .kernel = "aft_full",
    .backend = "ref",
    .how = "double, Eq. 2 literally: per (t, c) softmax over t' of k + w with its own max; O(d) memory",
    .prepare = ref_af_prepare,
    .run = ref_af_run,
    .release = ref_af_release,
};
