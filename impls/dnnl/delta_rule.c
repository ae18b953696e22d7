/* delta_rule.c (dnnl) — the delta rule computed chunkwise with oneDNN 2.6
 * matmul primitives: the WY/UT algorithm of impls/blas/delta_rule.c
 * (derivation there and in tasks/deltanet_chunkwise.md), organized in two
 * phases as in the paper's kernels, because only the state pass is
 * sequential:
 *
 * phase 1, every chunk of every head at once (nothing here depends on the
 * state), batched matmuls over [H, nc] (nc = N / C full chunks, 4-d views of
 * the tensors, no copy):
 *   G = K K^T,  A = Q K^T                  [H,nc,C,d] x [H,nc,d,C]
 *   T = UT(G, b), A = tril(A)              C loop, OpenMP over the H nc blocks
 *   W = T K,    U = T V                    [H,nc,C,C] x [H,nc,C,d|dv]
 * phase 2, chunk after chunk, each primitive covering the H heads
 * (state M = S^T, [H, d, dv]):
 *   U -= W M          output scale -1, sum post-op
 *   O  = Q M          written in place into o (strided view)
 *   O += A U          sum post-op
 *   M += K^T U        sum post-op
 * The tail chunk (N mod C tokens) has its own primitives for both phases.
 * Phase 2's views (q, k^T, o in the big tensors; W, U, A in the phase-1
 * buffers) move their data handles from chunk to chunk. Everything
 * (primitives, memory objects, scratch) is created in prepare(); run()
 * normalizes the keys, runs the UT loop and otherwise only executes.
 *
 * Why it is fast: the rank-1 updates of the recurrence become matrix
 * products (BLAS-3) on oneDNN's AVX-512 kernels; phase 1 is a few large
 * batched products; phase 2 costs four primitive executions per chunk, each
 * ending in an OpenMP barrier (4 N / C per call, half of what a one-phase
 * loop needs, and no OpenMP region between them). Scratch: G, A, T of
 * H N C floats each and W, U of H N d and H N dv (about 100 MB at H = 4,
 * N = 16384, C = 64, d = dv = 128).
 */
#include "kernel.h"
#include "common/delta_rule_util.h"
#include "dnnl/dnnl_util.h"

#include <stdlib.h>
#include <string.h>

enum { P_G, P_A, P_W, P_U, N_PRIM1 };
enum { P_UW, P_QM, P_AU, P_M, N_PRIM2 };

/* The blocks of one chunk length L: nb blocks per head (nc for the full
 * chunks, 1 for the tail), their phase-1 buffers, primitives and views. */
typedef struct dr_part {
    int64_t L, nb, t0;                  /* chunk length, blocks per head, first token */
    float *G, *A, *T, *W, *U;           /* H x nb x L x {L, L, L, d, dv} */
    dnnl_memory_t k, kt, q, v, G_m, A_m, T_m, W_m, U_m;     /* phase 1 */
    dnnl_primitive_t p1[N_PRIM1];
    dnnl_memory_t w2, u2, a2, q2, kt2, o2;                  /* phase 2, one chunk */
    dnnl_primitive_t p2[N_PRIM2];
} dr_part;

typedef struct dnnl_dr {
    cb_dnnl dn;
    int64_t H, N, d, dv, C;
    float *kn;            /* H x N x d normalized keys */
    float *M;             /* H x d x dv, the state S^T */
    dnnl_memory_t M_m;
    dr_part full, tail;
} dnnl_dr;

static void part_release(dr_part *t)
{
    for (int i = 0; i < N_PRIM1; i++)
        if (t->p1[i]) dnnl_primitive_destroy(t->p1[i]);
    for (int i = 0; i < N_PRIM2; i++)
        if (t->p2[i]) dnnl_primitive_destroy(t->p2[i]);
    dnnl_memory_t ms[] = {t->k, t->kt, t->q, t->v, t->G_m, t->A_m, t->T_m, t->W_m, t->U_m,
                          t->w2, t->u2, t->a2, t->q2, t->kt2, t->o2};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
        if (ms[i]) dnnl_memory_destroy(ms[i]);
    free(t->G);
    free(t->A);
    free(t->T);
    free(t->W);
    free(t->U);
    memset(t, 0, sizeof *t);
}

