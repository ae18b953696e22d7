/* t_int4_hadamard_quant_gemm.c — the Hadamard rotation, the INT4 quantizer
 * and the INT4 GEMM (Xi et al. 2023, "Training Transformers with 4-bit
 * Integers"):
 *   - the three contracts (power-of-two K, the hadamard flag, K <= 342392);
 *   - hadamard ref against a Hadamard matrix built here by the Sylvester
 *     recursion (not the popcount formula the kernels use), fwht and blas
 *     against ref, orthogonality and the involution H H / K = I;
 *   - quant_int4: exact ties (half to even), a rotated case with a known
 *     answer, zero and NaN rows, ref against a computation written here,
 *     fwht against ref (bit for bit when hadamard = 0);
 *   - int4_gemm: a hand-computed case (rounding, clamping, NaN), blas and
 *     dnnl against ref exactly (odd K included), the largest sums;
 *   - the int4_quant_error probe on a small case, its error measures on
 *     known arrays, and the spec's checks on its metrics: reproduced on the
 *     real metrics, not reproduced when the quantizer output is zeroed;
 *   - `claimbench run` on .npy files for each kernel (needs CLAIMBENCH).
 */
#include "kernel.h"
#include "checks.h"
#include "npy.h"
#include "spec.h"
#include "table.h"
#include "probes/int4_quant_error.h"

#include "tap.h"
#include "test_rng.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- running one implementation on arrays ------------------------------- */

/* Run kernel/backend at params (a "M=..,K=.." string) on the inputs; return
 * output 0 (malloc'd, *n elements) or NULL. */
static float *run(const char *kernel, const char *backend, const char *params, const float *const *in,
                  int64_t *n)
{
    const cb_kernel *k = cb_kernel_find(kernel);
    const cb_impl *im = cb_impl_find(kernel, backend);
    cb_params p = {0};
    char err[256] = "";
    float *out = NULL;
    if (!k || !im || cb_params_parse(&p, params)) {
        diag("no %s/%s or bad params %s", kernel, backend, params);
        return NULL;
    }
    if (cb_impl_run_arrays(k, im, &p, in, &out, n, err, sizeof err)) {
        diag("%s/%s %s: %s", kernel, backend, params, err);
        return NULL;
    }
    return out;
}

/* Sylvester recursion: H_1 = [1], H_2m = [[H_m, H_m], [H_m, -H_m]]. */
static int *sylvester(int64_t K)
{
    int *H = malloc((size_t)(K * K) * sizeof *H);
    if (!H) return NULL;
    H[0] = 1;
    for (int64_t m = 1; m < K; m *= 2)
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < m; j++) {
                int h = H[i * K + j];
                H[i * K + j + m] = h;
                H[(i + m) * K + j] = h;
                H[(i + m) * K + j + m] = -h;
            }
    return H;
}

/* ---- contracts ------------------------------------------------------------ */

static int shapes_ok(const char *kernel, const char *params, char *err, size_t errlen, cb_shape *in,
                     cb_shape *out)
{
    const cb_kernel *k = cb_kernel_find(kernel);
    cb_params p = {0};
    if (!k || cb_params_parse(&p, params)) return -2;
    return k->shapes(&p, in, out, err, errlen);
}

