/* long_conv.c (fftw) — the causal long convolution through FFTW3.
 *
 * Per channel c (OpenMP over channels, one set of padded buffers per
 * thread; fft_conv.h): zero-pad u[c] and h[c] to L >= 2N - 1, two real
 * forward FFTs, a pointwise complex product (scaled by 1/L), one real
 * inverse FFT, keep the first N outputs.
 *
 * Why it is fast: the work is three FFTs of size L ~ 2N per channel,
 * about 3 * 2.5 L log2 L flops, O(N log N), instead of the N^2 / 2
 * multiply-adds of the direct sum (at N = 65536 that is 2^31 against
 * about 2^24 flops). And each channel's working set is its four padded buffers,
 * 4 L floats: 512 KiB at N = 16384, which fits a core's 1 MiB L2 while
 * FFTW's SIMD codelets sweep it several times (2 MiB at N = 65536, in L3).
 *
 * Channels are handed out one at a time (schedule(dynamic, 1)): a channel
 * is tens of microseconds of work or more, so the hand-out costs nothing,
 * and a thread that the OS preempts holds back one channel, not half of
 * them, before the closing barrier.
 *
 * The filter's transform is redone on every call because h is an input
 * (in Hyena it is an output of the filter network, recomputed each step);
 * plans and buffers are made once, in prepare().
 */
#include "kernel.h"
#include "fft_conv.h"

#include <omp.h>
#include <stdlib.h>

typedef struct fftw_lc {
    cb_fftconv f;
    int64_t D, N;
} fftw_lc;

static void fftw_lc_release(void *state)
{
    fftw_lc *s = state;
    if (!s) return;
    cb_fftconv_free(&s->f);
    free(s);
}

static int fftw_lc_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out,
                           char *err, size_t errlen)
{
    (void)in;
    (void)out;
    fftw_lc *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "fftw long_conv: out of memory");
    s->D = cb_params_int(p, "D", 0);
    s->N = cb_params_int(p, "N", 0);
    if (cb_fftconv_init(&s->f, (int)s->N, omp_get_max_threads(), err, errlen)) {
        free(s);
        return -1;
    }
    *state = s;
    return 0;
}

static int fftw_lc_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)p;
    const fftw_lc *s = state;
    const int64_t D = s->D, N = s->N;
    const float *u = in[0].data, *h = in[1].data;
    float *y = out[0].data;
#pragma omp parallel num_threads(s->f.nthreads)
    {
        const int tid = omp_get_thread_num();
#pragma omp for schedule(dynamic, 1)
        for (int64_t c = 0; c < D; c++)
            cb_fftconv_channel(&s->f, tid, u + c * N, h + c * N, NULL, y + c * N);
    }
    return 0;
}

const cb_impl cb_impl_fftw_long_conv = {
    .kernel = "long_conv",
    .backend = "fftw",
    .how = "per channel (OpenMP): zero-pad to L >= 2N-1, r2c of u and h, pointwise product, c2r, first N",
    .prepare = fftw_lc_prepare,
    .run = fftw_lc_run,
    .release = fftw_lc_release,
};
