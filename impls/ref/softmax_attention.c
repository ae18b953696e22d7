/* ref/softmax_attention.c — the softmax_attention contract and its oracle.
 *
 *   o[h,i,:] = Σ_j p[h,i,j] v[h,j,:],   p[h,i,:] = softmax_j(scale · q[h,i,:]·k[h,j,:] + mask[i,j])
 *
 * with mask[i,j] = -inf for j > i when causal, else 0. Shapes: q [H,N,d],
 * k [H,M,d], v [H,M,dv], o [H,N,dv]; float32, row-major.
 *
 * The reference computes each row on its own, in double: the logits, their
 * maximum (subtracted before exp, so logits of 1e4 or 1e30 cannot overflow),
 * the weights and the weighted sum of v. Masked keys are simply never
 * visited: row i of a causal call loops over keys 0..i only.
 */
#include "kernel.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>

/* ---- the contract ------------------------------------------------------ */

/* Read an integer parameter that must lie in [lo, INT_MAX] (cblas and the
 * loops below index with int). */
static int get_dim(const cb_params *p, const char *name, int64_t lo, int64_t *out,
                   char *err, size_t errlen)
{
    if (!cb_params_has(p, name))
        return cb_fail(err, errlen, "softmax_attention: missing parameter %s", name);
    double v = cb_params_get(p, name, 0);
    if (!(v == floor(v)) || v < (double)lo || v > (double)INT_MAX)
        return cb_fail(err, errlen, "softmax_attention: parameter %s=%g must be an integer in [%lld, %d]",
                       name, v, (long long)lo, INT_MAX);
    *out = (int64_t)v;
    return 0;
}

static int shapes(cb_params *p, cb_shape *in, cb_shape *out, char *err, size_t errlen)
{
    int64_t H = 0, N = 0, M = 0, d = 0, dv = 0, causal = 0;
    if (get_dim(p, "H", 1, &H, err, errlen) || get_dim(p, "N", 1, &N, err, errlen) ||
        get_dim(p, "d", 1, &d, err, errlen))
        return -1;
    if (cb_params_default(p, "M", (double)N) || cb_params_default(p, "dv", (double)d) ||
        cb_params_default(p, "causal", 0) || cb_params_default(p, "scale", 1.0 / sqrt((double)d)))
        return cb_fail(err, errlen, "softmax_attention: too many parameters");
    if (get_dim(p, "M", 1, &M, err, errlen) || get_dim(p, "dv", 1, &dv, err, errlen) ||
        get_dim(p, "causal", 0, &causal, err, errlen))
        return -1;
    if (causal > 1)
        return cb_fail(err, errlen, "softmax_attention: parameter causal=%lld must be 0 or 1",
                       (long long)causal);
    if (causal && M != N)
        return cb_fail(err, errlen,
                       "softmax_attention: causal=1 needs M = N (parameter M=%lld, N=%lld)",
                       (long long)M, (long long)N);
    double scale = cb_params_get(p, "scale", 0);
    if (!isfinite(scale) || fabs(scale) > FLT_MAX)
        return cb_fail(err, errlen, "softmax_attention: parameter scale=%g must be a finite float", scale);
    /* Every tensor (and the optimized backends' N·M-sized scratch) must be
     * addressable: keep element counts below 2^48. */
    double big = 0x1p48;
    if ((double)H * N * d > big || (double)H * M * d > big || (double)H * M * dv > big ||
        (double)H * N * dv > big || (double)N * M > big)
        return cb_fail(err, errlen, "softmax_attention: H, N, M, d, dv give tensors that are too large");
    in[0] = (cb_shape){3, {H, N, d}};
    in[1] = (cb_shape){3, {H, M, d}};
    in[2] = (cb_shape){3, {H, M, dv}};
    out[0] = (cb_shape){3, {H, N, dv}};
    return 0;
}

static int infer(cb_params *p, const cb_shape *in, char *err, size_t errlen)
{
    const char *names[3] = {"q", "k", "v"};
    for (int i = 0; i < 3; i++)
        if (in[i].rank != 3)
            return cb_fail(err, errlen, "softmax_attention: input %s must have rank 3 ([H, rows, cols]), got rank %d",
                           names[i], in[i].rank);
    const int64_t *q = in[0].dim, *k = in[1].dim, *v = in[2].dim;
    if (k[0] != q[0] || v[0] != q[0])
        return cb_fail(err, errlen, "softmax_attention: q, k and v must have the same head count H (got %lld, %lld, %lld)",
                       (long long)q[0], (long long)k[0], (long long)v[0]);
    if (k[2] != q[2])
        return cb_fail(err, errlen, "softmax_attention: k must have q's feature size d=%lld (got %lld)",
                       (long long)q[2], (long long)k[2]);
    if (v[1] != k[1])
        return cb_fail(err, errlen, "softmax_attention: v must have k's key count M=%lld (got %lld)",
                       (long long)k[1], (long long)v[1]);
    if (cb_params_set(p, "H", (double)q[0]) || cb_params_set(p, "N", (double)q[1]) ||
        cb_params_set(p, "d", (double)q[2]) || cb_params_set(p, "M", (double)k[1]) ||
        cb_params_set(p, "dv", (double)v[2]))
        return cb_fail(err, errlen, "softmax_attention: too many parameters");
    return 0;
}

