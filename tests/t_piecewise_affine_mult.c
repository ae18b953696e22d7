/* t_piecewise_affine_mult.c — piecewise-affine multiplication (PAM, Kosson &
 * Jaggi 2023 after Mogami 2020) and the two product kernels of the task:
 *   - every rule of common/pam.h on hand-computed cases, one test per rule
 *     (sign, exact mantissas, no carry, carry, zero, subnormal, underflow and
 *     its boundary, overflow and its boundary, Inf and NaN), and the AVX-512
 *     per-product path against the scalar one on the same cases;
 *   - the pam_error probe's grid statistics against an independent
 *     computation here (the rational error formula), and the closed-form mean
 *     against a midpoint integral;
 *   - pam_matmul: avx512 against ref and, bit for bit, against a float32
 *     sequential sum of scalar PAMs computed here, on edge shapes and on
 *     inputs that force the general path (zeros, subnormals, overflow,
 *     NaN); matmul: ref by hand, blas and dnnl against ref;
 *   - the contracts (shapes, infer, flops, rejected parameters);
 *   - a zeroed and a constant output fed to the comparison code and to the
 *     spec's own checks: they must fail.
 * `claimbench run` on .npy files is tests/t_piecewise_affine_mult.t.
 */
#include "kernel.h"
#include "checks.h"
#include "spec.h"
#include "table.h"
#include "common/pam.h"
#include "probes/pam_error.h"

#include "tap.h"
#include "test_rng.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------ */

static float fb(uint32_t u) { return cb_bits_f32(u); }

/* 1 when the scalar and the AVX-512 path both give `want` (bits). */
static int pam_is(float a, float b, uint32_t want, uint32_t *got_s, uint32_t *got_v)
{
    *got_s = cb_f32_bits(cb_pam_f32(a, b));
#ifdef __AVX512F__
    uint32_t r[16];
    _mm512_storeu_si512(r, cb_pam_bits_x16(_mm512_set1_epi32((int)cb_f32_bits(a)),
                                           _mm512_set1_epi32((int)cb_f32_bits(b))));
    *got_v = r[7];
#else
    *got_v = *got_s;
#endif
    return *got_s == want && *got_v == want;
}

static void rule(const char *what, float a, float b, uint32_t want)
{
    uint32_t s = 0, v = 0;
    ok(pam_is(a, b, want, &s, &v), "%s: pam(%a, %a) = %a (0x%08x): scalar 0x%08x, vector 0x%08x", what, (double)a,
       (double)b, (double)fb(want), want, s, v);
}

static void rule_nan(const char *what, float a, float b)
{
    uint32_t s = cb_f32_bits(cb_pam_f32(a, b)), v = s;
#ifdef __AVX512F__
    uint32_t r[16];
    _mm512_storeu_si512(r, cb_pam_bits_x16(_mm512_set1_epi32((int)cb_f32_bits(a)),
                                           _mm512_set1_epi32((int)cb_f32_bits(b))));
    v = r[3];
#endif
    ok(isnan(fb(s)) && s == v, "%s: pam(%g, %g) is NaN (scalar 0x%08x, vector 0x%08x)", what, (double)a, (double)b,
       s, v);
}

/* ---- the rules of common/pam.h, each on its own -------------------------- */

