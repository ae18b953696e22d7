/* blas/softmax_decode_nocache.c — generation without a KV cache, with CBLAS.
 *
 * At every token t each head recomputes causal attention over its whole
 * prefix (rows and keys 0..t) with the blocked routine of
 * blas/softmax_attention.c (sgemm Q Kᵀ, vectorized softmax, sgemm P V,
 * blocks above the diagonal skipped), into a scratch output; row t is kept.
 * The prefix of a head is the first t+1 rows of its [N, d] slice, so the
 * routine reads q, k, v in place.
 */
#include "kernel.h"
#include "attention_blocks.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct blas_state {
    cb_blas_attn_scratch sc;        /* blocks of the causal routine, for up to N rows */
    float *ob;                      /* the prefix's output rows: N × dv */
} blas_state;

static int blas_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out,
                        char *err, size_t errlen)
{
    (void)in;
    (void)out;
    const int N = (int)cb_params_int(p, "N", 1), d = (int)cb_params_int(p, "d", 1);
    const int dv = (int)cb_params_int(p, "dv", d);
    blas_state *st = calloc(1, sizeof *st);
    if (!st) return cb_fail(err, errlen, "blas softmax_decode_nocache: out of memory");
    st->ob = cb_alloc_floats((size_t)N * dv);
    if (!st->ob || cb_blas_attn_scratch_init(&st->sc, N, N, dv, 1) != 0) {
        free(st->ob);
        free(st);
        return cb_fail(err, errlen, "blas softmax_decode_nocache: out of memory");
    }
    *state = st;
    return 0;
}

static void blas_release(void *state)
{
    blas_state *st = state;
    if (!st) return;
    cb_blas_attn_scratch_free(&st->sc);
    free(st->ob);
    free(st);
}

static int blas_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    blas_state *st = state;
    const int H = (int)cb_params_int(p, "H", 0), N = (int)cb_params_int(p, "N", 0);
    const int d = (int)cb_params_int(p, "d", 0), dv = (int)cb_params_int(p, "dv", d);
    const float scale = (float)cb_params_get(p, "scale", 1.0 / sqrt((double)d));

    for (int t = 0; t < N; t++)
        for (int h = 0; h < H; h++) {
            cb_blas_attention_head(t + 1, t + 1, d, dv, scale, 1,
                                   in[0].data + (size_t)h * N * d, in[1].data + (size_t)h * N * d,
                                   in[2].data + (size_t)h * N * dv, st->ob, &st->sc);
            memcpy(out[0].data + ((size_t)h * N + t) * dv, st->ob + (size_t)t * dv,
                   (size_t)dv * sizeof(float));
        }
    return 0;
}

const cb_impl cb_impl_blas_softmax_decode_nocache = {
    .kernel = "softmax_decode_nocache",
    .backend = "blas",
    .how = "per token: blocked causal sgemm/softmax/sgemm over the whole prefix, keep the last row",
    .prepare = blas_prepare,
    .run = blas_run,
    .release = blas_release,
};
