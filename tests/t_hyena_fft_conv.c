/* t_hyena_fft_conv.c — Hyena's causal long convolution (long_conv) and the
 * order-2 Hyena operator (hyena_operator): the contracts, the ref oracles
 * against hand-computed answers, every backend against the ref on edge
 * shapes, the hyena_conv_forms probe (its double FFT against a direct sum
 * written here, its metrics on a small case), the failure of its checks on
 * a zeroed output, and `claimbench run` on .npy files for both kernels.
 *
 * Tolerances for the float backends, per point of channel c:
 *  - fftw long_conv: an FFT convolution in floating point errs by at most
 *    about c0 eps log2(L) |u_c|_2 |h_c|_2 at every point (the standard
 *    normwise bound of FFT products, spread over all outputs); we allow
 *    8 eps log2(L) |u_c|_2 |h_c|_2. For random inputs |y[t]| is about
 *    sqrt(t) while |u|_2 |h|_2 is N, so this is ~5e-6 sqrt(N) of a typical
 *    output: a lost tap or a wrong pad (an error of the size of y) fails.
 *  - dnnl long_conv (direct sums in float, any order): gamma_n with
 *    n = t + 1 terms: (N + 2) eps sum_s |h_s| |u_{t-s}|.
 *  - hyena_operator fftw: max |dy| <= 3e-5 max |y| (two FFT convolutions
 *    with gates and two float GEMMs; observed ~3e-7).
 */
#include "kernel.h"
#include "checks.h"
#include "npy.h"
#include "table.h"
#include "probes/hyena_conv_forms.h"

#include "kernel_test.h"
#include "tap.h"
#include "test_cmp.h"
#include "test_rng.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- running one implementation ---------------------------------------- */

/* Run kernel/backend at params on the arrays in[] (one per input) with
 * kt_run_twice (kernel_test.h); *n = the floats of output 0. */
static float *run_impl(const char *kernel, const char *backend, const char *params, float *const *inx,
                       int64_t *n, int *same)
{
    const cb_kernel *k = cb_kernel_find(kernel);
    const cb_impl *im = cb_impl_find(kernel, backend);
    cb_params p = {0};
    cb_shape ish[CB_MAX_TENSORS], osh[CB_MAX_TENSORS];
    char err[256] = "";
    if (!k || !im || cb_params_parse(&p, params) || k->shapes(&p, ish, osh, err, sizeof err)) {
        diag("setup %s/%s %s: %s", kernel, backend, params, err);
        return NULL;
    }
    *n = cb_shape_numel(&osh[0]);
    return kt_run_twice(kernel, backend, &p, inx, same);
}

/* ---- contracts ----------------------------------------------------------- */