static void dnnl_dr_release(void *state)
{
    dnnl_dr *s = state;
    if (!s) return;
    part_release(&s->full);
    part_release(&s->tail);
    if (s->M_m) dnnl_memory_destroy(s->M_m);
    cb_dnnl_close(&s->dn);
    free(s->kn);
    free(s->M);
    free(s);
}

/* dst = oscale * (src x wei) [+ dst when sum]. */
static int make_matmul(dnnl_primitive_t *prim, dnnl_engine_t eng, dnnl_memory_t src, dnnl_memory_t wei,
                       dnnl_memory_t dst, float oscale, int sum, char *err, size_t errlen)
{
    const dnnl_memory_desc_t *smd = NULL, *wmd = NULL, *dmd = NULL;
    if (dnnl_memory_get_memory_desc(src, &smd) != dnnl_success ||
        dnnl_memory_get_memory_desc(wei, &wmd) != dnnl_success ||
        dnnl_memory_get_memory_desc(dst, &dmd) != dnnl_success)
        return cb_fail(err, errlen, "dnnl delta_rule: dnnl_memory_get_memory_desc failed");
    return cb_dnnl_matmul(prim, eng, smd, wmd, dmd, oscale, sum, NULL, NULL, err, errlen);
}

/* 4-d [H, nb, r, c] view: strides {hs, bs, rs, cs}. */
static int v4(dnnl_memory_t *m, dnnl_engine_t eng, int64_t H, int64_t nb, int64_t r, int64_t c, int64_t hs,
              int64_t bs, int64_t rs, int64_t cs, void *buf, char *err, size_t errlen)
{
    const dnnl_dim_t dims[4] = {H, nb, r, c}, str[4] = {hs, bs, rs, cs};
    return cb_dnnl_mem_strided(m, NULL, eng, 4, dims, str, buf, err, errlen);
}

/* 3-d [H, r, c] view: strides {hs, rs, cs}. */
static int v3(dnnl_memory_t *m, dnnl_engine_t eng, int64_t H, int64_t r, int64_t c, int64_t hs, int64_t rs,
              int64_t cs, void *buf, char *err, size_t errlen)
{
    const dnnl_dim_t dims[3] = {H, r, c}, str[3] = {hs, rs, cs};
    return cb_dnnl_mem_strided(m, NULL, eng, 3, dims, str, buf, err, errlen);
}