static void test_rules(void)
{
    /* exact when a mantissa is 0: a power of two times anything */
    rule("exact, y = 0", 4.0f, 1.25f, cb_f32_bits(5.0f));
    rule("exact, x = 0", 0.5f, 3.0f, cb_f32_bits(1.5f));
    rule("exact, max finite times 1", FLT_MAX, 1.0f, cb_f32_bits(FLT_MAX));
    /* no carry: (1 + x)(1 + y) -> 1 + x + y */
    rule("no carry, 1.25 x 1.5 -> 1.75 (exact 1.875)", 1.25f, 1.5f, cb_f32_bits(1.75f));
    rule("no carry, 3 x 5 = 2(1.5) 4(1.25) -> 8(1.75) = 14 (exact 15)", 3.0f, 5.0f, cb_f32_bits(14.0f));
    /* carry: x + y >= 1 -> 2 (x + y) */
    rule("carry, 1.5 x 1.5 -> 2 (exact 2.25: the worst case, 1/9 low)", 1.5f, 1.5f, cb_f32_bits(2.0f));
    rule("carry, 1.75 x 1.75 -> 3 (exact 3.0625)", 1.75f, 1.75f, cb_f32_bits(3.0f));
    rule("carry, 1.5 x 1.75 -> 2.5 (exact 2.625)", 1.5f, 1.75f, cb_f32_bits(2.5f));
    /* sign: XOR */
    rule("sign, - x +", -1.5f, 2.0f, cb_f32_bits(-3.0f));
    rule("sign, + x -", 1.25f, -1.5f, cb_f32_bits(-1.75f));
    rule("sign, - x -", -1.5f, -1.5f, cb_f32_bits(2.0f));
    /* zero: a signed zero with the XORed sign */
    rule("zero, +0 x 5", 0.0f, 5.0f, 0x00000000u);
    rule("zero, -0 x 5", -0.0f, 5.0f, 0x80000000u);
    rule("zero, +0 x -5", 0.0f, -5.0f, 0x80000000u);
    rule("zero, -0 x -0", -0.0f, -0.0f, 0x00000000u);
    rule("zero, 0 x max finite", 0.0f, FLT_MAX, 0x00000000u);
    /* subnormal operands are flushed, even where the true product is normal */
    rule("subnormal, 1e-40 x 1e30 (true product 1e-10) flushed", fb(0x000116C2u), 1e30f, 0x00000000u);
    rule("subnormal, -(smallest) x 2 flushed", -fb(0x00000001u), 2.0f, 0x80000000u);
    rule("subnormal, largest subnormal x 2^100 flushed", fb(0x007FFFFFu), 0x1p100f, 0x00000000u);
    /* underflow: below 2^-126 -> signed zero; the boundary exactly */
    rule("underflow, 2^-100 x 2^-30", 0x1p-100f, 0x1p-30f, 0x00000000u);
    rule("underflow, -2^-100 x 2^-30", -0x1p-100f, 0x1p-30f, 0x80000000u);
    rule("underflow boundary, 2^-63 x 2^-63 = 2^-126 (smallest normal) kept", 0x1p-63f, 0x1p-63f, 0x00800000u);
    rule("underflow boundary, 2^-63 x 2^-64 = 2^-127 flushed", 0x1p-63f, 0x1p-64f, 0x00000000u);
    rule("underflow boundary, the carry lifts 1.5 2^-64 x 1.5 2^-63 to 2^-126", 0x1.8p-64f, 0x1.8p-63f,
         0x00800000u);
    /* overflow: exponent 255 -> signed infinity; the boundary exactly */
    rule("overflow boundary, 2^64 x 2^63 = 2^127 kept", 0x1p64f, 0x1p63f, 0x7F000000u);
    rule("overflow, 2^64 x 2^64 -> +inf", 0x1p64f, 0x1p64f, 0x7F800000u);
    rule("overflow, -2^64 x 2^64 -> -inf", -0x1p64f, 0x1p64f, 0xFF800000u);
    rule("overflow by the carry, 1.5 2^63 x 1.5 2^64 -> +inf", 0x1.8p63f, 0x1.8p64f, 0x7F800000u);
    rule("overflow by the carry, max finite x (1 + 2^-23) -> +inf", FLT_MAX, fb(0x3F800001u), 0x7F800000u);
    rule("largest finite result, 1.5 2^63 x (2 - 2^-23) 2^63 kept", 0x1.8p63f, fb(0x5F7FFFFFu), 0x7F3FFFFFu);
    /* Inf and NaN operands give NaN */
    rule_nan("Inf operand", INFINITY, 2.0f);
    rule_nan("-Inf x -Inf", -INFINITY, -INFINITY);
    rule_nan("0 x Inf", 0.0f, INFINITY);
    rule_nan("NaN x 0", NAN, 0.0f);
    rule_nan("subnormal x NaN", fb(0x00000005u), NAN);
}

/* ---- the probe's grid statistics against an independent computation ---- */

