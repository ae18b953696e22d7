/* spectral_conv1d.h — the shape contract shared by the two kernels of the
 * fno_discretization_invariance task: spectral_conv1d (the Fourier layer of
 * a Fourier neural operator) and kernel_integral1d (the same operator as a
 * dense n x n kernel integral). Both take
 *   u     [C_in, n]               a real function sampled at x_j = j/n
 *   w_re  [k_max, C_in, C_out]    real parts of the spectral weights W
 *   w_im  [k_max, C_in, C_out]    imaginary parts
 * and give y [C_out, n]. Parameters: C_in, C_out, n, k_max, integers >= 1,
 * with k_max <= n/2 + 1 (the number of rfft modes of n points; a larger
 * k_max is refused, not clamped, because modes that do not exist on the grid
 * cannot be multiplied). Defined in impls/ref/spectral_conv1d.c.
 */
#ifndef CB_SPECTRAL_CONV1D_H
#define CB_SPECTRAL_CONV1D_H

#include "kernel.h"

/* shapes()/infer() of both kernels; `who` names the kernel in messages. */
int cb_sc1d_shapes(const char *who, cb_params *p, cb_shape *in, cb_shape *out, char *err,
                   size_t errlen);
int cb_sc1d_infer(const char *who, cb_params *p, const cb_shape *in, char *err, size_t errlen);

/* Weight of mode kappa in the real inverse transform of n points (numpy's
 * irfft): 1 for kappa = 0 and, when n is even, for the Nyquist mode
 * kappa = n/2 (whose imaginary part, like that of mode 0, is ignored);
 * 2 for every other mode (it stands for kappa and -kappa). */
static inline double cb_sc1d_mode_weight(int64_t kappa, int64_t n)
{
    return (kappa == 0 || 2 * kappa == n) ? 1.0 : 2.0;
}

#endif
