/* sparse_attention_rows.h — the row steps the optimized sparse_attention
 * backends (blas, dnnl) share: a masked exp over a band of each score row,
 * and the merge of two partial softmaxes (local window and strided set) of
 * one query into its normalised output. Defined in sparse_attention_rows.c.
 */
#ifndef CB_COMMON_SPARSE_ATTENTION_ROWS_H
#define CB_COMMON_SPARSE_ATTENTION_ROWS_H

#include <stddef.h>

/* For each row r < rows of s (leading dimension ld), the allowed columns are
 * [lo, hi) with lo = max(0, lo0 + r) and hi = min(cols, hi0 + r); the
 * caller guarantees lo < hi. In place: x = exp(x - m) on [lo, hi) with m the
 * maximum there, 0 on the rest of [0, cols). mx[r] = m, sum[r] = Σ exp.
 * A band of the (query, key) plane is lo0 < hi0 (window keys of a query
 * block); a causal triangle is lo0 = -cols, hi0 = first row's last key + 1. */
void cb_sparse_exp_band(float *s, size_t ld, int rows, int cols, int lo0, int hi0,
                        float *mx, float *sum);

/* The output row of one query from its two partial softmaxes over disjoint
 * key sets: (o, m1, s1) holds Σ e^(x - m1) v and Σ e^(x - m1) over one set,
 * (o2, m2, s2) the same over the other. On return
 *   o = (a o + b o2) / (a s1 + b s2),  a = e^(m1 - m), b = e^(m2 - m),
 *   m = max(m1, m2),
 * which is the softmax over the union (the log-sum-exp merge). With o2 NULL
 * there is no second set and o = o / s1. dv values per row. */
void cb_sparse_finish_row(float *o, float m1, float s1, const float *o2, float m2, float s2, int dv);

#endif
