/* hadamard.c (ref) — the hadamard contract and its oracle.
 *
 * The Hadamard quantizer of Xi et al. (2023, "Training Transformers with
 * 4-bit Integers") rotates each token row by the normalized Hadamard matrix
 * before quantizing it, so that a few outlier channels are spread over all
 * entries. This kernel is that rotation alone:
 *
 *   y[m, :] = x[m, :] H / sqrt(K),   H[i][j] = (-1)^popcount(i & j),
 *
 * H the Sylvester-order Hadamard matrix of order K (a power of two), applied
 * along the last axis of x [M, K] (K: the reduction axis of the GEMM that
 * consumes the rotated activations). H is symmetric and H H = K I, so the
 * transform is orthogonal and its own inverse.
 *
 * This file computes it the obvious way: a dense matmul in double, with the
 * entries of H from the popcount formula, O(K^2) per row.
 */
#include "kernel.h"
#include "common/fwht.h"

#include <math.h>
#include <stdlib.h>

/* ---- the contract ------------------------------------------------------ */

static int want_dim(const cb_params *p, const char *name, int64_t *out, char *err, size_t errlen)
{
    int i = cb_params_find(p, name);
    if (i < 0)
        return cb_fail(err, errlen, "hadamard: missing parameter %s", name);
    double v = p->value[i];
    if (!(v == floor(v)) || v < 1 || v > 1e9)
        return cb_fail(err, errlen, "hadamard: %s = %g must be an integer >= 1", name, v);
    *out = (int64_t)v;
    return 0;
}

static int hd_shapes(cb_params *p, cb_shape *in, cb_shape *out, char *err, size_t errlen)
{
    int64_t M = 0, n = 0;
    if (want_dim(p, "M", &M, err, errlen) || want_dim(p, "K", &n, err, errlen))
        return -1;
    if (!cb_is_pow2(n))
        return cb_fail(err, errlen,
                       "hadamard: K = %lld is not a power of two (the Sylvester Hadamard matrix "
                       "exists only for K = 2^k)", (long long)n);
    if (M * n > ((int64_t)1 << 31))
        return cb_fail(err, errlen, "hadamard: M*K = %lld is too large", (long long)(M * n));
    in[0] = (cb_shape){2, {M, n}};
    out[0] = (cb_shape){2, {M, n}};
    return 0;
}

static int hd_infer(cb_params *p, const cb_shape *in, char *err, size_t errlen)
{
    if (in[0].rank != 2)
        return cb_fail(err, errlen, "hadamard: input x must be [M, K]");
    if (cb_params_set(p, "M", (double)in[0].dim[0]) || cb_params_set(p, "K", (double)in[0].dim[1]))
        return cb_fail(err, errlen, "hadamard: too many parameters");
    return 0;
}

/* Nominal FLOPs, the same for every backend: the K log2 K additions of the
 * fast transform per row (the dense backends do 2 K^2; the scaling by
 * 1/sqrt(K) is not counted). */
static double hd_flops(const cb_params *p)
{
    double M = cb_params_get(p, "M", 0), n = cb_params_get(p, "K", 0);
    return n > 1 ? M * n * log2(n) : 0;
}

const cb_kernel cb_kernel_hadamard = {
    .name = "hadamard",
    .summary = "y = x H / sqrt(K) per row, H the Sylvester Hadamard matrix, K = 2^k (Xi et al. 2023)",
    .params_doc = "M K",
    .n_in = 1,
    .in = {"x"},
    .n_out = 1,
    .out = {"y"},
    .shapes = hd_shapes,
    .infer = hd_infer,
    .flops = hd_flops,
};

/* ---- the reference implementation ------------------------------------- */

static int ref_hd_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)state;
    const int64_t M = cb_params_int(p, "M", 0), n = cb_params_int(p, "K", 0);
    const double inv = 1.0 / sqrt((double)n);
    for (int64_t m = 0; m < M; m++) {
        const float *x = in[0].data + m * n;
        float *y = out[0].data + m * n;
        for (int64_t j = 0; j < n; j++) {
            double acc = 0;
            for (int64_t i = 0; i < n; i++) {
                /* H[i][j] = (-1)^popcount(i & j) */
                int neg = __builtin_popcountll((unsigned long long)(i & j)) & 1;
                acc += neg ? -(double)x[i] : (double)x[i];
            }
            y[j] = (float)(acc * inv);
        }
    }
    return 0;
}

const cb_impl cb_impl_ref_hadamard = {
    .kernel = "hadamard",
    .backend = "ref",
    .how = "double: dense y_j = sum_i x_i (-1)^popcount(i&j) / sqrt(K), O(K^2) per row",
    .prepare = NULL,
    .run = ref_hd_run,
    .release = NULL,
};
