/* hyena_conv_forms.c — probe: the FFT long convolution equals the direct
 * one (in double, by algebra; in float32, for every backend), and the FFT
 * form of the order-2 Hyena operator equals its direct form.
 *
 * The convolution theorem: zero-padding u and h (length N) to L >= 2N - 1
 * makes their circular convolution of length L equal the linear one, so
 * IDFT(DFT(u) . DFT(h))[t] = sum_{s<=t} h[s] u[t-s] for t < N, exactly in
 * exact arithmetic. The probe computes both sides in double, the FFT side
 * with its own radix-2 complex FFT (not FFTW: it has no code in common with
 * the fftw backend), and emits
 *   err64_fft_direct         double FFT form vs double direct sum
 * then runs the float32 long_conv backends against the double direct sum,
 *   err32_long_conv_<ref|fftw|dnnl>,
 * the non-triviality figure of the fftw output,
 *   norm_ratio_long_conv_fftw = sqrt(sum_c |y_c|^2 / sum_c |u_c|^2 |h_c|^2),
 * which is about 1/sqrt(2) for independent zero-mean u, h (E|y_c|^2 =
 * sum_t sum_{s<=t} E h^2 E u^2 = N (N + 1) / 2 against N^2; with u, h of
 * unit variance the spread over D = 8 channels of N = 8192 is a few
 * percent) and 0 for a zeroed output; and the hyena_operator backends
 * against the operator computed here in double by direct convolution,
 *   err32_hyena_<ref|fftw>,  rms_ratio_hyena_fftw = rms(y_fftw) / rms(y).
 * Every error is max |x - y| / max |y| over the whole output, with no
 * floor: an all-zero reference gives NaN, which fails any bound.
 *
 * Params: D, N (defaults 8, 8192). Inputs from the counter-based generator,
 * rounded to float once (both precisions see the same numbers): u, h, x
 * standard normal; Hyena's w_in, w_out with scale 1/sqrt(D) and h1, h2 with
 * scale 1/sqrt(N), so every intermediate stays O(1) to O(sqrt(t / N)).
 * Cost: three direct O(D N^2) double convolutions plus the ref kernels
 * (two more), about 2 s at the defaults.
 */
#include "common/relerr.h"
#include "kernel.h"
#include "rng.h"
#include "probes/hyena_conv_forms.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

double cb_hyena_rel_err_d(const double *x, const double *y, size_t n)
{
    return cb_rel_err_dd(x, y, n);
}

double cb_hyena_rel_err_f(const float *x, const double *y, size_t n)
{
    return cb_rel_err_fd(x, y, n);
}

double cb_hyena_norm_ratio(const float *y, const float *u, const float *h, size_t D, size_t N)
{
    double num = 0, den = 0;
    for (size_t c = 0; c < D; c++) {
        double yy = 0, uu = 0, hh = 0;
        for (size_t t = 0; t < N; t++) {
            yy += (double)y[c * N + t] * y[c * N + t];
            uu += (double)u[c * N + t] * u[c * N + t];
            hh += (double)h[c * N + t] * h[c * N + t];
        }
        num += yy;
        den += uu * hh;
    }
    return sqrt(num / den);
}

/* In-place iterative radix-2 FFT of n (a power of two) complex values
 * (re, im); sign -1 forward, +1 inverse (unscaled). */
static void fft_d(double *re, double *im, size_t n, int sign)
{
    for (size_t i = 1, j = 0; i < n; i++) {
        size_t bit = n >> 1;
        for (; j & bit; bit >>= 1)
            j ^= bit;
        j |= bit;
        if (i < j) {
            double t = re[i]; re[i] = re[j]; re[j] = t;
            t = im[i]; im[i] = im[j]; im[j] = t;
        }
    }
    for (size_t len = 2; len <= n; len <<= 1) {
        const double ang = sign * 6.283185307179586 / (double)len;   /* 2 pi */
        for (size_t i = 0; i < n; i += len)
            for (size_t k = 0; k < len / 2; k++) {
                /* twiddle from the angle directly (no recurrence drift) */
                const double wr = cos(ang * (double)k), wi = sin(ang * (double)k);
                const size_t a = i + k, b = i + k + len / 2;
                const double xr = re[b] * wr - im[b] * wi, xi = re[b] * wi + im[b] * wr;
                re[b] = re[a] - xr;
                im[b] = im[a] - xi;
                re[a] += xr;
                im[a] += xi;
            }
    }
}

