/* blas/softmax_decode.c — KV-cache decoding with CBLAS (OpenBLAS).
 *
 * Per token t, for every head: copy k_t, v_t into the cache (prepared and
 * pre-touched in prepare()), then
 *   e = exp(scale · Kc[0..t] q_t - max)     cblas_sgemv (NoTrans), scale as
 *                                           alpha; vectorized exp
 *   o_t = Vc[0..t]ᵀ e / Σe                  cblas_sgemv (Trans), 1/Σe as alpha
 * Both products are matrix-vector: decoding reads the whole cache once per
 * token and is bound by memory bandwidth, not by flops. OpenBLAS threads a
 * gemv itself once it is large enough.
 */
#include "kernel.h"
#include "attention_blocks.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct blas_state {
    float *kc, *vc;     /* the cache, [H,N,d] and [H,N,dv] */
    float *s;           /* scores / weights of one token, N */
} blas_state;

static void blas_release(void *state)
{
    blas_state *st = state;
    if (!st) return;
    free(st->kc);
    free(st->vc);
    free(st->s);
    free(st);
}

static int blas_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out,
                        char *err, size_t errlen)
{
    (void)in;
    (void)out;
    const size_t H = (size_t)cb_params_int(p, "H", 1), N = (size_t)cb_params_int(p, "N", 1);
    const size_t d = (size_t)cb_params_int(p, "d", 1), dv = (size_t)cb_params_int(p, "dv", (int64_t)d);
    blas_state *st = calloc(1, sizeof *st);
    if (!st) return cb_fail(err, errlen, "blas softmax_decode: out of memory");
    st->kc = cb_alloc_floats(H * N * d);
    st->vc = cb_alloc_floats(H * N * dv);
    st->s = cb_alloc_floats(N);
    if (!st->kc || !st->vc || !st->s) {
        blas_release(st);
        return cb_fail(err, errlen, "blas softmax_decode: out of memory for the KV cache");
    }
    *state = st;
    return 0;
}

static int blas_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    blas_state *st = state;
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
            /* s[0..t] = scale · Kc[0..t] q_t */
            cblas_sgemv(CblasRowMajor, CblasNoTrans, t + 1, d, scale, kc, d, q + row * d, 1,
                        0.0f, s, 1);
            float inv;
            cb_softmax_rows(s, (size_t)(t + 1), 1, t + 1, t + 1, &inv);
            /* o_t = inv · Vc[0..t]ᵀ s */
            cblas_sgemv(CblasRowMajor, CblasTrans, t + 1, dv, inv, vc, dv, s, 1, 0.0f,
                        o + row * dv, 1);
        }
    }
    return 0;
}

const cb_impl cb_impl_blas_softmax_decode = {
    .kernel = "softmax_decode",
    .backend = "blas",
    .how = "per token: copy k,v into the cache; sgemv scores, vectorized softmax, sgemv P V",
    .prepare = blas_prepare,
    .run = blas_run,
    .release = blas_release,
};
