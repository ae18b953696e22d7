/* mhsa_conv.c (dnnl) — the convolution-performing attention (see
 * impls/ref/mhsa_conv.c) with oneDNN 2.6 matmul and softmax primitives.
 *
 * The heads are concatenated, as a multi-head layer does before its output
 * projection, so one block of queries costs three primitive executions:
 *   V[o, h, k] = sum_c W_h[o, c] xpad[c, k]    one batched matmul
 *                                              [K^2, Cout, Cin] x [Cin, Np]
 *                                              (batch broadcast), written as
 *                                              [Cout, K^2 Np]: every head's
 *                                              fused value/output projection
 *   per block of B queries:
 *     S[t, h, k] = -alpha ||k - q_t - Delta_h||^2   B x K^2 x Np scores, plain
 *                                                   C (the relative-position
 *                                                   bias)
 *     S = softmax(S) over k                          softmax_v2 primitive,
 *                                                   in place, rows of Np
 *     y[:, block] = V S^T                            one matmul [Cout, K^2 Np]
 *                                                   x [K^2 Np, B]: the sum
 *                                                   over heads is part of the
 *                                                   inner dimension
 * S^T is a strided view of S and the y block a strided set of columns, so
 * nothing is copied; the views move by dnnl_memory_set_data_handle, and a
 * second softmax/matmul pair serves the tail block. Why it is fast: all
 * arithmetic is in oneDNN's brgemm matmul (inner dimension K^2 Np) and its
 * JIT softmax, with few primitive calls per call (each ends in an OpenMP
 * barrier): B is the largest count with B K^2 Np <= 2^21 floats (8 MiB).
 * Every primitive and buffer is created in prepare(). As in the blas
 * backend, every call computes all K^2 Hh Ww Np scores and exponentials.
 */
#include "kernel.h"
#include "dnnl/dnnl_util.h"

#include <stdlib.h>
#include <string.h>

typedef struct dnnl_mc {
    cb_dnnl dn;
    int64_t Cin, Cout, K, K2, Hh, Ww, r, Hp, Wp, Np, N, B, tail;
    float alpha;
    float *xpad, *W, *V, *S;
    dnnl_primitive_t proj, sm[2], pv[2];            /* [0] full block, [1] tail */
    dnnl_memory_t m_W, m_x, m_Vp, m_V, m_S[2], m_St[2], m_y[2];
} dnnl_mc;

static void dnnl_mc_release(void *state)
{
    dnnl_mc *s = state;
    if (!s) return;
    dnnl_primitive_t ps[] = {s->proj, s->sm[0], s->sm[1], s->pv[0], s->pv[1]};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++)
        if (ps[i]) dnnl_primitive_destroy(ps[i]);
    dnnl_memory_t ms[] = {s->m_W, s->m_x, s->m_Vp, s->m_V, s->m_S[0], s->m_S[1],
                          s->m_St[0], s->m_St[1], s->m_y[0], s->m_y[1]};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
        if (ms[i]) dnnl_memory_destroy(ms[i]);
    cb_dnnl_close(&s->dn);
    free(s->xpad);
    free(s->W);
    free(s->V);
    free(s->S);
    free(s);
}

static int make_prim(dnnl_primitive_t *p, const void *desc, dnnl_engine_t eng, char *err, size_t errlen)
{
    dnnl_primitive_desc_t pd;
    CB_DNNL_TRY(dnnl_primitive_desc_create(&pd, desc, NULL, eng, NULL));
    dnnl_status_t st = dnnl_primitive_create(p, pd);
    dnnl_primitive_desc_destroy(pd);
    if (st != dnnl_success) {
        *p = NULL;
        return cb_fail(err, errlen, "dnnl_primitive_create: %s", cb_dnnl_status_str(st));
    }
    return 0;
}

/* The in-place softmax over the rows x K^2 rows of Np scores and the
 * product y[:, block] = V S^T for a block of `rows` queries (slot i). */
