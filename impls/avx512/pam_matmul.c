/* pam_matmul.c (avx512) — the PAM matrix product, hand-vectorized with
 * AVX-512F integer adds and masks.
 *
 * c_ij = sum_k pam(a_ik, b_kj) (common/pam.h), each sum in float32 in the
 * order k = 0, 1, ..., so the result is bit-for-bit the sequential float sum
 * of the scalar products (the tests and the probe check it).
 *
 * Why it is fast:
 * - b is packed in every call (it is part of the work) into 16-column panels of bits(b) - 0x3F800000
 *   (int32), so a product is ONE vpaddd of a broadcast bits(a_ik) and a
 *   panel row: bits(a) + bits(b) - bias is the PAM result, sign included
 *   (the sign bits add modulo 2), whenever it does not over- or underflow.
 *   Beside each panel row sits a 16-bit mask of the lanes whose b is normal
 *   (exponent field != 0); the product is accumulated with one masked
 *   vaddps, so zero and subnormal b drop out (their PAM is a signed zero,
 *   which cannot change a float sum that starts at +0). A zero or subnormal
 *   a_ik skips the k step.
 * - That fast path is taken per row of a and pair of panels when no product
 *   can leave the normal range: from the largest and smallest exponent
 *   fields of the row's and of the two panels' normal entries
 *   (e_a + e_b <= 380 keeps the result exponent <= 254 even with the
 *   mantissa carry; e_a + e_b >= 128 keeps it >= 1), and no Inf or NaN in
 *   either. Other rows take the general path:
 *   the full rule set of cb_pam_bits_x16 (compares and masked moves), one
 *   row at a time.
 * - Register tile: 4 rows of a x 32 columns (two panels): 8 zmm
 *   accumulators, two panel loads and four broadcasts per k, then 8 vpaddd
 *   and 8 masked vaddps for 128 products. c is written once per tile, and a
 *   K x 32 panel of b (K * 128 bytes, 128 KiB at K = 1024) stays in L2 while
 *   every row block of a streams past it.
 * - Threads (OpenMP, one parallel region and one barrier per call) split
 *   the column panel pairs; each packs its own panels just before using
 *   them.
 * Per 16 products that is two vector instructions (vpaddd + vaddps) where
 * sgemm issues one FMA; what PAM saves in silicon (an integer adder instead
 * of a multiplier) a CPU with FMA units cannot turn into speed. The task's
 * prose (tasks/piecewise_affine_mult.md) sets the expectation from this.
 *
 * Needs AVX-512F (built with -march=native): without it prepare() fails with
 * a message saying so.
 */
#include "kernel.h"
#include "common/pam.h"

#include <stdlib.h>
#include <string.h>

#ifdef __AVX512F__

#include <immintrin.h>

typedef struct avx_pam {
    int64_t M, K, N, np;   /* np = ceil(N / 16) panels */
    int32_t *pb;           /* np x K x 16: bits(b) - bias, panel-major; pad lanes 0 */
    uint16_t *mk;          /* np x K: lanes of b with a nonzero exponent field */
    uint32_t *arow;        /* M: exponent range of each row of a (row_stats) */
} avx_pam;

static void avx_pam_release(void *state)
{
    avx_pam *s = state;
    if (!s) return;
    free(s->pb);
    free(s->mk);
    free(s->arow);
    free(s);
}

static int avx_pam_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out,
                           char *err, size_t errlen)
{
    (void)in;
    (void)out;
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f"))
        return cb_fail(err, errlen, "avx512 pam_matmul: this CPU has no AVX-512F");
    avx_pam *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "avx512 pam_matmul: out of memory");
    s->M = cb_params_int(p, "M", 0);
    s->K = cb_params_int(p, "K", 0);
    s->N = cb_params_int(p, "N", 0);
    s->np = (s->N + 15) / 16;
    const size_t pb_bytes = (size_t)(s->np * s->K) * 16 * sizeof(int32_t);   /* a multiple of 64 */
    s->pb = aligned_alloc(64, pb_bytes);
    s->mk = calloc((size_t)(s->np * s->K), sizeof *s->mk);
    s->arow = calloc((size_t)s->M, sizeof *s->arow);
    if (!s->pb || !s->mk || !s->arow) {
        avx_pam_release(s);
        return cb_fail(err, errlen, "avx512 pam_matmul: out of memory");
    }
    memset(s->pb, 0, pb_bytes);   /* pre-touch: no page fault inside run() */
    *state = s;
    return 0;
}

static inline __mmask16 lane_mask(int64_t width)
{
    return width >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << width) - 1u);
}

/* Pack panel p of b (16 columns, K rows): bits(b) - bias and the mask of
 * lanes with a nonzero exponent field; fold the panel's largest and
 * smallest exponent fields among normal entries into *mx, *mn, and set *nf
 * when it holds an Inf or NaN. */
