/* dnnl/sparse_attention.c — strided sparse attention with oneDNN 2.6 matmuls.
 *
 * The algorithm of blas/sparse_attention.c (read that comment first): the
 * keys of query i split into the local window [i - l + 1, i] and the strided
 * set i - l, i - 2l, ...; each set is a dense attention of its own, and the
 * two partial softmaxes of a query are merged by log-sum-exp
 * (common/sparse_attention_rows.h). What changes here is how the products
 * are batched, so that one primitive execution does a lot of small GEMMs:
 *
 * - Window blocks: the blocks of B query rows whose key slices have the same
 *   width W (all but the first few and the tail) go G at a time, for all H
 *   heads: one matmul over a 4-D batch {H, G, B, d} x {H, G, d, W}.
 * - Strided subsequences: the positions ≡ r (mod l) of R residues and all H
 *   heads form a batch {H, R, rows, d}; residues r < N mod l have one more
 *   position than the others, so they form a second group with its own
 *   shapes. Query rows come in blocks of Ls with keys cut at the block's
 *   last row, so the upper triangle is skipped.
 * G and R keep a step's scores near 2 MiB (L2 is 1 MiB per core).
 *
 * Gather, not strided views. Every operand could be a view of q, k, v
 * through strides (head stride N·d; strided rows l·d apart), and oneDNN
 * accepts that, but only with its gemm:jit matmul: brg:avx512_core wants
 * dense batches (checked with dnnl_query_impl_info_str). So a step first
 * copies its rows into dense blocks (contiguous runs of rows for the window,
 * single rows for the strided set), which costs O(rows·d) against the
 * O(rows·keys·d) of the products; the window output block is copied back to
 * o, the strided one is merged from its block.
 *
 * prepare() lays out the whole schedule, creates one primitive pair per
 * distinct shape (a handful), binds every primitive to the fixed scratch
 * blocks and pre-touches them; run() gathers, executes, and runs the row
 * steps (band exp, merge) in C loops that are OpenMP-parallel over heads ×
 * blocks, on the OpenMP runtime oneDNN uses too.
 */
#include "kernel.h"
#include "dnnl_util.h"
#include "common/sparse_attention_rows.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { STRIDED_ROWS = 64 };             /* Ls */
#define STEP_SCORES ((size_t)1 << 19)   /* scores per step, floats (2 MiB) */

enum { WINDOW, STRIDED };

/* The primitives of one step shape: S = scale·Q K^T and O = E V over the
 * dense blocks {H, G, L, ·}; G is blocks (window) or residues (strided). */
typedef struct shape {
    int kind, G, L, W;
    dnnl_primitive_t qk, pv;
    dnnl_memory_t q, kt, s, v, o;
} shape;

/* One step: G window blocks with first query rows r0, r0 + L, ... and first
 * keys k0, k0 + L, ... (window), or residues rho .. rho+G-1 with query rows
 * a0+1 .. a0+L and key rows 0 .. W-1 of their subsequences (strided). */
typedef struct step {
    int kind, shape, G, L, W;
    int r0, k0;             /* window: first block's first query row and key */
    int rho, a0;            /* strided */
} step;

typedef struct dnnl_sa {
    cb_dnnl dn;
    int H, N, d, dv, l, B;
    int nshapes, nsteps;
    shape *shapes;
    step *steps;
    float *qb, *kb, *vb;    /* gathered operands: H × G × {L, W, W} × {d, d, dv} */
    float *s, *ob;          /* scores H × G × L × W; output block H × G × L × dv */
    float *m1, *s1;         /* window stats per query: H × N */
    float *m2, *s2;         /* strided stats of one step: H × G × L */
} dnnl_sa;

static void dnnl_release(void *state)
{
    dnnl_sa *st = state;
    if (!st) return;
    for (int i = 0; i < st->nshapes; i++) {
        shape *sh = &st->shapes[i];
        if (sh->qk) dnnl_primitive_destroy(sh->qk);
        if (sh->pv) dnnl_primitive_destroy(sh->pv);
        dnnl_memory_t *ms[5] = {&sh->q, &sh->kt, &sh->s, &sh->v, &sh->o};
        for (int m = 0; m < 5; m++)
            if (*ms[m]) dnnl_memory_destroy(*ms[m]);
    }
    free(st->shapes);
    free(st->steps);
    cb_dnnl_close(&st->dn);
    float *bufs[] = {st->qb, st->kb, st->vb, st->s, st->ob, st->m1, st->s1, st->m2, st->s2};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
    free(st);
}