static void test_contracts(void)
{
    const cb_kernel *lc = cb_kernel_find("long_conv"), *hy = cb_kernel_find("hyena_operator");
    ok(lc && hy, "long_conv and hyena_operator are registered");
    if (!lc || !hy) return;
    ok(cb_impl_find("long_conv", "ref") && cb_impl_find("long_conv", "fftw") && cb_impl_find("long_conv", "dnnl") &&
           cb_impl_find("hyena_operator", "ref") && cb_impl_find("hyena_operator", "fftw"),
       "backends: long_conv ref/fftw/dnnl, hyena_operator ref/fftw");
    ok(cb_probe_find("hyena_conv_forms") != NULL, "hyena_conv_forms probe is registered");
    static const struct { const char *params, *name; } bad[] = {
        {"N=8", "D"}, {"D=2", "N"}, {"D=0,N=8", "D"}, {"D=2,N=0", "N"}, {"D=2,N=2.5", "N"}, {"D=-1,N=4", "D"},
    };
    const cb_kernel *ks[2] = {lc, hy};
    for (int kk = 0; kk < 2; kk++)
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            cb_params p = {0};
            cb_shape in[CB_MAX_TENSORS], out[CB_MAX_TENSORS];
            char err[256] = "", want[8];
            int rc = cb_params_parse(&p, bad[i].params) == 0 ? ks[kk]->shapes(&p, in, out, err, sizeof err) : 0;
            snprintf(want, sizeof want, " %s", bad[i].name);
            ok(rc == -1 && strstr(err, want), "%s rejects %s naming %s (%s)", ks[kk]->name, bad[i].params,
               bad[i].name, err);
        }
    cb_params p = {0};
    cb_shape in[CB_MAX_TENSORS], out[CB_MAX_TENSORS];
    char err[256] = "";
    int rc = cb_params_parse(&p, "D=64,N=1000") == 0 ? lc->shapes(&p, in, out, err, sizeof err) : -1;
    ok(rc == 0 && in[0].rank == 2 && in[0].dim[0] == 64 && in[1].dim[1] == 1000 && out[0].dim[1] == 1000,
       "long_conv shapes: u, h, y all [D, N]");
    ok(lc->flops(&p) == 64.0 * 1000 * 1001, "long_conv flops = D N (N + 1): %.6g", lc->flops(&p));
    rc = hy->shapes(&p, in, out, err, sizeof err);
    ok(rc == 0 && in[0].dim[0] == 1000 && in[0].dim[1] == 64 && in[1].dim[0] == 64 && in[1].dim[1] == 192 &&
           in[2].dim[0] == 64 && in[2].dim[1] == 1000 && in[4].dim[0] == 64 && in[4].dim[1] == 64 &&
           out[0].dim[0] == 1000 && out[0].dim[1] == 64,
       "hyena_operator shapes: x [N, D], w_in [D, 3D], h1 h2 [D, N], w_out [D, D], y [N, D]");
    cb_params q = {0};
    cb_shape g[5] = {{2, {10, 4}}, {2, {4, 12}}, {2, {4, 10}}, {2, {4, 10}}, {2, {4, 4}}};
    ok(hy->infer(&q, g, err, sizeof err) == 0 && cb_params_int(&q, "N", 0) == 10 && cb_params_int(&q, "D", 0) == 4,
       "hyena_operator infers N, D from x");
    g[1].dim[1] = 11;
    char e1[256] = "";
    ok(hy->infer(&q, g, e1, sizeof e1) == -1 && strstr(e1, "w_in"), "hyena_operator rejects w_in of the wrong width (%s)",
       e1);
    cb_shape lg[2] = {{2, {3, 7}}, {2, {3, 6}}};
    char e2[256] = "";
    ok(lc->infer(&q, lg, e2, sizeof e2) == -1 && strstr(e2, "h "), "long_conv rejects h shaped unlike u (%s)", e2);
}

/* ---- the ref against known answers -------------------------------------- */

