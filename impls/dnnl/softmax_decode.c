/* dnnl/softmax_decode.c — KV-cache decoding with oneDNN's dnnl_sgemm.
 *
 * Per token t, for every head: copy k_t, v_t into the cache (prepared and
 * pre-touched in prepare()), then
 *   e = exp(scale · Kc[0..t] q_t - max)   dnnl_sgemm, (t+1) × d times d × 1
 *   o_t = eᵀ Vc[0..t] / Σe                dnnl_sgemm, 1 × (t+1) times (t+1) × dv
 * The key count grows by one every token, so a fixed-shape matmul primitive
 * does not fit (one per token would be N primitives); dnnl_sgemm is oneDNN's
 * row-major BLAS-like entry to the same JIT gemm kernels, with the shape
 * given per call. The softmax between the two products is the vectorized
 * row softmax shared with the blas backend (common/softmax_rows.h): a
 * oneDNN softmax primitive, like matmul, needs a fixed row length.
 */
#include "kernel.h"
#include "common/softmax_rows.h"

#include <math.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdlib.h>
#include <string.h>

typedef struct dnnl_state {
    float *kc, *vc;     /* the cache, [H,N,d] and [H,N,dv] */
    float *s;           /* scores / weights of one token, N */
} dnnl_state;

static void dnnl_release(void *state)
{
    dnnl_state *st = state;
    if (!st) return;
    free(st->kc);
    free(st->vc);
    free(st->s);
    free(st);
}

static int dnnl_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out,
                        char *err, size_t errlen)
{
    (void)in;
    (void)out;
    const size_t H = (size_t)cb_params_int(p, "H", 1), N = (size_t)cb_params_int(p, "N", 1);
    const size_t d = (size_t)cb_params_int(p, "d", 1), dv = (size_t)cb_params_int(p, "dv", (int64_t)d);
    dnnl_state *st = calloc(1, sizeof *st);
    if (!st) return cb_fail(err, errlen, "dnnl softmax_decode: out of memory");
    st->kc = cb_alloc_floats(H * N * d);
    st->vc = cb_alloc_floats(H * N * dv);
    st->s = cb_alloc_floats(N);
    if (!st->kc || !st->vc || !st->s) {
        dnnl_release(st);
        return cb_fail(err, errlen, "dnnl softmax_decode: out of memory for the KV cache");
    }
    *state = st;
    return 0;
}

static int dnnl_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    dnnl_state *st = state;
    const int H = (int)cb_params_int(p, "H", 0), N = (int)cb_params_int(p, "N", 0);
    const int d = (int)cb_params_int(p, "d", 0), dv = (int)cb_params_int(p, "dv", d);
    const float scale = (float)cb_params_get(p, "scale", 1.0 / sqrt((double)d));
    const float *q = in[0].data, *k = in[1].data, *v = in[2].data;
    float *o = out[0].data, *s = st->s;

    for (int t = 0; t < N; t++) {
        for (int h = 0; h < H; h++) {   /* append token t to the cache */
            size_t row = (size_t)h * N + t;
            memcpy(st->kc + row * d, k + row * d, (size_t)d * sizeof *k);
            memcpy(st->vc + row * dv, v + row * dv, (size_t)dv * sizeof *v);
        }
        for (int h = 0; h < H; h++) {
            size_t row = (size_t)h * N + t;
            const float *kc = st->kc + (size_t)h * N * d, *vc = st->vc + (size_t)h * N * dv;
            /* s[(t+1) × 1] = scale · Kc[0..t] (t+1 × d) · q_t (d × 1) */
            if (dnnl_sgemm('N', 'N', t + 1, 1, d, scale, kc, d, q + row * d, 1, 0.0f, s, 1) != dnnl_success)
                return -1;
            float inv;
            cb_softmax_rows(s, (size_t)(t + 1), 1, t + 1, t + 1, &inv);
            /* o_t (1 × dv) = inv · e (1 × t+1) · Vc[0..t] (t+1 × dv) */
            if (dnnl_sgemm('N', 'N', 1, dv, t + 1, inv, s, t + 1, vc, dv, 0.0f, o + row * dv, dv) != dnnl_success)
                return -1;
        }
    }
    return 0;
}

const cb_impl cb_impl_dnnl_softmax_decode = {
    .kernel = "softmax_decode",
    .backend = "dnnl",
    .how = "per token: copy k,v into the cache; dnnl_sgemm scores, vectorized softmax, dnnl_sgemm P V",
    .prepare = dnnl_prepare,
    .run = dnnl_run,
    .release = dnnl_release,
};
