/* int4_quant_error.c — probe: how much the Hadamard rotation lowers the
 * INT4 quantization error of activations with outlier channels, and of the
 * GEMM that consumes them (Xi et al. 2023, "Training Transformers with
 * 4-bit Integers", the forward-pass Hadamard quantizer).
 *
 * Data (seeded, counter-based): X [M, K] standard normal, with n_out
 * channels (columns, chosen at random once) multiplied by `outlier`, as the
 * outlier channels of transformer activations; W [K, N] standard normal.
 * Three cases: outlier = 1 (no outliers), scale_a and scale_b.
 *
 * Quantizers: symmetric per-row INT4, levels -7..7, step max|row|/7, round
 * half to even. X is quantized per token (row), W per output channel (column
 * of W, along K). The Hadamard variant rotates both along K first,
 * X' = X H/sqrt(K), W' = H W/sqrt(K), so X' W' = X W (H H = K I), quantizes
 * X' and W', multiplies the INT4 levels exactly and applies the scales:
 *   Y^ = diag(sx) (qx qw) diag(sw).
 * That is the paper's forward pass: the GEMM runs on the rotated integer
 * operands, and nothing is rotated back.
 *
 * Metrics, at {M, K, N, outlier} (and the kernels they come from):
 *   mse_plain, mse_had     sum (xhat - x)^2 / sum x^2 for X, xhat from the
 *                          quant_int4 kernel (fwht backend) with hadamard 0/1
 *   mse_ratio              mse_had / mse_plain
 *   gemm_err_plain/_had    ||Y^ - X W||_F / ||X W||_F, X W in double, the
 *                          integer product from int4_gemm (dnnl backend), X'
 *                          and W' from the hadamard kernel (fwht backend)
 *   gemm_ratio             gemm_err_had / gemm_err_plain
 * and once, at {M, K, N}:
 *   int_gemm_blas_maxdiff, int_gemm_dnnl_maxdiff   max |C - C_ref| over every
 *                          integer product above, against int4_gemm ref
 *                          (must be exactly 0)
 *   fwht_vs_dense          max |X'_fwht - X'_dense| / max |X'_dense| on the
 *                          first 16 rows at the largest outlier scale, X'_dense
 *                          the dense rotation in double written here
 *   quant_fwht_vs_ref      max |xhat_fwht - xhat_ref| / max |xhat_ref| of
 *                          quant_int4 on those rows, both hadamard values
 *
 * Params: M, K, N, n_out, scale_a, scale_b (defaults 512, 1024, 256, 10, 10,
 * 50); K a power of two. About 1-2 s at the defaults (the int64 reference
 * products dominate).
 */
#include "common/relerr.h"
#include "kernel.h"
#include "rng.h"
#include "common/fwht.h"
#include "probes/int4_quant_error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROBE_CHECK_ROWS 16

double cb_int4_rel_sq_err(const float *xhat, const float *x, size_t n)
{
    double e = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)xhat[i] - (double)x[i];
        e += d * d;
        s += (double)x[i] * (double)x[i];
    }
    return e / s;
}

double cb_int4_rel_fro_err(const double *y, const double *ref, size_t n)
{
    double e = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        double d = y[i] - ref[i];
        e += d * d;
        s += ref[i] * ref[i];
    }
    return sqrt(e / s);
}

/* q = INT4 levels of one row v of length K (written independently of the
 * kernels): step = max|v|/7, q = clamp(rint(v/step), -7, 7). Returns step. */
static double levels_row(const float *v, float *q, int64_t K)
{
    double mx = 0;
    for (int64_t j = 0; j < K; j++)
        if (fabs((double)v[j]) > mx) mx = fabs((double)v[j]);
    double step = mx / 7.0;
    for (int64_t j = 0; j < K; j++) {
        double r = step > 0 ? rint((double)v[j] / step) : 0;
        q[j] = (float)(r > 7 ? 7 : r < -7 ? -7 : r);
    }
    return step;
}