static void test_ref_known(void)
{
    /* u = (1, 2, 3), h = (1, 1/2, 1/4): y0 = 1, y1 = 2 + 1/2, y2 = 3 + 1 + 1/4 */
    {
        float u[3] = {1, 2, 3}, h[3] = {1, 0.5f, 0.25f};
        float *in[2] = {u, h};
        static const char *const bs[3] = {"ref", "fftw", "dnnl"};
        for (int b = 0; b < 3; b++) {
            int64_t n = 0;
            int same = 0;
            float *y = run_impl("long_conv", bs[b], "D=1,N=3", in, &n, &same);
            double e = y ? fmax(fmax(fabs(y[0] - 1), fabs(y[1] - 2.5)), fabs(y[2] - 4.25)) : NAN;
            ok(y && n == 3 && e <= (b ? 1e-6 : 0), "long_conv %s by hand: (%g, %g, %g) = (1, 2.5, 4.25), err %.2g",
               bs[b], y ? y[0] : NAN, y ? y[1] : NAN, y ? y[2] : NAN, e);
            free(y);
        }
    }
    /* causality: h = delta at s = 1 shifts u by one step, y[0] = 0 */
    {
        enum { N = 37 };
        float u[2 * N], h[2 * N];
        test_fill_normal_scaled(u, 2 * N, 5, 1.0);
        memset(h, 0, sizeof h);
        h[1] = 1;       /* channel 0: delay 1 */
        h[N + 5] = 2;   /* channel 1: delay 5, gain 2 */
        float *in[2] = {u, h};
        static const char *const bs[3] = {"ref", "fftw", "dnnl"};
        for (int b = 0; b < 3; b++) {
            int64_t n = 0;
            int same = 0;
            float *y = run_impl("long_conv", bs[b], "D=2,N=37", in, &n, &same);
            double e = y ? 0 : NAN;
            for (int t = 0; y && t < N; t++) {
                e = fmax(e, fabs(y[t] - (t >= 1 ? u[t - 1] : 0)));
                e = fmax(e, fabs(y[N + t] - (t >= 5 ? 2 * u[N + t - 5] : 0)));
            }
            ok(y && e <= (b ? 1e-6 : 0), "long_conv %s: a delayed delta delays u (causal, per channel), err %.2g", bs[b], e);
            free(y);
        }
    }
    /* Hyena, D = 1, N = 2: x = (1, 2), W_in = (1, 2, 3): v = (1, 2),
     * x1 = (2, 4), x2 = (3, 6); h1 = (1, 1): h1 * v = (1, 3), z2 = (2, 12);
     * h2 = (1, 0): z3 = x2 . z2 = (6, 72); W_out = 1/2: y = (3, 36). */
    {
        float x[2] = {1, 2}, w_in[3] = {1, 2, 3}, h1[2] = {1, 1}, h2[2] = {1, 0}, w_out[1] = {0.5f};
        float *in[5] = {x, w_in, h1, h2, w_out};
        static const char *const bs[2] = {"ref", "fftw"};
        for (int b = 0; b < 2; b++) {
            int64_t n = 0;
            int same = 0;
            float *y = run_impl("hyena_operator", bs[b], "D=1,N=2", in, &n, &same);
            double e = y ? fmax(fabs(y[0] - 3), fabs(y[1] - 36)) : NAN;
            ok(y && n == 2 && e <= (b ? 1e-4 : 0), "hyena_operator %s by hand: (%g, %g) = (3, 36), err %.2g", bs[b],
               y ? y[0] : NAN, y ? y[1] : NAN, e);
            free(y);
        }
    }
}

/* ---- every backend against the ref -------------------------------------- */

static void test_long_conv_backends(void)
{
    static const struct { int D, N; } cases[] = {
        {1, 1}, {1, 2}, {3, 1000}, {17, 777}, {2, 4096}, {64, 256}, {5, 4099},
    };
    static const char *const bs[2] = {"fftw", "dnnl"};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const int D = cases[c].D, N = cases[c].N;
        const size_t n = (size_t)D * (size_t)N;
        char params[64];
        snprintf(params, sizeof params, "D=%d,N=%d", D, N);
        float *u = malloc(n * sizeof *u), *h = malloc(n * sizeof *h);
        double *B = malloc(n * sizeof *B), *nrm = malloc((size_t)D * sizeof *nrm);
        if (!u || !h || !B || !nrm) {
            ok(0, "out of memory");
            free(u); free(h); free(B); free(nrm);
            return;
        }
        test_fill_normal_scaled(u, n, 100 + c, 1.0);
        test_fill_normal_scaled(h, n, 200 + c, 1.0 / 32);
        /* B[c, t] = sum_s |h_s| |u_{t-s}|; nrm[c] = |u_c|_2 |h_c|_2 */
        for (int ch = 0; ch < D; ch++) {
            double uu = 0, hh = 0;
            for (int t = 0; t < N; t++) {
                const size_t i = (size_t)ch * N + t;
                uu += (double)u[i] * u[i];
                hh += (double)h[i] * h[i];
                double b = 0;
                for (int s = 0; s <= t; s++)
                    b += fabs((double)h[(size_t)ch * N + s] * u[(size_t)ch * N + t - s]);
                B[i] = b;
            }
            nrm[ch] = sqrt(uu * hh);
        }
        float *in[2] = {u, h};
        int64_t nr = 0;
        int same_ref = 0;
        float *ref = run_impl("long_conv", "ref", params, in, &nr, &same_ref);
        long L = 1;
        while (L < 2L * N - 1) L *= 2;   /* log2 of the padded size, rounded up */
        const double lg = fmax(1, log2((double)L));
        for (int b = 0; b < 2; b++) {
            int64_t no = 0;
            int same = 0;
            float *y = ref ? run_impl("long_conv", bs[b], params, in, &no, &same) : NULL;
            int bad = !y;
            double worst = 0, e = 0;
            for (size_t i = 0; y && i < n; i++) {
                const double d = fabs((double)y[i] - ref[i]);
                const double tol = b == 0 ? 8 * FLT_EPSILON * lg * nrm[i / (size_t)N] : (N + 2) * FLT_EPSILON * B[i];
                if (!(d <= tol + 1e-30)) bad = 1;
                if (tol > 0 && d / tol > worst) worst = d / tol;
                if (d > e) e = d;
            }
            ok(!bad && same && same_ref, "long_conv %s = ref, %s: max err %.3g, worst err / bound %.3g", bs[b], params, e,
               worst);
            free(y);
        }
        free(ref);
        free(u); free(h); free(B); free(nrm);
    }
}