static float *alloc_touched(size_t n)
{
    size_t bytes = ((n ? n : 1) * sizeof(float) + 63) & ~(size_t)63;
    float *x = aligned_alloc(64, bytes);
    if (x) memset(x, 0, bytes);     /* pre-touch: no page fault inside a timed run */
    return x;
}

static int make_prim(dnnl_primitive_t *prim, const dnnl_matmul_desc_t *op, const_dnnl_primitive_attr_t attr,
                     dnnl_engine_t eng, char *err, size_t errlen)
{
    dnnl_primitive_desc_t pd;
    CB_DNNL_TRY(dnnl_primitive_desc_create(&pd, op, attr, eng, NULL));
    dnnl_status_t s = dnnl_primitive_create(prim, pd);
    dnnl_primitive_desc_destroy(pd);
    if (s != dnnl_success)
        return cb_fail(err, errlen, "dnnl_primitive_create: %s", cb_dnnl_status_str(s));
    return 0;
}

/* The primitives of one shape, on the dense scratch blocks: batch {H, G},
 * K^T a transposed view (strides {1, d}) of the dense key block. */
static int build_shape(dnnl_sa *st, shape *sh, float scale, char *err, size_t errlen)
{
    const dnnl_dim_t H = st->H, d = st->d, dv = st->dv, G = sh->G, L = sh->L, W = sh->W;
    const dnnl_dim_t q_dims[4] = {H, G, L, d}, q_str[4] = {G * L * d, L * d, d, 1};
    const dnnl_dim_t kt_dims[4] = {H, G, d, W}, kt_str[4] = {G * W * d, W * d, 1, d};
    const dnnl_dim_t s_dims[4] = {H, G, L, W}, s_str[4] = {G * L * W, L * W, W, 1};
    const dnnl_dim_t v_dims[4] = {H, G, W, dv}, v_str[4] = {G * W * dv, W * dv, dv, 1};
    const dnnl_dim_t o_dims[4] = {H, G, L, dv}, o_str[4] = {G * L * dv, L * dv, dv, 1};
    dnnl_memory_desc_t q_md, kt_md, s_md, v_md, o_md;
    if (cb_dnnl_md_strided(&q_md, 4, q_dims, q_str, err, errlen) ||
        cb_dnnl_md_strided(&kt_md, 4, kt_dims, kt_str, err, errlen) ||
        cb_dnnl_md_strided(&s_md, 4, s_dims, s_str, err, errlen) ||
        cb_dnnl_md_strided(&v_md, 4, v_dims, v_str, err, errlen) ||
        cb_dnnl_md_strided(&o_md, 4, o_dims, o_str, err, errlen))
        return -1;
    dnnl_matmul_desc_t op;
    dnnl_primitive_attr_t attr;
    CB_DNNL_TRY(dnnl_matmul_desc_init(&op, &q_md, &kt_md, NULL, &s_md));
    CB_DNNL_TRY(dnnl_primitive_attr_create(&attr));
    dnnl_status_t rc = dnnl_primitive_attr_set_output_scales(attr, 1, 0, &scale);
    if (rc != dnnl_success) {
        dnnl_primitive_attr_destroy(attr);
        return cb_fail(err, errlen, "dnnl_primitive_attr_set_output_scales: %s", cb_dnnl_status_str(rc));
    }
    int bad = make_prim(&sh->qk, &op, attr, st->dn.eng, err, errlen);
    dnnl_primitive_attr_destroy(attr);
    if (bad)
        return -1;
    CB_DNNL_TRY(dnnl_matmul_desc_init(&op, &s_md, &v_md, NULL, &o_md));
    if (make_prim(&sh->pv, &op, NULL, st->dn.eng, err, errlen))
        return -1;
    dnnl_engine_t eng = st->dn.eng;
    CB_DNNL_TRY(dnnl_memory_create(&sh->q, &q_md, eng, st->qb));
    CB_DNNL_TRY(dnnl_memory_create(&sh->kt, &kt_md, eng, st->kb));
    CB_DNNL_TRY(dnnl_memory_create(&sh->s, &s_md, eng, st->s));
    CB_DNNL_TRY(dnnl_memory_create(&sh->v, &v_md, eng, st->vb));
    CB_DNNL_TRY(dnnl_memory_create(&sh->o, &o_md, eng, st->ob));
    return 0;
}

