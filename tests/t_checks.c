/* t_checks.c — the seven claim checks on synthetic tables with known answers.
 *
 * For each type: data that reproduces the claim, data that contradicts it,
 * and data that cannot decide (too noisy, too few points, or missing), plus
 * the bookkeeping every verdict must carry (expected text, paper, detail).
 * Timing rows use five repetitions: "tight" ones spread ±2% around the
 * intended median, "noisy" ones spread over ×3 (0.5..1.5 of the median).
 */
#include "checks.h"
#include "tap.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const double TIGHT[5] = {0.98, 0.99, 1.0, 1.01, 1.02};
static const double NOISY[5] = {0.5, 0.75, 1.0, 1.25, 1.5};
static const uint64_t SEED = 20200629;

/* One row of 5 repetitions, med × spread[i], at params `where` + x=xv. */
static void add_row(cb_table *t, cb_row_kind kind, const char *kernel, const char *backend,
                    const char *metric, const char *where, const char *x, double xv, double med,
                    const double spread[5])
{
    cb_params p = {0};
    if (where) cb_params_parse(&p, where);
    if (x) cb_params_set(&p, x, xv);
    double v[5];
    for (int i = 0; i < 5; i++) v[i] = med * spread[i];
    if (cb_table_add(t, kind, "task", kernel, backend, metric, &p, v, 5, "") != 0) {
        fprintf(stderr, "out of memory\n");
    }
}

/* A check over series A (and B); metric NULL means time. */
static cb_check mk(cb_check_type type, const char *ka, const char *ba, const char *ma,
                   const char *kb, const char *bb, const char *mb, const char *param,
                   const char *where, double lo, double hi)
{
    cb_check c;
    memset(&c, 0, sizeof c);
    snprintf(c.name, sizeof c.name, "check_%d", (int)type);
    c.type = type;
    snprintf(c.a.kernel, sizeof c.a.kernel, "%s", ka);
    snprintf(c.a.backend, sizeof c.a.backend, "%s", ba);
    snprintf(c.a.metric, sizeof c.a.metric, "%s", ma ? ma : "time");
    if (kb) {
        snprintf(c.b.kernel, sizeof c.b.kernel, "%s", kb);
        snprintf(c.b.backend, sizeof c.b.backend, "%s", bb);
        snprintf(c.b.metric, sizeof c.b.metric, "%s", mb ? mb : "time");
    }
    if (param) snprintf(c.param, sizeof c.param, "%s", param);
    if (where) cb_params_parse(&c.where, where);
    c.lo = lo;
    c.hi = hi;
    snprintf(c.paper, sizeof c.paper, "paper figure %d", (int)type);
    return c;
}

static cb_verdict run(const cb_check *c, const cb_table *t)
{
    cb_verdict v;
    cb_check_eval(c, "task", t, SEED, &v);
    diag("%s: %s, measured %.4g [%.4g, %.4g]%s; %s", v.expected, cb_verdict_name(v.verdict),
         v.measured, v.lo, v.hi, v.has_interval ? "" : " (no interval)", v.detail);
    return v;
}

static int has(const cb_verdict *v, const char *s) { return strstr(v->detail, s) != NULL; }

/* A time series kernel/backend over N = 256 .. 256·2^(k-1): c·N^slope. */
static void time_series(cb_table *t, const char *kernel, const char *backend, const char *where,
                        int k, double c, double slope, const double spread[5])
{
    for (int i = 0; i < k; i++) {
        double N = 256.0 * (1 << i);
        add_row(t, CB_ROW_TIME, kernel, backend, "time", where, "N", N, c * pow(N, slope), spread);
    }
}

