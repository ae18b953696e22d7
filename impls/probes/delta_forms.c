/* delta_forms.c — probe: the chunkwise WY/UT form of the delta rule equals
 * its recurrence, for every chunk size.
 *
 * DeltaNet's state follows S_t = S_{t-1}(I - b_t k_t k_t^T) + b_t v_t k_t^T,
 * o_t = S_t q_t (k_t unit vectors). Yang et al. (2024) compute it chunk by
 * chunk through the WY representation of the product of the chunk's
 * Householder-like factors (derivation in tasks/deltanet_chunkwise.md). The
 * probe computes, in double, on the same float-rounded inputs:
 *   the recurrence, token by token                      (cb_delta_recurrent_d)
 *   the chunkwise form for C in {1, 2, 4, ..., 128}     (cb_delta_chunkwise_d)
 * and emits, per chunk size C (at {N, d, dv, chunk}):
 *   err64_chunk_vs_recurrent   outputs o, max |diff| / max |o_recurrent|
 *   err64_state_vs_recurrent   final states S_N, the same measure
 *   err32_blas, err32_dnnl     the float32 chunkwise kernels (delta_rule with
 *                              chunk = C) against the double recurrence
 * and once (at {N, d, dv}):
 *   err32_scan, err32_ref      the float32 recurrence and the ref kernel
 *   spread_recurrent           std(o) / rms(v) of the double recurrence: the
 *                              reference output is neither zero nor constant
 * Params: H, N, d, dv (defaults 2, 1001, 64, 64); N = 1001 is odd, so every
 * C >= 2 leaves a partial last chunk. Inputs: q, k, v standard normal, beta
 * uniform in [0.05, 0.95) from the run's seed (streams "q", "k", "v", "beta"),
 * rounded to float once; the keys are normalized in double for the double
 * forms, and passed raw to the kernels (which normalize them themselves).
 * Cost: the double forms are O(H N d dv) each; well under a second.
 */
#include "common/relerr.h"
#include "kernel.h"
#include "rng.h"
#include "probes/delta_forms.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cb_delta_recurrent_d(const double *q, const double *kn, const double *v, const double *beta, int64_t H,
                         int64_t N, int64_t d, int64_t dv, double *o, double *Sfin)
{
    double *S = malloc((size_t)(d * dv) * sizeof *S), *a = malloc((size_t)dv * sizeof *a);
    if (!S || !a) {
        free(S);
        free(a);
        return -1;
    }
    for (int64_t h = 0; h < H; h++) {
        const double *qh = q + h * N * d, *kh = kn + h * N * d, *vh = v + h * N * dv, *bh = beta + h * N;
        double *oh = o + h * N * dv;
        memset(S, 0, (size_t)(d * dv) * sizeof *S);
        for (int64_t t = 0; t < N; t++) {
            const double *k = kh + t * d;
            for (int64_t i = 0; i < dv; i++) {
                double acc = 0;
                for (int64_t j = 0; j < d; j++) acc += S[i * d + j] * k[j];
                a[i] = acc;
            }
            for (int64_t i = 0; i < dv; i++) {
                const double dl = bh[t] * (vh[t * dv + i] - a[i]);
                for (int64_t j = 0; j < d; j++) S[i * d + j] += dl * k[j];
            }
            for (int64_t i = 0; i < dv; i++) {
                double acc = 0;
                for (int64_t j = 0; j < d; j++) acc += S[i * d + j] * qh[t * d + j];
                oh[t * dv + i] = acc;
            }
        }
        if (Sfin) memcpy(Sfin + h * dv * d, S, (size_t)(d * dv) * sizeof *S);
    }
    free(S);
    free(a);
    return 0;
}

