/* matmul.c (dnnl) — c = a b with one oneDNN 2.6 matmul primitive.
 *
 * The primitive is created in prepare() over the caller's tensors (plain
 * row-major f32 descriptors, so no reorder) and only executed in run().
 * oneDNN JIT-compiles a blocked AVX-512 FMA kernel (brgemm) for the shape
 * and threads it with OpenMP.
 */
#include "kernel.h"
#include "dnnl/dnnl_util.h"
#include "dnnl/galerkin_attention_prims.h"

#include <stdlib.h>

typedef struct dnnl_mm {
    cb_dnnl dn;
    dnnl_primitive_t mm;
    dnnl_memory_t a, b, c;
} dnnl_mm;

static void dnnl_mm_release(void *state)
{
    dnnl_mm *s = state;
    if (!s) return;
    if (s->mm) dnnl_primitive_destroy(s->mm);
    dnnl_memory_t ms[] = {s->a, s->b, s->c};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
        if (ms[i]) dnnl_memory_destroy(ms[i]);
    cb_dnnl_close(&s->dn);
    free(s);
}

static int dnnl_mm_build(dnnl_mm *s, const cb_params *p, const cb_tensor *in, cb_tensor *out, char *err,
                         size_t errlen)
{
    const int64_t M = cb_params_int(p, "M", 0), K = cb_params_int(p, "K", 0), N = cb_params_int(p, "N", 0);
    if (cb_dnnl_open(&s->dn, err, errlen))
        return -1;
    dnnl_memory_desc_t a_md, b_md, c_md;
    const dnnl_dim_t a_dims[2] = {M, K}, a_str[2] = {K, 1};
    const dnnl_dim_t b_dims[2] = {K, N}, b_str[2] = {N, 1};
    const dnnl_dim_t c_dims[2] = {M, N}, c_str[2] = {N, 1};
    if (cb_dnnl_md_strided(&a_md, 2, a_dims, a_str, err, errlen) ||
        cb_dnnl_md_strided(&b_md, 2, b_dims, b_str, err, errlen) ||
        cb_dnnl_md_strided(&c_md, 2, c_dims, c_str, err, errlen))
        return -1;
    CB_DNNL_TRY(dnnl_memory_create(&s->a, &a_md, s->dn.eng, in[0].data));
    CB_DNNL_TRY(dnnl_memory_create(&s->b, &b_md, s->dn.eng, in[1].data));
    CB_DNNL_TRY(dnnl_memory_create(&s->c, &c_md, s->dn.eng, out[0].data));
    return cb_ga_dnnl_matmul(&s->mm, s->dn.eng, &a_md, &b_md, &c_md, 1.0f, NULL, err, errlen);
}

static int dnnl_mm_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out, char *err,
                           size_t errlen)
{
    dnnl_mm *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "dnnl matmul: out of memory");
    if (dnnl_mm_build(s, p, in, out, err, errlen)) {
        dnnl_mm_release(s);
        return -1;
    }
    *state = s;
    return 0;
}

static int dnnl_mm_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)p;
    (void)in;
    (void)out;
    dnnl_mm *s = state;
    if (cb_dnnl_exec_matmul(s->mm, s->dn.st, s->a, s->b, s->c, 0))
        return -1;
    return dnnl_stream_wait(s->dn.st) == dnnl_success ? 0 : -1;
}

const cb_impl cb_impl_dnnl_matmul = {
    .kernel = "matmul",
    .backend = "dnnl",
    .how = "one oneDNN matmul primitive (f32, row-major, created in prepare)",
    .prepare = dnnl_mm_prepare,
    .run = dnnl_mm_run,
    .release = dnnl_mm_release,
};
