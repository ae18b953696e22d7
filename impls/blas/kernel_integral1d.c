/* kernel_integral1d.c (blas) — the dense kernel integral with CBLAS (OpenBLAS).
 *
 * y[o, x] = sum_s sum_i K[s][i][o] u[i, (x - s) mod n], the n x n quadrature
 * of a stationary kernel (contract in impls/ref/kernel_integral1d.c), as:
 *   1. the kernel table from the weights, two sgemm calls,
 *      Kr (n x C_in C_out) = Tc (n x k_max) . w_re + Ts (n x k_max) . w_im,
 *      where row r of Tc, Ts holds c_k cos(2 pi k s/n)/n and
 *      -c_k sin(2 pi k s/n)/n for the shift s = n - 1 - r (the table is
 *      stored in decreasing shift order, see 3.); Tc, Ts depend on n only
 *      and are built in prepare(); O(n k_max C^2), negligible;
 *   2. u transposed and doubled, Ut[x][i] = u[i][x mod n] for x < 2n, so
 *      that the C_in values at x - s are the row n + x - s of Ut;
 *   3. blocks of B consecutive shifts s0 .. s0 + B - 1 (B divides n): for
 *      output x the block needs the values at x - s0 - B + 1 .. x - s0, the
 *      B C_in contiguous floats of Ut from row n + x - s0 - B + 1 on. So one
 *      matrix Abig (2n x B C_in), row q = the B C_in floats of Ut from row
 *      q - B + 1 on, serves every block: the block's A (n x B C_in) is the
 *      row window q = n - s0 .. 2n - s0 - 1 of Abig, a plain strided matrix;
 *      one sgemm per block, Yt (n x C_out) += A . Kr[block] (B C_in x C_out)
 *      (the shifts of a block run in decreasing order along A's columns:
 *      that is why the table is stored reversed);
 *   4. y = Yt^T.
 * Why this is as fast as a dense form gets: every flop of the 2 n^2 C_in C_out
 * is inside a large sgemm (inner dimension B C_in, with B the largest
 * divisor of n that is at most 64 and keeps Abig at most 2^21 floats:
 * B = 64 at n = 256, 16 at n = 4096 for C_in = 16), n/B library calls
 * instead of n. A first version made one
 * threaded sgemm per shift (n calls of C_out x n x C_in); on a shared machine
 * each call's thread hand-off cost more than its flops (262 ms to 2 s at
 * n = 4096). Abig is built once per call, 2 n B C_in floats against
 * 2 n^2 C_in C_out flops: a fraction B/(n C_out), at most 1/64 at n >= 256,
 * C_out = 16 (the cap B <= 64 keeps it so at mid sizes). It remains O(n^2): the point of the comparison
 * with spectral_conv1d. All scratch is allocated and touched in prepare().
 */
#include "kernel.h"
#include "ref/spectral_conv1d.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define KI_ABIG_FLOATS ((size_t)1 << 21)
#define KI_B_MAX 64

typedef struct blas_ki {
    int ci, co, n, km, B;
    float *Tc, *Ts;   /* [n][k_max], decreasing shift order */
    float *K;         /* Kr: [n][C_in][C_out], decreasing shift order */
    float *Ut;        /* [2n][C_in] */
    float *A;         /* Abig: [2n][B C_in] */
    float *Yt;        /* [n][C_out] */
} blas_ki;

static void blas_ki_release(void *state)
{
    blas_ki *s = state;
    if (!s) return;
    free(s->Tc);
    free(s->Ts);
    free(s->K);
    free(s->Ut);
    free(s->A);
    free(s->Yt);
    free(s);
}

