/* mhsa_conv.c (ref) — the mhsa_conv contract and its oracle: multi-head
 * self-attention built to perform a 2-D convolution (vit_conv_construction).
 *
 * The construction (Cordonnier, Loukas & Jaggi 2020, on which Li, Chen, He &
 * Hsieh 2021 build): tokens are pixels. The image x [Cin, Hh, Ww] is padded
 * with r = (K - 1)/2 rings of zero-valued tokens, so the key grid is
 * Hp x Wp = (Hh + 2r) x (Ww + 2r), Np = Hp Wp keys; the queries are the
 * Hh Ww image pixels. There are K^2 heads, one per kernel offset
 * Delta_h = (a - r, b - r), h = a K + b. Head h scores a query at padded
 * position q and a key at position k with the relative positional encoding
 *
 *   s_h(q, k) = -alpha ||(k - q) - Delta_h||^2            (no content term)
 *
 * (Cordonnier's "quadratic encoding", a per-head relative-position bias), so
 * its softmax over the Np keys peaks at k = q + Delta_h with weight
 * 1 / (1 + 4 e^-alpha + ...), and the nearest other keys get e^-alpha of it.
 * The value and output projections of head h compose to the kernel slice
 * W_h = w[:, :, a, b] (Cout x Cin), and the heads are summed:
 *
 *   y[:, q] = sum_h W_h sum_k softmax_k(s_h(q, k)) xpad[:, k].
 *
 * As alpha -> infinity each softmax becomes one-hot on q + Delta_h and y is
 * exactly conv2d(x, w) with "same" zero padding (the padding tokens are the
 * zeros the convolution sees outside the image); at finite alpha the error
 * is about e^-alpha times a sum of neighbour differences.
 *
 * This file computes it plainly in double: per head and query, the Np
 * logits, their softmax, the weighted sum of token values (the zero padding
 * tokens count in the normalization; their values are zero), then W_h.
 * alpha = INFINITY (only through cb_mhsa_conv_d) is one-hot attention.
 */
#include "kernel.h"
#include "ref/conv2d_contract.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- the contract ------------------------------------------------------ */

static int mc_shapes(cb_params *p, cb_shape *in, cb_shape *out, char *err, size_t errlen)
{
    if (cb_params_default(p, "alpha", 24))
        return cb_fail(err, errlen, "mhsa_conv: too many parameters");
    if (cb_conv_shapes("mhsa_conv", p, in, out, err, errlen))
        return -1;
    double a = cb_params_get(p, "alpha", 0);
    if (!(a > 0 && a <= 1e6))
        return cb_fail(err, errlen, "mhsa_conv: alpha = %g must be in (0, 1e6]", a);
    return 0;
}

static int mc_infer(cb_params *p, const cb_shape *in, char *err, size_t errlen)
{
    return cb_conv_infer("mhsa_conv", p, in, err, errlen);
}

/* Nominal FLOPs, the same for every backend: per head, the value/output
 * product W_h xpad (2 Cout Cin Np) and the attention product P_h V_h
 * (2 Hh Ww Np Cout). The K^2 Hh Ww Np exponentials are not counted. */
static double mc_flops(const cb_params *p)
{
    double K = cb_params_get(p, "K", 3), Hh = cb_params_get(p, "Hh", 0), Ww = cb_params_get(p, "Ww", 0);
    double Cin = cb_params_get(p, "Cin", 0), Cout = cb_params_get(p, "Cout", 0);
    double Np = (Hh + K - 1) * (Ww + K - 1);
    return K * K * (2 * Cout * Cin * Np + 2 * Hh * Ww * Np * Cout);
}

const cb_kernel cb_kernel_mhsa_conv = {
    .name = "mhsa_conv",
    .summary = "K^2-head self-attention with quadratic relative-position scores that performs conv2d (Cordonnier 2020)",
    .params_doc = "Cin Cout K Hh Ww alpha",
    .n_in = 2,
    .in = {"x", "w"},
    .n_out = 1,
    .out = {"y"},
    .shapes = mc_shapes,
    .infer = mc_infer,
    .flops = mc_flops,
};

/* ---- the double-precision construction --------------------------------- */