static void test_scaling(void)
{
    cb_table t = {0};
    time_series(&t, "lin", "blas", "causal=1", 5, 1e-9, 1.0, TIGHT);   /* slope 1 */
    time_series(&t, "lin", "blas", "causal=0", 5, 1e-9, 2.0, TIGHT);   /* slope 2 */
    time_series(&t, "noisy", "blas", NULL, 3, 1e-9, 1.15, NOISY);      /* slope 1.15, ×3 spread */
    time_series(&t, "few", "blas", NULL, 2, 1e-9, 1.0, TIGHT);
    for (int i = 0; i < 3; i++)                                         /* 3 points over 2× */
        add_row(&t, CB_ROW_TIME, "narrow", "blas", "time", NULL, "N", 1000 + 500 * i, 1e-6 * (1 + i), TIGHT);
    cb_table_add(&t, CB_ROW_SKIP, "task", "lin", "blas", "time",
                 &(cb_params){2, {"N", "causal"}, {8192, 1}}, NULL, 0, "out of memory");

    cb_check c = mk(CB_CHECK_SCALING, "lin", "blas", NULL, NULL, NULL, NULL, "N", "causal=1", 0.85, 1.2);
    cb_verdict v = run(&c, &t);
    ok(v.verdict == CB_REPRODUCED && fabs(v.measured - 1) < 1e-9 && v.has_interval &&
       v.lo <= 1 && v.hi >= 1 && v.hi - v.lo < 0.05,
       "scaling: slope 1 with ±2%% noise is reproduced in [0.85, 1.2]");
    ok(strcmp(v.expected, "slope in [0.85, 1.2]") == 0 && strcmp(v.paper, "paper figure 0") == 0 &&
       strcmp(v.task, "task") == 0 && strcmp(v.check, "check_0") == 0 && v.type == CB_CHECK_SCALING,
       "scaling: expected text, paper, task, check and type are filled (\"%s\")", v.expected);
    ok(has(&v, "1 skipped") && has(&v, "out of memory"), "scaling: the skipped row is mentioned with its reason");

    cb_verdict again;
    cb_check_eval(&c, "task", &t, SEED, &again);
    ok(again.lo == v.lo && again.hi == v.hi && again.measured == v.measured &&
       strcmp(again.detail, v.detail) == 0, "scaling: the same seed gives the same verdict and interval");

    c = mk(CB_CHECK_SCALING, "lin", "blas", NULL, NULL, NULL, NULL, "N", "causal=0", 0.85, 1.2);
    v = run(&c, &t);
    ok(v.verdict == CB_NOT_REPRODUCED && fabs(v.measured - 2) < 1e-9 && v.lo > 1.2,
       "scaling: slope 2 is not reproduced in [0.85, 1.2]");

    c = mk(CB_CHECK_SCALING, "noisy", "blas", NULL, NULL, NULL, NULL, "N", NULL, 0.85, 1.2);
    v = run(&c, &t);
    ok(v.verdict == CB_INCONCLUSIVE && v.has_interval && v.lo < 1.2 && v.hi > 1.2,
       "scaling: ×3-spread repetitions give an interval straddling 1.2 → inconclusive");
    cb_verdict other;
    cb_check_eval(&c, "task", &t, SEED + 1, &other);
    ok(other.lo != v.lo || other.hi != v.hi, "scaling: another seed moves the noisy interval");

    c = mk(CB_CHECK_SCALING, "few", "blas", NULL, NULL, NULL, NULL, "N", NULL, 0.85, 1.2);
    v = run(&c, &t);
    ok(v.verdict == CB_INCONCLUSIVE && has(&v, "too few points") && isnan(v.measured),
       "scaling: 2 points → inconclusive (too few points)");
    c = mk(CB_CHECK_SCALING, "narrow", "blas", NULL, NULL, NULL, NULL, "N", NULL, 0.85, 1.2);
    v = run(&c, &t);
    ok(v.verdict == CB_INCONCLUSIVE && has(&v, "4×"), "scaling: 3 points spanning 2× → inconclusive");

    c = mk(CB_CHECK_SCALING, "lin", "dnnl", NULL, NULL, NULL, NULL, "N", "causal=1", 0.85, 1.2);
    v = run(&c, &t);
    ok(v.verdict == CB_INCONCLUSIVE && has(&v, "no rows for kernel lin backend dnnl metric time where causal=1"),
       "scaling: a missing series is inconclusive and named");

    /* all rows with one repetition: no interval, the point decides */
    cb_table one = {0};
    for (int i = 0; i < 4; i++) {
        cb_params p = {0};
        cb_params_set(&p, "N", 256 << i);
        double y = 1e-9 * pow(256 << i, 1.1);
        cb_table_add(&one, CB_ROW_TIME, "task", "k", "ref", "time", &p, &y, 1, "");
    }
    c = mk(CB_CHECK_SCALING, "k", "ref", NULL, NULL, NULL, NULL, "N", NULL, 0.85, 1.2);
    v = run(&c, &one);
    ok(v.verdict == CB_REPRODUCED && !v.has_interval && v.lo == v.measured && v.hi == v.measured &&
       fabs(v.measured - 1.1) < 1e-9, "scaling: single repetitions collapse the interval; the point decides");
    c.hi = 1.05;
    v = run(&c, &one);
    ok(v.verdict == CB_NOT_REPRODUCED, "scaling: single repetitions, point outside → not reproduced");
    cb_table_free(&one);

    /* two rows at the same N: ambiguous */
    add_row(&t, CB_ROW_TIME, "lin", "blas", "time", "causal=1", "N", 1024, 5e-6, TIGHT);
    c = mk(CB_CHECK_SCALING, "lin", "blas", NULL, NULL, NULL, NULL, "N", "causal=1", 0.85, 1.2);
    v = run(&c, &t);
    ok(v.verdict == CB_INCONCLUSIVE && has(&v, "several rows of lin/blas at N=1024"),
       "scaling: two rows at the same swept value are inconclusive");

    cb_table empty = {0};
    v = run(&c, &empty);
    ok(v.verdict == CB_INCONCLUSIVE && has(&v, "no rows for kernel lin"), "scaling: an empty table is inconclusive");
    cb_table_free(&t);
}

