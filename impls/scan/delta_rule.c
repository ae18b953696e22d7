/* delta_rule.c (scan) — the delta rule as an optimized float32 recurrence:
 * the sequential baseline the chunkwise backends are timed against.
 *
 * Per head (heads in parallel over OpenMP threads), the state is kept
 * transposed, M = S^T (d x dv, row j holds the weights of key feature j),
 * so that every operation of a step is a run of axpys over contiguous
 * dv-long rows and no horizontal reduction is needed:
 *
 *   a   = M^T k^_t = sum_j k^_tj M_j          (S k^, carried from the last step)
 *   dl  = beta_t (v_t - a)                     (the delta: target minus recall)
 *   for every row j:  M_j += k^_tj dl          (S += dl k^^T, the rank-1 update)
 *                     o   += q_tj M_j           (o_t = S_t q_t)
 *                     a'  += k^_{t+1,j} M_j     (S_t k^_{t+1}, for the next step)
 *
 * One pass over the state per token does the update and both products
 * (6 d dv flops against d dv floats read and written), so the state is
 * streamed once per token. At d = dv = 64 it is 16 KiB and stays in L1; the
 * work is then bound by L1 bandwidth and the FMA units, at BLAS-2 intensity
 * (under 1 flop per byte moved through L1). That is why it is fast on a CPU
 * and also why it cannot use the matrix units a GPU has: every step depends
 * on the one before.
 * Built at -O2 like every non-BLAS folder; the loops vectorize through
 * `omp simd`. All scratch is allocated in prepare(); run() only computes.
 */
#include "kernel.h"
#include "common/delta_rule_util.h"

#include <stdlib.h>
#include <string.h>

typedef struct scan_dr {
    int64_t H, N, d, dv;
    float *M;    /* H x d x dv, the per-head state S^T */
    float *kn;   /* H x N x d, normalized keys */
    float *a;    /* H x dv, S k^ for the next token */
    float *dl;   /* H x dv, the delta */
} scan_dr;

static void scan_dr_release(void *state)
{
    scan_dr *s = state;
    if (!s) return;
    free(s->M);
    free(s->kn);
    free(s->a);
    free(s->dl);
    free(s);
}

static int scan_dr_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out, char *err,
                           size_t errlen)
{
    (void)in;
    (void)out;
    scan_dr *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "scan delta_rule: out of memory");
    s->H = cb_params_int(p, "H", 0);
    s->N = cb_params_int(p, "N", 0);
    s->d = cb_params_int(p, "d", 0);
    s->dv = cb_params_int(p, "dv", 0);
    s->M = cb_alloc_floats((size_t)(s->H * s->d * s->dv));
    s->kn = cb_alloc_floats((size_t)(s->H * s->N * s->d));
    s->a = cb_alloc_floats((size_t)(s->H * s->dv));
    s->dl = cb_alloc_floats((size_t)(s->H * s->dv));
    if (!s->M || !s->kn || !s->a || !s->dl) {
        scan_dr_release(s);
        return cb_fail(err, errlen, "scan delta_rule: out of memory");
    }
    *state = s;
    return 0;
}

/* One head: the recurrence over N tokens. */
static void scan_head(int64_t N, int64_t d, int64_t dv, const float *restrict q, const float *restrict kn,
                      const float *restrict v, const float *restrict beta, float *restrict o,
                      float *restrict M, float *restrict a, float *restrict dl)
{
    memset(M, 0, (size_t)(d * dv) * sizeof *M);   /* S_0 = 0 */
    memset(a, 0, (size_t)dv * sizeof *a);         /* S_0 k^_1 = 0 */
    for (int64_t t = 0; t < N; t++) {
        const float b = beta[t];
        const float *vt = v + t * dv, *kt = kn + t * d, *qt = q + t * d;
        const float *kt1 = t + 1 < N ? kn + (t + 1) * d : kt;   /* last step: a' unused */
        float *ot = o + t * dv;
#pragma omp simd
        for (int64_t c = 0; c < dv; c++) {
            dl[c] = b * (vt[c] - a[c]);
            a[c] = 0;
            ot[c] = 0;
        }
        for (int64_t j = 0; j < d; j++) {
            float *restrict Mj = M + j * dv;
            const float kj = kt[j], qj = qt[j], k1j = kt1[j];
#pragma omp simd
            for (int64_t c = 0; c < dv; c++) {
                const float m = Mj[c] + kj * dl[c];
                Mj[c] = m;
                ot[c] += qj * m;
                a[c] += k1j * m;
            }
        }
    }
}

static int scan_dr_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)p;
    scan_dr *s = state;
    const int64_t H = s->H, N = s->N, d = s->d, dv = s->dv;
#pragma omp parallel for schedule(static)
    for (int64_t h = 0; h < H; h++) {
        cb_l2norm_rows(in[1].data + h * N * d, s->kn + h * N * d, (size_t)N, (size_t)d);
        scan_head(N, d, dv, in[0].data + h * N * d, s->kn + h * N * d, in[2].data + h * N * dv,
                  in[3].data + h * N, out[0].data + h * N * dv, s->M + h * d * dv, s->a + h * dv,
                  s->dl + h * dv);
    }
    return 0;
}

const cb_impl cb_impl_scan_delta_rule = {
    .kernel = "delta_rule",
    .backend = "scan",
    .how = "float recurrence, one pass over S^T (d x dv) per token: update, S q and the next S k fused; OpenMP over heads",
    .prepare = scan_dr_prepare,
    .run = scan_dr_run,
    .release = scan_dr_release,
};
