/* t_galerkin_attention.c — Galerkin and Fourier attention (Cao 2021):
 * the ref oracle against hand-computed values and against the other
 * associativity order computed here independently, every backend against
 * the ref on edge shapes, the contracts' parameter checks, and the
 * galerkin_orders probe.
 *
 * Tolerance for the float backends. Each output is a sum of products,
 *   Galerkin  o_ic = (1/N) sum_a q_ia sum_j k~_ja v~_jc,
 *   Fourier   o_ic = (1/N) sum_j (sum_a q~_ia k~_ja) v_jc,
 * nesting N + d additions deep. Any float evaluation errs by at most
 * gamma_n = n eps (first order) of the same sum taken over the absolute
 * values, B_ic (computed below in double), whatever its order or blocking.
 * The normalized operands carry their own rounding, about (2d + 8) eps of
 * their row's scale (the mean and the variance are sums over d features).
 * So each point is held to
 *   |o_float - o| <= 8 (N + 2d + 16) eps B_ic,
 * loose by design (observed errors are printed and are far below it): any
 * real defect (a lost tail block, a wrong stride, the wrong operand
 * normalized) is an error of the size of o itself, and |o| is B / sqrt(N)
 * or more for these random inputs. What this bound cannot see, eps and the
 * biased variance inside the normalization, the hand-computed cases check.
 */
#include "kernel.h"

#include "kernel_test.h"
#include "tap.h"
#include "test_rng.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- running one implementation ---------------------------------------- */

typedef struct problem {
    cb_params p;
    int64_t H, N, d;
    cb_shape in_shape[CB_MAX_TENSORS], out_shape[CB_MAX_TENSORS];
    float *x[CB_MAX_TENSORS];   /* q, k, v */
    size_t n;               /* elements of each tensor */
} problem;

static void problem_free(problem *pr) { kt_inputs_free(pr->x); }

static int problem_make(problem *pr, const char *kernel, const char *params, uint64_t seed)
{
    memset(pr, 0, sizeof *pr);
    if (kt_inputs_make(kernel, params, seed, 3, NULL, &pr->p, pr->in_shape, pr->out_shape, pr->x))
        return -1;
    pr->H = cb_params_int(&pr->p, "H", 0);
    pr->N = cb_params_int(&pr->p, "N", 0);
    pr->d = cb_params_int(&pr->p, "d", 0);
    pr->n = (size_t)(pr->H * pr->N * pr->d);
    return 0;
}

/* kt_run_twice (kernel_test.h) on the problem's inputs. */
static float *run_impl(const problem *pr, const char *kernel, const char *backend, int *same)
{
    return kt_run_twice(kernel, backend, &pr->p, pr->x, same);
}

/* ---- an independent double evaluation ------------------------------------ */

/* Row normalization written here, not taken from common/: two passes, biased
 * variance, eps = 1e-5. */
static void norm_rows(const float *x, double *y, int64_t rows, int64_t d)
{
    for (int64_t r = 0; r < rows; r++) {
        double m = 0, v = 0;
        for (int64_t c = 0; c < d; c++) m += x[r * d + c];
        m /= (double)d;
        for (int64_t c = 0; c < d; c++) v += (x[r * d + c] - m) * (x[r * d + c] - m);
        v /= (double)d;
        for (int64_t c = 0; c < d; c++) y[r * d + c] = (x[r * d + c] - m) / sqrt(v + 1e-5);
    }
}

/* o = A (B^T C) / N per head ("linear" order) into y, and the same over
 * absolute values into bnd. fourier = 0: A = q, B = k~, C = v~;
 * fourier = 1: A = q~, B = k~, C = v. */
