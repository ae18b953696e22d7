/* fno_invariance.h — the comparison measures of the fno_invariance probe,
 * exposed so tests can hold them to their contract (a zero or constant
 * output must give a failing value, never a passing one).
 */
#ifndef CB_FNO_INVARIANCE_H
#define CB_FNO_INVARIANCE_H

#include <stddef.h>

/* max_j |a_j - b_j| / max_j |b_j|: relative to the reference side b, with
 * no epsilon floor, so an all-zero reference gives 0/0 = NaN (which fails
 * every check), and a NaN anywhere in a gives NaN. */
double cb_fno_rel_disc(const double *a, const double *b, size_t n);

/* (max_j y_j - min_j y_j) / max_j |y_j|, in [0, 2]: 0 for a constant
 * output, NaN for an all-zero one; the non-triviality measure. */
double cb_fno_rel_spread(const double *y, size_t n);

#endif
