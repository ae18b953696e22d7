/* conv2d.c (dnnl) — 2-D convolution with oneDNN 2.6's convolution primitive.
 *
 * One forward-inference convolution (direct algorithm, stride 1, padding
 * r = (K - 1)/2 on every side, no bias), created in prepare() with
 * "any" memory formats so that oneDNN picks its own layouts. Here (oneDNN
 * 2.6.3, AVX-512, Cin = Cout = 16, K = 3; ONEDNN_VERBOSE=1) it picks
 * brgconv:avx512_core, the batch-reduce GEMM convolution, with channels-last
 * (nhwc) activations and Acdb16a weights: each pixel's 16 channels are one
 * vector, and the K^2 taps are a batch of small GEMMs reduced in registers.
 * The caller's plain tensors (x nchw with N = 1, w oihw, y nchw) are
 * converted by reorder primitives, executed inside the timed run because x
 * and w are inputs of every call; when oneDNN keeps a plain layout the
 * reorder is skipped. Every primitive and buffer is created in prepare().
 */
#include "kernel.h"
#include "dnnl/dnnl_util.h"

#include <stdlib.h>
#include <string.h>

typedef struct dnnl_conv {
    cb_dnnl dn;
    dnnl_primitive_t conv, r_src, r_wei, r_dst;    /* reorders may be NULL */
    dnnl_memory_t u_src, u_wei, u_dst;             /* the caller's tensors */
    dnnl_memory_t p_src, p_wei, p_dst;             /* primitive layouts (or the user's) */
    void *b_src, *b_wei, *b_dst;                   /* buffers of the blocked layouts */
} dnnl_conv;

static void dnnl_conv_release(void *state)
{
    dnnl_conv *s = state;
    if (!s) return;
    dnnl_primitive_t ps[] = {s->conv, s->r_src, s->r_wei, s->r_dst};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++)
        if (ps[i]) dnnl_primitive_destroy(ps[i]);
    dnnl_memory_t ms[] = {s->u_src, s->u_wei, s->u_dst, s->p_src, s->p_wei, s->p_dst};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
        if (ms[i] && (i < 3 || ms[i] != ms[i - 3])) dnnl_memory_destroy(ms[i]);
    cb_dnnl_close(&s->dn);
    free(s->b_src);
    free(s->b_wei);
    free(s->b_dst);
    free(s);
}

/* A reorder from `from` to `to` (NULL when the layouts are equal). */
static int make_reorder(dnnl_primitive_t *r, const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to,
                        dnnl_engine_t eng, char *err, size_t errlen)
{
    *r = NULL;
    if (dnnl_memory_desc_equal(from, to))
        return 0;
    dnnl_primitive_desc_t pd;
    CB_DNNL_TRY(dnnl_reorder_primitive_desc_create(&pd, from, eng, to, eng, NULL));
    dnnl_status_t st = dnnl_primitive_create(r, pd);
    dnnl_primitive_desc_destroy(pd);
    if (st != dnnl_success) {
        *r = NULL;
        return cb_fail(err, errlen, "dnnl_primitive_create(reorder): %s", cb_dnnl_status_str(st));
    }
    return 0;
}

/* The primitive-side memory for layout md: the user's memory when equal,
 * else a new buffer (zeroed, so pre-touched). */
static int side_mem(dnnl_memory_t *m, void **buf, dnnl_memory_t user, const dnnl_memory_desc_t *user_md,
                    const dnnl_memory_desc_t *md, dnnl_engine_t eng, char *err, size_t errlen)
{
    if (dnnl_memory_desc_equal(user_md, md)) {
        *m = user;
        return 0;
    }
    size_t bytes = dnnl_memory_desc_get_size(md);
    *buf = calloc(1, bytes > 0 ? bytes : 1);
    if (!*buf) return cb_fail(err, errlen, "dnnl conv2d: out of memory");
    CB_DNNL_TRY(dnnl_memory_create(m, md, eng, *buf));
    return 0;
}

