/* layernorm_rows.h — the per-token normalization of Galerkin and Fourier
 * attention (Cao 2021): each row of d features to zero mean and unit
 * variance, with no affine part,
 *
 *   y = (x - mean) / sqrt(var + eps),   mean = (1/d) sum x,
 *   var = (1/d) sum (x - mean)^2         (biased, as layer norm uses),
 *
 * in float for the optimized backends and in double for the oracle and the
 * probe. Both are two-pass (mean first, then the centred squares), so a row
 * with a large common offset keeps its precision. A constant row has
 * var = 0 and maps to zeros; eps = 1e-5 (CB_LN_EPS) as in the paper's code
 * (torch.nn.LayerNorm's default). */
#ifndef CB_COMMON_LAYERNORM_ROWS_H
#define CB_COMMON_LAYERNORM_ROWS_H

#include <stddef.h>

#define CB_LN_EPS 1e-5

/* y[r*d + c] = normalized x[r*d + c] for rows r < rows; vectorized over the
 * d features of a row. y may equal x. */
void cb_layernorm_rows(const float *x, float *y, size_t rows, size_t d, float eps);

/* One row in double: y[c] for c < d from the float row x. */
void cb_layernorm_row_d(const float *x, double *y, size_t d, double eps);

#endif
