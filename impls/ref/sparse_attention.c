/* ref/sparse_attention.c — the sparse_attention contract and its oracle.
 *
 * Strided sparse attention of the Sparse Transformer (Child et al. 2019),
 * one "merged head" (their eq. 7): causal softmax attention in which query
 * i sees only the keys of the strided pattern (sparse_attention_pattern.h),
 *
 *   o[h,i,:] = Σ_{j ∈ A_i} p_ij v[h,j,:],   p_i = softmax_{j ∈ A_i}(scale · q[h,i,:]·k[h,j,:])
 *   A_i = {j <= i : i - j < l  or  (i - j) mod l == 0},
 *
 * with the stride l (default ⌈√N⌉, the paper's "l close to √n") and scale
 * (default 1/√d). q, k [H,N,d], v [H,N,dv], o [H,N,dv], float32 row-major.
 * l >= N leaves only the window, which then holds every j <= i: dense causal
 * attention. l = 1 also gives dense causal attention (every i - j is a
 * multiple of 1), through the strided set.
 *
 * The oracle is dense masked attention in double: for each row it walks
 * every j <= i, tests the pattern, and computes the logit and the weighted
 * value only where it is allowed (a masked key has weight 0). That is N²/2
 * tests per head: O(N²) on purpose, since it trusts nothing but the
 * definition, with O(N√N) arithmetic.
 */
#include "kernel.h"
#include "sparse_attention_pattern.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>

/* ---- the contract ------------------------------------------------------ */

/* An integer parameter in [lo, INT_MAX] (the backends index with int). */
static int get_dim(const cb_params *p, const char *name, int64_t lo, int64_t *out,
                   char *err, size_t errlen)
{
    if (!cb_params_has(p, name))
        return cb_fail(err, errlen, "sparse_attention: missing parameter %s", name);
    double v = cb_params_get(p, name, 0);
    if (!(v == floor(v)) || v < (double)lo || v > (double)INT_MAX)
        return cb_fail(err, errlen, "sparse_attention: parameter %s=%g must be an integer in [%lld, %d]",
                       name, v, (long long)lo, INT_MAX);
    *out = (int64_t)v;
    return 0;
}

static int shapes(cb_params *p, cb_shape *in, cb_shape *out, char *err, size_t errlen)
{
    int64_t H = 0, N = 0, d = 0, dv = 0, l = 0;
    if (get_dim(p, "H", 1, &H, err, errlen) || get_dim(p, "N", 1, &N, err, errlen) ||
        get_dim(p, "d", 1, &d, err, errlen))
        return -1;
    if (cb_params_default(p, "dv", (double)d) ||
        cb_params_default(p, "l", (double)cb_sparse_ceil_sqrt(N)) ||
        cb_params_default(p, "scale", 1.0 / sqrt((double)d)))
        return cb_fail(err, errlen, "sparse_attention: too many parameters");
    if (get_dim(p, "dv", 1, &dv, err, errlen) || get_dim(p, "l", 1, &l, err, errlen))
        return -1;
    double scale = cb_params_get(p, "scale", 0);
    if (!isfinite(scale) || fabs(scale) > FLT_MAX)
        return cb_fail(err, errlen, "sparse_attention: parameter scale=%g must be a finite float", scale);
    double big = 0x1p48;
    if ((double)H * N * d > big || (double)H * N * dv > big)
        return cb_fail(err, errlen, "sparse_attention: H, N, d, dv give tensors that are too large");
    in[0] = (cb_shape){3, {H, N, d}};
    in[1] = (cb_shape){3, {H, N, d}};
    in[2] = (cb_shape){3, {H, N, dv}};
    out[0] = (cb_shape){3, {H, N, dv}};
    return 0;
}

static int infer(cb_params *p, const cb_shape *in, char *err, size_t errlen)
{
    const char *names[3] = {"q", "k", "v"};
    for (int i = 0; i < 3; i++)
        if (in[i].rank != 3)
            return cb_fail(err, errlen, "sparse_attention: input %s must have rank 3 ([H, N, cols]), got rank %d",
                           names[i], in[i].rank);
    const int64_t *q = in[0].dim, *k = in[1].dim, *v = in[2].dim;
    if (k[0] != q[0] || k[1] != q[1] || k[2] != q[2])
        return cb_fail(err, errlen, "sparse_attention: k must have the shape of q [%lld, %lld, %lld]",
                       (long long)q[0], (long long)q[1], (long long)q[2]);
    if (v[0] != q[0] || v[1] != q[1])
        return cb_fail(err, errlen, "sparse_attention: v must be [H, N, dv] with q's H=%lld and N=%lld",
                       (long long)q[0], (long long)q[1]);
    if (cb_params_set(p, "H", (double)q[0]) || cb_params_set(p, "N", (double)q[1]) ||
        cb_params_set(p, "d", (double)q[2]) || cb_params_set(p, "dv", (double)v[2]))
        return cb_fail(err, errlen, "sparse_attention: too many parameters");
    return 0;
}