static int block_prims(dnnl_mc *s, int i, int64_t rows, dnnl_engine_t eng, char *err, size_t errlen)
{
    const int64_t KN = s->K2 * s->Np;
    const dnnl_dim_t sd[2] = {rows * s->K2, s->Np}, ss[2] = {s->Np, 1};
    dnnl_memory_desc_t smd;
    if (cb_dnnl_md_strided(&smd, 2, sd, ss, err, errlen)) return -1;
    dnnl_softmax_v2_desc_t smx;
    CB_DNNL_TRY(dnnl_softmax_v2_forward_desc_init(&smx, dnnl_forward_inference, dnnl_softmax_accurate, &smd, &smd, 1));
    if (make_prim(&s->sm[i], &smx, eng, err, errlen) ||
        cb_dnnl_mem_strided(&s->m_S[i], NULL, eng, 2, sd, ss, s->S, err, errlen))
        return -1;
    const dnnl_dim_t vd[2] = {s->Cout, KN}, vs[2] = {KN, 1};
    const dnnl_dim_t td[2] = {KN, rows}, ts[2] = {1, KN};          /* S^T: a strided view of S */
    const dnnl_dim_t yd[2] = {s->Cout, rows}, ys[2] = {s->N, 1};   /* columns of y, row stride N */
    dnnl_memory_desc_t vmd, tmd, ymd;
    if (cb_dnnl_md_strided(&vmd, 2, vd, vs, err, errlen) || cb_dnnl_md_strided(&tmd, 2, td, ts, err, errlen) ||
        cb_dnnl_md_strided(&ymd, 2, yd, ys, err, errlen))
        return -1;
    dnnl_matmul_desc_t mm;
    CB_DNNL_TRY(dnnl_matmul_desc_init(&mm, &vmd, &tmd, NULL, &ymd));
    if (make_prim(&s->pv[i], &mm, eng, err, errlen)) return -1;
    if (!s->m_V && cb_dnnl_mem_strided(&s->m_V, NULL, eng, 2, vd, vs, s->V, err, errlen)) return -1;
    if (cb_dnnl_mem_strided(&s->m_St[i], NULL, eng, 2, td, ts, s->S, err, errlen) || cb_dnnl_mem_strided(&s->m_y[i], NULL, eng, 2, yd, ys, NULL, err, errlen))
        return -1;
    return 0;
}

static int dnnl_mc_build(dnnl_mc *s, const cb_params *p, char *err, size_t errlen)
{
    s->Cin = cb_params_int(p, "Cin", 0);
    s->Cout = cb_params_int(p, "Cout", 0);
    s->K = cb_params_int(p, "K", 3);
    s->K2 = s->K * s->K;
    s->Hh = cb_params_int(p, "Hh", 0);
    s->Ww = cb_params_int(p, "Ww", 0);
    s->alpha = (float)cb_params_get(p, "alpha", 24);
    s->r = (s->K - 1) / 2;
    s->Hp = s->Hh + 2 * s->r;
    s->Wp = s->Ww + 2 * s->r;
    s->Np = s->Hp * s->Wp;
    s->N = s->Hh * s->Ww;
    const int64_t K2 = s->K2, cap = ((int64_t)1 << 21) / (K2 * s->Np);
    s->B = cap < 1 ? 1 : cap > s->N ? s->N : cap;
    s->tail = s->N % s->B;
    s->xpad = cb_alloc_floats((size_t)(s->Cin * s->Np));
    s->W = cb_alloc_floats((size_t)(K2 * s->Cout * s->Cin));
    s->V = cb_alloc_floats((size_t)(K2 * s->Cout * s->Np));
    s->S = cb_alloc_floats((size_t)(s->B * K2 * s->Np));
    if (!s->xpad || !s->W || !s->V || !s->S)
        return cb_fail(err, errlen, "dnnl mhsa_conv: out of memory");
    if (cb_dnnl_open(&s->dn, err, errlen)) return -1;
    dnnl_engine_t eng = s->dn.eng;
    /* V[o, h, k] = (W [K^2, Cout, Cin] x xpad [1, Cin, Np])[h, o, k]: the
     * destination [K^2, Cout, Np] is stored with strides {Np, K^2 Np, 1} */
    const dnnl_dim_t wd[3] = {K2, s->Cout, s->Cin}, ws[3] = {s->Cout * s->Cin, s->Cin, 1};
    const dnnl_dim_t xd[3] = {1, s->Cin, s->Np}, xs[3] = {s->Cin * s->Np, s->Np, 1};
    const dnnl_dim_t vd[3] = {K2, s->Cout, s->Np}, vs[3] = {s->Np, K2 * s->Np, 1};
    dnnl_memory_desc_t wmd, xmd, vmd;
    if (cb_dnnl_md_strided(&wmd, 3, wd, ws, err, errlen) || cb_dnnl_md_strided(&xmd, 3, xd, xs, err, errlen) ||
        cb_dnnl_md_strided(&vmd, 3, vd, vs, err, errlen))
        return -1;
    dnnl_matmul_desc_t mm;
    CB_DNNL_TRY(dnnl_matmul_desc_init(&mm, &wmd, &xmd, NULL, &vmd));
    if (make_prim(&s->proj, &mm, eng, err, errlen)) return -1;
    CB_DNNL_TRY(dnnl_memory_create(&s->m_W, &wmd, eng, s->W));
    CB_DNNL_TRY(dnnl_memory_create(&s->m_x, &xmd, eng, s->xpad));
    CB_DNNL_TRY(dnnl_memory_create(&s->m_Vp, &vmd, eng, s->V));
    if (block_prims(s, 0, s->B, eng, err, errlen)) return -1;
    if (s->tail && block_prims(s, 1, s->tail, eng, err, errlen)) return -1;
    return 0;
}

