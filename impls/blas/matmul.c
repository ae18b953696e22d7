/* matmul.c (blas) — c = a b with one cblas_sgemm call (OpenBLAS).
 *
 * OpenBLAS packs panels of a and b into cache-sized blocks and runs a
 * register-blocked FMA micro-kernel over them (AVX2 or AVX-512, whichever
 * core OpenBLAS selected; the run records it), threaded over blocks of c.
 * Nothing to prepare: the call reads a and b where they are.
 */
#include "kernel.h"

#include <cblas.h>

static int blas_mm_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)state;
    const int M = (int)cb_params_int(p, "M", 0), K = (int)cb_params_int(p, "K", 0),
              N = (int)cb_params_int(p, "N", 0);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, in[0].data, K, in[1].data, N,
                0.0f, out[0].data, N);
    return 0;
}

const cb_impl cb_impl_blas_matmul = {
    .kernel = "matmul",
    .backend = "blas",
    .how = "cblas_sgemm (OpenBLAS)",
    .prepare = NULL,
    .run = blas_mm_run,
    .release = NULL,
};