/* 2 flops per multiply-add, for q·k and p v over the allowed pairs only
 * (the same count as causal softmax_attention over its pairs), so GFLOP/s
 * compare the useful work; blocks computed and then masked are not counted. */
static double flops(const cb_params *p)
{
    int64_t N = cb_params_int(p, "N", 0), l = cb_params_int(p, "l", 0);
    double H = (double)cb_params_int(p, "H", 0), d = (double)cb_params_int(p, "d", 0);
    double dv = (double)cb_params_int(p, "dv", (int64_t)d);
    if (N < 1 || l < 1)
        return 0;
    return 2.0 * H * cb_sparse_total_pairs(N, l) * (d + dv);
}

const cb_kernel cb_kernel_sparse_attention = {
    .name = "sparse_attention",
    .summary = "causal softmax attention over the strided pattern {i-j < l} ∪ {(i-j) mod l = 0} (Child 2019)",
    .params_doc = "H N d dv(=d) l(=ceil(sqrt(N))) scale(=1/sqrt(d))",
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
    double *w;      /* the logits, then weights, of one row: N */
    double *acc;    /* the weighted sum of one row: dv */
} ref_state;

static void ref_release(void *state)
{
    ref_state *s = state;
    if (!s) return;
    free(s->w);
    free(s->acc);
    free(s);
}

static int ref_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out,
                       char *err, size_t errlen)
{
    (void)in;
    (void)out;
    ref_state *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "ref sparse_attention: out of memory");
    int64_t d = cb_params_int(p, "d", 1);
    s->w = malloc((size_t)cb_params_int(p, "N", 1) * sizeof *s->w);
    s->acc = malloc((size_t)cb_params_int(p, "dv", d) * sizeof *s->acc);
    if (!s->w || !s->acc) {
        ref_release(s);
        return cb_fail(err, errlen, "ref sparse_attention: out of memory");
    }
    *state = s;
    return 0;
}

static int ref_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    ref_state *s = state;
    const int64_t H = cb_params_int(p, "H", 0), N = cb_params_int(p, "N", 0);
    const int64_t d = cb_params_int(p, "d", 0), dv = cb_params_int(p, "dv", d);
    const int64_t l = cb_params_int(p, "l", cb_sparse_ceil_sqrt(N));
    const double scale = cb_params_get(p, "scale", 1.0 / sqrt((double)d));
    double *w = s->w, *acc = s->acc;

    for (int64_t h = 0; h < H; h++) {
        const float *qh = in[0].data + h * N * d, *kh = in[1].data + h * N * d;
        const float *vh = in[2].data + h * N * dv;
        float *oh = out[0].data + h * N * dv;
        for (int64_t i = 0; i < N; i++) {
            /* logits of the allowed keys and their maximum (key i itself is
             * always allowed, so the maximum is finite) */
            double mx = -INFINITY;
            for (int64_t j = 0; j <= i; j++) {
                if (!cb_sparse_allowed(i, j, l))
                    continue;
                double dot = 0;
                for (int64_t c = 0; c < d; c++)
                    dot += (double)qh[i * d + c] * (double)kh[j * d + c];
                w[j] = scale * dot;
                if (w[j] > mx) mx = w[j];
            }
            /* o_i = Σ_{j allowed} e^(w_j - max) v_j / Σ_{j allowed} e^(w_j - max);
             * a masked key is never visited, i.e. it has weight 0 */
            double sum = 0;
            for (int64_t c = 0; c < dv; c++)
                acc[c] = 0;
            for (int64_t j = 0; j <= i; j++) {
                if (!cb_sparse_allowed(i, j, l))
                    continue;
                double e = exp(w[j] - mx);
                sum += e;
                for (int64_t c = 0; c < dv; c++)
                    acc[c] += e * (double)vh[j * dv + c];
            }
            for (int64_t c = 0; c < dv; c++)
                oh[i * dv + c] = (float)(acc[c] / sum);
        }
    }
    return 0;
}

const cb_impl cb_impl_ref_sparse_attention = {
    .kernel = "sparse_attention",
    .backend = "ref",
    .how = "dense masked rows in double: every j <= i tested against the pattern, logits only where allowed",
    .prepare = ref_prepare,
    .run = ref_run,
    .release = ref_release,
};
