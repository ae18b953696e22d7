/* aft_full.c (dnnl) — AFT-full with a oneDNN softmax and one matmul.
 *
 * The factorization of blas/aft_full.c (exp(k + w) = exp(w) exp(k)), with
 * one twist: oneDNN's softmax along the rows of W gives
 *   P = softmax_rows(W) = exp(W - mw) / s,   s_t = Σ_t' exp(w_t,t' - mw_t),
 * and the row scale 1/s_t multiplies numerator and denominator of o_tc
 * alike, so P can stand in for X = exp(W - mw): the jit softmax
 * (jit:avx512_core on this machine) does the max, the exp and the row pass.
 *
 *   E = exp(K - mk), B = [E ⊙ V | E]    C (OpenMP over rows)   N × 2d
 *   P = softmax_rows(W)                 softmax_v2 primitive   N × N
 *   R = P B                             matmul primitive       N × 2d
 *   o_tc = sigmoid(q_tc) R[t, c] / R[t, d + c]   C (OpenMP)
 *
 * As in the blas backend, an entry whose denominator the float range lost
 * (R[t, d + c] < 2^-60: a separable shift far above the entry's own maximum,
 * e.g. under a causal mask) is recomputed directly in O(N); P's row scale
 * 1/s_t >= 1/N only moves that threshold by log N.
 *
 * The column maxima of K and the gate stay in C: oneDNN 2.6 reduces along
 * a non-innermost axis (the tokens of a row-major [N, d]) only with its
 * scalar reference code, and a softmax with a binary post-op likewise.
 * Primitives and memory objects are created in prepare() over the kernel's
 * own tensors and scratch, and only executed in run(). The scratchpad is
 * user-managed: its size is queried from both primitives and one buffer,
 * allocated and touched in prepare(), serves both (they run one after the
 * other on one stream), so all working memory is visible to the
 * aft_memory probe: P (4 N² bytes), B and R (8 N d each), the scratchpad.
 * The C loops share oneDNN's OpenMP threads.
 */
#include "kernel.h"
#include "dnnl/dnnl_util.h"
#include "blas/aft_simple_util.h"

#include <stdlib.h>
#include <string.h>

typedef struct dnnl_af {
    cb_dnnl dn;
    int64_t N, d;
    float *P, *B, *R, *mk;
    void *sp;                           /* shared user scratchpad */
    dnnl_primitive_t softmax, matmul;
    dnnl_memory_t mw, mp, mb, mr;       /* W, P, B, R */
    dnnl_memory_t sp_softmax, sp_matmul;/* the scratchpad, as each primitive sees it */
} dnnl_af;

static void dnnl_af_release(void *state)
{
    dnnl_af *s = state;
    if (!s) return;
    if (s->softmax) dnnl_primitive_destroy(s->softmax);
    if (s->matmul) dnnl_primitive_destroy(s->matmul);
    dnnl_memory_t *ms[] = {&s->mw, &s->mp, &s->mb, &s->mr, &s->sp_softmax, &s->sp_matmul};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
        if (*ms[i]) dnnl_memory_destroy(*ms[i]);
    cb_dnnl_close(&s->dn);
    free(s->P);
    free(s->B);
    free(s->R);
    free(s->mk);
    free(s->sp);
    free(s);
}

static void *alloc_touched(size_t bytes)
{
    bytes = (bytes + 63) & ~(size_t)63;
    void *x = aligned_alloc(64, bytes ? bytes : 64);
    if (x) memset(x, 0, bytes ? bytes : 64);   /* pre-touch: no page fault in run() */
    return x;
}

/* Create a primitive from an op descriptor with a user-managed scratchpad;
 * *pd_out keeps its primitive descriptor (for the scratchpad query). */
