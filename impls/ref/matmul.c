/* matmul.c (ref) — the matmul contract and its oracle.
 *
 * c = a b for a [M, K] and b [K, N], float32 row-major, c [M, N]. A plain
 * single-precision GEMM, the baseline other tasks time their kernels against
 * (piecewise_affine_mult: the bit-add "multiplication-free" product; the int4
 * GEMM task: float32 sgemm). Parameters M K N; 2 M K N flops.
 *
 * The oracle: every dot product accumulated in double over k = 0..K-1 and
 * rounded to float once.
 */
#include "kernel.h"
#include "common/mkn_shapes.h"

#include <stdlib.h>

static int mm_shapes(cb_params *p, cb_shape *in, cb_shape *out, char *err, size_t errlen)
{
    return cb_mkn_shapes("matmul", p, in, out, err, errlen);
}

static int mm_infer(cb_params *p, const cb_shape *in, char *err, size_t errlen)
{
    return cb_mkn_infer("matmul", p, in, err, errlen);
}

/* 2 M K N: one multiply and one add per term. */
static double mm_flops(const cb_params *p)
{
    return 2 * cb_params_get(p, "M", 0) * cb_params_get(p, "K", 0) * cb_params_get(p, "N", 0);
}

const cb_kernel cb_kernel_matmul = {
    .name = "matmul",
    .summary = "c = a b, a [M, K], b [K, N]: float32 GEMM (the sgemm baseline)",
    .params_doc = "M K N",
    .n_in = 2,
    .in = {"a", "b"},
    .n_out = 1,
    .out = {"c"},
    .shapes = mm_shapes,
    .infer = mm_infer,
    .flops = mm_flops,
};

/* ---- the reference implementation ------------------------------------- */

typedef struct ref_mm {
    int64_t M, K, N;
    double *row;   /* one row of c, N doubles */
} ref_mm;

static void ref_mm_release(void *state)
{
    ref_mm *s = state;
    if (!s) return;
    free(s->row);
    free(s);
}

static int ref_mm_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out,
                          char *err, size_t errlen)
{
    (void)in;
    (void)out;
    ref_mm *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "ref matmul: out of memory");
    s->M = cb_params_int(p, "M", 0);
    s->K = cb_params_int(p, "K", 0);
    s->N = cb_params_int(p, "N", 0);
    s->row = calloc((size_t)s->N, sizeof *s->row);
    if (!s->row) {
        ref_mm_release(s);
        return cb_fail(err, errlen, "ref matmul: out of memory");
    }
    *state = s;
    return 0;
}

/* Row i of c as sum_k a_ik b_k: (i, k, j) order, so b is read row by row;
 * each c_ij still sums its K terms in the order k = 0, 1, ..., in double. */
static int ref_mm_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)p;
    ref_mm *s = state;
    const int64_t M = s->M, K = s->K, N = s->N;
    const float *a = in[0].data, *b = in[1].data;
    float *c = out[0].data;
    for (int64_t i = 0; i < M; i++) {
        for (int64_t j = 0; j < N; j++)
            s->row[j] = 0;
        for (int64_t k = 0; k < K; k++) {
            const double aik = a[i * K + k];
            for (int64_t j = 0; j < N; j++)
                s->row[j] += aik * (double)b[k * N + j];
        }
        for (int64_t j = 0; j < N; j++)
            c[i * N + j] = (float)s->row[j];
    }
    return 0;
}

const cb_impl cb_impl_ref_matmul = {
    .kernel = "matmul",
    .backend = "ref",
    .how = "triple loop, each dot product accumulated in double",
    .prepare = ref_mm_prepare,
    .run = ref_mm_run,
    .release = ref_mm_release,
};
