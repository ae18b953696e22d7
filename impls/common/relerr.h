/* relerr.h — the error measure of the probes' equivalences: max |x − y| over
 * max |y|, with no floor under the denominator.
 *
 * A NaN anywhere (in the output or the reference) makes the result NaN, and
 * so does an all-zero reference with an all-zero output (0/0): a check can
 * then never pass on a broken or empty computation. (The loop form
 * `if (!(d <= e)) e = d` looks NaN-safe but is not: a later finite d replaces
 * a NaN e, so these functions test for NaN explicitly.)
 */
#ifndef CB_COMMON_RELERR_H
#define CB_COMMON_RELERR_H

#include <stddef.h>

double cb_rel_err_dd(const double *x, const double *y, size_t n);
double cb_rel_err_fd(const float *x, const double *y, size_t n);
double cb_rel_err_ff(const float *x, const float *y, size_t n);

#endif
