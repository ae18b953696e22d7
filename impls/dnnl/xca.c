/* dnnl/xca.c — cross-covariance attention (XCiT) with oneDNN 2.6 primitives.
 *
 * The math is in ref/xca.c. All H heads go through each primitive at once
 * (batched matmuls, batch = head); the primitives are created in prepare()
 * and only executed in run():
 *
 *   ssq, ssk = column sums of squares of q and k over the tokens   C, OpenMP over heads
 *   G = q^T k                matmul: q^T is q [H, N, dh] seen through strides
 *                            {N dh, 1, dh} (no copy), K = N
 *   r = tau / max(sqrt(ssq), eps), c = 1 / max(sqrt(ssk), eps)
 *   G[h, i, j] *= r[h, i] c[h, j]     C, H dh^2 multiplies
 *   A = softmax(G)           softmax v2 (accurate: row max subtracted) on the
 *                            H x dh x dh map, in place; its rows are a fixed
 *                            dh long whatever N, so one primitive fits
 *   o = v A^T                matmul; A^T is A seen through strides {dh^2, 1, dh}
 *
 * Why q and k are read twice (norms, then the product), where blas/xca.c
 * reads them once in blocks of tokens: a block of every head is a view
 * with batch stride N dh but only B dh elements per batch, and for such a
 * non-dense view oneDNN 2.6.3 picks gemm:jit instead of brgemm (with or
 * without the sum post-op that accumulates the blocks; checked with
 * dnnl_query_impl_info_str), and gemm:jit packs its operands into buffers
 * it allocates during each call, against the rule that run() allocates
 * nothing. Blocked that way it measured
 * 9.7 ms against 11.2 ms for this version (H = 8, N = 16384, dh = 64, best
 * of 30 on a shared machine); the single brgemm product was kept.
 *
 * Why the scaling is a C loop and not binary-mul post-ops of the Gram
 * matmul: a per-column scale {H, 1, dh} keeps the brgemm kernel, but any
 * per-row scale {H, dh, 1} drops the matmul to oneDNN's reference
 * implementation (ref:any, checked with ONEDNN_VERBOSE on 2.6.3), and the
 * loop over H dh^2 = 32768 values costs microseconds.
 *
 * As in blas/xca.c the normalization is folded into the dh x dh map, so no
 * N x dh copy of q or k exists: the scratch is H dh^2 floats for A and a few
 * H dh vectors (plus oneDNN's own scratchpads), whatever N. The sums of
 * squares accumulate in double (see blas/xca.c for why).
 */
#include "kernel.h"
#include "dnnl/dnnl_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define XCA_NORM_EPS 1e-12  /* F.normalize's default, as in ref/xca.c */

typedef struct dnnl_xca {
    cb_dnnl dn;
    int64_t H, N, dh;
    double tau;
    float *G;               /* H x dh x dh: Gram matrices, then A */
    float *r, *c;           /* H x dh: row and column scales */
    double *ssq, *ssk;      /* H x dh: sums of squares of the columns of q and k */
    dnnl_primitive_t gram, sm, outp;
    dnnl_memory_t mqt, mk, mg, mv, mat, mo;
} dnnl_xca;

static void dnnl_xca_release(void *state)
{
    dnnl_xca *s = state;
    if (!s) return;
    dnnl_primitive_t ps[3] = {s->gram, s->sm, s->outp};
    for (int i = 0; i < 3; i++)
        if (ps[i]) dnnl_primitive_destroy(ps[i]);
    dnnl_memory_t ms[6] = {s->mqt, s->mk, s->mg, s->mv, s->mat, s->mo};
    for (int i = 0; i < 6; i++)
        if (ms[i]) dnnl_memory_destroy(ms[i]);
    cb_dnnl_close(&s->dn);
    free(s->G);
    free(s->r);
    free(s->c);
    free(s->ssq);
    free(s->ssk);
    free(s);
}

/* A primitive from an initialized op descriptor and optional attributes. */
static int make_prim(dnnl_primitive_t *prim, const void *op_desc, const_dnnl_primitive_attr_t attr,
                     dnnl_engine_t eng, char *err, size_t errlen)
{
    dnnl_primitive_desc_t pd;
    CB_DNNL_TRY(dnnl_primitive_desc_create(&pd, op_desc, attr, eng, NULL));
    dnnl_status_t st = dnnl_primitive_create(prim, pd);
    dnnl_primitive_desc_destroy(pd);
    if (st != dnnl_success)
        return cb_fail(err, errlen, "dnnl xca: dnnl_primitive_create: %s", cb_dnnl_status_str(st));
    return 0;
}

