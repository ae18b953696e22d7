/* sparse_attention_pattern.h — the strided pattern of the Sparse Transformer
 * (Child et al. 2019, §4.3), as small inline functions shared by the
 * sparse_attention contract (ref/sparse_attention.c), its backends and the
 * sparse_reachability probe.
 *
 * With stride l, query i (0-based, causal) may see key j <= i when
 *
 *   i - j < l            the local window  [i - l + 1, i]   (i itself included)
 *   (i - j) mod l == 0   the strided set   {i, i - l, i - 2l, ...}
 *
 * The paper writes the window as A(1)_i = {t, ..., i}, t = max(0, i - l),
 * which has l + 1 entries; its extra key i - l satisfies (i - j) mod l == 0,
 * so it is in A(2)_i anyway and the union A(1) ∪ A(2) (the paper's "merged
 * head", eq. 7) is the same set either way. Here the window keeps l keys, so
 * window and strided set meet only in i itself and the strided keys outside
 * the window are exactly j = i - m l, m >= 1.
 *
 * Row i then has min(i + 1, l) window keys and floor(i / l) strided ones.
 */
#ifndef CB_REF_SPARSE_ATTENTION_PATTERN_H
#define CB_REF_SPARSE_ATTENTION_PATTERN_H

#include <math.h>
#include <stdint.h>

/* The default stride: the smallest l with l * l >= n (n >= 1). */
static inline int64_t cb_sparse_ceil_sqrt(int64_t n)
{
    int64_t r = (int64_t)sqrt((double)n);
    while (r > 1 && (r - 1) * (r - 1) >= n)
        r--;
    while (r * r < n)
        r++;
    return r < 1 ? 1 : r;
}

/* 1 when query i may attend to key j under stride l (l >= 1). */
static inline int cb_sparse_allowed(int64_t i, int64_t j, int64_t l)
{
    return j <= i && (i - j < l || (i - j) % l == 0);
}

/* |A_i|: the keys row i sees. */
static inline int64_t cb_sparse_row_pairs(int64_t i, int64_t l)
{
    return (i + 1 < l ? i + 1 : l) + i / l;
}

/* Σ_{i<n} |A_i|, in closed form:
 *   Σ min(i + 1, l) = n(n + 1)/2 if n <= l, else l(l + 1)/2 + (n - l) l
 *   Σ floor(i / l)  = l q(q - 1)/2 + r q,  n = q l + r. */
static inline double cb_sparse_total_pairs(int64_t n, int64_t l)
{
    double N = (double)n, L = (double)l;
    double win = n <= l ? N * (N + 1) / 2 : L * (L + 1) / 2 + (N - L) * L;
    double q = (double)(n / l), r = (double)(n % l);
    return win + L * q * (q - 1) / 2 + r * q;
}

#endif
