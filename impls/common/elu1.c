/* elu1.c — phi(x) = elu(x) + 1 = (x > 0 ? x + 1 : exp(x)) in float, vectorized
 * through the shared e^t of vexp.h, for the optimized backends of linear
 * attention and decoding. */
#include "elu1.h"

#include "vexp.h"

void cb_elu1_f32(const float *x, float *y, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float xi = x[i];
        float t = xi > 0.0f ? 0.0f : xi;        /* exp is only needed for x <= 0 */
        y[i] = xi > 0.0f ? xi + 1.0f : cb_exp_nonpos(t); /* NaN passes through */
    }
}

void cb_elu1_rows_f32(const float *x, size_t ldx, float *y, size_t rows, size_t cols)
{
    for (size_t r = 0; r < rows; r++)
        cb_elu1_f32(x + r * ldx, y + r * cols, cols);
}