static int dnnl_xca_build(dnnl_xca *s, const cb_params *p, const cb_tensor *in, cb_tensor *out,
                          char *err, size_t errlen)
{
    s->H = cb_params_int(p, "H", 0);
    s->N = cb_params_int(p, "N", 0);
    s->dh = cb_params_int(p, "dh", 0);
    s->tau = cb_params_get(p, "tau", 1.0);
    const int64_t H = s->H, N = s->N, dh = s->dh;
    s->G = calloc((size_t)(H * dh * dh), sizeof *s->G);   /* zeroed: pre-touched */
    s->r = calloc((size_t)(H * dh), sizeof *s->r);
    s->c = calloc((size_t)(H * dh), sizeof *s->c);
    s->ssq = calloc((size_t)(H * dh), sizeof *s->ssq);
    s->ssk = calloc((size_t)(H * dh), sizeof *s->ssk);
    if (!s->G || !s->r || !s->c || !s->ssq || !s->ssk)
        return cb_fail(err, errlen, "dnnl xca: out of memory");
    if (cb_dnnl_open(&s->dn, err, errlen))
        return -1;

    dnnl_memory_desc_t md_qt, md_k, md_g, md_v, md_at, md_o;
    const dnnl_dim_t qt_dims[3] = {H, dh, N}, qt_str[3] = {N * dh, 1, dh};   /* q^T, a view */
    const dnnl_dim_t x_dims[3] = {H, N, dh}, x_str[3] = {N * dh, dh, 1};     /* k, v, o */
    const dnnl_dim_t g_dims[3] = {H, dh, dh}, g_str[3] = {dh * dh, dh, 1};
    const dnnl_dim_t at_str[3] = {dh * dh, 1, dh};                            /* A^T, a view */
    if (cb_dnnl_md_strided(&md_qt, 3, qt_dims, qt_str, err, errlen) ||
        cb_dnnl_md_strided(&md_k, 3, x_dims, x_str, err, errlen) ||
        cb_dnnl_md_strided(&md_g, 3, g_dims, g_str, err, errlen) ||
        cb_dnnl_md_strided(&md_v, 3, x_dims, x_str, err, errlen) ||
        cb_dnnl_md_strided(&md_at, 3, g_dims, at_str, err, errlen) ||
        cb_dnnl_md_strided(&md_o, 3, x_dims, x_str, err, errlen))
        return -1;

    dnnl_matmul_desc_t gd;
    CB_DNNL_TRY(dnnl_matmul_desc_init(&gd, &md_qt, &md_k, NULL, &md_g));
    if (make_prim(&s->gram, &gd, NULL, s->dn.eng, err, errlen))
        return -1;
    dnnl_softmax_v2_desc_t sd;
    CB_DNNL_TRY(dnnl_softmax_v2_forward_desc_init(&sd, dnnl_forward_inference, dnnl_softmax_accurate,
                                                  &md_g, &md_g, 2));
    if (make_prim(&s->sm, &sd, NULL, s->dn.eng, err, errlen))
        return -1;
    dnnl_matmul_desc_t od;
    CB_DNNL_TRY(dnnl_matmul_desc_init(&od, &md_v, &md_at, NULL, &md_o));
    if (make_prim(&s->outp, &od, NULL, s->dn.eng, err, errlen))
        return -1;

    /* The tensors stay at these addresses until release() (kernel.h). */
    CB_DNNL_TRY(dnnl_memory_create(&s->mqt, &md_qt, s->dn.eng, in[0].data));
    CB_DNNL_TRY(dnnl_memory_create(&s->mk, &md_k, s->dn.eng, in[1].data));
    CB_DNNL_TRY(dnnl_memory_create(&s->mv, &md_v, s->dn.eng, in[2].data));
    CB_DNNL_TRY(dnnl_memory_create(&s->mo, &md_o, s->dn.eng, out[0].data));
    CB_DNNL_TRY(dnnl_memory_create(&s->mg, &md_g, s->dn.eng, s->G));
    CB_DNNL_TRY(dnnl_memory_create(&s->mat, &md_at, s->dn.eng, s->G));
    return 0;
}