static void test_hyena_backends(void)
{
    static const struct { int D, N; } cases[] = {{1, 1}, {3, 1000}, {5, 300}, {17, 130}, {64, 512}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const int D = cases[c].D, N = cases[c].N;
        char params[64];
        snprintf(params, sizeof params, "D=%d,N=%d", D, N);
        const size_t nx = (size_t)N * D;
        float *x = malloc(nx * sizeof *x), *wi = malloc((size_t)3 * D * D * sizeof *wi);
        float *h1 = malloc(nx * sizeof *h1), *h2 = malloc(nx * sizeof *h2), *wo = malloc((size_t)D * D * sizeof *wo);
        if (!x || !wi || !h1 || !h2 || !wo) {
            ok(0, "out of memory");
            free(x); free(wi); free(h1); free(h2); free(wo);
            return;
        }
        test_fill_normal_scaled(x, nx, 300 + c, 1.0);
        test_fill_normal_scaled(wi, (size_t)3 * D * D, 400 + c, 1 / sqrt(D));
        test_fill_normal_scaled(h1, nx, 500 + c, 1 / sqrt(N));
        test_fill_normal_scaled(h2, nx, 600 + c, 1 / sqrt(N));
        test_fill_normal_scaled(wo, (size_t)D * D, 700 + c, 1 / sqrt(D));
        float *in[5] = {x, wi, h1, h2, wo};
        int64_t nr = 0, no = 0;
        int same_ref = 0, same = 0;
        float *ref = run_impl("hyena_operator", "ref", params, in, &nr, &same_ref);
        float *y = ref ? run_impl("hyena_operator", "fftw", params, in, &no, &same) : NULL;
        double e = 0, m = 0;
        for (int64_t i = 0; y && i < nr; i++) {
            const double d = fabs((double)y[i] - ref[i]);
            e = test_max_keep_nan(e, d);
            if (fabs(ref[i]) > m) m = fabs(ref[i]);
        }
        ok(y && no == nr && same && same_ref && m > 0 && e <= 3e-5 * m,
           "hyena_operator fftw = ref, %s: max err %.3g of max |y| %.3g", params, e, m);
        free(ref); free(y);
        free(x); free(wi); free(h1); free(h2); free(wo);
    }
}

/* ---- the probe ------------------------------------------------------------ */

