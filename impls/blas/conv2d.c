/* conv2d.c (blas) — 2-D convolution as im2col + one sgemm (OpenBLAS).
 *
 * The K x K taps of every channel are unrolled into a matrix
 *   cols [Cin K^2, Hh Ww],  cols[(c, a, b), (i, j)] = x[c, i + a - r, j + b - r]
 * (0 outside the image), and then
 *   y [Cout, Hh Ww] = w [Cout, Cin K^2] cols          one sgemm
 * since w [Cout, Cin, K, K] row-major already is that left matrix. Why it is
 * fast: all the arithmetic is in one large sgemm with inner dimension
 * Cin K^2; the unrolling is a K^2-fold copy of x, streamed once. The column
 * buffer is allocated and touched in prepare(); run() only fills it and
 * multiplies.
 */
#include "kernel.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

typedef struct blas_conv {
    int64_t Cin, Cout, K, Hh, Ww;
    float *cols;   /* Cin K^2 x Hh Ww */
} blas_conv;

static void blas_conv_release(void *state)
{
    blas_conv *s = state;
    if (!s) return;
    free(s->cols);
    free(s);
}

static int blas_conv_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out, char *err,
                             size_t errlen)
{
    (void)in;
    (void)out;
    blas_conv *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "blas conv2d: out of memory");
    s->Cin = cb_params_int(p, "Cin", 0);
    s->Cout = cb_params_int(p, "Cout", 0);
    s->K = cb_params_int(p, "K", 3);
    s->Hh = cb_params_int(p, "Hh", 0);
    s->Ww = cb_params_int(p, "Ww", 0);
    s->cols = cb_alloc_floats((size_t)(s->Cin * s->K * s->K * s->Hh * s->Ww));
    if (!s->cols) {
        blas_conv_release(s);
        return cb_fail(err, errlen, "blas conv2d: out of memory");
    }
    *state = s;
    return 0;
}

static int blas_conv_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)p;
    blas_conv *s = state;
    const int64_t Cin = s->Cin, K = s->K, Hh = s->Hh, Ww = s->Ww, r = (K - 1) / 2, N = Hh * Ww;
    const float *x = in[0].data;
    for (int64_t c = 0; c < Cin; c++)
        for (int64_t a = 0; a < K; a++)
            for (int64_t b = 0; b < K; b++) {
                float *row = s->cols + ((c * K + a) * K + b) * N;
                const int64_t dj = b - r, j0 = dj < 0 ? -dj : 0, j1 = dj > 0 ? Ww - dj : Ww;
                for (int64_t i = 0; i < Hh; i++) {
                    const int64_t ii = i + a - r;
                    float *dst = row + i * Ww;
                    if (ii < 0 || ii >= Hh || j0 >= j1) {
                        memset(dst, 0, (size_t)Ww * sizeof *dst);
                        continue;
                    }
                    for (int64_t j = 0; j < j0; j++) dst[j] = 0;
                    memcpy(dst + j0, x + (c * Hh + ii) * Ww + j0 + dj, (size_t)(j1 - j0) * sizeof *dst);
                    for (int64_t j = j1; j < Ww; j++) dst[j] = 0;
                }
            }
    const int kk = (int)(Cin * K * K);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)s->Cout, (int)N, kk, 1.0f, in[1].data, kk, s->cols,
                (int)N, 0.0f, out[0].data, (int)N);
    return 0;
}

const cb_impl cb_impl_blas_conv2d = {
    .kernel = "conv2d",
    .backend = "blas",
    .how = "im2col [Cin K^2, Hh Ww] (zero-padded copy), then one sgemm y = w cols",
    .prepare = blas_conv_prepare,
    .run = blas_conv_run,
    .release = blas_conv_release,
};
