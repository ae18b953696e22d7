/* lsa_layer.c (dnnl) — one linear self-attention layer with oneDNN 2.6
 * matmul primitives.
 *
 * The same regrouping as the blas backend (see impls/blas/lsa_layer.c):
 *   C   = Zc^T Zc                 matmul [D, N] x [N, D]; Zc^T is the first
 *                                 N rows of z seen through strides {1, D}
 *   A   = wp wv,  B = A C         matmul [D, D] x [D, D] (one primitive,
 *   G   = (B wk^T / N) wq         executed three times on different memories);
 *                                 wk^T is a strided view, 1/N the output
 *                                 scale of that product
 *   out = z + Z G^T               memcpy z -> out, then matmul [T, D] x [D, D]
 *                                 (G^T a strided view) with a sum post-op
 * Why it is fast: two passes over the tokens (forming C, applying G), each a
 * single matmul with a long dimension N or T; everything else is D x D.
 * No N x N scores, O(T D^2) work. Every primitive and memory object is
 * created in prepare() on the caller's tensors (their addresses do not
 * change before release()); run() only executes.
 */
#include "kernel.h"
#include "dnnl/dnnl_util.h"
#include "dnnl/galerkin_attention_prims.h"

#include <stdlib.h>
#include <string.h>

typedef struct dnnl_lsa {
    cb_dnnl dn;
    int64_t N, D;
    float *C, *A, *B, *G;                       /* D x D scratch */
    dnnl_primitive_t zz, dd, bk, zg;            /* C = Zc^T Zc; D x D; B wk^T / N; Z G^T + out */
    dnnl_memory_t zt, zc, zall, o, wk_t, wq, wv, wp, C_m, A_m, B_m, G_m, G_t;
} dnnl_lsa;

static void dnnl_lsa_release(void *state)
{
    dnnl_lsa *s = state;
    if (!s) return;
    dnnl_primitive_t ps[] = {s->zz, s->dd, s->bk, s->zg};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++)
        if (ps[i]) dnnl_primitive_destroy(ps[i]);
    dnnl_memory_t ms[] = {s->zt, s->zc, s->zall, s->o, s->wk_t, s->wq, s->wv,
                          s->wp, s->C_m, s->A_m, s->B_m, s->G_m, s->G_t};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
        if (ms[i]) dnnl_memory_destroy(ms[i]);
    cb_dnnl_close(&s->dn);
    free(s->C);
    free(s->A);
    free(s->B);
    free(s->G);
    free(s);
}

/* dst = src x wei + dst (a sum post-op with scale 1). */
static int matmul_acc(dnnl_primitive_t *prim, dnnl_engine_t eng, const dnnl_memory_desc_t *src,
                      const dnnl_memory_desc_t *wei, const dnnl_memory_desc_t *dst, char *err, size_t errlen)
{
    dnnl_matmul_desc_t md;
    CB_DNNL_TRY(dnnl_matmul_desc_init(&md, src, wei, NULL, dst));
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    int rc = -1;
    dnnl_status_t st = dnnl_primitive_attr_create(&attr);
    if (st == dnnl_success) st = dnnl_post_ops_create(&po);
    if (st == dnnl_success) st = dnnl_post_ops_append_sum(po, 1.0f);
    if (st == dnnl_success) st = dnnl_primitive_attr_set_post_ops(attr, po);
    if (st == dnnl_success) st = dnnl_primitive_desc_create(&pd, &md, attr, eng, NULL);
    if (st == dnnl_success) st = dnnl_primitive_create(prim, pd);
    if (st == dnnl_success) rc = 0;
    else cb_fail(err, errlen, "lsa_layer dnnl matmul with sum post-op: %s", cb_dnnl_status_str(st));
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (po) dnnl_post_ops_destroy(po);
    if (attr) dnnl_primitive_attr_destroy(attr);
    return rc;
}