int cb_mhsa_conv_d(const double *x, const double *w, int64_t Cin, int64_t Cout, int64_t K, int64_t Hh, int64_t Ww,
                   double alpha, double *y)
{
    const int64_t r = (K - 1) / 2, Hp = Hh + 2 * r, Wp = Ww + 2 * r, Np = Hp * Wp;
    double *e = malloc((size_t)Np * sizeof *e), *o = malloc((size_t)Cin * sizeof *o);
    if (!e || !o) {
        free(e);
        free(o);
        return -1;
    }
    const int hard = isinf(alpha);
    memset(y, 0, (size_t)(Cout * Hh * Ww) * sizeof *y);
    for (int64_t h = 0; h < K * K; h++) {
        const int64_t di = h / K - r, dj = h % K - r;
        for (int64_t i = 0; i < Hh; i++)
            for (int64_t j = 0; j < Ww; j++) {
                /* the query sits at (i + r, j + r) on the padded grid */
                const int64_t ti = i + r + di, tj = j + r + dj;   /* target key */
                double Z = 0;
                for (int64_t a = 0; a < Hp; a++)
                    for (int64_t b = 0; b < Wp; b++) {
                        double d2 = (double)((a - ti) * (a - ti) + (b - tj) * (b - tj));
                        /* max logit is 0 (the target is on the grid): no overflow */
                        double v = hard ? (d2 == 0 ? 1.0 : 0.0) : exp(-alpha * d2);
                        e[a * Wp + b] = v;
                        Z += v;
                    }
                /* o = sum_k p_k xpad[:, k]; padding tokens have value 0 */
                for (int64_t c = 0; c < Cin; c++) {
                    double acc = 0;
                    for (int64_t a = r; a < r + Hh; a++)
                        for (int64_t b = r; b < r + Ww; b++)
                            acc += e[a * Wp + b] * x[(c * Hh + (a - r)) * Ww + (b - r)];
                    o[c] = acc / Z;
                }
                /* y[:, q] += W_h o, W_h = w[:, :, di + r, dj + r] */
                for (int64_t oc = 0; oc < Cout; oc++) {
                    double acc = 0;
                    for (int64_t c = 0; c < Cin; c++)
                        acc += w[((oc * Cin + c) * K + (di + r)) * K + (dj + r)] * o[c];
                    y[(oc * Hh + i) * Ww + j] += acc;
                }
            }
    }
    free(e);
    free(o);
    return 0;
}

/* ---- the reference implementation ------------------------------------- */

typedef struct ref_mc {
    double *x, *w, *y;
} ref_mc;

static void ref_mc_release(void *state)
{
    ref_mc *s = state;
    if (!s) return;
    free(s->x);
    free(s->w);
    free(s->y);
    free(s);
}

static int ref_mc_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out, char *err,
                          size_t errlen)
{
    ref_mc *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "ref mhsa_conv: out of memory");
    (void)p;
    s->x = calloc((size_t)cb_shape_numel(&in[0].shape), sizeof *s->x);
    s->w = calloc((size_t)cb_shape_numel(&in[1].shape), sizeof *s->w);
    s->y = calloc((size_t)cb_shape_numel(&out[0].shape), sizeof *s->y);
    if (!s->x || !s->w || !s->y) {
        ref_mc_release(s);
        return cb_fail(err, errlen, "ref mhsa_conv: out of memory");
    }
    *state = s;
    return 0;
}

static int ref_mc_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    ref_mc *s = state;
    const int64_t nx = cb_shape_numel(&in[0].shape), nw = cb_shape_numel(&in[1].shape);
    const int64_t ny = cb_shape_numel(&out[0].shape);
    for (int64_t i = 0; i < nx; i++) s->x[i] = in[0].data[i];
    for (int64_t i = 0; i < nw; i++) s->w[i] = in[1].data[i];
    if (cb_mhsa_conv_d(s->x, s->w, cb_params_int(p, "Cin", 0), cb_params_int(p, "Cout", 0),
                       cb_params_int(p, "K", 3), cb_params_int(p, "Hh", 0), cb_params_int(p, "Ww", 0),
                       cb_params_get(p, "alpha", 24), s->y))
        return -1;
    for (int64_t i = 0; i < ny; i++) out[0].data[i] = (float)s->y[i];
    return 0;
}

const cb_impl cb_impl_ref_mhsa_conv = {
    .kernel = "mhsa_conv",
    .backend = "ref",
    .how = "double: per head and query, Np logits -alpha||k-q-Delta_h||^2, softmax, weighted token sum, W_h",
    .prepare = ref_mc_prepare,
    .run = ref_mc_run,
    .release = ref_mc_release,
};