static int make_prim(dnnl_af *s, const_dnnl_op_desc_t op, const char *what, dnnl_primitive_t *prim,
                     dnnl_primitive_desc_t *pd_out, char *err, size_t errlen)
{
    dnnl_primitive_attr_t attr = NULL;
    dnnl_status_t st = dnnl_primitive_attr_create(&attr);
    if (st == dnnl_success) st = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    if (st == dnnl_success) st = dnnl_primitive_desc_create(pd_out, op, attr, s->dn.eng, NULL);
    if (st == dnnl_success) st = dnnl_primitive_create(prim, *pd_out);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success)
        return cb_fail(err, errlen, "dnnl aft_full: %s: %s", what, cb_dnnl_status_str(st));
    return 0;
}

static int dnnl_af_build(dnnl_af *s, const cb_params *p, const cb_tensor *in, char *err, size_t errlen)
{
    s->N = cb_params_int(p, "N", 0);
    s->d = cb_params_int(p, "d", 0);
    const int64_t N = s->N, d = s->d;
    s->P = alloc_touched((size_t)(N * N) * sizeof(float));
    s->B = alloc_touched((size_t)(N * 2 * d) * sizeof(float));
    s->R = alloc_touched((size_t)(N * 2 * d) * sizeof(float));
    s->mk = alloc_touched((size_t)d * sizeof(float));
    if (!s->P || !s->B || !s->R || !s->mk)
        return cb_fail(err, errlen, "dnnl aft_full: out of memory (%lld x %lld position weights)",
                       (long long)N, (long long)N);
    if (cb_dnnl_open(&s->dn, err, errlen))
        return -1;
    dnnl_memory_desc_t md_nn, md_b;
    const dnnl_dim_t nn_dims[2] = {N, N}, nn_str[2] = {N, 1};
    const dnnl_dim_t b_dims[2] = {N, 2 * d}, b_str[2] = {2 * d, 1};
    if (cb_dnnl_md_strided(&md_nn, 2, nn_dims, nn_str, err, errlen) ||
        cb_dnnl_md_strided(&md_b, 2, b_dims, b_str, err, errlen))
        return -1;

    dnnl_softmax_v2_desc_t sm;
    dnnl_matmul_desc_t mm;
    dnnl_primitive_desc_t pd_sm = NULL, pd_mm = NULL;
    CB_DNNL_TRY(dnnl_softmax_v2_forward_desc_init(&sm, dnnl_forward_inference, dnnl_softmax_accurate,
                                                  &md_nn, &md_nn, 1));
    CB_DNNL_TRY(dnnl_matmul_desc_init(&mm, &md_nn, &md_b, NULL, &md_b));
    int rc = make_prim(s, &sm, "softmax over the rows of W", &s->softmax, &pd_sm, err, errlen);
    if (rc == 0)
        rc = make_prim(s, &mm, "matmul P [E*V | E]", &s->matmul, &pd_mm, err, errlen);
    /* one scratchpad buffer, as large as the larger of the two needs */
    const dnnl_memory_desc_t *sp_sm = NULL, *sp_mm = NULL;
    size_t need = 0;
    if (rc == 0) {
        sp_sm = dnnl_primitive_desc_query_md(pd_sm, dnnl_query_scratchpad_md, 0);
        sp_mm = dnnl_primitive_desc_query_md(pd_mm, dnnl_query_scratchpad_md, 0);
        size_t a = sp_sm ? dnnl_memory_desc_get_size(sp_sm) : 0;
        size_t b = sp_mm ? dnnl_memory_desc_get_size(sp_mm) : 0;
        need = a > b ? a : b;
        if (need && !(s->sp = alloc_touched(need)))
            rc = cb_fail(err, errlen, "dnnl aft_full: out of memory (scratchpad)");
    }
    dnnl_status_t st = dnnl_success;
    if (rc == 0 && need) {
        if (sp_sm && dnnl_memory_desc_get_size(sp_sm))
            st = dnnl_memory_create(&s->sp_softmax, sp_sm, s->dn.eng, s->sp);
        if (st == dnnl_success && sp_mm && dnnl_memory_desc_get_size(sp_mm))
            st = dnnl_memory_create(&s->sp_matmul, sp_mm, s->dn.eng, s->sp);
    }
    if (rc == 0 && st == dnnl_success) st = dnnl_memory_create(&s->mw, &md_nn, s->dn.eng, in[3].data);
    if (rc == 0 && st == dnnl_success) st = dnnl_memory_create(&s->mp, &md_nn, s->dn.eng, s->P);
    if (rc == 0 && st == dnnl_success) st = dnnl_memory_create(&s->mb, &md_b, s->dn.eng, s->B);
    if (rc == 0 && st == dnnl_success) st = dnnl_memory_create(&s->mr, &md_b, s->dn.eng, s->R);
    if (pd_sm) dnnl_primitive_desc_destroy(pd_sm);
    if (pd_mm) dnnl_primitive_desc_destroy(pd_mm);
    if (rc == 0 && st != dnnl_success)
        rc = cb_fail(err, errlen, "dnnl aft_full: dnnl_memory_create: %s", cb_dnnl_status_str(st));
    return rc;
}