static void test_grid(void)
{
    const int bits = 6;
    cb_pam_grid g;
    ok(cb_pam_grid_stats(bits, &g) == 0, "grid stats at bits = %d run", bits);
    /* here: the error as a rational function of x, y (no bit patterns):
     * e = 1 - (1 + x + y) / ((1 + x)(1 + y)) below the carry line,
     * e = 1 - 2 (x + y) / ((1 + x)(1 + y)) on and above it */
    const int G = 1 << bits;
    double emax = -1, emean = 0, emin = 1, ax = 0, ay = 0;
    for (int i = 0; i < G; i++)
        for (int j = 0; j < G; j++) {
            const double x = (double)i / G, y = (double)j / G;
            const double e = 1 - (x + y < 1 ? 1 + x + y : 2 * (x + y)) / ((1 + x) * (1 + y));
            if (e > emax) { emax = e; ax = 1 + x; ay = 1 + y; }
            if (e < emin) emin = e;
            emean += e;
        }
    emean /= (double)G * G;
    ok(fabs(g.max_under - emax) <= 1e-15 && fabs(emax - 1.0 / 9) <= 1e-15, "max underestimate %.17g = 1/9 (here %.17g)",
       g.max_under, emax);
    ok(g.argmax_a == 1.5 && g.argmax_b == 1.5 && ax == 1.5 && ay == 1.5, "attained at %g x %g (here %g x %g)",
       g.argmax_a, g.argmax_b, ax, ay);
    ok(g.max_over == 0 && fabs(emin) <= 1e-16, "never over: max overestimate %g (here min error %g)", g.max_over, emin);
    ok(fabs(g.mean_under - emean) <= 1e-14, "grid mean %.15g = %.15g here", g.mean_under, emean);
    ok(g.mismatch_closed == 0 && g.mismatch_scaling == 0, "bit-exact: closed form %g, exponent/sign %g mismatches",
       g.mismatch_closed, g.mismatch_scaling);
#ifdef __AVX512F__
    ok(g.mismatch_vector == 0, "vector path = scalar: %g mismatches", g.mismatch_vector);
#else
    ok(g.mismatch_vector == -1, "no AVX-512: vector mismatches reported as -1");
#endif
    ok(cb_pam_grid_stats(0, &g) == -1 && cb_pam_grid_stats(17, &g) == -1, "grid stats reject bits 0 and 17");
    /* the closed form against a midpoint integral over the unit square */
    const int n = 2000;
    double s = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            const double x = (i + 0.5) / n, y = (j + 0.5) / n;
            s += 1 - (x + y < 1 ? 1 + x + y : 2 * (x + y)) / ((1 + x) * (1 + y));
        }
    s /= (double)n * n;
    const double cf = cb_pam_mean_closed_form();
    ok(fabs(cf - s) <= 1e-6 && fabs(cf - 0.0384879939) <= 1e-9, "closed-form mean %.10f = midpoint integral %.10f",
       cf, s);
}

/* ---- running the kernels --------------------------------------------------- */

/* Run kernel/backend on a [M,K], b [K,N]; return c (malloc'd) or NULL. */
static float *run(const char *kernel, const char *backend, int64_t M, int64_t K, int64_t N, const float *a,
                  const float *b)
{
    const cb_kernel *k = cb_kernel_find(kernel);
    const cb_impl *im = cb_impl_find(kernel, backend);
    if (!k || !im) return NULL;
    cb_params p = {0};
    cb_params_set(&p, "M", (double)M);
    cb_params_set(&p, "K", (double)K);
    cb_params_set(&p, "N", (double)N);
    const float *const in[2] = {a, b};
    float *c = NULL;
    int64_t n = 0;
    char err[256] = "";
    if (cb_impl_run_arrays(k, im, &p, in, &c, &n, err, sizeof err)) {
        diag("%s/%s: %s", kernel, backend, err);
        return NULL;
    }
    return c;
}

/* The float32 sum of scalar PAMs in the order k = 0, 1, ...: what the avx512
 * backend must give bit for bit. And the bound of a float sum against ref:
 * |float sum - exact| <= (K - 1) u sum |p| (first order), u = 2^-24. */
static void seq_pam(int64_t M, int64_t K, int64_t N, const float *a, const float *b, float *c, double *bnd)
{
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            float s = 0.0f;
            double sa = 0;
            for (int64_t k = 0; k < K; k++) {
                const float p = cb_pam_f32(a[i * K + k], b[k * N + j]);
                s += p;
                sa += fabs((double)p);
            }
            c[i * N + j] = s;
            bnd[i * N + j] = 2.0 * (double)K * 0x1p-24 * sa;
        }
}

