/* quant_int4.c (ref) — the quant_int4 contract and its oracle.
 *
 * The forward quantizer of Xi et al. (2023, "Training Transformers with
 * 4-bit Integers"): symmetric per-row (per-token) INT4 with the 15 levels
 * -7..7, optionally after the Hadamard rotation of the row ("Hadamard
 * quantizer"). For each row v of x [M, K] (hadamard = 1: v = x_row H/sqrt(K)
 * first, K a power of two):
 *
 *   s = max_j |v_j| / 7                       the row's step
 *   q_j = clamp(rint(v_j / s), -7, 7)          round half to even (rint under
 *                                              the default FE_TONEAREST)
 *   v^_j = q_j s                               dequantized
 *
 * and the output xhat is v^ (hadamard = 0) or v^ H / sqrt(K) rotated back
 * (hadamard = 1; H/sqrt(K) is orthogonal and its own inverse), so xhat
 * approximates x in both cases and the quantization error is xhat - x. A row
 * of zeros has s = 0 and is returned as zeros; a NaN anywhere in a row makes
 * that row's output NaN.
 *
 * This file computes it the obvious way in double: dense Hadamard sums from
 * the popcount formula (O(K^2) per row), then the three lines above. The
 * fwht backend performs the same scalar operations on the same doubles,
 * only the rotation sums are in another order.
 */
#include "kernel.h"
#include "common/fwht.h"

#include <math.h>
#include <stdlib.h>

/* ---- the contract ------------------------------------------------------ */

static int want_dim(const cb_params *p, const char *name, int64_t *out, char *err, size_t errlen)
{
    int i = cb_params_find(p, name);
    if (i < 0)
        return cb_fail(err, errlen, "quant_int4: missing parameter %s", name);
    double v = p->value[i];
    if (!(v == floor(v)) || v < 1 || v > 1e9)
        return cb_fail(err, errlen, "quant_int4: %s = %g must be an integer >= 1", name, v);
    *out = (int64_t)v;
    return 0;
}

static int qi_shapes(cb_params *p, cb_shape *in, cb_shape *out, char *err, size_t errlen)
{
    int64_t M = 0, K = 0;
    if (cb_params_default(p, "hadamard", 0))
        return cb_fail(err, errlen, "quant_int4: too many parameters");
    if (want_dim(p, "M", &M, err, errlen) || want_dim(p, "K", &K, err, errlen))
        return -1;
    double h = cb_params_get(p, "hadamard", 0);
    if (h != 0 && h != 1)
        return cb_fail(err, errlen, "quant_int4: hadamard = %g must be 0 or 1", h);
    if (h == 1 && !cb_is_pow2(K))
        return cb_fail(err, errlen,
                       "quant_int4: K = %lld is not a power of two, which hadamard = 1 needs",
                       (long long)K);
    if (M * K > ((int64_t)1 << 31))
        return cb_fail(err, errlen, "quant_int4: M*K = %lld is too large", (long long)(M * K));
    in[0] = (cb_shape){2, {M, K}};
    out[0] = (cb_shape){2, {M, K}};
    return 0;
}

static int qi_infer(cb_params *p, const cb_shape *in, char *err, size_t errlen)
{
    if (in[0].rank != 2)
        return cb_fail(err, errlen, "quant_int4: input x must be [M, K]");
    if (cb_params_set(p, "M", (double)in[0].dim[0]) || cb_params_set(p, "K", (double)in[0].dim[1]))
        return cb_fail(err, errlen, "quant_int4: too many parameters");
    return 0;
}

/* Nominal FLOPs: 4 per element (|.|/max, divide, round, multiply), plus
 * 2 K log2 K per row for the two fast transforms when hadamard = 1. */
static double qi_flops(const cb_params *p)
{
    double M = cb_params_get(p, "M", 0), K = cb_params_get(p, "K", 0);
    double f = 4 * M * K;
    if (cb_params_get(p, "hadamard", 0) == 1 && K > 1)
        f += 2 * M * K * log2(K);
    return f;
}

