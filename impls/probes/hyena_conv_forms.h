/* hyena_conv_forms.h — the comparison functions of the hyena_conv_forms
 * probe, exposed so the tests can feed them degenerate outputs. */
#ifndef CB_HYENA_CONV_FORMS_H
#define CB_HYENA_CONV_FORMS_H

#include <stddef.h>

/* max |x - y| / max |y| over n values, no floor: an all-zero y gives NaN
 * (0/0) or +inf, and any NaN in x gives NaN. */
double cb_hyena_rel_err_d(const double *x, const double *y, size_t n);
double cb_hyena_rel_err_f(const float *x, const double *y, size_t n);

/* sqrt(sum_c |y_c|^2 / sum_c |u_c|^2 |h_c|^2) over D channels of length N:
 * about 1/sqrt(2) for independent random u, h (see the probe). */
double cb_hyena_norm_ratio(const float *y, const float *u, const float *h, size_t D, size_t N);

/* Causal convolution of one channel by a radix-2 complex FFT in double:
 * y[t] = sum_{s<=t} h[s] u[t-s], t < N. Returns 0, or -1 when out of memory. */
int cb_hyena_fft_conv_d(const double *u, const double *h, size_t N, double *y);

#endif