int cb_delta_chunkwise_d(const double *q, const double *kn, const double *v, const double *beta, int64_t H,
                         int64_t N, int64_t d, int64_t dv, int64_t C, double *o, double *Sfin)
{
    double *S = malloc((size_t)(d * dv) * sizeof *S);    /* dv x d */
    double *w = malloc((size_t)(C * d) * sizeof *w);     /* C x d */
    double *u = malloc((size_t)(C * dv) * sizeof *u);    /* C x dv, becomes u~ */
    if (!S || !w || !u) {
        free(S);
        free(w);
        free(u);
        return -1;
    }
    for (int64_t h = 0; h < H; h++) {
        const double *qh = q + h * N * d, *kh = kn + h * N * d, *vh = v + h * N * dv, *bh = beta + h * N;
        double *oh = o + h * N * dv;
        memset(S, 0, (size_t)(d * dv) * sizeof *S);
        for (int64_t t0 = 0; t0 < N; t0 += C) {
            const int64_t L = N - t0 < C ? N - t0 : C;
            const double *K = kh + t0 * d, *Q = qh + t0 * d, *V = vh + t0 * dv, *b = bh + t0;
            /* the WY factors, by forward substitution */
            for (int64_t r = 0; r < L; r++) {
                for (int64_t j = 0; j < d; j++) w[r * d + j] = K[r * d + j];
                for (int64_t c = 0; c < dv; c++) u[r * dv + c] = V[r * dv + c];
                for (int64_t i = 0; i < r; i++) {
                    double g = 0;
                    for (int64_t j = 0; j < d; j++) g += K[i * d + j] * K[r * d + j];
                    for (int64_t j = 0; j < d; j++) w[r * d + j] -= g * w[i * d + j];
                    for (int64_t c = 0; c < dv; c++) u[r * dv + c] -= g * u[i * dv + c];
                }
                for (int64_t j = 0; j < d; j++) w[r * d + j] *= b[r];
                for (int64_t c = 0; c < dv; c++) u[r * dv + c] *= b[r];
            }
            /* u~_r = u_r - S_0 w_r */
            for (int64_t r = 0; r < L; r++)
                for (int64_t c = 0; c < dv; c++) {
                    double acc = 0;
                    for (int64_t j = 0; j < d; j++) acc += S[c * d + j] * w[r * d + j];
                    u[r * dv + c] -= acc;
                }
            /* o_r = S_0 q_r + sum_{i<=r} (k_i.q_r) u~_i */
            for (int64_t r = 0; r < L; r++) {
                double *orow = oh + (t0 + r) * dv;
                for (int64_t c = 0; c < dv; c++) {
                    double acc = 0;
                    for (int64_t j = 0; j < d; j++) acc += S[c * d + j] * Q[r * d + j];
                    orow[c] = acc;
                }
                for (int64_t i = 0; i <= r; i++) {
                    double g = 0;
                    for (int64_t j = 0; j < d; j++) g += K[i * d + j] * Q[r * d + j];
                    for (int64_t c = 0; c < dv; c++) orow[c] += g * u[i * dv + c];
                }
            }
            /* S = S_0 + sum_r u~_r k_r^T */
            for (int64_t r = 0; r < L; r++)
                for (int64_t c = 0; c < dv; c++)
                    for (int64_t j = 0; j < d; j++) S[c * d + j] += u[r * dv + c] * K[r * d + j];
        }
        if (Sfin) memcpy(Sfin + h * dv * d, S, (size_t)(d * dv) * sizeof *S);
    }
    free(S);
    free(w);
    free(u);
    return 0;
}

double cb_delta_rel_err_d(const double *x, const double *y, size_t n)
{
    return cb_rel_err_dd(x, y, n);
}

double cb_delta_rel_err_f(const float *x, const double *y, size_t n)
{
    return cb_rel_err_fd(x, y, n);
}

double cb_delta_spread(const double *o, size_t n, const float *v, size_t nv)
{
    double mean = 0, var = 0, vv = 0;
    for (size_t i = 0; i < n; i++) mean += o[i];
    mean /= (double)n;
    for (size_t i = 0; i < n; i++) var += (o[i] - mean) * (o[i] - mean);
    for (size_t i = 0; i < nv; i++) vv += (double)v[i] * v[i];
    return sqrt(var / (double)n) / sqrt(vv / (double)nv);
}

/* ---- the probe ----------------------------------------------------------- */

static int get_dim(const cb_params *p, const char *name, int64_t *out, char *err, size_t errlen)
{
    double v = cb_params_get(p, name, 0);
    if (!(v >= 1 && v <= 1e6 && v == floor(v)))
        return cb_fail(err, errlen, "delta_forms: %s = %g must be an integer in [1, 1e6]", name, v);
    *out = (int64_t)v;
    return 0;
}

/* Run delta_rule/backend at kp on the float inputs and put its error against
 * y in *e. */
static int run_f32(const char *backend, cb_params *kp, const float *const x[4], const double *y, double *e,
                   char *err, size_t errlen)
{
    const cb_kernel *k = cb_kernel_find("delta_rule");
    const cb_impl *im = cb_impl_find("delta_rule", backend);
    if (!k || !im) return cb_fail(err, errlen, "delta_forms: no delta_rule/%s in the registry", backend);
    float *o = NULL;
    int64_t n = 0;
    if (cb_impl_run_arrays(k, im, kp, x, &o, &n, err, errlen)) return -1;
    *e = cb_delta_rel_err_f(o, y, (size_t)n);
    free(o);
    return 0;
}

