/* softmax_rows.c — a vectorized row softmax, shared by the blas and dnnl
 * backends wherever a oneDNN softmax primitive does not fit (row lengths
 * that change every token or every block).
 *
 * exp is the inline, vectorizable e^t of vexp.h, not expf: a scalar expf
 * call is the bottleneck of a plain C softmax (~10× slower). The row
 * reductions use `omp simd reduction` (the build has -fopenmp), which lets
 * gcc vectorize them without -ffast-math, so -inf logits and NaN keep their
 * IEEE meaning.
 */
#include "softmax_rows.h"

#include <math.h>

#include "vexp.h"

/* One row: exp(x - max) in place; returns 1 / the sum. Two passes over a
 * row that sits in L1/L2 (2048 keys are 8 KiB). With NaNs honoured gcc will
 * not vectorize a `x > m ? x : m` reduction on its own; `omp simd
 * reduction(max:)` (the build has -fopenmp) allows it. */
static float exp_row(float *restrict x, int len)
{
    float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
    for (int j = 0; j < len; j++)
        mx = x[j] > mx ? x[j] : mx;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j < len; j++) {
        float e = cb_exp_nonpos(x[j] - mx);
        x[j] = e;
        sum += e;
    }
    return 1.0f / sum;
}

void cb_softmax_rows(float *s, size_t ld, int rows, int cols, int len0, float *inv_sum)
{
    for (int r = 0; r < rows; r++) {
        float *restrict x = s + (size_t)r * ld;
        int len = len0 + r < cols ? len0 + r : cols;
        float inv = exp_row(x, len);
        if (inv_sum)
            inv_sum[r] = inv;
        else
            for (int j = 0; j < len; j++)
                x[j] *= inv;
        for (int j = len; j < cols; j++)     /* masked keys: weight 0 */
            x[j] = 0.0f;
    }
}
