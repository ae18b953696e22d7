/* fno_invariance.c — probe: a Fourier neural operator has the same
 * parameters at every resolution, and gives the same function.
 *
 * Kovachki, Li et al. ("Neural Operator: Learning Maps Between Function
 * Spaces") call neural operators discretization-invariant: the parameters
 * do not depend on the grid, and the discretized operator converges to one
 * operator between function spaces as the grid is refined. On the 1-D torus
 * with n points x_j = j/n this probe measures, in float64 (its own direct
 * DFT, independent of the kernels) and through the float32 kernels:
 *
 * 1. One Fourier layer (spectral_conv1d, C_in = C_out = C, k_max modes) on a
 *    band-limited input u_i(x) = a_i0 + sum_{0<k<k_max} a_ik cos 2pi k x +
 *    b_ik sin 2pi k x (normal coefficients): with the same weights at
 *    n = n_min, 2 n_min, ..., n_max, the outputs at the shared points
 *    x = j/n_min agree, and equal the closed form
 *      y_o(x) = sum_{k<k_max} c_k Re(sum_i uhat_ik W[k,i,o] e^{2pi i k x}),
 *      uhat_i0 = a_i0, uhat_ik = (a_ik - i b_ik)/2,
 *    exactly (to rounding), since rfft(u)/n = uhat for modes below n/2:
 *      inv64_shared   max over n of disc(y_n, y_{n_min}) at the shared points
 *      inv64_exact    max over n of disc(y_n, closed form)
 *      inv32_ref, inv32_fftw   the float32 kernels against the closed form
 *      dense32_ref, dense32_blas   kernel_integral1d (the same operator as a
 *                     dense n x n kernel integral) at n = n_dense, all points
 *      gain           ||y|| / ||u|| (RMS) at n_min: the layer is not ~0
 *      spread_min     the smallest relative spread of any compared output:
 *                     no output is constant or zero
 * 2. A 4-layer FNO in float64 (lifting v = p u + q; layers
 *    v <- GELU(K_l v + W_l v + b_l), no GELU after the last, as in the
 *    reference code; projection y = r . v / sqrt(C)), random weights, on two
 *    inputs that are not band-limited, against a fine reference n_ref:
 *      disc_kink (at each n = n_min .. n_ref/4)   u = sin 2pi x + 4 x (1 - x),
 *                     a kink at x = 0: Fourier coefficients ~ k^-2, so the
 *                     aliased modes below k_max err by ~ n^-2 (the task's
 *                     prose derives it); a trend check fits the slope
 *      disc_smooth (at each n = 2 n_min .. n_max)   u = exp(sin 2pi x):
 *                     analytic, spectrally accurate: at rounding level
 *      disc_smooth_coarse   the same at n = n_min
 *      fno_spread_kink, fno_spread_smooth   relative spread of y at n_ref
 *
 * disc(a, b) = max |a - b| / max |b| (cb_fno_rel_disc): no floor, so a zero
 * reference gives NaN and fails. Params (defaults): C 16, k_max 16, n_min 64,
 * n_max 4096, n_ref 8192, n_dense 256, layers 4. Cost about 1 s.
 */
#include "common/relerr.h"
#include "kernel.h"
#include "rng.h"
#include "ref/spectral_conv1d.h"
#include "probes/fno_invariance.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TWO_PI 6.283185307179586476925286766559

double cb_fno_rel_disc(const double *a, const double *b, size_t n)
{
    return cb_rel_err_dd(a, b, n);
}

double cb_fno_rel_spread(const double *y, size_t n)
{
    double lo = INFINITY, hi = -INFINITY, m = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(y[i])) return NAN;
        if (y[i] < lo) lo = y[i];
        if (y[i] > hi) hi = y[i];
        if (fabs(y[i]) > m) m = fabs(y[i]);
    }
    return (hi - lo) / m;
}

/* ---- float64 building blocks --------------------------------------------- */

