/* favor_attention.c (dnnl) — FAVOR+ attention with oneDNN 2.6 matmul primitives.
 *
 * The estimator is defined in impls/ref/favor_attention.c; the algorithm is
 * that of impls/blas/favor_attention.c (blocks of rows, a running key
 * maximum with rescaling, the query shift per row, S^ = [S | z] so one
 * product gives numerator and denominator), with every product a matmul
 * batched over the H heads, so one primitive execution covers a block of B
 * rows of every head:
 *
 *   proj  P   = c X_b W^T    src: rows r0.. of q or k seen through strides
 *                            {N d, d, 1}; weights: w [m, d] seen as W^T
 *                            {1, d, m}, strides {., 1, d} (broadcast over
 *                            heads, no copy); c = d^-1/4 is the output scale
 *   upd   S  += P^T V_b      src: P seen transposed, strides {B m, 1, m};
 *                            weights: rows r0.. of v; dst: the first dv
 *                            columns of S^ (strides {m (dv+1), dv+1, 1});
 *                            sum post-op
 *   read  R   = P S^         R: H x B x (dv + 1) scratch
 *
 * Between them the row passes of impls/blas/favor_attention_rows.h run in C,
 * OpenMP-parallel over heads (oneDNN runs on the same OpenMP runtime, so
 * they share its threads): the key shifts, running maximum, rescaling, exp
 * and column sums into z; the query row maxima and exp; o = R[:dv] / R[dv].
 * An eltwise exp primitive could do the exp alone, but the shifts and
 * reductions around it would still need these loops, and one pass over the
 * block beats three.
 *
 * Only the data handles of the strided views move between blocks
 * (dnnl_memory_set_data_handle); the primitives for full blocks and for the
 * last N mod B rows are all created in prepare(). B = 512: the features of
 * all heads (H B m floats, 4 MiB at H = 8, m = 256) stay in L3, and each
 * block costs 3 primitive executions and 3 parallel loops, i.e. 6 thread
 * synchronizations, so larger blocks mean fewer of them per call. Measured
 * at H = 8, N = 4096, d = dv = 64, m = 256, 2 threads, on a shared machine
 * (best of 20): 128 rows 35-37 ms, 512 rows 18.5 ms.
 */
#include "kernel.h"
#include "dnnl/dnnl_util.h"
#include "blas/favor_attention_rows.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { FA_BLOCK = 512 };

/* Primitives and memory objects for blocks of L rows. */
typedef struct fa_set {
    int64_t L;
    dnnl_primitive_t proj, upd, read;
    dnnl_memory_t x, p, pt, vb, r;    /* x, vb: views whose handles move */
} fa_set;

typedef struct dnnl_fa {
    cb_dnnl dn;
    int64_t H, N, d, dv, m, B;
    float c;
    float *P;      /* H x B x m */
    float *Sh;     /* S^ = [S | z]: H x m x (dv + 1) */
    float *z;      /* H x m */
    float *R;      /* H x B x (dv + 1) */
    float *M;      /* H: running key maximum */
    dnnl_memory_t wt, ms, msh;   /* W^T view of w; S (a view of S^); S^ */
    dnnl_memory_desc_t md_wt, md_s, md_sh;
    fa_set full, tail;
} dnnl_fa;

static void set_release(fa_set *t)
{
    dnnl_primitive_t *ps[] = {&t->proj, &t->upd, &t->read};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++)
        if (*ps[i]) dnnl_primitive_destroy(*ps[i]);
    dnnl_memory_t *ms[] = {&t->x, &t->p, &t->pt, &t->vb, &t->r};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
        if (*ms[i]) dnnl_memory_destroy(*ms[i]);
    memset(t, 0, sizeof *t);
}

static void dnnl_fa_release(void *state)
{
    dnnl_fa *s = state;
    if (!s) return;
    set_release(&s->full);
    set_release(&s->tail);
    if (s->wt) dnnl_memory_destroy(s->wt);
    if (s->ms) dnnl_memory_destroy(s->ms);
    if (s->msh) dnnl_memory_destroy(s->msh);
    cb_dnnl_close(&s->dn);
    free(s->P);
    free(s->Sh);
    free(s->z);
    free(s->R);
    free(s->M);
    free(s);
}

