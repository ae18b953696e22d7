/* sparse_attention_rows.c — masked band exp and the two-set softmax merge
 * of the optimized sparse_attention backends (see sparse_attention_rows.h).
 *
 * exp is the inline vectorizable e^t of vexp.h (a scalar expf call would
 * dominate: see softmax_rows.c); the reductions use `omp simd reduction`
 * so gcc vectorizes them without -ffast-math and -inf/NaN keep their IEEE
 * meaning.
 */
#include "sparse_attention_rows.h"

#include <math.h>

#include "vexp.h"

void cb_sparse_exp_band(float *s, size_t ld, int rows, int cols, int lo0, int hi0,
                        float *mx, float *sum)
{
    for (int r = 0; r < rows; r++) {
        float *restrict x = s + (size_t)r * ld;
        int lo = lo0 + r > 0 ? lo0 + r : 0;
        int hi = hi0 + r < cols ? hi0 + r : cols;
        float m = -INFINITY;
#pragma omp simd reduction(max : m)
        for (int j = lo; j < hi; j++)
            m = x[j] > m ? x[j] : m;
        float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
        for (int j = lo; j < hi; j++) {
            float e = cb_exp_nonpos(x[j] - m);
            x[j] = e;
            acc += e;
        }
        for (int j = 0; j < lo; j++)          /* keys outside the pattern: weight 0 */
            x[j] = 0.0f;
        for (int j = hi; j < cols; j++)
            x[j] = 0.0f;
        mx[r] = m;
        sum[r] = acc;
    }
}

void cb_sparse_finish_row(float *o, float m1, float s1, const float *o2, float m2, float s2, int dv)
{
    if (!o2) {
        float inv = 1.0f / s1;
        for (int c = 0; c < dv; c++)
            o[c] *= inv;
        return;
    }
    float m = m1 > m2 ? m1 : m2;
    float a = cb_exp_nonpos(m1 - m), b = cb_exp_nonpos(m2 - m);
    float inv = 1.0f / (a * s1 + b * s2);
    float ai = a * inv, bi = b * inv;
    for (int c = 0; c < dv; c++)
        o[c] = ai * o[c] + bi * o2[c];
}
