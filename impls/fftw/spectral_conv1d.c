/* spectral_conv1d.c (fftw) — the FNO Fourier layer with FFTW3 (single precision).
 *
 * y = irfft(Y, n), Y[o, k] = sum_i rfft(u)[i, k] W[k, i, o] for k < k_max and
 * 0 above (contract and conventions in impls/ref/spectral_conv1d.c):
 *   1. r2c: the C_in rows of u, copied into a padded buffer, through
 *      fftwf_plan_many_dft_r2c plans (one plan per thread's block of rows);
 *   2. the mode mixing: per output channel o and kept mode k, a complex dot
 *      product over C_in, with the 1/n of irfft folded in; modes k >= k_max
 *      set to 0, and the imaginary parts of modes 0 and n/2 set to 0 (what
 *      numpy's irfft and the ref backend do: they ignore them);
 *   3. c2r: the C_out rows of Y through many-transform c2r plans, then the
 *      rows copied out.
 * Why it is fast: the work is (C_in + C_out) FFTs of n points, O(n log n)
 * each, instead of the O(n^2) dense kernel integral; the mixing touches only
 * k_max modes (O(k_max C_in C_out), independent of n). FFTW's codelets use
 * SIMD on rows whose starts are 64-byte aligned: the rows are padded to a
 * multiple of 16 floats (8 complex) so every row of every block is aligned,
 * which the raw [C, n] tensors are not for odd n.
 * Threads: the row blocks of one call can run on separate OpenMP threads
 * (executing distinct plans concurrently is thread-safe in FFTW; only
 * planning is not, and it happens in prepare()), but only when a call has
 * at least SC_PAR_MIN floats of rows, n (C_in + C_out) >= 2^22 (a few ms of
 * work per thread). Below that one thread runs it: the call takes 10 us to
 * 10 ms, two OpenMP barriers cost more than a whole small call as soon as
 * another process shares the two cores (measured at n = 512, C = 16 on a
 * loaded machine: 31 us on one thread, 0.46-32 ms on two), and at most 2x is
 * to be gained. So the timed sweeps of the task run single-threaded.
 * Plans use FFTW_ESTIMATE: deterministic (the same algorithm, hence the same
 * bits, on every run); FFTW_MEASURE would time candidate algorithms in
 * prepare() and could pick different ones from run to run.
 * The copies in and out and the zeroing of the dropped modes are O(C n),
 * a small fraction of the O(C n log n) transforms.
 */
#include "kernel.h"
#include "ref/spectral_conv1d.h"

#include <fftw3.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define SC_MAX_BLOCKS 64
#define SC_PAR_MIN ((long long)1 << 22)

typedef struct fftw_sc {
    int ci, co, n, km, nh;          /* nh = n/2 + 1 modes */
    int npad, hpad;                 /* padded row lengths: floats, complex */
    int gi, go;                     /* row blocks of the r2c and c2r stages */
    int par;                        /* 1: run the blocks on OpenMP threads */
    int ia[SC_MAX_BLOCKS + 1], oa[SC_MAX_BLOCKS + 1];   /* block boundaries */
    float *ubuf, *ybuf;             /* [C_in][npad], [C_out][npad] */
    fftwf_complex *U, *Y;           /* [C_in][hpad], [C_out][hpad] */
    fftwf_plan r2c[SC_MAX_BLOCKS], c2r[SC_MAX_BLOCKS];
} fftw_sc;

static void fftw_sc_release(void *state)
{
    fftw_sc *s = state;
    if (!s) return;
    for (int g = 0; g < SC_MAX_BLOCKS; g++) {
        if (s->r2c[g]) fftwf_destroy_plan(s->r2c[g]);
        if (s->c2r[g]) fftwf_destroy_plan(s->c2r[g]);
    }
    fftwf_free(s->ubuf);
    fftwf_free(s->ybuf);
    fftwf_free(s->U);
    fftwf_free(s->Y);
    free(s);
}

/* Split `rows` into g nearly equal blocks: bounds[0..g]. */
static void split(int rows, int g, int *bounds)
{
    for (int b = 0; b <= g; b++)
        bounds[b] = (int)((long long)rows * b / g);
}