static int same_bits(float x, float y)
{
    return cb_f32_bits(x) == cb_f32_bits(y) || (isnan(x) && isnan(y));
}

typedef enum { PLAIN, ZEROS, GENERAL, NANCOL } fill_kind;

static void test_pam_backends(void)
{
    static const struct { int64_t M, K, N; fill_kind f; } cases[] = {
        {1, 1, 1, PLAIN},     {1, 37, 1, PLAIN},   {5, 3, 17, PLAIN},     {7, 33, 31, PLAIN},
        {4, 64, 32, PLAIN},   {130, 300, 67, PLAIN}, {64, 128, 48, PLAIN}, {9, 50, 40, ZEROS},
        {11, 40, 35, GENERAL}, {6, 20, 33, NANCOL},
    };
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        const int64_t M = cases[t].M, K = cases[t].K, N = cases[t].N;
        float *a = malloc((size_t)(M * K) * sizeof *a), *b = malloc((size_t)(K * N) * sizeof *b);
        float *seq = malloc((size_t)(M * N) * sizeof *seq);
        double *bnd = malloc((size_t)(M * N) * sizeof *bnd);
        if (!a || !b || !seq || !bnd) {
            ok(0, "out of memory");
            free(a); free(b); free(seq); free(bnd);
            return;
        }
        test_fill_normal(a, (size_t)(M * K), 10 + t);
        test_fill_normal(b, (size_t)(K * N), 20 + t);
        const char *what = "normal inputs";
        if (cases[t].f == ZEROS) {
            /* zeros and subnormals in both operands: the fast path's skip and mask */
            for (int64_t e = 0; e < M * K; e += 3) a[e] = e % 2 ? -0.0f : 0.0f;
            for (int64_t e = 1; e < K * N; e += 4) b[e] = e % 3 ? 0.0f : fb(0x00012345u);
            a[2] = fb(0x80000010u);
            what = "every 3rd a and 4th b zero or subnormal";
        } else if (cases[t].f == GENERAL) {
            /* rows 1, 5 and 10 leave the normal range against b's 2^60 entries:
             * they take the general path (Inf products, then Inf - Inf = NaN, or underflow) */
            b[2 * N + 3] = 0x1p60f;
            b[7 * N + 3] = -0x1p60f;
            b[0 * N + 4] = -0x1p-70f;
            a[1 * K + 2] = 0x1p70f;    /* row 1, col 3: +Inf + (-Inf) = NaN */
            a[1 * K + 7] = 0x1p69f;
            a[5 * K + 7] = -0x1p69f;   /* row 5, col 3: +Inf */
            a[10 * K + 0] = 0x1p-70f;  /* row 10, col 4: 2^-140 underflows to -0 */
            what = "rows that over- and underflow (general path)";
        } else if (cases[t].f == NANCOL) {
            b[2 * N + 5] = NAN;
            b[7 * N + 32] = INFINITY;
            what = "a NaN and an Inf in b";
        }
        seq_pam(M, K, N, a, b, seq, bnd);
        float *ref = run("pam_matmul", "ref", M, K, N, a, b);
        float *avx = run("pam_matmul", "avx512", M, K, N, a, b);
        int64_t bitdiff = 0, far = 0, nonfinite = 0;
        double worst = 0;
        for (int64_t e = 0; avx && ref && e < M * N; e++) {
            bitdiff += !same_bits(avx[e], seq[e]);
            if (!isfinite(seq[e])) {
                nonfinite++;
                far += !(same_bits(ref[e], seq[e]) || (isinf(seq[e]) && isnan(ref[e])) ||
                         (isnan(seq[e]) && isinf(ref[e])));
                continue;
            }
            const double d = fabs((double)avx[e] - (double)ref[e]);
            if (!(d <= bnd[e] + 1e-45)) far++;
            if (bnd[e] > 0 && d / bnd[e] > worst) worst = d / bnd[e];
        }
        ok(avx && ref && bitdiff == 0,
           "pam_matmul avx512 = float32 sequential sum of scalar PAMs, bit for bit, M=%lld K=%lld N=%lld (%s): %lld differ",
           (long long)M, (long long)K, (long long)N, what, (long long)bitdiff);
        ok(avx && ref && far == 0,
           "pam_matmul avx512 = ref within 2 K u sum|p|, M=%lld K=%lld N=%lld: worst err/bound %.3g, %lld non-finite (%s)",
           (long long)M, (long long)K, (long long)N, worst, (long long)nonfinite, what);
        if (cases[t].f == GENERAL)
            ok(avx && nonfinite > 0, "the general-path case does produce non-finite outputs (%lld)", (long long)nonfinite);
        free(a); free(b); free(seq); free(bnd); free(ref); free(avx);
    }
}