static void test_probe_fft(void)
{
    /* the probe's double FFT convolution against a direct sum written here */
    static const size_t Ns[] = {1, 2, 5, 64, 1000};
    for (size_t c = 0; c < sizeof Ns / sizeof Ns[0]; c++) {
        const size_t N = Ns[c];
        double *u = malloc(N * sizeof *u), *h = malloc(N * sizeof *h), *y = malloc(N * sizeof *y);
        float *tmp = malloc(2 * N * sizeof *tmp);
        if (!u || !h || !y || !tmp) {
            ok(0, "out of memory");
            free(u); free(h); free(y); free(tmp);
            return;
        }
        test_fill_normal_scaled(tmp, 2 * N, 900 + c, 1.0);
        for (size_t i = 0; i < N; i++) {
            u[i] = tmp[i];
            h[i] = tmp[N + i];
        }
        int rc = cb_hyena_fft_conv_d(u, h, N, y);
        double e = 0, m = 0;
        for (size_t t = 0; t < N; t++) {
            double d = 0;
            for (size_t s = 0; s <= t; s++) d += h[s] * u[t - s];
            e = fmax(e, fabs(y[t] - d));
            m = fmax(m, fabs(d));
        }
        ok(rc == 0 && e <= 1e-12 * m, "probe's double FFT convolution = direct sum, N = %zu: err %.3g of %.3g", N, e, m);
        free(u); free(h); free(y); free(tmp);
    }
}

static void test_probe_metrics(void)
{
    const cb_probe *pb = cb_probe_find("hyena_conv_forms");
    if (!pb) {
        ok(0, "hyena_conv_forms is registered");
        return;
    }
    cb_params p = {0};
    cb_metrics ms = {0};
    char err[256] = "";
    int rc = cb_params_parse(&p, "D=3,N=700") == 0 ? pb->run(&p, 42, &ms, err, sizeof err) : -1;
    ok(rc == 0 && ms.n == 8, "hyena_conv_forms runs at D=3,N=700: %d metrics %s", ms.n, err);
    static const struct { const char *name; double lo, hi; } want[8] = {
        {"err64_fft_direct", 0, 1e-12},          /* double rounding, ~1e-15 */
        {"err32_long_conv_ref", 0, 1e-7},        /* one rounding of the output */
        {"err32_long_conv_fftw", 0, 1e-5},
        {"norm_ratio_long_conv_fftw", 0.5, 0.9}, /* ~1/sqrt(2); 3 channels spread more */
        {"err32_long_conv_dnnl", 0, 1e-5},
        {"err32_hyena_ref", 0, 1e-7},
        {"err32_hyena_fftw", 0, 3e-5},
        {"rms_ratio_hyena_fftw", 1 - 1e-4, 1 + 1e-4},
    };
    for (int i = 0; i < ms.n && i < 8; i++) {
        const cb_metric *m = &ms.m[i];
        ok(strcmp(m->name, want[i].name) == 0 && m->value >= want[i].lo && m->value <= want[i].hi &&
               cb_params_int(&m->at, "N", 0) == 700 && cb_params_int(&m->at, "D", 0) == 3,
           "metric %s = %.4g in [%g, %g] (want %s)", m->name, m->value, want[i].lo, want[i].hi, want[i].name);
    }
    cb_metrics_free(&ms);
    cb_params_set(&p, "N", 0);
    ok(pb->run(&p, 42, &ms, err, sizeof err) == -1 && strstr(err, "N = 0"), "hyena_conv_forms rejects N = 0 (%s)", err);
    cb_metrics_free(&ms);
}

/* A zeroed output must fail: the error against a real reference is 1, the
 * norm ratio is 0, and a zero reference makes the error 0/0 = NaN; each,
 * put in a table, fails the spec's equivalence or bound check. */
