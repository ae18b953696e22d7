/* t_vit_conv_construction.c — conv2d and the attention that performs it
 * (vit_conv_construction): the contracts, the ref oracles against
 * hand-computed values and against an independent (separable-softmax)
 * evaluation of the attention, every backend against ref on edge shapes,
 * the probe's metrics on a small case, the heads floor on a case with a
 * closed form, the failure of every check on a zeroed or constant output,
 * and `claimbench run` on .npy files.
 *
 * Tolerance for the float backends against ref: every output is a sum of
 * Cin K^2 products (conv2d) or of K^2 heads x Np weighted tokens (attention);
 * float rounding of such sums, added like a random walk, is ~1e-6 of the
 * output scale, so the whole output is held to 1e-5 normalized L2 and each
 * point to 1e-4 of max |y|. A defect (a wrong tap, a lost padding ring, a
 * wrong head) is an error of the size of y.
 */
#include "kernel.h"
#include "../harness/checks.h"
#include "../harness/npy.h"
#include "../harness/spec.h"
#include "../harness/table.h"
#include "probes/conv_construction.h"
#include "ref/conv2d_contract.h"

#include "kernel_test.h"
#include "tap.h"
#include "test_cmp.h"
#include "test_rng.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- one problem ------------------------------------------------------- */

typedef struct problem {
    cb_params p;
    int64_t Cin, Cout, K, Hh, Ww;
    cb_shape ish[CB_MAX_TENSORS], osh[CB_MAX_TENSORS];
    float *in[CB_MAX_TENSORS];  /* owned: the image and the weights */
    float *x, *w;               /* in[0], in[1] */
    size_t nx, nw, ny;
} problem;

static void problem_free(problem *pr)
{
    kt_inputs_free(pr->in);
    pr->x = pr->w = NULL;
}

static int problem_make(problem *pr, const char *kernel, const char *params, uint64_t seed)
{
    memset(pr, 0, sizeof *pr);
    if (kt_inputs_make(kernel, params, seed, 2, NULL, &pr->p, pr->ish, pr->osh, pr->in))
        return -1;
    pr->x = pr->in[0];
    pr->w = pr->in[1];
    pr->Cin = cb_params_int(&pr->p, "Cin", 0);
    pr->Cout = cb_params_int(&pr->p, "Cout", 0);
    pr->K = cb_params_int(&pr->p, "K", 0);
    pr->Hh = cb_params_int(&pr->p, "Hh", 0);
    pr->Ww = cb_params_int(&pr->p, "Ww", 0);
    pr->nx = (size_t)cb_shape_numel(&pr->ish[0]);
    pr->nw = (size_t)cb_shape_numel(&pr->ish[1]);
    pr->ny = (size_t)cb_shape_numel(&pr->osh[0]);
    return 0;
}

/* kt_run_twice (kernel_test.h) on the problem's x and w. */
static float *run_impl(const problem *pr, const char *kernel, const char *backend, int *same)
{
    return kt_run_twice(kernel, backend, &pr->p, pr->in, same);
}

/* ---- independent double evaluations ------------------------------------ */

/* The attention with the softmax written as a product of two 1-D softmaxes
 * (the scores -alpha (da^2 + db^2) separate over rows and columns of the
 * padded grid), and the conv taps looped in another order: an independent
 * algorithm for the same numbers. */
