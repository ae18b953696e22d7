/* fft_conv.c — causal long convolution of one channel through FFTW3; see
 * fft_conv.h for the math and the contract. */
#include "fft_conv.h"

#include "../kernel.h"

#include <stdlib.h>
#include <string.h>

long cb_fftconv_size(long n)
{
    /* 5-smooth numbers are dense (about one in 30 near 10^6), so counting up
     * from n finds one after a few steps */
    for (long c = n < 1 ? 1 : n;; c++) {
        long r = c;
        while (r % 2 == 0) r /= 2;
        while (r % 3 == 0) r /= 3;
        while (r % 5 == 0) r /= 5;
        if (r == 1)
            return c;
    }
}

void cb_fftconv_free(cb_fftconv *f)
{
    if (f->fwd) fftwf_destroy_plan(f->fwd);
    if (f->inv) fftwf_destroy_plan(f->inv);
    for (int i = 0; i < f->nthreads; i++) {
        if (f->ra) fftwf_free(f->ra[i]);
        if (f->rb) fftwf_free(f->rb[i]);
        if (f->ca) fftwf_free(f->ca[i]);
        if (f->cb) fftwf_free(f->cb[i]);
    }
    free(f->ra);
    free(f->rb);
    free(f->ca);
    free(f->cb);
    memset(f, 0, sizeof *f);
}

int cb_fftconv_init(cb_fftconv *f, int N, int nthreads, char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    if (N < 1 || nthreads < 1)
        return cb_fail(err, errlen, "fft_conv: N = %d and threads = %d must be >= 1", N, nthreads);
    f->N = N;
    f->L = (int)cb_fftconv_size(2L * N - 1);
    f->nthreads = nthreads;
    const size_t L = (size_t)f->L, nc = L / 2 + 1;
    f->ra = calloc((size_t)nthreads, sizeof *f->ra);
    f->rb = calloc((size_t)nthreads, sizeof *f->rb);
    f->ca = calloc((size_t)nthreads, sizeof *f->ca);
    f->cb = calloc((size_t)nthreads, sizeof *f->cb);
    int ok = f->ra && f->rb && f->ca && f->cb;
    for (int i = 0; ok && i < nthreads; i++) {
        f->ra[i] = fftwf_alloc_real(L);
        f->rb[i] = fftwf_alloc_real(L);
        f->ca[i] = fftwf_alloc_complex(nc);
        f->cb[i] = fftwf_alloc_complex(nc);
        ok = f->ra[i] && f->rb[i] && f->ca[i] && f->cb[i];
        if (ok) {   /* pre-touch: no first-touch page fault in a timed run */
            memset(f->ra[i], 0, L * sizeof(float));
            memset(f->rb[i], 0, L * sizeof(float));
            memset(f->ca[i], 0, nc * sizeof(fftwf_complex));
            memset(f->cb[i], 0, nc * sizeof(fftwf_complex));
        }
    }
    if (!ok) {
        cb_fftconv_free(f);
        return cb_fail(err, errlen, "fft_conv: out of memory (L = %zu, %d threads)", L, nthreads);
    }
    /* FFTW_ESTIMATE: the plan is chosen by FFTW's heuristics without timing
     * trial transforms, so the same plan (and the same bits) comes out in
     * every process, and planning costs microseconds instead of seconds.
     * fftwf_alloc_* gives every buffer the same (SIMD) alignment as the
     * planning arrays, as the new-array execute functions require. */
    f->fwd = fftwf_plan_dft_r2c_1d(f->L, f->ra[0], f->ca[0], FFTW_ESTIMATE);
    f->inv = fftwf_plan_dft_c2r_1d(f->L, f->ca[0], f->ra[0], FFTW_ESTIMATE);
    if (!f->fwd || !f->inv) {
        cb_fftconv_free(f);
        return cb_fail(err, errlen, "fft_conv: FFTW could not plan size %zu", L);
    }
    return 0;
}

void cb_fftconv_channel(const cb_fftconv *f, int tid, const float *u, const float *h, const float *g,
                        float *y)
{
    const size_t N = (size_t)f->N, L = (size_t)f->L, nc = L / 2 + 1;
    float *ra = f->ra[tid], *rb = f->rb[tid];
    fftwf_complex *ca = f->ca[tid], *cb = f->cb[tid];
    /* zero-padded copies (the inverse transform overwrote the pad last time) */
    memcpy(ra, u, N * sizeof *ra);
    memset(ra + N, 0, (L - N) * sizeof *ra);
    memcpy(rb, h, N * sizeof *rb);
    memset(rb + N, 0, (L - N) * sizeof *rb);
    fftwf_execute_dft_r2c(f->fwd, ra, ca);
    fftwf_execute_dft_r2c(f->fwd, rb, cb);
    /* pointwise product; the 1/L of the unnormalized inverse goes here */
    const float s = 1.0f / (float)L;
    for (size_t k = 0; k < nc; k++) {
        float re = ca[k][0] * cb[k][0] - ca[k][1] * cb[k][1];
        float im = ca[k][0] * cb[k][1] + ca[k][1] * cb[k][0];
        ca[k][0] = re * s;
        ca[k][1] = im * s;
    }
    fftwf_execute_dft_c2r(f->inv, ca, ra);
    if (g)
        for (size_t t = 0; t < N; t++)
            y[t] = g[t] * ra[t];
    else
        memcpy(y, ra, N * sizeof *y);
}