static void test_contracts(void)
{
    cb_shape in[CB_MAX_TENSORS], out[CB_MAX_TENSORS];
    char err[256] = "";
    ok(shapes_ok("hadamard", "M=3,K=12", err, sizeof err, in, out) == -1 && strstr(err, "K = 12") &&
           strstr(err, "power of two"),
       "hadamard refuses K = 12 (%s)", err);
    ok(shapes_ok("hadamard", "M=3,K=1", err, sizeof err, in, out) == 0 && in[0].dim[1] == 1,
       "hadamard accepts K = 1");
    ok(shapes_ok("hadamard", "M=3,K=64", err, sizeof err, in, out) == 0 && in[0].rank == 2 &&
           in[0].dim[0] == 3 && in[0].dim[1] == 64 && out[0].dim[1] == 64,
       "hadamard shapes: x, y [M, K]");
    err[0] = '\0';
    ok(shapes_ok("hadamard", "K=64", err, sizeof err, in, out) == -1 && strstr(err, " M"),
       "hadamard needs M (%s)", err);
    ok(shapes_ok("quant_int4", "M=2,K=13,hadamard=1", err, sizeof err, in, out) == -1 && strstr(err, "K = 13"),
       "quant_int4 refuses hadamard = 1 with K = 13 (%s)", err);
    ok(shapes_ok("quant_int4", "M=2,K=13", err, sizeof err, in, out) == 0, "quant_int4 takes K = 13 with hadamard = 0 (default)");
    ok(shapes_ok("quant_int4", "M=2,K=16,hadamard=2", err, sizeof err, in, out) == -1 && strstr(err, "hadamard"),
       "quant_int4 refuses hadamard = 2 (%s)", err);
    ok(shapes_ok("int4_gemm", "M=2,K=342393,N=3", err, sizeof err, in, out) == -1 && strstr(err, "2^24"),
       "int4_gemm refuses K = 342393, where 49 K reaches 2^24 (%s)", err);
    ok(shapes_ok("int4_gemm", "M=2,K=342392,N=3", err, sizeof err, in, out) == 0 && in[0].dim[1] == 342392 &&
           in[1].dim[0] == 342392 && in[1].dim[1] == 3 && out[0].dim[0] == 2 && out[0].dim[1] == 3,
       "int4_gemm takes K = 342392: a [M, K], b [K, N], c [M, N]");
    const cb_kernel *g = cb_kernel_find("int4_gemm");
    cb_params q = {0};
    cb_shape given[2] = {{2, {4, 7}}, {2, {7, 5}}}, bad[2] = {{2, {4, 7}}, {2, {6, 5}}};
    ok(g && g->infer(&q, given, err, sizeof err) == 0 && cb_params_int(&q, "M", 0) == 4 &&
           cb_params_int(&q, "K", 0) == 7 && cb_params_int(&q, "N", 0) == 5 &&
           g->infer(&q, bad, err, sizeof err) == -1,
       "int4_gemm infers M, K, N and refuses b with the wrong row count (%s)", err);
    cb_params f = {0};
    cb_params_parse(&f, "M=2,K=8,N=3");
    const cb_kernel *h = cb_kernel_find("hadamard");
    ok(g && h && g->flops(&f) == 2.0 * 2 * 8 * 3 && h->flops(&f) == 2.0 * 8 * 3,
       "flops: int4_gemm 2 M K N, hadamard M K log2 K");
}

/* ---- hadamard --------------------------------------------------------------- */

static void test_hadamard(void)
{
    /* ref against H built by recursion */
    static const int64_t Ks[] = {1, 2, 4, 8, 64, 256};
    for (size_t c = 0; c < sizeof Ks / sizeof Ks[0]; c++) {
        const int64_t K = Ks[c], M = 3;
        float *x = malloc((size_t)(M * K) * sizeof *x);
        int *H = sylvester(K);
        char params[64];
        snprintf(params, sizeof params, "M=%lld,K=%lld", (long long)M, (long long)K);
        double e = INFINITY;
        if (x && H) {
            test_fill_normal(x, (size_t)(M * K), 5 + c);
            int64_t n = 0;
            const float *const in[1] = {x};
            float *y = run("hadamard", "ref", params, in, &n);
            if (y) {
                e = 0;
                for (int64_t m = 0; m < M; m++)
                    for (int64_t j = 0; j < K; j++) {
                        double s = 0;
                        for (int64_t i = 0; i < K; i++) s += (double)x[m * K + i] * H[i * K + j];
                        s /= sqrt((double)K);
                        e = fmax(e, fabs(s - y[m * K + j]) / fmax(1, fabs(s)));
                    }
            }
            free(y);
        }
        ok(e <= 1.2e-7, "hadamard ref = x H / sqrt(K), H by the Sylvester recursion, K = %lld: err %.3g",
           (long long)K, e);
        free(x);
        free(H);
    }
    /* fwht and blas against ref; orthogonality; involution */
    static const struct { int64_t M, K; } cs[] = {{1, 1}, {1, 2}, {3, 8}, {5, 16}, {7, 32}, {67, 128},
                                                  {3, 1024}, {2, 4096}};
    static const char *const backends[] = {"fwht", "blas"};
    for (size_t c = 0; c < sizeof cs / sizeof cs[0]; c++) {
        const int64_t M = cs[c].M, K = cs[c].K;
        char params[64];
        snprintf(params, sizeof params, "M=%lld,K=%lld", (long long)M, (long long)K);
        float *x = malloc((size_t)(M * K) * sizeof *x);
        if (!x) continue;
        test_fill_normal(x, (size_t)(M * K), 40 + c);
        const float *const in[1] = {x};
        int64_t n = 0;
        float *ref = run("hadamard", "ref", params, in, &n);
        for (size_t b = 0; b < 2; b++) {
            float *y = ref ? run("hadamard", backends[b], params, in, &n) : NULL;
            double e = INFINITY, nx = 0, ny = 0;
            if (y) {
                e = 0;
                for (int64_t i = 0; i < M * K; i++) {
                    e = fmax(e, fabs((double)y[i] - ref[i]));
                    nx += (double)x[i] * x[i];
                    ny += (double)y[i] * y[i];
                }
            }
            /* outputs are O(1); sgemm rounding ~ u sqrt(K), butterflies ~ u log2 K */
            ok(y && e <= 1e-5 && fabs(ny / nx - 1) <= 1e-5,
               "hadamard %s = ref at %s: max err %.3g; |y|^2/|x|^2 - 1 = %.2g", backends[b], params, e,
               y ? ny / nx - 1 : NAN);
            if (y && b == 0) {
                const float *const in2[1] = {y};
                float *z = run("hadamard", "fwht", params, in2, &n);
                double ez = INFINITY;
                if (z) {
                    ez = 0;
                    for (int64_t i = 0; i < M * K; i++) ez = fmax(ez, fabs((double)z[i] - x[i]));
                }
                ok(z && ez <= 1e-5, "hadamard fwht twice is the identity at %s: max err %.3g", params, ez);
                free(z);
            }
            free(y);
        }
        free(ref);
        free(x);
    }
}

