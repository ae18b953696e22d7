/* delta_rule_util.h — float helpers shared by the optimized delta_rule
 * backends (scan, blas, dnnl): L2-normalizing key rows and the UT transform
 * of one chunk (the forward substitution of the WY representation). See
 * impls/ref/delta_rule.c for the kernel and tasks/deltanet_chunkwise.md for
 * the derivation. */
#ifndef CB_DELTA_RULE_UTIL_H
#define CB_DELTA_RULE_UTIL_H

#include <stddef.h>

/* y_r = x_r / max(||x_r||, 1e-12) for `rows` rows of d floats (x == y is
 * allowed). The norm is accumulated in double. */
void cb_l2norm_rows(const float *x, float *y, size_t rows, size_t d);

/* The UT transform of one chunk of C tokens:
 *   T = (I + tril(diag(beta) G, -1))^-1 diag(beta),
 * G = K K^T (C x C, row stride ldg, only its strictly lower part is read),
 * by forward substitution, row by row:
 *   T_r = beta_r (e_r - sum_{i<r} G_ri T_i).
 * T (C x C, row stride ldt) comes out lower triangular, with zeros written
 * above the diagonal. */
void cb_ut_transform(const float *G, size_t ldg, const float *beta, size_t C, float *T, size_t ldt);

/* Zero the strictly upper part of the C x C matrix A (row stride lda): the
 * causal mask of the intra-chunk scores (the diagonal is kept). */
void cb_tril_inplace(float *A, size_t lda, size_t C);

#endif
