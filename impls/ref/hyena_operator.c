/* hyena_operator.c (ref) — the hyena_operator contract and its oracle.
 *
 * The order-2 Hyena operator (Poli et al. 2023, "Hyena Hierarchy", Def. 3.1,
 * eq. (3)) on a sequence x of N tokens and D channels:
 *
 *   (v, x1, x2) = x W_in                   projections, W_in [D, 3D]
 *   z1 = v
 *   z2[t, c] = x1[t, c] (h1[c] * z1[., c])[t]     long conv, then gate
 *   z3[t, c] = x2[t, c] (h2[c] * z2[., c])[t]
 *   y = z3 W_out                            output projection, W_out [D, D]
 *
 * i.e. y = (x2 . (h2 * (x1 . (h1 * v)))) W_out, with "*" the causal long
 * convolution along tokens, channel by channel ((h * z)[t] = sum_{s<=t}
 * h[s] z[t - s], the long_conv kernel) and "." the elementwise product: the
 * recurrence z^{n+1}_t = x^n_t (h^n * z^n)_t of the paper, convolution
 * first, then gating. (The reference code, HazyResearch/safari, gates
 * before convolving and adds a short depthwise convolution to the
 * projections and a bias-skip to each long convolution; none of these
 * changes the cost law.) In Hyena the filters h1, h2 [D, N] come from a
 * small FFN of positional features times an exponential decay; here they
 * are inputs, so every backend sees the same numbers.
 *
 * Layout: x [N, D] (tokens by channels, as a transformer's activations),
 * W_in [D, 3D] with columns 0..D-1 giving v, D..2D-1 x1, 2D..3D-1 x2;
 * h1, h2 [D, N] (one filter per channel); y [N, D].
 *
 * This file computes it the obvious way in double: projections, two direct
 * O(D N^2) convolutions with their gates, the output projection.
 */
#include "kernel.h"

#include <math.h>
#include <stdlib.h>

/* ---- the contract ------------------------------------------------------ */

static int want_dim(const cb_params *p, const char *name, int64_t *out, char *err, size_t errlen)
{
    int i = cb_params_find(p, name);
    if (i < 0)
        return cb_fail(err, errlen, "hyena_operator: missing parameter %s", name);
    double v = p->value[i];
    if (!(v == floor(v)) || v < 1 || v > 1e9)
        return cb_fail(err, errlen, "hyena_operator: %s = %g must be an integer >= 1", name, v);
    *out = (int64_t)v;
    return 0;
}

static int hy_shapes(cb_params *p, cb_shape *in, cb_shape *out, char *err, size_t errlen)
{
    int64_t D = 0, N = 0;
    if (want_dim(p, "D", &D, err, errlen) || want_dim(p, "N", &N, err, errlen))
        return -1;
    if (3 * D * N > ((int64_t)1 << 30) || N > ((int64_t)1 << 28) || D > 65536)
        return cb_fail(err, errlen, "hyena_operator: D = %lld, N = %lld is too large", (long long)D,
                       (long long)N);
    in[0] = (cb_shape){2, {N, D}};       /* x */
    in[1] = (cb_shape){2, {D, 3 * D}};   /* w_in */
    in[2] = (cb_shape){2, {D, N}};       /* h1 */
    in[3] = (cb_shape){2, {D, N}};       /* h2 */
    in[4] = (cb_shape){2, {D, D}};       /* w_out */
    out[0] = (cb_shape){2, {N, D}};      /* y */
    return 0;
}

static int hy_infer(cb_params *p, const cb_shape *in, char *err, size_t errlen)
{
    for (int i = 0; i < 5; i++)
        if (in[i].rank != 2)
            return cb_fail(err, errlen, "hyena_operator: every input must be a matrix");
    const int64_t N = in[0].dim[0], D = in[0].dim[1];
    if (in[1].dim[0] != D || in[1].dim[1] != 3 * D)
        return cb_fail(err, errlen, "hyena_operator: w_in must be [D, 3D] for x [N, D]");
    for (int i = 2; i < 4; i++)
        if (in[i].dim[0] != D || in[i].dim[1] != N)
            return cb_fail(err, errlen, "hyena_operator: h%d must be [D, N] for x [N, D]", i - 1);
    if (in[4].dim[0] != D || in[4].dim[1] != D)
        return cb_fail(err, errlen, "hyena_operator: w_out must be [D, D]");
    if (cb_params_set(p, "D", (double)D) || cb_params_set(p, "N", (double)N))
        return cb_fail(err, errlen, "hyena_operator: too many parameters");
    return 0;
}

