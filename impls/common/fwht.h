/* fwht.h — the fast Walsh-Hadamard transform in Sylvester (natural) order,
 * shared by the hadamard and quant_int4 kernels (Xi et al. 2023, "Training
 * Transformers with 4-bit Integers") and the int4_quant_error probe.
 *
 * The Sylvester Hadamard matrix of order n = 2^k is H_1 = [1],
 * H_2n = [[H_n, H_n], [H_n, -H_n]], so H[i][j] = (-1)^popcount(i & j). It is
 * symmetric and H H = n I, so H / sqrt(n) is orthogonal and its own inverse.
 * y = H x costs n log2 n additions: log2 n stages of n/2 butterflies
 * (u, v) -> (u + v, u - v) at strides 1, 2, 4, ..., n/2.
 *
 * The transforms below are in place and unnormalized (y = H x); callers
 * scale by 1/sqrt(n). n must be a power of two (n = 1 is the identity).
 */
#ifndef CB_COMMON_FWHT_H
#define CB_COMMON_FWHT_H

#include <stddef.h>
#include <stdint.h>

/* 1 when n >= 1 is a power of two. */
static inline int cb_is_pow2(int64_t n) { return n >= 1 && (n & (n - 1)) == 0; }

/* x <- H x, float, in place. */
void cb_fwht_f(float *x, size_t n);
/* x <- H x, double, in place. */
void cb_fwht_d(double *x, size_t n);

#endif