static inline void pack_panel(avx_pam *s, const float *b, int64_t p, uint32_t *mx, uint32_t *mn, int *nf)
{
    const int64_t K = s->K, N = s->N, j0 = p * 16;
    const __mmask16 lm = lane_mask(N - j0);
    const __m512i vexp = _mm512_set1_epi32((int)CB_PAM_EXP), vbias = _mm512_set1_epi32((int)CB_PAM_BIAS);
    __m512i vmax = _mm512_setzero_si512(), vmin = vexp;
    __mmask16 bad_lanes = 0;
    int32_t *pb = s->pb + p * K * 16;
    uint16_t *mk = s->mk + p * K;
    for (int64_t k = 0; k < K; k++) {
        const __m512i vb = _mm512_maskz_loadu_epi32(lm, b + k * N + j0);
        const __m512i e = _mm512_and_si512(vb, vexp);
        const __mmask16 nz = _mm512_mask_cmpneq_epi32_mask(lm, e, _mm512_setzero_si512());
        const __mmask16 inf = _mm512_mask_cmpeq_epi32_mask(lm, e, vexp);
        const __mmask16 normal = nz & (__mmask16)~inf;
        vmax = _mm512_mask_max_epu32(vmax, normal, vmax, e);
        vmin = _mm512_mask_min_epu32(vmin, normal, vmin, e);
        bad_lanes |= inf;
        /* pad lanes stay 0 (general path: a zero operand) */
        _mm512_store_si512(pb + k * 16, _mm512_maskz_sub_epi32(lm, vb, vbias));
        mk[k] = nz;
    }
    const uint32_t pmx = _mm512_reduce_max_epu32(vmax) >> 23, pmn = _mm512_reduce_min_epu32(vmin) >> 23;
    if (pmx > *mx) *mx = pmx;
    if (pmn < *mn) *mn = pmn;
    *nf |= bad_lanes != 0;
}

/* Row i of a: its largest and smallest exponent fields among normal entries
 * (0 and 255 when none) and whether it holds an Inf or NaN, packed as
 * bad << 16 | max << 8 | min. */
static inline uint32_t row_stats(const float *a, int64_t K)
{
    uint32_t mx = 0, mn = 255, bad = 0;
    for (int64_t k = 0; k < K; k++) {
        const uint32_t e = (cb_f32_bits(a[k]) & CB_PAM_EXP) >> 23;
        if (e == 255) bad = 1;
        else if (e != 0) {
            if (e > mx) mx = e;
            if (e < mn) mn = e;
        }
    }
    return bad << 16 | mx << 8 | mn;
}

/* The exponent range and Inf/NaN flag of two panels of b, as the fast-path
 * test needs them. */
typedef struct b_stats {
    uint32_t mx, mn;
    int bad;
} b_stats;

/* 1 when every product of the row with b stays normal or is a zero. */
static inline int row_fast(uint32_t st, const b_stats *bs)
{
    const uint32_t bad = st >> 16, mx = (st >> 8) & 0xFF, mn = st & 0xFF;
    /* mx == 0: the row has no normal entry; bs->mx == 0: nor have the panels */
    return !bad && !bs->bad && (mx == 0 || bs->mx == 0 || (mx + bs->mx <= 380 && mn + bs->mn >= 128));
}

/* Fast path: rows i..i+R-1 of c, panels p0..p0+W-1 (R, W compile-time
 * after inlining, so the accumulators live in registers). */