static int dnnl_af_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out,
                           char *err, size_t errlen)
{
    (void)out;
    dnnl_af *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "dnnl aft_full: out of memory");
    if (dnnl_af_build(s, p, in, err, errlen)) {
        dnnl_af_release(s);
        return -1;
    }
    *state = s;
    return 0;
}

static int dnnl_af_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)p;
    dnnl_af *s = state;
    const int64_t N = s->N, d = s->d;
    const float *q = in[0].data, *k = in[1].data, *v = in[2].data;
    float *o = out[0].data;
    const float *mk = s->mk;
    float *B = s->B;
    const float *R = s->R;

    cb_aft_colmax(k, N, d, s->mk);
#pragma omp parallel for schedule(static)
    for (int64_t u = 0; u < N; u++) {          /* B = [E * V | E] */
        const float *restrict kr = k + u * d, *restrict vr = v + u * d;
        float *restrict br = B + u * 2 * d;
        for (int64_t c = 0; c < d; c++) {
            float e = cb_exp_nonpos(kr[c] - mk[c]);
            br[c] = e * vr[c];
            br[d + c] = e;
        }
    }
    dnnl_exec_arg_t a_sm[3] = {{DNNL_ARG_SRC, s->mw}, {DNNL_ARG_DST, s->mp}, {DNNL_ARG_SCRATCHPAD, s->sp_softmax}};
    dnnl_exec_arg_t a_mm[4] = {{DNNL_ARG_SRC, s->mp}, {DNNL_ARG_WEIGHTS, s->mb}, {DNNL_ARG_DST, s->mr},
                               {DNNL_ARG_SCRATCHPAD, s->sp_matmul}};
    if (dnnl_primitive_execute(s->softmax, s->dn.st, s->sp_softmax ? 3 : 2, a_sm) != dnnl_success ||
        dnnl_primitive_execute(s->matmul, s->dn.st, s->sp_matmul ? 4 : 3, a_mm) != dnnl_success ||
        dnnl_stream_wait(s->dn.st) != dnnl_success)
        return -1;
    const float *w = in[3].data;
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < N; t++) {          /* o = sigmoid(q) * num / den */
        const float *restrict qr = q + t * d, *restrict rr = R + t * 2 * d;
        float *restrict orow = o + t * d;
        for (int64_t c = 0; c < d; c++)
            orow[c] = cb_aft_sigmoid(qr[c]) * (rr[c] / rr[d + c]);
        cb_aft_full_fixup(q, k, v, w, R, o, N, d, t, t + 1);   /* lost denominators */
    }
    return 0;
}

const cb_impl cb_impl_dnnl_aft_full = {
    .kernel = "aft_full",
    .backend = "dnnl",
    .how = "softmax_v2 over rows of W, one matmul with [exp(K - colmax) * V | exp(K - colmax)], C gate",
    .prepare = dnnl_af_prepare,
    .run = dnnl_af_run,
    .release = dnnl_af_release,
};
