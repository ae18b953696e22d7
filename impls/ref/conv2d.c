/* conv2d.c (ref) — the conv2d contract and its oracle (vit_conv_construction).
 *
 * A 2-D convolution as deep-learning frameworks define it (a cross-
 * correlation), stride 1, "same" zero padding, K odd, r = (K - 1) / 2:
 *
 *   y[o, i, j] = sum_c sum_{a,b in [0, K)} w[o, c, a, b] x[c, i + a - r, j + b - r],
 *
 * with x taken as 0 outside the image. x is [Cin, Hh, Ww], w [Cout, Cin, K, K],
 * y [Cout, Hh, Ww], all row-major. This file computes it the obvious way,
 * one output at a time, accumulating in double: the oracle for the blas
 * (im2col + sgemm) and dnnl (oneDNN convolution primitive) backends, and the
 * right-hand side of the attention construction in mhsa_conv.
 */
#include "kernel.h"
#include "ref/conv2d_contract.h"

#include <math.h>
#include <stdlib.h>

/* ---- the contract ------------------------------------------------------ */

static int want_int(const char *kernel, const cb_params *p, const char *name, int64_t lo, int64_t hi,
                    int64_t *out, char *err, size_t errlen)
{
    int i = cb_params_find(p, name);
    if (i < 0)
        return cb_fail(err, errlen, "%s: missing parameter %s", kernel, name);
    double v = p->value[i];
    if (!(v == floor(v)) || v < (double)lo || v > (double)hi)
        return cb_fail(err, errlen, "%s: %s = %g must be an integer in [%lld, %lld]", kernel, name, v,
                       (long long)lo, (long long)hi);
    *out = (int64_t)v;
    return 0;
}

int cb_conv_shapes(const char *kernel, cb_params *p, cb_shape *in, cb_shape *out, char *err, size_t errlen)
{
    if (cb_params_default(p, "K", 3))
        return cb_fail(err, errlen, "%s: too many parameters", kernel);
    if (cb_params_has(p, "Hh") && cb_params_default(p, "Ww", cb_params_get(p, "Hh", 0)))
        return cb_fail(err, errlen, "%s: too many parameters", kernel);
    int64_t Cin = 0, Cout = 0, K = 0, Hh = 0, Ww = 0;
    if (want_int(kernel, p, "Cin", 1, 1 << 16, &Cin, err, errlen) ||
        want_int(kernel, p, "Cout", 1, 1 << 16, &Cout, err, errlen) ||
        want_int(kernel, p, "K", 1, 31, &K, err, errlen) ||
        want_int(kernel, p, "Hh", 1, 1 << 14, &Hh, err, errlen) ||
        want_int(kernel, p, "Ww", 1, 1 << 14, &Ww, err, errlen))
        return -1;
    if (K % 2 == 0)
        return cb_fail(err, errlen, "%s: K = %lld must be odd (\"same\" padding)", kernel, (long long)K);
    if (Cin * Hh * Ww > ((int64_t)1 << 28) || Cout * Hh * Ww > ((int64_t)1 << 28) ||
        Cout * Cin * K * K > ((int64_t)1 << 28))
        return cb_fail(err, errlen, "%s: Cin, Cout, Hh, Ww too large", kernel);
    in[0] = (cb_shape){3, {Cin, Hh, Ww}};
    in[1] = (cb_shape){4, {Cout, Cin, K, K}};
    out[0] = (cb_shape){3, {Cout, Hh, Ww}};
    return 0;
}

int cb_conv_infer(const char *kernel, cb_params *p, const cb_shape *in, char *err, size_t errlen)
{
    if (in[0].rank != 3)
        return cb_fail(err, errlen, "%s: x must be [Cin, Hh, Ww]", kernel);
    if (in[1].rank != 4 || in[1].dim[2] != in[1].dim[3])
        return cb_fail(err, errlen, "%s: w must be [Cout, Cin, K, K]", kernel);
    if (in[1].dim[1] != in[0].dim[0])
        return cb_fail(err, errlen, "%s: w has Cin = %lld, x has %lld channels", kernel,
                       (long long)in[1].dim[1], (long long)in[0].dim[0]);
    if (cb_params_set(p, "Cin", (double)in[0].dim[0]) || cb_params_set(p, "Hh", (double)in[0].dim[1]) ||
        cb_params_set(p, "Ww", (double)in[0].dim[2]) || cb_params_set(p, "Cout", (double)in[1].dim[0]) ||
        cb_params_set(p, "K", (double)in[1].dim[2]))
        return cb_fail(err, errlen, "%s: too many parameters", kernel);
    return 0;
}