/* ---- quant_int4 -------------------------------------------------------------- */

/* v^ per row of v (doubles), written independently: step max|v|/7. */
static void quant_d(const double *v, double *out, int64_t K)
{
    double mx = 0;
    for (int64_t j = 0; j < K; j++) mx = fmax(mx, fabs(v[j]));
    for (int64_t j = 0; j < K; j++) {
        double s = mx / 7, q = s > 0 ? nearbyint(v[j] / s) : 0;
        out[j] = fmin(7, fmax(-7, q)) * s;
    }
}

static void test_quant(void)
{
    static const char *const backends[] = {"ref", "fwht"};
    /* ties: max 7 so the step is exactly 1; 0.5 -> 0, 1.5 -> 2, 2.5 -> 2,
     * -0.5 -> -0, -2.5 -> -2, 3.5 -> 4, -3.5 -> -4 (half to even) */
    {
        const float x[8] = {7, 0.5f, 1.5f, 2.5f, -0.5f, -2.5f, 3.5f, -3.5f};
        const float want[8] = {7, 0, 2, 2, 0, -2, 4, -4};
        const float *const in[1] = {x};
        for (int b = 0; b < 2; b++) {
            int64_t n = 0;
            float *y = run("quant_int4", backends[b], "M=1,K=8,hadamard=0", in, &n);
            int same = y != NULL;
            for (int j = 0; y && j < 8; j++) same &= y[j] == want[j];
            ok(same && signbit(y[4]),
               "quant_int4 %s rounds ties half to even: %g %g %g %g %g %g %g %g", backends[b], y ? y[0] : NAN,
               y ? y[1] : NAN, y ? y[2] : NAN, y ? y[3] : NAN, y ? y[4] : NAN, y ? y[5] : NAN, y ? y[6] : NAN,
               y ? y[7] : NAN);
            free(y);
        }
    }
    /* rotated, known answer: x = H v / 2 with v = (7, 0.5, 2.5, -1.5), K = 4.
     * The rotation gives back v exactly (dyadic values), step 1, levels
     * (7, 0, 2, -2), and xhat = H (7, 0, 2, -2) / 2 = (3.5, 5.5, 3.5, 1.5). */
    {
        const double v[4] = {7, 0.5, 2.5, -1.5};
        float x[4];
        x[0] = (float)((v[0] + v[1] + v[2] + v[3]) / 2);
        x[1] = (float)((v[0] - v[1] + v[2] - v[3]) / 2);
        x[2] = (float)((v[0] + v[1] - v[2] - v[3]) / 2);
        x[3] = (float)((v[0] - v[1] - v[2] + v[3]) / 2);
        const float want[4] = {3.5f, 5.5f, 3.5f, 1.5f};
        const float *const in[1] = {x};
        for (int b = 0; b < 2; b++) {
            int64_t n = 0;
            float *y = run("quant_int4", backends[b], "M=1,K=4,hadamard=1", in, &n);
            ok(y && memcmp(y, want, sizeof want) == 0, "quant_int4 %s, hadamard = 1, by hand: %g %g %g %g",
               backends[b], y ? y[0] : NAN, y ? y[1] : NAN, y ? y[2] : NAN, y ? y[3] : NAN);
            free(y);
        }
    }
    /* a zero row gives zeros; a NaN row gives NaN there only */
    {
        float x[3 * 8];
        test_fill_normal(x, 24, 3);
        for (int j = 0; j < 8; j++) x[j] = 0;
        x[8 + 3] = NAN;
        const float *const in[1] = {x};
        for (int b = 0; b < 2; b++)
            for (int h = 0; h < 2; h++) {
                int64_t n = 0;
                char params[64];
                snprintf(params, sizeof params, "M=3,K=8,hadamard=%d", h);
                float *y = run("quant_int4", backends[b], params, in, &n);
                int good = y != NULL;
                for (int j = 0; y && j < 8; j++) good &= y[j] == 0 && isnan(y[8 + j]) && isfinite(y[16 + j]);
                ok(good, "quant_int4 %s, hadamard = %d: zero row -> 0, NaN row -> NaN, other rows finite",
                   backends[b], h);
                free(y);
            }
    }
    /* ref against a computation here (recursion H, nearbyint), and fwht
     * against ref: bit for bit when hadamard = 0, to the last float bit of
     * the largest output otherwise (a level flip would be >= step/sqrt(K)) */
    static const struct { int64_t M, K; int h; } cs[] = {
        {1, 1, 1}, {2, 2, 1}, {3, 13, 0}, {9, 1000, 0}, {7, 64, 1}, {67, 128, 1}, {16, 1024, 1}, {3, 4096, 1}};
    for (size_t c = 0; c < sizeof cs / sizeof cs[0]; c++) {
        const int64_t M = cs[c].M, K = cs[c].K;
        char params[64];
        snprintf(params, sizeof params, "M=%lld,K=%lld,hadamard=%d", (long long)M, (long long)K, cs[c].h);
        float *x = malloc((size_t)(M * K) * sizeof *x);
        double *v = malloc((size_t)K * sizeof *v), *w = malloc((size_t)K * sizeof *w);
        int *H = cs[c].h ? sylvester(K) : NULL;
        if (!x || !v || !w || (cs[c].h && !H)) {
            free(x); free(v); free(w); free(H);
            continue;
        }
        test_fill_normal(x, (size_t)(M * K), 70 + c);
        for (int64_t j = 0; j < K; j += 37) x[j] *= 30;   /* a few outliers */
        const float *const in[1] = {x};
        int64_t n = 0;
        float *ref = run("quant_int4", "ref", params, in, &n);
        float *fw = ref ? run("quant_int4", "fwht", params, in, &n) : NULL;
        double e_ref = ref ? 0 : INFINITY, e_fw = fw ? 0 : INFINITY, mx = 0;
        const double r = 1 / sqrt((double)K);
        for (int64_t m = 0; ref && m < M; m++) {
            for (int64_t j = 0; j < K; j++) {
                double s = 0;
                if (H)
                    for (int64_t i = 0; i < K; i++) s += (double)x[m * K + i] * H[i * K + j];
                v[j] = H ? s * r : x[m * K + j];
            }
            quant_d(v, w, K);
            for (int64_t j = 0; j < K; j++) {
                double s = 0;
                if (H)
                    for (int64_t i = 0; i < K; i++) s += w[i] * H[i * K + j];
                double want = H ? s * r : w[j];
                mx = fmax(mx, fabs(want));
                e_ref = fmax(e_ref, fabs(want - ref[m * K + j]));
                if (fw) e_fw = fmax(e_fw, fabs((double)fw[m * K + j] - ref[m * K + j]));
            }
        }
        ok(ref && e_ref <= 1e-6 * mx, "quant_int4 ref at %s = the computation here: max err %.3g of max %.3g",
           params, e_ref, mx);
        if (cs[c].h == 0)
            ok(fw && memcmp(fw, ref, (size_t)(M * K) * sizeof *fw) == 0,
               "quant_int4 fwht = ref bit for bit at %s", params);
        else
            ok(fw && e_fw <= 2.4e-7 * mx, "quant_int4 fwht = ref at %s: max err %.3g of max %.3g", params, e_fw, mx);
        free(ref);
        free(fw);
        free(x);
        free(v);
        free(w);
        free(H);
    }
}

