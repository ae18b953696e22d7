/* fft_conv.h — causal long convolution of one channel through FFTW3 (single
 * precision), shared by the fftw backends of long_conv and hyena_operator.
 *
 * y[t] = g[t] * sum_{s<=t} h[s] u[t-s], t < N: both length-N sequences are
 * zero-padded to L >= 2N - 1, so the circular convolution of length L equals
 * the linear one on t < N (the wrapped terms land at t >= N); forward real
 * FFTs, a pointwise complex product, an inverse real FFT, keep the first N.
 * Cost per channel: three real FFTs of size L (about 3 * 2.5 L log2 L flops)
 * and 6 (L/2 + 1) flops of products, O(N log N) against the N^2 / 2
 * multiply-adds of the direct sum.
 *
 * L is the smallest 2^a 3^b 5^c >= 2N - 1 (FFTW's fast radices), so it wastes
 * at most a few percent over 2N - 1 (for a power-of-two N it is exactly 2N).
 *
 * All plans and scratch are made by cb_fftconv_init (call it outside any
 * timed region: planning is slow and not thread-safe); one set of padded
 * buffers per OpenMP thread, so cb_fftconv_channel may run concurrently on
 * distinct thread ids through FFTW's new-array execute functions, which are
 * thread-safe.
 */
#ifndef CB_FFT_CONV_H
#define CB_FFT_CONV_H

#include <fftw3.h>
#include <stddef.h>

typedef struct cb_fftconv {
    int N, L, nthreads;
    fftwf_plan fwd, inv;        /* r2c and c2r of size L */
    float **ra, **rb;           /* per thread: L reals */
    fftwf_complex **ca, **cb;   /* per thread: L/2 + 1 complexes */
} cb_fftconv;

/* The smallest 2^a 3^b 5^c >= n (n >= 1). */
long cb_fftconv_size(long n);

/* Plans and scratch for length-N channels on `nthreads` threads (>= 1).
 * Returns 0, or -1 with err (everything already made is freed). */
int cb_fftconv_init(cb_fftconv *f, int N, int nthreads, char *err, size_t errlen);
void cb_fftconv_free(cb_fftconv *f);

/* One channel on thread `tid`: y[t] = g[t] (h * u)[t] for t < N, or without
 * the gate when g is NULL. y may alias u or g (both are read before y is
 * written). */
void cb_fftconv_channel(const cb_fftconv *f, int tid, const float *u, const float *h, const float *g,
                        float *y);

#endif
