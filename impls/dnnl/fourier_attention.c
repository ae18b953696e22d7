/* fourier_attention.c (dnnl) — Fourier attention with oneDNN 2.6 primitives.
 *
 * Created in prepare() on the caller's tensors (their addresses do not
 * change before release()) and only executed in run():
 *   Q~ = layernorm(Q), K~ = layernorm(K)   layer_normalization over the last
 *                                          dim of [H, N, d], no scale/shift,
 *                                          eps = 1e-5 (one primitive, twice)
 *   then per block of B query rows, all H heads in one execution:
 *   A   = Q~_b K~^T                        batched matmul [H, B, d] x [H, d, N];
 *                                          K~^T is K~ seen through strides
 *                                          {N d, 1, d} (no copy)
 *   O_b = (1/N) A V                        batched matmul [H, B, N] x [H, N, d],
 *                                          1/N as the output scale
 * Q~_b and O_b are strided views (row stride d, head stride N d) whose data
 * handles move from block to block; the tail block has its own pair of
 * primitives. B is the largest power of two <= 1024 with H B N <= 2^24
 * floats (a 64 MiB score block), and never more than N, so the N x N
 * scores of all heads never exist at once (2 GiB at H = 8, N = 8192).
 * The block is not sized for the cache: the size of each matmul execution
 * matters more. Measured at H = 8, d = 64, 2 threads: a cap of 2^21 floats
 * (8 MiB, L3-resident; B = 64 at N = 4096, 32 at N = 8192) gave 251 and
 * 175 GFLOP/s at N = 4096 and 8192; 2^24 gives 342 and 319; 2^25 adds
 * under 6% for twice the memory.
 */
#include "kernel.h"
#include "common/layernorm_rows.h"
#include "dnnl/dnnl_util.h"
#include "dnnl/galerkin_attention_prims.h"

#include <stdlib.h>
#include <string.h>

#define FA_BLOCK_MAX 1024
#define FA_SCORES_MAX ((int64_t)1 << 24)

/* The primitives and moving views for blocks of L rows. */
typedef struct fa_block {
    int64_t L;
    dnnl_primitive_t qk, av;
    dnnl_memory_t qb, ob, A_m;
} fa_block;

typedef struct dnnl_fa {
    cb_dnnl dn;
    int64_t H, N, d, B;
    float *qn, *kn, *A;                       /* H x N x d, H x N x d, H x B x N */
    dnnl_primitive_t ln;
    dnnl_memory_t q, k, v, qn_m, kn_m, knt;
    fa_block full, tail;
} dnnl_fa;

static void block_release(fa_block *b)
{
    if (b->qk) dnnl_primitive_destroy(b->qk);
    if (b->av) dnnl_primitive_destroy(b->av);
    dnnl_memory_t ms[] = {b->qb, b->ob, b->A_m};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
        if (ms[i]) dnnl_memory_destroy(ms[i]);
    memset(b, 0, sizeof *b);
}

static void dnnl_fa_release(void *state)
{
    dnnl_fa *s = state;
    if (!s) return;
    block_release(&s->full);
    block_release(&s->tail);
    if (s->ln) dnnl_primitive_destroy(s->ln);
    dnnl_memory_t ms[] = {s->q, s->k, s->v, s->qn_m, s->kn_m, s->knt};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
        if (ms[i]) dnnl_memory_destroy(ms[i]);
    cb_dnnl_close(&s->dn);
    free(s->qn);
    free(s->kn);
    free(s->A);
    free(s);
}

/* Primitives for blocks of L rows; the views start on block 0. */
static int block_build(dnnl_fa *s, fa_block *b, int64_t L, float *o, char *err, size_t errlen)
{
    const int64_t H = s->H, N = s->N, d = s->d;
    dnnl_engine_t eng = s->dn.eng;
    dnnl_memory_desc_t qb_md, kt_md, A_md, v_md, ob_md;
    const dnnl_dim_t qb_dims[3] = {H, L, d}, qb_str[3] = {N * d, d, 1};
    const dnnl_dim_t kt_dims[3] = {H, d, N}, kt_str[3] = {N * d, 1, d};
    const dnnl_dim_t A_dims[3] = {H, L, N}, A_str[3] = {L * N, N, 1};
    const dnnl_dim_t v_dims[3] = {H, N, d}, v_str[3] = {N * d, d, 1};
    b->L = L;
    if (cb_dnnl_md_strided(&qb_md, 3, qb_dims, qb_str, err, errlen) ||
        cb_dnnl_md_strided(&kt_md, 3, kt_dims, kt_str, err, errlen) ||
        cb_dnnl_md_strided(&A_md, 3, A_dims, A_str, err, errlen) ||
        cb_dnnl_md_strided(&v_md, 3, v_dims, v_str, err, errlen) ||
        cb_dnnl_md_strided(&ob_md, 3, qb_dims, qb_str, err, errlen))
        return -1;
    if (cb_dnnl_mem(&b->qb, &qb_md, eng, s->qn, err, errlen) || cb_dnnl_mem(&b->ob, &ob_md, eng, o, err, errlen) ||
        cb_dnnl_mem(&b->A_m, &A_md, eng, s->A, err, errlen))
        return -1;
    if (cb_ga_dnnl_matmul(&b->qk, eng, &qb_md, &kt_md, &A_md, 1.0f, NULL, err, errlen) ||
        cb_ga_dnnl_matmul(&b->av, eng, &A_md, &v_md, &ob_md, 1.0f / (float)N, NULL, err, errlen))
        return -1;
    return 0;
}