static int expected(const problem *pr, int fourier, double *y, double *bnd)
{
    const int64_t H = pr->H, N = pr->N, d = pr->d;
    double *a = malloc(pr->n * sizeof *a), *b = malloc(pr->n * sizeof *b), *c = malloc(pr->n * sizeof *c);
    double *S = malloc((size_t)(d * d) * sizeof *S), *Sa = malloc((size_t)(d * d) * sizeof *Sa);
    if (!a || !b || !c || !S || !Sa) {
        free(a); free(b); free(c); free(S); free(Sa);
        return -1;
    }
    for (size_t i = 0; i < pr->n; i++) {
        a[i] = pr->x[0][i];
        c[i] = pr->x[2][i];
    }
    if (fourier) norm_rows(pr->x[0], a, H * N, d);
    norm_rows(pr->x[1], b, H * N, d);
    if (!fourier) norm_rows(pr->x[2], c, H * N, d);
    for (int64_t h = 0; h < H; h++) {
        const double *ah = a + h * N * d, *bh = b + h * N * d, *ch = c + h * N * d;
        for (int64_t e = 0; e < d * d; e++) S[e] = Sa[e] = 0;
        for (int64_t j = 0; j < N; j++)
            for (int64_t e = 0; e < d; e++)
                for (int64_t f = 0; f < d; f++) {
                    S[e * d + f] += bh[j * d + e] * ch[j * d + f];
                    Sa[e * d + f] += fabs(bh[j * d + e] * ch[j * d + f]);
                }
        for (int64_t i = 0; i < N; i++)
            for (int64_t f = 0; f < d; f++) {
                double s = 0, sa = 0;
                for (int64_t e = 0; e < d; e++) {
                    s += ah[i * d + e] * S[e * d + f];
                    sa += fabs(ah[i * d + e]) * Sa[e * d + f];
                }
                y[(h * N + i) * d + f] = s / (double)N;
                bnd[(h * N + i) * d + f] = sa / (double)N;
            }
    }
    free(a); free(b); free(c); free(S); free(Sa);
    return 0;
}

static double tol_factor(const problem *pr)
{
    return 8.0 * (double)(pr->N + 2 * pr->d + 16) * FLT_EPSILON;
}

/* ---- the ref against known answers -------------------------------------- */

static void set3(problem *pr, const float *q, const float *k, const float *v)
{
    memcpy(pr->x[0], q, pr->n * sizeof(float));
    memcpy(pr->x[1], k, pr->n * sizeof(float));
    memcpy(pr->x[2], v, pr->n * sizeof(float));
}

