/* spectral_conv1d.c (ref) — the spectral_conv1d contract and its oracle.
 *
 * The Fourier layer of a Fourier neural operator (Kovachki, Li et al.,
 * "Neural Operator: Learning Maps Between Function Spaces", section on FNO;
 * 1-D form of the reference code's SpectralConv1d):
 *
 *   U[i, k] = sum_x u[i, x] e^{-2 pi i k x / n}          rfft, k < k_max
 *   Y[o, k] = sum_i U[i, k] W[k, i, o]                   for k < k_max, 0 above
 *   y[o, x] = irfft(Y[o, :], n)[x]
 *           = (1/n) sum_{k < k_max} c_k Re(Y[o, k] e^{2 pi i k x / n})
 *
 * with numpy's conventions: rfft unnormalized, irfft divides by n, and
 * c_k = 1 for k = 0 and for the Nyquist mode k = n/2 (even n), 2 otherwise
 * (spectral_conv1d.h). Taking Re() is what irfft does: it ignores the
 * imaginary part of Y at k = 0 and at k = n/2, which W generally makes
 * non-zero. Every backend does the same.
 *
 * Why the layer is discretization-invariant: the factor n of the forward
 * transform cancels the 1/n of the inverse, so with the Fourier coefficients
 * of the function, uhat_k = U[k]/n, the output is the function
 *   y(x) = sum_{k < k_max} c_k Re(sum_i uhat[i, k] W[k, i, o] e^{2 pi i k x}),
 * evaluated at x = j/n. For u band-limited below k_max and n > 2 (k_max - 1)
 * (no mode of u aliases and the Nyquist mode is not among the kept ones),
 * uhat does not depend on n, so the same W gives the same function at every
 * n. Any normalization pair (torch's "backward", "ortho" or "forward") gives
 * the same composite map, because the two scalings multiply to 1/n either way.
 *
 * This file computes it the obvious way, in double: a direct DFT of the
 * k_max kept modes of each input channel (O(n k_max C_in)), the mode mixing,
 * and a direct inverse sum (O(n k_max C_out)). Twiddles come from a table of
 * e^{2 pi i m / n}, m < n, indexed by (k x) mod n, so they are exact to one
 * rounding whatever the size of k x.
 */
#include "kernel.h"
#include "ref/spectral_conv1d.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- the contract (shared with kernel_integral1d) ---------------------- */

static int want_dim(const char *who, const cb_params *p, const char *name, int64_t *out, char *err,
                    size_t errlen)
{
    int i = cb_params_find(p, name);
    if (i < 0)
        return cb_fail(err, errlen, "%s: missing parameter %s", who, name);
    double v = p->value[i];
    if (!(v == floor(v)) || v < 1 || v > 1e9)
        return cb_fail(err, errlen, "%s: %s = %g must be an integer >= 1", who, name, v);
    *out = (int64_t)v;
    return 0;
}

int cb_sc1d_shapes(const char *who, cb_params *p, cb_shape *in, cb_shape *out, char *err,
                   size_t errlen)
{
    int64_t ci = 0, co = 0, n = 0, km = 0;
    if (want_dim(who, p, "C_in", &ci, err, errlen) || want_dim(who, p, "C_out", &co, err, errlen) ||
        want_dim(who, p, "n", &n, err, errlen) || want_dim(who, p, "k_max", &km, err, errlen))
        return -1;
    if (km > n / 2 + 1)
        return cb_fail(err, errlen,
                       "%s: k_max = %lld exceeds n/2 + 1 = %lld, the number of Fourier modes of "
                       "n = %lld real samples (refused, not clamped)",
                       who, (long long)km, (long long)(n / 2 + 1), (long long)n);
    if (ci * n > ((int64_t)1 << 30) || co * n > ((int64_t)1 << 30) || km * ci * co > ((int64_t)1 << 30))
        return cb_fail(err, errlen, "%s: C_in = %lld, C_out = %lld, n = %lld is too large", who,
                       (long long)ci, (long long)co, (long long)n);
    in[0] = (cb_shape){2, {ci, n}};           /* u */
    in[1] = (cb_shape){3, {km, ci, co}};      /* w_re */
    in[2] = (cb_shape){3, {km, ci, co}};      /* w_im */
    out[0] = (cb_shape){2, {co, n}};          /* y */
    return 0;
}

