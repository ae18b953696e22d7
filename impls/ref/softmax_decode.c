/* ref/softmax_decode.c — the softmax_decode contract and its oracle.
 *
 * Autoregressive decoding with a KV cache, the way a generating model runs
 * today. Token by token (time is the outer loop, as in generation):
 *
 *   append k[h,t,:] and v[h,t,:] to the cache Kc, Vc          (for every head)
 *   o[h,t,:] = softmax(scale · Kc[h,0..t,:] q[h,t,:]) Vc[h,0..t,:]
 *
 * Inputs q, k [H,N,d] and v [H,N,dv] hold the N tokens' projections; the
 * output o [H,N,dv] equals causal softmax attention over the same inputs.
 * The cache (Kc [H,N,d], Vc [H,N,dv]) lives in the implementation's state,
 * allocated and pre-touched in prepare(), so run() times exactly what a
 * decoder does per token: the copy into the cache, then two
 * matrix-vector products and a softmax over a prefix that grows by one.
 *
 * The reference does this literally, accumulating in double.
 */
#include "kernel.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- the contract ------------------------------------------------------ */

static int get_dim(const cb_params *p, const char *name, int64_t *out, char *err, size_t errlen)
{
    if (!cb_params_has(p, name))
        return cb_fail(err, errlen, "softmax_decode: missing parameter %s", name);
    double v = cb_params_get(p, name, 0);
    if (!(v == floor(v)) || v < 1 || v > (double)INT_MAX)
        return cb_fail(err, errlen, "softmax_decode: parameter %s=%g must be an integer in [1, %d]",
                       name, v, INT_MAX);
    *out = (int64_t)v;
    return 0;
}

static int shapes(cb_params *p, cb_shape *in, cb_shape *out, char *err, size_t errlen)
{
    int64_t H = 0, N = 0, d = 0, dv = 0;
    if (get_dim(p, "H", &H, err, errlen) || get_dim(p, "N", &N, err, errlen) ||
        get_dim(p, "d", &d, err, errlen))
        return -1;
    if (cb_params_default(p, "dv", (double)d) || cb_params_default(p, "scale", 1.0 / sqrt((double)d)))
        return cb_fail(err, errlen, "softmax_decode: too many parameters");
    if (get_dim(p, "dv", &dv, err, errlen))
        return -1;
    double scale = cb_params_get(p, "scale", 0);
    if (!isfinite(scale) || fabs(scale) > FLT_MAX)
        return cb_fail(err, errlen, "softmax_decode: parameter scale=%g must be a finite float", scale);
    double big = 0x1p48;
    if ((double)H * N * d > big || (double)H * N * dv > big || (double)N * N > big)
        return cb_fail(err, errlen, "softmax_decode: H, N, d, dv give tensors that are too large");
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
            return cb_fail(err, errlen, "softmax_decode: input %s must have rank 3 ([H, N, cols]), got rank %d",
                           names[i], in[i].rank);
    const int64_t *q = in[0].dim, *k = in[1].dim, *v = in[2].dim;
    if (k[0] != q[0] || k[1] != q[1] || k[2] != q[2])
        return cb_fail(err, errlen, "softmax_decode: k must have q's shape [H, N, d] = [%lld, %lld, %lld]",
                       (long long)q[0], (long long)q[1], (long long)q[2]);
    if (v[0] != q[0] || v[1] != q[1])
        return cb_fail(err, errlen, "softmax_decode: v must have q's H=%lld and N=%lld (got [%lld, %lld, ...])",
                       (long long)q[0], (long long)q[1], (long long)v[0], (long long)v[1]);
    if (cb_params_set(p, "H", (double)q[0]) || cb_params_set(p, "N", (double)q[1]) ||
        cb_params_set(p, "d", (double)q[2]) || cb_params_set(p, "dv", (double)v[2]))
        return cb_fail(err, errlen, "softmax_decode: too many parameters");
    return 0;
}

/* 2·H·Σ_{t<N} (t+1)(d+dv) = H·N(N+1)(d+dv): per token, t+1 dot products of
 * length d for the scores and t+1 axpys of length dv for the output. */
