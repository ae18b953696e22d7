/* elu1.h — the feature map phi(x) = elu(x) + 1 in float, vectorized, for the
 * optimized backends (blas, dnnl) of linear attention and decoding. */
#ifndef CB_COMMON_ELU1_H
#define CB_COMMON_ELU1_H

#include <stddef.h>

/* y[i] = phi(x[i]) for i < n; within 2 ulp of the correctly rounded value.
 * NaN stays NaN. y may equal x (in place). */
void cb_elu1_f32(const float *x, float *y, size_t n);

/* Row gather + phi: y[r*cols + c] = phi(x[r*ldx + c]) for r < rows, c < cols.
 * Maps a strided slice (one token of every head) into a dense block. */
void cb_elu1_rows_f32(const float *x, size_t ldx, float *y, size_t rows, size_t cols);

#endif