static void test_trend(void)
{
    cb_table t = {0};
    for (int i = 0; i < 5; i++) {
        double m = 16 << i;
        add_row(&t, CB_ROW_METRIC, "favor", "-", "mse", "d=64", "m", m, 3.0 / m, TIGHT);
        add_row(&t, CB_ROW_METRIC, "favor", "-", "mse_flat", "d=64", "m", m, 0.2, TIGHT);
        add_row(&t, CB_ROW_METRIC, "favor", "-", "mse_zero", "d=64", "m", m, i == 2 ? 0 : 1.0 / m, TIGHT);
    }
    for (int i = 0; i < 3; i++) {
        double m = 16 << i;
        add_row(&t, CB_ROW_METRIC, "favor", "-", "mse_noisy", "d=64", "m", m, pow(m, -0.9), NOISY);
    }
    cb_check c = mk(CB_CHECK_TREND, "favor", "-", "mse", NULL, NULL, NULL, "m", "d=64", -1.2, -0.8);
    cb_verdict v = run(&c, &t);
    ok(v.verdict == CB_REPRODUCED && fabs(v.measured + 1) < 1e-9 && strcmp(v.expected, "slope in [-1.2, -0.8]") == 0,
       "trend: MSE ∝ 1/m gives slope -1, reproduced");
    ok(has(&v, "mse"), "trend: the detail names the metric");
    c = mk(CB_CHECK_TREND, "favor", "-", "mse_flat", NULL, NULL, NULL, "m", "d=64", -1.2, -0.8);
    v = run(&c, &t);
    ok(v.verdict == CB_NOT_REPRODUCED && fabs(v.measured) < 1e-9, "trend: a flat metric (slope 0) is not reproduced");
    c = mk(CB_CHECK_TREND, "favor", "-", "mse_noisy", NULL, NULL, NULL, "m", "d=64", -1.2, -0.8);
    v = run(&c, &t);
    ok(v.verdict == CB_INCONCLUSIVE && v.lo < -0.8 && v.hi > -0.8, "trend: ×3-spread metric straddles -0.8 → inconclusive");
    c = mk(CB_CHECK_TREND, "favor", "-", "mse_zero", NULL, NULL, NULL, "m", "d=64", -1.2, -0.8);
    v = run(&c, &t);
    ok(v.verdict == CB_INCONCLUSIVE && has(&v, "≤ 0"), "trend: a zero value is inconclusive with the reason");
    c = mk(CB_CHECK_TREND, "favor", "-", "mse", NULL, NULL, NULL, "m", "d=128", -1.2, -0.8);
    v = run(&c, &t);
    ok(v.verdict == CB_INCONCLUSIVE && has(&v, "no rows for probe favor metric mse where d=128"),
       "trend: a missing metric series is inconclusive and named");
    cb_table_free(&t);
}