static void test_zero_output_fails(void)
{
    enum { D = 2, N = 50 };
    float u[D * N], h[D * N], z[D * N];
    double y[D * N], zd[D * N];
    test_fill_normal_scaled(u, D * N, 77, 1.0);
    test_fill_normal_scaled(h, D * N, 78, 1.0);
    memset(z, 0, sizeof z);
    for (int c = 0; c < D; c++)
        for (int t = 0; t < N; t++) {
            double a = 0;
            for (int s = 0; s <= t; s++) a += (double)h[c * N + s] * u[c * N + t - s];
            y[c * N + t] = a;
            zd[c * N + t] = 0;
        }
    const double e_zero_out = cb_hyena_rel_err_f(z, y, D * N);
    const double e_zero_ref = cb_hyena_rel_err_f(z, zd, D * N);
    const double ratio = cb_hyena_norm_ratio(z, u, h, D, N);
    ok(e_zero_out == 1 && isnan(e_zero_ref) && ratio == 0,
       "zeroed output: error %.3g against a real reference, %g against a zero one, norm ratio %g", e_zero_out,
       e_zero_ref, ratio);

    cb_table t = {0};
    cb_params at = {0};
    cb_params_parse(&at, "D=2,N=50");
    const double vals[3] = {e_zero_out, e_zero_ref, ratio};
    static const char *const names[3] = {"err32_long_conv_fftw", "err64_fft_direct", "norm_ratio_long_conv_fftw"};
    for (int i = 0; i < 3; i++)
        cb_table_add(&t, CB_ROW_METRIC, "hyena_fft_conv", "hyena_conv_forms", "-", names[i], &at, &vals[i], 1, NULL);
    for (int i = 0; i < 3; i++) {
        cb_check c;
        memset(&c, 0, sizeof c);
        snprintf(c.name, sizeof c.name, "zero_%d", i);
        c.type = i == 2 ? CB_CHECK_BOUND : CB_CHECK_EQUIVALENCE;
        snprintf(c.a.kernel, sizeof c.a.kernel, "hyena_conv_forms");
        snprintf(c.a.backend, sizeof c.a.backend, "-");
        snprintf(c.a.metric, sizeof c.a.metric, "%s", names[i]);
        c.lo = i == 2 ? 0.6 : 0;
        c.hi = i == 0 ? 1e-5 : i == 1 ? 1e-10 : 0.8;
        cb_verdict v;
        cb_check_eval(&c, "hyena_fft_conv", &t, 1, &v);
        ok(v.verdict == CB_NOT_REPRODUCED, "the %s check on a zeroed output: %s (%s)", names[i],
           cb_verdict_name(v.verdict), v.detail);
    }
    cb_table_free(&t);
}

/* ---- claimbench run on .npy ------------------------------------------------ */

static int write_npy(const char *path, const char *name, int r, int c, const float *x)
{
    cb_tensor t;
    memset(&t, 0, sizeof t);
    cb_shape s = {2, {r, c}};
    char err[256] = "";
    if (cb_tensor_alloc(&t, name, &s)) return -1;
    memcpy(t.data, x, (size_t)r * c * sizeof(float));
    int rc = cb_npy_write(path, &t, err, sizeof err);
    if (rc) diag("write %s: %s", path, err);
    cb_tensor_free(&t);
    return rc;
}

