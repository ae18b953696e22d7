/* causal_forms.c — probe: the three forms of causal linear attention agree.
 *
 * Katharopoulos et al. (2020) compute causal linear attention, with
 * phi(x) = elu(x) + 1 and one head's q, k [N, d], v [N, dv], in three
 * algebraically equal ways:
 *
 *   parallel   o_i = sum_{j<=i} (phi(q_i).phi(k_j)) v_j / sum_{j<=i} phi(q_i).phi(k_j)
 *              (the masked N x N form, O(N^2))
 *   recurrent  S += phi(k_i) v_i^T, z += phi(k_i), o_i = phi(q_i)^T S / phi(q_i).z
 *              (the RNN form, O(N d dv))
 *   chunked    blocks of C rows: inside a block the masked form, across
 *              blocks the state S, z (what the optimized backends compute)
 *
 * The probe writes all three in double, below, and emits their difference
 *   err64_recurrent_vs_parallel                 at {N}
 *   err64_chunked_vs_parallel                   at {N, chunk}, chunk in 16, 32, 64, 128
 * then runs the float32 implementations on the same numbers and emits
 *   err32_linear_attention_<blas|dnnl>          at {N, chunk}   (causal = 1)
 *   err32_linear_decode_<ref|blas|dnnl>         at {N}
 * each against the double parallel form. Every error is
 *   max_{h,i,c} |x - y| / max_{h,i,c} |y|       (relative to the output scale).
 *
 * Params: H, d, dv (default H = 2, d = 64, dv = d) and N (default 1024).
 * Inputs: standard normal from the counter-based generator (streams "q",
 * "k", "v"), rounded to float32 once, so both precisions see the same
 * numbers and err32 measures only the float32 arithmetic.
 */
#include "common/relerr.h"
#include "kernel.h"
#include "rng.h"
#include "ref/feature_map.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct forms {
    int64_t H, N, d, dv;
    double *fq, *fk, *v;     /* phi(q), phi(k) [H,N,d]; v [H,N,dv] */
} forms;