static void test_crossover(void)
{
    /* N = 256 .. 8192; A flat at 10, B grows. */
    static const double B_cross[6] = {1, 3, 6, 20, 40, 80};    /* A < B from 2048 */
    static const double B_never[6] = {1, 2, 3, 4, 5, 6};
    static const double B_close[6] = {1, 3, 6, 10.5, 40, 80};  /* 2048 undecided under noise */
    cb_table t = {0};
    for (int i = 0; i < 6; i++) {
        double N = 256 << i;
        add_row(&t, CB_ROW_TIME, "lin", "blas", "time", NULL, "N", N, 10, TIGHT);
        add_row(&t, CB_ROW_TIME, "soft", "blas", "time", NULL, "N", N, B_cross[i], TIGHT);
        add_row(&t, CB_ROW_TIME, "soft", "ref", "time", NULL, "N", N, B_never[i], TIGHT);
        add_row(&t, CB_ROW_TIME, "lin", "dnnl", "time", NULL, "N", N, 10, NOISY);
        add_row(&t, CB_ROW_TIME, "soft", "dnnl", "time", NULL, "N", N, B_close[i], NOISY);
    }
    cb_check c = mk(CB_CHECK_CROSSOVER, "lin", "blas", NULL, "soft", "blas", NULL, "N", NULL, 0, 2048);
    cb_verdict v = run(&c, &t);
    ok(v.verdict == CB_REPRODUCED && v.measured == 2048 && v.lo == 2048 && v.hi == 2048,
       "crossover: A below B from N=2048 on, reproduced in [0, 2048]");
    ok(strcmp(v.expected, "crossover in [0, 2048]") == 0 && has(&v, "from N=2048 on") &&
       has(&v, "ratio B/A at the largest N=8192 = 8"), "crossover: expected text and detail (\"%s\")", v.expected);
    c.hi = 1024;
    v = run(&c, &t);
    ok(v.verdict == CB_NOT_REPRODUCED && v.measured == 2048, "crossover: at 2048 with [0, 1024] expected → not reproduced");
    c = mk(CB_CHECK_CROSSOVER, "lin", "blas", NULL, "soft", "ref", NULL, "N", NULL, 0, 2048);
    v = run(&c, &t);
    ok(v.verdict == CB_NOT_REPRODUCED && isnan(v.measured) && has(&v, "no crossover"),
       "crossover: A never below B → not reproduced, measured NaN");
    c = mk(CB_CHECK_CROSSOVER, "lin", "dnnl", NULL, "soft", "dnnl", NULL, "N", NULL, 0, 2048);
    v = run(&c, &t);
    ok(v.verdict == CB_INCONCLUSIVE && v.has_interval, "crossover: ×3 noise near N=2048 → inconclusive");
    c = mk(CB_CHECK_CROSSOVER, "lin", "blas", NULL, "soft", "fftw", NULL, "N", NULL, 0, 2048);
    v = run(&c, &t);
    ok(v.verdict == CB_INCONCLUSIVE && has(&v, "no rows for kernel soft backend fftw"),
       "crossover: missing series B is inconclusive and named");
    /* A and B over disjoint sweeps: nothing to compare */
    add_row(&t, CB_ROW_TIME, "odd", "blas", "time", NULL, "N", 300, 1, TIGHT);
    c = mk(CB_CHECK_CROSSOVER, "odd", "blas", NULL, "soft", "blas", NULL, "N", NULL, 0, 2048);
    v = run(&c, &t);
    ok(v.verdict == CB_INCONCLUSIVE && has(&v, "too few points"), "crossover: no common points → inconclusive");
    cb_table_free(&t);
}