int cb_hyena_fft_conv_d(const double *u, const double *h, size_t N, double *y)
{
    size_t L = 1;
    while (L < 2 * N - 1)
        L <<= 1;
    double *ar = calloc(L, sizeof *ar), *ai = calloc(L, sizeof *ai);
    double *br = calloc(L, sizeof *br), *bi = calloc(L, sizeof *bi);
    if (!ar || !ai || !br || !bi) {
        free(ar); free(ai); free(br); free(bi);
        return -1;
    }
    memcpy(ar, u, N * sizeof *ar);
    memcpy(br, h, N * sizeof *br);
    fft_d(ar, ai, L, -1);
    fft_d(br, bi, L, -1);
    for (size_t k = 0; k < L; k++) {
        const double r = ar[k] * br[k] - ai[k] * bi[k], i = ar[k] * bi[k] + ai[k] * br[k];
        ar[k] = r;
        ai[k] = i;
    }
    fft_d(ar, ai, L, +1);
    for (size_t t = 0; t < N; t++)
        y[t] = ar[t] / (double)L;
    free(ar); free(ai); free(br); free(bi);
    return 0;
}

/* y[t] = sum_{s<=t} h[s] u[t-s], t < N, in double. */
static void direct_d(const double *u, const double *h, size_t N, double *y)
{
    for (size_t t = 0; t < N; t++) {
        double acc = 0;
        for (size_t s = 0; s <= t; s++)
            acc += h[s] * u[t - s];
        y[t] = acc;
    }
}

/* The order-2 Hyena operator in double (see impls/ref/hyena_operator.c),
 * written again here with channel-major intermediates. */
static int hyena_d(const float *x, const float *win, const float *h1, const float *h2, const float *wout,
                   size_t D, size_t N, double *y)
{
    double *P = malloc(3 * D * N * sizeof *P), *hc = malloc(N * sizeof *hc), *t1 = malloc(N * sizeof *t1);
    double *z = malloc(D * N * sizeof *z);
    if (!P || !hc || !t1 || !z) {
        free(P); free(hc); free(t1); free(z);
        return -1;
    }
    /* P[j][t] = sum_a x[t][a] w_in[a][j], j < 3D (v, x1, x2 by channel) */
    for (size_t j = 0; j < 3 * D; j++)
        for (size_t t = 0; t < N; t++) {
            double acc = 0;
            for (size_t a = 0; a < D; a++)
                acc += (double)x[t * D + a] * win[a * 3 * D + j];
            P[j * N + t] = acc;
        }
    for (size_t c = 0; c < D; c++) {
        const double *v = P + c * N, *x1 = P + (D + c) * N, *x2 = P + (2 * D + c) * N;
        double *zc = z + c * N;
        for (size_t t = 0; t < N; t++) hc[t] = h1[c * N + t];
        direct_d(v, hc, N, t1);
        for (size_t t = 0; t < N; t++) t1[t] *= x1[t];
        for (size_t t = 0; t < N; t++) hc[t] = h2[c * N + t];
        direct_d(t1, hc, N, zc);
        for (size_t t = 0; t < N; t++) zc[t] *= x2[t];
    }
    for (size_t t = 0; t < N; t++)
        for (size_t j = 0; j < D; j++) {
            double acc = 0;
            for (size_t a = 0; a < D; a++)
                acc += z[a * N + t] * wout[a * D + j];
            y[t * D + j] = acc;
        }
    free(P); free(hc); free(t1); free(z);
    return 0;
}

static int run_kernel(const char *kernel, const char *backend, cb_params *kp, const float *const *in,
                      float **out, char *err, size_t errlen)
{
    const cb_kernel *k = cb_kernel_find(kernel);
    const cb_impl *im = cb_impl_find(kernel, backend);
    if (!k || !im)
        return cb_fail(err, errlen, "hyena_conv_forms: no %s/%s in the registry", kernel, backend);
    int64_t n = 0;
    return cb_impl_run_arrays(k, im, kp, in, out, &n, err, errlen);
}

