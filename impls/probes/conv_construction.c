/* conv_construction.c — probe: multi-head self-attention with relative
 * positional encoding performs a 2-D convolution (vit_conv_construction).
 *
 * On one random image x [Cin, Hh, Ww] and kernel w [Cout, Cin, K, K]
 * (standard normal, rounded to float once), with the naive convolution in
 * double (cb_conv2d_d) as the reference y, it emits:
 *   err64_mhsa          the constructed attention in double (cb_mhsa_conv_d)
 *                       against y, relative L2, at each alpha of the sweep;
 *                       `at` carries alpha and odds = e^alpha, the weight
 *                       ratio of the target key to a nearest neighbour, so a
 *                       log-log fit against odds is a fit of ln(err) against
 *                       alpha
 *   first_order_ratio   err64_mhsa over its first-order prediction
 *                       e^-alpha ||E1|| / ||y||, E1 = sum_h W_h sum_n
 *                       (xpad[t + n] - xpad[t]) over the 4 neighbours n of
 *                       each target t (computed here, independently)
 *   err64_hard          one-hot attention (alpha = infinity) against y
 *   err32_mhsa_<b>      the float kernel mhsa_conv/<b> at alpha32 against y
 *   err32_conv_<b>      the float kernel conv2d/<b> against y
 *   spread_conv64       cb_cc_spread of y (the reference side is not trivial)
 *   spread_mhsa_blas    cb_cc_spread of the blas attention output
 *   heads_rank          rank of the kernel-slice matrix (K^2 for generic w)
 *   floor_fewer_heads   the error floor of any K^2 - 1 position-only heads
 * Params (defaults): Cin 16, Cout 16, K 3, Hh 32, Ww Hh, alpha32 24; the
 * alpha sweep is fixed: 4, 6, ..., 16. Cost: 8 double attentions of
 * K^2 Hh Ww Np exponentials and multiply-adds, about 2 s at the defaults.
 */
#include "kernel.h"
#include "rng.h"
#include "ref/conv2d_contract.h"
#include "probes/conv_construction.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

double cb_cc_rel_l2(const double *a, const double *ref, size_t n)
{
    double e = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        e += (a[i] - ref[i]) * (a[i] - ref[i]);
        m += ref[i] * ref[i];
    }
    return sqrt(e) / sqrt(m);
}

static double stddev(const double *v, size_t n)
{
    double m = 0, s = 0;
    for (size_t i = 0; i < n; i++) m += v[i];
    m /= (double)n;
    for (size_t i = 0; i < n; i++) s += (v[i] - m) * (v[i] - m);
    return sqrt(s / (double)n);
}

double cb_cc_spread(const double *y, size_t n, const double *x, size_t nx, const double *w, size_t nw,
                    double Cin, double K)
{
    return stddev(y, n) / (stddev(x, nx) * stddev(w, nw) * sqrt(Cin * K * K));
}

/* Eigenvalues of the symmetric n x n matrix a (destroyed) by cyclic Jacobi
 * rotations; returned in ev. */
