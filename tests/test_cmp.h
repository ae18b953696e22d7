/* test_cmp.h — the kernel tests' absolute-difference measure: max |a − b|
 * over n elements, NaN when either side holds a NaN anywhere.
 *
 * Written once because the obvious loop is wrong: `if (!(e <= m)) m = e`
 * does take a NaN e, but the next finite e replaces it again (!(e <= NaN) is
 * true), so a NaN anywhere but in the last element was forgotten and a
 * backend writing NaNs could pass `max_diff <= tol`. Here a NaN returns at
 * once. (impls/common/relerr.h is the probes' relative measure; the tests
 * compare against absolute bounds, so they need this one.) */
#ifndef CB_TEST_CMP_H
#define CB_TEST_CMP_H

#include <math.h>
#include <stddef.h>

/* The running maximum of a loop that must keep a NaN: m stays NaN once
 * it is, and becomes NaN when x is. Use it as `e = test_max_keep_nan(e, d)`
 * where a loop cannot call the functions below (permuted indices, say). */
static inline double test_max_keep_nan(double m, double x)
{
    return isnan(m) || isnan(x) ? NAN : x > m ? x : m;
}

/* max |a[i] − b[i]| for float a and b; NaN if any a[i] or b[i] is NaN. */
static inline double test_max_diff_ff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - (double)b[i]);
        if (isnan(e)) return NAN;
        if (e > m) m = e;
    }
    return m;
}

/* The same against a double reference. */
static inline double test_max_diff_fd(const float *a, const double *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        if (isnan(e)) return NAN;
        if (e > m) m = e;
    }
    return m;
}

#endif