int cb_sc1d_infer(const char *who, cb_params *p, const cb_shape *in, char *err, size_t errlen)
{
    if (in[0].rank != 2)
        return cb_fail(err, errlen, "%s: u must be [C_in, n]", who);
    for (int t = 1; t < 3; t++)
        if (in[t].rank != 3)
            return cb_fail(err, errlen, "%s: %s must be [k_max, C_in, C_out]", who,
                           t == 1 ? "w_re" : "w_im");
    for (int a = 0; a < 3; a++)
        if (in[2].dim[a] != in[1].dim[a])
            return cb_fail(err, errlen, "%s: w_im must have the shape of w_re", who);
    if (in[1].dim[1] != in[0].dim[0])
        return cb_fail(err, errlen, "%s: w_re has C_in = %lld but u has %lld channels", who,
                       (long long)in[1].dim[1], (long long)in[0].dim[0]);
    if (cb_params_set(p, "C_in", (double)in[0].dim[0]) || cb_params_set(p, "C_out", (double)in[1].dim[2]) ||
        cb_params_set(p, "n", (double)in[0].dim[1]) || cb_params_set(p, "k_max", (double)in[1].dim[0]))
        return cb_fail(err, errlen, "%s: too many parameters", who);
    return 0;
}

static int sc_shapes(cb_params *p, cb_shape *in, cb_shape *out, char *err, size_t errlen)
{
    return cb_sc1d_shapes("spectral_conv1d", p, in, out, err, errlen);
}

static int sc_infer(cb_params *p, const cb_shape *in, char *err, size_t errlen)
{
    return cb_sc1d_infer("spectral_conv1d", p, in, err, errlen);
}

/* Nominal FLOPs, the same for every backend: a real FFT of n points counted
 * as 2.5 n log2 n (the usual convention), C_in forward and C_out inverse
 * transforms, plus the mode mixing, 8 flops per complex multiply-add. */
static double sc_flops(const cb_params *p)
{
    double ci = cb_params_get(p, "C_in", 0), co = cb_params_get(p, "C_out", 0);
    double n = cb_params_get(p, "n", 0), km = cb_params_get(p, "k_max", 0);
    return (ci + co) * 2.5 * n * log2(n > 1 ? n : 2) + 8 * km * ci * co;
}

const cb_kernel cb_kernel_spectral_conv1d = {
    .name = "spectral_conv1d",
    .summary = "FNO Fourier layer: y = irfft(W . rfft(u)) on modes k < k_max (Kovachki, Li et al.)",
    .params_doc = "C_in C_out n k_max",
    .n_in = 3,
    .in = {"u", "w_re", "w_im"},
    .n_out = 1,
    .out = {"y"},
    .shapes = sc_shapes,
    .infer = sc_infer,
    .flops = sc_flops,
};

/* ---- the reference implementation ------------------------------------- */

typedef struct ref_sc {
    int64_t ci, co, n, km;
    double *cs, *sn;        /* cos, sin of 2 pi m / n, m < n */
    double *ure, *uim;      /* U, [C_in][k_max] */
    double *yre, *yim;      /* Y, [C_out][k_max] */
} ref_sc;

static void ref_sc_release(void *state)
{
    ref_sc *s = state;
    if (!s) return;
    free(s->cs);
    free(s->sn);
    free(s->ure);
    free(s->uim);
    free(s->yre);
    free(s->yim);
    free(s);
}

