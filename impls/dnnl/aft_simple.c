/* aft_simple.c (dnnl) — AFT-simple composed of oneDNN 2.6 primitives.
 *
 * The paper's own wording, softmax over the tokens then a pooled product,
 * maps onto primitives once the token axis is made innermost:
 *
 *   Kᵀ = reorder(K), Vᵀ = reorder(V)   [N, d] → [d, N]        reorder (jit:uni)
 *   Pᵀ = softmax over axis 1 of Kᵀ     in place                softmax_v2 (jit)
 *   Pᵀ = Pᵀ ⊙ Vᵀ                       in place                binary mul (jit)
 *   ctx = Σ over axis 1 of Pᵀ          [d, 1]                  reduction sum (jit)
 *   o  = sigmoid(q)                     [N, d]                  eltwise logistic (jit)
 *   o  = o ⊙ ctx                        ctx broadcast over rows binary mul (jit)
 *
 * Why the transposes: oneDNN 2.6 runs a softmax, a reduction or a pooling
 * along the non-innermost token axis of the row-major [N, d] tensors with
 * its scalar reference code only (ref:any, measured ~100× slower than the
 * jit kernels: 0.72 s for a max over N = 524288, d = 64), and its binary
 * primitive likewise as soon as one operand is a strided (transposed) view.
 * Two jit reorders into [d, N] cost two read-write passes and keep every
 * later step on jit code. The price is passes over memory: about 14 N d
 * floats moved against 5 N d for the fused C loop of blas/aft_simple.c, and
 * 2 N d floats of working memory (Kᵀ, Vᵀ) against O(d): still O(N d), the
 * paper's bound. oneDNN's softmax subtracts the maximum of each row itself.
 *
 * All primitives and memory objects are created in prepare() over the
 * kernel's own tensors and scratch (tensors stay put until release), with a
 * user-managed scratchpad shared by all of them (they run in sequence on one
 * stream), allocated and touched in prepare().
 */
#include "kernel.h"
#include "dnnl/dnnl_util.h"

#include <stdlib.h>
#include <string.h>

enum { P_REORDER, P_SOFTMAX, P_MUL, P_SUM, P_GATE, P_SCALE, P_COUNT };

typedef struct dnnl_as {
    cb_dnnl dn;
    int64_t N, d;
    float *kt, *vt, *ctx;                   /* [d, N], [d, N], [d] */
    void *sp;                               /* shared user scratchpad */
    dnnl_primitive_t prim[P_COUNT];
    dnnl_memory_t spm[P_COUNT];             /* the scratchpad, as each primitive sees it */
    dnnl_memory_t mk, mv, mkt, mvt, mctx_col, mctx_row, mq, mo;
} dnnl_as;