static int dnnl_fa_build(dnnl_fa *s, const cb_params *p, const cb_tensor *in, cb_tensor *out, char *err,
                         size_t errlen)
{
    const int64_t H = s->H = cb_params_int(p, "H", 0), N = s->N = cb_params_int(p, "N", 0);
    const int64_t d = s->d = cb_params_int(p, "d", 0);
    s->B = FA_BLOCK_MAX;
    while (s->B > 16 && H * s->B * N > FA_SCORES_MAX)
        s->B /= 2;
    if (s->B > N) s->B = N;
    /* calloc: zeroed is pre-touched, so no first-touch page fault in run() */
    s->qn = calloc((size_t)(H * N * d), sizeof(float));
    s->kn = calloc((size_t)(H * N * d), sizeof(float));
    s->A = calloc((size_t)(H * s->B * N), sizeof(float));
    if (!s->qn || !s->kn || !s->A)
        return cb_fail(err, errlen, "dnnl fourier_attention: out of memory");
    if (cb_dnnl_open(&s->dn, err, errlen))
        return -1;
    dnnl_engine_t eng = s->dn.eng;
    dnnl_memory_desc_t x_md, xt_md;
    const dnnl_dim_t x_dims[3] = {H, N, d}, x_str[3] = {N * d, d, 1};
    const dnnl_dim_t xt_dims[3] = {H, d, N}, xt_str[3] = {N * d, 1, d};
    if (cb_dnnl_md_strided(&x_md, 3, x_dims, x_str, err, errlen) ||
        cb_dnnl_md_strided(&xt_md, 3, xt_dims, xt_str, err, errlen))
        return -1;
    if (cb_dnnl_mem(&s->q, &x_md, eng, in[0].data, err, errlen) || cb_dnnl_mem(&s->k, &x_md, eng, in[1].data, err, errlen) ||
        cb_dnnl_mem(&s->v, &x_md, eng, in[2].data, err, errlen) || cb_dnnl_mem(&s->qn_m, &x_md, eng, s->qn, err, errlen) ||
        cb_dnnl_mem(&s->kn_m, &x_md, eng, s->kn, err, errlen) || cb_dnnl_mem(&s->knt, &xt_md, eng, s->kn, err, errlen))
        return -1;
    if (cb_ga_dnnl_layernorm(&s->ln, eng, &x_md, (float)CB_LN_EPS, NULL, err, errlen))
        return -1;
    if (block_build(s, &s->full, s->B, out[0].data, err, errlen))
        return -1;
    if (N % s->B && block_build(s, &s->tail, N % s->B, out[0].data, err, errlen))
        return -1;
    return 0;
}

static int dnnl_fa_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out,
                           char *err, size_t errlen)
{
    dnnl_fa *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "dnnl fourier_attention: out of memory");
    if (dnnl_fa_build(s, p, in, out, err, errlen)) {
        dnnl_fa_release(s);
        return -1;
    }
    *state = s;
    return 0;
}

static int dnnl_fa_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)p;
    (void)in;
    dnnl_fa *s = state;
    dnnl_stream_t st = s->dn.st;
    const int64_t N = s->N, d = s->d;
    if (cb_ga_dnnl_exec_layernorm(s->ln, st, s->q, s->qn_m) || cb_ga_dnnl_exec_layernorm(s->ln, st, s->k, s->kn_m))
        return -1;
    for (int64_t r0 = 0; r0 < N; r0 += s->B) {
        fa_block *b = N - r0 >= s->B ? &s->full : &s->tail;
        if (dnnl_memory_set_data_handle(b->qb, s->qn + r0 * d) != dnnl_success ||
            dnnl_memory_set_data_handle(b->ob, out[0].data + r0 * d) != dnnl_success ||
            cb_dnnl_exec_matmul(b->qk, st, b->qb, s->knt, b->A_m, 0) ||
            cb_dnnl_exec_matmul(b->av, st, b->A_m, s->v, b->ob, 0))
            return -1;
    }
    return dnnl_stream_wait(st) == dnnl_success ? 0 : -1;
}

const cb_impl cb_impl_dnnl_fourier_attention = {
    .kernel = "fourier_attention",
    .backend = "dnnl",
    .how = "oneDNN layer_normalization of q, k; per row block batched matmuls A = Q~_b K~^T, O_b = A V/N",
    .prepare = dnnl_fa_prepare,
    .run = dnnl_fa_run,
    .release = dnnl_fa_release,
};
