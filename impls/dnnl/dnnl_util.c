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