static void test_matmul_backends(void)
{
    /* ref by hand */
    const float a2[4] = {1, 2, 3, 4}, b2[6] = {5, 6, -1, 7, 8, 0.5f};
    float *c = run("matmul", "ref", 2, 2, 3, a2, b2);
    ok(c && c[0] == 19 && c[1] == 22 && c[2] == 0 && c[3] == 43 && c[4] == 50 && c[5] == -1,
       "matmul ref by hand: [[1,2],[3,4]] [[5,6,-1],[7,8,0.5]] = [[19,22,0],[43,50,-1]]");
    free(c);
    static const int64_t cases[][3] = {{1, 1, 1}, {1, 37, 1}, {5, 3, 17}, {37, 100, 33}, {130, 300, 67}, {64, 64, 64}};
    static const char *const be[] = {"blas", "dnnl"};
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        const int64_t M = cases[t][0], K = cases[t][1], N = cases[t][2];
        float *a = malloc((size_t)(M * K) * sizeof *a), *b = malloc((size_t)(K * N) * sizeof *b);
        if (!a || !b) { free(a); free(b); ok(0, "out of memory"); return; }
        test_fill_normal(a, (size_t)(M * K), 40 + t);
        test_fill_normal(b, (size_t)(K * N), 50 + t);
        float *ref = run("matmul", "ref", M, K, N, a, b);
        /* the ref against a double product here: one rounding */
        double worst_ref = 0;
        for (int64_t i = 0; ref && i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double s = 0;
                for (int64_t k = 0; k < K; k++) s += (double)a[i * K + k] * b[k * N + j];
                const double d = fabs(ref[i * N + j] - s) / (fabs(s) + 1e-300);
                if (d > worst_ref) worst_ref = d;
            }
        ok(ref && worst_ref <= 0x1p-24, "matmul ref = double product rounded once, M=%lld K=%lld N=%lld (rel %.3g)",
           (long long)M, (long long)K, (long long)N, worst_ref);
        for (int x = 0; x < 2; x++) {
            float *o = run("matmul", be[x], M, K, N, a, b);
            int64_t far = 0;
            double worst = 0;
            for (int64_t i = 0; o && ref && i < M; i++)
                for (int64_t j = 0; j < N; j++) {
                    double sa = 0;
                    for (int64_t k = 0; k < K; k++) sa += fabs((double)a[i * K + k] * b[k * N + j]);
                    const double bound = 2.0 * (double)(K + 2) * 0x1p-24 * sa;   /* gamma_K sum|a||b|, plus slack */
                    const double d = fabs((double)o[i * N + j] - ref[i * N + j]);
                    if (!(d <= bound)) far++;
                    if (d / bound > worst) worst = d / bound;
                }
            ok(o && ref && far == 0, "matmul %s = ref within 2 (K+2) u sum|a||b|, M=%lld K=%lld N=%lld: worst err/bound %.3g",
               be[x], (long long)M, (long long)K, (long long)N, worst);
            free(o);
        }
        free(ref); free(a); free(b);
    }
}

/* ---- contracts ---------------------------------------------------------------- */

