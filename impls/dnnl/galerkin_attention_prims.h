/* galerkin_attention_prims.h — the two oneDNN 2.6 primitives the dnnl
 * Galerkin and Fourier attention kernels are built from: a layer
 * normalization without scale and shift, and a (batched) matmul with an
 * optional output scale; plus the layer norm's execution. Defined in
 * galerkin_attention_prims.c. */
#ifndef CB_DNNL_GALERKIN_ATTENTION_PRIMS_H
#define CB_DNNL_GALERKIN_ATTENTION_PRIMS_H

#include <oneapi/dnnl/dnnl.h>
#include <stddef.h>

/* dst = scale * src x wei (scale == 1: no attribute). When impl is not NULL
 * it receives oneDNN's implementation name (e.g. "brg:avx512_core"), a
 * static string. Returns 0, or -1 with err. */
int cb_ga_dnnl_matmul(dnnl_primitive_t *prim, dnnl_engine_t eng, const dnnl_memory_desc_t *src,
                      const dnnl_memory_desc_t *wei, const dnnl_memory_desc_t *dst, float scale,
                      const char **impl, char *err, size_t errlen);

/* Forward-inference layer normalization over the last dimension of `data`
 * (src and dst share the descriptor), no scale or shift, the given eps.
 * Returns 0, or -1 with err. */
int cb_ga_dnnl_layernorm(dnnl_primitive_t *prim, dnnl_engine_t eng, const dnnl_memory_desc_t *data,
                         float eps, const char **impl, char *err, size_t errlen);

/* Execute a layer norm (src, dst) on stream st without waiting (a matmul:
 * cb_dnnl_exec_matmul in dnnl_util.h). Returns 0 or -1. */
int cb_ga_dnnl_exec_layernorm(dnnl_primitive_t p, dnnl_stream_t st, dnnl_memory_t src, dnnl_memory_t dst);

#endif