static void test_ref_known(void)
{
    /* H = 1, N = 2, d = 2. A row (a, b) normalizes to (+-h, -+h)/sqrt(h^2 + eps)
     * with h = (a - b)/2 (biased variance h^2): with |a - b| = 2 that is
     * (+-s, -+s), s = 1/sqrt(1 + 1e-5); a constant row gives (0, 0).
     * Galerkin, q = [(1,0), (2,5)], k = [(1,3), (4,2)], v = [(0,2), (5,5)]:
     *   k~ = [(-s,s), (s,-s)], v~ = [(-s,s), (0,0)],
     *   S = (1/2) k~^T v~ = (s^2/2) [[1,-1],[-1,1]],
     *   o = q S = (s^2/2) [(1,-1), (-3,3)]. */
    const double s2 = 1.0 / (1.0 + 1e-5);
    {
        const float q[4] = {1, 0, 2, 5}, k[4] = {1, 3, 4, 2}, v[4] = {0, 2, 5, 5};
        const double want[4] = {s2 / 2, -s2 / 2, -1.5 * s2, 1.5 * s2};
        problem pr;
        int same = 0;
        float *o = NULL;
        if (problem_make(&pr, "galerkin_attention", "H=1,N=2,d=2", 1) == 0) {
            set3(&pr, q, k, v);
            o = run_impl(&pr, "galerkin_attention", "ref", &same);
        }
        double e = 0;
        for (int i = 0; o && i < 4; i++) e = fmax(e, fabs(o[i] - want[i]));
        ok(o && e <= 1e-7, "galerkin ref by hand: o = (%.8g, %.8g; %.8g, %.8g), max err %.2g (eps moves it 5e-6)",
           o ? o[0] : NAN, o ? o[1] : NAN, o ? o[2] : NAN, o ? o[3] : NAN, e);
        free(o);
        problem_free(&pr);
    }
    /* Fourier, q = [(1,-1), (0,2)], k = [(1,3), (4,2)], v = [(1,2), (3,7)]:
     *   q~ = [(s,-s), (-s,s)], k~ = [(-s,s), (s,-s)],
     *   scores q~ k~^T = 2 s^2 [[-1, 1], [1, -1]],
     *   o = (1/2) scores v = s^2 [v2 - v1; v1 - v2] = s^2 [(2,5), (-2,-5)]. */
    {
        const float q[4] = {1, -1, 0, 2}, k[4] = {1, 3, 4, 2}, v[4] = {1, 2, 3, 7};
        const double want[4] = {2 * s2, 5 * s2, -2 * s2, -5 * s2};
        problem pr;
        int same = 0;
        float *o = NULL;
        if (problem_make(&pr, "fourier_attention", "H=1,N=2,d=2", 1) == 0) {
            set3(&pr, q, k, v);
            o = run_impl(&pr, "fourier_attention", "ref", &same);
        }
        double e = 0;
        for (int i = 0; o && i < 4; i++) e = fmax(e, fabs(o[i] - want[i]));
        ok(o && e <= 2e-7, "fourier ref by hand: o = (%.8g, %.8g; %.8g, %.8g), max err %.2g (eps moves it 2e-5)",
           o ? o[0] : NAN, o ? o[1] : NAN, o ? o[2] : NAN, o ? o[3] : NAN, e);
        free(o);
        problem_free(&pr);
    }
    /* d = 1: every normalized row is 0, so both outputs are exactly 0 */
    static const char *const kernels[2] = {"galerkin_attention", "fourier_attention"};
    static const char *const backends[3] = {"ref", "blas", "dnnl"};
    for (int kk = 0; kk < 2; kk++)
        for (int b = 0; b < 3; b++) {
            problem pr;
            int same = 0;
            float *o = NULL;
            if (problem_make(&pr, kernels[kk], "H=2,N=5,d=1", 7) == 0)
                o = run_impl(&pr, kernels[kk], backends[b], &same);
            double m = 0;
            for (size_t i = 0; o && i < pr.n; i++) m = fmax(m, fabs(o[i]));
            ok(o && m == 0, "%s %s, d = 1: normalized rows are 0, so o = 0 (max |o| = %g)", kernels[kk],
               backends[b], m);
            free(o);
            problem_free(&pr);
        }
}

/* The ref against the other associativity order, in double, here. */
static void test_ref_formula(void)
{
    static const char *const cases[] = {"H=2,N=67,d=13", "H=1,N=130,d=64", "H=3,N=9,d=2"};
    static const char *const kernels[2] = {"galerkin_attention", "fourier_attention"};
    for (int kk = 0; kk < 2; kk++)
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            problem pr;
            int same = 0;
            float *o = NULL;
            double *y = NULL, *bnd = NULL;
            if (problem_make(&pr, kernels[kk], cases[c], 11 + c) == 0) {
                y = malloc(pr.n * sizeof *y);
                bnd = malloc(pr.n * sizeof *bnd);
                if (y && bnd && expected(&pr, kk, y, bnd) == 0)
                    o = run_impl(&pr, kernels[kk], "ref", &same);
            }
            double e = 0, m = 0;
            for (size_t i = 0; o && i < pr.n; i++) {
                m = fmax(m, fabs(y[i]));
                if (!(fabs(o[i] - y[i]) <= e)) e = fabs(o[i] - y[i]);
            }
            /* the ref rounds only its result to float: half an ulp of |o| */
            ok(o && same && e <= 1e-7 * m, "%s ref = A (B^T C)/N in double, %s: max err %.3g of max |o| %.3g",
               kernels[kk], cases[c], e, m);
            free(o);
            free(y);
            free(bnd);
            problem_free(&pr);
        }
}

/* ---- every backend against the ref -------------------------------------- */