/* Append a step; its shape is found in (or added to) the shape table. */
static int add_step(dnnl_sa *st, int *cap, step sp)
{
    int k = 0;
    while (k < st->nshapes && !(st->shapes[k].kind == sp.kind && st->shapes[k].G == sp.G &&
                                st->shapes[k].L == sp.L && st->shapes[k].W == sp.W))
        k++;
    if (k == st->nshapes) {
        shape *g = realloc(st->shapes, (size_t)(st->nshapes + 1) * sizeof *g);
        if (!g) return -1;
        st->shapes = g;
        memset(&g[k], 0, sizeof g[k]);
        g[k].kind = sp.kind;
        g[k].G = sp.G;
        g[k].L = sp.L;
        g[k].W = sp.W;
        st->nshapes++;
    }
    sp.shape = k;
    if (st->nsteps == *cap) {
        int nc = *cap ? 2 * *cap : 64;
        step *g = realloc(st->steps, (size_t)nc * sizeof *g);
        if (!g) return -1;
        st->steps = g;
        *cap = nc;
    }
    st->steps[st->nsteps++] = sp;
    return 0;
}

/* How many items of `per` scores go in one step (at least 1, at most n). */
static int per_step(size_t per, int n)
{
    size_t g = STEP_SCORES / (per ? per : 1);
    if (g < 1) g = 1;
    return g < (size_t)n ? (int)g : n;
}

/* Rows per window block: l rounded up to a multiple of 16, in [16, 256],
 * and fewer when a long window (l near N) would make the block's scores
 * exceed a step. */
static int window_block(int H, int l, int N)
{
    int B = (l + 15) / 16 * 16;
    if (B > 256) B = 256;
    while (B > 16 && (size_t)H * (size_t)B * (size_t)(B + l - 1) > 4 * STEP_SCORES)
        B -= 16;
    return B < N ? B : N;
}

/* The schedule: window blocks (runs of equal shape, G at a time), then the
 * strided chunks of each group of residues with the same count n. */
static int plan(dnnl_sa *st)
{
    const int N = st->N, l = st->l, H = st->H, B = st->B;
    int cap = 0;
    for (int r0 = 0; r0 < N;) {
        step sp = {0};
        sp.kind = WINDOW;
        sp.L = N - r0 < B ? N - r0 : B;
        sp.r0 = r0;
        sp.k0 = r0 - l + 1 > 0 ? r0 - l + 1 : 0;
        sp.W = r0 + sp.L - sp.k0;
        /* the following blocks have the same shape while they are full and
         * their key slice starts past 0 */
        int same = 1;
        if (sp.k0 > 0 && sp.L == B)
            same = (N - r0) / B;
        sp.G = per_step((size_t)H * (size_t)sp.L * (size_t)sp.W, same);
        if (add_step(st, &cap, sp)) return -1;
        r0 += sp.G * sp.L;
    }
    const int q = N / l, rem = N % l;
    const int groups[2][3] = {{0, rem, q + 1}, {rem, l, q}};   /* residues [lo, hi), n */
    for (int g = 0; g < 2; g++) {
        const int lo = groups[g][0], hi = groups[g][1], n = groups[g][2];
        if (hi <= lo || n < 2)
            continue;
        for (int a0 = 0; a0 < n - 1; a0 += STRIDED_ROWS) {
            const int L = n - 1 - a0 < STRIDED_ROWS ? n - 1 - a0 : STRIDED_ROWS, K = a0 + L;
            const int R = per_step((size_t)H * (size_t)L * (size_t)K, hi - lo);
            for (int rho = lo; rho < hi; rho += R) {
                step sp = {0};
                sp.kind = STRIDED;
                sp.rho = rho;
                sp.G = hi - rho < R ? hi - rho : R;
                sp.a0 = a0;
                sp.L = L;
                sp.W = K;
                if (add_step(st, &cap, sp)) return -1;
            }
        }
    }
    return 0;
}