static double flops(const cb_params *p)
{
    double H = (double)cb_params_int(p, "H", 0), N = (double)cb_params_int(p, "N", 0);
    double M = (double)cb_params_int(p, "M", (int64_t)N), d = (double)cb_params_int(p, "d", 0);
    double dv = (double)cb_params_int(p, "dv", (int64_t)d);
    if (cb_params_int(p, "causal", 0))
        return 2.0 * H * (N * (N + 1) / 2) * (d + dv);
    return 2.0 * H * N * M * (d + dv);
}

const cb_kernel cb_kernel_softmax_attention = {
    .name = "softmax_attention",
    .summary = "o = softmax(scale q k^T + causal mask) v, per head",
    .params_doc = "H N M(=N) d dv(=d) causal(=0) scale(=1/sqrt(d))",
    .n_in = 3,
    .in = {"q", "k", "v"},
    .n_out = 1,
    .out = {"o"},
    .shapes = shapes,
    .infer = infer,
    .flops = flops,
};

/* ---- the reference implementation -------------------------------------- */

typedef struct ref_state {
    double *w;      /* the M weights of one row */
} ref_state;

static int ref_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out,
                       char *err, size_t errlen)
{
    (void)in;
    (void)out;
    ref_state *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "ref softmax_attention: out of memory");
    s->w = malloc((size_t)cb_params_int(p, "M", 1) * sizeof *s->w);
    if (!s->w) {
        free(s);
        return cb_fail(err, errlen, "ref softmax_attention: out of memory");
    }
    *state = s;
    return 0;
}

static void ref_release(void *state)
{
    ref_state *s = state;
    if (!s) return;
    free(s->w);
    free(s);
}

static int ref_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    ref_state *s = state;
    const int64_t H = cb_params_int(p, "H", 0), N = cb_params_int(p, "N", 0);
    const int64_t M = cb_params_int(p, "M", N), d = cb_params_int(p, "d", 0);
    const int64_t dv = cb_params_int(p, "dv", d);
    const int causal = (int)cb_params_int(p, "causal", 0);
    const double scale = cb_params_get(p, "scale", 1.0 / sqrt((double)d));
    const float *q = in[0].data, *k = in[1].data, *v = in[2].data;
    float *o = out[0].data;
    double *w = s->w;

    for (int64_t h = 0; h < H; h++) {
        const float *qh = q + h * N * d, *kh = k + h * M * d, *vh = v + h * M * dv;
        float *oh = o + h * N * dv;
        for (int64_t i = 0; i < N; i++) {
            const int64_t keys = causal ? i + 1 : M;   /* keys j > i are masked out */
            /* logits, and their maximum */
            double mx = -INFINITY;
            for (int64_t j = 0; j < keys; j++) {
                double dot = 0;
                for (int64_t c = 0; c < d; c++)
                    dot += (double)qh[i * d + c] * (double)kh[j * d + c];
                w[j] = scale * dot;
                if (w[j] > mx) mx = w[j];
            }
            /* weights exp(l - max): the largest is exactly 1, none overflows */
            double sum = 0;
            for (int64_t j = 0; j < keys; j++) {
                w[j] = exp(w[j] - mx);
                sum += w[j];
            }
            /* o_i = Σ_j w_j v_j / Σ_j w_j */
            for (int64_t c = 0; c < dv; c++) {
                double acc = 0;
                for (int64_t j = 0; j < keys; j++)
                    acc += w[j] * (double)vh[j * dv + c];
                oh[i * dv + c] = (float)(acc / sum);
            }
        }
    }
    return 0;
}

const cb_impl cb_impl_ref_softmax_attention = {
    .kernel = "softmax_attention",
    .backend = "ref",
    .how = "naive per-row loops in double: logits, max-subtracted exp, weighted sum of v",
    .prepare = ref_prepare,
    .run = ref_run,
    .release = ref_release,
};