/* dst = src x wei, optionally scaled (output scale) or accumulated (sum). */
static int make_matmul(dnnl_primitive_t *prim, dnnl_engine_t eng, const dnnl_memory_desc_t *src,
                       const dnnl_memory_desc_t *wei, const dnnl_memory_desc_t *dst, float scale,
                       int sum, char *err, size_t errlen)
{
    return cb_dnnl_matmul(prim, eng, src, wei, dst, scale, sum, NULL, NULL, err, errlen);
}

static int set_build(dnnl_fa *s, fa_set *t, int64_t L, const cb_tensor *in, char *err, size_t errlen)
{
    const int64_t H = s->H, N = s->N, d = s->d, dv = s->dv, m = s->m;
    dnnl_engine_t eng = s->dn.eng;
    dnnl_memory_desc_t md_x, md_p, md_pt, md_vb, md_r;
    t->L = L;
    const dnnl_dim_t x_dims[3] = {H, L, d}, x_str[3] = {N * d, d, 1};
    const dnnl_dim_t p_dims[3] = {H, L, m}, p_str[3] = {L * m, m, 1};
    const dnnl_dim_t pt_dims[3] = {H, m, L}, pt_str[3] = {L * m, 1, m};
    const dnnl_dim_t vb_dims[3] = {H, L, dv}, vb_str[3] = {N * dv, dv, 1};
    const dnnl_dim_t r_dims[3] = {H, L, dv + 1}, r_str[3] = {L * (dv + 1), dv + 1, 1};
    if (cb_dnnl_mem_strided(&t->x, &md_x, eng, 3, x_dims, x_str, in[0].data, err, errlen) ||
        cb_dnnl_mem_strided(&t->p, &md_p, eng, 3, p_dims, p_str, s->P, err, errlen) ||
        cb_dnnl_mem_strided(&t->pt, &md_pt, eng, 3, pt_dims, pt_str, s->P, err, errlen) ||
        cb_dnnl_mem_strided(&t->vb, &md_vb, eng, 3, vb_dims, vb_str, in[2].data, err, errlen) ||
        cb_dnnl_mem_strided(&t->r, &md_r, eng, 3, r_dims, r_str, s->R, err, errlen))
        return -1;
    if (make_matmul(&t->proj, eng, &md_x, &s->md_wt, &md_p, s->c, 0, err, errlen) ||
        make_matmul(&t->upd, eng, &md_pt, &md_vb, &s->md_s, 1.0f, 1, err, errlen) ||
        make_matmul(&t->read, eng, &md_p, &s->md_sh, &md_r, 1.0f, 0, err, errlen))
        return -1;
    return 0;
}

static float *falloc0(int64_t n)
{
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    if (p) memset(p, 0, (size_t)(n > 0 ? n : 1) * sizeof(float));   /* touch every page now */
    return p;
}

static int dnnl_fa_build(dnnl_fa *s, const cb_params *p, const cb_tensor *in, char *err, size_t errlen)
{
    s->H = cb_params_int(p, "H", 0);
    s->N = cb_params_int(p, "N", 0);
    s->d = cb_params_int(p, "d", 0);
    s->dv = cb_params_int(p, "dv", s->d);
    s->m = cb_params_int(p, "m", 256);
    s->B = s->N < FA_BLOCK ? s->N : FA_BLOCK;
    s->c = (float)pow((double)s->d, -0.25);
    const int64_t H = s->H, B = s->B, d = s->d, dv = s->dv, m = s->m;
    s->P = falloc0(H * B * m);
    s->Sh = falloc0(H * m * (dv + 1));
    s->z = falloc0(H * m);
    s->R = falloc0(H * B * (dv + 1));
    s->M = falloc0(H);
    if (!s->P || !s->Sh || !s->z || !s->R || !s->M)
        return cb_fail(err, errlen, "dnnl favor_attention: out of memory");
    if (cb_dnnl_open(&s->dn, err, errlen))
        return -1;
    const dnnl_dim_t wt_dims[3] = {1, d, m}, wt_str[3] = {m * d, 1, d};
    const dnnl_dim_t s_dims[3] = {H, m, dv}, s_str[3] = {m * (dv + 1), dv + 1, 1};
    const dnnl_dim_t sh_dims[3] = {H, m, dv + 1}, sh_str[3] = {m * (dv + 1), dv + 1, 1};
    if (cb_dnnl_mem_strided(&s->wt, &s->md_wt, s->dn.eng, 3, wt_dims, wt_str, in[3].data, err, errlen) ||
        cb_dnnl_mem_strided(&s->ms, &s->md_s, s->dn.eng, 3, s_dims, s_str, s->Sh, err, errlen) ||
        cb_dnnl_mem_strided(&s->msh, &s->md_sh, s->dn.eng, 3, sh_dims, sh_str, s->Sh, err, errlen))
        return -1;
    if (set_build(s, &s->full, B, in, err, errlen))
        return -1;
    if (s->N % B && set_build(s, &s->tail, s->N % B, in, err, errlen))
        return -1;
    return 0;
}

