/* ref/softmax_decode_nocache.c — the softmax_decode_nocache contract and its oracle.
 *
 * Generation without a KV cache: the baseline of the 2020 "Transformers are
 * RNNs" era, where each new token re-runs the model over the whole prefix.
 * For t = 0..N-1: recompute causal softmax attention for every row 0..t over
 * keys 0..t and keep only row t as o[:,t,:]. The output equals causal softmax
 * attention; the cost is O(N³), so it is timed at small N only.
 *
 * Tensors and parameters are those of softmax_decode (q, k [H,N,d],
 * v [H,N,dv] → o [H,N,dv]; H N d dv scale), and so are shapes() and infer().
 * The reference recomputes literally, in double; rows 0..t-1 of each step
 * are computed and thrown away, which is the point of the baseline.
 */
#include "kernel.h"

#include <math.h>
#include <stdlib.h>

/* The contract of softmax_decode (ref/softmax_decode.c) gives the shapes. */
extern const cb_kernel cb_kernel_softmax_decode;

static int shapes(cb_params *p, cb_shape *in, cb_shape *out, char *err, size_t errlen)
{
    return cb_kernel_softmax_decode.shapes(p, in, out, err, errlen);
}

static int infer(cb_params *p, const cb_shape *in, char *err, size_t errlen)
{
    return cb_kernel_softmax_decode.infer(p, in, err, errlen);
}

/* Step t does causal attention over t+1 rows: 2·H·((t+1)(t+2)/2)·(d+dv)
 * flops; summed over t < N that is H·(d+dv)·N(N+1)(N+2)/3. */
static double flops(const cb_params *p)
{
    double H = (double)cb_params_int(p, "H", 0), N = (double)cb_params_int(p, "N", 0);
    double d = (double)cb_params_int(p, "d", 0), dv = (double)cb_params_int(p, "dv", (int64_t)d);
    return H * (d + dv) * N * (N + 1) * (N + 2) / 3.0;
}

const cb_kernel cb_kernel_softmax_decode_nocache = {
    .name = "softmax_decode_nocache",
    .summary = "generation without a KV cache: causal attention over the whole prefix at every token",
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
    double *w;      /* weights of one row, N */
    double *row;    /* one output row, dv */
} ref_state;

static void ref_release(void *state)
{
    ref_state *s = state;
    if (!s) return;
    free(s->w);
    free(s->row);
    free(s);
}

static int ref_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out,
                       char *err, size_t errlen)
{
    (void)in;
    (void)out;
    const size_t N = (size_t)cb_params_int(p, "N", 1), d = (size_t)cb_params_int(p, "d", 1);
    const size_t dv = (size_t)cb_params_int(p, "dv", (int64_t)d);
    ref_state *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "ref softmax_decode_nocache: out of memory");
    s->w = malloc(N * sizeof *s->w);
    s->row = malloc(dv * sizeof *s->row);
    if (!s->w || !s->row) {
        ref_release(s);
        return cb_fail(err, errlen, "ref softmax_decode_nocache: out of memory");
    }
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
    double *w = s->w, *row = s->row;

    for (int64_t t = 0; t < N; t++) {                  /* one generated token */
        for (int64_t h = 0; h < H; h++) {
            const float *qh = q + h * N * d, *kh = k + h * N * d, *vh = v + h * N * dv;
            for (int64_t i = 0; i <= t; i++) {          /* every row of the prefix */
                double mx = -INFINITY;
                for (int64_t j = 0; j <= i; j++) {      /* causal: keys 0..i */
                    double dot = 0;
                    for (int64_t c = 0; c < d; c++)
                        dot += (double)qh[i * d + c] * (double)kh[j * d + c];
                    w[j] = scale * dot;
                    if (w[j] > mx) mx = w[j];
                }
                double sum = 0;
                for (int64_t j = 0; j <= i; j++) {
                    w[j] = exp(w[j] - mx);
                    sum += w[j];
                }
                for (int64_t c = 0; c < dv; c++) {
                    double acc = 0;
                    for (int64_t j = 0; j <= i; j++)
                        acc += w[j] * (double)vh[j * dv + c];
                    row[c] = acc / sum;
                }
            }
            /* only the last row, the new token's, is kept */
            for (int64_t c = 0; c < dv; c++)
                o[(h * N + t) * dv + c] = (float)row[c];
        }
    }
    return 0;
}

const cb_impl cb_impl_ref_softmax_decode_nocache = {
    .kernel = "softmax_decode_nocache",
    .backend = "ref",
    .how = "per token: naive double causal attention over the whole prefix, keep the last row",
    .prepare = ref_prepare,
    .run = ref_run,
    .release = ref_release,
};