static void transpose(const float *a, float *b, int64_t rows, int64_t cols)
{
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++)
            b[j * rows + i] = a[i * cols + j];
}

/* Run kernel/backend on `in` with params kp; *out is malloc'd. */
static int run_k(const char *kernel, const char *backend, cb_params kp, const float *const *in, float **out,
                 char *err, size_t errlen)
{
    const cb_kernel *k = cb_kernel_find(kernel);
    const cb_impl *im = cb_impl_find(kernel, backend);
    if (!k || !im)
        return cb_fail(err, errlen, "int4_quant_error: no %s/%s in the registry", kernel, backend);
    int64_t n = 0;
    return cb_impl_run_arrays(k, im, &kp, in, out, &n, err, errlen);
}

static int get_int(const cb_params *p, const char *name, int64_t lo, int64_t hi, int64_t *out, char *err,
                   size_t errlen)
{
    double v = cb_params_get(p, name, 0);
    if (!(v >= (double)lo && v <= (double)hi && v == floor(v)))
        return cb_fail(err, errlen, "int4_quant_error: %s = %g must be an integer in [%lld, %lld]", name, v,
                       (long long)lo, (long long)hi);
    *out = (int64_t)v;
    return 0;
}

typedef struct bufs {
    float *x0, *xs, *w, *wt, *wr, *qa, *qbt, *qb, *qb_r, *xr;
    double *y, *yhat, *sx, *sw, *sw_r, *dense;
} bufs;

static void bufs_free(bufs *b)
{
    float *f[] = {b->x0, b->xs, b->w, b->wt, b->wr, b->qa, b->qbt, b->qb, b->qb_r, b->xr};
    double *d[] = {b->y, b->yhat, b->sx, b->sw, b->sw_r, b->dense};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) free(f[i]);
    for (size_t i = 0; i < sizeof d / sizeof d[0]; i++) free(d[i]);
}

/* One integer product qa [M,K] x qb [K,N] by dnnl, checked against ref and
 * blas; yhat = diag(sx) C diag(sw). */
static int int_product(const float *qa, const float *qb, const double *sx, const double *sw, int64_t M,
                       int64_t K, int64_t N, double *yhat, double *maxd_blas, double *maxd_dnnl, char *err,
                       size_t errlen)
{
    cb_params kp = {0};
    if (cb_params_set(&kp, "M", (double)M) || cb_params_set(&kp, "K", (double)K) ||
        cb_params_set(&kp, "N", (double)N))
        return cb_fail(err, errlen, "int4_quant_error: too many parameters");
    const float *const in[2] = {qa, qb};
    float *c_ref = NULL, *c_blas = NULL, *c_dnnl = NULL;
    int rc = -1;
    if (run_k("int4_gemm", "ref", kp, in, &c_ref, err, errlen) ||
        run_k("int4_gemm", "blas", kp, in, &c_blas, err, errlen) ||
        run_k("int4_gemm", "dnnl", kp, in, &c_dnnl, err, errlen))
        goto done;
    for (int64_t i = 0; i < M * N; i++) {
        double db = fabs((double)c_blas[i] - (double)c_ref[i]), dd = fabs((double)c_dnnl[i] - (double)c_ref[i]);
        /* a NaN sticks: once *maxd is NaN no comparison replaces it */
        if (isnan(db) || db > *maxd_blas) *maxd_blas = db;
        if (isnan(dd) || dd > *maxd_dnnl) *maxd_dnnl = dd;
    }
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++)
            yhat[m * N + n] = sx[m] * (double)c_dnnl[m * N + n] * sw[n];
    rc = 0;
done:
    free(c_ref);
    free(c_blas);
    free(c_dnnl);
    return rc;
}