static int dnnl_xca_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out,
                            char *err, size_t errlen)
{
    dnnl_xca *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "dnnl xca: out of memory");
    if (dnnl_xca_build(s, p, in, out, err, errlen)) {
        dnnl_xca_release(s);
        return -1;
    }
    *state = s;
    return 0;
}

/* ss[c] = sum_n x[n, c]^2 over the N rows of x [N, dh] (vectorizes over
 * the contiguous channels: float to double conversions, double adds). */
static void sum_squares(const float *x, int64_t N, int64_t dh, double *ss)
{
    for (int64_t c = 0; c < dh; c++)
        ss[c] = 0;
    for (int64_t n = 0; n < N; n++) {
        const float *row = x + n * dh;
        for (int64_t c = 0; c < dh; c++)
            ss[c] += (double)row[c] * (double)row[c];
    }
}

/* scale[c] = num / max(sqrt(ss[c]), eps) */
static void inv_norms(const double *ss, int64_t dh, double num, float *scale)
{
    for (int64_t c = 0; c < dh; c++) {
        double nrm = sqrt(ss[c]);
        scale[c] = (float)(num / (nrm > XCA_NORM_EPS ? nrm : XCA_NORM_EPS));
    }
}

static int dnnl_xca_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)p;
    (void)out;
    dnnl_xca *s = state;
    const int64_t H = s->H, N = s->N, dh = s->dh;
    /* the sums of squares: memory-bound passes over q and k, heads split
     * over the OpenMP threads oneDNN also runs on */
#pragma omp parallel for schedule(static)
    for (int64_t h = 0; h < H; h++) {
        sum_squares(in[0].data + h * N * dh, N, dh, s->ssq + h * dh);
        sum_squares(in[1].data + h * N * dh, N, dh, s->ssk + h * dh);
    }
    dnnl_exec_arg_t ga[3] = {{DNNL_ARG_SRC, s->mqt}, {DNNL_ARG_WEIGHTS, s->mk}, {DNNL_ARG_DST, s->mg}};
    if (dnnl_primitive_execute(s->gram, s->dn.st, 3, ga) != dnnl_success ||
        dnnl_stream_wait(s->dn.st) != dnnl_success)
        return -1;
    /* G[h, i, j] *= r[h, i] c[h, j], multiplied in turn so that r c
     * cannot overflow where a column was all zeros (its G entries are 0).
     * H dh^2 multiplies (32768 at H = 8, dh = 64): on the calling thread,
     * cheaper than waking the OpenMP team for it */
    for (int64_t h = 0; h < H; h++) {
        float *gh = s->G + h * dh * dh, *r = s->r + h * dh, *c = s->c + h * dh;
        inv_norms(s->ssq + h * dh, dh, s->tau, r);
        inv_norms(s->ssk + h * dh, dh, 1.0, c);
        for (int64_t i = 0; i < dh; i++)
            for (int64_t j = 0; j < dh; j++)
                gh[i * dh + j] = (gh[i * dh + j] * r[i]) * c[j];
    }
    dnnl_exec_arg_t sa[2] = {{DNNL_ARG_SRC, s->mg}, {DNNL_ARG_DST, s->mg}};
    dnnl_exec_arg_t oa[3] = {{DNNL_ARG_SRC, s->mv}, {DNNL_ARG_WEIGHTS, s->mat}, {DNNL_ARG_DST, s->mo}};
    if (dnnl_primitive_execute(s->sm, s->dn.st, 2, sa) != dnnl_success ||
        dnnl_primitive_execute(s->outp, s->dn.st, 3, oa) != dnnl_success ||
        dnnl_stream_wait(s->dn.st) != dnnl_success)
        return -1;
    return 0;
}

const cb_impl cb_impl_dnnl_xca = {
    .kernel = "xca",
    .backend = "dnnl",
    .how = "column sums of squares (C, OpenMP); batched matmul q^T k (strided view); scale by norms and tau (C); softmax v2; batched matmul v A^T",
    .prepare = dnnl_xca_prepare,
    .run = dnnl_xca_run,
    .release = dnnl_xca_release,
};
