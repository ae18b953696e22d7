/* dnnl_util.c — engine/stream ownership and error text for oneDNN 2.6. */
#include "dnnl_util.h"

#include "../kernel.h"

int cb_dnnl_open(cb_dnnl *d, char *err, size_t errlen)
{
    d->eng = NULL;
    d->st = NULL;
    CB_DNNL_TRY(dnnl_engine_create(&d->eng, dnnl_cpu, 0));
    dnnl_status_t s = dnnl_stream_create(&d->st, d->eng, dnnl_stream_default_flags);
    if (s != dnnl_success) {
        dnnl_engine_destroy(d->eng);
        d->eng = NULL;
        return cb_fail(err, errlen, "dnnl_stream_create: %s", cb_dnnl_status_str(s));
    }
    return 0;
}

void cb_dnnl_close(cb_dnnl *d)
{
    if (d->st) dnnl_stream_destroy(d->st);
    if (d->eng) dnnl_engine_destroy(d->eng);
    d->st = NULL;
    d->eng = NULL;
}

const char *cb_dnnl_status_str(dnnl_status_t s)
{
    switch (s) {
    case dnnl_success: return "success";
    case dnnl_out_of_memory: return "out of memory";
    case dnnl_invalid_arguments: return "invalid arguments";
    case dnnl_unimplemented: return "unimplemented";
    case dnnl_iterator_ends: return "iterator ends";
    case dnnl_runtime_error: return "runtime error";
    case dnnl_not_required: return "not required";
    default: return "unknown status";
    }
}

int cb_dnnl_md_strided(dnnl_memory_desc_t *md, int ndims, const dnnl_dim_t *dims,
                       const dnnl_dim_t *strides, char *err, size_t errlen)
{
    CB_DNNL_TRY(dnnl_memory_desc_init_by_strides(md, ndims, dims, dnnl_f32, strides));
    return 0;
}

int cb_dnnl_mem(dnnl_memory_t *m, const dnnl_memory_desc_t *md, dnnl_engine_t eng, void *buf, char *err,
                size_t errlen)
{
    CB_DNNL_TRY(dnnl_memory_create(m, md, eng, buf));
    return 0;
}

int cb_dnnl_mem_strided(dnnl_memory_t *m, dnnl_memory_desc_t *md, dnnl_engine_t eng, int ndims,
                        const dnnl_dim_t *dims, const dnnl_dim_t *strides, void *buf, char *err, size_t errlen)
{
    dnnl_memory_desc_t local;
    if (!md) md = &local;
    if (cb_dnnl_md_strided(md, ndims, dims, strides, err, errlen)) return -1;
    return cb_dnnl_mem(m, md, eng, buf, err, errlen);
}

int cb_dnnl_matmul(dnnl_primitive_t *prim, dnnl_engine_t eng, const dnnl_memory_desc_t *src,
                   const dnnl_memory_desc_t *wei, const dnnl_memory_desc_t *dst, float scale, int sum,
                   const dnnl_memory_desc_t *mask, const char **impl, char *err, size_t errlen)
{
    dnnl_matmul_desc_t op;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    const char *what = "dnnl_matmul_desc_init";
    dnnl_status_t st = dnnl_matmul_desc_init(&op, src, wei, NULL, dst);
    if (st == dnnl_success && (scale != 1.0f || sum || mask)) {
        what = "matmul attributes";
        st = dnnl_primitive_attr_create(&attr);
        if (st == dnnl_success && scale != 1.0f) st = dnnl_primitive_attr_set_output_scales(attr, 1, 0, &scale);
        if (st == dnnl_success && (sum || mask)) {
            st = dnnl_post_ops_create(&po);
            if (st == dnnl_success && sum) st = dnnl_post_ops_append_sum(po, 1.0f);
            if (st == dnnl_success && mask) st = dnnl_post_ops_append_binary(po, dnnl_binary_mul, mask);
            if (st == dnnl_success) st = dnnl_primitive_attr_set_post_ops(attr, po);
        }
    }
    if (st == dnnl_success) {
        what = "dnnl_primitive_desc_create(matmul)";
        st = dnnl_primitive_desc_create(&pd, &op, attr, eng, NULL);
    }
    if (st == dnnl_success && impl) {
        const char *name = NULL;
        if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name) != dnnl_success) name = "?";
        *impl = name;
    }
    if (st == dnnl_success) {
        what = "dnnl_primitive_create(matmul)";
        st = dnnl_primitive_create(prim, pd);
    }
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (po) dnnl_post_ops_destroy(po);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success)
        return cb_fail(err, errlen, "%s: %s", what, cb_dnnl_status_str(st));
    return 0;
}

int cb_dnnl_exec_matmul(dnnl_primitive_t p, dnnl_stream_t st, dnnl_memory_t src, dnnl_memory_t wei,
                        dnnl_memory_t dst, int wait)
{
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, dst}};
    if (dnnl_primitive_execute(p, st, 3, args) != dnnl_success) return -1;
    return wait && dnnl_stream_wait(st) != dnnl_success ? -1 : 0;
}