static int attention_separable(const problem *pr, double alpha, double *y)
{
    const int64_t K = pr->K, r = (K - 1) / 2, Hh = pr->Hh, Ww = pr->Ww, Hp = Hh + 2 * r, Wp = Ww + 2 * r;
    const int64_t Cin = pr->Cin, Cout = pr->Cout;
    double *pr_ = malloc((size_t)Hp * sizeof *pr_), *pc = malloc((size_t)Wp * sizeof *pc);
    if (!pr_ || !pc) {
        free(pr_);
        free(pc);
        return -1;
    }
    memset(y, 0, pr->ny * sizeof *y);
    for (int64_t a = 0; a < K; a++)
        for (int64_t b = 0; b < K; b++)
            for (int64_t i = 0; i < Hh; i++)
                for (int64_t j = 0; j < Ww; j++) {
                    const int64_t ti = i + a, tj = j + b;   /* target on the padded grid */
                    double zr = 0, zc = 0;
                    for (int64_t u = 0; u < Hp; u++) zr += pr_[u] = exp(-alpha * (double)((u - ti) * (u - ti)));
                    for (int64_t v = 0; v < Wp; v++) zc += pc[v] = exp(-alpha * (double)((v - tj) * (v - tj)));
                    for (int64_t o = 0; o < Cout; o++) {
                        double acc = 0;
                        for (int64_t c = 0; c < Cin; c++) {
                            double sx = 0;
                            for (int64_t u = r; u < r + Hh; u++)
                                for (int64_t v = r; v < r + Ww; v++)
                                    sx += pr_[u] * pc[v] * pr->x[(c * Hh + u - r) * Ww + v - r];
                            acc += (double)pr->w[((o * Cin + c) * K + a) * K + b] * sx / (zr * zc);
                        }
                        y[(o * Hh + i) * Ww + j] += acc;
                    }
                }
    free(pr_);
    free(pc);
    return 0;
}

/* ---- contracts ------------------------------------------------------------ */

static void test_shapes(void)
{
    static const char *const kernels[2] = {"conv2d", "mhsa_conv"};
    for (int kk = 0; kk < 2; kk++) {
        const cb_kernel *k = cb_kernel_find(kernels[kk]);
        ok(k != NULL && k->n_in == 2 && k->n_out == 1 && strcmp(k->in[0], "x") == 0 && strcmp(k->in[1], "w") == 0,
           "%s is registered: x, w -> y", kernels[kk]);
        if (!k) continue;
        static const struct { const char *params, *name; } bad[] = {
            {"Cout=2,K=3,Hh=4", "Cin"}, {"Cin=2,K=3,Hh=4", "Cout"}, {"Cin=2,Cout=2,K=3", "Hh"},
            {"Cin=2,Cout=2,K=4,Hh=4", "K"}, {"Cin=0,Cout=2,K=3,Hh=4", "Cin"}, {"Cin=2,Cout=2,K=3,Hh=4.5", "Hh"},
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            cb_params p = {0};
            cb_shape in[CB_MAX_TENSORS], out[CB_MAX_TENSORS];
            char err[256] = "", want[16], want_end[16];
            int rc = cb_params_parse(&p, bad[i].params) == 0 ? k->shapes(&p, in, out, err, sizeof err) : 0;
            snprintf(want, sizeof want, " %s ", bad[i].name);
            snprintf(want_end, sizeof want_end, " %s", bad[i].name);
            size_t le = strlen(err), lw = strlen(want_end);
            int named = strstr(err, want) != NULL || (le >= lw && strcmp(err + le - lw, want_end) == 0);
            ok(rc == -1 && named, "%s rejects %s naming %s (%s)", kernels[kk], bad[i].params,
               bad[i].name, err);
        }
        cb_params p = {0};
        cb_shape in[CB_MAX_TENSORS], out[CB_MAX_TENSORS];
        char err[256] = "";
        int rc = cb_params_parse(&p, "Cin=3,Cout=5,Hh=7") == 0 ? k->shapes(&p, in, out, err, sizeof err) : -1;
        ok(rc == 0 && in[0].dim[0] == 3 && in[0].dim[2] == 7 && in[1].rank == 4 && in[1].dim[3] == 3 &&
               out[0].dim[0] == 5 && cb_params_int(&p, "Ww", 0) == 7,
           "%s: K defaults to 3, Ww to Hh; x [3,7,7], w [5,3,3,3], y [5,7,7]", kernels[kk]);
        double f = k->flops(&p), want = kk == 0 ? 2.0 * 5 * 3 * 9 * 49 : 9.0 * (2 * 5 * 3 * 81 + 2 * 49 * 81 * 5);
        ok(f == want, "%s flops %.6g (want %.6g)", kernels[kk], f, want);
        cb_params q = {0};
        cb_shape given[2] = {{3, {4, 6, 9}}, {4, {2, 4, 5, 5}}};
        ok(k->infer(&q, given, err, sizeof err) == 0 && cb_params_int(&q, "Cin", 0) == 4 &&
               cb_params_int(&q, "Cout", 0) == 2 && cb_params_int(&q, "K", 0) == 5 && cb_params_int(&q, "Hh", 0) == 6 &&
               cb_params_int(&q, "Ww", 0) == 9,
           "%s infers Cin, Cout, K, Hh, Ww from x and w", kernels[kk]);
        cb_shape wrong[2] = {{3, {4, 6, 9}}, {4, {2, 3, 5, 5}}};
        char e2[256] = "";
        ok(k->infer(&q, wrong, e2, sizeof e2) == -1 && strstr(e2, "Cin"), "%s infer rejects mismatched Cin (%s)",
           kernels[kk], e2);
    }
    cb_params p = {0};
    cb_shape in[CB_MAX_TENSORS], out[CB_MAX_TENSORS];
    char err[256] = "";
    int rc = cb_params_parse(&p, "Cin=1,Cout=1,Hh=3,alpha=0") == 0
                 ? cb_kernel_find("mhsa_conv")->shapes(&p, in, out, err, sizeof err)
                 : 0;
    ok(rc == -1 && strstr(err, "alpha"), "mhsa_conv rejects alpha = 0 (%s)", err);
}