static int dnnl_mc_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out, char *err,
                           size_t errlen)
{
    (void)in;
    (void)out;
    dnnl_mc *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "dnnl mhsa_conv: out of memory");
    if (dnnl_mc_build(s, p, err, errlen)) {
        dnnl_mc_release(s);
        return -1;
    }
    *state = s;
    return 0;
}

static int exec(dnnl_primitive_t p, dnnl_stream_t st, int n, const dnnl_exec_arg_t *a)
{
    return dnnl_primitive_execute(p, st, n, a) == dnnl_success ? 0 : -1;
}

static int dnnl_mc_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)p;
    dnnl_mc *s = state;
    const int64_t Cin = s->Cin, Cout = s->Cout, K = s->K, K2 = s->K2, Hh = s->Hh, Ww = s->Ww, r = s->r;
    const int64_t Wp = s->Wp, Np = s->Np, N = s->N;
    const float al = s->alpha;
    dnnl_stream_t st = s->dn.st;
    for (int64_t c = 0; c < Cin; c++)
        for (int64_t i = 0; i < Hh; i++)
            memcpy(s->xpad + c * Np + (i + r) * Wp + r, in[0].data + (c * Hh + i) * Ww, (size_t)Ww * sizeof(float));
    for (int64_t h = 0; h < K2; h++)   /* W[h] = w[:, :, a, b] */
        for (int64_t o = 0; o < Cout; o++)
            for (int64_t c = 0; c < Cin; c++)
                s->W[(h * Cout + o) * Cin + c] = in[1].data[((o * Cin + c) * K + h / K) * K + h % K];
    dnnl_exec_arg_t a3[3] = {{DNNL_ARG_SRC, s->m_W}, {DNNL_ARG_WEIGHTS, s->m_x}, {DNNL_ARG_DST, s->m_Vp}};
    if (exec(s->proj, st, 3, a3)) return -1;
    for (int64_t q0 = 0; q0 < N; q0 += s->B) {
        const int64_t nb = N - q0 < s->B ? N - q0 : s->B;
        const int i = nb == s->B ? 0 : 1;
        for (int64_t t = 0; t < nb; t++)   /* the relative-position scores */
            for (int64_t h = 0; h < K2; h++) {
                const int64_t q = q0 + t;
                const float ti = (float)(q / Ww + h / K), tj = (float)(q % Ww + h % K);   /* q + r + Delta_h */
                float *row = s->S + (t * K2 + h) * Np;
                for (int64_t a = 0; a < s->Hp; a++) {
                    const float da = (float)a - ti, ra = al * da * da;
#pragma omp simd
                    for (int64_t b = 0; b < Wp; b++) {
                        const float db = (float)b - tj;
                        row[a * Wp + b] = -(ra + al * db * db);
                    }
                }
            }
        dnnl_exec_arg_t as[2] = {{DNNL_ARG_SRC, s->m_S[i]}, {DNNL_ARG_DST, s->m_S[i]}};
        if (exec(s->sm[i], st, 2, as)) return -1;
        if (dnnl_memory_set_data_handle(s->m_y[i], out[0].data + q0) != dnnl_success) return -1;
        dnnl_exec_arg_t am[3] = {{DNNL_ARG_SRC, s->m_V}, {DNNL_ARG_WEIGHTS, s->m_St[i]}, {DNNL_ARG_DST, s->m_y[i]}};
        if (exec(s->pv[i], st, 3, am)) return -1;
    }
    return dnnl_stream_wait(st) == dnnl_success ? 0 : -1;
}

const cb_impl cb_impl_dnnl_mhsa_conv = {
    .kernel = "mhsa_conv",
    .backend = "dnnl",
    .how = "oneDNN: batched matmul V = W xpad as [Cout, K^2 Np]; per block: C scores, in-place softmax_v2, one matmul y = V S^T",
    .prepare = dnnl_mc_prepare,
    .run = dnnl_mc_run,
    .release = dnnl_mc_release,
};