/* cos, sin of 2 pi m / n for m < n; exact at the Nyquist point. */
static int twiddles(int64_t n, double **cs, double **sn)
{
    *cs = malloc((size_t)n * sizeof **cs);
    *sn = malloc((size_t)n * sizeof **sn);
    if (!*cs || !*sn) {
        free(*cs);
        free(*sn);
        *cs = *sn = NULL;
        return -1;
    }
    for (int64_t m = 0; m < n; m++) {
        (*cs)[m] = cos(TWO_PI * (double)m / (double)n);
        (*sn)[m] = sin(TWO_PI * (double)m / (double)n);
    }
    if (n % 2 == 0) {
        (*cs)[n / 2] = -1;
        (*sn)[n / 2] = 0;
    }
    return 0;
}

/* y [co][n] = irfft(W . rfft(v)) on modes k < km, v [ci][n], W [km][ci][co]
 * (re, im); scratch t of 2 (ci + co) km doubles. The probe's own float64
 * evaluation: a direct DFT, like the ref kernel but double in and out. */
static void spectral_d(const double *v, const double *wre, const double *wim, int64_t ci, int64_t co,
                       int64_t n, int64_t km, const double *cs, const double *sn, double *t, double *y)
{
    double *ure = t, *uim = t + ci * km, *yre = t + 2 * ci * km, *yim = yre + co * km;
    for (int64_t i = 0; i < ci; i++)
        for (int64_t k = 0; k < km; k++) {
            double re = 0, im = 0;
            for (int64_t x = 0; x < n; x++) {
                int64_t m = (k * x) % n;
                re += v[i * n + x] * cs[m];
                im -= v[i * n + x] * sn[m];
            }
            ure[i * km + k] = re;
            uim[i * km + k] = im;
        }
    for (int64_t o = 0; o < co; o++)
        for (int64_t k = 0; k < km; k++) {
            double re = 0, im = 0;
            for (int64_t i = 0; i < ci; i++) {
                double a = ure[i * km + k], b = uim[i * km + k];
                double c = wre[(k * ci + i) * co + o], d = wim[(k * ci + i) * co + o];
                re += a * c - b * d;
                im += a * d + b * c;
            }
            yre[o * km + k] = re;
            yim[o * km + k] = im;
        }
    for (int64_t o = 0; o < co; o++)
        for (int64_t x = 0; x < n; x++) {
            double acc = 0;
            for (int64_t k = 0; k < km; k++) {
                int64_t m = (k * x) % n;
                acc += cb_sc1d_mode_weight(k, n) * (yre[o * km + k] * cs[m] - yim[o * km + k] * sn[m]);
            }
            y[o * n + x] = acc / (double)n;
        }
}

static double gelu(double z)
{
    return 0.5 * z * (1.0 + erf(z / 1.4142135623730950488));
}

/* A random 1-D FNO of width C, L layers, km modes (all float64). */
typedef struct fno_net {
    int64_t C, L, km;
    double *p, *q;          /* lifting, [C] each */
    double *wre, *wim;      /* spectral weights, [L][km][C][C] */
    double *pw, *b;         /* pointwise weights [L][C][C] (out, in), biases [L][C] */
    double *r;              /* projection [C] */
} fno_net;

static void fno_free(fno_net *f)
{
    free(f->p);
    free(f->q);
    free(f->wre);
    free(f->wim);
    free(f->pw);
    free(f->b);
    free(f->r);
}

/* Weights (standard deviations): spectral 1/C (the reference code's
 * 1/(C_in C_out) scale, here as a standard deviation), pointwise 1/sqrt(C),
 * biases 0.5, lifting p 1 and q 0.5, projection 1: activations of order
 * one, where GELU is genuinely non-linear. */
