/* galerkin_orders.c — probe: both associativity orders of softmax-free
 * attention agree, for Galerkin and for Fourier normalization.
 *
 * Cao (2021) writes attention without softmax as (Q K^T) V / N with a layer
 * normalization on two of the three operands (x~: each token row to zero
 * mean, unit variance, no affine, eps = 1e-5):
 *
 *   Galerkin  o = Q (K~^T V~) / N     normalized K, V; the order the paper
 *                                     computes: 4 N d^2 flops, linear in N
 *   Fourier   o = (Q~ K~^T) V / N     normalized Q, K; the order the paper
 *                                     computes: 4 N^2 d flops, quadratic
 *
 * Nothing non-linear sits between the products, so for either normalization
 * the two orders are the same matrix. The probe computes both orders of
 * both, in double, on the same (float-rounded) inputs and emits
 *   err64_galerkin_orders     (Q K~^T) V~/N  vs  Q (K~^T V~)/N
 *   err64_fourier_orders      (Q~ K~^T) V/N  vs  Q~ (K~^T V)/N
 * then runs the float32 implementations of the registry, each against the
 * double form of the *other* order:
 *   err32_galerkin_<ref|blas|dnnl>   galerkin_attention vs (Q K~^T) V~/N
 *   err32_fourier_<ref|blas|dnnl>    fourier_attention  vs Q~ (K~^T V)/N
 * all at {N, d}. Every error is max |x - y| / max |y| over all H N d
 * outputs (relative to the output scale).
 *
 * Params: H, N, d (defaults 2, 2048, 64). Inputs: standard normal from the
 * counter-based generator (streams "q", "k", "v"), rounded to float32 once,
 * so both precisions see the same numbers and err32 measures only the
 * float32 arithmetic. The normalizations are computed in double from those
 * floats by cb_layernorm_row_d (the ref kernels use the same one).
 * Cost: two O(H N^2 d) double products plus the ref Fourier kernel, about
 * 2 s at the defaults.
 */
#include "common/relerr.h"
#include "kernel.h"
#include "rng.h"
#include "common/layernorm_rows.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* o = (A B^T) C / N per head, the quadratic order: A, B [N, d] and C [N, d]
 * in double; w is scratch of N. */
static void order_quadratic(const double *A, const double *B, const double *C, int64_t H, int64_t N,
                            int64_t d, double *w, double *o)
{
    for (int64_t h = 0; h < H; h++) {
        const double *a = A + h * N * d, *b = B + h * N * d, *c = C + h * N * d;
        for (int64_t i = 0; i < N; i++) {
            for (int64_t j = 0; j < N; j++) {
                double s = 0;
                for (int64_t e = 0; e < d; e++)
                    s += a[i * d + e] * b[j * d + e];
                w[j] = s;
            }
            double *oi = o + (h * N + i) * d;
            memset(oi, 0, (size_t)d * sizeof *oi);
            for (int64_t j = 0; j < N; j++)
                for (int64_t e = 0; e < d; e++)
                    oi[e] += w[j] * c[j * d + e];
            for (int64_t e = 0; e < d; e++)
                oi[e] /= (double)N;
        }
    }
}

/* o = A (B^T C) / N per head, the linear order; S is scratch of d x d. */
static void order_linear(const double *A, const double *B, const double *C, int64_t H, int64_t N,
                         int64_t d, double *S, double *o)
{
    for (int64_t h = 0; h < H; h++) {
        const double *a = A + h * N * d, *b = B + h * N * d, *c = C + h * N * d;
        memset(S, 0, (size_t)(d * d) * sizeof *S);
        for (int64_t j = 0; j < N; j++)
            for (int64_t e = 0; e < d; e++)
                for (int64_t f = 0; f < d; f++)
                    S[e * d + f] += b[j * d + e] * c[j * d + f];
        for (int64_t i = 0; i < N; i++)
            for (int64_t f = 0; f < d; f++) {
                double s = 0;
                for (int64_t e = 0; e < d; e++)
                    s += a[i * d + e] * S[e * d + f];
                o[(h * N + i) * d + f] = s / (double)N;
            }
    }
}

/* Run kernel/backend at kp on the float inputs x and put its error against
 * y in *e. */
static int run_f32(const char *kernel, const char *backend, cb_params *kp, const float *const x[3],
                   const double *y, double *e, char *err, size_t errlen)
{
    const cb_kernel *k = cb_kernel_find(kernel);
    const cb_impl *im = cb_impl_find(kernel, backend);
    if (!k || !im)
        return cb_fail(err, errlen, "galerkin_orders: no %s/%s in the registry", kernel, backend);
    float *o = NULL;
    int64_t n = 0;
    if (cb_impl_run_arrays(k, im, kp, x, &o, &n, err, errlen))
        return -1;
    *e = cb_rel_err_fd(o, y, (size_t)n);
    free(o);
    return 0;
}

static int get_dim(const cb_params *p, const char *name, int64_t *out, char *err, size_t errlen)
{
    double v = cb_params_get(p, name, 0);
    if (!(v >= 1 && v <= 1e6 && v == floor(v)))
        return cb_fail(err, errlen, "galerkin_orders: %s = %g must be an integer in [1, 1e6]", name, v);
    *out = (int64_t)v;
    return 0;
}

