/* t_stats.c — the statistics under the claim checks, against known answers.
 *
 * Quantiles are checked against R's quantile(type = 7) values worked by hand;
 * the generator against the published splitmix64 seed-0 outputs and the
 * xoshiro256** recurrence evaluated independently (in Python) from that state.
 */
#include "stats.h"
#include "tap.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static double stat_median(const double *x, int n, void *ctx)
{
    (void)ctx;
    double buf[64];
    memcpy(buf, x, (size_t)n * sizeof *buf);
    return cb_median_inplace(buf, n);
}

int main(void)
{
    tap_no_plan();

    /* ---- median and quantiles ---- */
    double odd[] = {3, 1, 2}, even[] = {4, 1, 3, 2}, one[] = {7.5};
    ok(cb_median(odd, 3) == 2, "median of an odd count is the middle value");
    ok(cb_median(even, 4) == 2.5, "median of an even count is the mean of the middle two");
    ok(odd[0] == 3 && even[0] == 4, "cb_median leaves its input untouched");
    ok(cb_median(one, 1) == 7.5, "median of one value");
    ok(isnan(cb_median(one, 0)), "median of nothing is NaN");

    double ten[10];
    for (int i = 0; i < 10; i++) ten[i] = i + 1;
    ok(fabs(cb_quantile_sorted(ten, 10, 0.25) - 3.25) < 1e-12, "type-7 quantile(1:10, 0.25) = 3.25");
    ok(fabs(cb_quantile_sorted(ten, 10, 0.9) - 9.1) < 1e-12, "type-7 quantile(1:10, 0.9) = 9.1");
    ok(cb_quantile_sorted(ten, 10, 0) == 1 && cb_quantile_sorted(ten, 10, 1) == 10,
       "quantiles 0 and 1 are the extremes");
    double pw[] = {16, 2, 8, 1, 4};
    ok(fabs(cb_quantile(pw, 5, 0.3) - 2.4) < 1e-12, "type-7 quantile(c(1,2,4,8,16), 0.3) = 2.4");
    ok(fabs(cb_quantile(pw, 5, 0.975) - 15.2) < 1e-12, "type-7 quantile(c(1,2,4,8,16), 0.975) = 15.2");

    double mixed[] = {NAN, 1, INFINITY, -1};
    cb_sort(mixed, 4);
    ok(mixed[0] == -1 && mixed[1] == 1 && isinf(mixed[2]) && isnan(mixed[3]),
       "sorting puts +inf after numbers and NaN last");
    double infs[] = {1, INFINITY, INFINITY};
    ok(isinf(cb_quantile_sorted(infs, 3, 0.9)) && isinf(cb_quantile_sorted(infs, 3, 0.5)),
       "quantiles among infinities are inf, not NaN");
    ok(cb_quantile_sorted(infs, 3, 0.25) == INFINITY, "interpolating toward inf gives inf");

    /* ---- moments ---- */
    double m8[] = {2, 4, 4, 4, 5, 5, 7, 9};
    ok(cb_mean(m8, 8) == 5, "mean");
    ok(fabs(cb_sd(m8, 8) - sqrt(32.0 / 7.0)) < 1e-12, "sample sd uses n-1: sqrt(32/7)");
    ok(isnan(cb_sd(m8, 1)), "sd of one value is NaN");
    double mad7[] = {1, 1, 2, 2, 4, 6, 9};
    ok(cb_mad(mad7, 7) == 1, "MAD of {1,1,2,2,4,6,9} is 1");

    /* ---- OLS ---- */
    double x[6], y[6], slope = 0, icpt = 0;
    for (int i = 0; i < 6; i++) { x[i] = 100 + i * 0.5; y[i] = 3 * x[i] - 2; }
    ok(cb_ols(x, y, 6, &slope, &icpt) == 0 && fabs(slope - 3) < 1e-10 && fabs(icpt + 2) < 1e-8,
       "OLS recovers an exact line y = 3x - 2 (slope %.15g, intercept %.15g)", slope, icpt);
    double lx[4], ly[4];
    for (int i = 0; i < 4; i++) { lx[i] = log(256.0 * (1 << i)); ly[i] = log(1e-9) + 2 * lx[i]; }
    ok(cb_ols(lx, ly, 4, &slope, NULL) == 0 && fabs(slope - 2) < 1e-12, "OLS on a log-log quadratic: slope 2");
    double same[] = {1, 1, 1};
    ok(cb_ols(same, y, 3, &slope, &icpt) == -1, "OLS refuses constant x");
    ok(cb_ols(x, y, 1, &slope, &icpt) == -1, "OLS refuses a single point");

    /* ---- generator ---- */
    cb_prng r, r2;
    cb_prng_seed(&r, 0);
    ok(r.s[0] == 0xe220a8397b1dcdafu && r.s[1] == 0x6e789e6aa1b965f4u && r.s[2] == 0x06c45d188009454fu,
       "seeding is splitmix64 (known seed-0 outputs)");
    uint64_t o1 = cb_prng_next(&r), o2 = cb_prng_next(&r), o3 = cb_prng_next(&r);
    ok(o1 == 0x99ec5f36cb75f2b4u && o2 == 0xbf6e1f784956452au && o3 == 0x1a5f849d4933e6e0u,
       "xoshiro256** outputs match an independent evaluation");
    cb_prng_seed(&r, 42);
    cb_prng_seed(&r2, 42);
    int same_seq = 1;
    for (int i = 0; i < 100; i++) same_seq &= cb_prng_next(&r) == cb_prng_next(&r2);
    ok(same_seq, "same seed, same sequence");
    cb_prng_seed(&r2, 43);
    ok(cb_prng_next(&r) != cb_prng_next(&r2), "neighbouring seeds give different streams");
    int bins[6] = {0}, in_range = 1;
    double umin = 1, umax = 0;
    for (int i = 0; i < 60000; i++) {
        uint64_t b = cb_prng_below(&r, 6);
        if (b >= 6) in_range = 0; else bins[b]++;
        double u = cb_prng_uniform(&r);
        if (u < umin) umin = u;
        if (u > umax) umax = u;
    }
    int flat = 1;
    for (int i = 0; i < 6; i++) flat &= abs(bins[i] - 10000) < 500; /* ~5 sd */
    ok(in_range && flat, "below(6) stays in range and is flat (%d %d %d %d %d %d)",
       bins[0], bins[1], bins[2], bins[3], bins[4], bins[5]);
    ok(umin >= 0 && umax < 1 && umin < 0.001 && umax > 0.999, "uniform in [0, 1)");

    /* ---- bootstrap ---- */
    double s1[] = {9.8, 10.1, 10.0, 9.9, 10.2, 10.05, 9.95};
    double s2[] = {5, 10, 15, 20, 8, 12, 30};
    double lo1, hi1, lo1b, hi1b, lo2, hi2, lo3, hi3;
    ok(cb_bootstrap_ci(s1, 7, stat_median, NULL, 2000, 7, 0.95, &lo1, &hi1) == 0 &&
       cb_bootstrap_ci(s1, 7, stat_median, NULL, 2000, 7, 0.95, &lo1b, &hi1b) == 0 &&
       lo1 == lo1b && hi1 == hi1b, "bootstrap is deterministic for a seed: [%g, %g]", lo1, hi1);
    ok(lo1 <= 10.0 && hi1 >= 10.0 && lo1 >= 9.8 && hi1 <= 10.2, "interval holds the median, inside the data");
    ok(cb_bootstrap_ci(s2, 7, stat_median, NULL, 2000, 7, 0.95, &lo2, &hi2) == 0 &&
       (lo2 != lo1 || hi2 != hi1) && hi2 - lo2 > hi1 - lo1,
       "different, wider data give a different, wider interval: [%g, %g]", lo2, hi2);
    ok(cb_bootstrap_ci(s2, 7, stat_median, NULL, 2000, 8, 0.95, &lo3, &hi3) == 0 &&
       lo3 >= 5 && hi3 <= 30, "another seed still gives an interval inside the data: [%g, %g]", lo3, hi3);
    double flat7[] = {3, 3, 3, 3, 3, 3, 3};
    ok(cb_bootstrap_ci(flat7, 7, stat_median, NULL, 500, 1, 0.95, &lo3, &hi3) == 0 && lo3 == 3 && hi3 == 3,
       "a constant sample has a zero-width interval");
    ok(cb_bootstrap_ci(s1, 0, stat_median, NULL, 10, 1, 0.95, &lo3, &hi3) == -1 &&
       cb_bootstrap_ci(s1, 7, stat_median, NULL, 10, 1, 1.5, &lo3, &hi3) == -1,
       "bootstrap refuses an empty sample or a bad level");
    double out[7];
    cb_prng_seed(&r, 5);
    cb_resample(&r, s1, 7, out);
    int from_sample = 1;
    for (int i = 0; i < 7; i++) {
        int found = 0;
        for (int j = 0; j < 7; j++) found |= out[i] == s1[j];
        from_sample &= found;
    }
    ok(from_sample, "a resample draws only values of the sample");

    return tap_done();
}
