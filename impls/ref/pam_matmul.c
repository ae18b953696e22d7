/* pam_matmul.c (ref) — the pam_matmul contract and its oracle.
 *
 * The "multiplication-free" matrix product of Kosson & Jaggi (2023): every
 * multiplication of c = a b replaced by the piecewise-affine multiply of
 * common/pam.h (an integer add of the float bit patterns), the additions
 * kept in floating point, as in the paper's PAM matmuls:
 *
 *   c_ij = sum_k pam(a_ik, b_kj),   a [M, K], b [K, N], c [M, N].
 *
 * Parameters M K N; 2 M K N "flop-equivalents" (one PAM and one add per
 * term), so GFLOP/s columns compare directly with the sgemm of `matmul`.
 * The oracle: products from cb_pam_f32 (exact: a PAM result is a float),
 * summed in double in the order k = 0, 1, ..., rounded to float once.
 */
#include "kernel.h"
#include "common/mkn_shapes.h"
#include "common/pam.h"

#include <stdlib.h>

static int pam_shapes(cb_params *p, cb_shape *in, cb_shape *out, char *err, size_t errlen)
{
    return cb_mkn_shapes("pam_matmul", p, in, out, err, errlen);
}

static int pam_infer(cb_params *p, const cb_shape *in, char *err, size_t errlen)
{
    return cb_mkn_infer("pam_matmul", p, in, err, errlen);
}

/* 2 M K N: a PAM in place of each multiplication, plus the add. */
static double pam_flops(const cb_params *p)
{
    return 2 * cb_params_get(p, "M", 0) * cb_params_get(p, "K", 0) * cb_params_get(p, "N", 0);
}

const cb_kernel cb_kernel_pam_matmul = {
    .name = "pam_matmul",
    .summary = "c_ij = sum_k pam(a_ik, b_kj): matmul with piecewise-affine (bit-add) products (Kosson 2023)",
    .params_doc = "M K N",
    .n_in = 2,
    .in = {"a", "b"},
    .n_out = 1,
    .out = {"c"},
    .shapes = pam_shapes,
    .infer = pam_infer,
    .flops = pam_flops,
};

/* ---- the reference implementation ------------------------------------- */

typedef struct ref_pam {
    int64_t M, K, N;
    double *row;   /* one row of c, N doubles */
} ref_pam;

static void ref_pam_release(void *state)
{
    ref_pam *s = state;
    if (!s) return;
    free(s->row);
    free(s);
}

static int ref_pam_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out,
                           char *err, size_t errlen)
{
    (void)in;
    (void)out;
    ref_pam *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "ref pam_matmul: out of memory");
    s->M = cb_params_int(p, "M", 0);
    s->K = cb_params_int(p, "K", 0);
    s->N = cb_params_int(p, "N", 0);
    s->row = calloc((size_t)s->N, sizeof *s->row);
    if (!s->row) {
        ref_pam_release(s);
        return cb_fail(err, errlen, "ref pam_matmul: out of memory");
    }
    *state = s;
    return 0;
}

/* (i, k, j) order: row i of c gathers pam(a_ik, b_kj) over k = 0, 1, ... */
static int ref_pam_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)p;
    ref_pam *s = state;
    const int64_t M = s->M, K = s->K, N = s->N;
    const float *a = in[0].data, *b = in[1].data;
    float *c = out[0].data;
    for (int64_t i = 0; i < M; i++) {
        for (int64_t j = 0; j < N; j++)
            s->row[j] = 0;
        for (int64_t k = 0; k < K; k++) {
            const float aik = a[i * K + k];
            for (int64_t j = 0; j < N; j++)
                s->row[j] += (double)cb_pam_f32(aik, b[k * N + j]);
        }
        for (int64_t j = 0; j < N; j++)
            c[i * N + j] = (float)s->row[j];
    }
    return 0;
}

const cb_impl cb_impl_ref_pam_matmul = {
    .kernel = "pam_matmul",
    .backend = "ref",
    .how = "triple loop: scalar PAM per product (common/pam.h), sums in double",
    .prepare = ref_pam_prepare,
    .run = ref_pam_run,
    .release = ref_pam_release,
};
