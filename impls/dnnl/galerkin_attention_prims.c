/* galerkin_attention_prims.c — layer norm and matmul primitives (oneDNN 2.6)
 * for the dnnl Galerkin and Fourier attention kernels. */
#include "galerkin_attention_prims.h"

#include "kernel.h"
#include "dnnl/dnnl_util.h"

/* A primitive from an initialized op descriptor and optional attributes. */
static int make_prim(dnnl_primitive_t *prim, const void *op_desc, const_dnnl_primitive_attr_t attr,
                     dnnl_engine_t eng, const char **impl, char *err, size_t errlen)
{
    dnnl_primitive_desc_t pd;
    CB_DNNL_TRY(dnnl_primitive_desc_create(&pd, op_desc, attr, eng, NULL));
    if (impl) {
        const char *name = NULL;
        if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name) != dnnl_success)
            name = "?";
        *impl = name;
    }
    dnnl_status_t s = dnnl_primitive_create(prim, pd);
    dnnl_primitive_desc_destroy(pd);
    if (s != dnnl_success)
        return cb_fail(err, errlen, "dnnl_primitive_create: %s", cb_dnnl_status_str(s));
    return 0;
}

int cb_ga_dnnl_matmul(dnnl_primitive_t *prim, dnnl_engine_t eng, const dnnl_memory_desc_t *src,
                      const dnnl_memory_desc_t *wei, const dnnl_memory_desc_t *dst, float scale,
                      const char **impl, char *err, size_t errlen)
{
    return cb_dnnl_matmul(prim, eng, src, wei, dst, scale, 0, NULL, impl, err, errlen);
}

int cb_ga_dnnl_layernorm(dnnl_primitive_t *prim, dnnl_engine_t eng, const dnnl_memory_desc_t *data,
                         float eps, const char **impl, char *err, size_t errlen)
{
    dnnl_layer_normalization_desc_t ld;
    /* flags 0: no scale, no shift, statistics computed (not given) */
    CB_DNNL_TRY(dnnl_layer_normalization_forward_desc_init(&ld, dnnl_forward_inference, data, NULL, eps, 0));
    return make_prim(prim, &ld, NULL, eng, impl, err, errlen);
}

int cb_ga_dnnl_exec_layernorm(dnnl_primitive_t p, dnnl_stream_t st, dnnl_memory_t src, dnnl_memory_t dst)
{
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}};
    return dnnl_primitive_execute(p, st, 2, args) == dnnl_success ? 0 : -1;
}