static void test_ratio(void)
{
    cb_table t = {0};
    add_row(&t, CB_ROW_TIME, "softmax_dec", "ref", "time", "N=8192", NULL, 0, 100, TIGHT);
    add_row(&t, CB_ROW_TIME, "recurrent", "ref", "time", "N=8192", NULL, 0, 5, TIGHT);      /* ×20 */
    add_row(&t, CB_ROW_TIME, "recurrent", "blas", "time", "N=8192", NULL, 0, 20, TIGHT);    /* ×5 */
    add_row(&t, CB_ROW_TIME, "recurrent", "dnnl", "time", "N=8192", NULL, 0, 9.5, NOISY);   /* ×10.5, noisy */
    add_row(&t, CB_ROW_TIME, "recurrent", "ref", "time", "N=4096", NULL, 0, 2, TIGHT);
    add_row(&t, CB_ROW_TIME, "recurrent", "ref", "time", "N=4096", NULL, 0, 2, TIGHT);
    cb_check c = mk(CB_CHECK_RATIO, "softmax_dec", "ref", NULL, "recurrent", "ref", NULL, NULL, "N=8192", 10, INFINITY);
    cb_verdict v = run(&c, &t);
    ok(v.verdict == CB_REPRODUCED && fabs(v.measured - 20) < 1e-9 && v.lo > 19 && v.hi < 21,
       "ratio: 20× with ≥ 10 expected is reproduced");
    ok(strcmp(v.expected, "ratio ≥ 10") == 0, "ratio: expected text \"%s\"", v.expected);
    c = mk(CB_CHECK_RATIO, "softmax_dec", "ref", NULL, "recurrent", "blas", NULL, NULL, "N=8192", 10, INFINITY);
    v = run(&c, &t);
    ok(v.verdict == CB_NOT_REPRODUCED && fabs(v.measured - 5) < 1e-9, "ratio: 5× with ≥ 10 expected is not reproduced");
    c = mk(CB_CHECK_RATIO, "softmax_dec", "ref", NULL, "recurrent", "dnnl", NULL, NULL, "N=8192", 10, INFINITY);
    v = run(&c, &t);
    ok(v.verdict == CB_INCONCLUSIVE && v.lo < 10 && v.hi > 10, "ratio: a noisy 10.5× straddles 10 → inconclusive");
    c = mk(CB_CHECK_RATIO, "softmax_dec", "ref", NULL, "recurrent", "ref", NULL, NULL, "N=4096", 10, INFINITY);
    v = run(&c, &t);
    ok(v.verdict == CB_INCONCLUSIVE && has(&v, "no rows for kernel softmax_dec backend ref metric time where N=4096"),
       "ratio: no row for A at the point → inconclusive");
    c = mk(CB_CHECK_RATIO, "recurrent", "ref", NULL, "softmax_dec", "ref", NULL, NULL, NULL, 0, 1);
    v = run(&c, &t);
    ok(v.verdict == CB_INCONCLUSIVE && has(&v, "3 rows match"), "ratio: a where that selects several rows → inconclusive");
    cb_table_free(&t);
}