static int dnnl_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out,
                        char *err, size_t errlen)
{
    (void)in;
    (void)out;
    dnnl_sa *st = calloc(1, sizeof *st);
    if (!st) return cb_fail(err, errlen, "dnnl sparse_attention: out of memory");
    st->H = (int)cb_params_int(p, "H", 1);
    st->N = (int)cb_params_int(p, "N", 1);
    st->d = (int)cb_params_int(p, "d", 1);
    st->dv = (int)cb_params_int(p, "dv", st->d);
    int64_t l = cb_params_int(p, "l", 1);
    st->l = (int)(l < st->N ? l : st->N);
    st->B = window_block(st->H, st->l, st->N);
    const float scale = (float)cb_params_get(p, "scale", 1.0 / sqrt((double)st->d));
    if (plan(st)) {
        dnnl_release(st);
        return cb_fail(err, errlen, "dnnl sparse_attention: out of memory");
    }
    /* scratch sized for the largest step */
    size_t nq = 1, nk = 1, nv = 1, ns = 1, no = 1, nm = 1;
    for (int i = 0; i < st->nshapes; i++) {
        const shape *sh = &st->shapes[i];
        size_t hg = (size_t)st->H * (size_t)sh->G, L = (size_t)sh->L, W = (size_t)sh->W;
#define GROW(x, v) do { if ((v) > (x)) (x) = (v); } while (0)
        GROW(nq, hg * L * (size_t)st->d);
        GROW(nk, hg * W * (size_t)st->d);
        GROW(nv, hg * W * (size_t)st->dv);
        GROW(ns, hg * L * W);
        GROW(no, hg * L * (size_t)st->dv);
        GROW(nm, hg * L);
#undef GROW
    }
    size_t hn = (size_t)st->H * (size_t)st->N;
    st->qb = alloc_touched(nq);
    st->kb = alloc_touched(nk);
    st->vb = alloc_touched(nv);
    st->s = alloc_touched(ns);
    st->ob = alloc_touched(no);
    st->m1 = alloc_touched(hn);
    st->s1 = alloc_touched(hn);
    st->m2 = alloc_touched(nm);
    st->s2 = alloc_touched(nm);
    if (!st->qb || !st->kb || !st->vb || !st->s || !st->ob || !st->m1 || !st->s1 || !st->m2 || !st->s2) {
        dnnl_release(st);
        return cb_fail(err, errlen, "dnnl sparse_attention: out of memory");
    }
    if (cb_dnnl_open(&st->dn, err, errlen)) {
        dnnl_release(st);
        return -1;
    }
    for (int i = 0; i < st->nshapes; i++)
        if (build_shape(st, &st->shapes[i], scale, err, errlen)) {
            dnnl_release(st);
            return -1;
        }
    *state = st;
    return 0;
}

/* Window step: G blocks of L query rows r0 + g L .. and their key slices of
 * W rows from k0 + g L, for every head. */
static int window_step(dnnl_sa *st, const step *sp, const cb_tensor *in, cb_tensor *out)
{
    shape *sh = &st->shapes[sp->shape];
    const int H = st->H, N = st->N, G = sp->G, L = sp->L, W = sp->W, l = st->l;
    const size_t d = (size_t)st->d, dv = (size_t)st->dv;
#pragma omp parallel for schedule(static)
    for (int hg = 0; hg < H * G; hg++) {     /* gather: contiguous runs of rows */
        const size_t h = (size_t)(hg / G), r0 = (size_t)sp->r0 + (size_t)(hg % G) * L;
        const size_t k0 = (size_t)sp->k0 + (size_t)(hg % G) * L;
        memcpy(st->qb + (size_t)hg * L * d, in[0].data + (h * N + r0) * d, (size_t)L * d * sizeof(float));
        memcpy(st->kb + (size_t)hg * W * d, in[1].data + (h * N + k0) * d, (size_t)W * d * sizeof(float));
        memcpy(st->vb + (size_t)hg * W * dv, in[2].data + (h * N + k0) * dv, (size_t)W * dv * sizeof(float));
    }
    if (cb_dnnl_exec_matmul(sh->qk, st->dn.st, sh->q, sh->kt, sh->s, 1))
        return -1;
    /* row r of a block (query r0 + r) sees keys [r0 + r - l + 1, r0 + r] */
#pragma omp parallel for schedule(static)
    for (int hg = 0; hg < H * G; hg++) {
        const size_t h = (size_t)(hg / G), r0 = (size_t)sp->r0 + (size_t)(hg % G) * L;
        cb_sparse_exp_band(st->s + (size_t)hg * L * W, (size_t)W, L, W, sp->r0 - l + 1 - sp->k0,
                           sp->r0 - sp->k0 + 1, st->m1 + h * N + r0, st->s1 + h * N + r0);
    }
    if (cb_dnnl_exec_matmul(sh->pv, st->dn.st, sh->s, sh->v, sh->o, 1))
        return -1;
#pragma omp parallel for schedule(static)
    for (int hg = 0; hg < H * G; hg++) {     /* the unnormalised window output, back to o */
        const size_t h = (size_t)(hg / G), r0 = (size_t)sp->r0 + (size_t)(hg % G) * L;
        memcpy(out[0].data + (h * N + r0) * dv, st->ob + (size_t)hg * L * dv, (size_t)L * dv * sizeof(float));
    }
    return 0;
}