/* ---- int4_gemm ---------------------------------------------------------------- */

static void test_gemm(void)
{
    static const char *const backends[] = {"ref", "blas", "dnnl"};
    /* by hand: a = [[2.5, -7.6, 1.49], [NaN, 3.5, -0.5]] -> [[2, -7, 1], [0, 4, -0]],
     * b = [[1, 9], [-2, 0.5], [7, -3]] -> [[1, 7], [-2, 0], [7, -3]] (0.5 -> 0),
     * c = [[2 + 14 + 7, 14 - 3], [-8, 0]] = [[23, 11], [-8, 0]] */
    {
        const float a[6] = {2.5f, -7.6f, 1.49f, NAN, 3.5f, -0.5f}, b[6] = {1, 9, -2, 0.5f, 7, -3};
        const float want[4] = {23, 11, -8, 0};
        const float *const in[2] = {a, b};
        for (int k = 0; k < 3; k++) {
            int64_t n = 0;
            float *c = run("int4_gemm", backends[k], "M=2,K=3,N=2", in, &n);
            ok(c && n == 4 && c[0] == want[0] && c[1] == want[1] && c[2] == want[2] && c[3] == want[3],
               "int4_gemm %s by hand (rint half-even, clamp, NaN -> 0): %g %g %g %g", backends[k], c ? c[0] : NAN,
               c ? c[1] : NAN, c ? c[2] : NAN, c ? c[3] : NAN);
            free(c);
        }
    }
    /* the largest sums: all levels 7 (and -7 x 7), K = 8192: |c| = 401408 */
    {
        const int64_t K = 8192;
        float *a = malloc((size_t)(2 * K) * sizeof *a), *b = malloc((size_t)K * sizeof *b);
        if (a && b) {
            for (int64_t i = 0; i < K; i++) {
                a[i] = 7;
                a[K + i] = -7.4f;
                b[i] = 7.3f;
            }
            const float *const in[2] = {a, b};
            for (int k = 0; k < 3; k++) {
                int64_t n = 0;
                float *c = run("int4_gemm", backends[k], "M=2,K=8192,N=1", in, &n);
                ok(c && c[0] == 49.0f * K && c[1] == -49.0f * K, "int4_gemm %s, largest sums: %.9g %.9g (want +-%lld)",
                   backends[k], c ? c[0] : NAN, c ? c[1] : NAN, (long long)(49 * K));
                free(c);
            }
        }
        free(a);
        free(b);
    }
    /* blas and dnnl against ref, exactly, including odd K and clamped inputs */
    static const struct { int64_t M, K, N; } cs[] = {{1, 1, 1}, {2, 3, 2}, {3, 13, 5}, {17, 64, 16},
                                                     {67, 1000, 130}, {5, 4096, 33}, {130, 257, 67}};
    for (size_t c = 0; c < sizeof cs / sizeof cs[0]; c++) {
        const int64_t M = cs[c].M, K = cs[c].K, N = cs[c].N;
        char params[64];
        snprintf(params, sizeof params, "M=%lld,K=%lld,N=%lld", (long long)M, (long long)K, (long long)N);
        float *a = malloc((size_t)(M * K) * sizeof *a), *b = malloc((size_t)(K * N) * sizeof *b);
        if (!a || !b) {
            free(a);
            free(b);
            continue;
        }
        test_fill_uniform(a, (size_t)(M * K), 90 + c, -9, 9);
        test_fill_uniform(b, (size_t)(K * N), 190 + c, -9, 9);
        const float *const in[2] = {a, b};
        int64_t n = 0;
        float *ref = run("int4_gemm", "ref", params, in, &n);
        for (int k = 1; k < 3; k++) {
            float *o = ref ? run("int4_gemm", backends[k], params, in, &n) : NULL;
            ok(o && memcmp(o, ref, (size_t)(M * N) * sizeof *o) == 0, "int4_gemm %s = ref exactly at %s",
               backends[k], params);
            free(o);
        }
        free(ref);
        free(a);
        free(b);
    }
}

