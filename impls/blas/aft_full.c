/* aft_full.c (blas) — AFT-full through one sgemm, the paper's reformulation.
 *
 * exp(k_t'c + w_t,t') = exp(w_t,t') · exp(k_t'c) separates the N × N × d
 * weights of Eq. 2 into an N × N factor and an N × d one, so both sums over
 * t' become one matrix product:
 *
 *   X = exp(W - mw)     N × N,  mw_t = max_t' w_t,t'   (row maxima)
 *   E = exp(K - mk)     N × d,  mk_c = max_t' k_t'c    (column maxima)
 *   B = [E ⊙ V | E]     N × 2d
 *   R = X B             N × 2d  (cblas_sgemm, K = N)
 *   o_tc = sigmoid(q_tc) · R[t, c] / R[t, d + c]
 *
 * The shifts cancel: they multiply numerator and denominator of o_tc by the
 * same exp(-mw_t - mk_c). Computing [E⊙V | E] side by side makes both sums
 * one sgemm, so X (the big operand) is read once instead of twice.
 * Working memory: X (4 N² bytes) + B and R (8 N d bytes each). The N × N × d
 * weight tensor (4 N² d bytes) never exists; X is O(N²), which is 1/d of it.
 *
 * Range: every exponent is <= 0 and the largest entry of each row of X and
 * each column of E is 1, so nothing overflows. But a shift that is separable
 * (one per row t, one per channel c) cannot always be the true maximum of
 * k_t'c + w_t,t': if the largest w of row t meets small k of channel c, the
 * denominator is Σ_t' exp(w - mw) exp(k - mk) = exp(-gap) · (>= 1), with
 * gap = mw_t + mk_c - max_t'(k_t'c + w_t,t'), and float loses it (0/0 = NaN)
 * once the gap nears 87. Keys and weights of order 1..10 stay far from that,
 * but a causal mask (w = -inf above the diagonal) with a large key late in
 * the sequence reaches it for the early rows. So after the product, every
 * entry whose denominator is below 2^-60 is recomputed the direct way, in
 * O(N), with its own maximum (aft_simple_util.h): never on typical inputs,
 * and the results stay finite wherever the ref's are.
 *
 * C loops run on the calling thread (see blas/softmax_attention.c: OpenMP
 * beside OpenBLAS's spinning workers was 2-3× slower); OpenBLAS threads the
 * sgemm, which is 2 N² (2d) of the ~(2 N² (2d) + 2 N²) operations.
 */
#include "kernel.h"
#include "blas/aft_simple_util.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

typedef struct blas_af {
    int64_t N, d;
    float *X;    /* N x N: exp(W - row max) */
    float *B;    /* N x 2d: [E * V | E] */
    float *R;    /* N x 2d: X B */
    float *mk;   /* d: column maxima of K */
} blas_af;

static void blas_af_release(void *state)
{
    blas_af *s = state;
    if (!s) return;
    free(s->X);
    free(s->B);
    free(s->R);
    free(s->mk);
    free(s);
}

/* 64-byte aligned, zeroed (so pre-touched: no page fault inside run()). */
static float *alloc_touched(size_t n)
{
    size_t bytes = (n * sizeof(float) + 63) & ~(size_t)63;
    float *x = aligned_alloc(64, bytes ? bytes : 64);
    if (x) memset(x, 0, bytes ? bytes : 64);
    return x;
}

static int blas_af_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out,
                           char *err, size_t errlen)
{
    (void)in;
    (void)out;
    blas_af *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "blas aft_full: out of memory");
    s->N = cb_params_int(p, "N", 0);
    s->d = cb_params_int(p, "d", 0);
    const size_t N = (size_t)s->N, d = (size_t)s->d;
    s->X = alloc_touched(N * N);
    s->B = alloc_touched(N * 2 * d);
    s->R = alloc_touched(N * 2 * d);
    s->mk = alloc_touched(d);
    if (!s->X || !s->B || !s->R || !s->mk) {
        blas_af_release(s);
        return cb_fail(err, errlen, "blas aft_full: out of memory (%zu x %zu position weights)", N, N);
    }
    *state = s;
    return 0;
}

/* X[t, :] = exp(w[t, :] - max w[t, :]) for every row t. */
static void exp_rows(const float *restrict w, float *restrict X, int64_t N)
{
    for (int64_t t = 0; t < N; t++) {
        const float *restrict wr = w + t * N;
        float *restrict xr = X + t * N;
        float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
        for (int64_t u = 0; u < N; u++)
            mx = wr[u] > mx ? wr[u] : mx;
        for (int64_t u = 0; u < N; u++)
            xr[u] = cb_exp_nonpos(wr[u] - mx);
    }
}

static int blas_af_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)p;
    blas_af *s = state;
    const int64_t N = s->N, d = s->d;
    const float *q = in[0].data, *k = in[1].data, *v = in[2].data, *w = in[3].data;
    float *o = out[0].data;
    float *restrict mk = s->mk;

    cb_aft_colmax(k, N, d, mk);
    for (int64_t u = 0; u < N; u++) {          /* B = [E * V | E] */
        const float *restrict kr = k + u * d, *restrict vr = v + u * d;
        float *restrict br = s->B + u * 2 * d;
        for (int64_t c = 0; c < d; c++) {
            float e = cb_exp_nonpos(kr[c] - mk[c]);
            br[c] = e * vr[c];
            br[d + c] = e;
        }
    }
    exp_rows(w, s->X, N);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)N, (int)(2 * d), (int)N, 1.0f, s->X,
                (int)N, s->B, (int)(2 * d), 0.0f, s->R, (int)(2 * d));
    for (int64_t t = 0; t < N; t++) {          /* o = sigmoid(q) * num / den */
        const float *restrict qr = q + t * d, *restrict rr = s->R + t * 2 * d;
        float *restrict orow = o + t * d;
        for (int64_t c = 0; c < d; c++)
            orow[c] = cb_aft_sigmoid(qr[c]) * (rr[c] / rr[d + c]);
    }
    cb_aft_full_fixup(q, k, v, w, s->R, o, N, d, 0, N);   /* denominators the float range lost */
    return 0;
}

const cb_impl cb_impl_blas_aft_full = {
    .kernel = "aft_full",
    .backend = "blas",
    .how = "exp(W - rowmax) [N x N] times [exp(K - colmax) * V | exp(K - colmax)] in one sgemm, then gate",
    .prepare = blas_af_prepare,
    .run = blas_af_run,
    .release = blas_af_release,
};