static int fftw_sc_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out,
                           char *err, size_t errlen)
{
    (void)in;
    (void)out;
    fftw_sc *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "fftw spectral_conv1d: out of memory");
    s->ci = (int)cb_params_int(p, "C_in", 0);
    s->co = (int)cb_params_int(p, "C_out", 0);
    s->n = (int)cb_params_int(p, "n", 0);
    s->km = (int)cb_params_int(p, "k_max", 0);
    s->nh = s->n / 2 + 1;
    s->npad = (s->n + 15) / 16 * 16;
    s->hpad = (s->nh + 7) / 8 * 8;
    s->par = (long long)s->n * (s->ci + s->co) >= SC_PAR_MIN;
    int t = s->par ? omp_get_max_threads() : 1;
    if (t > SC_MAX_BLOCKS) t = SC_MAX_BLOCKS;
    if (t < 1) t = 1;
    s->gi = s->ci < t ? s->ci : t;
    s->go = s->co < t ? s->co : t;
    split(s->ci, s->gi, s->ia);
    split(s->co, s->go, s->oa);
    s->ubuf = fftwf_malloc((size_t)s->ci * s->npad * sizeof(float));
    s->ybuf = fftwf_malloc((size_t)s->co * s->npad * sizeof(float));
    s->U = fftwf_malloc((size_t)s->ci * s->hpad * sizeof(fftwf_complex));
    s->Y = fftwf_malloc((size_t)s->co * s->hpad * sizeof(fftwf_complex));
    if (!s->ubuf || !s->ybuf || !s->U || !s->Y) {
        fftw_sc_release(s);
        return cb_fail(err, errlen, "fftw spectral_conv1d: out of memory");
    }
    /* pre-touch, so no page fault lands in run() */
    memset(s->ubuf, 0, (size_t)s->ci * s->npad * sizeof(float));
    memset(s->ybuf, 0, (size_t)s->co * s->npad * sizeof(float));
    memset(s->U, 0, (size_t)s->ci * s->hpad * sizeof(fftwf_complex));
    memset(s->Y, 0, (size_t)s->co * s->hpad * sizeof(fftwf_complex));
    int n = s->n;
    for (int g = 0; g < s->gi; g++) {
        int a = s->ia[g], rows = s->ia[g + 1] - a;
        s->r2c[g] = fftwf_plan_many_dft_r2c(1, &n, rows, s->ubuf + (size_t)a * s->npad, NULL, 1, s->npad,
                                            s->U + (size_t)a * s->hpad, NULL, 1, s->hpad, FFTW_ESTIMATE);
        if (!s->r2c[g]) {
            fftw_sc_release(s);
            return cb_fail(err, errlen, "fftw spectral_conv1d: no r2c plan for n = %d", n);
        }
    }
    for (int g = 0; g < s->go; g++) {
        int a = s->oa[g], rows = s->oa[g + 1] - a;
        s->c2r[g] = fftwf_plan_many_dft_c2r(1, &n, rows, s->Y + (size_t)a * s->hpad, NULL, 1, s->hpad,
                                            s->ybuf + (size_t)a * s->npad, NULL, 1, s->npad, FFTW_ESTIMATE);
        if (!s->c2r[g]) {
            fftw_sc_release(s);
            return cb_fail(err, errlen, "fftw spectral_conv1d: no c2r plan for n = %d", n);
        }
    }
    *state = s;
    return 0;
}

static int fftw_sc_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)p;
    fftw_sc *s = state;
    const int ci = s->ci, co = s->co, n = s->n, km = s->km, nh = s->nh;
    const int npad = s->npad, hpad = s->hpad;
    const float *u = in[0].data, *wr = in[1].data, *wi = in[2].data;
    float *y = out[0].data;
    const float inv_n = 1.0f / (float)n;
    const int nyq = (n % 2 == 0) ? n / 2 : -1;   /* the Nyquist mode, if any */
#pragma omp parallel if (s->par)
    {
        /* 1. rows in, forward transforms, one block per thread */
#pragma omp for schedule(static)
        for (int g = 0; g < s->gi; g++) {
            for (int i = s->ia[g]; i < s->ia[g + 1]; i++)
                memcpy(s->ubuf + (size_t)i * npad, u + (size_t)i * n, (size_t)n * sizeof *u);
            fftwf_execute(s->r2c[g]);
        }
        /* 2. mode mixing, 1/n folded in; dropped modes zeroed (c2r may have
         * overwritten them on the previous call) */
#pragma omp for schedule(static)
        for (int o = 0; o < co; o++) {
            fftwf_complex *Yo = s->Y + (size_t)o * hpad;
            for (int k = 0; k < km; k++) {
                float re = 0, im = 0;
                for (int i = 0; i < ci; i++) {
                    const fftwf_complex *Ui = s->U + (size_t)i * hpad;
                    float a = Ui[k][0], b = Ui[k][1];
                    float c = wr[((size_t)k * ci + i) * co + o], d = wi[((size_t)k * ci + i) * co + o];
                    re += a * c - b * d;
                    im += a * d + b * c;
                }
                Yo[k][0] = re * inv_n;
                Yo[k][1] = (k == 0 || k == nyq) ? 0.0f : im * inv_n;
            }
            if (nh > km)
                memset(Yo + km, 0, (size_t)(nh - km) * sizeof *Yo);
        }
        /* 3. inverse transforms, rows out */
#pragma omp for schedule(static)
        for (int g = 0; g < s->go; g++) {
            fftwf_execute(s->c2r[g]);
            for (int o = s->oa[g]; o < s->oa[g + 1]; o++)
                memcpy(y + (size_t)o * n, s->ybuf + (size_t)o * npad, (size_t)n * sizeof *y);
        }
    }
    return 0;
}

const cb_impl cb_impl_fftw_spectral_conv1d = {
    .kernel = "spectral_conv1d",
    .backend = "fftw",
    .how = "fftwf many-transform r2c over C_in rows, k_max-mode complex mixing (1/n folded in), c2r over C_out rows; OpenMP over row blocks",
    .prepare = fftw_sc_prepare,
    .run = fftw_sc_run,
    .release = fftw_sc_release,
};
