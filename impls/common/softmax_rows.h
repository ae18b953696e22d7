/* softmax_rows.h — a vectorized row softmax (softmax_rows.c) for the
 * optimized backends. */
#ifndef CB_COMMON_SOFTMAX_ROWS_H
#define CB_COMMON_SOFTMAX_ROWS_H

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

#endif
