/* mhsa_conv.c (blas) — the convolution-performing attention (see
 * impls/ref/mhsa_conv.c) with OpenBLAS products and a vectorized softmax.
 *
 * Per head h (offset Delta_h, kernel slice W_h = w[:, :, a, b]):
 *   V_h = W_h xpad                      sgemm [Cout, Cin] x [Cin, Np]: the
 *                                       value and output projections fused
 *   for each block of B queries:
 *     P[q, k] = softmax_k(-alpha ||k - q - Delta_h||^2)   B x Np, vectorized
 *                                       exponentials (common/vexp.h), on the
 *                                       calling thread (see below)
 *     y[:, block] += V_h P^T            sgemm [Cout, Np] x [Np, B], beta = 1
 * The attention probabilities depend only on positions here, so they could
 * be computed once and reused; we do not: every call evaluates the K^2 Hh Ww
 * Np scores and exponentials, as a real attention layer would (the scores
 * are just cheaper to form than q.k dot products). Why it is fast: the
 * products run in sgemm with inner dimension Np, and B is chosen so that a
 * block of probabilities (B Np floats <= 1 MiB) stays in L2 between the
 * softmax that writes it and the sgemm that reads it. The softmax is not
 * split over OpenMP threads: an OpenMP team between sgemm calls competes
 * with OpenBLAS's own (pthread) workers, which spin after each call; on
 * the 2-core machine, under load, that made a 64 x 64 call take 30 s
 * instead of 1.2 s. Scratch (padded image,
 * V_h, W_h, the probability block) is allocated and touched in prepare().
 */
#include "kernel.h"
#include "common/vexp.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

typedef struct blas_mc {
    int64_t Cin, Cout, K, Hh, Ww, r, Hp, Wp, Np, B;
    float alpha;
    float *xpad;   /* Cin x Np, zero border */
    float *V;      /* Cout x Np */
    float *Wh;     /* Cout x Cin */
    float *P;      /* B x Np */
    float *ka, *kb;   /* row and column of key k on the padded grid, Np each */
} blas_mc;

static void blas_mc_release(void *state)
{
    blas_mc *s = state;
    if (!s) return;
    free(s->xpad);
    free(s->V);
    free(s->Wh);
    free(s->P);
    free(s->ka);
    free(s->kb);
    free(s);
}

static int blas_mc_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out, char *err,
                           size_t errlen)
{
    (void)in;
    (void)out;
    blas_mc *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "blas mhsa_conv: out of memory");
    s->Cin = cb_params_int(p, "Cin", 0);
    s->Cout = cb_params_int(p, "Cout", 0);
    s->K = cb_params_int(p, "K", 3);
    s->Hh = cb_params_int(p, "Hh", 0);
    s->Ww = cb_params_int(p, "Ww", 0);
    s->alpha = (float)cb_params_get(p, "alpha", 24);
    s->r = (s->K - 1) / 2;
    s->Hp = s->Hh + 2 * s->r;
    s->Wp = s->Ww + 2 * s->r;
    s->Np = s->Hp * s->Wp;
    const int64_t N = s->Hh * s->Ww, cap = ((int64_t)1 << 18) / s->Np;
    s->B = cap < 1 ? 1 : cap > N ? N : cap;
    s->xpad = cb_alloc_floats((size_t)(s->Cin * s->Np));
    s->V = cb_alloc_floats((size_t)(s->Cout * s->Np));
    s->Wh = cb_alloc_floats((size_t)(s->Cout * s->Cin));
    s->P = cb_alloc_floats((size_t)(s->B * s->Np));
    s->ka = cb_alloc_floats((size_t)s->Np);
    s->kb = cb_alloc_floats((size_t)s->Np);
    if (!s->xpad || !s->V || !s->Wh || !s->P || !s->ka || !s->kb) {
        blas_mc_release(s);
        return cb_fail(err, errlen, "blas mhsa_conv: out of memory");
    }
    for (int64_t k = 0; k < s->Np; k++) {
        s->ka[k] = (float)(k / s->Wp);
        s->kb[k] = (float)(k % s->Wp);
    }
    *state = s;
    return 0;
}

/* Row `q` of head (di, dj): the softmax over the padded grid of the scores
 * -alpha ||k - t||^2, t = the target key of query q. One loop over all Np
 * keys (their grid coordinates from the ka, kb tables), so gcc vectorizes
 * the exponentials with full vectors whatever the image width; a loop per
 * grid row ran at 18 of 32 lanes busy on a 16 x 16 image (Wp = 18). */
static void prob_row(const blas_mc *s, int64_t q, int64_t di, int64_t dj, float *row)
{
    const int64_t i = q / s->Ww, j = q % s->Ww, Np = s->Np;
    const float ti = (float)(i + s->r + di), tj = (float)(j + s->r + dj), al = s->alpha;
    const float *ka = s->ka, *kb = s->kb;
    float sum = 0;
#pragma omp simd
    for (int64_t k = 0; k < Np; k++) {
        const float da = ka[k] - ti, db = kb[k] - tj;
        row[k] = cb_exp_nonpos(-al * (da * da + db * db));
    }
#pragma omp simd reduction(+ : sum)
    for (int64_t k = 0; k < Np; k++)
        sum += row[k];
    const float inv = 1.0f / sum;   /* sum >= 1: the target scores 0 */
#pragma omp simd
    for (int64_t k = 0; k < s->Np; k++)
        row[k] *= inv;
}

static int blas_mc_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)p;
    blas_mc *s = state;
    const int64_t Cin = s->Cin, Cout = s->Cout, K = s->K, Hh = s->Hh, Ww = s->Ww, r = s->r, Wp = s->Wp;
    const int64_t Np = s->Np, N = Hh * Ww;
    const float *x = in[0].data, *w = in[1].data;
    float *y = out[0].data;
    /* the interior of the padded image (the border stays zero from prepare) */
    for (int64_t c = 0; c < Cin; c++)
        for (int64_t i = 0; i < Hh; i++)
            memcpy(s->xpad + c * Np + (i + r) * Wp + r, x + (c * Hh + i) * Ww, (size_t)Ww * sizeof(float));
    memset(y, 0, (size_t)(Cout * N) * sizeof *y);
    for (int64_t h = 0; h < K * K; h++) {
        const int64_t a = h / K, b = h % K;
        for (int64_t o = 0; o < Cout; o++)
            for (int64_t c = 0; c < Cin; c++)
                s->Wh[o * Cin + c] = w[((o * Cin + c) * K + a) * K + b];
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)Cout, (int)Np, (int)Cin, 1.0f, s->Wh, (int)Cin,
                    s->xpad, (int)Np, 0.0f, s->V, (int)Np);
        for (int64_t q0 = 0; q0 < N; q0 += s->B) {
            const int64_t nb = N - q0 < s->B ? N - q0 : s->B;
            for (int64_t t = 0; t < nb; t++)
                prob_row(s, q0 + t, a - r, b - r, s->P + t * Np);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)Cout, (int)nb, (int)Np, 1.0f, s->V, (int)Np,
                        s->P, (int)Np, 1.0f, y + q0, (int)N);
        }
    }
    return 0;
}

const cb_impl cb_impl_blas_mhsa_conv = {
    .kernel = "mhsa_conv",
    .backend = "blas",
    .how = "per head: sgemm V_h = W_h xpad; per query block: vectorized softmax of -alpha||k-q-Delta_h||^2, sgemm y += V_h P^T",
    .prepare = blas_mc_prepare,
    .run = blas_mc_run,
    .release = blas_mc_release,
};