static void test_order(void)
{
    cb_table t = {0};
    for (int i = 0; i < 3; i++) {
        double m = 16 << i, iid = 1.0 / m;
        add_row(&t, CB_ROW_METRIC, "favor", "-", "mse_iid", NULL, "m", m, iid, TIGHT);
        add_row(&t, CB_ROW_METRIC, "favor", "-", "mse_ort", NULL, "m", m, 0.5 * iid, TIGHT);
        add_row(&t, CB_ROW_METRIC, "favor", "-", "mse_bad", NULL, "m", m, (i == 2 ? 2 : 0.5) * iid, TIGHT);
        add_row(&t, CB_ROW_METRIC, "favor", "-", "mse_same", NULL, "m", m, 0.97 * iid, NOISY);
    }
    cb_check c = mk(CB_CHECK_ORDER, "favor", "-", "mse_ort", "favor", "-", "mse_iid", NULL, NULL, 0, 0);
    cb_verdict v = run(&c, &t);
    ok(v.verdict == CB_REPRODUCED && fabs(v.measured - 0.5) < 1e-9 && v.hi < 1 && strcmp(v.expected, "A < B") == 0,
       "order: orthogonal at half the iid error is reproduced");
    c = mk(CB_CHECK_ORDER, "favor", "-", "mse_bad", "favor", "-", "mse_iid", NULL, NULL, 0, 0);
    v = run(&c, &t);
    ok(v.verdict == CB_NOT_REPRODUCED && fabs(v.measured - 2) < 1e-9 && has(&v, "m=64"),
       "order: A twice B at m=64 → not reproduced, and the point is named");
    c = mk(CB_CHECK_ORDER, "favor", "-", "mse_same", "favor", "-", "mse_iid", NULL, NULL, 0, 0);
    v = run(&c, &t);
    ok(v.verdict == CB_INCONCLUSIVE && v.lo < 1 && v.hi >= 1, "order: a noisy 0.97 ratio → inconclusive");
    c = mk(CB_CHECK_ORDER, "favor", "-", "mse_ort", "favor", "-", "mse_iid", NULL, "m=32", 0, 0);
    v = run(&c, &t);
    ok(v.verdict == CB_REPRODUCED && has(&v, "1 point"), "order: where narrows the comparison to one point");
    c = mk(CB_CHECK_ORDER, "favor", "-", "mse_ort", "favor", "-", "mse_sjlt", NULL, NULL, 0, 0);
    v = run(&c, &t);
    ok(v.verdict == CB_INCONCLUSIVE && has(&v, "no rows for probe favor metric mse_sjlt"),
       "order: missing B is inconclusive and named");
    cb_table_free(&t);
}