/* ---- the refs against known answers -------------------------------------- */

static void test_ref_known(void)
{
    /* x = 1..9 on 3 x 3, w = ones: y = sums of the in-image 3 x 3 windows:
     * corner (0,0) 1+2+4+5 = 12, centre 45, edge (0,1) 1+2+3+4+5+6 = 21. */
    problem pr;
    int same = 0;
    float *y = NULL;
    if (problem_make(&pr, "conv2d", "Cin=1,Cout=1,K=3,Hh=3,Ww=3", 1) == 0) {
        for (int i = 0; i < 9; i++) pr.x[i] = (float)(i + 1), pr.w[i] = 1;
        y = run_impl(&pr, "conv2d", "ref", &same);
    }
    ok(y && y[0] == 12 && y[4] == 45 && y[1] == 21 && y[8] == 5 + 6 + 8 + 9,
       "conv2d ref, ones kernel on 1..9: y(0,0) = %g, y(1,1) = %g, y(0,1) = %g", y ? y[0] : NAN, y ? y[4] : NAN,
       y ? y[1] : NAN);
    free(y);
    y = NULL;
    /* one tap at (a, b) = (0, 0), offset (-1, -1): y[i, j] = x[i-1, j-1] (cross-correlation) */
    if (pr.x) {
        for (int i = 0; i < 9; i++) pr.w[i] = 0;
        pr.w[0] = 1;
        y = run_impl(&pr, "conv2d", "ref", &same);
    }
    ok(y && y[0] == 0 && y[2] == 0 && y[4] == 1 && y[5] == 2 && y[8] == 5,
       "conv2d ref, a single tap w[0,0,0,0]: y[i,j] = x[i-1,j-1] (y(1,1) = %g, y(2,2) = %g)", y ? y[4] : NAN,
       y ? y[8] : NAN);
    free(y);
    problem_free(&pr);

    /* Attention by hand: Cin = Cout = 1, K = 1 (one head, offset 0), a 1 x 2
     * image x = (1, 3): no padding, two keys; the query at column 0 weighs
     * its own key by 1/(1 + e^-alpha) and the other by e^-alpha/(1 + e^-alpha). */
    y = NULL;
    if (problem_make(&pr, "mhsa_conv", "Cin=1,Cout=1,K=1,Hh=1,Ww=2,alpha=1", 2) == 0) {
        pr.x[0] = 1, pr.x[1] = 3, pr.w[0] = 2;
        y = run_impl(&pr, "mhsa_conv", "ref", &same);
    }
    const double e = exp(-1.0), y0 = 2 * (1 + 3 * e) / (1 + e), y1 = 2 * (3 + e) / (1 + e);
    ok(y && fabs(y[0] - y0) <= 1e-6 && fabs(y[1] - y1) <= 1e-6,
       "mhsa_conv ref by hand (K = 1, x = (1, 3), w = 2, alpha = 1): (%.7g, %.7g), want (%.7g, %.7g)", y ? y[0] : NAN,
       y ? y[1] : NAN, y0, y1);
    free(y);
    problem_free(&pr);

    /* K = 3 on a 1 x 1 image: 9 heads, 3 x 3 padded grid, only the centre
     * head targets the pixel; head at offset Delta puts weight p(Delta)
     * = e^{-alpha |Delta|^2 ...} on the pixel. Sum over heads of
     * w_h * p_h(centre), with p_h(centre) = e^{-alpha ||Delta_h||^2} / Z_h,
     * Z_h = sum over the 3 x 3 grid of e^{-alpha ||k - Delta_h - c||^2}. */
    y = NULL;
    double want = 0;
    if (problem_make(&pr, "mhsa_conv", "Cin=1,Cout=1,K=3,Hh=1,Ww=1,alpha=0.5", 3) == 0) {
        pr.x[0] = 2;
        for (int h = 0; h < 9; h++) {
            int di = h / 3 - 1, dj = h % 3 - 1;
            double Z = 0;
            for (int u = -1; u <= 1; u++)
                for (int v = -1; v <= 1; v++) Z += exp(-0.5 * ((u - di) * (u - di) + (v - dj) * (v - dj)));
            want += pr.w[h] * 2 * exp(-0.5 * (di * di + dj * dj)) / Z;
        }
        y = run_impl(&pr, "mhsa_conv", "ref", &same);
    }
    ok(y && fabs(y[0] - want) <= 1e-6 * fabs(want) + 1e-7,
       "mhsa_conv ref on a 1 x 1 image, 9 heads over the zero padding: %.8g, want %.8g", y ? y[0] : NAN, want);
    free(y);
    problem_free(&pr);
}