static int ref_sc_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out,
                          char *err, size_t errlen)
{
    (void)in;
    (void)out;
    ref_sc *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "ref spectral_conv1d: out of memory");
    s->ci = cb_params_int(p, "C_in", 0);
    s->co = cb_params_int(p, "C_out", 0);
    s->n = cb_params_int(p, "n", 0);
    s->km = cb_params_int(p, "k_max", 0);
    s->cs = malloc((size_t)s->n * sizeof *s->cs);
    s->sn = malloc((size_t)s->n * sizeof *s->sn);
    s->ure = malloc((size_t)(s->ci * s->km) * sizeof *s->ure);
    s->uim = malloc((size_t)(s->ci * s->km) * sizeof *s->uim);
    s->yre = malloc((size_t)(s->co * s->km) * sizeof *s->yre);
    s->yim = malloc((size_t)(s->co * s->km) * sizeof *s->yim);
    if (!s->cs || !s->sn || !s->ure || !s->uim || !s->yre || !s->yim) {
        ref_sc_release(s);
        return cb_fail(err, errlen, "ref spectral_conv1d: out of memory");
    }
    const double two_pi = 6.283185307179586476925286766559;
    for (int64_t m = 0; m < s->n; m++) {
        s->cs[m] = cos(two_pi * (double)m / (double)s->n);
        s->sn[m] = sin(two_pi * (double)m / (double)s->n);
    }
    /* exact at the Nyquist point, so Im Y there drops out exactly */
    if (s->n % 2 == 0) {
        s->cs[s->n / 2] = -1.0;
        s->sn[s->n / 2] = 0.0;
    }
    *state = s;
    return 0;
}

static int ref_sc_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)p;
    ref_sc *s = state;
    const int64_t ci = s->ci, co = s->co, n = s->n, km = s->km;
    const float *u = in[0].data, *wr = in[1].data, *wi = in[2].data;
    float *y = out[0].data;
    /* U[i, k] = sum_x u[i, x] e^{-2 pi i k x / n} */
    for (int64_t i = 0; i < ci; i++)
        for (int64_t k = 0; k < km; k++) {
            double re = 0, im = 0;
            for (int64_t x = 0; x < n; x++) {
                int64_t m = (k * x) % n;
                re += (double)u[i * n + x] * s->cs[m];
                im -= (double)u[i * n + x] * s->sn[m];
            }
            s->ure[i * km + k] = re;
            s->uim[i * km + k] = im;
        }
    /* Y[o, k] = sum_i U[i, k] W[k, i, o] */
    for (int64_t o = 0; o < co; o++)
        for (int64_t k = 0; k < km; k++) {
            double yre = 0, yim = 0;
            for (int64_t i = 0; i < ci; i++) {
                double a = s->ure[i * km + k], b = s->uim[i * km + k];
                double c = wr[(k * ci + i) * co + o], d = wi[(k * ci + i) * co + o];
                yre += a * c - b * d;
                yim += a * d + b * c;
            }
            s->yre[o * km + k] = yre;
            s->yim[o * km + k] = yim;
        }
    /* y[o, x] = (1/n) sum_k c_k Re(Y[o, k] e^{+2 pi i k x / n}); at k = 0 and
     * k = n/2 the sine is exactly 0, so Im Y drops out there, as in irfft */
    for (int64_t o = 0; o < co; o++)
        for (int64_t x = 0; x < n; x++) {
            double acc = 0;
            for (int64_t k = 0; k < km; k++) {
                int64_t m = (k * x) % n;
                acc += cb_sc1d_mode_weight(k, n) *
                       (s->yre[o * km + k] * s->cs[m] - s->yim[o * km + k] * s->sn[m]);
            }
            y[o * n + x] = (float)(acc / (double)n);
        }
    return 0;
}

const cb_impl cb_impl_ref_spectral_conv1d = {
    .kernel = "spectral_conv1d",
    .backend = "ref",
    .how = "double: direct DFT of the k_max kept modes, mode mixing, direct inverse sum",
    .prepare = ref_sc_prepare,
    .run = ref_sc_run,
    .release = ref_sc_release,
};