static int dnnl_fa_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out,
                           char *err, size_t errlen)
{
    (void)out;
    dnnl_fa *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "dnnl favor_attention: out of memory");
    if (dnnl_fa_build(s, p, in, err, errlen)) {
        dnnl_fa_release(s);
        return -1;
    }
    *state = s;
    return 0;
}

static int dnnl_fa_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)p;
    dnnl_fa *s = state;
    const int64_t N = s->N, B = s->B, d = s->d, dv = s->dv, m = s->m, ld = dv + 1;
    const float hc = 0.5f * s->c * s->c;
    memset(s->Sh, 0, (size_t)(s->H * m * ld) * sizeof(float));
    memset(s->z, 0, (size_t)(s->H * m) * sizeof(float));
    for (int64_t h = 0; h < s->H; h++)
        s->M[h] = -INFINITY;
    for (int64_t r0 = 0; r0 < N; r0 += B) {           /* keys: S and z */
        fa_set *t = N - r0 >= B ? &s->full : &s->tail;
        const int64_t L = t->L;
        if (dnnl_memory_set_data_handle(t->x, in[1].data + r0 * d) != dnnl_success ||
            dnnl_memory_set_data_handle(t->vb, in[2].data + r0 * dv) != dnnl_success ||
            cb_dnnl_exec_matmul(t->proj, s->dn.st, t->x, s->wt, t->p, 1))
            return -1;
#pragma omp parallel for schedule(static)
        for (int64_t h = 0; h < s->H; h++)
            fa_key_block(s->P + h * L * m, L, m, in[1].data + (h * N + r0) * d, d, hc, &s->M[h],
                         s->Sh + h * m * ld, m * ld, s->z + h * m);
        if (cb_dnnl_exec_matmul(t->upd, s->dn.st, t->pt, t->vb, s->ms, 1))
            return -1;
    }
    for (int64_t h = 0; h < s->H; h++)                /* S^ = [S | z] */
        for (int64_t l = 0; l < m; l++)
            s->Sh[(h * m + l) * ld + dv] = s->z[h * m + l];
    for (int64_t r0 = 0; r0 < N; r0 += B) {           /* queries: o */
        fa_set *t = N - r0 >= B ? &s->full : &s->tail;
        const int64_t L = t->L;
        if (dnnl_memory_set_data_handle(t->x, in[0].data + r0 * d) != dnnl_success ||
            cb_dnnl_exec_matmul(t->proj, s->dn.st, t->x, s->wt, t->p, 1))
            return -1;
#pragma omp parallel for schedule(static)
        for (int64_t h = 0; h < s->H; h++)
            fa_query_block(s->P + h * L * m, L, m);
        if (cb_dnnl_exec_matmul(t->read, s->dn.st, t->p, s->msh, t->r, 1))
            return -1;
#pragma omp parallel for schedule(static)
        for (int64_t h = 0; h < s->H; h++)
            fa_divide(s->R + h * L * ld, L, dv, out[0].data + (h * N + r0) * dv, dv);
    }
    return 0;
}

const cb_impl cb_impl_dnnl_favor_attention = {
    .kernel = "favor_attention",
    .backend = "dnnl",
    .how = "oneDNN matmuls batched over heads, blocks of 512 rows, S^ = [S|z]; vectorized exp with running key max in C",
    .prepare = dnnl_fa_prepare,
    .run = dnnl_fa_run,
    .release = dnnl_fa_release,
};