const cb_kernel cb_kernel_quant_int4 = {
    .name = "quant_int4",
    .summary = "symmetric per-row INT4 (-7..7, step max|row|/7, half to even), dequantized; "
               "hadamard=1 rotates by H/sqrt(K) first and back after (Xi et al. 2023)",
    .params_doc = "M K hadamard(=0)",
    .n_in = 1,
    .in = {"x"},
    .n_out = 1,
    .out = {"xhat"},
    .shapes = qi_shapes,
    .infer = qi_infer,
    .flops = qi_flops,
};

/* ---- the reference implementation ------------------------------------- */

typedef struct ref_qi {
    int64_t M, K;
    int had;
    double *v, *w;   /* one row: rotated, dequantized */
} ref_qi;

static void ref_qi_release(void *state)
{
    ref_qi *s = state;
    if (!s) return;
    free(s->v);
    free(s->w);
    free(s);
}

static int ref_qi_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out,
                          char *err, size_t errlen)
{
    (void)in;
    (void)out;
    ref_qi *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "ref quant_int4: out of memory");
    s->M = cb_params_int(p, "M", 0);
    s->K = cb_params_int(p, "K", 0);
    s->had = cb_params_get(p, "hadamard", 0) == 1;
    s->v = malloc((size_t)s->K * sizeof *s->v);
    s->w = malloc((size_t)s->K * sizeof *s->w);
    if (!s->v || !s->w) {
        ref_qi_release(s);
        return cb_fail(err, errlen, "ref quant_int4: out of memory");
    }
    *state = s;
    return 0;
}

/* out = in H / sqrt(K), dense, in double */
static void rotate(const double *in, double *out, int64_t K)
{
    const double inv = 1.0 / sqrt((double)K);
    for (int64_t j = 0; j < K; j++) {
        double acc = 0;
        for (int64_t i = 0; i < K; i++)
            acc += (__builtin_popcountll((unsigned long long)(i & j)) & 1) ? -in[i] : in[i];
        out[j] = acc * inv;
    }
}

static int ref_qi_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)p;
    ref_qi *s = state;
    const int64_t K = s->K;
    for (int64_t m = 0; m < s->M; m++) {
        const float *x = in[0].data + m * K;
        float *xh = out[0].data + m * K;
        for (int64_t j = 0; j < K; j++)
            s->w[j] = x[j];
        if (s->had)
            rotate(s->w, s->v, K);
        else
            for (int64_t j = 0; j < K; j++)
                s->v[j] = s->w[j];
        /* the row's step: max |v| / 7 (a NaN anywhere makes it NaN) */
        double mx = 0;
        for (int64_t j = 0; j < K; j++) {
            if (isnan(s->v[j]))
                mx = NAN;
            else if (fabs(s->v[j]) > mx)
                mx = fabs(s->v[j]);
        }
        const double step = mx / 7.0;
        for (int64_t j = 0; j < K; j++) {
            double q = 0;
            if (step != 0) {
                q = rint(s->v[j] / step);   /* FE_TONEAREST: half to even */
                if (q > 7) q = 7;
                if (q < -7) q = -7;
            }
            s->w[j] = q * step;
        }
        if (step != step)   /* NaN in the row */
            for (int64_t j = 0; j < K; j++)
                s->w[j] = NAN;
        if (s->had)
            rotate(s->w, s->v, K);
        else
            for (int64_t j = 0; j < K; j++)
                s->v[j] = s->w[j];
        for (int64_t j = 0; j < K; j++)
            xh[j] = (float)s->v[j];
    }
    return 0;
}

const cb_impl cb_impl_ref_quant_int4 = {
    .kernel = "quant_int4",
    .backend = "ref",
    .how = "double: dense Hadamard rotation (if hadamard=1), step max|v|/7, rint half-even, clamp +-7, back",
    .prepare = ref_qi_prepare,
    .run = ref_qi_run,
    .release = ref_qi_release,
};