static void test_contracts(void)
{
    static const char *const kernels[2] = {"matmul", "pam_matmul"};
    for (int kk = 0; kk < 2; kk++) {
        const cb_kernel *k = cb_kernel_find(kernels[kk]);
        ok(k && strcmp(k->params_doc, "M K N") == 0 && k->n_in == 2 && strcmp(k->in[0], "a") == 0 &&
               strcmp(k->in[1], "b") == 0 && k->n_out == 1 && strcmp(k->out[0], "c") == 0,
           "%s: params M K N, inputs a b, output c", kernels[kk]);
        if (!k) continue;
        cb_params p = {0};
        cb_shape in[CB_MAX_TENSORS], out[CB_MAX_TENSORS];
        char err[256] = "";
        int rc = cb_params_parse(&p, "M=3,K=5,N=7") == 0 ? k->shapes(&p, in, out, err, sizeof err) : -1;
        ok(rc == 0 && in[0].rank == 2 && in[0].dim[0] == 3 && in[0].dim[1] == 5 && in[1].dim[0] == 5 &&
               in[1].dim[1] == 7 && out[0].dim[0] == 3 && out[0].dim[1] == 7 && k->flops(&p) == 2.0 * 3 * 5 * 7,
           "%s: a [3, 5], b [5, 7] -> c [3, 7], 210 flops", kernels[kk]);
        static const struct { const char *params, *name; } bad[] = {
            {"K=2,N=2", " M"}, {"M=2,N=2", " K"}, {"M=2,K=2", " N"}, {"M=0,K=2,N=2", " M"}, {"M=2,K=1.5,N=2", " K"},
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            cb_params q = {0};
            char e[256] = "";
            int r = cb_params_parse(&q, bad[i].params) == 0 ? k->shapes(&q, in, out, e, sizeof e) : 0;
            ok(r == -1 && strstr(e, bad[i].name), "%s rejects %s (%s)", kernels[kk], bad[i].params, e);
        }
        cb_params q = {0};
        cb_shape given[2] = {{2, {4, 6}}, {2, {6, 9}}}, wrong[2] = {{2, {4, 6}}, {2, {5, 9}}};
        cb_shape flat[2] = {{1, {4}}, {2, {4, 9}}};
        char e1[256] = "", e2[256] = "";
        ok(k->infer(&q, given, err, sizeof err) == 0 && cb_params_int(&q, "M", 0) == 4 &&
               cb_params_int(&q, "K", 0) == 6 && cb_params_int(&q, "N", 0) == 9,
           "%s infers M, K, N from a and b", kernels[kk]);
        ok(k->infer(&q, wrong, e1, sizeof e1) == -1 && strstr(e1, "rows") && k->infer(&q, flat, e2, sizeof e2) == -1,
           "%s infer rejects mismatched K and rank 1 (%s; %s)", kernels[kk], e1, e2);
    }
    ok(cb_impl_find("pam_matmul", "avx512") && cb_impl_find("matmul", "blas") && cb_impl_find("matmul", "dnnl"),
       "pam_matmul/avx512, matmul/blas and matmul/dnnl are registered");
}

/* ---- the probe ----------------------------------------------------------------- */

static const cb_metric *metric(const cb_metrics *ms, const char *name)
{
    for (int i = 0; i < ms->n; i++)
        if (strcmp(ms->m[i].name, name) == 0) return &ms->m[i];
    return NULL;
}

static double mval(const cb_metrics *ms, const char *name)
{
    const cb_metric *m = metric(ms, name);
    return m ? m->value : NAN;
}

static double mval_at(const cb_metrics *ms, const char *name, double x)
{
    for (int i = 0; i < ms->n; i++)
        if (strcmp(ms->m[i].name, name) == 0 && cb_params_get(&ms->m[i].at, "a", NAN) == x) return ms->m[i].value;
    return NAN;
}