static int fno_make(fno_net *f, int64_t C, int64_t L, int64_t km, uint64_t seed)
{
    memset(f, 0, sizeof *f);
    f->C = C;
    f->L = L;
    f->km = km;
    size_t ns = (size_t)(L * km * C * C), np = (size_t)(L * C * C);
    f->p = malloc((size_t)C * sizeof *f->p);
    f->q = malloc((size_t)C * sizeof *f->q);
    f->wre = malloc(ns * sizeof *f->wre);
    f->wim = malloc(ns * sizeof *f->wim);
    f->pw = malloc(np * sizeof *f->pw);
    f->b = malloc((size_t)(L * C) * sizeof *f->b);
    f->r = malloc((size_t)C * sizeof *f->r);
    if (!f->p || !f->q || !f->wre || !f->wim || !f->pw || !f->b || !f->r) {
        fno_free(f);
        return -1;
    }
    cb_rng_normal_d(f->p, (size_t)C, seed, cb_rng_stream("fno_p"), 1.0);
    cb_rng_normal_d(f->q, (size_t)C, seed, cb_rng_stream("fno_q"), 0.5);
    cb_rng_normal_d(f->wre, ns, seed, cb_rng_stream("fno_wre"), 1.0 / (double)C);
    cb_rng_normal_d(f->wim, ns, seed, cb_rng_stream("fno_wim"), 1.0 / (double)C);
    cb_rng_normal_d(f->pw, np, seed, cb_rng_stream("fno_pw"), 1.0 / sqrt((double)C));
    cb_rng_normal_d(f->b, (size_t)(L * C), seed, cb_rng_stream("fno_b"), 0.5);
    cb_rng_normal_d(f->r, (size_t)C, seed, cb_rng_stream("fno_r"), 1.0);
    return 0;
}

/* y [n] = FNO(u [n]) on n points. */
static int fno_forward(const fno_net *f, const double *u, int64_t n, double *y)
{
    const int64_t C = f->C, km = f->km;
    double *cs = NULL, *sn = NULL;
    double *v = malloc((size_t)(C * n) * sizeof *v), *z = malloc((size_t)(C * n) * sizeof *z);
    double *t = malloc((size_t)(4 * C * km) * sizeof *t);
    if (!v || !z || !t || twiddles(n, &cs, &sn)) {
        free(v);
        free(z);
        free(t);
        return -1;
    }
    for (int64_t c = 0; c < C; c++)
        for (int64_t x = 0; x < n; x++)
            v[c * n + x] = f->p[c] * u[x] + f->q[c];
    for (int64_t l = 0; l < f->L; l++) {
        const double *pw = f->pw + l * C * C, *b = f->b + l * C;
        spectral_d(v, f->wre + l * km * C * C, f->wim + l * km * C * C, C, C, n, km, cs, sn, t, z);
        for (int64_t o = 0; o < C; o++)
            for (int64_t x = 0; x < n; x++) {
                double s = z[o * n + x] + b[o];
                for (int64_t i = 0; i < C; i++)
                    s += pw[o * C + i] * v[i * n + x];
                z[o * n + x] = l + 1 < f->L ? gelu(s) : s;
            }
        double *sw = v;
        v = z;
        z = sw;
    }
    for (int64_t x = 0; x < n; x++) {
        double s = 0;
        for (int64_t c = 0; c < C; c++)
            s += f->r[c] * v[c * n + x];
        y[x] = s / sqrt((double)C);
    }
    free(v);
    free(z);
    free(t);
    free(cs);
    free(sn);
    return 0;
}

static double u_kink(double x)
{
    return sin(TWO_PI * x) + 4 * x * (1 - x);
}

static double u_smooth(double x)
{
    return exp(sin(TWO_PI * x));
}

/* ---- the probe ------------------------------------------------------------ */

typedef struct part1 {
    int64_t C, km, nmin;
    double *a, *bb;         /* input coefficients [C][km] (b[i][0] unused) */
    float *wre, *wim;       /* kernel weights [km][C][C] */
    double *wre_d, *wim_d;  /* the same values in double */
    double *exact;          /* closed form at the shared points [C][nmin] */
} part1;

