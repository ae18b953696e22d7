/* stats.h — the small statistics the claim checks are computed with.
 *
 * Pure functions over arrays of doubles, plus a seeded generator for the
 * bootstrap kept in a caller-owned struct (no hidden state), so every figure
 * and interval is a function of the data and the seed alone.
 *
 * Ordering convention: sorting puts NaN after every other value (so +inf,
 * used for "beyond the sweep", sorts before NaN and after every number).
 * Functions of an empty array return NaN.
 */
#ifndef CB_STATS_H
#define CB_STATS_H

#include <stdint.h>

/* Sort x ascending in place, NaN last. */
void cb_sort(double *x, int n);

/* Median and quantile of an already sorted array. The quantile is type 7 of
 * Hyndman & Fan (R's default): h = (n-1)p, linear between the neighbours. */
double cb_median_sorted(const double *x, int n);
double cb_quantile_sorted(const double *x, int n, double p);

/* Median of x, sorting x in place (no allocation). */
double cb_median_inplace(double *x, int n);
/* Median / quantile of x (x is left untouched; copies it; NaN if the copy
 * cannot be allocated). */
double cb_median(const double *x, int n);
double cb_quantile(const double *x, int n, double p);

double cb_mean(const double *x, int n);
/* Sample standard deviation (divisor n-1); NaN when n < 2. */
double cb_sd(const double *x, int n);
/* Median absolute deviation from the median, unscaled (multiply by 1.4826
 * for a normal-consistent estimate of sd). */
double cb_mad(const double *x, int n);

/* Ordinary least squares y = intercept + slope*x. Returns 0, or -1 when
 * n < 2 or every x is the same (the slope is undefined). */
int cb_ols(const double *x, const double *y, int n, double *slope, double *intercept);

/* ---- seeded generator: xoshiro256** seeded through splitmix64 ---------- */
typedef struct cb_prng { uint64_t s[4]; } cb_prng;

void cb_prng_seed(cb_prng *r, uint64_t seed);
uint64_t cb_prng_next(cb_prng *r);
/* Uniform integer in [0, n), unbiased (rejection); n must be > 0. */
uint64_t cb_prng_below(cb_prng *r, uint64_t n);
/* Uniform double in [0, 1) with 53 random bits. */
double cb_prng_uniform(cb_prng *r);

/* ---- bootstrap ---------------------------------------------------------- */

/* One bootstrap resample: out[i] = x[uniform index], i in [0, n). */
void cb_resample(cb_prng *r, const double *x, int n, double *out);

/* A statistic of a sample, for cb_bootstrap_ci. */
typedef double (*cb_statistic)(const double *x, int n, void *ctx);

/* Percentile bootstrap: B resamples of x seeded with `seed`, stat of each,
 * and the central `level` interval (e.g. 0.95 → 2.5 and 97.5 percentiles,
 * type 7). Returns 0, or -1 on bad arguments or allocation failure. */
int cb_bootstrap_ci(const double *x, int n, cb_statistic stat, void *ctx, int B,
                    uint64_t seed, double level, double *lo, double *hi);

#endif