static int blas_ki_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out,
                           char *err, size_t errlen)
{
    (void)in;
    (void)out;
    blas_ki *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "blas kernel_integral1d: out of memory");
    s->ci = (int)cb_params_int(p, "C_in", 0);
    s->co = (int)cb_params_int(p, "C_out", 0);
    s->n = (int)cb_params_int(p, "n", 0);
    s->km = (int)cb_params_int(p, "k_max", 0);
    const size_t n = (size_t)s->n;
    /* B: the largest divisor of n with B <= 64 and 2 n B C_in <= 2^21
     * floats (1 at least) */
    size_t b = 1;
    for (size_t d = 1; d <= n && d <= KI_B_MAX && 2 * n * d * (size_t)s->ci <= KI_ABIG_FLOATS; d++)
        if (n % d == 0) b = d;
    s->B = (int)b;
    s->Tc = cb_alloc_floats(n * (size_t)s->km);
    s->Ts = cb_alloc_floats(n * (size_t)s->km);
    s->K = cb_alloc_floats(n * (size_t)s->ci * (size_t)s->co);
    s->Ut = cb_alloc_floats(2 * n * (size_t)s->ci);
    s->A = cb_alloc_floats(2 * n * b * (size_t)s->ci);
    s->Yt = cb_alloc_floats(n * (size_t)s->co);
    if (!s->Tc || !s->Ts || !s->K || !s->Ut || !s->A || !s->Yt) {
        blas_ki_release(s);
        return cb_fail(err, errlen, "blas kernel_integral1d: out of memory");
    }
    const double two_pi = 6.283185307179586476925286766559;
    for (int r = 0; r < s->n; r++) {
        int sh = s->n - 1 - r;
        for (int k = 0; k < s->km; k++) {
            long long m = ((long long)k * sh) % s->n;
            double c = cos(two_pi * (double)m / s->n), sn = sin(two_pi * (double)m / s->n);
            if (2 * m == s->n) {   /* exact at the Nyquist point */
                c = -1;
                sn = 0;
            }
            double wgt = cb_sc1d_mode_weight(k, s->n) / s->n;
            s->Tc[(size_t)r * s->km + k] = (float)(wgt * c);
            s->Ts[(size_t)r * s->km + k] = (float)(-wgt * sn);
        }
    }
    *state = s;
    return 0;
}

static int blas_ki_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)p;
    blas_ki *s = state;
    const int ci = s->ci, co = s->co, n = s->n, km = s->km, cc = ci * co;
    const float *u = in[0].data;
    float *y = out[0].data;
    /* 1. the kernel table Kr = Tc w_re + Ts w_im */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, cc, km, 1.0f, s->Tc, km, in[1].data, cc,
                0.0f, s->K, cc);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, cc, km, 1.0f, s->Ts, km, in[2].data, cc,
                1.0f, s->K, cc);
    /* 2. Ut[x][i] = u[i][x mod n], x < 2n */
    for (int x = 0; x < n; x++)
        for (int i = 0; i < ci; i++)
            s->Ut[(size_t)x * ci + i] = s->Ut[(size_t)(x + n) * ci + i] = u[(size_t)i * n + x];
    /* 3. Abig row q = Ut rows q - B + 1 .. q (rows q < B - 1 are never read);
     * block s0 reads the window q = n - s0 .. 2n - s0 - 1 */
    const int B = s->B, w = B * ci;
    for (int q = B - 1; q < 2 * n; q++)
        memcpy(s->A + (size_t)q * w, s->Ut + (size_t)(q - B + 1) * ci, (size_t)w * sizeof(float));
    for (int s0 = 0; s0 < n; s0 += B) {
        /* rows of Kr for shifts s0 + B - 1 down to s0: r = n - 1 - s */
        const float *kb = s->K + (size_t)(n - s0 - B) * cc;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, co, w, 1.0f, s->A + (size_t)(n - s0) * w, w,
                    kb, co, s0 == 0 ? 0.0f : 1.0f, s->Yt, co);
    }
    /* 4. y = Yt^T */
    for (int o = 0; o < co; o++)
        for (int x = 0; x < n; x++)
            y[(size_t)o * n + x] = s->Yt[(size_t)x * co + o];
    return 0;
}

const cb_impl cb_impl_blas_kernel_integral1d = {
    .kernel = "kernel_integral1d",
    .backend = "blas",
    .how = "sgemm kernel table K = T W; u^T windows of B shifts side by side (one Hankel copy per call); one sgemm n x C_out x B C_in per block of B shifts",
    .prepare = blas_ki_prepare,
    .run = blas_ki_run,
    .release = blas_ki_release,
};