static inline __attribute__((always_inline)) void tile_fast(const avx_pam *s, const float *a, float *c, int64_t i,
                                                            int64_t p0, const int R, const int W)
{
    const int64_t K = s->K, N = s->N;
    __m512 acc[4][2];
    const int32_t *pbw[2];
    const uint16_t *mkw[2];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 2
        for (int w = 0; w < W; w++)
            acc[r][w] = _mm512_setzero_ps();
#pragma GCC unroll 2
    for (int w = 0; w < W; w++) {
        pbw[w] = s->pb + (p0 + w) * K * 16;
        mkw[w] = s->mk + (p0 + w) * K;
    }
    const float *arow = a + i * K;
    for (int64_t k = 0; k < K; k++) {
        __m512i vb[2];
        __mmask16 m[2];
#pragma GCC unroll 2
        for (int w = 0; w < W; w++) {
            vb[w] = _mm512_load_si512(pbw[w] + k * 16);
            m[w] = mkw[w][k];
        }
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            const uint32_t ab = cb_f32_bits(arow[r * K + k]);
            if (!(ab & CB_PAM_EXP))
                continue;                          /* zero or subnormal a: all products are +-0 */
            const __m512i va = _mm512_set1_epi32((int)ab);
#pragma GCC unroll 2
            for (int w = 0; w < W; w++)
                acc[r][w] = _mm512_mask_add_ps(acc[r][w], m[w], acc[r][w],
                                               _mm512_castsi512_ps(_mm512_add_epi32(va, vb[w])));
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 2
        for (int w = 0; w < W; w++) {
            const int64_t j0 = (p0 + w) * 16;
            _mm512_mask_storeu_ps(c + (i + r) * N + j0, lane_mask(N - j0), acc[r][w]);
        }
}

/* General path: row i of c, panels p0..p0+W-1, every product through the
 * full rule set. */
static inline __attribute__((always_inline)) void tile_general(const avx_pam *s, const float *a, float *c, int64_t i,
                                                               int64_t p0, const int W)
{
    const int64_t K = s->K, N = s->N;
    const __m512i vbias = _mm512_set1_epi32((int)CB_PAM_BIAS);
    __m512 acc[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
    for (int64_t k = 0; k < K; k++) {
        const __m512i va = _mm512_set1_epi32((int)cb_f32_bits(a[i * K + k]));
#pragma GCC unroll 2
        for (int w = 0; w < W; w++) {
            const __m512i vb = _mm512_add_epi32(_mm512_load_si512(s->pb + ((p0 + w) * K + k) * 16), vbias);
            acc[w] = _mm512_add_ps(acc[w], _mm512_castsi512_ps(cb_pam_bits_x16(va, vb)));
        }
    }
#pragma GCC unroll 2
    for (int w = 0; w < W; w++) {
        const int64_t j0 = (p0 + w) * 16;
        _mm512_mask_storeu_ps(c + i * N + j0, lane_mask(N - j0), acc[w]);
    }
}

/* All rows of c for one panel group (W = 1 or 2 panels). */
static inline __attribute__((always_inline)) void panel_group(const avx_pam *s, const float *a, float *c,
                                                              int64_t p0, const b_stats *bs, const int W)
{
    const int64_t M = s->M;
    const uint32_t *st = s->arow;
    int64_t i = 0;
    while (i < M) {
        if (i + 4 <= M && row_fast(st[i], bs) && row_fast(st[i + 1], bs) && row_fast(st[i + 2], bs) &&
            row_fast(st[i + 3], bs)) {
            tile_fast(s, a, c, i, p0, 4, W);
            i += 4;
        } else {
            if (row_fast(st[i], bs)) tile_fast(s, a, c, i, p0, 1, W);
            else tile_general(s, a, c, i, p0, W);
            i += 1;
        }
    }
}

/* One parallel region with one barrier: the rows of a are scanned first;
 * then each thread packs the two panels of b of each of its column groups
 * and computes them at once, while they are hot in cache. The fast-path
 * test uses the exponent range of those two panels only, so an Inf in b
 * sends only its own columns through the general path. Small products run
 * on one thread. */
static int avx_pam_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)p;
    avx_pam *s = state;
    const float *a = in[0].data, *b = in[1].data;
    float *c = out[0].data;
    const int64_t M = s->M, K = s->K, np = s->np, ngroups = (np + 1) / 2;
    /* below 2^22 products (about 30 us on one core) a second thread costs
     * more in fork and barrier than it saves, as in OpenBLAS's small sizes */
    const int threaded = (double)M * (double)K * (double)s->N >= 4194304.0;
    #pragma omp parallel if (threaded)
    {
        #pragma omp for schedule(static)
        for (int64_t i = 0; i < M; i++)
            s->arow[i] = row_stats(a + i * K, K);
        #pragma omp for schedule(static) nowait
        for (int64_t g = 0; g < ngroups; g++) {
            b_stats bs = {0, 255, 0};
            const int W = 2 * g + 1 < np ? 2 : 1;
            for (int w = 0; w < W; w++)
                pack_panel(s, b, 2 * g + w, &bs.mx, &bs.mn, &bs.bad);
            if (W == 2) panel_group(s, a, c, 2 * g, &bs, 2);
            else panel_group(s, a, c, 2 * g, &bs, 1);
        }
    }
    return 0;
}

#else /* no AVX-512F at build time */

static int avx_pam_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out,
                           char *err, size_t errlen)
{
    (void)state;
    (void)p;
    (void)in;
    (void)out;
    return cb_fail(err, errlen, "avx512 pam_matmul: built without AVX-512F (needs -march with avx512f)");
}

static int avx_pam_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)state;
    (void)p;
    (void)in;
    (void)out;
    return -1;
}

static void avx_pam_release(void *state)
{
    (void)state;
}

#endif

const cb_impl cb_impl_avx512_pam_matmul = {
    .kernel = "pam_matmul",
    .backend = "avx512",
    .how = "AVX-512: b packed as bits - bias, one vpaddd + masked vaddps per 16 products, 4x32 register tile",
    .prepare = avx_pam_prepare,
    .run = avx_pam_run,
    .release = avx_pam_release,
};