/* ---- the probe and the spec's checks on it -------------------------------------- */

static void test_error_measures(void)
{
    const float x[4] = {1, -2, 3, 0}, xh[4] = {1, -1, 2, 1}, z[4] = {0, 0, 0, 0};
    /* (0 + 1 + 1 + 1) / (1 + 4 + 9) = 3/14 */
    ok(fabs(cb_int4_rel_sq_err(xh, x, 4) - 3.0 / 14) < 1e-15, "rel_sq_err by hand: %.17g", cb_int4_rel_sq_err(xh, x, 4));
    ok(cb_int4_rel_sq_err(z, x, 4) == 1, "rel_sq_err of a zeroed output is 1");
    ok(isnan(cb_int4_rel_sq_err(z, z, 4)) && isinf(cb_int4_rel_sq_err(xh, z, 4)),
       "rel_sq_err against an all-zero reference: 0/0 = NaN, else inf (no floor)");
    const double y[3] = {1, 2, 2}, r[3] = {1, 2, 3}, zd[3] = {0, 0, 0};
    ok(fabs(cb_int4_rel_fro_err(y, r, 3) - sqrt(1.0 / 14)) < 1e-15 && cb_int4_rel_fro_err(zd, r, 3) == 1 &&
           isnan(cb_int4_rel_fro_err(zd, zd, 3)) && isinf(cb_int4_rel_fro_err(y, zd, 3)),
       "rel_fro_err: by hand sqrt(1/14), 1 for a zeroed output, NaN or inf against zero");
}