static int probe_run(const cb_params *params, uint64_t seed, cb_metrics *ms, char *err, size_t errlen)
{
    static const char *const backends[] = {"ref", "blas", "dnnl"};
    cb_params p = *params;
    if (cb_params_default(&p, "H", 2) || cb_params_default(&p, "N", 2048) || cb_params_default(&p, "d", 64))
        return cb_fail(err, errlen, "galerkin_orders: too many parameters");
    int64_t H = 0, N = 0, d = 0;
    if (get_dim(&p, "H", &H, err, errlen) || get_dim(&p, "N", &N, err, errlen) ||
        get_dim(&p, "d", &d, err, errlen))
        return -1;
    if (H * N * d > ((int64_t)1 << 26))
        return cb_fail(err, errlen, "galerkin_orders: H*N*d = %lld is too large for a probe",
                       (long long)(H * N * d));
    const size_t n = (size_t)(H * N * d);
    int rc = -1;
    float *xf[3] = {NULL, NULL, NULL};
    double *raw[3] = {NULL, NULL, NULL}, *nrm[3] = {NULL, NULL, NULL};
    double *quad = malloc(n * sizeof *quad), *lin = malloc(n * sizeof *lin);
    double *w = malloc((size_t)N * sizeof *w), *S = malloc((size_t)(d * d) * sizeof *S);
    int ok = quad && lin && w && S;
    for (int t = 0; t < 3; t++) {
        xf[t] = malloc(n * sizeof *xf[t]);
        raw[t] = malloc(n * sizeof *raw[t]);
        nrm[t] = malloc(n * sizeof *nrm[t]);
        ok = ok && xf[t] && raw[t] && nrm[t];
    }
    cb_params at = {0};
    if (!ok) {
        cb_fail(err, errlen, "galerkin_orders: out of memory");
        goto done;
    }
    /* inputs rounded to float once; raw (double of the floats) and the
     * normalized rows in double */
    static const char *const names[3] = {"q", "k", "v"};
    for (int t = 0; t < 3; t++) {
        cb_rng_normal(xf[t], n, seed, cb_rng_stream(names[t]), 1.0f);
        for (size_t i = 0; i < n; i++)
            raw[t][i] = xf[t][i];
        for (size_t r = 0; r < n / (size_t)d; r++)
            cb_layernorm_row_d(xf[t] + r * (size_t)d, nrm[t] + r * (size_t)d, (size_t)d, CB_LN_EPS);
    }
    if (cb_params_set(&at, "N", (double)N) || cb_params_set(&at, "d", (double)d)) {
        cb_fail(err, errlen, "galerkin_orders: too many parameters");
        goto done;
    }
    cb_params kp = {0};
    if (cb_params_set(&kp, "H", (double)H) || cb_params_set(&kp, "N", (double)N) ||
        cb_params_set(&kp, "d", (double)d)) {
        cb_fail(err, errlen, "galerkin_orders: too many parameters");
        goto done;
    }
    const float *const xin[3] = {xf[0], xf[1], xf[2]};

    /* Galerkin: Q, K~, V~ */
    order_quadratic(raw[0], nrm[1], nrm[2], H, N, d, w, quad);
    order_linear(raw[0], nrm[1], nrm[2], H, N, d, S, lin);
    if (cb_metrics_add(ms, "err64_galerkin_orders", &at, cb_rel_err_dd(lin, quad, n)))
        goto oom;
    for (size_t b = 0; b < sizeof backends / sizeof backends[0]; b++) {
        char name[CB_NAME_MAX];
        double e;
        cb_params k2 = kp;
        if (run_f32("galerkin_attention", backends[b], &k2, xin, quad, &e, err, errlen))
            goto done;
        snprintf(name, sizeof name, "err32_galerkin_%s", backends[b]);
        if (cb_metrics_add(ms, name, &at, e))
            goto oom;
    }

    /* Fourier: Q~, K~, V */
    order_quadratic(nrm[0], nrm[1], raw[2], H, N, d, w, quad);
    order_linear(nrm[0], nrm[1], raw[2], H, N, d, S, lin);
    if (cb_metrics_add(ms, "err64_fourier_orders", &at, cb_rel_err_dd(quad, lin, n)))
        goto oom;
    for (size_t b = 0; b < sizeof backends / sizeof backends[0]; b++) {
        char name[CB_NAME_MAX];
        double e;
        cb_params k2 = kp;
        if (run_f32("fourier_attention", backends[b], &k2, xin, lin, &e, err, errlen))
            goto done;
        snprintf(name, sizeof name, "err32_fourier_%s", backends[b]);
        if (cb_metrics_add(ms, name, &at, e))
            goto oom;
    }
    rc = 0;
    goto done;
oom:
    cb_fail(err, errlen, "galerkin_orders: out of memory");
done:
    free(quad);
    free(lin);
    free(w);
    free(S);
    for (int t = 0; t < 3; t++) {
        free(xf[t]);
        free(raw[t]);
        free(nrm[t]);
    }
    return rc;
}

const cb_probe cb_probe_galerkin_orders = {
    .name = "galerkin_orders",
    .summary = "softmax-free attention: (Q K^T) V / N == Q (K^T V) / N, Galerkin and Fourier normalization (fp64, fp32)",
    .run = probe_run,
};