static int probe_run(const cb_params *params, uint64_t seed, cb_metrics *ms, char *err, size_t errlen)
{
    static const int chunks[] = {1, 2, 4, 8, 16, 32, 64, 128};
    static const char *const names[4] = {"q", "k", "v", "beta"};
    cb_params p = *params;
    if (cb_params_default(&p, "H", 2) || cb_params_default(&p, "N", 1001) || cb_params_default(&p, "d", 64) ||
        cb_params_default(&p, "dv", 64))
        return cb_fail(err, errlen, "delta_forms: too many parameters");
    int64_t H = 0, N = 0, d = 0, dv = 0;
    if (get_dim(&p, "H", &H, err, errlen) || get_dim(&p, "N", &N, err, errlen) ||
        get_dim(&p, "d", &d, err, errlen) || get_dim(&p, "dv", &dv, err, errlen))
        return -1;
    if (H * N * (d > dv ? d : dv) > ((int64_t)1 << 24))
        return cb_fail(err, errlen, "delta_forms: H*N*max(d, dv) is too large for a probe");
    const size_t nq = (size_t)(H * N * d), nv = (size_t)(H * N * dv), nb = (size_t)(H * N);
    const size_t ns = (size_t)(H * d * dv);
    const size_t len[4] = {nq, nq, nv, nb};
    int rc = -1;
    float *xf[4] = {NULL, NULL, NULL, NULL};
    double *xd[4] = {NULL, NULL, NULL, NULL};
    double *orec = malloc(nv * sizeof *orec), *och = malloc(nv * sizeof *och);
    double *srec = malloc(ns * sizeof *srec), *sch = malloc(ns * sizeof *sch);
    int ok = orec && och && srec && sch;
    for (int t = 0; t < 4; t++) {
        xf[t] = malloc(len[t] * sizeof *xf[t]);
        xd[t] = malloc(len[t] * sizeof *xd[t]);
        ok = ok && xf[t] && xd[t];
    }
    if (!ok) {
        cb_fail(err, errlen, "delta_forms: out of memory");
        goto done;
    }
    for (int t = 0; t < 3; t++) cb_rng_normal(xf[t], len[t], seed, cb_rng_stream(names[t]), 1.0f);
    cb_rng_fill_uniform(xf[3], nb, seed, cb_rng_stream(names[3]), 0.05f, 0.95f);
    for (int t = 0; t < 4; t++)
        for (size_t i = 0; i < len[t]; i++) xd[t][i] = xf[t][i];
    for (size_t r = 0; r < (size_t)(H * N); r++) {   /* normalize the keys in double */
        double s = 0;
        for (int64_t j = 0; j < d; j++) s += xd[1][r * (size_t)d + (size_t)j] * xd[1][r * (size_t)d + (size_t)j];
        s = fmax(sqrt(s), 1e-12);
        for (int64_t j = 0; j < d; j++) xd[1][r * (size_t)d + (size_t)j] /= s;
    }
    if (cb_delta_recurrent_d(xd[0], xd[1], xd[2], xd[3], H, N, d, dv, orec, srec)) {
        cb_fail(err, errlen, "delta_forms: out of memory");
        goto done;
    }
    cb_params at = {0}, kp = {0};
    if (cb_params_set(&at, "N", (double)N) || cb_params_set(&at, "d", (double)d) ||
        cb_params_set(&at, "dv", (double)dv) || cb_params_set(&kp, "H", (double)H) ||
        cb_params_set(&kp, "N", (double)N) || cb_params_set(&kp, "d", (double)d) ||
        cb_params_set(&kp, "dv", (double)dv))
        goto too_many;
    const float *const xin[4] = {xf[0], xf[1], xf[2], xf[3]};
    if (cb_metrics_add(ms, "spread_recurrent", &at, cb_delta_spread(orec, nv, xf[2], nv))) goto oom;
    static const char *const once[] = {"scan", "ref"};
    for (size_t b = 0; b < sizeof once / sizeof once[0]; b++) {
        char name[CB_NAME_MAX];
        double e;
        cb_params k2 = kp;
        if (run_f32(once[b], &k2, xin, orec, &e, err, errlen)) goto done;
        snprintf(name, sizeof name, "err32_%s", once[b]);
        if (cb_metrics_add(ms, name, &at, e)) goto oom;
    }
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        cb_params atc = at;
        if (cb_params_set(&atc, "chunk", chunks[c])) goto too_many;
        if (cb_delta_chunkwise_d(xd[0], xd[1], xd[2], xd[3], H, N, d, dv, chunks[c], och, sch)) goto oom;
        if (cb_metrics_add(ms, "err64_chunk_vs_recurrent", &atc, cb_delta_rel_err_d(och, orec, nv)) ||
            cb_metrics_add(ms, "err64_state_vs_recurrent", &atc, cb_delta_rel_err_d(sch, srec, ns)))
            goto oom;
        static const char *const chunked[] = {"blas", "dnnl"};
        for (size_t b = 0; b < sizeof chunked / sizeof chunked[0]; b++) {
            char name[CB_NAME_MAX];
            double e;
            cb_params k2 = kp;
            if (cb_params_set(&k2, "chunk", chunks[c])) goto too_many;
            if (run_f32(chunked[b], &k2, xin, orec, &e, err, errlen)) goto done;
            snprintf(name, sizeof name, "err32_%s", chunked[b]);
            if (cb_metrics_add(ms, name, &atc, e)) goto oom;
        }
    }
    rc = 0;
    goto done;
too_many:
    cb_fail(err, errlen, "delta_forms: too many parameters");
    goto done;
oom:
    cb_fail(err, errlen, "delta_forms: out of memory");
done:
    for (int t = 0; t < 4; t++) {
        free(xf[t]);
        free(xd[t]);
    }
    free(orec);
    free(och);
    free(srec);
    free(sch);
    return rc;
}

const cb_probe cb_probe_delta_forms = {
    .name = "delta_forms",
    .summary = "DeltaNet: chunkwise WY/UT form vs the delta-rule recurrence (fp64 per chunk size; fp32 kernels)",
    .run = probe_run,
};