static const cb_metric *find_metric(const cb_metrics *ms, const char *name, double outlier)
{
    for (int i = 0; i < ms->n; i++)
        if (strcmp(ms->m[i].name, name) == 0 &&
            (outlier < 0 || cb_params_get(&ms->m[i].at, "outlier", -1) == outlier))
            return &ms->m[i];
    return NULL;
}

static void test_probe_small(void)
{
    const cb_probe *pb = cb_probe_find("int4_quant_error");
    ok(pb != NULL, "int4_quant_error is registered");
    if (!pb) return;
    cb_params p = {0};
    cb_metrics ms = {0};
    char err[256] = "";
    int rc = cb_params_parse(&p, "M=40,K=256,N=24,n_out=3") == 0 ? pb->run(&p, 7, &ms, err, sizeof err) : -1;
    ok(rc == 0 && ms.n == 22, "probe runs at M=40,K=256,N=24: %d metrics %s", ms.n, err);
    const cb_metric *a = find_metric(&ms, "int_gemm_dnnl_maxdiff", -1), *b = find_metric(&ms, "int_gemm_blas_maxdiff", -1),
                    *f = find_metric(&ms, "fwht_vs_dense", -1), *q = find_metric(&ms, "quant_fwht_vs_ref", -1);
    ok(a && b && a->value == 0 && b->value == 0, "integer products exact: dnnl %g, blas %g", a ? a->value : NAN,
       b ? b->value : NAN);
    ok(f && f->value <= 1e-5 && q && q->value <= 1e-6, "fwht vs dense %.3g, quant fwht vs ref %.3g", f ? f->value : NAN,
       q ? q->value : NAN);
    const cb_metric *m1 = find_metric(&ms, "mse_plain", 1), *r10 = find_metric(&ms, "mse_ratio", 10),
                    *h10 = find_metric(&ms, "mse_had", 10), *p10 = find_metric(&ms, "mse_plain", 10);
    /* K = 256: E max|z| over 256 is about 2.9, step 0.41, mse near 0.41^2/12 = 0.014 */
    ok(m1 && m1->value > 0.008 && m1->value < 0.025, "mse_plain without outliers at K = 256: %.4g", m1 ? m1->value : NAN);
    ok(r10 && h10 && p10 && fabs(r10->value - h10->value / p10->value) < 1e-15 && r10->value < 0.5,
       "mse_ratio = mse_had / mse_plain = %.4g at x10", r10 ? r10->value : NAN);
    cb_metrics_free(&ms);
    cb_params_set(&p, "K", 100);
    ok(pb->run(&p, 7, &ms, err, sizeof err) == -1 && strstr(err, "K = 100"), "probe refuses K = 100 (%s)", err);
    cb_metrics_free(&ms);
}

/* Evaluate every probe-based check of the spec on a table of metrics. */
static int eval_probe_checks(const cb_spec *s, const cb_table *t, const char *const *names, int n_names,
                             int want_all_reproduced)
{
    int good = 1;
    for (int i = 0; i < s->n_checks; i++) {
        const cb_check *c = &s->checks[i];
        int listed = names == NULL;
        for (int j = 0; j < n_names; j++) listed |= strcmp(names[j], c->name) == 0;
        if (!listed || c->type == CB_CHECK_SCALING || c->type == CB_CHECK_RATIO) continue;
        cb_verdict v;
        cb_check_eval(c, s->id, t, 1, &v);
        int ok_here = want_all_reproduced ? v.verdict == CB_REPRODUCED : v.verdict == CB_NOT_REPRODUCED;
        if (!ok_here) {
            diag("%s: %s (%s)", c->name, cb_verdict_name(v.verdict), v.detail);
            good = 0;
        }
    }
    return good;
}

static void table_from(cb_table *t, const char *task, const cb_metrics *ms)
{
    for (int i = 0; i < ms->n; i++)
        cb_table_add(t, CB_ROW_METRIC, task, "int4_quant_error", "-", ms->m[i].name, &ms->m[i].at, &ms->m[i].value, 1,
                     NULL);
}

