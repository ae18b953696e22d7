/* hyena_operator.c (fftw) — the order-2 Hyena operator with FFT long
 * convolutions (FFTW3) and OpenBLAS projections: a mixed backend, named
 * `fftw` after the part that makes it subquadratic.
 *
 *   P^T [3D, N] = W_in^T x^T          cblas_sgemm (channels become rows)
 *   per channel c (OpenMP):
 *     z[c] = x1[c] . (h1[c] * v[c])   FFT convolution + gate (fft_conv.h)
 *     z[c] = x2[c] . (h2[c] * z[c])   in place
 *   y [N, D] = z^T W_out              cblas_sgemm
 *
 * Why it is fast: the projections are 8 N D^2 flops in two large GEMMs; the
 * token mixing is two FFT convolutions per channel, O(D N log N), where
 * attention's token mixing is O(N^2 d). Computing the projection transposed
 * puts each channel's sequence in one contiguous row, so each FFT reads and
 * writes unit-stride rows and every channel's working set (four padded
 * buffers of L ~ 2N) stays in its core's cache; the gates are fused into
 * the copy-out of each inverse FFT. The sgemm calls run on OpenBLAS's own
 * threads, the convolutions on OpenMP's, one after the other.
 * Plans, buffers and the P^T and z scratch are made in prepare().
 */
#include "kernel.h"
#include "fft_conv.h"

#include <cblas.h>
#include <omp.h>
#include <stdlib.h>

typedef struct fftw_hy {
    cb_fftconv f;
    int64_t D, N;
    float *PT;   /* [3D, N]: v, x1, x2 by channel */
    float *zT;   /* [D, N] */
} fftw_hy;

static void fftw_hy_release(void *state)
{
    fftw_hy *s = state;
    if (!s) return;
    cb_fftconv_free(&s->f);
    free(s->PT);
    free(s->zT);
    free(s);
}

static int fftw_hy_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out,
                           char *err, size_t errlen)
{
    (void)in;
    (void)out;
    fftw_hy *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "fftw hyena_operator: out of memory");
    s->D = cb_params_int(p, "D", 0);
    s->N = cb_params_int(p, "N", 0);
    s->PT = cb_alloc_floats((size_t)(3 * s->D * s->N));
    s->zT = cb_alloc_floats((size_t)(s->D * s->N));
    if (!s->PT || !s->zT) {
        fftw_hy_release(s);
        return cb_fail(err, errlen, "fftw hyena_operator: out of memory");
    }
    if (cb_fftconv_init(&s->f, (int)s->N, omp_get_max_threads(), err, errlen)) {
        fftw_hy_release(s);
        return -1;
    }
    *state = s;
    return 0;
}

static int fftw_hy_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)p;
    const fftw_hy *s = state;
    const int D = (int)s->D, N = (int)s->N;
    const float *x = in[0].data, *win = in[1].data, *h1 = in[2].data, *h2 = in[3].data;
    const float *wout = in[4].data;
    float *PT = s->PT, *zT = s->zT;
    /* P^T = W_in^T x^T: [3D, D] times [D, N] */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasTrans, 3 * D, N, D, 1.0f, win, 3 * D, x, D, 0.0f, PT, N);
#pragma omp parallel num_threads(s->f.nthreads)
    {
        const int tid = omp_get_thread_num();
#pragma omp for schedule(dynamic, 1)
        for (int c = 0; c < D; c++) {
            const size_t r = (size_t)c * (size_t)N;
            const float *v = PT + r, *x1 = PT + (size_t)D * N + r, *x2 = PT + 2 * (size_t)D * N + r;
            cb_fftconv_channel(&s->f, tid, v, h1 + r, x1, zT + r);
            cb_fftconv_channel(&s->f, tid, zT + r, h2 + r, x2, zT + r);
        }
    }
    /* y = z W_out: [N, D] (z^T seen transposed) times [D, D] */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, D, D, 1.0f, zT, N, wout, D, 0.0f, out[0].data, D);
    return 0;
}

const cb_impl cb_impl_fftw_hyena_operator = {
    .kernel = "hyena_operator",
    .backend = "fftw",
    .how = "sgemm P^T = W_in^T x^T (OpenBLAS); per channel two FFTW long convolutions with fused gates (OpenMP); sgemm y = z W_out",
    .prepare = fftw_hy_prepare,
    .run = fftw_hy_run,
    .release = fftw_hy_release,
};
