/* attention_blocks.h — the blocked per-head softmax attention routine the
 * blas softmax kernels share (defined in softmax_attention.c), built on
 * CBLAS and the row softmax of common/softmax_rows.h. */
#ifndef CB_BLAS_ATTENTION_BLOCKS_H
#define CB_BLAS_ATTENTION_BLOCKS_H

#include <stddef.h>

#include "common/softmax_rows.h"

/* Scratch of the blocked attention routine below, sized for up to n query
 * rows against up to m keys. */
typedef struct cb_blas_attn_scratch {
    int blk;        /* query rows per block */
    float *s;       /* scores of one block: blk × m */
    float *ot;      /* one block's output, transposed: dv × blk */
    float *inv;     /* 1 / row sums of one block: blk */
} cb_blas_attn_scratch;

/* Choose the block and allocate (64-byte aligned, pre-touched). Returns 0,
 * or -1 when out of memory (nothing stays allocated). */
int cb_blas_attn_scratch_init(cb_blas_attn_scratch *sc, int n, int m, int dv, int causal);
void cb_blas_attn_scratch_free(cb_blas_attn_scratch *sc);

/* Softmax attention of one head with CBLAS, one block of query rows at a
 * time: o[n × dv] = softmax(scale · q kᵀ + mask) v for q [n × d], k [m × d],
 * v [m × dv], all dense row-major. causal (needs m == n) masks keys j > i
 * and skips the score blocks above the diagonal. sc must come from
 * cb_blas_attn_scratch_init with at least these n, m, dv and causal. */
void cb_blas_attention_head(int n, int m, int d, int dv, float scale, int causal,
                            const float *q, const float *k, const float *v, float *o,
                            const cb_blas_attn_scratch *sc);

#endif
