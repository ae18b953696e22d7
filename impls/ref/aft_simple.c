/* aft_simple.c (ref) — the aft_simple contract and its oracle.
 *
 * AFT-simple (Zhai et al. 2021, "An Attention Free Transformer", §3.2) is
 * AFT without position biases: each of the d channels takes a softmax over
 * the N tokens of the keys, pools the values with it, and the query gates
 * the pooled context elementwise:
 *
 *   o_t = sigmoid(q_t) ⊙ Σ_t' softmax_t'(K)_t' ⊙ v_t'
 *
 * per channel c, with m_c = max_t' k_t'c (the softmax is shift-invariant, so
 * subtracting it changes nothing but keeps every exp in (0, 1]):
 *
 *   ctx_c = Σ_t' exp(k_t'c - m_c) v_t'c / Σ_t' exp(k_t'c - m_c)
 *   o_tc  = sigmoid(q_tc) ctx_c
 *
 * The context does not depend on t: O(N d) time and memory, no N × N
 * anything. q, k, v and o are [N, d], row-major.
 *
 * This file computes it the obvious way in double: the column maxima, the
 * two column sums, then the gated rows.
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
        return cb_fail(err, errlen, "aft_simple: missing parameter %s", name);
    double v = p->value[i];
    if (!(v == floor(v)) || v < (double)lo || v > 1e12)
        return cb_fail(err, errlen, "aft_simple: %s = %g must be an integer >= %lld", name, v,
                       (long long)lo);
    *out = (int64_t)v;
    return 0;
}

static int as_shapes(cb_params *p, cb_shape *in, cb_shape *out, char *err, size_t errlen)
{
    int64_t N = 0, d = 0;
    if (want_int(p, "N", 1, &N, err, errlen) || want_int(p, "d", 1, &d, err, errlen))
        return -1;
    if (N > INT32_MAX || d > INT32_MAX / 2)
        return cb_fail(err, errlen, "aft_simple: N = %lld, d = %lld too large", (long long)N, (long long)d);
    for (int t = 0; t < 3; t++)
        in[t] = (cb_shape){2, {N, d}};   /* q, k, v */
    out[0] = (cb_shape){2, {N, d}};      /* o */
    return 0;
}

static int as_infer(cb_params *p, const cb_shape *in, char *err, size_t errlen)
{
    for (int t = 0; t < 3; t++)
        if (in[t].rank != 2)
            return cb_fail(err, errlen, "aft_simple: input %d must be [N, d]", t);
    for (int t = 1; t < 3; t++)
        if (in[t].dim[0] != in[0].dim[0] || in[t].dim[1] != in[0].dim[1])
            return cb_fail(err, errlen, "aft_simple: %s must have the shape of q", t == 1 ? "k" : "v");
    if (cb_params_set(p, "N", (double)in[0].dim[0]) || cb_params_set(p, "d", (double)in[0].dim[1]))
        return cb_fail(err, errlen, "aft_simple: too many parameters");
    return 0;
}

/* Nominal operations, the same for every backend: per element of K the
 * shift, the exp, the product with v and two sums (5); per element of Q the
 * sigmoid (an exp, an add, a division: 3) and the gate product (1). */
static double as_flops(const cb_params *p)
{
    return 9.0 * cb_params_get(p, "N", 0) * cb_params_get(p, "d", 0);
}

const cb_kernel cb_kernel_aft_simple = {
    .name = "aft_simple",
    .summary = "AFT-simple: sigmoid(Q) * sum_t softmax_t(K) * V, softmax over tokens per channel (Zhai 2021)",
    .params_doc = "N d",
    .n_in = 3,
    .in = {"q", "k", "v"},
    .n_out = 1,
    .out = {"o"},
    .shapes = as_shapes,
    .infer = as_infer,
    .flops = as_flops,
};

/* ---- the reference implementation ------------------------------------- */

typedef struct ref_as {
    int64_t N, d;
    double *m, *num, *den;   /* d each */
} ref_as;

static void ref_as_release(void *state)
{
    ref_as *s = state;
    if (!s) return;
    free(s->m);
    free(s->num);
    free(s->den);
    free(s);
}

static int ref_as_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out,
                          char *err, size_t errlen)
{
    (void)in;
    (void)out;
    ref_as *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "ref aft_simple: out of memory");
    s->N = cb_params_int(p, "N", 0);
    s->d = cb_params_int(p, "d", 0);
    s->m = malloc((size_t)s->d * sizeof *s->m);
    s->num = malloc((size_t)s->d * sizeof *s->num);
    s->den = malloc((size_t)s->d * sizeof *s->den);
    if (!s->m || !s->num || !s->den) {
        ref_as_release(s);
        return cb_fail(err, errlen, "ref aft_simple: out of memory");
    }
    *state = s;
    return 0;
}

static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

static int ref_as_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)p;
    ref_as *s = state;
    const int64_t N = s->N, d = s->d;
    const float *q = in[0].data, *k = in[1].data, *v = in[2].data;
    float *o = out[0].data;
    for (int64_t c = 0; c < d; c++) {
        s->m[c] = -INFINITY;
        s->num[c] = 0;
        s->den[c] = 0;
    }
    for (int64_t t = 0; t < N; t++)          /* m_c = max over tokens */
        for (int64_t c = 0; c < d; c++)
            if (k[t * d + c] > s->m[c]) s->m[c] = k[t * d + c];
    for (int64_t t = 0; t < N; t++)          /* the two column sums */
        for (int64_t c = 0; c < d; c++) {
            double e = exp((double)k[t * d + c] - s->m[c]);
            s->num[c] += e * v[t * d + c];
            s->den[c] += e;
        }
    for (int64_t t = 0; t < N; t++)          /* gate every row with its query */
        for (int64_t c = 0; c < d; c++)
            o[t * d + c] = (float)(sigmoid(q[t * d + c]) * (s->num[c] / s->den[c]));
    return 0;
}

const cb_impl cb_impl_ref_aft_simple = {
    .kernel = "aft_simple",
    .backend = "ref",
    .how = "double: column max, column sums of exp(k - max) v and exp(k - max), gated rows",
    .prepare = ref_as_prepare,
    .run = ref_as_run,
    .release = ref_as_release,
};