static void test_backends(void)
{
    static const char *const cases[] = {
        "H=1,N=1,d=1",      /* N = 1, d = 1 */
        "H=2,N=1,d=16",     /* one token: o = q (k~^T v~) with one outer product */
        "H=1,N=33,d=1",
        "H=2,N=67,d=13",    /* N, d odd */
        "H=3,N=130,d=64",
        "H=2,N=300,d=20",   /* d not a multiple of 16 */
        "H=8,N=64,d=64",
        "H=2,N=1500,d=8",   /* Fourier: blas 512-row, dnnl 1024-row blocks; tail of 476 */
        "H=1,N=2049,d=3",   /* Fourier: blas 256-row, dnnl 1024-row blocks; tail of 1 */
    };
    static const char *const kernels[2] = {"galerkin_attention", "fourier_attention"};
    static const char *const backends[] = {"blas", "dnnl"};
    for (int kk = 0; kk < 2; kk++)
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            problem pr;
            int same_ref = 0;
            double *y = NULL, *bnd = NULL;
            float *ref = NULL;
            int made = problem_make(&pr, kernels[kk], cases[c], 100 + c) == 0;
            if (made) {
                y = malloc(pr.n * sizeof *y);
                bnd = malloc(pr.n * sizeof *bnd);
                if (y && bnd && expected(&pr, kk, y, bnd) == 0)
                    ref = run_impl(&pr, kernels[kk], "ref", &same_ref);
            }
            for (size_t b = 0; b < sizeof backends / sizeof backends[0]; b++) {
                int same = 0;
                float *o = ref ? run_impl(&pr, kernels[kk], backends[b], &same) : NULL;
                double worst = 0, e = 0;   /* worst error / bound, worst error */
                int bad = !o;
                for (size_t i = 0; o && i < pr.n; i++) {
                    double d = fabs((double)o[i] - (double)ref[i]);
                    double t = tol_factor(&pr) * bnd[i] + 1e-30;
                    if (!(d <= t)) bad = 1;
                    if (!(d / t <= worst)) worst = d / t;
                    if (!(d <= e)) e = d;
                }
                ok(!bad && same && same_ref, "%s %s = ref, %s: max err %.3g, worst err / bound %.3g%s",
                   kernels[kk], backends[b], cases[c], e, worst, o && !same ? ", second run differs" : "");
                free(o);
            }
            free(ref);
            free(y);
            free(bnd);
            if (made) problem_free(&pr);
        }
}

/* ---- contracts ----------------------------------------------------------- */

static void test_shapes(void)
{
    static const char *const kernels[2] = {"galerkin_attention", "fourier_attention"};
    for (int kk = 0; kk < 2; kk++) {
        const cb_kernel *k = cb_kernel_find(kernels[kk]);
        ok(k != NULL, "%s is registered", kernels[kk]);
        if (!k) continue;
        ok(strcmp(k->params_doc, "H N d") == 0 && k->n_in == 3 && k->n_out == 1, "%s: params H N d, q k v -> o",
           kernels[kk]);
        static const struct { const char *params, *names; } bad[] = {
            {"N=8,d=4", "H"}, {"H=1,d=4", "N"}, {"H=1,N=8", "d"},
            {"H=0,N=8,d=4", "H"}, {"H=1,N=0,d=4", "N"}, {"H=1,N=8,d=2.5", "d"}, {"H=1,N=-3,d=4", "N"},
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            cb_params p = {0};
            cb_shape in[CB_MAX_TENSORS], out[CB_MAX_TENSORS];
            char err[256] = "", want[16];
            int rc = cb_params_parse(&p, bad[i].params) == 0 ? k->shapes(&p, in, out, err, sizeof err) : 0;
            snprintf(want, sizeof want, " %s", bad[i].names);
            ok(rc == -1 && strstr(err, want) != NULL, "%s rejects %s naming %s (%s)", kernels[kk], bad[i].params,
               bad[i].names, err);
        }
        cb_params p = {0};
        cb_shape in[CB_MAX_TENSORS], out[CB_MAX_TENSORS];
        char err[256] = "";
        int rc = cb_params_parse(&p, "H=8,N=1024,d=64") == 0 ? k->shapes(&p, in, out, err, sizeof err) : -1;
        ok(rc == 0 && in[0].rank == 3 && in[2].dim[1] == 1024 && out[0].dim[0] == 8 && out[0].dim[2] == 64,
           "%s shapes: q, k, v, o all [H, N, d]", kernels[kk]);
        double f = k->flops(&p), want = kk == 0 ? 4.0 * 8 * 1024 * 64 * 64 : 4.0 * 8 * 1024 * 1024 * 64;
        ok(f == want, "%s flops at H=8,N=1024,d=64: %.4g (want %.4g)", kernels[kk], f, want);
        cb_params q = {0};
        cb_shape given[3] = {{3, {2, 10, 5}}, {3, {2, 10, 5}}, {3, {2, 10, 5}}};
        rc = k->infer(&q, given, err, sizeof err);
        ok(rc == 0 && cb_params_int(&q, "H", 0) == 2 && cb_params_int(&q, "N", 0) == 10 &&
               cb_params_int(&q, "d", 0) == 5,
           "%s infers H, N, d from the tensors", kernels[kk]);
        cb_shape wrong_v[3] = {{3, {2, 10, 5}}, {3, {2, 10, 5}}, {3, {2, 10, 3}}};
        cb_shape wrong_k[3] = {{3, {2, 10, 5}}, {3, {2, 9, 5}}, {3, {2, 10, 5}}};
        cb_shape flat[3] = {{2, {10, 5}}, {2, {10, 5}}, {2, {10, 5}}};
        char e1[256] = "", e2[256] = "", e3[256] = "";
        ok(k->infer(&q, wrong_v, e1, sizeof e1) == -1 && strstr(e1, "v ") &&
               k->infer(&q, wrong_k, e2, sizeof e2) == -1 && strstr(e2, "k ") &&
               k->infer(&q, flat, e3, sizeof e3) == -1,
           "%s infer rejects v or k shaped unlike q, and rank 2 (%s; %s; %s)", kernels[kk], e1, e2, e3);
    }
}

