/* dnnl_util.h — what every oneDNN 2.6 implementation needs: an engine and a
 * stream owned by the implementation's state (no globals), readable status
 * errors, a strided memory descriptor, and the matmul primitive most of
 * them are built from. */
#ifndef CB_DNNL_UTIL_H
#define CB_DNNL_UTIL_H

#include <oneapi/dnnl/dnnl.h>
#include <stddef.h>

typedef struct cb_dnnl {
    dnnl_engine_t eng;
    dnnl_stream_t st;
} cb_dnnl;

/* Create a CPU engine and stream. Returns 0, or -1 with err. */
int cb_dnnl_open(cb_dnnl *d, char *err, size_t errlen);
void cb_dnnl_close(cb_dnnl *d);
const char *cb_dnnl_status_str(dnnl_status_t s);

/* Evaluate a oneDNN call; on failure write "what: status" into err and
 * return -1 from the enclosing function. Needs err/errlen in scope. */
#define CB_DNNL_TRY(call)                                                     \
    do {                                                                      \
        dnnl_status_t cb_st_ = (call);                                        \
        if (cb_st_ != dnnl_success)                                           \
            return cb_fail(err, errlen, "%s: %s", #call,                      \
                           cb_dnnl_status_str(cb_st_));                       \
    } while (0)

/* An f32 memory descriptor of `ndims` dims with explicit strides (elements). */
int cb_dnnl_md_strided(dnnl_memory_desc_t *md, int ndims, const dnnl_dim_t *dims,
                       const dnnl_dim_t *strides, char *err, size_t errlen);

/* A memory object with descriptor md over buf (DNNL_MEMORY_NONE: attach the
 * data later with dnnl_memory_set_data_handle). Returns 0, or -1 with err. */
int cb_dnnl_mem(dnnl_memory_t *m, const dnnl_memory_desc_t *md, dnnl_engine_t eng, void *buf, char *err,
                size_t errlen);

/* The same over an f32 view of `ndims` dims with explicit strides; its
 * descriptor is also written to *md when md is not NULL. */
int cb_dnnl_mem_strided(dnnl_memory_t *m, dnnl_memory_desc_t *md, dnnl_engine_t eng, int ndims,
                        const dnnl_dim_t *dims, const dnnl_dim_t *strides, void *buf, char *err, size_t errlen);

/* A matmul primitive: dst = scale · (src × wei), then + dst when `sum` (a sum
 * post-op: accumulate into what dst holds), then × mask elementwise when
 * `mask` is not NULL (a binary-mul post-op; its memory goes in at execution
 * as DNNL_ARG_ATTR_MULTIPLE_POST_OP(1) | DNNL_ARG_SRC_1). scale 1, sum 0,
 * mask NULL: a plain product with no attributes. When impl is not NULL it
 * receives oneDNN's implementation name (a static string). Returns 0, or -1
 * with err naming the failed step. */
int cb_dnnl_matmul(dnnl_primitive_t *prim, dnnl_engine_t eng, const dnnl_memory_desc_t *src,
                   const dnnl_memory_desc_t *wei, const dnnl_memory_desc_t *dst, float scale, int sum,
                   const dnnl_memory_desc_t *mask, const char **impl, char *err, size_t errlen);

/* Execute a matmul primitive without attribute inputs (src, wei, dst) on
 * stream st, then wait for the stream when `wait` is set. Returns 0 or -1. */
int cb_dnnl_exec_matmul(dnnl_primitive_t p, dnnl_stream_t st, dnnl_memory_t src, dnnl_memory_t wei,
                        dnnl_memory_t dst, int wait);

#endif