static void test_bound_equivalence(void)
{
    cb_table t = {0};
    double good[] = {0.01, 0.05, 1.0 / 9.0, 0.1};
    double bad[] = {0.01, 0.2, 0.05};
    double nan1[] = {0.01, NAN};
    double eq_ok[] = {1e-13, 3e-12, 0};
    double eq_bad[] = {1e-13, 1e-8};
    double eq_inf[] = {1e-13, -INFINITY};
    cb_params p = {0};
    cb_params_set(&p, "n", 100);
    cb_table_add(&t, CB_ROW_METRIC, "task", "pam", "-", "relerr", &p, good, 4, "");
    cb_table_add(&t, CB_ROW_METRIC, "task", "pam", "-", "relerr_bad", &p, bad, 3, "");
    cb_table_add(&t, CB_ROW_METRIC, "task", "pam", "-", "relerr_nan", &p, nan1, 2, "");
    cb_table_add(&t, CB_ROW_METRIC, "task", "gd", "-", "err", &p, eq_ok, 3, "");
    cb_table_add(&t, CB_ROW_METRIC, "task", "gd", "-", "err_bad", &p, eq_bad, 2, "");
    cb_table_add(&t, CB_ROW_METRIC, "task", "gd", "-", "err_nan", &p, nan1, 2, "");
    cb_table_add(&t, CB_ROW_METRIC, "task", "gd", "-", "err_inf", &p, eq_inf, 2, "");

    cb_check c = mk(CB_CHECK_BOUND, "pam", "-", "relerr", NULL, NULL, NULL, NULL, NULL, 0, 1.0 / 9.0);
    cb_verdict v = run(&c, &t);
    ok(v.verdict == CB_REPRODUCED && v.measured == 1.0 / 9.0 && !v.has_interval,
       "bound: every value in [0, 1/9] → reproduced, measured = max");
    ok(strcmp(v.expected, "in [0, 0.111111]") == 0, "bound: expected text \"%s\"", v.expected);
    c = mk(CB_CHECK_BOUND, "pam", "-", "relerr_bad", NULL, NULL, NULL, NULL, NULL, 0, 1.0 / 9.0);
    v = run(&c, &t);
    ok(v.verdict == CB_NOT_REPRODUCED && v.measured == 0.2 && has(&v, "1 outside"),
       "bound: a value of 0.2 → not reproduced, measured = 0.2");
    c = mk(CB_CHECK_BOUND, "pam", "-", "relerr_nan", NULL, NULL, NULL, NULL, NULL, 0, 1.0 / 9.0);
    v = run(&c, &t);
    ok(v.verdict == CB_NOT_REPRODUCED && isnan(v.measured) && has(&v, "non-finite"), "bound: NaN never passes");
    c = mk(CB_CHECK_BOUND, "pam", "-", "relerr", NULL, NULL, NULL, NULL, NULL, 0.005, INFINITY);
    v = run(&c, &t);
    ok(v.verdict == CB_REPRODUCED && v.measured == 0.01 && strcmp(v.expected, "≥ 0.005") == 0,
       "bound: with hi = inf the measured figure is the minimum (\"%s\")", v.expected);
    c.lo = 0.02;
    v = run(&c, &t);
    ok(v.verdict == CB_NOT_REPRODUCED && v.measured == 0.01, "bound: a value below lo → not reproduced");
    c = mk(CB_CHECK_BOUND, "pam", "-", "relerr", NULL, NULL, NULL, NULL, "n=200", 0, 1.0 / 9.0);
    v = run(&c, &t);
    ok(v.verdict == CB_INCONCLUSIVE && has(&v, "no rows for probe pam metric relerr where n=200"),
       "bound: no data → inconclusive, naming the series");

    c = mk(CB_CHECK_EQUIVALENCE, "gd", "-", "err", NULL, NULL, NULL, NULL, NULL, 0, 1e-10);
    v = run(&c, &t);
    ok(v.verdict == CB_REPRODUCED && v.measured == 3e-12 && strcmp(v.expected, "≤ 1e-10") == 0,
       "equivalence: max error 3e-12 ≤ 1e-10 → reproduced (\"%s\")", v.expected);
    c = mk(CB_CHECK_EQUIVALENCE, "gd", "-", "err_bad", NULL, NULL, NULL, NULL, NULL, 0, 1e-10);
    v = run(&c, &t);
    ok(v.verdict == CB_NOT_REPRODUCED && v.measured == 1e-8, "equivalence: max error 1e-8 → not reproduced");
    c = mk(CB_CHECK_EQUIVALENCE, "gd", "-", "err_nan", NULL, NULL, NULL, NULL, NULL, 0, 1e-10);
    v = run(&c, &t);
    ok(v.verdict == CB_NOT_REPRODUCED && isnan(v.measured), "equivalence: a NaN error is not reproduced");
    c = mk(CB_CHECK_EQUIVALENCE, "gd", "-", "err_inf", NULL, NULL, NULL, NULL, NULL, 0, 1e-10);
    v = run(&c, &t);
    ok(v.verdict == CB_NOT_REPRODUCED, "equivalence: an infinite error is not reproduced");
    c = mk(CB_CHECK_EQUIVALENCE, "gd", "-", "err_missing", NULL, NULL, NULL, NULL, NULL, 0, 1e-10);
    v = run(&c, &t);
    ok(v.verdict == CB_INCONCLUSIVE && isnan(v.measured) && has(&v, "no rows"), "equivalence: no data → inconclusive");
    cb_table_add(&t, CB_ROW_METRIC, "task", "gd", "-", "err_empty", &p, NULL, 0, "");
    c = mk(CB_CHECK_EQUIVALENCE, "gd", "-", "err_empty", NULL, NULL, NULL, NULL, NULL, 0, 1e-10);
    v = run(&c, &t);
    ok(v.verdict == CB_INCONCLUSIVE && has(&v, "no values"), "equivalence: rows without values → inconclusive");
    cb_table_free(&t);
}

int main(void)
{
    tap_no_plan();
    ok(strcmp(cb_verdict_name(CB_REPRODUCED), "reproduced") == 0 &&
       strcmp(cb_verdict_name(CB_NOT_REPRODUCED), "not reproduced") == 0 &&
       strcmp(cb_verdict_name(CB_INCONCLUSIVE), "inconclusive") == 0, "verdict names");
    test_scaling();
    test_trend();
    test_crossover();
    test_ratio();
    test_order();
    test_bound_equivalence();
    return tap_done();
}
