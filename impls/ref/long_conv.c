/* long_conv.c (ref) — the long_conv contract and its oracle.
 *
 * The long convolution at the heart of Hyena (Poli et al. 2023, "Hyena
 * Hierarchy"): every channel c of a sequence u [D, N] is convolved causally
 * with its own filter h [D, N] as long as the sequence,
 *
 *   y[c, t] = sum_{s=0..t} h[c, s] u[c, t - s],     t = 0 .. N-1,
 *
 * a depthwise convolution whose filter spans the whole sequence, so output t
 * sees every input up to t and none after it. Computed directly it costs
 * N (N + 1) / 2 multiply-adds per channel: O(D N^2). Through the FFT
 * (impls/fftw/long_conv.c) it costs O(D N log N).
 *
 * This file computes it the obvious way: two loops per output, accumulating
 * in double, rounding once to float.
 */
#include "kernel.h"

#include <math.h>
#include <stdlib.h>

/* ---- the contract ------------------------------------------------------ */

static int want_dim(const cb_params *p, const char *name, int64_t *out, char *err, size_t errlen)
{
    int i = cb_params_find(p, name);
    if (i < 0)
        return cb_fail(err, errlen, "long_conv: missing parameter %s", name);
    double v = p->value[i];
    if (!(v == floor(v)) || v < 1 || v > 1e9)
        return cb_fail(err, errlen, "long_conv: %s = %g must be an integer >= 1", name, v);
    *out = (int64_t)v;
    return 0;
}

static int lc_shapes(cb_params *p, cb_shape *in, cb_shape *out, char *err, size_t errlen)
{
    int64_t D = 0, N = 0;
    if (want_dim(p, "D", &D, err, errlen) || want_dim(p, "N", &N, err, errlen))
        return -1;
    /* FFTW takes int sizes and the FFT pads to about 2N: keep D*N and 4N in range */
    if (D * N > ((int64_t)1 << 30) || N > ((int64_t)1 << 28))
        return cb_fail(err, errlen, "long_conv: D*N = %lld is too large", (long long)(D * N));
    in[0] = (cb_shape){2, {D, N}};    /* u */
    in[1] = (cb_shape){2, {D, N}};    /* h */
    out[0] = (cb_shape){2, {D, N}};   /* y */
    return 0;
}

static int lc_infer(cb_params *p, const cb_shape *in, char *err, size_t errlen)
{
    if (in[0].rank != 2 || in[1].rank != 2)
        return cb_fail(err, errlen, "long_conv: u and h must be [D, N]");
    if (in[1].dim[0] != in[0].dim[0] || in[1].dim[1] != in[0].dim[1])
        return cb_fail(err, errlen, "long_conv: h must have the shape of u");
    if (cb_params_set(p, "D", (double)in[0].dim[0]) || cb_params_set(p, "N", (double)in[0].dim[1]))
        return cb_fail(err, errlen, "long_conv: too many parameters");
    return 0;
}

/* Nominal FLOPs, the same for every backend: the direct sum, D N (N + 1)
 * multiply-adds at 2 flops each. The FFT backend does far fewer; its
 * "GFLOP/s" column is then an effective rate (direct work per second). */
static double lc_flops(const cb_params *p)
{
    double D = cb_params_get(p, "D", 0), N = cb_params_get(p, "N", 0);
    return D * N * (N + 1);
}

const cb_kernel cb_kernel_long_conv = {
    .name = "long_conv",
    .summary = "causal depthwise long convolution y[c,t] = sum_{s<=t} h[c,s] u[c,t-s] (Hyena, Poli 2023)",
    .params_doc = "D N",
    .n_in = 2,
    .in = {"u", "h"},
    .n_out = 1,
    .out = {"y"},
    .shapes = lc_shapes,
    .infer = lc_infer,
    .flops = lc_flops,
};

/* ---- the reference implementation ------------------------------------- */

static int ref_lc_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)state;
    const int64_t D = cb_params_int(p, "D", 0), N = cb_params_int(p, "N", 0);
    for (int64_t c = 0; c < D; c++) {
        const float *u = in[0].data + c * N, *h = in[1].data + c * N;
        float *y = out[0].data + c * N;
        for (int64_t t = 0; t < N; t++) {
            double acc = 0;
            for (int64_t s = 0; s <= t; s++)
                acc += (double)h[s] * (double)u[t - s];
            y[t] = (float)acc;
        }
    }
    return 0;
}

const cb_impl cb_impl_ref_long_conv = {
    .kernel = "long_conv",
    .backend = "ref",
    .how = "double: y[c,t] = sum_{s<=t} h[c,s] u[c,t-s], two loops, O(D N^2)",
    .prepare = NULL,
    .run = ref_lc_run,
    .release = NULL,
};