static int dnnl_conv_build(dnnl_conv *s, const cb_params *p, const cb_tensor *in, cb_tensor *out, char *err,
                           size_t errlen)
{
    const int64_t Cin = cb_params_int(p, "Cin", 0), Cout = cb_params_int(p, "Cout", 0);
    const int64_t K = cb_params_int(p, "K", 3), Hh = cb_params_int(p, "Hh", 0), Ww = cb_params_int(p, "Ww", 0);
    const int64_t r = (K - 1) / 2;
    if (cb_dnnl_open(&s->dn, err, errlen))
        return -1;
    dnnl_engine_t eng = s->dn.eng;
    dnnl_memory_desc_t us, uw, ud, as, aw, ad;
    const dnnl_dims_t sd = {1, Cin, Hh, Ww}, wd = {Cout, Cin, K, K}, dd = {1, Cout, Hh, Ww};
    CB_DNNL_TRY(dnnl_memory_desc_init_by_tag(&us, 4, sd, dnnl_f32, dnnl_nchw));
    CB_DNNL_TRY(dnnl_memory_desc_init_by_tag(&uw, 4, wd, dnnl_f32, dnnl_oihw));
    CB_DNNL_TRY(dnnl_memory_desc_init_by_tag(&ud, 4, dd, dnnl_f32, dnnl_nchw));
    CB_DNNL_TRY(dnnl_memory_desc_init_by_tag(&as, 4, sd, dnnl_f32, dnnl_format_tag_any));
    CB_DNNL_TRY(dnnl_memory_desc_init_by_tag(&aw, 4, wd, dnnl_f32, dnnl_format_tag_any));
    CB_DNNL_TRY(dnnl_memory_desc_init_by_tag(&ad, 4, dd, dnnl_f32, dnnl_format_tag_any));
    dnnl_convolution_desc_t cd;
    const dnnl_dims_t strides = {1, 1}, pad = {r, r};
    CB_DNNL_TRY(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct, &as, &aw,
                                                   NULL, &ad, strides, pad, pad));
    dnnl_primitive_desc_t pd;
    CB_DNNL_TRY(dnnl_primitive_desc_create(&pd, &cd, NULL, eng, NULL));
    dnnl_memory_desc_t ps = *dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    dnnl_memory_desc_t pw = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    dnnl_memory_desc_t pdd = *dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    dnnl_status_t st = dnnl_primitive_create(&s->conv, pd);
    dnnl_primitive_desc_destroy(pd);
    if (st != dnnl_success) {
        s->conv = NULL;
        return cb_fail(err, errlen, "dnnl_primitive_create(convolution): %s", cb_dnnl_status_str(st));
    }
    CB_DNNL_TRY(dnnl_memory_create(&s->u_src, &us, eng, in[0].data));
    CB_DNNL_TRY(dnnl_memory_create(&s->u_wei, &uw, eng, in[1].data));
    CB_DNNL_TRY(dnnl_memory_create(&s->u_dst, &ud, eng, out[0].data));
    if (side_mem(&s->p_src, &s->b_src, s->u_src, &us, &ps, eng, err, errlen) ||
        side_mem(&s->p_wei, &s->b_wei, s->u_wei, &uw, &pw, eng, err, errlen) ||
        side_mem(&s->p_dst, &s->b_dst, s->u_dst, &ud, &pdd, eng, err, errlen) ||
        make_reorder(&s->r_src, &us, &ps, eng, err, errlen) || make_reorder(&s->r_wei, &uw, &pw, eng, err, errlen) ||
        make_reorder(&s->r_dst, &pdd, &ud, eng, err, errlen))
        return -1;
    return 0;
}

static int dnnl_conv_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out, char *err,
                             size_t errlen)
{
    dnnl_conv *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "dnnl conv2d: out of memory");
    if (dnnl_conv_build(s, p, in, out, err, errlen)) {
        dnnl_conv_release(s);
        return -1;
    }
    *state = s;
    return 0;
}

static int reorder(dnnl_primitive_t r, dnnl_stream_t st, dnnl_memory_t from, dnnl_memory_t to)
{
    if (!r) return 0;
    dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    return dnnl_primitive_execute(r, st, 2, a) == dnnl_success ? 0 : -1;
}

static int dnnl_conv_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)p;
    (void)in;
    (void)out;
    dnnl_conv *s = state;
    dnnl_stream_t st = s->dn.st;
    if (reorder(s->r_src, st, s->u_src, s->p_src) || reorder(s->r_wei, st, s->u_wei, s->p_wei))
        return -1;
    dnnl_exec_arg_t a[3] = {{DNNL_ARG_SRC, s->p_src}, {DNNL_ARG_WEIGHTS, s->p_wei}, {DNNL_ARG_DST, s->p_dst}};
    if (dnnl_primitive_execute(s->conv, st, 3, a) != dnnl_success || reorder(s->r_dst, st, s->p_dst, s->u_dst))
        return -1;
    return dnnl_stream_wait(st) == dnnl_success ? 0 : -1;
}

const cb_impl cb_impl_dnnl_conv2d = {
    .kernel = "conv2d",
    .backend = "dnnl",
    .how = "oneDNN convolution primitive (direct, forward inference, layouts chosen by oneDNN, reorders timed)",
    .prepare = dnnl_conv_prepare,
    .run = dnnl_conv_run,
    .release = dnnl_conv_release,
};