static int probe_run(const cb_params *params, uint64_t seed, cb_metrics *ms, char *err, size_t errlen)
{
    static const char *const lc_backends[] = {"ref", "fftw", "dnnl"};
    static const char *const hy_backends[] = {"ref", "fftw"};
    cb_params p = *params;
    if (cb_params_default(&p, "D", 8) || cb_params_default(&p, "N", 8192))
        return cb_fail(err, errlen, "hyena_conv_forms: too many parameters");
    const double Dv = cb_params_get(&p, "D", 0), Nv = cb_params_get(&p, "N", 0);
    if (!(Dv >= 1 && Dv <= 4096 && Dv == floor(Dv)))
        return cb_fail(err, errlen, "hyena_conv_forms: D = %g must be an integer in [1, 4096]", Dv);
    if (!(Nv >= 1 && Nv <= 65536 && Nv == floor(Nv)))
        return cb_fail(err, errlen, "hyena_conv_forms: N = %g must be an integer in [1, 65536]", Nv);
    const size_t D = (size_t)Dv, N = (size_t)Nv, n = D * N;
    if (Dv * Nv * Nv > 1e10)
        return cb_fail(err, errlen, "hyena_conv_forms: D N^2 = %g is too large for a probe", Dv * Nv * Nv);
    int rc = -1;
    float *u = malloc(n * sizeof *u), *h = malloc(n * sizeof *h), *x = malloc(n * sizeof *x);
    float *win = malloc(3 * D * D * sizeof *win), *h1 = malloc(n * sizeof *h1), *h2 = malloc(n * sizeof *h2);
    float *wout = malloc(D * D * sizeof *wout), *yf = NULL;
    double *ud = malloc(N * sizeof *ud), *hd = malloc(N * sizeof *hd), *yfft = malloc(n * sizeof *yfft);
    double *ydir = malloc(n * sizeof *ydir), *yhy = malloc(n * sizeof *yhy);
    cb_params at = {0}, kp = {0};
    if (!u || !h || !x || !win || !h1 || !h2 || !wout || !ud || !hd || !yfft || !ydir || !yhy)
        goto oom;
    cb_rng_normal(u, n, seed, cb_rng_stream("u"), 1.0f);
    cb_rng_normal(h, n, seed, cb_rng_stream("h"), 1.0f);
    cb_rng_normal(x, n, seed, cb_rng_stream("x"), 1.0f);
    cb_rng_normal(win, 3 * D * D, seed, cb_rng_stream("w_in"), (float)(1 / sqrt(Dv)));
    cb_rng_normal(h1, n, seed, cb_rng_stream("h1"), (float)(1 / sqrt(Nv)));
    cb_rng_normal(h2, n, seed, cb_rng_stream("h2"), (float)(1 / sqrt(Nv)));
    cb_rng_normal(wout, D * D, seed, cb_rng_stream("w_out"), (float)(1 / sqrt(Dv)));
    if (cb_params_set(&at, "D", Dv) || cb_params_set(&at, "N", Nv) || cb_params_set(&kp, "D", Dv) ||
        cb_params_set(&kp, "N", Nv)) {
        cb_fail(err, errlen, "hyena_conv_forms: too many parameters");
        goto done;
    }

    /* the algebra, in double: FFT form against the direct sum */
    for (size_t c = 0; c < D; c++) {
        for (size_t t = 0; t < N; t++) {
            ud[t] = u[c * N + t];
            hd[t] = h[c * N + t];
        }
        direct_d(ud, hd, N, ydir + c * N);
        if (cb_hyena_fft_conv_d(ud, hd, N, yfft + c * N))
            goto oom;
    }
    if (cb_metrics_add(ms, "err64_fft_direct", &at, cb_hyena_rel_err_d(yfft, ydir, n)))
        goto oom;

    /* the float32 long_conv backends against the double direct sum */
    const float *const lc_in[2] = {u, h};
    for (size_t b = 0; b < sizeof lc_backends / sizeof lc_backends[0]; b++) {
        char name[CB_NAME_MAX];
        cb_params k2 = kp;
        if (run_kernel("long_conv", lc_backends[b], &k2, lc_in, &yf, err, errlen))
            goto done;
        snprintf(name, sizeof name, "err32_long_conv_%s", lc_backends[b]);
        if (cb_metrics_add(ms, name, &at, cb_hyena_rel_err_f(yf, ydir, n)))
            goto oom;
        if (strcmp(lc_backends[b], "fftw") == 0 &&
            cb_metrics_add(ms, "norm_ratio_long_conv_fftw", &at, cb_hyena_norm_ratio(yf, u, h, D, N)))
            goto oom;
        free(yf);
        yf = NULL;
    }

    /* the Hyena operator: both backends against the double direct form */
    if (hyena_d(x, win, h1, h2, wout, D, N, yhy))
        goto oom;
    const float *const hy_in[5] = {x, win, h1, h2, wout};
    for (size_t b = 0; b < sizeof hy_backends / sizeof hy_backends[0]; b++) {
        char name[CB_NAME_MAX];
        cb_params k2 = kp;
        if (run_kernel("hyena_operator", hy_backends[b], &k2, hy_in, &yf, err, errlen))
            goto done;
        snprintf(name, sizeof name, "err32_hyena_%s", hy_backends[b]);
        if (cb_metrics_add(ms, name, &at, cb_hyena_rel_err_f(yf, yhy, n)))
            goto oom;
        if (strcmp(hy_backends[b], "fftw") == 0) {
            double a = 0, r = 0;
            for (size_t i = 0; i < n; i++) {
                a += (double)yf[i] * yf[i];
                r += yhy[i] * yhy[i];
            }
            if (cb_metrics_add(ms, "rms_ratio_hyena_fftw", &at, sqrt(a / r)))
                goto oom;
        }
        free(yf);
        yf = NULL;
    }
    rc = 0;
    goto done;
oom:
    cb_fail(err, errlen, "hyena_conv_forms: out of memory");
done:
    free(u); free(h); free(x); free(win); free(h1); free(h2); free(wout); free(yf);
    free(ud); free(hd); free(yfft); free(ydir); free(yhy);
    return rc;
}

const cb_probe cb_probe_hyena_conv_forms = {
    .name = "hyena_conv_forms",
    .summary = "causal long convolution: FFT form == direct sum (fp64, fp32 backends); Hyena order 2, FFT vs direct",
    .run = probe_run,
};
