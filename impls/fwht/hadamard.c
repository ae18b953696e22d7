/* hadamard.c (fwht) — the Hadamard rotation by the fast Walsh-Hadamard
 * transform: per row, copy x to y, log2 K in-place butterfly stages
 * (common/fwht.c), then one vectorized scaling by 1/sqrt(K).
 *
 * Why it is fast: K log2 K additions per row instead of the 2 K^2 flops of
 * the dense matmul, no K x K matrix to read, each row's passes stay in L1/L2,
 * and the rows are split over the OpenMP threads (schedule static, one
 * contiguous band of rows per thread). No state: nothing to prepare.
 */
#include "kernel.h"
#include "common/fwht.h"

#include <math.h>
#include <string.h>

static int fwht_hd_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)state;
    const int64_t M = cb_params_int(p, "M", 0), n = cb_params_int(p, "K", 0);
    const float inv = (float)(1.0 / sqrt((double)n));
    const float *x0 = in[0].data;
    float *y0 = out[0].data;
#pragma omp parallel for schedule(static) if (M * n >= 4096)
    for (int64_t m = 0; m < M; m++) {
        float *y = y0 + m * n;
        memcpy(y, x0 + m * n, (size_t)n * sizeof *y);
        cb_fwht_f(y, (size_t)n);
#pragma omp simd
        for (int64_t j = 0; j < n; j++)
            y[j] *= inv;
    }
    return 0;
}

const cb_impl cb_impl_fwht_hadamard = {
    .kernel = "hadamard",
    .backend = "fwht",
    .how = "in-place fast Walsh-Hadamard butterflies, K log2 K adds per row, OpenMP over rows",
    .prepare = NULL,
    .run = fwht_hd_run,
    .release = NULL,
};