static void test_probe(void)
{
    const cb_probe *pb = cb_probe_find("pam_error");
    ok(pb != NULL, "pam_error is registered");
    if (!pb) return;
    cb_params p = {0};
    cb_metrics ms = {0};
    char err[256] = "";
    int rc = cb_params_parse(&p, "bits=8,mm=96,pairs=262144") == 0 ? pb->run(&p, 7, &ms, err, sizeof err) : -1;
    ok(rc == 0 && ms.n == 150, "pam_error runs: %d metrics %s", ms.n, err);
    /* the figure's profile: -1/9 at x = y = 1/2 on the diagonal, 0 at x = 0 and x = 1 */
    int prof = 0;
    for (int i = 0; i < ms.n; i++) {
        const double x = cb_params_get(&ms.m[i].at, "a", NAN), v = ms.m[i].value;
        if (strcmp(ms.m[i].name, "rel_err_diag") == 0) {
            const double t = x - 1, want = x == 2 ? 0 : (2 * t < 1 ? 1 + 2 * t : 4 * t) / (x * x) - 1;
            prof += fabs(v - want) <= 1e-15;
        } else if (strcmp(ms.m[i].name, "rel_err_y_half") == 0) {
            const double t = x - 1, want = x == 2 ? 0 : (t + 0.5 < 1 ? 1.5 + t : 2 * (t + 0.5)) / (1.5 * x) - 1;
            prof += fabs(v - want) <= 1e-15;
        }
    }
    ok(prof == 130 && fabs(mval_at(&ms, "rel_err_diag", 1.5) + 1.0 / 9) <= 1e-15,
       "probe: the error profiles (130 points) follow the closed form, -1/9 at 1.5 x 1.5 (%d match)", prof);
    ok(mval(&ms, "grid_pairs") == 65536 && fabs(mval(&ms, "max_rel_under") - 1.0 / 9) <= 1e-15 &&
           mval(&ms, "argmax_a") == 1.5 && mval(&ms, "argmax_b") == 1.5 && mval(&ms, "max_rel_over") == 0,
       "probe: 2^16 pairs, worst 1/9 at 1.5 x 1.5, never over");
    ok(fabs(mval(&ms, "mean_rel_under") - 0.0384880) <= 2e-5 && mval(&ms, "mean_gap") <= 2e-5,
       "probe: mean %.7f, gap to the closed form %.2g (2^8 grid)", mval(&ms, "mean_rel_under"), mval(&ms, "mean_gap"));
    ok(mval(&ms, "mismatch_closed_form") == 0 && mval(&ms, "mismatch_vector") == 0 &&
           mval(&ms, "mismatch_scaling") == 0 && mval(&ms, "seq_mismatch_avx512") == 0,
       "probe: 0 mismatches (closed form, vector, scaling, sequential matmul)");
    /* at mm = 96 (9216 outputs of 96 products) the ratios scatter a few % */
    ok(fabs(mval(&ms, "nl2_over_pred") - 1) <= 0.05 && fabs(mval(&ms, "bias_over_pred") - 1) <= 0.08 &&
           fabs(mval(&ms, "nl2_ref") - mval(&ms, "nl2_avx512")) <= 1e-6,
       "probe: nl2 %.4f / predicted %.4f = %.4f, bias %.4f / predicted %.4f = %.4f", mval(&ms, "nl2_avx512"),
       mval(&ms, "pred_nl2"), mval(&ms, "nl2_over_pred"), mval(&ms, "bias_avx512"), mval(&ms, "pred_bias"),
       mval(&ms, "bias_over_pred"));
    const cb_metric *m = metric(&ms, "nl2_avx512");
    ok(m && cb_params_int(&m->at, "mm", 0) == 96, "probe: matmul metrics carry mm = 96");
    cb_metrics_free(&ms);
    cb_params q = {0};
    cb_params_parse(&q, "bits=3");
    ok(pb->run(&q, 7, &ms, err, sizeof err) == -1 && strstr(err, "bits"), "pam_error rejects bits = 3 (%s)", err);
    cb_metrics_free(&ms);
    cb_params_parse(&q, "bits=8,mm=0");
    ok(pb->run(&q, 7, &ms, err, sizeof err) == -1 && strstr(err, "mm"), "pam_error rejects mm = 0 (%s)", err);
    cb_metrics_free(&ms);
}

/* ---- a zeroed or constant output must fail ----------------------------------- */

static cb_verdict_kind eval_metric(const cb_spec *s, const char *check, const char *metric_name, double value)
{
    const cb_check *c = cb_spec_find_check(s, check);
    if (!c) return (cb_verdict_kind)-1;
    cb_table t = {0};
    cb_params at = {0};
    cb_params_set(&at, "mm", 64);
    cb_table_add(&t, CB_ROW_METRIC, s->id, "pam_error", "-", metric_name, &at, &value, 1, "");
    cb_verdict v;
    cb_check_eval(c, s->id, &t, 1, &v);
    cb_table_free(&t);
    return v.verdict;
}