static void test_spec_checks(void)
{
    static cb_spec s;   /* large */
    char err[512] = "";
    if (cb_spec_load("tasks/int4_hadamard_quant_gemm.md", &s, err, sizeof err) != 0) {
        ok(0, "load tasks/int4_hadamard_quant_gemm.md (run from the repository root): %s", err);
        return;
    }
    const cb_probe *pb = cb_probe_find("int4_quant_error");
    cb_metrics ms = {0};
    int rc = pb && s.n_probes == 1 ? pb->run(&s.probes[0].params, 1, &ms, err, sizeof err) : -1;
    ok(rc == 0, "probe at the spec's parameters: %d metrics %s", ms.n, err);
    if (rc) {
        cb_metrics_free(&ms);
        cb_spec_free(&s);
        return;
    }
    cb_table t = {0};
    table_from(&t, s.id, &ms);
    ok(eval_probe_checks(&s, &t, NULL, 0, 1), "every probe check of the spec is reproduced on the probe's metrics");
    cb_table_free(&t);

    /* A zeroed quantizer output and a zeroed GEMM output: mse and GEMM error
     * are exactly 1 in every case (computed by the probe's own measures on
     * zero arrays), so every ratio is 1; the non-triviality bounds fail. */
    float *zero = calloc(1024, sizeof *zero), *xr = malloc(1024 * sizeof *xr);
    double *zd = calloc(256, sizeof *zd), *yd = malloc(256 * sizeof *yd);
    if (zero && xr && zd && yd) {
        test_fill_normal(xr, 1024, 99);
        for (int i = 0; i < 256; i++) yd[i] = xr[i];
        const double mse0 = cb_int4_rel_sq_err(zero, xr, 1024), g0 = cb_int4_rel_fro_err(zd, yd, 256);
        for (int i = 0; i < ms.n; i++) {
            const char *nm = ms.m[i].name;
            if (!strcmp(nm, "mse_plain") || !strcmp(nm, "mse_had")) ms.m[i].value = mse0;
            if (!strcmp(nm, "gemm_err_plain") || !strcmp(nm, "gemm_err_had")) ms.m[i].value = g0;
            if (!strcmp(nm, "mse_ratio")) ms.m[i].value = mse0 / mse0;
            if (!strcmp(nm, "gemm_ratio")) ms.m[i].value = g0 / g0;
        }
        table_from(&t, s.id, &ms);
        static const char *const guards[] = {"quant_mse_gaussian_nontrivial", "gemm_err_gaussian_nontrivial",
                                             "hadamard_lowers_mse_x10", "mse_ratio_x10", "gemm_ratio_x10"};
        ok(mse0 == 1 && g0 == 1 && eval_probe_checks(&s, &t, guards, 5, 0),
           "zeroed outputs (mse %g, GEMM error %g) fail the non-triviality bounds and the x10 checks", mse0, g0);
        static const char *const passing[] = {"mse_ratio_no_outliers", "gemm_ratio_no_outliers"};
        ok(eval_probe_checks(&s, &t, passing, 2, 1),
           "... while the no-outlier ratio checks alone would pass them (ratio 1): hence the bounds");
        cb_table_free(&t);
        /* an inexact integer product fails the exactness checks */
        for (int i = 0; i < ms.n; i++)
            if (strstr(ms.m[i].name, "maxdiff")) ms.m[i].value = 1;
        table_from(&t, s.id, &ms);
        static const char *const exact[] = {"int_gemm_dnnl_exact", "int_gemm_blas_exact"};
        ok(eval_probe_checks(&s, &t, exact, 2, 0), "an integer product off by 1 fails the exactness checks");
        cb_table_free(&t);
    }
    free(zero);
    free(xr);
    free(zd);
    free(yd);
    cb_metrics_free(&ms);
    cb_spec_free(&s);
}

/* ---- claimbench run on .npy files ------------------------------------------------ */

static int write_npy(const char *path, const char *name, int64_t r, int64_t c, const float *v)
{
    cb_tensor t;
    cb_shape sh = {2, {r, c}};
    char err[256];
    if (cb_tensor_alloc(&t, name, &sh)) return -1;
    memcpy(t.data, v, (size_t)(r * c) * sizeof *v);
    int rc = cb_npy_write(path, &t, err, sizeof err);
    cb_tensor_free(&t);
    return rc;
}

static float *read_npy(const char *path, int64_t *n)
{
    cb_tensor t;
    char err[256];
    if (cb_npy_read(path, &t, "out", err, sizeof err)) return NULL;
    *n = cb_shape_numel(&t.shape);
    float *v = malloc((size_t)*n * sizeof *v);
    if (v) memcpy(v, t.data, (size_t)*n * sizeof *v);
    cb_tensor_free(&t);
    return v;
}