/* Nominal FLOPs: the projections (2 N D 3D + 2 N D D = 8 N D^2) plus the
 * two convolutions by FFT, 3 real FFTs of size L ~ 2N each at the usual
 * 2.5 L log2 L, and the gates: what the fast backend does, so GFLOP/s is
 * its own rate. (The ref does the direct O(D N^2) sums instead.) */
static double hy_flops(const cb_params *p)
{
    double D = cb_params_get(p, "D", 0), N = cb_params_get(p, "N", 0), L = 2 * N;
    return 8 * N * D * D + 2 * D * (3 * 2.5 * L * log2(L) + 6 * (L / 2 + 1) + N);
}

const cb_kernel cb_kernel_hyena_operator = {
    .name = "hyena_operator",
    .summary = "order-2 Hyena: y = (x2 . (h2 * (x1 . (h1 * v)))) W_out, (v,x1,x2) = x W_in (Poli 2023)",
    .params_doc = "D N",
    .n_in = 5,
    .in = {"x", "w_in", "h1", "h2", "w_out"},
    .n_out = 1,
    .out = {"y"},
    .shapes = hy_shapes,
    .infer = hy_infer,
    .flops = hy_flops,
};

/* ---- the reference implementation ------------------------------------- */

typedef struct ref_hy {
    int64_t D, N;
    double *P;    /* [N, 3D]: v, x1, x2 */
    double *z;    /* [N, D]: the running z^n */
    double *col;  /* one channel of z, N */
} ref_hy;

static void ref_hy_release(void *state)
{
    ref_hy *s = state;
    if (!s) return;
    free(s->P);
    free(s->z);
    free(s->col);
    free(s);
}

static int ref_hy_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out,
                          char *err, size_t errlen)
{
    (void)in;
    (void)out;
    ref_hy *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "ref hyena_operator: out of memory");
    s->D = cb_params_int(p, "D", 0);
    s->N = cb_params_int(p, "N", 0);
    s->P = malloc((size_t)(s->N * 3 * s->D) * sizeof *s->P);
    s->z = malloc((size_t)(s->N * s->D) * sizeof *s->z);
    s->col = malloc((size_t)s->N * sizeof *s->col);
    if (!s->P || !s->z || !s->col) {
        ref_hy_release(s);
        return cb_fail(err, errlen, "ref hyena_operator: out of memory");
    }
    *state = s;
    return 0;
}

/* z[., c] <- gate[., c] (h * z[., c]) for every channel; z and gate have row
 * stride zs, gs. */
static void conv_gate(ref_hy *s, const float *h, double *z, int64_t zs, const double *gate, int64_t gs)
{
    const int64_t D = s->D, N = s->N;
    for (int64_t c = 0; c < D; c++) {
        for (int64_t t = 0; t < N; t++)
            s->col[t] = z[t * zs + c];
        const float *hc = h + c * N;
        for (int64_t t = 0; t < N; t++) {
            double acc = 0;
            for (int64_t k = 0; k <= t; k++)
                acc += (double)hc[k] * s->col[t - k];
            z[t * zs + c] = gate[t * gs + c] * acc;
        }
    }
}

static int ref_hy_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)p;
    ref_hy *s = state;
    const int64_t D = s->D, N = s->N, D3 = 3 * D;
    const float *x = in[0].data, *win = in[1].data, *h1 = in[2].data, *h2 = in[3].data;
    const float *wout = in[4].data;
    /* (v, x1, x2) = x W_in */
    for (int64_t t = 0; t < N; t++)
        for (int64_t j = 0; j < D3; j++) {
            double acc = 0;
            for (int64_t a = 0; a < D; a++)
                acc += (double)x[t * D + a] * (double)win[a * D3 + j];
            s->P[t * D3 + j] = acc;
        }
    /* z1 = v; z2 = x1 . (h1 * z1); z3 = x2 . (h2 * z2) */
    for (int64_t t = 0; t < N; t++)
        for (int64_t c = 0; c < D; c++)
            s->z[t * D + c] = s->P[t * D3 + c];
    conv_gate(s, h1, s->z, D, s->P + D, D3);
    conv_gate(s, h2, s->z, D, s->P + 2 * D, D3);
    /* y = z3 W_out */
    for (int64_t t = 0; t < N; t++)
        for (int64_t j = 0; j < D; j++) {
            double acc = 0;
            for (int64_t a = 0; a < D; a++)
                acc += s->z[t * D + a] * (double)wout[a * D + j];
            out[0].data[t * D + j] = (float)acc;
        }
    return 0;
}

const cb_impl cb_impl_ref_hyena_operator = {
    .kernel = "hyena_operator",
    .backend = "ref",
    .how = "double: projections by loops, two direct O(D N^2) causal convolutions with their gates, output projection",
    .prepare = ref_hy_prepare,
    .run = ref_hy_run,
    .release = ref_hy_release,
};