static void dnnl_as_release(void *state)
{
    dnnl_as *s = state;
    if (!s) return;
    for (int i = 0; i < P_COUNT; i++) {
        if (s->prim[i]) dnnl_primitive_destroy(s->prim[i]);
        if (s->spm[i]) dnnl_memory_destroy(s->spm[i]);
    }
    dnnl_memory_t *ms[] = {&s->mk, &s->mv, &s->mkt, &s->mvt, &s->mctx_col, &s->mctx_row, &s->mq, &s->mo};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
        if (*ms[i]) dnnl_memory_destroy(*ms[i]);
    cb_dnnl_close(&s->dn);
    free(s->kt);
    free(s->vt);
    free(s->ctx);
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

static int user_scratchpad_attr(dnnl_primitive_attr_t *attr)
{
    if (dnnl_primitive_attr_create(attr) != dnnl_success) return -1;
    if (dnnl_primitive_attr_set_scratchpad_mode(*attr, dnnl_scratchpad_mode_user) != dnnl_success) {
        dnnl_primitive_attr_destroy(*attr);
        return -1;
    }
    return 0;
}

static int md2(dnnl_memory_desc_t *md, int64_t a, int64_t b, int64_t sa, int64_t sb, char *err, size_t errlen)
{
    const dnnl_dim_t dims[2] = {a, b}, str[2] = {sa, sb};
    return cb_dnnl_md_strided(md, 2, dims, str, err, errlen);
}

static int dnnl_as_build(dnnl_as *s, const cb_params *p, const cb_tensor *in, cb_tensor *out, char *err,
                         size_t errlen)
{
    s->N = cb_params_int(p, "N", 0);
    s->d = cb_params_int(p, "d", 0);
    const int64_t N = s->N, d = s->d;
    s->kt = alloc_touched((size_t)(N * d) * sizeof(float));
    s->vt = alloc_touched((size_t)(N * d) * sizeof(float));
    s->ctx = alloc_touched((size_t)d * sizeof(float));
    if (!s->kt || !s->vt || !s->ctx)
        return cb_fail(err, errlen, "dnnl aft_simple: out of memory");
    if (cb_dnnl_open(&s->dn, err, errlen))
        return -1;
    dnnl_engine_t eng = s->dn.eng;
    dnnl_memory_desc_t md_nd, md_view, md_t, md_col, md_row;
    if (md2(&md_nd, N, d, d, 1, err, errlen) ||     /* q, k, v, o as stored */
        md2(&md_view, d, N, 1, d, err, errlen) ||   /* k, v seen transposed */
        md2(&md_t, d, N, N, 1, err, errlen) ||      /* Kᵀ, Vᵀ dense */
        md2(&md_col, d, 1, 1, 1, err, errlen) ||    /* ctx as a column (reduction dst) */
        md2(&md_row, 1, d, d, 1, err, errlen))      /* ctx as a row (broadcast operand) */
        return -1;

    dnnl_primitive_desc_t pd[P_COUNT] = {0};
    dnnl_primitive_attr_t attr = NULL;
    if (user_scratchpad_attr(&attr) != 0)
        return cb_fail(err, errlen, "dnnl aft_simple: cannot create a primitive attribute");
    dnnl_softmax_v2_desc_t sm;
    dnnl_binary_desc_t mul, scale;
    dnnl_reduction_desc_t sum;
    dnnl_eltwise_desc_t gate;
    const char *what = "reorder [N, d] -> [d, N]";
    dnnl_status_t st = dnnl_reorder_primitive_desc_create(&pd[P_REORDER], &md_view, eng, &md_t, eng, attr);
    if (st == dnnl_success) {
        what = "softmax over tokens";
        st = dnnl_softmax_v2_forward_desc_init(&sm, dnnl_forward_inference, dnnl_softmax_accurate, &md_t,
                                               &md_t, 1);
        if (st == dnnl_success) st = dnnl_primitive_desc_create(&pd[P_SOFTMAX], &sm, attr, eng, NULL);
    }
    if (st == dnnl_success) {
        what = "binary mul P * V";
        st = dnnl_binary_desc_init(&mul, dnnl_binary_mul, &md_t, &md_t, &md_t);
        if (st == dnnl_success) st = dnnl_primitive_desc_create(&pd[P_MUL], &mul, attr, eng, NULL);
    }
    if (st == dnnl_success && N == 1) {
        /* one token: nothing to reduce, and oneDNN refuses a reduction whose
         * source and destination shapes are equal; a copy does the job */
        what = "reorder (the sum over a single token)";
        st = dnnl_reorder_primitive_desc_create(&pd[P_SUM], &md_t, eng, &md_col, eng, attr);
    } else if (st == dnnl_success) {
        what = "reduction sum over tokens";
        st = dnnl_reduction_desc_init(&sum, dnnl_reduction_sum, &md_t, &md_col, 0.0f, 0.0f);
        if (st == dnnl_success) st = dnnl_primitive_desc_create(&pd[P_SUM], &sum, attr, eng, NULL);
    }
    if (st == dnnl_success) {
        what = "eltwise logistic";
        st = dnnl_eltwise_forward_desc_init(&gate, dnnl_forward_inference, dnnl_eltwise_logistic, &md_nd,
                                            0.0f, 0.0f);
        if (st == dnnl_success) st = dnnl_primitive_desc_create(&pd[P_GATE], &gate, attr, eng, NULL);
    }
    if (st == dnnl_success) {
        what = "binary mul by the context";
        st = dnnl_binary_desc_init(&scale, dnnl_binary_mul, &md_nd, &md_row, &md_nd);
        if (st == dnnl_success) st = dnnl_primitive_desc_create(&pd[P_SCALE], &scale, attr, eng, NULL);
    }
    dnnl_primitive_attr_destroy(attr);
    size_t need = 0;
    for (int i = 0; i < P_COUNT && st == dnnl_success; i++) {
        what = "dnnl_primitive_create";
        st = dnnl_primitive_create(&s->prim[i], pd[i]);
        const dnnl_memory_desc_t *m = st == dnnl_success ? dnnl_primitive_desc_query_md(pd[i], dnnl_query_scratchpad_md, 0) : NULL;
        if (m && dnnl_memory_desc_get_size(m) > need) need = dnnl_memory_desc_get_size(m);
    }
    if (st == dnnl_success && need && !(s->sp = alloc_touched(need))) {
        for (int i = 0; i < P_COUNT; i++)
            if (pd[i]) dnnl_primitive_desc_destroy(pd[i]);
        return cb_fail(err, errlen, "dnnl aft_simple: out of memory (scratchpad)");
    }
    for (int i = 0; i < P_COUNT && st == dnnl_success; i++) {
        const dnnl_memory_desc_t *m = dnnl_primitive_desc_query_md(pd[i], dnnl_query_scratchpad_md, 0);
        what = "dnnl_memory_create (scratchpad)";
        if (m && dnnl_memory_desc_get_size(m))
            st = dnnl_memory_create(&s->spm[i], m, eng, s->sp);
    }
    for (int i = 0; i < P_COUNT; i++)
        if (pd[i]) dnnl_primitive_desc_destroy(pd[i]);
    if (st != dnnl_success)
        return cb_fail(err, errlen, "dnnl aft_simple: %s: %s", what, cb_dnnl_status_str(st));
    CB_DNNL_TRY(dnnl_memory_create(&s->mq, &md_nd, eng, in[0].data));
    CB_DNNL_TRY(dnnl_memory_create(&s->mk, &md_view, eng, in[1].data));
    CB_DNNL_TRY(dnnl_memory_create(&s->mv, &md_view, eng, in[2].data));
    CB_DNNL_TRY(dnnl_memory_create(&s->mo, &md_nd, eng, out[0].data));
    CB_DNNL_TRY(dnnl_memory_create(&s->mkt, &md_t, eng, s->kt));
    CB_DNNL_TRY(dnnl_memory_create(&s->mvt, &md_t, eng, s->vt));
    CB_DNNL_TRY(dnnl_memory_create(&s->mctx_col, &md_col, eng, s->ctx));
    CB_DNNL_TRY(dnnl_memory_create(&s->mctx_row, &md_row, eng, s->ctx));
    return 0;
}

static int dnnl_as_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out,
                           char *err, size_t errlen)
{
    dnnl_as *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "dnnl aft_simple: out of memory");
    if (dnnl_as_build(s, p, in, out, err, errlen)) {
        dnnl_as_release(s);
        return -1;
    }
    *state = s;
    return 0;
}

