/* hadamard.c (blas) — the Hadamard rotation as a dense sgemm (OpenBLAS).
 *
 * prepare() builds the K x K matrix H / sqrt(K) (Sylvester order, symmetric)
 * once; run() is one sgemm Y = X (H / sqrt(K)). 2 M K^2 flops: the dense
 * baseline the fast transform is timed against. It is fast for a dense
 * method (an optimized GEMM, compute-bound once M is large), but its work
 * grows as K^2 per row and its matrix as K^2 floats, so prepare() refuses
 * K > 8192 (256 MiB) with a message naming the fwht backend.
 */
#include "kernel.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>

#define BLAS_HD_MAX_N 8192

typedef struct blas_hd {
    int64_t M, n;   /* n: the transform length K */
    float *H;   /* K x K, H / sqrt(K) */
} blas_hd;

static void blas_hd_release(void *state)
{
    blas_hd *s = state;
    if (!s) return;
    free(s->H);
    free(s);
}

static int blas_hd_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out,
                           char *err, size_t errlen)
{
    (void)in;
    (void)out;
    const int64_t n = cb_params_int(p, "K", 0);
    if (n > BLAS_HD_MAX_N)
        return cb_fail(err, errlen,
                       "blas hadamard: K = %lld > %d needs a dense %lld x %lld matrix; use the fwht backend",
                       (long long)n, BLAS_HD_MAX_N, (long long)n, (long long)n);
    blas_hd *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "blas hadamard: out of memory");
    s->M = cb_params_int(p, "M", 0);
    s->n = n;
    s->H = cb_alloc_floats((size_t)(n * n));
    if (!s->H) {
        blas_hd_release(s);
        return cb_fail(err, errlen, "blas hadamard: out of memory");
    }
    const float v = (float)(1.0 / sqrt((double)n));
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++)
            s->H[i * n + j] = (__builtin_popcountll((unsigned long long)(i & j)) & 1) ? -v : v;
    *state = s;
    return 0;
}

static int blas_hd_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)p;
    blas_hd *s = state;
    const int M = (int)s->M, n = (int)s->n;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, n, n, 1.0f, in[0].data, n, s->H, n,
                0.0f, out[0].data, n);
    return 0;
}

const cb_impl cb_impl_blas_hadamard = {
    .kernel = "hadamard",
    .backend = "blas",
    .how = "sgemm Y = X (H/sqrt(K)), dense H built in prepare, 2 M K^2 flops",
    .prepare = blas_hd_prepare,
    .run = blas_hd_run,
    .release = blas_hd_release,
};
