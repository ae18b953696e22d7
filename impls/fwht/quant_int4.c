/* quant_int4.c (fwht) — per-row INT4 quantization with the Hadamard
 * rotation done by the fast Walsh-Hadamard transform, in double.
 *
 * Per row (OpenMP over rows, one scratch row of K doubles per thread,
 * allocated and touched in prepare()):
 *   v = fwht(x) / sqrt(K)                  (hadamard = 1; else v = x)
 *   step = max |v| / 7;  v^ = clamp(rint(v / step), -7, 7) step
 *   xhat = fwht(v^) / sqrt(K)              (hadamard = 1; else xhat = v^)
 *
 * Why it is fast: 2 K log2 K additions per row instead of the 2 K^2 of the
 * dense rotation, vectorized butterflies and vectorized rint.
 *
 * Why double: quantization is discontinuous. A float32 rotation differs from
 * the ref's double one by ~1e-7 relative, which moves an entry across a
 * rounding boundary (v/step within 1e-7 of a half-integer) with a
 * probability of a few in 10^7 per entry: a level flip is an error of one
 * whole step, which no elementwise tolerance could tell from a bug. In
 * double the difference is ~1e-16 and the step, the division, rint, the
 * clamp and the product are the ref's own operations on (all but
 * identically) the same doubles, so the outputs agree to the last float bit
 * except with probability ~1e-9 per entry (one float ulp), and bit for bit
 * when hadamard = 0.
 */
#include "kernel.h"
#include "common/fwht.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>

typedef struct fwht_qi {
    int64_t M, K;
    int had, nthreads;
    double *scratch;   /* nthreads x K */
} fwht_qi;

static void fwht_qi_release(void *state)
{
    fwht_qi *s = state;
    if (!s) return;
    free(s->scratch);
    free(s);
}

static int fwht_qi_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out,
                           char *err, size_t errlen)
{
    (void)in;
    (void)out;
    fwht_qi *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "fwht quant_int4: out of memory");
    s->M = cb_params_int(p, "M", 0);
    s->K = cb_params_int(p, "K", 0);
    s->had = cb_params_get(p, "hadamard", 0) == 1;
    s->nthreads = omp_get_max_threads();
    if (s->nthreads < 1) s->nthreads = 1;
    /* calloc zeroes, so the scratch is touched here, not in run() */
    s->scratch = calloc((size_t)s->nthreads * (size_t)s->K, sizeof *s->scratch);
    if (!s->scratch) {
        fwht_qi_release(s);
        return cb_fail(err, errlen, "fwht quant_int4: out of memory");
    }
    *state = s;
    return 0;
}

/* v <- dequantized INT4 of v (step max|v|/7); NaN row -> NaN. */
static void quant_row(double *v, int64_t K)
{
    double mx = 0;
    for (int64_t j = 0; j < K; j++) {
        if (isnan(v[j]))
            mx = NAN;
        else if (fabs(v[j]) > mx)
            mx = fabs(v[j]);
    }
    const double step = mx / 7.0;
    if (step != step) {
        for (int64_t j = 0; j < K; j++)
            v[j] = NAN;
        return;
    }
    if (step == 0) {
        for (int64_t j = 0; j < K; j++)
            v[j] = 0;
        return;
    }
#pragma omp simd
    for (int64_t j = 0; j < K; j++) {
        double q = rint(v[j] / step);
        q = q > 7 ? 7 : q;
        q = q < -7 ? -7 : q;
        v[j] = q * step;
    }
}

static int fwht_qi_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)p;
    fwht_qi *s = state;
    const int64_t M = s->M, K = s->K;
    const double inv = 1.0 / sqrt((double)K);
    const int had = s->had;
#pragma omp parallel num_threads(s->nthreads) if (M * K >= 4096)
    {
        double *v = s->scratch + (size_t)omp_get_thread_num() * (size_t)K;
#pragma omp for schedule(static)
        for (int64_t m = 0; m < M; m++) {
            const float *x = in[0].data + m * K;
            float *xh = out[0].data + m * K;
            for (int64_t j = 0; j < K; j++)
                v[j] = x[j];
            if (had) {
                cb_fwht_d(v, (size_t)K);
#pragma omp simd
                for (int64_t j = 0; j < K; j++)
                    v[j] *= inv;
            }
            quant_row(v, K);
            if (had) {
                cb_fwht_d(v, (size_t)K);
#pragma omp simd
                for (int64_t j = 0; j < K; j++)
                    v[j] *= inv;
            }
            for (int64_t j = 0; j < K; j++)
                xh[j] = (float)v[j];
        }
    }
    return 0;
}

const cb_impl cb_impl_fwht_quant_int4 = {
    .kernel = "quant_int4",
    .backend = "fwht",
    .how = "double: fast Walsh-Hadamard rotation (if hadamard=1), step max|v|/7, rint half-even, back; OpenMP rows",
    .prepare = fwht_qi_prepare,
    .run = fwht_qi_run,
    .release = fwht_qi_release,
};