/* ---- the probe ------------------------------------------------------------ */

static void test_probe(void)
{
    const cb_probe *pb = cb_probe_find("galerkin_orders");
    ok(pb != NULL, "galerkin_orders is registered");
    if (!pb) return;
    cb_params p = {0};
    cb_metrics ms = {0};
    char err[256] = "";
    int rc = cb_params_parse(&p, "H=2,N=70,d=12") == 0 ? pb->run(&p, 42, &ms, err, sizeof err) : -1;
    ok(rc == 0 && ms.n == 8, "galerkin_orders runs: %d metrics %s", ms.n, err);
    static const char *const names[8] = {"err64_galerkin_orders", "err32_galerkin_ref", "err32_galerkin_blas",
                                         "err32_galerkin_dnnl", "err64_fourier_orders", "err32_fourier_ref",
                                         "err32_fourier_blas", "err32_fourier_dnnl"};
    for (int i = 0; i < ms.n && i < 8; i++) {
        const cb_metric *m = &ms.m[i];
        /* fp64 orders: rounding of N + d term sums in double, ~1e-15;
         * fp32 ref: one float rounding of the output, <= 6e-8 of max |o|;
         * fp32 blas/dnnl: the bound above, ~8 (N + 2d + 16) eps ~ 1e-4 at
         * worst; far below in practice, so 1e-4 still flags a defect. */
        double lim = i % 4 == 0 ? 1e-12 : i % 4 == 1 ? 1e-7 : 1e-4;
        ok(strcmp(m->name, names[i]) == 0 && m->value >= 0 && m->value <= lim &&
               cb_params_int(&m->at, "N", 0) == 70 && cb_params_int(&m->at, "d", 0) == 12,
           "metric %s = %.3g (<= %g) at N=70,d=12", m->name, m->value, lim);
    }
    cb_metrics_free(&ms);
    cb_params_set(&p, "d", 0);
    ok(pb->run(&p, 42, &ms, err, sizeof err) == -1 && strstr(err, "d = 0"), "galerkin_orders rejects d = 0 (%s)",
       err);
    cb_metrics_free(&ms);
}

int main(void)
{
    tap_no_plan();
    test_shapes();
    test_ref_known();
    test_ref_formula();
    test_backends();
    test_probe();
    return tap_done();
}