/* u [C][n] sampled from the coefficients; exact index arithmetic. */
static void sample_bl(const part1 *P, int64_t n, const double *cs, const double *sn, double *u)
{
    for (int64_t i = 0; i < P->C; i++)
        for (int64_t x = 0; x < n; x++) {
            double s = P->a[i * P->km];
            for (int64_t k = 1; k < P->km; k++) {
                int64_t m = (k * x) % n;
                s += P->a[i * P->km + k] * cs[m] + P->bb[i * P->km + k] * sn[m];
            }
            u[i * n + x] = s;
        }
}

/* The closed form y_o(j / nmin) of part 1. */
static void closed_form(part1 *P)
{
    const int64_t C = P->C, km = P->km, nm = P->nmin;
    for (int64_t o = 0; o < C; o++)
        for (int64_t j = 0; j < nm; j++) {
            double acc = 0;
            for (int64_t k = 0; k < km; k++) {
                double yre = 0, yim = 0;
                for (int64_t i = 0; i < C; i++) {
                    double ur = k == 0 ? P->a[i * km] : 0.5 * P->a[i * km + k];
                    double ui = k == 0 ? 0.0 : -0.5 * P->bb[i * km + k];
                    double c = P->wre_d[(k * C + i) * C + o], d = P->wim_d[(k * C + i) * C + o];
                    yre += ur * c - ui * d;
                    yim += ur * d + ui * c;
                }
                double th = TWO_PI * (double)(k * j % nm) / (double)nm;
                acc += (k == 0 ? 1.0 : 2.0) * (yre * cos(th) - yim * sin(th));
            }
            P->exact[o * nm + j] = acc;
        }
}

/* The shared points x = j/nmin of y [C][n] into s [C][nmin]. */
static void shared_d(const double *y, int64_t C, int64_t n, int64_t nmin, double *s)
{
    for (int64_t o = 0; o < C; o++)
        for (int64_t j = 0; j < nmin; j++)
            s[o * nmin + j] = y[o * n + j * (n / nmin)];
}

static void shared_f(const float *y, int64_t C, int64_t n, int64_t nmin, double *s)
{
    for (int64_t o = 0; o < C; o++)
        for (int64_t j = 0; j < nmin; j++)
            s[o * nmin + j] = y[o * n + j * (n / nmin)];
}

static int get_int(const cb_params *p, const char *name, int64_t lo, int64_t hi, int64_t *out, char *err,
                   size_t errlen)
{
    double v = cb_params_get(p, name, 0);
    if (!(v >= (double)lo && v <= (double)hi && v == floor(v)))
        return cb_fail(err, errlen, "fno_invariance: %s = %g must be an integer in [%lld, %lld]", name, v,
                       (long long)lo, (long long)hi);
    *out = (int64_t)v;
    return 0;
}

static int is_pow2(int64_t x)
{
    return x > 0 && (x & (x - 1)) == 0;
}

/* Run spectral_conv1d or kernel_integral1d / backend at (C, n, km) on the
 * float inputs; return the output (malloc'd) or NULL with err. */
static float *run_kernel(const char *kernel, const char *backend, int64_t C, int64_t n, int64_t km,
                         const float *u, const part1 *P, char *err, size_t errlen)
{
    const cb_kernel *k = cb_kernel_find(kernel);
    const cb_impl *im = cb_impl_find(kernel, backend);
    if (!k || !im) {
        cb_fail(err, errlen, "fno_invariance: no %s/%s in the registry", kernel, backend);
        return NULL;
    }
    cb_params kp = {0};
    if (cb_params_set(&kp, "C_in", (double)C) || cb_params_set(&kp, "C_out", (double)C) ||
        cb_params_set(&kp, "n", (double)n) || cb_params_set(&kp, "k_max", (double)km)) {
        cb_fail(err, errlen, "fno_invariance: too many parameters");
        return NULL;
    }
    const float *in[3] = {u, P->wre, P->wim};
    float *o = NULL;
    int64_t cnt = 0;
    if (cb_impl_run_arrays(k, im, &kp, in, &o, &cnt, err, errlen))
        return NULL;
    return o;
}