/* Strided step: residues rho .. rho+G-1 of every head; query rows a0+1 ..
 * a0+L (positions r + (a0 + 1 + a) l) against key rows 0 .. W-1 (positions
 * r + b l); query a sees keys b <= a0 + a. */
static int strided_step(dnnl_sa *st, const step *sp, const cb_tensor *in, cb_tensor *out)
{
    shape *sh = &st->shapes[sp->shape];
    const int H = st->H, N = st->N, G = sp->G, L = sp->L, W = sp->W, l = st->l, a0 = sp->a0;
    const size_t d = (size_t)st->d, dv = (size_t)st->dv;
#pragma omp parallel for schedule(static)
    for (int hg = 0; hg < H * G; hg++) {     /* gather: one row every l */
        const size_t h = (size_t)(hg / G), r = (size_t)sp->rho + (size_t)(hg % G);
        for (int a = 0; a < L; a++)
            memcpy(st->qb + ((size_t)hg * L + a) * d, in[0].data + (h * N + r + (size_t)(a0 + 1 + a) * l) * d,
                   d * sizeof(float));
        for (int b = 0; b < W; b++) {
            memcpy(st->kb + ((size_t)hg * W + b) * d, in[1].data + (h * N + r + (size_t)b * l) * d,
                   d * sizeof(float));
            memcpy(st->vb + ((size_t)hg * W + b) * dv, in[2].data + (h * N + r + (size_t)b * l) * dv,
                   dv * sizeof(float));
        }
    }
    if (cb_dnnl_exec_matmul(sh->qk, st->dn.st, sh->q, sh->kt, sh->s, 1))
        return -1;
#pragma omp parallel for schedule(static)
    for (int hg = 0; hg < H * G; hg++)
        cb_sparse_exp_band(st->s + (size_t)hg * L * W, (size_t)W, L, W, -W, a0 + 1, st->m2 + (size_t)hg * L,
                           st->s2 + (size_t)hg * L);
    if (cb_dnnl_exec_matmul(sh->pv, st->dn.st, sh->s, sh->v, sh->o, 1))
        return -1;
#pragma omp parallel for schedule(static)
    for (int hg = 0; hg < H * G; hg++) {     /* merge with the window part, normalise */
        const size_t h = (size_t)(hg / G), r = (size_t)sp->rho + (size_t)(hg % G);
        for (int a = 0; a < L; a++) {
            const size_t i = h * N + r + (size_t)(a0 + a + 1) * l, j = (size_t)hg * L + (size_t)a;
            cb_sparse_finish_row(out[0].data + i * dv, st->m1[i], st->s1[i], st->ob + j * dv, st->m2[j],
                                 st->s2[j], (int)dv);
        }
    }
    return 0;
}

static int dnnl_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)p;
    dnnl_sa *st = state;
    const int H = st->H, N = st->N, l = st->l, dv = st->dv;
    int t = 0;
    for (; t < st->nsteps && st->steps[t].kind == WINDOW; t++)
        if (window_step(st, &st->steps[t], in, out))
            return -1;
    /* the queries with no strided keys (i < l) are complete: normalise */
#pragma omp parallel for schedule(static)
    for (int h = 0; h < H; h++)
        for (int i = 0; i < l; i++) {
            const size_t j = (size_t)h * N + (size_t)i;
            cb_sparse_finish_row(out[0].data + j * (size_t)dv, st->m1[j], st->s1[j], NULL, 0, 0, dv);
        }
    for (; t < st->nsteps; t++)
        if (strided_step(st, &st->steps[t], in, out))
            return -1;
    return 0;
}

const cb_impl cb_impl_dnnl_sparse_attention = {
    .kernel = "sparse_attention",
    .backend = "dnnl",
    .how = "batched matmuls on gathered dense blocks: window blocks G at a time and residues mod l R at a time, "
           "all heads per execution; causal blocks on the strided subsequences, log-sum-exp merge",
    .prepare = dnnl_prepare,
    .run = dnnl_run,
    .release = dnnl_release,
};