static double dot(const double *a, const double *b, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* The masked O(N^2) form. */
static void form_parallel(const forms *f, double *o)
{
    const int64_t N = f->N, d = f->d, dv = f->dv;
    for (int64_t h = 0; h < f->H; h++) {
        const double *fq = f->fq + h * N * d, *fk = f->fk + h * N * d, *v = f->v + h * N * dv;
        for (int64_t i = 0; i < N; i++) {
            double *oi = o + (h * N + i) * dv, den = 0;
            memset(oi, 0, (size_t)dv * sizeof *oi);
            for (int64_t j = 0; j <= i; j++) {
                double w = dot(fq + i * d, fk + j * d, d);
                den += w;
                for (int64_t c = 0; c < dv; c++)
                    oi[c] += w * v[j * dv + c];
            }
            for (int64_t c = 0; c < dv; c++)
                oi[c] /= den;
        }
    }
}

/* o_i = (phi(q_i)^T S + num_i) / (phi(q_i).z + den_i): the read of the state
 * S (d x dv), z (d), plus what the caller already summed into o_i, den_i. */
static void read_state(const double *fq, const double *S, const double *z, int64_t d, int64_t dv,
                       double *oi, double den)
{
    den += dot(fq, z, d);
    for (int64_t c = 0; c < dv; c++) {
        double num = oi[c];
        for (int64_t a = 0; a < d; a++)
            num += fq[a] * S[a * dv + c];
        oi[c] = num / den;
    }
}

/* S += phi(k) v^T, z += phi(k). */
static void absorb(double *S, double *z, const double *fk, const double *v, int64_t d, int64_t dv)
{
    for (int64_t a = 0; a < d; a++) {
        z[a] += fk[a];
        for (int64_t c = 0; c < dv; c++)
            S[a * dv + c] += fk[a] * v[c];
    }
}

/* The RNN form. S, z: scratch of d*dv and d doubles. */
static void form_recurrent(const forms *f, double *o, double *S, double *z)
{
    const int64_t N = f->N, d = f->d, dv = f->dv;
    for (int64_t h = 0; h < f->H; h++) {
        const double *fq = f->fq + h * N * d, *fk = f->fk + h * N * d, *v = f->v + h * N * dv;
        memset(S, 0, (size_t)(d * dv) * sizeof *S);
        memset(z, 0, (size_t)d * sizeof *z);
        for (int64_t i = 0; i < N; i++) {
            absorb(S, z, fk + i * d, v + i * dv, d, dv);
            double *oi = o + (h * N + i) * dv;
            memset(oi, 0, (size_t)dv * sizeof *oi);
            read_state(fq + i * d, S, z, d, dv, oi, 0.0);
        }
    }
}

/* The chunked form with blocks of C rows: masked inside a block, the state
 * of all earlier blocks across them. */
static void form_chunked(const forms *f, int64_t C, double *o, double *S, double *z)
{
    const int64_t N = f->N, d = f->d, dv = f->dv;
    for (int64_t h = 0; h < f->H; h++) {
        const double *fq = f->fq + h * N * d, *fk = f->fk + h * N * d, *v = f->v + h * N * dv;
        memset(S, 0, (size_t)(d * dv) * sizeof *S);
        memset(z, 0, (size_t)d * sizeof *z);
        for (int64_t r0 = 0; r0 < N; r0 += C) {
            const int64_t r1 = r0 + C < N ? r0 + C : N;
            for (int64_t i = r0; i < r1; i++) {
                double *oi = o + (h * N + i) * dv, den = 0;
                memset(oi, 0, (size_t)dv * sizeof *oi);
                for (int64_t j = r0; j <= i; j++) {   /* intra-chunk, masked */
                    double w = dot(fq + i * d, fk + j * d, d);
                    den += w;
                    for (int64_t c = 0; c < dv; c++)
                        oi[c] += w * v[j * dv + c];
                }
                read_state(fq + i * d, S, z, d, dv, oi, den);   /* + earlier chunks */
            }
            for (int64_t j = r0; j < r1; j++)
                absorb(S, z, fk + j * d, v + j * dv, d, dv);
        }
    }
}

/* Run one float32 implementation of `kernel` at params kp on inputs
 * (qf, kf, vf) and return its error against the double output y in *e. */
static int run_f32(const char *kernel, const char *backend, cb_params *kp, const float *const x[3],
                   const double *y, double *e, char *err, size_t errlen)
{
    const cb_kernel *k = cb_kernel_find(kernel);
    const cb_impl *im = cb_impl_find(kernel, backend);
    if (!k || !im)
        return cb_fail(err, errlen, "causal_forms: no %s/%s in the registry", kernel, backend);
    float *o = NULL;
    int64_t n = 0;
    if (cb_impl_run_arrays(k, im, kp, x, &o, &n, err, errlen))
        return -1;
    *e = cb_rel_err_fd(o, y, (size_t)n);
    free(o);
    return 0;
}

static int get_dim(cb_params *p, const char *name, int64_t *out, char *err, size_t errlen)
{
    double v = cb_params_get(p, name, 0);
    if (!(v >= 1 && v <= 1e9 && v == floor(v)))
        return cb_fail(err, errlen, "causal_forms: %s = %g must be an integer >= 1", name, v);
    *out = (int64_t)v;
    return 0;
}

static int probe_run(const cb_params *params, uint64_t seed, cb_metrics *ms, char *err, size_t errlen)
{
    static const int64_t chunks[] = {16, 32, 64, 128};
    static const char *const la_backends[] = {"blas", "dnnl"};
    static const char *const ld_backends[] = {"ref", "blas", "dnnl"};
    cb_params p = *params;
    if (cb_params_default(&p, "H", 2) || cb_params_default(&p, "d", 64) ||
        cb_params_default(&p, "N", 1024))
        return cb_fail(err, errlen, "causal_forms: too many parameters");
    if (cb_params_default(&p, "dv", cb_params_get(&p, "d", 64)))
        return cb_fail(err, errlen, "causal_forms: too many parameters");
    forms f = {0};
    cb_params at = {0}, at_n = {0};
    if (get_dim(&p, "H", &f.H, err, errlen) || get_dim(&p, "N", &f.N, err, errlen) ||
        get_dim(&p, "d", &f.d, err, errlen) || get_dim(&p, "dv", &f.dv, err, errlen))
        return -1;
    const size_t nqk = (size_t)(f.H * f.N * f.d), nv = (size_t)(f.H * f.N * f.dv);
    int rc = -1;
    double *y = malloc(nv * sizeof *y), *x = malloc(nv * sizeof *x);
    double *S = malloc((size_t)(f.d * f.dv) * sizeof *S), *z = malloc((size_t)f.d * sizeof *z);
    f.fq = malloc(nqk * sizeof *f.fq);
    f.fk = malloc(nqk * sizeof *f.fk);
    f.v = malloc(nv * sizeof *f.v);
    float *qf = malloc(nqk * sizeof *qf), *kf = malloc(nqk * sizeof *kf), *vf = malloc(nv * sizeof *vf);
    const float *const xin[3] = {qf, kf, vf};
    if (!y || !x || !S || !z || !f.fq || !f.fk || !f.v || !qf || !kf || !vf) {
        cb_fail(err, errlen, "causal_forms: out of memory");
        goto done;
    }
    /* inputs, rounded to float32 once; phi in double of the rounded values */
    cb_rng_normal_d(f.fq, nqk, seed, cb_rng_stream("q"), 1.0);
    cb_rng_normal_d(f.fk, nqk, seed, cb_rng_stream("k"), 1.0);
    cb_rng_normal_d(f.v, nv, seed, cb_rng_stream("v"), 1.0);
    for (size_t i = 0; i < nqk; i++) {
        qf[i] = (float)f.fq[i];
        kf[i] = (float)f.fk[i];
        f.fq[i] = cb_phi(qf[i]);
        f.fk[i] = cb_phi(kf[i]);
    }
    for (size_t i = 0; i < nv; i++) {
        vf[i] = (float)f.v[i];
        f.v[i] = vf[i];
    }

    if (cb_params_set(&at, "N", (double)f.N) || cb_params_set(&at_n, "N", (double)f.N))
        goto fail_params;
    form_parallel(&f, y);
    form_recurrent(&f, x, S, z);
    if (cb_metrics_add(ms, "err64_recurrent_vs_parallel", &at, cb_rel_err_dd(x, y, nv)))
        goto fail_mem;
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        form_chunked(&f, chunks[c], x, S, z);
        if (cb_params_set(&at, "chunk", (double)chunks[c]))
            goto fail_params;
        if (cb_metrics_add(ms, "err64_chunked_vs_parallel", &at, cb_rel_err_dd(x, y, nv)))
            goto fail_mem;
    }

    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        for (size_t b = 0; b < sizeof la_backends / sizeof la_backends[0]; b++) {
            cb_params kp = {0};
            double e;
            char name[CB_NAME_MAX];
            if (cb_params_set(&kp, "H", (double)f.H) || cb_params_set(&kp, "N", (double)f.N) ||
                cb_params_set(&kp, "d", (double)f.d) || cb_params_set(&kp, "dv", (double)f.dv) ||
                cb_params_set(&kp, "causal", 1) || cb_params_set(&kp, "chunk", (double)chunks[c]) ||
                cb_params_set(&at, "chunk", (double)chunks[c]))
                goto fail_params;
            if (run_f32("linear_attention", la_backends[b], &kp, xin, y, &e, err, errlen))
                goto done;
            snprintf(name, sizeof name, "err32_linear_attention_%s", la_backends[b]);
            if (cb_metrics_add(ms, name, &at, e))
                goto fail_mem;
        }
    }
    for (size_t b = 0; b < sizeof ld_backends / sizeof ld_backends[0]; b++) {
        cb_params kp = {0};
        double e;
        char name[CB_NAME_MAX];
        if (cb_params_set(&kp, "H", (double)f.H) || cb_params_set(&kp, "N", (double)f.N) ||
            cb_params_set(&kp, "d", (double)f.d) || cb_params_set(&kp, "dv", (double)f.dv))
            goto fail_params;
        if (run_f32("linear_decode", ld_backends[b], &kp, xin, y, &e, err, errlen))
            goto done;
        snprintf(name, sizeof name, "err32_linear_decode_%s", ld_backends[b]);
        if (cb_metrics_add(ms, name, &at_n, e))
            goto fail_mem;
    }
    rc = 0;
    goto done;
fail_params:
    cb_fail(err, errlen, "causal_forms: too many parameters");
    goto done;
fail_mem:
    cb_fail(err, errlen, "causal_forms: out of memory");
done:
    free(y);
    free(x);
    free(S);
    free(z);
    free(f.fq);
    free(f.fk);
    free(f.v);
    free(qf);
    free(kf);
    free(vf);
    return rc;
}

const cb_probe cb_probe_causal_forms = {
    .name = "causal_forms",
    .summary = "causal linear attention: parallel (masked), chunked and recurrent forms agree (fp64, fp32)",
    .run = probe_run,
};
