/* t_compare.c — the statistics behind `claimbench compare` (noise.h):
 * Mann–Whitney U p-values against values computed by hand and with
 * scipy.stats.mannwhitneyu 1.10.1 (two-sided, use_continuity=True; the
 * method named per case), the bootstrap ratio of medians, the noise
 * threshold and machine-class names. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "noise.h"
#include "tap.h"

static int close_rel(double a, double b, double tol) { return fabs(a - b) <= tol * fabs(b); }

static void utest_case(const char *name, const double *x, int nx, const double *y, int ny,
                       double u_want, double p_want, int exact_want)
{
    cb_utest t;
    int rc = cb_mann_whitney(x, nx, y, ny, &t);
    ok(rc == 0 && t.u == u_want && close_rel(t.p, p_want, 1e-9) && t.exact == exact_want,
       "U test %s: U = %g (want %g), p = %.12g (want %.12g), %s", name, t.u, u_want, t.p, p_want,
       t.exact ? "exact" : "normal approximation");
}

int main(void)
{
    tap_no_plan();

    /* By hand: 3 against 3, fully separated. U = 0 is one arrangement of
     * C(6, 3) = 20, two-sided p = 2/20. */
    double a3[] = {1, 2, 3}, b3[] = {4, 5, 6};
    utest_case("3 vs 3 separated", a3, 3, b3, 3, 0, 0.1, 1);
    /* By hand: 9 against 9 separated, p = 2 / C(18, 9) = 2/48620. */
    double a9[9], b9[9];
    for (int i = 0; i < 9; i++) {
        a9[i] = i;
        b9[i] = 10 + i;
    }
    utest_case("9 vs 9 separated", a9, 9, b9, 9, 0, 2.0 / 48620, 1);
    utest_case("9 vs 9 separated, sides swapped", b9, 9, a9, 9, 81, 2.0 / 48620, 1);
    ok(close_rel(cb_utest_min_p(9, 9), 2.0 / 48620, 1e-9) && close_rel(cb_utest_min_p(3, 3), 0.1, 1e-9),
       "smallest exact p: 9 vs 9 = %.6g, 3 vs 3 = %.6g", cb_utest_min_p(9, 9), cb_utest_min_p(3, 3));

    /* scipy, method='exact'. */
    double x5[] = {1.1, 2.3, 0.7, 5.2, 3.3}, y6[] = {4.1, 6.0, 2.9, 7.5, 5.5, 8.1};
    utest_case("5 vs 6 interleaved (scipy exact)", x5, 5, y6, 6, 3, 0.030303030303030304, 1);
    double x20[20], y25[25];
    for (int i = 1; i <= 20; i++)
        x20[i - 1] = fmod(i * 0.618033988749895, 1.0);
    for (int j = 1; j <= 25; j++)
        y25[j - 1] = fmod(j * 0.414213562373095, 1.0) * 1.2;
    utest_case("20 vs 25 overlapping (scipy exact)", x20, 20, y25, 25, 201, 0.27090066855496003, 1);

    /* scipy, method='asymptotic': ties force the normal approximation with
     * the tie correction; more than 50 a side too. */
    double xt[] = {1, 2, 2, 3, 4}, yt[] = {2, 3, 3, 5, 6, 7};
    utest_case("5 vs 6 with ties (scipy asymptotic)", xt, 5, yt, 6, 6, 0.11390314458853068, 0);
    double x60[60], y60[60];
    for (int i = 0; i < 60; i++) {
        x60[i] = i + 0.37 * (i % 7);
        y60[i] = i + 3.1 + 0.53 * (i % 5);
    }
    utest_case("60 vs 60 (scipy asymptotic)", x60, 60, y60, 60, 1622, 0.351526021642926, 0);
    double same[] = {1, 2, 3, 4};
    utest_case("identical samples", same, 4, same, 4, 8, 1.0, 0);
    double nan_x[] = {NAN, 1, 2, 3};
    cb_utest tn;
    int rc;
    rc = cb_mann_whitney(nan_x, 4, b3, 3, &tn);
    ok(rc == 0 && close_rel(tn.p, 0.1, 1e-9), "NaN values are left out (p = %g)", tn.p);
    ok(cb_mann_whitney(a3, 0, b3, 3, &tn) == -1 && tn.p == 1, "an empty sample is refused");

    /* Ratio of medians: the point estimate is exact, the interval holds it,
     * the same seed gives the same interval, a clear shift excludes 1. */
    double base[9] = {1.00, 1.02, 0.98, 1.01, 0.99, 1.03, 0.97, 1.00, 1.01};
    double slow[9];
    for (int i = 0; i < 9; i++)
        slow[i] = 2 * base[i];
    double r, lo, hi, r2, lo2, hi2;
    rc = cb_ratio_ci(base, 9, slow, 9, 2000, 42, 0.95, &r, &lo, &hi);
    ok(rc == 0 && close_rel(r, 2.0, 1e-12) && lo <= r && r <= hi && lo > 1.9 && hi < 2.1,
       "ratio of medians of a 2x slower copy: %g [%g, %g]", r, lo, hi);
    cb_ratio_ci(base, 9, slow, 9, 2000, 42, 0.95, &r2, &lo2, &hi2);
    ok(lo == lo2 && hi == hi2, "the bootstrap interval is a function of the seed");
    rc = cb_ratio_ci(base, 9, base, 9, 2000, 7, 0.95, &r, &lo, &hi);
    ok(rc == 0 && r == 1 && lo < 1 && hi > 1, "a sample against itself: 1 inside [%g, %g]", lo, hi);
    double zero[] = {0, 0};
    ok(cb_ratio_ci(zero, 2, base, 9, 100, 1, 0.95, &r, &lo, &hi) == -1,
       "a non-positive median is refused");

    /* Threshold: the quantile of |log ratio| as a relative change, floored. */
    double al[101];
    for (int i = 0; i <= 100; i++)
        al[i] = log(1 + i / 1000.0);        /* 0% .. 10% */
    double t99 = cb_noise_threshold(al, 101, 0.99, 0.0);
    ok(close_rel(t99, 0.099, 1e-9), "threshold = quantile 0.99 of 0..10%% = %.6g (want 0.099)", t99);
    ok(cb_noise_threshold(al, 101, 0.99, 0.15) == 0.15, "the floor wins over a small quantile");
    ok(isnan(cb_noise_threshold(al, 0, 0.99, 0.05)), "no values: NaN");

    /* Machine classes. */
    static const struct { const char *cpu, *cores, *want; } mc[] = {
        {"AMD EPYC", "2", "amd-epyc-2c"},
        {"Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", "4", "intel-xeon-platinum-8375c-4c"},
        {"AMD EPYC 7B13 64-Core Processor", "2", "amd-epyc-7b13-2c"},
        {"AMD Ryzen 9 5950X 16-Core Processor", "32", "amd-ryzen-9-5950x-32c"},
        {"", "2", "unknown-2c"},
        {NULL, NULL, "unknown"},
    };
    for (size_t i = 0; i < sizeof mc / sizeof mc[0]; i++) {
        char buf[128];
        cb_machine_class(mc[i].cpu, mc[i].cores, buf, sizeof buf);
        ok(strcmp(buf, mc[i].want) == 0, "machine class of '%s' x %s = %s (want %s)",
           mc[i].cpu ? mc[i].cpu : "(null)", mc[i].cores ? mc[i].cores : "(null)", buf, mc[i].want);
    }
    char tiny[8];
    cb_machine_class("Intel(R) Xeon(R) Platinum", "64", tiny, sizeof tiny);
    ok(strlen(tiny) < sizeof tiny, "a short buffer is never overrun ('%s')", tiny);
    return tap_done();
}