static int dnnl_lsa_build(dnnl_lsa *s, const cb_params *p, const cb_tensor *in, cb_tensor *out, char *err,
                          size_t errlen)
{
    const int64_t N = cb_params_int(p, "N", 0), D = cb_params_int(p, "D", 0), T = N + 1;
    s->N = N;
    s->D = D;
    const size_t dd = (size_t)(D * D);
    s->C = cb_alloc_floats(dd);
    s->A = cb_alloc_floats(dd);
    s->B = cb_alloc_floats(dd);
    s->G = cb_alloc_floats(dd);
    if (!s->C || !s->A || !s->B || !s->G)
        return cb_fail(err, errlen, "dnnl lsa_layer: out of memory");
    if (cb_dnnl_open(&s->dn, err, errlen))
        return -1;
    dnnl_engine_t eng = s->dn.eng;
    dnnl_memory_desc_t zt_md, zc_md, z_md, sq_md, sqt_md;
    const dnnl_dim_t zt_dims[2] = {D, N}, zt_str[2] = {1, D};     /* Zc^T, no copy */
    const dnnl_dim_t zc_dims[2] = {N, D}, z_dims[2] = {T, D}, row_str[2] = {D, 1};
    const dnnl_dim_t sq_dims[2] = {D, D}, sq_str[2] = {D, 1}, sqt_str[2] = {1, D};
    if (cb_dnnl_md_strided(&zt_md, 2, zt_dims, zt_str, err, errlen) ||
        cb_dnnl_md_strided(&zc_md, 2, zc_dims, row_str, err, errlen) ||
        cb_dnnl_md_strided(&z_md, 2, z_dims, row_str, err, errlen) ||
        cb_dnnl_md_strided(&sq_md, 2, sq_dims, sq_str, err, errlen) ||
        cb_dnnl_md_strided(&sqt_md, 2, sq_dims, sqt_str, err, errlen))
        return -1;
    if (cb_dnnl_mem(&s->zt, &zt_md, eng, in[0].data, err, errlen) || cb_dnnl_mem(&s->zc, &zc_md, eng, in[0].data, err, errlen) ||
        cb_dnnl_mem(&s->zall, &z_md, eng, in[0].data, err, errlen) || cb_dnnl_mem(&s->o, &z_md, eng, out[0].data, err, errlen) ||
        cb_dnnl_mem(&s->wk_t, &sqt_md, eng, in[1].data, err, errlen) || cb_dnnl_mem(&s->wq, &sq_md, eng, in[2].data, err, errlen) ||
        cb_dnnl_mem(&s->wv, &sq_md, eng, in[3].data, err, errlen) || cb_dnnl_mem(&s->wp, &sq_md, eng, in[4].data, err, errlen) ||
        cb_dnnl_mem(&s->C_m, &sq_md, eng, s->C, err, errlen) || cb_dnnl_mem(&s->A_m, &sq_md, eng, s->A, err, errlen) ||
        cb_dnnl_mem(&s->B_m, &sq_md, eng, s->B, err, errlen) || cb_dnnl_mem(&s->G_m, &sq_md, eng, s->G, err, errlen) ||
        cb_dnnl_mem(&s->G_t, &sqt_md, eng, s->G, err, errlen))
        return -1;
    if (cb_ga_dnnl_matmul(&s->zz, eng, &zt_md, &zc_md, &sq_md, 1.0f, NULL, err, errlen) ||
        cb_ga_dnnl_matmul(&s->dd, eng, &sq_md, &sq_md, &sq_md, 1.0f, NULL, err, errlen) ||
        cb_ga_dnnl_matmul(&s->bk, eng, &sq_md, &sqt_md, &sq_md, 1.0f / (float)N, NULL, err, errlen) ||
        matmul_acc(&s->zg, eng, &z_md, &sqt_md, &z_md, err, errlen))
        return -1;
    return 0;
}

static int dnnl_lsa_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out, char *err,
                            size_t errlen)
{
    dnnl_lsa *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "dnnl lsa_layer: out of memory");
    if (dnnl_lsa_build(s, p, in, out, err, errlen)) {
        dnnl_lsa_release(s);
        return -1;
    }
    *state = s;
    return 0;
}

static int dnnl_lsa_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)p;
    dnnl_lsa *s = state;
    dnnl_stream_t st = s->dn.st;
    memcpy(out[0].data, in[0].data, (size_t)(s->N + 1) * (size_t)s->D * sizeof(float));
    if (cb_dnnl_exec_matmul(s->zz, st, s->zt, s->zc, s->C_m, 0) ||   /* C = Zc^T Zc */
        cb_dnnl_exec_matmul(s->dd, st, s->wp, s->wv, s->A_m, 0) ||   /* A = wp wv */
        cb_dnnl_exec_matmul(s->dd, st, s->A_m, s->C_m, s->B_m, 0) || /* B = A C */
        cb_dnnl_exec_matmul(s->bk, st, s->B_m, s->wk_t, s->A_m, 0) || /* A = B wk^T / N */
        cb_dnnl_exec_matmul(s->dd, st, s->A_m, s->wq, s->G_m, 0) ||  /* G = A wq */
        cb_dnnl_exec_matmul(s->zg, st, s->zall, s->G_t, s->o, 0))    /* out = z + Z G^T */
        return -1;
    return dnnl_stream_wait(st) == dnnl_success ? 0 : -1;
}

const cb_impl cb_impl_dnnl_lsa_layer = {
    .kernel = "lsa_layer",
    .backend = "dnnl",
    .how = "oneDNN matmuls: C = Zc^T Zc (strided view), D x D chain G = wp wv C wk^T wq / N, out = z + Z G^T (sum post-op)",
    .prepare = dnnl_lsa_prepare,
    .run = dnnl_lsa_run,
    .release = dnnl_lsa_release,
};
