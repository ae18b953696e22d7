/* galerkin_attention.c (dnnl) — Galerkin attention with oneDNN 2.6 primitives.
 *
 * Four primitive executions per call, each covering all H heads, created in
 * prepare() on the caller's tensors (their addresses do not change before
 * release()) and only executed in run():
 *   K~ = layernorm(K), V~ = layernorm(V)   layer_normalization over the last
 *                                          dim of [H, N, d], no scale/shift,
 *                                          eps = 1e-5 (one primitive, twice)
 *   S  = (1/N) K~^T V~                     batched matmul [H, d, N] x [H, N, d];
 *                                          K~^T is K~ seen through strides
 *                                          {N d, 1, d} (no copy); 1/N is the
 *                                          output scale
 *   O  = Q S                               batched matmul [H, N, d] x [H, d, d]
 * The scale sits on the small d x d product. Work 4 H N d^2 (linear in N);
 * at large N the call is bound by memory traffic: q, k, v read, K~ and V~
 * written and read back, o written (6 H N d floats).
 */
#include "kernel.h"
#include "common/layernorm_rows.h"
#include "dnnl/dnnl_util.h"
#include "dnnl/galerkin_attention_prims.h"

#include <stdlib.h>
#include <string.h>

typedef struct dnnl_ga {
    cb_dnnl dn;
    float *kn, *vn, *S;                       /* H x N x d, H x N x d, H x d x d */
    dnnl_primitive_t ln, kv, qs;
    dnnl_memory_t q, k, v, o, kn_m, vn_m, knt, S_m;
} dnnl_ga;

static void dnnl_ga_release(void *state)
{
    dnnl_ga *s = state;
    if (!s) return;
    dnnl_primitive_t ps[] = {s->ln, s->kv, s->qs};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++)
        if (ps[i]) dnnl_primitive_destroy(ps[i]);
    dnnl_memory_t ms[] = {s->q, s->k, s->v, s->o, s->kn_m, s->vn_m, s->knt, s->S_m};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
        if (ms[i]) dnnl_memory_destroy(ms[i]);
    cb_dnnl_close(&s->dn);
    free(s->kn);
    free(s->vn);
    free(s->S);
    free(s);
}

static int dnnl_ga_build(dnnl_ga *s, const cb_params *p, const cb_tensor *in, cb_tensor *out, char *err,
                         size_t errlen)
{
    const int64_t H = cb_params_int(p, "H", 0), N = cb_params_int(p, "N", 0), d = cb_params_int(p, "d", 0);
    /* calloc: zeroed is pre-touched, so no first-touch page fault in run() */
    s->kn = calloc((size_t)(H * N * d), sizeof(float));
    s->vn = calloc((size_t)(H * N * d), sizeof(float));
    s->S = calloc((size_t)(H * d * d), sizeof(float));
    if (!s->kn || !s->vn || !s->S)
        return cb_fail(err, errlen, "dnnl galerkin_attention: out of memory");
    if (cb_dnnl_open(&s->dn, err, errlen))
        return -1;
    dnnl_engine_t eng = s->dn.eng;
    dnnl_memory_desc_t x_md, xt_md, S_md;
    const dnnl_dim_t x_dims[3] = {H, N, d}, x_str[3] = {N * d, d, 1};
    const dnnl_dim_t xt_dims[3] = {H, d, N}, xt_str[3] = {N * d, 1, d};   /* transposed view */
    const dnnl_dim_t S_dims[3] = {H, d, d}, S_str[3] = {d * d, d, 1};
    if (cb_dnnl_md_strided(&x_md, 3, x_dims, x_str, err, errlen) ||
        cb_dnnl_md_strided(&xt_md, 3, xt_dims, xt_str, err, errlen) ||
        cb_dnnl_md_strided(&S_md, 3, S_dims, S_str, err, errlen))
        return -1;
    if (cb_dnnl_mem(&s->q, &x_md, eng, in[0].data, err, errlen) || cb_dnnl_mem(&s->k, &x_md, eng, in[1].data, err, errlen) ||
        cb_dnnl_mem(&s->v, &x_md, eng, in[2].data, err, errlen) || cb_dnnl_mem(&s->o, &x_md, eng, out[0].data, err, errlen) ||
        cb_dnnl_mem(&s->kn_m, &x_md, eng, s->kn, err, errlen) || cb_dnnl_mem(&s->vn_m, &x_md, eng, s->vn, err, errlen) ||
        cb_dnnl_mem(&s->knt, &xt_md, eng, s->kn, err, errlen) || cb_dnnl_mem(&s->S_m, &S_md, eng, s->S, err, errlen))
        return -1;
    if (cb_ga_dnnl_layernorm(&s->ln, eng, &x_md, (float)CB_LN_EPS, NULL, err, errlen) ||
        cb_ga_dnnl_matmul(&s->kv, eng, &xt_md, &x_md, &S_md, 1.0f / (float)N, NULL, err, errlen) ||
        cb_ga_dnnl_matmul(&s->qs, eng, &x_md, &S_md, &x_md, 1.0f, NULL, err, errlen))
        return -1;
    return 0;
}

static int dnnl_ga_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out,
                           char *err, size_t errlen)
{
    dnnl_ga *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "dnnl galerkin_attention: out of memory");
    if (dnnl_ga_build(s, p, in, out, err, errlen)) {
        dnnl_ga_release(s);
        return -1;
    }
    *state = s;
    return 0;
}

static int dnnl_ga_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)p;
    (void)in;
    (void)out;
    dnnl_ga *s = state;
    dnnl_stream_t st = s->dn.st;
    if (cb_ga_dnnl_exec_layernorm(s->ln, st, s->k, s->kn_m) || cb_ga_dnnl_exec_layernorm(s->ln, st, s->v, s->vn_m) ||
        cb_dnnl_exec_matmul(s->kv, st, s->knt, s->vn_m, s->S_m, 0) ||
        cb_dnnl_exec_matmul(s->qs, st, s->q, s->S_m, s->o, 0))
        return -1;
    return dnnl_stream_wait(st) == dnnl_success ? 0 : -1;
}

const cb_impl cb_impl_dnnl_galerkin_attention = {
    .kernel = "galerkin_attention",
    .backend = "dnnl",
    .how = "oneDNN layer_normalization of k, v; batched matmuls S = K~^T V~/N (strided view), O = Q S",
    .prepare = dnnl_ga_prepare,
    .run = dnnl_ga_run,
    .release = dnnl_ga_release,
};