static int probe_run(const cb_params *params, uint64_t seed, cb_metrics *ms, char *err, size_t errlen)
{
    cb_params p = *params;
    if (cb_params_default(&p, "M", 512) || cb_params_default(&p, "K", 1024) || cb_params_default(&p, "N", 256) ||
        cb_params_default(&p, "n_out", 10) || cb_params_default(&p, "scale_a", 10) ||
        cb_params_default(&p, "scale_b", 50))
        return cb_fail(err, errlen, "int4_quant_error: too many parameters");
    int64_t M = 0, K = 0, N = 0, n_out = 0;
    if (get_int(&p, "M", 1, 1 << 16, &M, err, errlen) || get_int(&p, "K", 1, 1 << 16, &K, err, errlen) ||
        get_int(&p, "N", 1, 1 << 16, &N, err, errlen) || get_int(&p, "n_out", 0, K, &n_out, err, errlen))
        return -1;
    if (!cb_is_pow2(K))
        return cb_fail(err, errlen, "int4_quant_error: K = %lld must be a power of two", (long long)K);
    if (M * K > (1 << 24) || K * N > (1 << 24) || M * N > (1 << 24))
        return cb_fail(err, errlen, "int4_quant_error: M, K, N too large for a probe");
    const double scales[3] = {1, cb_params_get(&p, "scale_a", 10), cb_params_get(&p, "scale_b", 50)};
    for (int i = 1; i < 3; i++)
        if (!(scales[i] >= 1 && scales[i] <= 1e6))
            return cb_fail(err, errlen, "int4_quant_error: scale_%c = %g must be in [1, 1e6]", 'a' + i - 1,
                           scales[i]);

    bufs b = {0};
    const size_t mk = (size_t)(M * K), kn = (size_t)(K * N), mn = (size_t)(M * N);
    const int64_t R = M < PROBE_CHECK_ROWS ? M : PROBE_CHECK_ROWS;
    int rc = -1;
    int *cols = NULL;
    b.x0 = malloc(mk * sizeof *b.x0);
    b.xs = malloc(mk * sizeof *b.xs);
    b.qa = malloc(mk * sizeof *b.qa);
    b.w = malloc(kn * sizeof *b.w);
    b.wt = malloc(kn * sizeof *b.wt);
    b.qbt = malloc(kn * sizeof *b.qbt);
    b.qb = malloc(kn * sizeof *b.qb);
    b.qb_r = malloc(kn * sizeof *b.qb_r);
    b.y = malloc(mn * sizeof *b.y);
    b.yhat = malloc(mn * sizeof *b.yhat);
    b.sx = malloc((size_t)M * sizeof *b.sx);
    b.sw = malloc((size_t)N * sizeof *b.sw);
    b.sw_r = malloc((size_t)N * sizeof *b.sw_r);
    b.dense = malloc((size_t)(R * K) * sizeof *b.dense);
    cols = malloc((size_t)(n_out > 0 ? n_out : 1) * sizeof *cols);
    float *xhat0 = NULL, *xhat1 = NULL, *ref0 = NULL, *ref1 = NULL;
    if (!b.x0 || !b.xs || !b.qa || !b.w || !b.wt || !b.qbt || !b.qb || !b.qb_r || !b.y || !b.yhat || !b.sx ||
        !b.sw || !b.sw_r || !b.dense || !cols) {
        cb_fail(err, errlen, "int4_quant_error: out of memory");
        goto done;
    }
    cb_rng_normal(b.x0, mk, seed, cb_rng_stream("int4_quant_error/x"), 1.0f);
    cb_rng_normal(b.w, kn, seed, cb_rng_stream("int4_quant_error/w"), 1.0f);
    /* n_out distinct outlier channels */
    {
        uint64_t st = cb_rng_stream("int4_quant_error/cols");
        int64_t got = 0;
        for (uint64_t i = 0; got < n_out; i++) {
            int c = (int)(cb_rng_uniform_d(seed, st, i) * (double)K);
            int dup = 0;
            for (int64_t j = 0; j < got; j++) dup |= cols[j] == c;
            if (!dup) cols[got++] = c;
        }
    }
    cb_params kh = {0}, kq = {0};
    if (cb_params_set(&kh, "M", (double)N) || cb_params_set(&kh, "K", (double)K) ||
        cb_params_set(&kq, "M", (double)M) || cb_params_set(&kq, "K", (double)K)) {
        cb_fail(err, errlen, "int4_quant_error: too many parameters");
        goto done;
    }
    /* W per output channel: rows of W^T; plain and rotated (W^T H = (H W)^T) */
    transpose(b.w, b.wt, K, N);
    for (int64_t n = 0; n < N; n++)
        b.sw[n] = levels_row(b.wt + n * K, b.qbt + n * K, K);
    transpose(b.qbt, b.qb, N, K);
    {
        const float *const in[1] = {b.wt};
        if (run_k("hadamard", "fwht", kh, in, &b.wr, err, errlen))
            goto done;
    }
    for (int64_t n = 0; n < N; n++)
        b.sw_r[n] = levels_row(b.wr + n * K, b.qbt + n * K, K);
    transpose(b.qbt, b.qb_r, N, K);

    double maxd_blas = 0, maxd_dnnl = 0, fwht_err = NAN, quant_err = NAN;
    for (int c = 0; c < 3; c++) {
        const double s = scales[c];
        memcpy(b.xs, b.x0, mk * sizeof *b.xs);
        if (c > 0)
            for (int64_t m = 0; m < M; m++)
                for (int64_t j = 0; j < n_out; j++)
                    b.xs[m * K + cols[j]] = (float)(b.xs[m * K + cols[j]] * s);
        /* Y = X W in double */
        for (int64_t m = 0; m < M; m++) {
            double *ym = b.y + m * N;
            for (int64_t n = 0; n < N; n++) ym[n] = 0;
            for (int64_t k = 0; k < K; k++) {
                const double xv = b.xs[m * K + k];
                const float *wk = b.w + k * N;
                for (int64_t n = 0; n < N; n++) ym[n] += xv * (double)wk[n];
            }
        }
        /* quantization MSE through the quant_int4 kernel */
        const float *const xin[1] = {b.xs};
        cb_params q0 = kq, q1 = kq;
        if (cb_params_set(&q0, "hadamard", 0) || cb_params_set(&q1, "hadamard", 1)) {
            cb_fail(err, errlen, "int4_quant_error: too many parameters");
            goto done;
        }
        if (run_k("quant_int4", "fwht", q0, xin, &xhat0, err, errlen) ||
            run_k("quant_int4", "fwht", q1, xin, &xhat1, err, errlen))
            goto done;
        const double mse_plain = cb_int4_rel_sq_err(xhat0, b.xs, mk);
        const double mse_had = cb_int4_rel_sq_err(xhat1, b.xs, mk);
        /* GEMM, plain */
        for (int64_t m = 0; m < M; m++)
            b.sx[m] = levels_row(b.xs + m * K, b.qa + m * K, K);
        if (int_product(b.qa, b.qb, b.sx, b.sw, M, K, N, b.yhat, &maxd_blas, &maxd_dnnl, err, errlen))
            goto done;
        const double g_plain = cb_int4_rel_fro_err(b.yhat, b.y, mn);
        /* GEMM, rotated: X' = X H/sqrt(K) by the hadamard kernel */
        cb_params kx = {0};
        if (cb_params_set(&kx, "M", (double)M) || cb_params_set(&kx, "K", (double)K)) {
            cb_fail(err, errlen, "int4_quant_error: too many parameters");
            goto done;
        }
        if (run_k("hadamard", "fwht", kx, xin, &b.xr, err, errlen))
            goto done;
        for (int64_t m = 0; m < M; m++)
            b.sx[m] = levels_row(b.xr + m * K, b.qa + m * K, K);
        if (int_product(b.qa, b.qb_r, b.sx, b.sw_r, M, K, N, b.yhat, &maxd_blas, &maxd_dnnl, err, errlen))
            goto done;
        const double g_had = cb_int4_rel_fro_err(b.yhat, b.y, mn);

        if (c == 2) {
            /* the fast rotation against a dense one in double, first R rows */
            const double inv = 1.0 / sqrt((double)K);
            for (int64_t m = 0; m < R; m++)
                for (int64_t j = 0; j < K; j++) {
                    double acc = 0;
                    for (int64_t i = 0; i < K; i++) {
                        double v = b.xs[m * K + i];
                        acc += (__builtin_popcountll((unsigned long long)(i & j)) & 1) ? -v : v;
                    }
                    b.dense[m * K + j] = acc * inv;
                }
            double e = 0, mx = 0;
            int nan = 0;
            for (int64_t i = 0; i < R * K; i++) {
                double d = fabs((double)b.xr[i] - b.dense[i]);
                nan |= isnan(d);
                if (d > e) e = d;
                if (fabs(b.dense[i]) > mx) mx = fabs(b.dense[i]);
            }
            fwht_err = nan ? NAN : e / mx;
            /* quant_int4 fwht against ref on the first R rows */
            cb_params r0 = q0, r1 = q1;
            cb_params_set(&r0, "M", (double)R);
            cb_params_set(&r1, "M", (double)R);
            if (run_k("quant_int4", "ref", r0, xin, &ref0, err, errlen) ||
                run_k("quant_int4", "ref", r1, xin, &ref1, err, errlen))
                goto done;
            double e0 = cb_rel_err_ff(xhat0, ref0, (size_t)(R * K)), e1 = cb_rel_err_ff(xhat1, ref1, (size_t)(R * K));
            quant_err = e0 > e1 || e0 != e0 ? e0 : e1;
        }
        free(xhat0);
        free(xhat1);
        free(b.xr);
        xhat0 = xhat1 = NULL;
        b.xr = NULL;

        cb_params at = {0};
        if (cb_params_set(&at, "M", (double)M) || cb_params_set(&at, "K", (double)K) ||
            cb_params_set(&at, "N", (double)N) || cb_params_set(&at, "outlier", s))
            goto oom;
        if (cb_metrics_add(ms, "mse_plain", &at, mse_plain) || cb_metrics_add(ms, "mse_had", &at, mse_had) ||
            cb_metrics_add(ms, "mse_ratio", &at, mse_had / mse_plain) ||
            cb_metrics_add(ms, "gemm_err_plain", &at, g_plain) || cb_metrics_add(ms, "gemm_err_had", &at, g_had) ||
            cb_metrics_add(ms, "gemm_ratio", &at, g_had / g_plain))
            goto oom;
    }
    cb_params at = {0};
    if (cb_params_set(&at, "M", (double)M) || cb_params_set(&at, "K", (double)K) ||
        cb_params_set(&at, "N", (double)N))
        goto oom;
    if (cb_metrics_add(ms, "int_gemm_blas_maxdiff", &at, maxd_blas) ||
        cb_metrics_add(ms, "int_gemm_dnnl_maxdiff", &at, maxd_dnnl) ||
        cb_metrics_add(ms, "fwht_vs_dense", &at, fwht_err) ||
        cb_metrics_add(ms, "quant_fwht_vs_ref", &at, quant_err))
        goto oom;
    rc = 0;
    goto done;
oom:
    cb_fail(err, errlen, "int4_quant_error: out of memory");
done:
    free(xhat0);
    free(xhat1);
    free(ref0);
    free(ref1);
    free(cols);
    bufs_free(&b);
    return rc;
}

const cb_probe cb_probe_int4_quant_error = {
    .name = "int4_quant_error",
    .summary = "INT4 quantization and GEMM error with/without the Hadamard rotation, with/without outlier channels",
    .run = probe_run,
};
