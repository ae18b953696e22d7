/* long_conv.c (dnnl) — the causal long convolution as a oneDNN 2.6
 * depthwise convolution primitive: the direct method, O(D N^2).
 *
 * One grouped 1-D convolution (forward inference, direct algorithm):
 * src u as [1, D, N] (ncw), weights as [G = D, 1, 1, N] (goiw: one output
 * and one input channel per group, so depthwise), dst y as [1, D, N].
 * oneDNN computes a cross-correlation,
 *   dst[c, t] = sum_s w[c, s] src[c, t + s - pad_l],
 * so the causal convolution needs the filter reversed, w[c, s] = h[c, N-1-s],
 * and left padding N - 1, right padding 0 (output width N + (N-1) - N + 1):
 *   dst[c, t] = sum_k h[c, k] u[c, t - k],  k = N-1-s, taps t - k < 0 being
 * the zero padding. h is an input, so the reversal happens in run(): D N
 * copies, nothing next to the D N (N + 1) / 2 multiply-adds of the
 * convolution itself.
 *
 * What oneDNN 2.6 does with it: for a filter as long as the sequence it
 * picks its gemm-based convolution ("x64:gemm:jit" in DNNL_VERBOSE, with
 * plain layouts; asking for format_tag_any gave the same choice): per
 * group, an im2col of the N x N patch matrix followed by an sgemm with the
 * filter. Its JIT depthwise kernels are not used for such a wide filter.
 * So this backend is the direct method as a library does it: N^2 multiply-
 * adds and N^2 patch elements written and read per channel, quadratic in N
 * and bound by memory traffic; it is here to show the direct method's
 * growth, not to be fast.
 * The primitive and its memories are made in prepare(); run() reverses the
 * filter and executes.
 */
#include "kernel.h"
#include "dnnl/dnnl_util.h"

#include <stdlib.h>
#include <string.h>

typedef struct dnnl_lc {
    cb_dnnl dn;
    int64_t D, N;
    float *w;                    /* reversed filters, D x N */
    dnnl_primitive_t conv;
    dnnl_memory_t src, wei, dst;
} dnnl_lc;

static void dnnl_lc_release(void *state)
{
    dnnl_lc *s = state;
    if (!s) return;
    if (s->conv) dnnl_primitive_destroy(s->conv);
    if (s->src) dnnl_memory_destroy(s->src);
    if (s->wei) dnnl_memory_destroy(s->wei);
    if (s->dst) dnnl_memory_destroy(s->dst);
    cb_dnnl_close(&s->dn);
    free(s->w);
    free(s);
}

static int dnnl_lc_build(dnnl_lc *s, const cb_tensor *in, cb_tensor *out, char *err, size_t errlen)
{
    const int64_t D = s->D, N = s->N;
    s->w = cb_alloc_floats((size_t)(D * N));
    if (!s->w)
        return cb_fail(err, errlen, "dnnl long_conv: out of memory");
    if (cb_dnnl_open(&s->dn, err, errlen))
        return -1;
    dnnl_memory_desc_t x_md, w_md;
    /* full dnnl_dims_t arrays: the API reads DNNL_MAX_NDIMS entries */
    dnnl_dims_t x_dims = {1, D, N}, w_dims = {D, 1, 1, N};
    CB_DNNL_TRY(dnnl_memory_desc_init_by_tag(&x_md, 3, x_dims, dnnl_f32, dnnl_ncw));
    CB_DNNL_TRY(dnnl_memory_desc_init_by_tag(&w_md, 4, w_dims, dnnl_f32, dnnl_goiw));
    dnnl_dims_t strides = {1}, pad_l = {N - 1}, pad_r = {0};
    dnnl_convolution_desc_t cd;
    CB_DNNL_TRY(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct,
                                                   &x_md, &w_md, NULL, &x_md, strides, pad_l, pad_r));
    dnnl_primitive_desc_t pd = NULL;
    CB_DNNL_TRY(dnnl_primitive_desc_create(&pd, &cd, NULL, s->dn.eng, NULL));
    dnnl_status_t st = dnnl_primitive_create(&s->conv, pd);
    dnnl_primitive_desc_destroy(pd);
    if (st != dnnl_success)
        return cb_fail(err, errlen, "dnnl_primitive_create: %s", cb_dnnl_status_str(st));
    CB_DNNL_TRY(dnnl_memory_create(&s->src, &x_md, s->dn.eng, in[0].data));
    CB_DNNL_TRY(dnnl_memory_create(&s->wei, &w_md, s->dn.eng, s->w));
    CB_DNNL_TRY(dnnl_memory_create(&s->dst, &x_md, s->dn.eng, out[0].data));
    return 0;
}

static int dnnl_lc_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out,
                           char *err, size_t errlen)
{
    dnnl_lc *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "dnnl long_conv: out of memory");
    s->D = cb_params_int(p, "D", 0);
    s->N = cb_params_int(p, "N", 0);
    if (dnnl_lc_build(s, in, out, err, errlen)) {
        dnnl_lc_release(s);
        return -1;
    }
    *state = s;
    return 0;
}

static int dnnl_lc_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)p;
    (void)out;
    dnnl_lc *s = state;
    const int64_t D = s->D, N = s->N;
    /* w[c, s] = h[c, N-1-s]: O(D N), against O(D N^2) for the convolution */
    for (int64_t c = 0; c < D; c++) {
        const float *h = in[1].data + c * N;
        float *w = s->w + c * N;
        for (int64_t k = 0; k < N; k++)
            w[N - 1 - k] = h[k];
    }
    dnnl_exec_arg_t args[3] = {
        {DNNL_ARG_SRC, s->src}, {DNNL_ARG_WEIGHTS, s->wei}, {DNNL_ARG_DST, s->dst}};
    if (dnnl_primitive_execute(s->conv, s->dn.st, 3, args) != dnnl_success)
        return -1;
    return dnnl_stream_wait(s->dn.st) == dnnl_success ? 0 : -1;
}

const cb_impl cb_impl_dnnl_long_conv = {
    .kernel = "long_conv",
    .backend = "dnnl",
    .how = "oneDNN depthwise convolution (groups = D, ncw/goiw), filter reversed in run, left pad N-1: direct O(D N^2)",
    .prepare = dnnl_lc_prepare,
    .run = dnnl_lc_run,
    .release = dnnl_lc_release,
};
