/* pam_error.h — the pieces of the pam_error probe (impls/probes/pam_error.c)
 * that the tests call directly: the exhaustive mantissa-grid statistics, the
 * closed-form mean, and the matmul comparison (so a test can hand it a
 * zeroed output and see the checks fail). */
#ifndef CB_PROBE_PAM_ERROR_H
#define CB_PROBE_PAM_ERROR_H

#include <stddef.h>
#include <stdint.h>

/* Statistics of PAM over all 2^bits x 2^bits pairs of mantissas
 * (1 + i 2^-bits)(1 + j 2^-bits), exponent 0, relative error
 * r = (pam - ab) / ab computed in double (ab is exact there). */
typedef struct cb_pam_grid {
    double pairs;
    double max_under;          /* max of -r: the worst underestimate */
    double argmax_a, argmax_b; /* the operands (in [1, 2)) where it is attained, first in row-major order */
    double max_over;           /* max of r: > 0 would be an overestimate */
    double mean_under;         /* mean of -r over the grid */
    double mismatch_closed;    /* pam bits != the closed form 1+x+y or 2(x+y), rounded to float */
    double mismatch_vector;    /* AVX-512 cb_pam_bits_x16 != scalar cb_pam_bits (grid + special values);
                                  -1 when built without AVX-512F */
    double mismatch_scaling;   /* pam(+-2^e1 a, +-2^e2 b) != +-2^(e1+e2) pam(a, b) over a subgrid */
} cb_pam_grid;

/* bits in [1, 16]. Returns 0, or -1 for a bad bits. */
int cb_pam_grid_stats(int bits, cb_pam_grid *g);

/* The mean underestimate for x, y uniform on [0, 1), in closed form:
 * 4 ln^2 2 - 1 - 3 (ln 2 ln 3 - Li2(2/3) + Li2(1/3)) = 0.0384880 */
double cb_pam_mean_closed_form(void);

/* A PAM matmul output c (n floats) against the exact product y (double):
 * nl2 = ||c - y|| / ||y||, bias = <c - y, y> / <y, y>, norm_ratio =
 * ||c|| / ||y||. A zero y gives NaN (0/0), which fails every check. */
void cb_pam_compare(const float *c, const double *y, size_t n, double *nl2, double *bias, double *norm_ratio);

#endif