static void test_trivial_outputs_fail(void)
{
    const size_t n = 400;
    double *y = malloc(n * sizeof *y);
    float *zero = calloc(n, sizeof *zero), *cst = malloc(n * sizeof *cst), *good = malloc(n * sizeof *good);
    cb_spec *s = calloc(1, sizeof *s);
    char err[512] = "";
    if (!y || !zero || !cst || !good || !s) {
        ok(0, "out of memory");
        free(y); free(zero); free(cst); free(good); free(s);
        return;
    }
    float tmp[400];
    test_fill_normal(tmp, n, 99);
    double mean = 0;
    for (size_t i = 0; i < n; i++) {
        y[i] = 16.0 * tmp[i];
        good[i] = (float)(y[i] * 0.962);
        mean += y[i] / (double)n;
    }
    for (size_t i = 0; i < n; i++) cst[i] = (float)mean;
    const double pred = 0.0474;
    double nl2, bias, nr;
    cb_pam_compare(good, y, n, &nl2, &bias, &nr);
    ok(fabs(nl2 - 0.038) <= 1e-6 && fabs(bias + 0.038) <= 1e-6 && fabs(nr - 0.962) <= 1e-6,
       "compare: 0.962 y gives nl2 0.038, bias -0.038, norm ratio 0.962 (%.6f %.6f %.6f)", nl2, bias, nr);
    int loaded = cb_spec_load("tasks/piecewise_affine_mult.md", s, err, sizeof err) == 0;
    ok(loaded, "the task spec loads %s", err);
    if (loaded) {
        ok(eval_metric(s, "pam_matmul_nontrivial", "norm_ratio_avx512", nr) == CB_REPRODUCED,
           "spec check pam_matmul_nontrivial passes a sound output (norm ratio %.3f)", nr);
        cb_pam_compare(zero, y, n, &nl2, &bias, &nr);
        ok(nl2 == 1 && nr == 0 && eval_metric(s, "pam_matmul_nontrivial", "norm_ratio_avx512", nr) == CB_NOT_REPRODUCED &&
               eval_metric(s, "pam_matmul_error_as_predicted", "nl2_over_pred", nl2 / pred) == CB_NOT_REPRODUCED &&
               eval_metric(s, "pam_matmul_bias_as_predicted", "bias_over_pred", bias / -0.0377) == CB_NOT_REPRODUCED,
           "a zeroed output fails: nl2 %g, norm ratio %g, bias %g", nl2, nr, bias);
        cb_pam_compare(cst, y, n, &nl2, &bias, &nr);
        ok(eval_metric(s, "pam_matmul_nontrivial", "norm_ratio_avx512", nr) == CB_NOT_REPRODUCED &&
               eval_metric(s, "pam_matmul_error_as_predicted", "nl2_over_pred", nl2 / pred) == CB_NOT_REPRODUCED,
           "a constant output fails: nl2 %.3g, norm ratio %.3g", nl2, nr);
        for (size_t i = 0; i < n; i++) y[i] = 0;
        cb_pam_compare(zero, y, n, &nl2, &bias, &nr);
        ok(isnan(nl2) && isnan(nr) &&
               eval_metric(s, "pam_matmul_error_as_predicted", "nl2_over_pred", nl2 / pred) == CB_NOT_REPRODUCED,
           "an all-zero reference gives NaN (0/0), which fails");
        ok(eval_metric(s, "worst_error_one_ninth", "max_rel_under", 0.0) == CB_NOT_REPRODUCED &&
               eval_metric(s, "mean_error_3p85_percent", "mean_rel_under", 0.0) == CB_NOT_REPRODUCED &&
               eval_metric(s, "never_overestimates", "max_rel_over", 1e-9) == CB_NOT_REPRODUCED &&
               eval_metric(s, "bit_exact_vector_path", "mismatch_vector", 1) == CB_NOT_REPRODUCED,
           "an exact multiply (error 0), an overestimate or one mismatch fails its check");
    }
    cb_spec_free(s);
    free(s); free(y); free(zero); free(cst); free(good);
}

int main(void)
{
    tap_no_plan();
    test_rules();
    test_grid();
    test_contracts();
    test_matmul_backends();
    test_pam_backends();
    test_probe();
    test_trivial_outputs_fail();
    return tap_done();
}