/* Buffers, views and primitives of the nb blocks of L tokens from t0 on. */
static int part_build(dnnl_dr *s, dr_part *t, int64_t L, int64_t nb, int64_t t0, float *q, float *v, float *o,
                      char *err, size_t errlen)
{
    const int64_t H = s->H, N = s->N, d = s->d, dv = s->dv;
    dnnl_engine_t eng = s->dn.eng;
    t->L = L;
    t->nb = nb;
    t->t0 = t0;
    const size_t LL = (size_t)(H * nb * L * L);
    t->G = cb_alloc_floats(LL);
    t->A = cb_alloc_floats(LL);
    t->T = cb_alloc_floats(LL);
    t->W = cb_alloc_floats((size_t)(H * nb * L * d));
    t->U = cb_alloc_floats((size_t)(H * nb * L * dv));
    if (!t->G || !t->A || !t->T || !t->W || !t->U) return cb_fail(err, errlen, "dnnl delta_rule: out of memory");
    float *kn = s->kn + t0 * d, *q0 = q + t0 * d, *v0 = v + t0 * dv;
    /* phase 1 */
    if (v4(&t->k, eng, H, nb, L, d, N * d, L * d, d, 1, kn, err, errlen) ||
        v4(&t->kt, eng, H, nb, d, L, N * d, L * d, 1, d, kn, err, errlen) ||
        v4(&t->q, eng, H, nb, L, d, N * d, L * d, d, 1, q0, err, errlen) ||
        v4(&t->v, eng, H, nb, L, dv, N * dv, L * dv, dv, 1, v0, err, errlen) ||
        v4(&t->G_m, eng, H, nb, L, L, nb * L * L, L * L, L, 1, t->G, err, errlen) ||
        v4(&t->A_m, eng, H, nb, L, L, nb * L * L, L * L, L, 1, t->A, err, errlen) ||
        v4(&t->T_m, eng, H, nb, L, L, nb * L * L, L * L, L, 1, t->T, err, errlen) ||
        v4(&t->W_m, eng, H, nb, L, d, nb * L * d, L * d, d, 1, t->W, err, errlen) ||
        v4(&t->U_m, eng, H, nb, L, dv, nb * L * dv, L * dv, dv, 1, t->U, err, errlen))
        return -1;
    if (make_matmul(&t->p1[P_G], eng, t->k, t->kt, t->G_m, 1.0f, 0, err, errlen) ||
        make_matmul(&t->p1[P_A], eng, t->q, t->kt, t->A_m, 1.0f, 0, err, errlen) ||
        make_matmul(&t->p1[P_W], eng, t->T_m, t->k, t->W_m, 1.0f, 0, err, errlen) ||
        make_matmul(&t->p1[P_U], eng, t->T_m, t->v, t->U_m, 1.0f, 0, err, errlen))
        return -1;
    /* phase 2: one chunk (block 0; run() moves the handles) */
    if (v3(&t->w2, eng, H, L, d, nb * L * d, d, 1, t->W, err, errlen) ||
        v3(&t->u2, eng, H, L, dv, nb * L * dv, dv, 1, t->U, err, errlen) ||
        v3(&t->a2, eng, H, L, L, nb * L * L, L, 1, t->A, err, errlen) ||
        v3(&t->q2, eng, H, L, d, N * d, d, 1, q0, err, errlen) ||
        v3(&t->kt2, eng, H, d, L, N * d, 1, d, kn, err, errlen) ||
        v3(&t->o2, eng, H, L, dv, N * dv, dv, 1, o + t0 * dv, err, errlen))
        return -1;
    if (make_matmul(&t->p2[P_UW], eng, t->w2, s->M_m, t->u2, -1.0f, 1, err, errlen) ||
        make_matmul(&t->p2[P_QM], eng, t->q2, s->M_m, t->o2, 1.0f, 0, err, errlen) ||
        make_matmul(&t->p2[P_AU], eng, t->a2, t->u2, t->o2, 1.0f, 1, err, errlen) ||
        make_matmul(&t->p2[P_M], eng, t->kt2, t->u2, s->M_m, 1.0f, 1, err, errlen))
        return -1;
    return 0;
}

static int dnnl_dr_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out, char *err,
                           size_t errlen)
{
    dnnl_dr *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "dnnl delta_rule: out of memory");
    s->H = cb_params_int(p, "H", 0);
    s->N = cb_params_int(p, "N", 0);
    s->d = cb_params_int(p, "d", 0);
    s->dv = cb_params_int(p, "dv", 0);
    s->C = cb_params_int(p, "chunk", 64);
    if (s->C > s->N) s->C = s->N;
    const int64_t H = s->H, N = s->N, d = s->d, dv = s->dv, C = s->C, nc = N / C, Lt = N % C;
    s->kn = cb_alloc_floats((size_t)(H * N * d));
    s->M = cb_alloc_floats((size_t)(H * d * dv));
    int rc = (!s->kn || !s->M) ? cb_fail(err, errlen, "dnnl delta_rule: out of memory")
                               : cb_dnnl_open(&s->dn, err, errlen);
    if (rc == 0) rc = v3(&s->M_m, s->dn.eng, H, d, dv, d * dv, dv, 1, s->M, err, errlen);
    if (rc == 0)
        rc = part_build(s, &s->full, C, nc, 0, in[0].data, in[2].data, out[0].data, err, errlen);
    if (rc == 0 && Lt)
        rc = part_build(s, &s->tail, Lt, 1, nc * C, in[0].data, in[2].data, out[0].data, err, errlen);
    if (rc) {
        dnnl_dr_release(s);
        return -1;
    }
    *state = s;
    return 0;
}

/* UT transform and causal mask of every block of a part. */
static void part_ut(const dnnl_dr *s, const dr_part *t, const float *beta)
{
    const int64_t L = t->L, nb = t->nb, nblk = s->H * nb;
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < nblk; b++) {
        const int64_t h = b / nb, c = b % nb;
        cb_ut_transform(t->G + b * L * L, (size_t)L, beta + h * s->N + t->t0 + c * L, (size_t)L, t->T + b * L * L,
                        (size_t)L);
        cb_tril_inplace(t->A + b * L * L, (size_t)L, (size_t)L);
    }
}

