/* stats.c — medians, quantiles, moments, OLS, a seeded PRNG and the bootstrap.
 *
 * Written for clarity: the arrays are short (repetitions of one measurement,
 * points of one sweep), so qsort and two-pass formulas are plenty.
 */
#include "stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Total order with NaN after everything else. */
static int cmp_double(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    int na = isnan(a), nb = isnan(b);
    if (na || nb)
        return na - nb;
    return (a > b) - (a < b);
}

void cb_sort(double *x, int n)
{
    if (n > 1)
        qsort(x, (size_t)n, sizeof *x, cmp_double);
}

double cb_quantile_sorted(const double *x, int n, double p)
{
    if (n <= 0 || isnan(p))
        return NAN;
    if (p <= 0) return x[0];
    if (p >= 1) return x[n - 1];
    double h = (n - 1) * p;
    int lo = (int)floor(h);
    double frac = h - lo;
    /* Return a neighbour exactly when there is nothing to interpolate, so
     * that infinite values give inf rather than inf-inf = NaN or 0*inf. */
    if (frac == 0 || lo + 1 >= n || x[lo] == x[lo + 1])
        return x[lo];
    if (isinf(x[lo]) || isinf(x[lo + 1]))
        return isinf(x[lo]) ? x[lo] : x[lo + 1];
    return x[lo] + frac * (x[lo + 1] - x[lo]);
}

double cb_median_sorted(const double *x, int n) { return cb_quantile_sorted(x, n, 0.5); }

double cb_median_inplace(double *x, int n)
{
    cb_sort(x, n);
    return cb_median_sorted(x, n);
}

double cb_quantile(const double *x, int n, double p)
{
    if (n <= 0)
        return NAN;
    double *c = malloc((size_t)n * sizeof *c);
    if (!c)
        return NAN;
    memcpy(c, x, (size_t)n * sizeof *c);
    cb_sort(c, n);
    double q = cb_quantile_sorted(c, n, p);
    free(c);
    return q;
}

double cb_median(const double *x, int n) { return cb_quantile(x, n, 0.5); }

double cb_mean(const double *x, int n)
{
    if (n <= 0)
        return NAN;
    double s = 0;
    for (int i = 0; i < n; i++)
        s += x[i];
    return s / n;
}

double cb_sd(const double *x, int n)
{
    if (n < 2)
        return NAN;
    double m = cb_mean(x, n), ss = 0;
    for (int i = 0; i < n; i++)
        ss += (x[i] - m) * (x[i] - m);
    return sqrt(ss / (n - 1));
}

double cb_mad(const double *x, int n)
{
    if (n <= 0)
        return NAN;
    double *d = malloc((size_t)n * sizeof *d);
    if (!d)
        return NAN;
    double m = cb_median(x, n);
    for (int i = 0; i < n; i++)
        d[i] = fabs(x[i] - m);
    double mad = cb_median_inplace(d, n);
    free(d);
    return mad;
}

int cb_ols(const double *x, const double *y, int n, double *slope, double *intercept)
{
    if (n < 2)
        return -1;
    /* Centred sums: exact for exact lines and stable when x is large. */
    double mx = cb_mean(x, n), my = cb_mean(y, n), sxx = 0, sxy = 0;
    for (int i = 0; i < n; i++) {
        sxx += (x[i] - mx) * (x[i] - mx);
        sxy += (x[i] - mx) * (y[i] - my);
    }
    if (!(sxx > 0))
        return -1;
    double b = sxy / sxx;
    if (slope) *slope = b;
    if (intercept) *intercept = my - b * mx;
    return 0;
}

/* ---- generator ---------------------------------------------------------- */

/* splitmix64 step: spreads a 64-bit seed over the xoshiro state, so that
 * nearby seeds (0, 1, 2, ...) still give unrelated streams. */
static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void cb_prng_seed(cb_prng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

uint64_t cb_prng_next(cb_prng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

uint64_t cb_prng_below(cb_prng *r, uint64_t n)
{
    /* Reject the lowest (2^64 mod n) values so every residue is equally
     * likely. */
    uint64_t threshold = (0 - n) % n;
    for (;;) {
        uint64_t v = cb_prng_next(r);
        if (v >= threshold)
            return v % n;
    }
}

double cb_prng_uniform(cb_prng *r) { return (double)(cb_prng_next(r) >> 11) * 0x1.0p-53; }

/* ---- bootstrap ---------------------------------------------------------- */

void cb_resample(cb_prng *r, const double *x, int n, double *out)
{
    for (int i = 0; i < n; i++)
        out[i] = x[cb_prng_below(r, (uint64_t)n)];
}

int cb_bootstrap_ci(const double *x, int n, cb_statistic stat, void *ctx, int B,
                    uint64_t seed, double level, double *lo, double *hi)
{
    if (n <= 0 || B <= 0 || !stat || !(level > 0 && level < 1))
        return -1;
    double *buf = malloc((size_t)n * sizeof *buf);
    double *dist = malloc((size_t)B * sizeof *dist);
    if (!buf || !dist) {
        free(buf);
        free(dist);
        return -1;
    }
    cb_prng r;
    cb_prng_seed(&r, seed);
    for (int b = 0; b < B; b++) {
        cb_resample(&r, x, n, buf);
        dist[b] = stat(buf, n, ctx);
    }
    cb_sort(dist, B);
    double tail = (1 - level) / 2;
    *lo = cb_quantile_sorted(dist, B, tail);
    *hi = cb_quantile_sorted(dist, B, 1 - tail);
    free(buf);
    free(dist);
    return 0;
}
