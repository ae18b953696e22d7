/* relerr.c — max |x − y| / max |y|, NaN-propagating (relerr.h). */
#include "common/relerr.h"

#include <math.h>

#define REL_ERR_BODY(X, Y)                                      \
    double e = 0, m = 0;                                        \
    for (size_t i = 0; i < n; i++) {                            \
        double xi = (double)(X)[i], yi = (double)(Y)[i];        \
        double d = fabs(xi - yi);                               \
        if (isnan(d) || isnan(yi)) return NAN;                  \
        if (d > e) e = d;                                       \
        if (fabs(yi) > m) m = fabs(yi);                         \
    }                                                           \
    return e / m

double cb_rel_err_dd(const double *x, const double *y, size_t n) { REL_ERR_BODY(x, y); }
double cb_rel_err_fd(const float *x, const double *y, size_t n) { REL_ERR_BODY(x, y); }
double cb_rel_err_ff(const float *x, const float *y, size_t n) { REL_ERR_BODY(x, y); }
