/* blas/sparse_attention.c — strided sparse attention with CBLAS (OpenBLAS),
 * visiting only the blocks that hold allowed (query, key) pairs.
 *
 * The pattern (ref/sparse_attention_pattern.h) splits every row's keys into
 * two disjoint sets, and each set is a dense attention of its own:
 *
 * 1. The local window, keys [i - l + 1, i]. Per block of B query rows
 *    [r0, r0 + L), the keys [k0, r0 + L), k0 = max(0, r0 - l + 1), are one
 *    contiguous slice of K and V, so
 *      S  = scale · Q_blk K_slice^T          sgemm, L × W, W <= B + l - 1
 *      E  = exp(S - m1) on each row's band, 0 off it   (m1, s1 = Σ E kept)
 *      O1 = E V_slice                         sgemm, straight into o
 *    B ≈ l rows (a multiple of 16): W <= 2l keys, of which each row uses l.
 *
 * 2. The strided set, keys i - l, i - 2l, ... This is the paper's "attention
 *    with a stride of k can be computed by transposing the matrix and
 *    computing a local window" (§5.5): the positions ≡ r (mod l) form a
 *    sequence of n_r ≈ N / l rows, and on it the strided set of query
 *    r + (a+1) l is every earlier element, b <= a — causal attention on a
 *    sequence of √N. Those rows are rows of Q, K, V with leading dimension
 *    l·d (l·dv), so CBLAS reads them in place: no gather, no copy. Per
 *    residue r, in blocks of Ls query rows (keys cut at the block's last
 *    row, so the upper triangle is skipped, as causal softmax_attention does):
 *      S2 = scale · Q_r[a0+1 ..] K_r[0 .. a0+Ls)^T       sgemm, lda = l·d
 *      E2 = exp(S2 - m2) on b <= a, 0 above               (m2, s2 kept)
 *      O2 = E2 V_r                                         sgemm, ldb = l·dv
 *    and each query's output is finished at once by the log-sum-exp merge of
 *    its two partial softmaxes (common/sparse_attention_rows.h):
 *      o = (e^(m1-m) O1 + e^(m2-m) O2) / (e^(m1-m) s1 + e^(m2-m) s2).
 *    The first query of each residue (i = r < l) has no strided keys and is
 *    just normalised.
 * The two sets meet only in key i (window) vs i - l.. (strided), so no key
 * is counted twice.
 *
 * Work per head: ≈ N (B + l) window scores and ≈ N²/(2l) + N Ls/2 strided
 * ones: with l = ⌈√N⌉, O(N √N), against N²/2 for dense causal attention.
 * OpenBLAS threads each sgemm (the small ones run on one thread); the row
 * steps run on the calling thread, as in blas/softmax_attention.c.
 */
#include "kernel.h"
#include "common/sparse_attention_rows.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { STRIDED_ROWS = 64 };     /* Ls: query rows per strided block */

typedef struct blas_sa {
    int H, N, d, dv, l;     /* l clamped to N: every l >= N is the same pattern */
    float scale;
    int B;                  /* window block rows */
    float *s;               /* scores of one block */
    float *m1, *s1;         /* per query of the head: window max and sum, N */
    float *o2, *m2, *s2;    /* strided block: output Ls × dv, max, sum */
} blas_sa;

static float *alloc_touched(size_t n)
{
    size_t bytes = ((n ? n : 1) * sizeof(float) + 63) & ~(size_t)63;
    float *x = aligned_alloc(64, bytes);
    if (x) memset(x, 0, bytes);     /* pre-touch: no page fault inside a timed run */
    return x;
}

static void blas_release(void *state)
{
    blas_sa *s = state;
    if (!s) return;
    free(s->s);
    free(s->m1);
    free(s->s1);
    free(s->o2);
    free(s->m2);
    free(s->s2);
    free(s);
}

/* Rows per window block: l rounded up to a multiple of 16, in [16, 256]. */
static int window_block(int l, int N)
{
    int B = (l + 15) / 16 * 16;
    if (B > 256) B = 256;
    return B < N ? B : N;
}

