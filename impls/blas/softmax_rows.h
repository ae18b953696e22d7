/* softmax_rows.h — the pieces the blas softmax kernels share: a vectorized
 * row softmax (softmax_rows_fastmath.c) and the blocked per-head attention
 * routine built on it and CBLAS (softmax_attention.c). */
#ifndef CB_BLAS_SOFTMAX_ROWS_H
#define CB_BLAS_SOFTMAX_ROWS_H

#include <stddef.h>

/* Softmax of each row of s (rows × cols, leading dimension ld), in place.
 * Row r is normalised over its first len(r) = min(cols, len0 + r) entries
 * and its entries len(r)..cols-1 are set to 0, which is the causal mask of
 * a query block whose first row may see len0 keys; pass len0 = cols for no
 * mask. Entries equal to -inf get weight 0, so callers may also mask with
 * -inf, as long as every row keeps one finite entry. The row maximum is
 * subtracted first, so logits of any finite size are safe.
 * With inv_sum NULL the rows are normalised. Otherwise the rows are left as
 * exp(x - max) and inv_sum[r] receives 1 / Σ exp(x - max): a caller that
 * multiplies the rows by a matrix next (P V) can scale the rows × dv result
 * instead of the rows × cols weights, saving one pass over the scores.
 * Requires rows >= 0, len0 >= 1, cols >= 1. */
void cb_softmax_rows(float *s, size_t ld, int rows, int cols, int len0, float *inv_sum);

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