/* The ref attention against the separable form, and at large alpha against
 * the convolution. */
static void test_ref_formula(void)
{
    static const char *const cases[] = {"Cin=2,Cout=3,K=3,Hh=5,Ww=7,alpha=0.7", "Cin=3,Cout=2,K=5,Hh=6,Ww=4,alpha=2",
                                        "Cin=1,Cout=1,K=3,Hh=1,Ww=9,alpha=1.5"};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        problem pr;
        int same = 0;
        float *y = NULL;
        double *want = NULL;
        if (problem_make(&pr, "mhsa_conv", cases[c], 10 + c) == 0 && (want = malloc(pr.ny * sizeof *want)) &&
            attention_separable(&pr, cb_params_get(&pr.p, "alpha", 0), want) == 0)
            y = run_impl(&pr, "mhsa_conv", "ref", &same);
        double e = 0, m = 0;
        for (size_t i = 0; y && i < pr.ny; i++) {
            m = fmax(m, fabs(want[i]));
            if (!(fabs(y[i] - want[i]) <= e)) e = fabs(y[i] - want[i]);
        }
        ok(y && same && e <= 1e-6 * m, "mhsa_conv ref = separable softmax form, %s: max err %.3g of max |y| %.3g",
           cases[c], e, m);
        free(y);
        free(want);
        problem_free(&pr);
    }
    /* alpha = 40: e^-40 = 4e-18, the attention is the convolution to float rounding */
    problem pr;
    int same = 0;
    float *ya = NULL, *yc = NULL;
    if (problem_make(&pr, "mhsa_conv", "Cin=4,Cout=3,K=3,Hh=9,Ww=11,alpha=40", 20) == 0) {
        ya = run_impl(&pr, "mhsa_conv", "ref", &same);
        yc = run_impl(&pr, "conv2d", "ref", &same);
    }
    double e = 0, m = 0;
    for (size_t i = 0; ya && yc && i < pr.ny; i++) {
        m = fmax(m, fabs(yc[i]));
        if (!(fabs(ya[i] - yc[i]) <= e)) e = fabs(ya[i] - yc[i]);
    }
    ok(ya && yc && e <= 1e-6 * m, "mhsa_conv ref at alpha = 40 = conv2d ref, borders included: max err %.3g of %.3g", e,
       m);
    free(ya);
    free(yc);
    problem_free(&pr);
}

/* ---- every backend against the ref --------------------------------------- */

