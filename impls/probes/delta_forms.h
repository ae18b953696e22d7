/* delta_forms.h — the double-precision forms of the delta rule used by the
 * delta_forms probe (impls/probes/delta_forms.c), exposed so that the task's
 * test can check them on hand-computed cases and check that the comparison
 * metrics fail on zero or constant outputs. */
#ifndef CB_DELTA_FORMS_H
#define CB_DELTA_FORMS_H

#include <stddef.h>
#include <stdint.h>

/* Per head, inputs kn (normalized keys) [H, N, d], q [H, N, d], v [H, N, dv],
 * beta [H, N], all double; o [H, N, dv]; Sfin [H, dv, d] the final state
 * (may be NULL). */

/* The recurrence S_t = S_{t-1} + b_t (v_t - S_{t-1} k_t) k_t^T, o_t = S_t q_t.
 * Returns 0, or -1 on allocation failure. */
int cb_delta_recurrent_d(const double *q, const double *kn, const double *v, const double *beta, int64_t H,
                         int64_t N, int64_t d, int64_t dv, double *o, double *Sfin);

/* The chunkwise WY form with chunks of C tokens (last chunk partial):
 * w_r = b_r (k_r - sum_{i<r} (k_i.k_r) w_i), u_r likewise with v_r,
 * u~_r = u_r - S_0 w_r, o_r = S_0 q_r + sum_{i<=r} (k_i.q_r) u~_i,
 * S <- S_0 + sum_r u~_r k_r^T. Returns 0, or -1 on allocation failure. */
int cb_delta_chunkwise_d(const double *q, const double *kn, const double *v, const double *beta, int64_t H,
                         int64_t N, int64_t d, int64_t dv, int64_t C, double *o, double *Sfin);

/* max |x - y| / max |y| over n values (no floor: an all-zero y gives NaN;
 * NaN anywhere gives NaN). */
double cb_delta_rel_err_d(const double *x, const double *y, size_t n);
double cb_delta_rel_err_f(const float *x, const double *y, size_t n);

/* The non-triviality metric: the standard deviation of the n values of o
 * about their mean, over the root mean square of the nv values of v. Zero
 * for an all-zero or constant output. */
double cb_delta_spread(const double *o, size_t n, const float *v, size_t nv);

#endif