/* Phase 2 over the blocks of a part, in order. */
static int part_scan(dnnl_dr *s, dr_part *t, const cb_tensor *in, cb_tensor *out)
{
    const int64_t L = t->L, d = s->d, dv = s->dv;
    dnnl_stream_t st = s->dn.st;
    for (int64_t c = 0; c < t->nb; c++) {
        const int64_t tok = t->t0 + c * L;
        if (dnnl_memory_set_data_handle(t->w2, t->W + c * L * d) != dnnl_success ||
            dnnl_memory_set_data_handle(t->u2, t->U + c * L * dv) != dnnl_success ||
            dnnl_memory_set_data_handle(t->a2, t->A + c * L * L) != dnnl_success ||
            dnnl_memory_set_data_handle(t->q2, in[0].data + tok * d) != dnnl_success ||
            dnnl_memory_set_data_handle(t->kt2, s->kn + tok * d) != dnnl_success ||
            dnnl_memory_set_data_handle(t->o2, out[0].data + tok * dv) != dnnl_success)
            return -1;
        if (cb_dnnl_exec_matmul(t->p2[P_UW], st, t->w2, s->M_m, t->u2, 0) ||
            cb_dnnl_exec_matmul(t->p2[P_QM], st, t->q2, s->M_m, t->o2, 0) ||
            cb_dnnl_exec_matmul(t->p2[P_AU], st, t->a2, t->u2, t->o2, 0) ||
            cb_dnnl_exec_matmul(t->p2[P_M], st, t->kt2, t->u2, s->M_m, 0))
            return -1;
    }
    return 0;
}

static int dnnl_dr_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)p;
    dnnl_dr *s = state;
    const int64_t H = s->H, N = s->N, d = s->d, dv = s->dv;
    dnnl_stream_t st = s->dn.st;
    dr_part *parts[2] = {&s->full, s->tail.L ? &s->tail : NULL};
#pragma omp parallel for schedule(static)
    for (int64_t h = 0; h < H; h++)
        cb_l2norm_rows(in[1].data + h * N * d, s->kn + h * N * d, (size_t)N, (size_t)d);
    memset(s->M, 0, (size_t)(H * d * dv) * sizeof *s->M);   /* S_0 = 0 */
    /* phase 1: G, A; the UT transform; W, U */
    for (int i = 0; i < 2; i++)
        if (parts[i] && (cb_dnnl_exec_matmul(parts[i]->p1[P_G], st, parts[i]->k, parts[i]->kt, parts[i]->G_m, 0) ||
                         cb_dnnl_exec_matmul(parts[i]->p1[P_A], st, parts[i]->q, parts[i]->kt, parts[i]->A_m, 0)))
            return -1;
    if (dnnl_stream_wait(st) != dnnl_success) return -1;
    for (int i = 0; i < 2; i++)
        if (parts[i]) part_ut(s, parts[i], in[3].data);
    for (int i = 0; i < 2; i++)
        if (parts[i] && (cb_dnnl_exec_matmul(parts[i]->p1[P_W], st, parts[i]->T_m, parts[i]->k, parts[i]->W_m, 0) ||
                         cb_dnnl_exec_matmul(parts[i]->p1[P_U], st, parts[i]->T_m, parts[i]->v, parts[i]->U_m, 0)))
            return -1;
    /* phase 2: the state pass, chunk after chunk */
    for (int i = 0; i < 2; i++)
        if (parts[i] && part_scan(s, parts[i], in, out)) return -1;
    return dnnl_stream_wait(st) == dnnl_success ? 0 : -1;
}

const cb_impl cb_impl_dnnl_delta_rule = {
    .kernel = "delta_rule",
    .backend = "dnnl",
    .how = "chunkwise WY/UT form in two phases: batched oneDNN matmuls for K K^T, Q K^T, T K, T V over all chunks; then per chunk U -= W S^T, O = Q S^T + A U, S^T += K^T U over all heads",
    .prepare = dnnl_dr_prepare,
    .run = dnnl_dr_run,
    .release = dnnl_dr_release,
};
