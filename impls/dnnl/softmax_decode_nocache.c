/* dnnl/softmax_decode_nocache.c — generation without a KV cache, with oneDNN.
 *
 * At every token t each head recomputes causal attention over its whole
 * prefix (rows and keys 0..t) and keeps row t. The prefix length changes
 * every token, so the fixed-shape primitives of dnnl/softmax_attention.c do
 * not fit; this uses dnnl_sgemm (oneDNN's row-major BLAS-like API over the
 * same JIT kernels, shapes given per call) in the same blocked scheme:
 * per block of query rows, S = scale · Q_blk Kᵀ (only the keys the block can
 * see), the vectorized row softmax of common/softmax_rows.h
 * with the causal mask, O_blk = P V, rows divided by their sums.
 */
#include "kernel.h"
#include "common/softmax_rows.h"

#include <math.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdlib.h>
#include <string.h>

#define NOCACHE_BLOCK 256    /* query rows per block */

typedef struct dnnl_state {
    float *s;                   /* scores: NOCACHE_BLOCK × N */
    float *ob;                  /* the prefix's output rows: N × dv */
    float inv[NOCACHE_BLOCK];
} dnnl_state;

static void dnnl_release(void *state)
{
    dnnl_state *st = state;
    if (!st) return;
    free(st->s);
    free(st->ob);
    free(st);
}

static int dnnl_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out,
                        char *err, size_t errlen)
{
    (void)in;
    (void)out;
    const size_t N = (size_t)cb_params_int(p, "N", 1), d = (size_t)cb_params_int(p, "d", 1);
    const size_t dv = (size_t)cb_params_int(p, "dv", (int64_t)d);
    const size_t rows = N < NOCACHE_BLOCK ? N : NOCACHE_BLOCK;
    dnnl_state *st = calloc(1, sizeof *st);
    if (!st) return cb_fail(err, errlen, "dnnl softmax_decode_nocache: out of memory");
    st->s = cb_alloc_floats(rows * N);
    st->ob = cb_alloc_floats(N * dv);
    if (!st->s || !st->ob) {
        dnnl_release(st);
        return cb_fail(err, errlen, "dnnl softmax_decode_nocache: out of memory");
    }
    *state = st;
    return 0;
}

/* Causal attention of the n-row prefix of one head into o [n × dv]. */
static int causal_prefix(dnnl_state *st, int n, int d, int dv, float scale, const float *q,
                         const float *k, const float *v, float *o)
{
    for (int n0 = 0; n0 < n; n0 += NOCACHE_BLOCK) {
        const int nb = n - n0 < NOCACHE_BLOCK ? n - n0 : NOCACHE_BLOCK;
        const int keys = n0 + nb;                       /* keys the block can see */
        /* S[nb × keys] = scale · Q[n0.., :] K[0..keys, :]ᵀ */
        if (dnnl_sgemm('N', 'T', nb, keys, d, scale, q + (size_t)n0 * d, d, k, d, 0.0f, st->s, keys)
            != dnnl_success)
            return -1;
        cb_softmax_rows(st->s, (size_t)keys, nb, keys, n0 + 1, st->inv);
        float *ob = o + (size_t)n0 * dv;
        if (dnnl_sgemm('N', 'N', nb, dv, keys, 1.0f, st->s, keys, v, dv, 0.0f, ob, dv) != dnnl_success)
            return -1;
        for (int r = 0; r < nb; r++)
            for (int c = 0; c < dv; c++)
                ob[(size_t)r * dv + c] *= st->inv[r];
    }
    return 0;
}

static int dnnl_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    dnnl_state *st = state;
    const int H = (int)cb_params_int(p, "H", 0), N = (int)cb_params_int(p, "N", 0);
    const int d = (int)cb_params_int(p, "d", 0), dv = (int)cb_params_int(p, "dv", d);
    const float scale = (float)cb_params_get(p, "scale", 1.0 / sqrt((double)d));

    for (int t = 0; t < N; t++)
        for (int h = 0; h < H; h++) {
            if (causal_prefix(st, t + 1, d, dv, scale, in[0].data + (size_t)h * N * d,
                              in[1].data + (size_t)h * N * d, in[2].data + (size_t)h * N * dv, st->ob))
                return -1;
            memcpy(out[0].data + ((size_t)h * N + t) * dv, st->ob + (size_t)t * dv,
                   (size_t)dv * sizeof(float));
        }
    return 0;
}

const cb_impl cb_impl_dnnl_softmax_decode_nocache = {
    .kernel = "softmax_decode_nocache",
    .backend = "dnnl",
    .how = "per token: blocked causal dnnl_sgemm / vectorized softmax / dnnl_sgemm over the whole prefix, keep the last row",
    .prepare = dnnl_prepare,
    .run = dnnl_run,
    .release = dnnl_release,
};