static void jacobi_eig(double *a, int n, double *ev)
{
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0, tot = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                tot += a[i * n + j] * a[i * n + j];
                if (i != j) off += a[i * n + j] * a[i * n + j];
            }
        if (off <= 1e-30 * tot) break;
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++) {
                double apq = a[p * n + q];
                if (apq == 0) continue;
                double theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
                double t = (theta >= 0 ? 1 : -1) / (fabs(theta) + sqrt(theta * theta + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;
                for (int k = 0; k < n; k++) {   /* columns p, q */
                    double akp = a[k * n + p], akq = a[k * n + q];
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for (int k = 0; k < n; k++) {   /* rows p, q */
                    double apk = a[p * n + k], aqk = a[q * n + k];
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
            }
    }
    for (int i = 0; i < n; i++) ev[i] = a[i * n + i];
}

int cb_cc_heads_floor(const double *w, long Cin, long Cout, long K, long Hh, long Ww, int *rank, double *floor)
{
    const long n = K * K, r = (K - 1) / 2, m = Cin * Cout;
    double *M = malloc((size_t)(n * m) * sizeof *M), *G = malloc((size_t)(n * n) * sizeof *G);
    double *ev = malloc((size_t)n * sizeof *ev);
    if (!M || !G || !ev) {
        free(M); free(G); free(ev);
        return -1;
    }
    /* row Delta: sqrt(pixels the shift keeps) * vec(w[:, :, Delta]) */
    for (long h = 0; h < n; h++) {
        long di = h / K - r, dj = h % K - r;
        double keep = (double)((Hh - labs(di)) > 0 ? Hh - labs(di) : 0) * (double)((Ww - labs(dj)) > 0 ? Ww - labs(dj) : 0);
        for (long o = 0; o < Cout; o++)
            for (long c = 0; c < Cin; c++)
                M[h * m + o * Cin + c] = sqrt(keep) * w[((o * Cin + c) * K + h / K) * K + h % K];
    }
    for (long i = 0; i < n; i++)
        for (long j = 0; j < n; j++) {
            double s = 0;
            for (long k = 0; k < m; k++) s += M[i * m + k] * M[j * m + k];
            G[i * n + j] = s;
        }
    jacobi_eig(G, (int)n, ev);
    double mx = 0, mn = INFINITY, sum = 0;
    for (long i = 0; i < n; i++) {
        double e = ev[i] > 0 ? ev[i] : 0;
        if (e > mx) mx = e;
        if (e < mn) mn = e;
        sum += e;
    }
    int rk = 0;
    /* singular value above 1e-6 s_1 (eigenvalue above 1e-12 of the largest):
     * Jacobi's eigenvalues are accurate to ~1e-16 of the largest, so a
     * rank-deficient kernel reads as ~1e-8 s_1 at most */
    for (long i = 0; i < n; i++)
        if (ev[i] > 1e-12 * mx) rk++;
    *rank = rk;
    *floor = sqrt(mn / sum);
    free(M); free(G); free(ev);
    return 0;
}

/* ||E1|| / ||y||: the first-order coefficient of the finite-alpha error. */
static double first_order_coef(const double *x, const double *w, int64_t Cin, int64_t Cout, int64_t K, int64_t Hh,
                               int64_t Ww, const double *y, double *E, double *d)
{
    const int64_t r = (K - 1) / 2, Hp = Hh + 2 * r, Wp = Ww + 2 * r;
    static const int nb[4][2] = {{1, 0}, {-1, 0}, {0, 1}, {0, -1}};
    memset(E, 0, (size_t)(Cout * Hh * Ww) * sizeof *E);
    for (int64_t h = 0; h < K * K; h++) {
        const int64_t di = h / K - r, dj = h % K - r;
        for (int64_t i = 0; i < Hh; i++)
            for (int64_t j = 0; j < Ww; j++) {
                const int64_t ti = i + r + di, tj = j + r + dj;   /* target, padded grid */
                for (int64_t c = 0; c < Cin; c++) {
                    /* xpad at padded (a, b): x inside the image, 0 on the padding */
                    const int64_t it = ti - r, jt = tj - r;
                    double xt = (it >= 0 && it < Hh && jt >= 0 && jt < Ww) ? x[(c * Hh + it) * Ww + jt] : 0;
                    double acc = 0;
                    for (int k = 0; k < 4; k++) {
                        int64_t a = ti + nb[k][0], b = tj + nb[k][1];
                        if (a < 0 || a >= Hp || b < 0 || b >= Wp) continue;   /* not a token */
                        int64_t ii = a - r, jj = b - r;
                        double xv = (ii >= 0 && ii < Hh && jj >= 0 && jj < Ww) ? x[(c * Hh + ii) * Ww + jj] : 0;
                        acc += xv - xt;
                    }
                    d[c] = acc;
                }
                for (int64_t o = 0; o < Cout; o++) {
                    double s = 0;
                    for (int64_t c = 0; c < Cin; c++) s += w[((o * Cin + c) * K + (di + r)) * K + (dj + r)] * d[c];
                    E[(o * Hh + i) * Ww + j] += s;
                }
            }
    }
    double e = 0, m = 0;
    for (int64_t k = 0; k < Cout * Hh * Ww; k++) {
        e += E[k] * E[k];
        m += y[k] * y[k];
    }
    return sqrt(e / m);
}

static int get_int(const cb_params *p, const char *name, int64_t lo, int64_t hi, int64_t *out, char *err, size_t errlen)
{
    double v = cb_params_get(p, name, 0);
    if (!(v >= (double)lo && v <= (double)hi && v == floor(v)))
        return cb_fail(err, errlen, "conv_construction: %s = %g must be an integer in [%lld, %lld]", name, v,
                       (long long)lo, (long long)hi);
    *out = (int64_t)v;
    return 0;
}

/* Run kernel/backend on (xf, wf) at kp; put its error against y and, when
 * spread is non-NULL, the spread of its output. */
static int run_f32(const char *kernel, const char *backend, const cb_params *kp, const float *xf, const float *wf,
                   const double *y, const double *xd, size_t nx, const double *wd, size_t nw, double Cin, double K,
                   double *e, double *spread, char *err, size_t errlen)
{
    const cb_kernel *k = cb_kernel_find(kernel);
    const cb_impl *im = cb_impl_find(kernel, backend);
    if (!k || !im)
        return cb_fail(err, errlen, "conv_construction: no %s/%s in the registry", kernel, backend);
    const float *const in[2] = {xf, wf};
    cb_params p = *kp;
    float *o = NULL;
    int64_t n = 0;
    if (cb_impl_run_arrays(k, im, &p, in, &o, &n, err, errlen))
        return -1;
    double *od = malloc((size_t)n * sizeof *od);
    if (!od) {
        free(o);
        return cb_fail(err, errlen, "conv_construction: out of memory");
    }
    for (int64_t i = 0; i < n; i++) od[i] = o[i];
    *e = cb_cc_rel_l2(od, y, (size_t)n);
    if (spread) *spread = cb_cc_spread(od, (size_t)n, xd, nx, wd, nw, Cin, K);
    free(o);
    free(od);
    return 0;
}

static int probe_run(const cb_params *params, uint64_t seed, cb_metrics *ms, char *err, size_t errlen)
{
    static const double alphas[] = {4, 6, 8, 10, 12, 14, 16};
    static const char *const conv_b[] = {"ref", "blas", "dnnl"};
    static const char *const mhsa_b[] = {"ref", "blas", "dnnl"};
    cb_params p = *params;
    if (cb_params_default(&p, "Cin", 16) || cb_params_default(&p, "Cout", 16) || cb_params_default(&p, "K", 3) ||
        cb_params_default(&p, "Hh", 32) || cb_params_default(&p, "Ww", cb_params_get(&p, "Hh", 32)) ||
        cb_params_default(&p, "alpha32", 24))
        return cb_fail(err, errlen, "conv_construction: too many parameters");
    int64_t Cin, Cout, K, Hh, Ww;
    if (get_int(&p, "Cin", 1, 256, &Cin, err, errlen) || get_int(&p, "Cout", 1, 256, &Cout, err, errlen) ||
        get_int(&p, "K", 1, 15, &K, err, errlen) || get_int(&p, "Hh", 1, 128, &Hh, err, errlen) ||
        get_int(&p, "Ww", 1, 128, &Ww, err, errlen))
        return -1;
    if (K % 2 == 0)
        return cb_fail(err, errlen, "conv_construction: K = %lld must be odd", (long long)K);
    const double alpha32 = cb_params_get(&p, "alpha32", 24);
    if (!(alpha32 > 0 && alpha32 <= 1e6))
        return cb_fail(err, errlen, "conv_construction: alpha32 = %g must be in (0, 1e6]", alpha32);
    const size_t nx = (size_t)(Cin * Hh * Ww), nw = (size_t)(Cout * Cin * K * K), ny = (size_t)(Cout * Hh * Ww);
    int rc = -1;
    float *xf = malloc(nx * sizeof *xf), *wf = malloc(nw * sizeof *wf);
    double *xd = malloc(nx * sizeof *xd), *wd = malloc(nw * sizeof *wd);
    double *y = malloc(ny * sizeof *y), *ya = malloc(ny * sizeof *ya), *E = malloc(ny * sizeof *E);
    double *dv = malloc((size_t)Cin * sizeof *dv);
    if (!xf || !wf || !xd || !wd || !y || !ya || !E || !dv) {
        cb_fail(err, errlen, "conv_construction: out of memory");
        goto done;
    }
    cb_rng_normal(xf, nx, seed, cb_rng_stream("x"), 1.0f);
    cb_rng_normal(wf, nw, seed, cb_rng_stream("w"), 1.0f);
    for (size_t i = 0; i < nx; i++) xd[i] = xf[i];
    for (size_t i = 0; i < nw; i++) wd[i] = wf[i];
    cb_conv2d_d(xd, wd, Cin, Cout, K, Hh, Ww, y);

    cb_params at = {0}, kp = {0};
    if (cb_params_set(&at, "Cin", (double)Cin) || cb_params_set(&at, "Cout", (double)Cout) ||
        cb_params_set(&at, "K", (double)K) || cb_params_set(&at, "Hh", (double)Hh) ||
        cb_params_set(&at, "Ww", (double)Ww))
        goto oom;
    kp = at;

    if (cb_metrics_add(ms, "spread_conv64", &at, cb_cc_spread(y, ny, xd, nx, wd, nw, (double)Cin, (double)K)))
        goto oom;
    const double c1 = first_order_coef(xd, wd, Cin, Cout, K, Hh, Ww, y, E, dv);
    for (size_t a = 0; a < sizeof alphas / sizeof alphas[0]; a++) {
        if (cb_mhsa_conv_d(xd, wd, Cin, Cout, K, Hh, Ww, alphas[a], ya))
            goto oom;
        double e = cb_cc_rel_l2(ya, y, ny);
        cb_params pa = at;
        if (cb_params_set(&pa, "alpha", alphas[a]) || cb_params_set(&pa, "odds", exp(alphas[a])) ||
            cb_metrics_add(ms, "err64_mhsa", &pa, e) ||
            cb_metrics_add(ms, "first_order_ratio", &pa, e / (exp(-alphas[a]) * c1)))
            goto oom;
    }
    if (cb_mhsa_conv_d(xd, wd, Cin, Cout, K, Hh, Ww, INFINITY, ya) ||
        cb_metrics_add(ms, "err64_hard", &at, cb_cc_rel_l2(ya, y, ny)))
        goto oom;

    for (size_t b = 0; b < sizeof conv_b / sizeof conv_b[0]; b++) {
        double e;
        char name[CB_NAME_MAX];
        if (run_f32("conv2d", conv_b[b], &kp, xf, wf, y, xd, nx, wd, nw, (double)Cin, (double)K, &e, NULL, err,
                    errlen))
            goto done;
        snprintf(name, sizeof name, "err32_conv_%s", conv_b[b]);
        if (cb_metrics_add(ms, name, &at, e))
            goto oom;
    }
    {
        cb_params pa = at, km = kp;
        if (cb_params_set(&pa, "alpha", alpha32) || cb_params_set(&km, "alpha", alpha32))
            goto oom;
        for (size_t b = 0; b < sizeof mhsa_b / sizeof mhsa_b[0]; b++) {
            double e, sp;
            char name[CB_NAME_MAX];
            if (run_f32("mhsa_conv", mhsa_b[b], &km, xf, wf, y, xd, nx, wd, nw, (double)Cin, (double)K, &e, &sp,
                        err, errlen))
                goto done;
            snprintf(name, sizeof name, "err32_mhsa_%s", mhsa_b[b]);
            if (cb_metrics_add(ms, name, &pa, e))
                goto oom;
            if (strcmp(mhsa_b[b], "blas") == 0 && cb_metrics_add(ms, "spread_mhsa_blas", &pa, sp))
                goto oom;
        }
    }
    {
        int rank = 0;
        double fl = NAN;
        if (cb_cc_heads_floor(wd, (long)Cin, (long)Cout, (long)K, (long)Hh, (long)Ww, &rank, &fl) ||
            cb_metrics_add(ms, "heads_rank", &at, (double)rank) || cb_metrics_add(ms, "floor_fewer_heads", &at, fl))
            goto oom;
    }
    rc = 0;
    goto done;
oom:
    cb_fail(err, errlen, "conv_construction: out of memory");
done:
    free(xf); free(wf); free(xd); free(wd); free(y); free(ya); free(E); free(dv);
    return rc;
}

const cb_probe cb_probe_conv_construction = {
    .name = "conv_construction",
    .summary = "K^2-head attention with quadratic relative-position scores vs conv2d: error ~ e^-alpha, exact at alpha = inf",
    .run = probe_run,
};
