/* hyena_operator.c (fftw) — the order-2 Hyena operator with FFT long
 * convolutions (FFTW3) and oneDNN matmul projections: a mixed backend, named
 * `fftw` after the part that makes it subquadratic.
 *
 *   P^T [3D, N] = W_in^T x^T          oneDNN matmul (channels become rows)
 *   per channel c (OpenMP):
 *     z[c] = x1[c] . (h1[c] * v[c])   FFT convolution + gate (fft_conv.h)
 *     z[c] = x2[c] . (h2[c] * z[c])   in place
 *   y [N, D] = z^T W_out              oneDNN matmul
 *
 * Why it is fast: the projections are 8 N D^2 flops in two large GEMMs; the
 * token mixing is two FFT convolutions per channel, O(D N log N), where
 * attention's token mixing is O(N^2 d). Computing the projection transposed
 * puts each channel's sequence in one contiguous row, so each FFT reads and
 * writes unit-stride rows and every channel's working set (four padded
 * buffers of L ~ 2N) stays in its core's cache; the gates are fused into
 * the copy-out of each inverse FFT.
 *
 * Why oneDNN and not OpenBLAS for the two GEMMs: everything here then runs
 * on one thread pool (oneDNN's CPU runtime is the same libgomp as the
 * convolution loop). With OpenBLAS's pthread build the GEMM's worker thread
 * keeps spinning (sched_yield) for up to ~0.1 s after each call, i.e. through
 * the whole FFT phase, so three threads share two cores: measured on this
 * machine at N = 1024..4096, repetitions of one case spread 1.5-3.7x and
 * medians moved 3x between runs; with one pool the spread is a few percent.
 * Plans, buffers, the P^T and z scratch and the primitives are made in
 * prepare().
 */
#include "kernel.h"
#include "fft_conv.h"
#include "dnnl/dnnl_util.h"

#include <omp.h>
#include <stdlib.h>

typedef struct fftw_hy {
    cb_fftconv f;
    cb_dnnl dn;
    int64_t D, N;
    float *PT;   /* [3D, N]: v, x1, x2 by channel */
    float *zT;   /* [D, N] */
    dnnl_primitive_t proj_in, proj_out;
    /* memories: x^T, W_in^T, P^T (projection in); z^T^T, W_out, y (out) */
    dnnl_memory_t m_x, m_win, m_pt, m_z, m_wout, m_y;
} fftw_hy;

static void fftw_hy_release(void *state)
{
    fftw_hy *s = state;
    if (!s) return;
    if (s->proj_in) dnnl_primitive_destroy(s->proj_in);
    if (s->proj_out) dnnl_primitive_destroy(s->proj_out);
    dnnl_memory_t *mem[] = {&s->m_x, &s->m_win, &s->m_pt, &s->m_z, &s->m_wout, &s->m_y};
    for (size_t i = 0; i < sizeof mem / sizeof *mem; i++)
        if (*mem[i]) dnnl_memory_destroy(*mem[i]);
    cb_dnnl_close(&s->dn);
    cb_fftconv_free(&s->f);
    free(s->PT);
    free(s->zT);
    free(s);
}

/* A 2-d f32 memory of dims [r, c] with element strides (sr, sc) over buf. */
static int mem2d(dnnl_memory_t *m, dnnl_engine_t eng, dnnl_memory_desc_t *md, dnnl_dim_t r, dnnl_dim_t c,
                 dnnl_dim_t sr, dnnl_dim_t sc, void *buf, char *err, size_t errlen)
{
    const dnnl_dim_t dims[2] = {r, c}, strides[2] = {sr, sc};
    return cb_dnnl_mem_strided(m, md, eng, 2, dims, strides, buf, err, errlen);
}

/* The two projection primitives over strided views (no copies):
 *   P^T [3D, N] = W_in^T [3D, D] (W_in [D, 3D] read transposed)
 *                 x the x^T [D, N] (x [N, D] read transposed)
 *   y [N, D]    = z [N, D] (z^T [D, N] read transposed) x W_out [D, D] */
static int fftw_hy_primitives(fftw_hy *s, char *err, size_t errlen)
{
    const dnnl_dim_t D = s->D, N = s->N;
    dnnl_engine_t eng = s->dn.eng;
    dnnl_memory_desc_t a, b, c;
    if (mem2d(&s->m_win, eng, &a, 3 * D, D, 1, 3 * D, DNNL_MEMORY_NONE, err, errlen) ||
        mem2d(&s->m_x, eng, &b, D, N, 1, D, DNNL_MEMORY_NONE, err, errlen) ||
        mem2d(&s->m_pt, eng, &c, 3 * D, N, N, 1, s->PT, err, errlen) ||
        cb_dnnl_matmul(&s->proj_in, eng, &a, &b, &c, 1.0f, 0, NULL, NULL, err, errlen))
        return -1;
    if (mem2d(&s->m_z, eng, &a, N, D, 1, N, s->zT, err, errlen) ||
        mem2d(&s->m_wout, eng, &b, D, D, D, 1, DNNL_MEMORY_NONE, err, errlen) ||
        mem2d(&s->m_y, eng, &c, N, D, D, 1, DNNL_MEMORY_NONE, err, errlen) ||
        cb_dnnl_matmul(&s->proj_out, eng, &a, &b, &c, 1.0f, 0, NULL, NULL, err, errlen))
        return -1;
    return 0;
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
    if (cb_dnnl_open(&s->dn, err, errlen) || fftw_hy_primitives(s, err, errlen) ||
        cb_fftconv_init(&s->f, (int)s->N, omp_get_max_threads(), err, errlen)) {
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
    const float *h1 = in[2].data, *h2 = in[3].data;
    float *PT = s->PT, *zT = s->zT;
    /* the inputs' and the output's addresses may change between calls */
    if (dnnl_memory_set_data_handle(s->m_x, in[0].data) != dnnl_success ||
        dnnl_memory_set_data_handle(s->m_win, in[1].data) != dnnl_success ||
        dnnl_memory_set_data_handle(s->m_wout, in[4].data) != dnnl_success ||
        dnnl_memory_set_data_handle(s->m_y, out[0].data) != dnnl_success)
        return -1;
    if (cb_dnnl_exec_matmul(s->proj_in, s->dn.st, s->m_win, s->m_x, s->m_pt, 1)) return -1;
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
    return cb_dnnl_exec_matmul(s->proj_out, s->dn.st, s->m_z, s->m_wout, s->m_y, 1);
}

const cb_impl cb_impl_fftw_hyena_operator = {
    .kernel = "hyena_operator",
    .backend = "fftw",
    .how = "oneDNN matmul P^T = W_in^T x^T; per channel two FFTW long convolutions with fused gates (OpenMP); oneDNN matmul y = z W_out",
    .prepare = fftw_hy_prepare,
    .run = fftw_hy_run,
    .release = fftw_hy_release,
};
