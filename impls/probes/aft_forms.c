/* aft_forms.c — probe: AFT-full's fast form is exact, and AFT-simple is its
 * w = 0 case.
 *
 * Zhai et al. (2021) compute AFT-full (Eq. 2),
 *   o_tc = sigmoid(q_tc) Σ_t' exp(k_t'c + w_t,t') v_t'c / Σ_t' exp(k_t'c + w_t,t'),
 * without its N × N × d weights through exp(k + w) = exp(w) exp(k): two
 * matrix products exp(W) (exp(K) ⊙ V) and exp(W) exp(K). The probe writes
 * both forms in double, below:
 *   direct      one softmax per (t, c), shifted by its own maximum
 *   factorized  exp(W - row max of W) times exp(K - column max of K)
 * and emits their difference, with k and w drawn at scale 1 and at scale
 * 10 (logits up to ~±50: the shifts must carry the range):
 *   err64_factorized_vs_direct            at {N, d, scale}
 * then runs the float32 aft_full of every backend on the same numbers:
 *   err32_aft_full_<ref|blas|dnnl>        at {N, d}      (scale 1)
 * and checks the paper's definition of AFT-simple as AFT with no position
 * bias: aft_full of every backend with w = 0 against AFT-simple in double:
 *   err32_full_w0_vs_simple_<b>           at {N, d}
 * Every error is max |x - y| / max |y| (relative to the output scale).
 *
 * Params: N (default 512), d (default 64). Inputs: standard normal from the
 * counter-based generator (streams "q", "k", "v", "w"), rounded to float32
 * once, so both precisions see the same numbers.
 */
#include "common/relerr.h"
#include "kernel.h"
#include "rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct forms {
    int64_t N, d;
    const double *q, *k, *v, *w;   /* [N,d] x3, [N,N] */
} forms;

static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

/* Eq. 2 with one maximum per (t, c). m, num, den: scratch of d doubles. */
static void form_direct(const forms *f, double *o, double *m, double *num, double *den)
{
    const int64_t N = f->N, d = f->d;
    for (int64_t t = 0; t < N; t++) {
        for (int64_t c = 0; c < d; c++) {
            m[c] = -INFINITY;
            num[c] = den[c] = 0;
        }
        for (int64_t u = 0; u < N; u++)
            for (int64_t c = 0; c < d; c++)
                if (f->k[u * d + c] + f->w[t * N + u] > m[c]) m[c] = f->k[u * d + c] + f->w[t * N + u];
        for (int64_t u = 0; u < N; u++)
            for (int64_t c = 0; c < d; c++) {
                double e = exp(f->k[u * d + c] + f->w[t * N + u] - m[c]);
                num[c] += e * f->v[u * d + c];
                den[c] += e;
            }
        for (int64_t c = 0; c < d; c++)
            o[t * d + c] = sigmoid(f->q[t * d + c]) * num[c] / den[c];
    }
}

/* The factorized form: X = exp(W - mw), E = exp(K - mk), then the two
 * products row by row. E: N*d scratch, x: N, mk/num/den: d. */
static void form_factorized(const forms *f, double *o, double *E, double *x, double *mk, double *num,
                            double *den)
{
    const int64_t N = f->N, d = f->d;
    for (int64_t c = 0; c < d; c++)
        mk[c] = -INFINITY;
    for (int64_t u = 0; u < N; u++)
        for (int64_t c = 0; c < d; c++)
            if (f->k[u * d + c] > mk[c]) mk[c] = f->k[u * d + c];
    for (int64_t u = 0; u < N; u++)
        for (int64_t c = 0; c < d; c++)
            E[u * d + c] = exp(f->k[u * d + c] - mk[c]);
    for (int64_t t = 0; t < N; t++) {
        double mw = -INFINITY;
        for (int64_t u = 0; u < N; u++)
            if (f->w[t * N + u] > mw) mw = f->w[t * N + u];
        for (int64_t u = 0; u < N; u++)
            x[u] = exp(f->w[t * N + u] - mw);
        for (int64_t c = 0; c < d; c++)
            num[c] = den[c] = 0;
        for (int64_t u = 0; u < N; u++)
            for (int64_t c = 0; c < d; c++) {
                num[c] += x[u] * E[u * d + c] * f->v[u * d + c];
                den[c] += x[u] * E[u * d + c];
            }
        for (int64_t c = 0; c < d; c++)
            o[t * d + c] = sigmoid(f->q[t * d + c]) * num[c] / den[c];
    }
}