static int conv_shapes(cb_params *p, cb_shape *in, cb_shape *out, char *err, size_t errlen)
{
    return cb_conv_shapes("conv2d", p, in, out, err, errlen);
}

static int conv_infer(cb_params *p, const cb_shape *in, char *err, size_t errlen)
{
    return cb_conv_infer("conv2d", p, in, err, errlen);
}

/* 2 Cout Cin K^2 Hh Ww: one multiply-add per weight per output pixel (the
 * zero-padded border is counted as if computed). */
static double conv_flops(const cb_params *p)
{
    double K = cb_params_get(p, "K", 3);
    return 2 * cb_params_get(p, "Cout", 0) * cb_params_get(p, "Cin", 0) * K * K * cb_params_get(p, "Hh", 0) *
           cb_params_get(p, "Ww", 0);
}

const cb_kernel cb_kernel_conv2d = {
    .name = "conv2d",
    .summary = "2-D convolution, stride 1, same zero padding: x [Cin,Hh,Ww] * w [Cout,Cin,K,K]",
    .params_doc = "Cin Cout K Hh Ww",
    .n_in = 2,
    .in = {"x", "w"},
    .n_out = 1,
    .out = {"y"},
    .shapes = conv_shapes,
    .infer = conv_infer,
    .flops = conv_flops,
};

/* ---- the reference implementation ------------------------------------- */

void cb_conv2d_d(const double *x, const double *w, int64_t Cin, int64_t Cout, int64_t K, int64_t Hh, int64_t Ww,
                 double *y)
{
    const int64_t r = (K - 1) / 2;
    for (int64_t o = 0; o < Cout; o++)
        for (int64_t i = 0; i < Hh; i++)
            for (int64_t j = 0; j < Ww; j++) {
                double acc = 0;
                for (int64_t c = 0; c < Cin; c++)
                    for (int64_t a = 0; a < K; a++) {
                        int64_t ii = i + a - r;
                        if (ii < 0 || ii >= Hh) continue;   /* zero padding */
                        for (int64_t b = 0; b < K; b++) {
                            int64_t jj = j + b - r;
                            if (jj < 0 || jj >= Ww) continue;
                            acc += w[((o * Cin + c) * K + a) * K + b] * x[(c * Hh + ii) * Ww + jj];
                        }
                    }
                y[(o * Hh + i) * Ww + j] = acc;
            }
}

static int ref_conv_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)state;
    const int64_t Cin = cb_params_int(p, "Cin", 0), Cout = cb_params_int(p, "Cout", 0);
    const int64_t K = cb_params_int(p, "K", 3), Hh = cb_params_int(p, "Hh", 0), Ww = cb_params_int(p, "Ww", 0);
    const int64_t r = (K - 1) / 2;
    const float *x = in[0].data, *w = in[1].data;
    float *y = out[0].data;
    for (int64_t o = 0; o < Cout; o++)
        for (int64_t i = 0; i < Hh; i++)
            for (int64_t j = 0; j < Ww; j++) {
                double acc = 0;
                for (int64_t c = 0; c < Cin; c++)
                    for (int64_t a = 0; a < K; a++) {
                        int64_t ii = i + a - r;
                        if (ii < 0 || ii >= Hh) continue;   /* zero padding */
                        for (int64_t b = 0; b < K; b++) {
                            int64_t jj = j + b - r;
                            if (jj < 0 || jj >= Ww) continue;
                            acc += (double)w[((o * Cin + c) * K + a) * K + b] * (double)x[(c * Hh + ii) * Ww + jj];
                        }
                    }
                y[(o * Hh + i) * Ww + j] = (float)acc;
            }
    return 0;
}

const cb_impl cb_impl_ref_conv2d = {
    .kernel = "conv2d",
    .backend = "ref",
    .how = "double: direct 7-loop convolution, out-of-image taps skipped (zero padding)",
    .prepare = NULL,
    .run = ref_conv_run,
    .release = NULL,
};
