/* int4_gemm.c (blas) — the INT4 product as a float32 sgemm (OpenBLAS): the
 * float32 baseline the integer path is timed against.
 *
 * run(): the levels clamp(rint(v), -7, 7) of a and b into float scratch
 * (one vectorized pass, O(MK + KN)), then one sgemm C = A B.
 * Why this is exact: every product of two levels is an integer of magnitude
 * <= 49 and every partial sum, in whatever order, blocking or FMA the
 * library uses, is an integer of magnitude <= 49 K < 2^24 (the contract
 * caps K at 342392), so each one is representable in float32 and no
 * operation rounds. The result equals the int64 reference bit for bit.
 * Why fast: a tuned sgemm (the AVX2 kernels here, OPENBLAS_CORETYPE).
 */
#include "common/int4_level.h"
#include "kernel.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>

typedef struct blas_ig {
    int64_t M, K, N;
    float *qa, *qb;
} blas_ig;

static void blas_ig_release(void *state)
{
    blas_ig *s = state;
    if (!s) return;
    free(s->qa);
    free(s->qb);
    free(s);
}

static int blas_ig_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out,
                           char *err, size_t errlen)
{
    (void)in;
    (void)out;
    blas_ig *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "blas int4_gemm: out of memory");
    s->M = cb_params_int(p, "M", 0);
    s->K = cb_params_int(p, "K", 0);
    s->N = cb_params_int(p, "N", 0);
    s->qa = cb_alloc_floats((size_t)(s->M * s->K));
    s->qb = cb_alloc_floats((size_t)(s->K * s->N));
    if (!s->qa || !s->qb) {
        blas_ig_release(s);
        return cb_fail(err, errlen, "blas int4_gemm: out of memory");
    }
    *state = s;
    return 0;
}

/* The levels (common/int4_level.h) of a and b in one parallel region (one
 * fork/join per call, not two). */
static void levels(const float *restrict a, float *restrict qa, int64_t na, const float *restrict b,
                   float *restrict qb, int64_t nb)
{
#pragma omp parallel if (na + nb >= 65536)
    {
#pragma omp for simd schedule(static) nowait
        for (int64_t i = 0; i < na; i++) {
            qa[i] = cb_int4_level(a[i]);
        }
#pragma omp for simd schedule(static)
        for (int64_t i = 0; i < nb; i++) {
            qb[i] = cb_int4_level(b[i]);
        }
    }
}

static int blas_ig_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)p;
    blas_ig *s = state;
    levels(in[0].data, s->qa, s->M * s->K, in[1].data, s->qb, s->K * s->N);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)s->M, (int)s->N, (int)s->K, 1.0f, s->qa,
                (int)s->K, s->qb, (int)s->N, 0.0f, out[0].data, (int)s->N);
    return 0;
}

const cb_impl cb_impl_blas_int4_gemm = {
    .kernel = "int4_gemm",
    .backend = "blas",
    .how = "levels to float, sgemm (exact: every partial sum is an integer < 2^24)",
    .prepare = blas_ig_prepare,
    .run = blas_ig_run,
    .release = blas_ig_release,
};