static int blas_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out,
                        char *err, size_t errlen)
{
    (void)in;
    (void)out;
    blas_sa *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "blas sparse_attention: out of memory");
    s->H = (int)cb_params_int(p, "H", 1);
    s->N = (int)cb_params_int(p, "N", 1);
    s->d = (int)cb_params_int(p, "d", 1);
    s->dv = (int)cb_params_int(p, "dv", s->d);
    int64_t l = cb_params_int(p, "l", 1);
    s->l = (int)(l < s->N ? l : s->N);
    s->scale = (float)cb_params_get(p, "scale", 1.0 / sqrt((double)s->d));
    int wide = s->d > s->dv ? s->d : s->dv;
    const long long ld = (long long)s->l * wide;
    if (ld > INT_MAX) {
        blas_release(s);
        return cb_fail(err, errlen, "blas sparse_attention: l·max(d, dv) = %lld exceeds a CBLAS leading dimension", ld);
    }
    s->B = window_block(s->l, s->N);
    /* scratch: a window block (B × (B + l - 1) keys, at most N) or a
     * strided block (Ls × (n - 1) keys, n = ⌈N / l⌉) */
    size_t wmax = (size_t)s->B + (size_t)s->l - 1 < (size_t)s->N ? (size_t)s->B + (size_t)s->l - 1 : (size_t)s->N;
    size_t n = ((size_t)s->N + (size_t)s->l - 1) / (size_t)s->l;
    size_t sw = (size_t)s->B * wmax, ss = (size_t)STRIDED_ROWS * (n > 1 ? n - 1 : 1);
    s->s = alloc_touched(sw > ss ? sw : ss);
    s->m1 = alloc_touched((size_t)s->N);
    s->s1 = alloc_touched((size_t)s->N);
    s->o2 = alloc_touched((size_t)STRIDED_ROWS * (size_t)s->dv);
    s->m2 = alloc_touched(STRIDED_ROWS);
    s->s2 = alloc_touched(STRIDED_ROWS);
    if (!s->s || !s->m1 || !s->s1 || !s->o2 || !s->m2 || !s->s2) {
        blas_release(s);
        return cb_fail(err, errlen, "blas sparse_attention: out of memory");
    }
    *state = s;
    return 0;
}

/* Pass 1, one head: o = unnormalised window attention, m1/s1 its row stats. */
static void window_pass(const blas_sa *s, const float *q, const float *k, const float *v, float *o)
{
    const int N = s->N, d = s->d, dv = s->dv, l = s->l;
    for (int r0 = 0; r0 < N; r0 += s->B) {
        const int L = N - r0 < s->B ? N - r0 : s->B;
        const int k0 = r0 - l + 1 > 0 ? r0 - l + 1 : 0;
        const int W = r0 + L - k0;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, L, W, d, s->scale,
                    q + (size_t)r0 * d, d, k + (size_t)k0 * d, d, 0.0f, s->s, W);
        /* row r (query r0 + r) sees keys [r0 + r - l + 1, r0 + r] */
        cb_sparse_exp_band(s->s, (size_t)W, L, W, r0 - l + 1 - k0, r0 - k0 + 1, s->m1 + r0, s->s1 + r0);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, L, dv, W, 1.0f, s->s, W,
                    v + (size_t)k0 * dv, dv, 0.0f, o + (size_t)r0 * dv, dv);
    }
}

/* Pass 2, one head: per residue r, the strided attention on the subsequence
 * r, r + l, r + 2l, ..., merged into o. */
static void strided_pass(const blas_sa *s, const float *q, const float *k, const float *v, float *o)
{
    const int N = s->N, d = s->d, dv = s->dv, l = s->l;
    const size_t ldq = (size_t)l * d, ldv = (size_t)l * dv;
    for (int r = 0; r < l; r++) {
        const int n = (N - r + l - 1) / l;          /* positions r, r + l, ... < N */
        cb_sparse_finish_row(o + (size_t)r * dv, s->m1[r], s->s1[r], NULL, 0, 0, dv);
        /* query a (position r + (a + 1) l) sees keys b <= a (positions r + b l) */
        for (int a0 = 0; a0 < n - 1; a0 += STRIDED_ROWS) {
            const int L = n - 1 - a0 < STRIDED_ROWS ? n - 1 - a0 : STRIDED_ROWS;
            const int K = a0 + L;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, L, K, d, s->scale,
                        q + ((size_t)r + (size_t)(a0 + 1) * l) * d, (int)ldq, k + (size_t)r * d, (int)ldq,
                        0.0f, s->s, K);
            cb_sparse_exp_band(s->s, (size_t)K, L, K, -K, a0 + 1, s->m2, s->s2);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, L, dv, K, 1.0f, s->s, K,
                        v + (size_t)r * dv, (int)ldv, 0.0f, s->o2, dv);
            for (int a = 0; a < L; a++) {
                const size_t i = (size_t)r + (size_t)(a0 + a + 1) * l;
                cb_sparse_finish_row(o + i * dv, s->m1[i], s->s1[i], s->o2 + (size_t)a * dv,
                                     s->m2[a], s->s2[a], dv);
            }
        }
    }
}

static int blas_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)p;
    const blas_sa *s = state;
    const size_t N = (size_t)s->N, d = (size_t)s->d, dv = (size_t)s->dv;
    for (size_t h = 0; h < (size_t)s->H; h++) {
        const float *q = in[0].data + h * N * d, *k = in[1].data + h * N * d;
        const float *v = in[2].data + h * N * dv;
        float *o = out[0].data + h * N * dv;
        window_pass(s, q, k, v, o);
        strided_pass(s, q, k, v, o);
    }
    return 0;
}

const cb_impl cb_impl_blas_sparse_attention = {
    .kernel = "sparse_attention",
    .backend = "blas",
    .how = "per head: window blocks (sgemm on the key slice, band exp, sgemm), then per residue mod l the strided "
           "subsequence read in place (lda = l·d) as causal blocks, merged by log-sum-exp",
    .prepare = blas_prepare,
    .run = blas_run,
    .release = blas_release,
};