static double flops(const cb_params *p)
{
    double H = (double)cb_params_int(p, "H", 0), N = (double)cb_params_int(p, "N", 0);
    double d = (double)cb_params_int(p, "d", 0), dv = (double)cb_params_int(p, "dv", (int64_t)d);
    return H * N * (N + 1) * (d + dv);
}

const cb_kernel cb_kernel_softmax_decode = {
    .name = "softmax_decode",
    .summary = "token-by-token causal softmax attention with a KV cache (generation today)",
    .params_doc = "H N d dv(=d) scale(=1/sqrt(d))",
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
    float *kc, *vc;     /* the cache, [H,N,d] and [H,N,dv] */
    double *w;          /* the weights of one token, N */
} ref_state;

static void ref_release(void *state)
{
    ref_state *s = state;
    if (!s) return;
    free(s->kc);
    free(s->vc);
    free(s->w);
    free(s);
}

static int ref_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out,
                       char *err, size_t errlen)
{
    (void)in;
    (void)out;
    const size_t H = (size_t)cb_params_int(p, "H", 1), N = (size_t)cb_params_int(p, "N", 1);
    const size_t d = (size_t)cb_params_int(p, "d", 1), dv = (size_t)cb_params_int(p, "dv", (int64_t)d);
    ref_state *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "ref softmax_decode: out of memory");
    s->kc = malloc(H * N * d * sizeof *s->kc);
    s->vc = malloc(H * N * dv * sizeof *s->vc);
    s->w = malloc(N * sizeof *s->w);
    if (!s->kc || !s->vc || !s->w) {
        ref_release(s);
        return cb_fail(err, errlen, "ref softmax_decode: out of memory");
    }
    /* pre-touch, so no page fault lands in the timed run */
    memset(s->kc, 0, H * N * d * sizeof *s->kc);
    memset(s->vc, 0, H * N * dv * sizeof *s->vc);
    *state = s;
    return 0;
}

static int ref_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    ref_state *s = state;
    const int64_t H = cb_params_int(p, "H", 0), N = cb_params_int(p, "N", 0);
    const int64_t d = cb_params_int(p, "d", 0), dv = cb_params_int(p, "dv", d);
    const double scale = cb_params_get(p, "scale", 1.0 / sqrt((double)d));
    const float *q = in[0].data, *k = in[1].data, *v = in[2].data;
    float *o = out[0].data;
    double *w = s->w;

    for (int64_t t = 0; t < N; t++) {
        /* the new token's key and value join the cache */
        for (int64_t h = 0; h < H; h++) {
            memcpy(s->kc + (h * N + t) * d, k + (h * N + t) * d, (size_t)d * sizeof *k);
            memcpy(s->vc + (h * N + t) * dv, v + (h * N + t) * dv, (size_t)dv * sizeof *v);
        }
        /* attend over the cached prefix 0..t */
        for (int64_t h = 0; h < H; h++) {
            const float *qt = q + (h * N + t) * d, *kc = s->kc + h * N * d, *vc = s->vc + h * N * dv;
            double mx = -INFINITY;
            for (int64_t j = 0; j <= t; j++) {
                double dot = 0;
                for (int64_t c = 0; c < d; c++)
                    dot += (double)qt[c] * (double)kc[j * d + c];
                w[j] = scale * dot;
                if (w[j] > mx) mx = w[j];
            }
            double sum = 0;
            for (int64_t j = 0; j <= t; j++) {
                w[j] = exp(w[j] - mx);
                sum += w[j];
            }
            float *ot = o + (h * N + t) * dv;
            for (int64_t c = 0; c < dv; c++) {
                double acc = 0;
                for (int64_t j = 0; j <= t; j++)
                    acc += w[j] * (double)vc[j * dv + c];
                ot[c] = (float)(acc / sum);
            }
        }
    }
    return 0;
}

const cb_impl cb_impl_ref_softmax_decode = {
    .kernel = "softmax_decode",
    .backend = "ref",
    .how = "per token: copy k,v into the cache, then naive double loops over the cached prefix",
    .prepare = ref_prepare,
    .run = ref_run,
    .release = ref_release,
};