/* Execute primitive i with the given arguments plus its scratchpad. */
static int exec(dnnl_as *s, int i, int n, dnnl_exec_arg_t *args)
{
    if (s->spm[i]) args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, s->spm[i]};
    return dnnl_primitive_execute(s->prim[i], s->dn.st, n, args) == dnnl_success ? 0 : -1;
}

static int dnnl_as_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)p;
    (void)in;
    (void)out;
    dnnl_as *s = state;
    dnnl_exec_arg_t a[6][4] = {
        {{DNNL_ARG_FROM, s->mk}, {DNNL_ARG_TO, s->mkt}},
        {{DNNL_ARG_FROM, s->mv}, {DNNL_ARG_TO, s->mvt}},
        {{DNNL_ARG_SRC, s->mkt}, {DNNL_ARG_DST, s->mkt}},
        {{DNNL_ARG_SRC_0, s->mkt}, {DNNL_ARG_SRC_1, s->mvt}, {DNNL_ARG_DST, s->mkt}},
        {{DNNL_ARG_SRC, s->mkt}, {DNNL_ARG_DST, s->mctx_col}},   /* (= FROM, TO for the N = 1 copy) */
        {{DNNL_ARG_SRC, s->mq}, {DNNL_ARG_DST, s->mo}},
    };
    dnnl_exec_arg_t a_scale[4] = {{DNNL_ARG_SRC_0, s->mo}, {DNNL_ARG_SRC_1, s->mctx_row}, {DNNL_ARG_DST, s->mo}};
    if (exec(s, P_REORDER, 2, a[0]) || exec(s, P_REORDER, 2, a[1]) || exec(s, P_SOFTMAX, 2, a[2]) ||
        exec(s, P_MUL, 3, a[3]) || exec(s, P_SUM, 2, a[4]) || exec(s, P_GATE, 2, a[5]) ||
        exec(s, P_SCALE, 3, a_scale) || dnnl_stream_wait(s->dn.st) != dnnl_success)
        return -1;
    return 0;
}

const cb_impl cb_impl_dnnl_aft_simple = {
    .kernel = "aft_simple",
    .backend = "dnnl",
    .how = "reorder K, V to [d, N]; softmax over tokens; binary mul; reduction sum; logistic; broadcast mul",
    .prepare = dnnl_as_prepare,
    .run = dnnl_as_run,
    .release = dnnl_as_release,
};