static void test_run_npy(void)
{
    const char *bin = getenv("CLAIMBENCH");
    if (!bin || !*bin) {
        diag("claimbench run tests skipped: CLAIMBENCH not set (prove sets it)");
        return;
    }
    char dir[] = "/tmp/t_hyena_fft_conv.XXXXXX";
    if (!mkdtemp(dir)) {
        ok(0, "mkdtemp");
        return;
    }
    char pa[4][512], cmd[4096];
    /* long_conv: D = 1, N = 3, the hand case above */
    const float u[3] = {1, 2, 3}, h[3] = {1, 0.5f, 0.25f};
    snprintf(pa[0], sizeof pa[0], "%s/u.npy", dir);
    snprintf(pa[1], sizeof pa[1], "%s/h.npy", dir);
    static const char *const bs[3] = {"ref", "fftw", "dnnl"};
    int wrote = write_npy(pa[0], "u", 1, 3, u) == 0 && write_npy(pa[1], "h", 1, 3, h) == 0;
    for (int b = 0; b < 3; b++) {
        snprintf(pa[2], sizeof pa[2], "%s/y_%s.npy", dir, bs[b]);
        snprintf(cmd, sizeof cmd, "'%s' run long_conv --backend %s --in u=%s --in h=%s --out y=%s 2>/dev/null", bin,
                 bs[b], pa[0], pa[1], pa[2]);
        int rc = wrote ? system(cmd) : -1;
        cb_tensor y;
        memset(&y, 0, sizeof y);
        char err[256] = "";
        int rd = rc == 0 ? cb_npy_read(pa[2], &y, "y", err, sizeof err) : -1;
        double e = rd == 0 && cb_shape_numel(&y.shape) == 3
                       ? fmax(fmax(fabs(y.data[0] - 1), fabs(y.data[1] - 2.5)), fabs(y.data[2] - 4.25))
                       : NAN;
        ok(rc == 0 && rd == 0 && y.shape.rank == 2 && e <= 1e-6, "claimbench run long_conv --backend %s on .npy: err %.2g %s",
           bs[b], e, err);
        cb_tensor_free(&y);
        remove(pa[2]);
    }
    remove(pa[0]);
    remove(pa[1]);
    /* hyena_operator: D = 1, N = 2, the hand case above */
    static const char *const nm[5] = {"x", "w_in", "h1", "h2", "w_out"};
    const float x[2] = {1, 2}, w_in[3] = {1, 2, 3}, h1[2] = {1, 1}, h2[2] = {1, 0}, w_out[1] = {0.5f};
    const float *arr[5] = {x, w_in, h1, h2, w_out};
    const int rows[5] = {2, 1, 1, 1, 1}, cols[5] = {1, 3, 2, 2, 1};
    char files[5][512];
    wrote = 1;
    for (int i = 0; i < 5; i++) {
        snprintf(files[i], sizeof files[i], "%s/%s.npy", dir, nm[i]);
        wrote = wrote && write_npy(files[i], nm[i], rows[i], cols[i], arr[i]) == 0;
    }
    for (int b = 0; b < 2; b++) {
        snprintf(pa[2], sizeof pa[2], "%s/yh_%s.npy", dir, bs[b]);
        snprintf(cmd, sizeof cmd,
                 "'%s' run hyena_operator --backend %s --in x=%s --in w_in=%s --in h1=%s --in h2=%s --in w_out=%s "
                 "--out y=%s 2>/dev/null",
                 bin, bs[b], files[0], files[1], files[2], files[3], files[4], pa[2]);
        int rc = wrote ? system(cmd) : -1;
        cb_tensor y;
        memset(&y, 0, sizeof y);
        char err[256] = "";
        int rd = rc == 0 ? cb_npy_read(pa[2], &y, "y", err, sizeof err) : -1;
        double e = rd == 0 && cb_shape_numel(&y.shape) == 2 ? fmax(fabs(y.data[0] - 3), fabs(y.data[1] - 36)) : NAN;
        ok(rc == 0 && rd == 0 && y.shape.dim[0] == 2 && y.shape.dim[1] == 1 && e <= 1e-4,
           "claimbench run hyena_operator --backend %s on .npy: y = [2, 1], err %.2g %s", bs[b], e, err);
        cb_tensor_free(&y);
        remove(pa[2]);
    }
    for (int i = 0; i < 5; i++) remove(files[i]);
    /* a mismatched h is refused */
    snprintf(pa[0], sizeof pa[0], "%s/u2.npy", dir);
    snprintf(pa[1], sizeof pa[1], "%s/h2.npy", dir);
    const float four[4] = {1, 2, 3, 4};
    wrote = write_npy(pa[0], "u", 1, 4, four) == 0 && write_npy(pa[1], "h", 1, 3, h) == 0;
    snprintf(cmd, sizeof cmd, "'%s' run long_conv --backend fftw --in u=%s --in h=%s --out y=%s/y.npy 2>/dev/null", bin,
             pa[0], pa[1], dir);
    int rc = wrote ? system(cmd) : 0;
    ok(wrote && rc != 0, "claimbench run long_conv refuses h [1, 3] with u [1, 4] (exit status %d)", rc);
    remove(pa[0]);
    remove(pa[1]);
    snprintf(cmd, sizeof cmd, "%s/y.npy", dir);
    remove(cmd);
    rmdir(dir);
}

int main(void)
{
    tap_no_plan();
    test_contracts();
    test_ref_known();
    test_long_conv_backends();
    test_hyena_backends();
    test_probe_fft();
    test_probe_metrics();
    test_zero_output_fails();
    test_run_npy();
    return tap_done();
}
