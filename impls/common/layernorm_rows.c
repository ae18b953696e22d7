/* layernorm_rows.c — row normalization without affine (see layernorm_rows.h).
 *
 * The float version vectorizes over the features of a row: the two
 * reductions use `omp simd reduction` (the build has -fopenmp), which lets
 * gcc reorder the sums into vector lanes without -ffast-math. Rows are short
 * (d = 16 … 128 here), so a row is read three times from L1.
 */
#include "layernorm_rows.h"

#include <math.h>

void cb_layernorm_rows(const float *x, float *y, size_t rows, size_t d, float eps)
{
    const float invd = 1.0f / (float)d;
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * d;
        float *yr = y + r * d;
        float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
        for (size_t c = 0; c < d; c++)
            sum += xr[c];
        const float mean = sum * invd;
        float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
        for (size_t c = 0; c < d; c++) {
            float t = xr[c] - mean;
            ss += t * t;
        }
        const float inv = 1.0f / sqrtf(ss * invd + eps);
#pragma omp simd
        for (size_t c = 0; c < d; c++)
            yr[c] = (xr[c] - mean) * inv;
    }
}

void cb_layernorm_row_d(const float *x, double *y, size_t d, double eps)
{
    double mean = 0, var = 0;
    for (size_t c = 0; c < d; c++)
        mean += x[c];
    mean /= (double)d;
    for (size_t c = 0; c < d; c++)
        var += ((double)x[c] - mean) * ((double)x[c] - mean);
    var /= (double)d;
    const double inv = 1.0 / sqrt(var + eps);
    for (size_t c = 0; c < d; c++)
        y[c] = ((double)x[c] - mean) * inv;
}