/* AFT-simple in double (softmax over tokens per channel, then the gate). */
static void form_simple(const forms *f, double *o, double *m, double *num, double *den)
{
    const int64_t N = f->N, d = f->d;
    for (int64_t c = 0; c < d; c++) {
        m[c] = -INFINITY;
        num[c] = den[c] = 0;
    }
    for (int64_t u = 0; u < N; u++)
        for (int64_t c = 0; c < d; c++)
            if (f->k[u * d + c] > m[c]) m[c] = f->k[u * d + c];
    for (int64_t u = 0; u < N; u++)
        for (int64_t c = 0; c < d; c++) {
            double e = exp(f->k[u * d + c] - m[c]);
            num[c] += e * f->v[u * d + c];
            den[c] += e;
        }
    for (int64_t t = 0; t < N; t++)
        for (int64_t c = 0; c < d; c++)
            o[t * d + c] = sigmoid(f->q[t * d + c]) * num[c] / den[c];
}

/* Run aft_full/<backend> at {N, d} on float inputs x[4] and return its
 * error against the double output y in *e. */
static int run_full(const char *backend, int64_t N, int64_t d, const float *const x[4], const double *y,
                    double *e, char *err, size_t errlen)
{
    const cb_kernel *k = cb_kernel_find("aft_full");
    const cb_impl *im = cb_impl_find("aft_full", backend);
    if (!k || !im)
        return cb_fail(err, errlen, "aft_forms: no aft_full/%s in the registry", backend);
    cb_params kp = {0};
    if (cb_params_set(&kp, "N", (double)N) || cb_params_set(&kp, "d", (double)d))
        return cb_fail(err, errlen, "aft_forms: too many parameters");
    float *o = NULL;
    int64_t n = 0;
    if (cb_impl_run_arrays(k, im, &kp, x, &o, &n, err, errlen))
        return -1;
    *e = cb_rel_err_fd(o, y, (size_t)n);
    free(o);
    return 0;
}

static int get_dim(cb_params *p, const char *name, int64_t *out, char *err, size_t errlen)
{
    double v = cb_params_get(p, name, 0);
    if (!(v >= 1 && v <= 1e5 && v == floor(v)))
        return cb_fail(err, errlen, "aft_forms: %s = %g must be an integer in [1, 1e5]", name, v);
    *out = (int64_t)v;
    return 0;
}