static int probe_run(const cb_params *params, uint64_t seed, cb_metrics *ms, char *err, size_t errlen)
{
    cb_params p = *params;
    if (cb_params_default(&p, "C", 16) || cb_params_default(&p, "k_max", 16) ||
        cb_params_default(&p, "n_min", 64) || cb_params_default(&p, "n_max", 4096) ||
        cb_params_default(&p, "n_ref", 8192) || cb_params_default(&p, "n_dense", 256) ||
        cb_params_default(&p, "layers", 4))
        return cb_fail(err, errlen, "fno_invariance: too many parameters");
    int64_t C = 0, km = 0, nmin = 0, nmax = 0, nref = 0, ndense = 0, L = 0;
    if (get_int(&p, "C", 1, 256, &C, err, errlen) || get_int(&p, "k_max", 1, 4096, &km, err, errlen) ||
        get_int(&p, "n_min", 2, 1 << 20, &nmin, err, errlen) ||
        get_int(&p, "n_max", 2, 1 << 20, &nmax, err, errlen) ||
        get_int(&p, "n_ref", 2, 1 << 20, &nref, err, errlen) ||
        get_int(&p, "n_dense", 2, 1 << 14, &ndense, err, errlen) ||
        get_int(&p, "layers", 1, 64, &L, err, errlen))
        return -1;
    if (!is_pow2(nmin) || !is_pow2(nmax) || !is_pow2(nref) || !is_pow2(ndense))
        return cb_fail(err, errlen, "fno_invariance: n_min, n_max, n_ref, n_dense must be powers of two");
    if (2 * (km - 1) >= nmin || nmax < 4 * nmin || nref < 2 * nmax || ndense < nmin)
        return cb_fail(err, errlen,
                       "fno_invariance: need 2 (k_max - 1) < n_min (no aliasing, no Nyquist mode), "
                       "n_max >= 4 n_min, n_ref >= 2 n_max, n_dense >= n_min (got k_max = %lld, "
                       "n_min = %lld, n_max = %lld, n_ref = %lld, n_dense = %lld)",
                       (long long)km, (long long)nmin, (long long)nmax, (long long)nref, (long long)ndense);

    int rc = -1;
    part1 P = {C, km, nmin, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    const size_t nw = (size_t)(km * C * C);
    size_t big = (size_t)(C * (nmax > nref ? nmax : nref));
    double *cs = NULL, *sn = NULL, *u = NULL, *y = NULL, *t = NULL, *y0 = NULL, *sh = NULL;
    double *uk = NULL, *yk = NULL, *yref = NULL, *ycmp = NULL;
    float *uf = NULL, *of = NULL;
    fno_net net = {0};
    int have_net = 0;
    P.a = malloc((size_t)(C * km) * sizeof *P.a);
    P.bb = malloc((size_t)(C * km) * sizeof *P.bb);
    P.wre = malloc(nw * sizeof *P.wre);
    P.wim = malloc(nw * sizeof *P.wim);
    P.wre_d = malloc(nw * sizeof *P.wre_d);
    P.wim_d = malloc(nw * sizeof *P.wim_d);
    P.exact = malloc((size_t)(C * nmin) * sizeof *P.exact);
    u = malloc(big * sizeof *u);
    y = malloc(big * sizeof *y);
    uf = malloc(big * sizeof *uf);
    t = malloc((size_t)(4 * C * km) * sizeof *t);
    y0 = malloc((size_t)(C * nmin) * sizeof *y0);
    sh = malloc((size_t)(C * nmin) * sizeof *sh);
    uk = malloc((size_t)nref * sizeof *uk);
    yk = malloc((size_t)nref * sizeof *yk);
    yref = malloc((size_t)nref * sizeof *yref);
    ycmp = malloc((size_t)nref * sizeof *ycmp);
    if (!P.a || !P.bb || !P.wre || !P.wim || !P.wre_d || !P.wim_d || !P.exact || !u || !y || !uf || !t ||
        !y0 || !sh || !uk || !yk || !yref || !ycmp)
        goto oom;

    /* ---- part 1: one layer, band-limited input ---- */
    cb_rng_normal_d(P.a, (size_t)(C * km), seed, cb_rng_stream("fno_a"), 1.0);
    cb_rng_normal_d(P.bb, (size_t)(C * km), seed, cb_rng_stream("fno_b_coef"), 1.0);
    cb_rng_normal(P.wre, nw, seed, cb_rng_stream("w_re"), (float)(1.0 / sqrt((double)C)));
    cb_rng_normal(P.wim, nw, seed, cb_rng_stream("w_im"), (float)(1.0 / sqrt((double)C)));
    for (size_t e = 0; e < nw; e++) {
        P.wre_d[e] = P.wre[e];
        P.wim_d[e] = P.wim[e];
    }
    closed_form(&P);
    cb_params at = {0};
    if (cb_params_set(&at, "C", (double)C) || cb_params_set(&at, "k_max", (double)km))
        goto oom;
    double inv_shared = 0, inv_exact = 0, inv32[2] = {0, 0}, spread_min = INFINITY, gain = NAN;
    static const char *const fb[2] = {"ref", "fftw"};
    for (int64_t n = nmin; n <= nmax; n *= 2) {
        if (twiddles(n, &cs, &sn))
            goto oom;
        sample_bl(&P, n, cs, sn, u);
        spectral_d(u, P.wre_d, P.wim_d, C, C, n, km, cs, sn, t, y);
        free(cs);
        free(sn);
        cs = sn = NULL;
        shared_d(y, C, n, nmin, sh);
        if (n == nmin) {
            memcpy(y0, sh, (size_t)(C * nmin) * sizeof *y0);
            double su = 0, sy = 0;
            for (int64_t e = 0; e < C * n; e++) {
                su += u[e] * u[e];
                sy += y[e] * y[e];
            }
            gain = sqrt(sy / su);
        }
        double d1 = cb_fno_rel_disc(sh, y0, (size_t)(C * nmin)), d2 = cb_fno_rel_disc(sh, P.exact, (size_t)(C * nmin));
        if (!(d1 <= inv_shared)) inv_shared = d1;
        if (!(d2 <= inv_exact)) inv_exact = d2;
        double sp = cb_fno_rel_spread(sh, (size_t)(C * nmin));
        if (!(sp >= spread_min)) spread_min = sp;
        for (int64_t e = 0; e < C * n; e++)
            uf[e] = (float)u[e];
        for (int b = 0; b < 2; b++) {
            of = run_kernel("spectral_conv1d", fb[b], C, n, km, uf, &P, err, errlen);
            if (!of)
                goto done;
            shared_f(of, C, n, nmin, sh);
            free(of);
            of = NULL;
            double d = cb_fno_rel_disc(sh, P.exact, (size_t)(C * nmin));
            if (!(d <= inv32[b])) inv32[b] = d;
            sp = cb_fno_rel_spread(sh, (size_t)(C * nmin));
            if (!(sp >= spread_min)) spread_min = sp;
        }
    }
    if (cb_metrics_add(ms, "inv64_shared", &at, inv_shared) || cb_metrics_add(ms, "inv64_exact", &at, inv_exact) ||
        cb_metrics_add(ms, "inv32_ref", &at, inv32[0]) || cb_metrics_add(ms, "inv32_fftw", &at, inv32[1]) ||
        cb_metrics_add(ms, "gain", &at, gain))
        goto oom;
    /* the dense kernel integral: the same operator, every point at n_dense */
    {
        int64_t n = ndense;
        if (twiddles(n, &cs, &sn))
            goto oom;
        sample_bl(&P, n, cs, sn, u);
        spectral_d(u, P.wre_d, P.wim_d, C, C, n, km, cs, sn, t, y);
        free(cs);
        free(sn);
        cs = sn = NULL;
        for (int64_t e = 0; e < C * n; e++)
            uf[e] = (float)u[e];
        static const char *const db[2] = {"ref", "blas"};
        for (int b = 0; b < 2; b++) {
            of = run_kernel("kernel_integral1d", db[b], C, n, km, uf, &P, err, errlen);
            if (!of)
                goto done;
            for (int64_t e = 0; e < C * n; e++)
                u[e] = of[e];   /* u is free now: the float output in double */
            free(of);
            of = NULL;
            char name[CB_NAME_MAX];
            snprintf(name, sizeof name, "dense32_%s", db[b]);
            double sp = cb_fno_rel_spread(u, (size_t)(C * n));
            if (!(sp >= spread_min)) spread_min = sp;
            cb_params at2 = at;
            if (cb_params_set(&at2, "n", (double)n) ||
                cb_metrics_add(ms, name, &at2, cb_fno_rel_disc(u, y, (size_t)(C * n))))
                goto oom;
        }
    }
    if (cb_metrics_add(ms, "spread_min", &at, spread_min))
        goto oom;

    /* ---- part 2: a multi-layer FNO on inputs that are not band-limited ---- */
    if (fno_make(&net, C, L, km, seed))
        goto oom;
    have_net = 1;
    for (int which = 0; which < 2; which++) {
        double (*fu)(double) = which == 0 ? u_kink : u_smooth;
        for (int64_t x = 0; x < nref; x++)
            uk[x] = fu((double)x / (double)nref);
        if (fno_forward(&net, uk, nref, yref))
            goto oom;
        if (cb_metrics_add(ms, which == 0 ? "fno_spread_kink" : "fno_spread_smooth", &at,
                           cb_fno_rel_spread(yref, (size_t)nref)))
            goto oom;
        int64_t top = which == 0 ? nref / 4 : nmax;
        for (int64_t n = nmin; n <= top; n *= 2) {
            for (int64_t x = 0; x < n; x++)
                uk[x] = fu((double)x / (double)n);
            if (fno_forward(&net, uk, n, yk))
                goto oom;
            for (int64_t x = 0; x < n; x++)
                ycmp[x] = yref[x * (nref / n)];
            double d = cb_fno_rel_disc(yk, ycmp, (size_t)n);
            cb_params atn = {0};
            const char *name = which == 0 ? "disc_kink" : n == nmin ? "disc_smooth_coarse" : "disc_smooth";
            if (cb_params_set(&atn, "n", (double)n) || cb_params_set(&atn, "layers", (double)L) ||
                cb_metrics_add(ms, name, &atn, d))
                goto oom;
        }
    }
    rc = 0;
    goto done;
oom:
    cb_fail(err, errlen, "fno_invariance: out of memory");
done:
    free(P.a);
    free(P.bb);
    free(P.wre);
    free(P.wim);
    free(P.wre_d);
    free(P.wim_d);
    free(P.exact);
    free(cs);
    free(sn);
    free(u);
    free(y);
    free(uf);
    free(of);
    free(t);
    free(y0);
    free(sh);
    free(uk);
    free(yk);
    free(yref);
    free(ycmp);
    if (have_net) fno_free(&net);
    return rc;
}

const cb_probe cb_probe_fno_invariance = {
    .name = "fno_invariance",
    .summary = "FNO: same weights, same function at every n (band-limited, fp64/fp32); 4-layer FNO converges with n",
    .run = probe_run,
};