static void test_cli(void)
{
    const char *bin = getenv("CLAIMBENCH");
    if (!bin) {
        diag("CLAIMBENCH not set: skipping the claimbench run tests");
        return;
    }
    char dir[] = "/tmp/t_int4.XXXXXX";
    if (!mkdtemp(dir)) {
        ok(0, "mkdtemp");
        return;
    }
    char px[300], pa[300], pb[300], po[300], cmd[2048];
    snprintf(px, sizeof px, "%s/x.npy", dir);
    snprintf(pa, sizeof pa, "%s/a.npy", dir);
    snprintf(pb, sizeof pb, "%s/b.npy", dir);
    snprintf(po, sizeof po, "%s/o.npy", dir);
    /* hadamard of (1, 0, 0, 0) and (1, 1, 1, 1): (1, 1, 1, 1)/2 and (2, 0, 0, 0) */
    const float x[8] = {1, 0, 0, 0, 1, 1, 1, 1}, hy[8] = {0.5f, 0.5f, 0.5f, 0.5f, 2, 0, 0, 0};
    /* quant_int4 of (7, 2.5, -3.5, 0.4) and hadamard=1 of x: see test_quant */
    const float q[4] = {7, 2.5f, -3.5f, 0.4f}, qy[4] = {7, 2, -4, 0};
    const float a[4] = {1, 2, 3, 4}, b[2] = {1, -1}, cy[2] = {-1, -1};
    int okw = write_npy(px, "x", 2, 4, x) == 0 && write_npy(pa, "a", 2, 2, a) == 0 && write_npy(pb, "b", 2, 1, b) == 0;
    ok(okw, "write the .npy inputs");
    static const char *const hb[] = {"ref", "blas", "fwht"};
    for (int i = 0; okw && i < 3; i++) {
        snprintf(cmd, sizeof cmd, "'%s' run hadamard --backend %s --in x='%s' --out y='%s' >/dev/null 2>&1", bin, hb[i], px, po);
        int rc = system(cmd);
        int64_t n = 0;
        float *y = rc == 0 ? read_npy(po, &n) : NULL;
        double e = INFINITY;
        if (y && n == 8) {
            e = 0;
            for (int j = 0; j < 8; j++) e = fmax(e, fabs(y[j] - hy[j]));
        }
        ok(e <= 1e-6, "claimbench run hadamard --backend %s on .npy: max err %.3g", hb[i], e);
        free(y);
        remove(po);
    }
    write_npy(px, "x", 1, 4, q);
    static const char *const qb[] = {"ref", "fwht"};
    for (int i = 0; i < 2; i++) {
        snprintf(cmd, sizeof cmd, "'%s' run quant_int4 --backend %s --in x='%s' --out xhat='%s' >/dev/null 2>&1", bin, qb[i], px, po);
        int rc = system(cmd);
        int64_t n = 0;
        float *y = rc == 0 ? read_npy(po, &n) : NULL;
        ok(y && n == 4 && memcmp(y, qy, sizeof qy) == 0, "claimbench run quant_int4 --backend %s on .npy: %g %g %g %g",
           qb[i], y ? y[0] : NAN, y ? y[1] : NAN, y ? y[2] : NAN, y ? y[3] : NAN);
        free(y);
        remove(po);
    }
    static const char *const gb[] = {"ref", "blas", "dnnl"};
    for (int i = 0; i < 3; i++) {
        snprintf(cmd, sizeof cmd, "'%s' run int4_gemm --backend %s --in a='%s' --in b='%s' --out c='%s' >/dev/null 2>&1", bin,
                 gb[i], pa, pb, po);
        int rc = system(cmd);
        int64_t n = 0;
        float *y = rc == 0 ? read_npy(po, &n) : NULL;
        ok(y && n == 2 && memcmp(y, cy, sizeof cy) == 0, "claimbench run int4_gemm --backend %s on .npy: %g %g", gb[i],
           y ? y[0] : NAN, y ? y[1] : NAN);
        free(y);
        remove(po);
    }
    /* a length that is not a power of two is refused with a message */
    const float x3[3] = {1, 2, 3};
    write_npy(px, "x", 1, 3, x3);
    snprintf(cmd, sizeof cmd, "'%s' run hadamard --backend fwht --in x='%s' 2>&1 | grep -q 'not a power of two'", bin, px);
    ok(system(cmd) == 0, "claimbench run hadamard refuses K = 3, saying why");
    remove(px);
    remove(pa);
    remove(pb);
    rmdir(dir);
}

int main(void)
{
    tap_no_plan();
    test_contracts();
    test_hadamard();
    test_quant();
    test_gemm();
    test_error_measures();
    test_probe_small();
    test_spec_checks();
    test_cli();
    return tap_done();
}