static int probe_run(const cb_params *params, uint64_t seed, cb_metrics *ms, char *err, size_t errlen)
{
    static const char *const backends[] = {"ref", "blas", "dnnl"};
    static const double scales[] = {1, 10};
    cb_params p = *params;
    if (cb_params_default(&p, "N", 512) || cb_params_default(&p, "d", 64))
        return cb_fail(err, errlen, "aft_forms: too many parameters");
    int64_t N = 0, d = 0;
    if (get_dim(&p, "N", &N, err, errlen) || get_dim(&p, "d", &d, err, errlen))
        return -1;
    const size_t nd = (size_t)(N * d), nn = (size_t)(N * N);
    int rc = -1;
    double *qd = malloc(nd * sizeof *qd), *kd = malloc(nd * sizeof *kd), *vd = malloc(nd * sizeof *vd);
    double *wd = malloc(nn * sizeof *wd), *ks = malloc(nd * sizeof *ks), *ws = malloc(nn * sizeof *ws);
    double *y = malloc(nd * sizeof *y), *x = malloc(nd * sizeof *x), *E = malloc(nd * sizeof *E);
    double *row = malloc((size_t)N * sizeof *row), *m = malloc((size_t)d * sizeof *m);
    double *num = malloc((size_t)d * sizeof *num), *den = malloc((size_t)d * sizeof *den);
    float *qf = malloc(nd * sizeof *qf), *kf = malloc(nd * sizeof *kf), *vf = malloc(nd * sizeof *vf);
    float *wf = malloc(nn * sizeof *wf), *zf = calloc(nn, sizeof *zf);
    if (!qd || !kd || !vd || !wd || !ks || !ws || !y || !x || !E || !row || !m || !num || !den || !qf ||
        !kf || !vf || !wf || !zf) {
        cb_fail(err, errlen, "aft_forms: out of memory");
        goto done;
    }
    /* inputs, rounded to float32 once; the double forms use the rounded values */
    cb_rng_normal_d(qd, nd, seed, cb_rng_stream("q"), 1.0);
    cb_rng_normal_d(kd, nd, seed, cb_rng_stream("k"), 1.0);
    cb_rng_normal_d(vd, nd, seed, cb_rng_stream("v"), 1.0);
    cb_rng_normal_d(wd, nn, seed, cb_rng_stream("w"), 1.0);
    for (size_t i = 0; i < nd; i++) {
        qf[i] = (float)qd[i];
        kf[i] = (float)kd[i];
        vf[i] = (float)vd[i];
        qd[i] = qf[i];
        kd[i] = kf[i];
        vd[i] = vf[i];
    }
    for (size_t i = 0; i < nn; i++) {
        wf[i] = (float)wd[i];
        wd[i] = wf[i];
    }

    cb_params at = {0};
    if (cb_params_set(&at, "N", (double)N) || cb_params_set(&at, "d", (double)d))
        goto fail_params;
    for (size_t s = 0; s < sizeof scales / sizeof scales[0]; s++) {
        for (size_t i = 0; i < nd; i++)
            ks[i] = scales[s] * kd[i];
        for (size_t i = 0; i < nn; i++)
            ws[i] = scales[s] * wd[i];
        forms f = {N, d, qd, ks, vd, ws};
        form_direct(&f, y, m, num, den);
        form_factorized(&f, x, E, row, m, num, den);
        cb_params as = at;
        if (cb_params_set(&as, "scale", scales[s]))
            goto fail_params;
        if (cb_metrics_add(ms, "err64_factorized_vs_direct", &as, cb_rel_err_dd(x, y, nd)))
            goto fail_mem;
    }
    /* float32 kernels against the direct double form, scale 1 */
    forms f1 = {N, d, qd, kd, vd, wd};
    form_direct(&f1, y, m, num, den);
    const float *const xin[4] = {qf, kf, vf, wf};
    for (size_t b = 0; b < sizeof backends / sizeof backends[0]; b++) {
        double e;
        char name[CB_NAME_MAX];
        if (run_full(backends[b], N, d, xin, y, &e, err, errlen))
            goto done;
        snprintf(name, sizeof name, "err32_aft_full_%s", backends[b]);
        if (cb_metrics_add(ms, name, &at, e))
            goto fail_mem;
    }
    /* AFT-simple is AFT-full with w = 0 */
    form_simple(&f1, y, m, num, den);
    const float *const xzero[4] = {qf, kf, vf, zf};
    for (size_t b = 0; b < sizeof backends / sizeof backends[0]; b++) {
        double e;
        char name[CB_NAME_MAX];
        if (run_full(backends[b], N, d, xzero, y, &e, err, errlen))
            goto done;
        snprintf(name, sizeof name, "err32_full_w0_vs_simple_%s", backends[b]);
        if (cb_metrics_add(ms, name, &at, e))
            goto fail_mem;
    }
    rc = 0;
    goto done;
fail_params:
    cb_fail(err, errlen, "aft_forms: too many parameters");
    goto done;
fail_mem:
    cb_fail(err, errlen, "aft_forms: out of memory");
done:
    free(qd);
    free(kd);
    free(vd);
    free(wd);
    free(ks);
    free(ws);
    free(y);
    free(x);
    free(E);
    free(row);
    free(m);
    free(num);
    free(den);
    free(qf);
    free(kf);
    free(vf);
    free(wf);
    free(zf);
    return rc;
}

const cb_probe cb_probe_aft_forms = {
    .name = "aft_forms",
    .summary = "AFT-full: factorized exp(W)(exp(K)*V) form = direct Eq. 2 (fp64, fp32); AFT-simple = AFT-full with w = 0",
    .run = probe_run,
};