static void test_backends(void)
{
    static const char *const cases[] = {
        "Cin=1,Cout=1,K=1,Hh=1,Ww=1",   "Cin=1,Cout=2,K=3,Hh=1,Ww=1", "Cin=2,Cout=1,K=3,Hh=1,Ww=5",
        "Cin=3,Cout=5,K=3,Hh=7,Ww=13",  "Cin=17,Cout=19,K=5,Hh=20,Ww=18", "Cin=5,Cout=3,K=7,Hh=4,Ww=3",
        "Cin=16,Cout=16,K=3,Hh=32,Ww=32",
        "Cin=2,Cout=3,K=3,Hh=40,Ww=41",   /* attention: B = 145-query blocks, a tail of 45 */
    };
    static const struct { const char *kernel, *backend; } impls[] = {
        {"conv2d", "blas"}, {"conv2d", "dnnl"}, {"mhsa_conv", "blas"}, {"mhsa_conv", "dnnl"}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (size_t b = 0; b < sizeof impls / sizeof impls[0]; b++) {
            char params[160];
            snprintf(params, sizeof params, "%s%s", cases[c], strcmp(impls[b].kernel, "mhsa_conv") == 0 ? ",alpha=3" : "");
            problem pr;
            int same = 0, same_ref = 0;
            float *ref = NULL, *o = NULL;
            if (problem_make(&pr, impls[b].kernel, params, 100 + c) == 0) {
                ref = run_impl(&pr, impls[b].kernel, "ref", &same_ref);
                o = ref ? run_impl(&pr, impls[b].kernel, impls[b].backend, &same) : NULL;
            }
            double e = 0, m = 0, d2 = 0, r2 = 0;
            for (size_t i = 0; o && i < pr.ny; i++) {
                double d = fabs((double)o[i] - ref[i]);
                e = test_max_keep_nan(e, d);
                m = fmax(m, fabs(ref[i]));
                d2 += d * d;
                r2 += (double)ref[i] * ref[i];
            }
            double nl2 = sqrt(d2) / sqrt(r2);
            ok(o && same && e <= 1e-4 * m && (nl2 <= 1e-5 || (m == 0 && e == 0)),
               "%s %s = ref, %s: max err %.3g of max |y| %.3g, nl2 %.3g", impls[b].kernel, impls[b].backend, params,
               e, m, nl2);
            free(ref);
            free(o);
            problem_free(&pr);
        }
}

/* ---- the heads floor on a case with a closed form ------------------------- */

static void test_heads_floor(void)
{
    /* Cin = Cout = 3, K = 3: slice Delta is the unit matrix E_{Delta}, so
     * the slices are orthonormal and the singular values are sqrt(pixels
     * kept). On 4 x 4: centre 16, edges 12, corners 9; sum 100, so the floor
     * is sqrt(9 / 100) = 0.3 and the rank 9. */
    double w[3 * 3 * 9];
    memset(w, 0, sizeof w);
    for (int h = 0; h < 9; h++) {
        int o = h / 3, c = h % 3;
        w[((o * 3 + c) * 3 + h / 3) * 3 + h % 3] = 1;
    }
    int rank = 0;
    double fl = NAN;
    int rc = cb_cc_heads_floor(w, 3, 3, 3, 4, 4, &rank, &fl);
    ok(rc == 0 && rank == 9 && fabs(fl - 0.3) <= 1e-12, "heads floor, orthonormal slices on 4 x 4: rank %d, floor %.15g (want 9, 0.3)",
       rank, fl);
    /* every slice the same matrix: rank 1, and K^2 - 1 heads are enough (floor 0) */
    double w1[2 * 2 * 9];
    for (int o = 0; o < 2; o++)
        for (int c = 0; c < 2; c++)
            for (int t = 0; t < 9; t++) w1[(o * 2 + c) * 9 + t] = 1.0 + o - 2.0 * c;
    rc = cb_cc_heads_floor(w1, 2, 2, 3, 8, 8, &rank, &fl);
    ok(rc == 0 && rank == 1 && fl <= 1e-7, "heads floor, all slices equal: rank %d, floor %.3g (want 1, 0)", rank, fl);
}

/* ---- the probe and the spec's checks --------------------------------------- */

/* Evaluate check `name` of the spec on the probe's metrics, with metric
 * `metric` replaced by `value` when metric is non-NULL. */
static cb_verdict_kind eval_with(const cb_spec *s, const char *name, const cb_metrics *ms, const char *metric,
                                 double value, double *measured)
{
    const cb_check *c = cb_spec_find_check(s, name);
    cb_table t = {0};
    cb_verdict v;
    memset(&v, 0, sizeof v);
    v.verdict = CB_INCONCLUSIVE;
    if (!c) return CB_INCONCLUSIVE;
    for (int i = 0; i < ms->n; i++) {
        double x = metric && strcmp(ms->m[i].name, metric) == 0 ? value : ms->m[i].value;
        cb_table_add(&t, CB_ROW_METRIC, s->id, "conv_construction", "-", ms->m[i].name, &ms->m[i].at, &x, 1, NULL);
    }
    cb_check_eval(c, s->id, &t, 1, &v);
    cb_table_free(&t);
    if (measured) *measured = v.measured;
    return v.verdict;
}

static const cb_metric *find_metric(const cb_metrics *ms, const char *name, double alpha)
{
    for (int i = 0; i < ms->n; i++)
        if (strcmp(ms->m[i].name, name) == 0 && (isnan(alpha) || cb_params_get(&ms->m[i].at, "alpha", NAN) == alpha))
            return &ms->m[i];
    return NULL;
}

static void test_probe_and_checks(void)
{
    const cb_probe *pb = cb_probe_find("conv_construction");
    ok(pb != NULL, "conv_construction is registered");
    if (!pb) return;
    cb_params p = {0};
    cb_metrics ms = {0};
    char err[256] = "";
    int rc = cb_params_parse(&p, "Cin=4,Cout=4,K=3,Hh=12") == 0 ? pb->run(&p, 42, &ms, err, sizeof err) : -1;
    /* 1 spread + 7 x 2 per alpha + hard + 3 conv + 3 mhsa + 1 spread + rank + floor */
    ok(rc == 0 && ms.n == 25, "conv_construction runs: %d metrics %s", ms.n, err);
    const cb_metric *e4 = find_metric(&ms, "err64_mhsa", 4), *e16 = find_metric(&ms, "err64_mhsa", 16);
    double slope = e4 && e16 ? log(e16->value / e4->value) / 12 : NAN;
    ok(slope >= -1.05 && slope <= -0.95, "ln(err) falls by %.4f per unit alpha between alpha 4 and 16 (err %.3g -> %.3g)",
       slope, e4 ? e4->value : NAN, e16 ? e16->value : NAN);
    ok(e16 && fabs(cb_params_get(&e16->at, "odds", 0) / exp(16) - 1) < 1e-15, "rows carry odds = e^alpha");
    for (int i = 0; i < ms.n; i++) {
        const cb_metric *m = &ms.m[i];
        double lo = -INFINITY, hi = INFINITY;
        if (strcmp(m->name, "first_order_ratio") == 0) lo = 0.85, hi = 1.1;
        else if (strcmp(m->name, "err64_hard") == 0) lo = 0, hi = 1e-14;
        else if (strncmp(m->name, "err32_", 6) == 0) lo = 0, hi = 1e-5;
        else if (strncmp(m->name, "spread_", 7) == 0) lo = 0.6, hi = 1.3;
        else if (strcmp(m->name, "heads_rank") == 0) lo = hi = 9;
        else if (strcmp(m->name, "floor_fewer_heads") == 0) lo = 0.01, hi = 1;
        else continue;
        ok(m->value >= lo && m->value <= hi, "metric %s = %.4g in [%g, %g] (Cin = Cout = 4, 12 x 12)", m->name,
           m->value, lo, hi);
    }
    cb_metrics_free(&ms);
    cb_params_set(&p, "K", 4);
    ok(pb->run(&p, 42, &ms, err, sizeof err) == -1 && strstr(err, "odd"), "conv_construction rejects K = 4 (%s)", err);
    cb_metrics_free(&ms);

    /* The spec's own checks on this probe's output: they pass on the real
     * metrics, and fail when the compared output is zeroed or constant. */
    cb_spec s;
    memset(&s, 0, sizeof s);
    if (cb_spec_load("tasks/vit_conv_construction.md", &s, err, sizeof err)) {
        ok(0, "load tasks/vit_conv_construction.md: %s", err);
        return;
    }
    memset(&p, 0, sizeof p);
    cb_params_parse(&p, "Cin=16,Cout=16,K=3,Hh=32");
    err[0] = 0;
    rc = pb->run(&p, 7, &ms, err, sizeof err);
    ok(rc == 0, "conv_construction at the spec's parameters: %s", err);
    static const char *const pass[] = {"error_falls_like_exp_minus_alpha", "error_matches_first_order_law",
                                       "hard_attention_equals_conv_fp64", "mhsa_ref_fp32", "mhsa_blas_fp32",
                                       "mhsa_dnnl_fp32",
                                       "conv_blas_vs_naive_fp32", "conv_dnnl_vs_naive_fp32",
                                       "reference_output_not_trivial", "attention_output_not_trivial",
                                       "kernel_needs_all_k2_heads", "fewer_heads_error_floor"};
    for (size_t i = 0; rc == 0 && i < sizeof pass / sizeof pass[0]; i++) {
        double fig = NAN;
        cb_verdict_kind v = eval_with(&s, pass[i], &ms, NULL, 0, &fig);
        ok(v == CB_REPRODUCED, "check %s reproduced on the real metrics (%.4g)", pass[i], fig);
    }
    /* A zeroed output: its spread is 0 and its error against y is 1. */
    size_t n = 64;
    double *z = calloc(n, sizeof *z), *cst = malloc(n * sizeof *cst), *y = malloc(n * sizeof *y);
    double *xx = malloc(n * sizeof *xx);
    if (z && cst && y && xx) {
        float tmp[64];
        test_fill_normal(tmp, n, 99);
        for (size_t i = 0; i < n; i++) y[i] = tmp[i], cst[i] = 3.5, xx[i] = tmp[(i * 7) % n];
        double sz = cb_cc_spread(z, n, xx, n, y, n, 1, 3), sc = cb_cc_spread(cst, n, xx, n, y, n, 1, 3);
        double ez = cb_cc_rel_l2(z, y, n), e0 = cb_cc_rel_l2(y, z, n), ec = cb_cc_rel_l2(cst, y, n);
        double ezz = cb_cc_rel_l2(z, z, n);
        ok(sz == 0 && sc == 0, "spread of a zero and of a constant output: %g, %g", sz, sc);
        ok(ez == 1 && isinf(e0) && isnan(ezz) && ec > 1,
           "error of a zero output 1, of any output against a zero reference inf, zero against zero NaN, "
           "constant %.3g (%g, %g, %g)", ec, ez, e0, ezz);
        static const char *const spreads[2][2] = {{"reference_output_not_trivial", "spread_conv64"},
                                                  {"attention_output_not_trivial", "spread_mhsa_blas"}};
        for (int k = 0; rc == 0 && k < 2; k++) {
            ok(eval_with(&s, spreads[k][0], &ms, spreads[k][1], sz, NULL) == CB_NOT_REPRODUCED &&
                   eval_with(&s, spreads[k][0], &ms, spreads[k][1], sc, NULL) == CB_NOT_REPRODUCED,
               "check %s fails on a zeroed and on a constant output", spreads[k][0]);
        }
        static const char *const eq[][2] = {{"hard_attention_equals_conv_fp64", "err64_hard"},
                                            {"mhsa_blas_fp32", "err32_mhsa_blas"},
                                            {"mhsa_dnnl_fp32", "err32_mhsa_dnnl"},
                                            {"mhsa_ref_fp32", "err32_mhsa_ref"},
                                            {"conv_dnnl_vs_naive_fp32", "err32_conv_dnnl"},
                                            {"conv_blas_vs_naive_fp32", "err32_conv_blas"}};
        for (size_t k = 0; rc == 0 && k < sizeof eq / sizeof eq[0]; k++)
            ok(eval_with(&s, eq[k][0], &ms, eq[k][1], ez, NULL) == CB_NOT_REPRODUCED &&
                   eval_with(&s, eq[k][0], &ms, eq[k][1], e0, NULL) == CB_NOT_REPRODUCED &&
                   eval_with(&s, eq[k][0], &ms, eq[k][1], ezz, NULL) == CB_NOT_REPRODUCED,
               "check %s fails for a zeroed output (error 1), a zeroed reference (inf) and both zero (NaN)", eq[k][0]);
        /* a zeroed attention output at every alpha: error 1 everywhere, slope 0 */
        ok(rc == 0 && eval_with(&s, "error_falls_like_exp_minus_alpha", &ms, "err64_mhsa", ez, NULL) != CB_REPRODUCED,
           "the trend check does not pass when every attention output is zero");
    }
    free(z);
    free(cst);
    free(y);
    free(xx);
    cb_metrics_free(&ms);
    cb_spec_free(&s);
}

/* ---- claimbench run on .npy ------------------------------------------------ */

static void test_run_npy(void)
{
    const char *bin = getenv("CLAIMBENCH");
    if (!bin || !bin[0]) {
        printf("ok %d - claimbench run on .npy # SKIP CLAIMBENCH not set\n", ++tap_g.run);
        return;
    }
    char dir[] = "/tmp/t_vitconv.XXXXXX";
    if (!mkdtemp(dir)) {
        ok(0, "mkdtemp");
        return;
    }
    /* x = 1..9 on one 3 x 3 channel, w = ones: y known by hand (test_ref_known) */
    cb_tensor x = {0}, w = {0};
    cb_shape xs = {3, {1, 3, 3}}, ws = {4, {1, 1, 3, 3}};
    char px[96], pw[96], py[96], err[256] = "";
    snprintf(px, sizeof px, "%s/x.npy", dir);
    snprintf(pw, sizeof pw, "%s/w.npy", dir);
    snprintf(py, sizeof py, "%s/y.npy", dir);
    int made = cb_tensor_alloc(&x, "x", &xs) == 0 && cb_tensor_alloc(&w, "w", &ws) == 0;
    for (int i = 0; made && i < 9; i++) x.data[i] = (float)(i + 1), w.data[i] = 1;
    made = made && cb_npy_write(px, &x, err, sizeof err) == 0 && cb_npy_write(pw, &w, err, sizeof err) == 0;
    static const struct { const char *kernel, *backend, *set; } runs[] = {
        {"conv2d", "ref", ""}, {"conv2d", "blas", ""}, {"conv2d", "dnnl", ""},
        {"mhsa_conv", "ref", "--set alpha=40"}, {"mhsa_conv", "blas", "--set alpha=40"},
        {"mhsa_conv", "dnnl", "--set alpha=40"}};
    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
        char cmd[1024];
        unlink(py);
        snprintf(cmd, sizeof cmd, "'%s' run %s --backend %s %s --in x=%s --in w=%s --out y=%s >/dev/null 2>&1", bin,
                 runs[r].kernel, runs[r].backend, runs[r].set, px, pw, py);
        int st = made ? system(cmd) : -1;
        cb_tensor y = {0};
        int got = st == 0 && cb_npy_read(py, &y, "y", err, sizeof err) == 0;
        const float want[9] = {12, 21, 16, 27, 45, 33, 24, 39, 28};
        double e = got && cb_shape_numel(&y.shape) == 9 ? 0 : INFINITY;
        for (int i = 0; got && i < 9 && cb_shape_numel(&y.shape) == 9; i++) e = fmax(e, fabs(y.data[i] - want[i]));
        ok(got && e <= 1e-4, "claimbench run %s --backend %s %s on .npy: y = window sums, max err %g", runs[r].kernel,
           runs[r].backend, runs[r].set, e);
        if (got) cb_tensor_free(&y);
    }
    cb_tensor_free(&x);
    cb_tensor_free(&w);
    unlink(px);
    unlink(pw);
    unlink(py);
    rmdir(dir);
}

int main(void)
{
    tap_no_plan();
    test_shapes();
    test_ref_known();
    test_ref_formula();
    test_backends();
    test_heads_floor();
    test_probe_and_checks();
    test_run_npy();
    return tap_done();
}
