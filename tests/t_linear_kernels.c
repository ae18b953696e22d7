/* t_linear_kernels.c — linear attention and linear decoding: every backend
 * against the ref oracle, the ref against hand-computed values and the
 * masked O(N^2) formula, the contracts' parameter checks, and the
 * causal_forms probe.
 *
 * Tolerance. o_i = sum_j w_j v_j / sum_j w_j with weights w_j > 0, so the
 * numerator's terms are bounded by max|v| times the denominator. Any float
 * summation of n terms errs by at most gamma_n = n eps (to first order) of
 * the sum of the magnitudes, in whatever order it adds, so
 *   |o_float - o| <= 2 gamma_n max|v|,  n = N + d + 8
 * (the products phi(q)_a phi(k)_ja v_jc nest N + d deep; 8 covers phi's
 * 2 ulp, the division and the rounding of the result). The tests hold every
 * backend to that bound: it is loose (observed errors are printed, and are
 * far below it) but any real defect (a wrong mask, a missed tail, a stale
 * state) is an O(1) error.
 */
#include "kernel.h"

#include "kernel_test.h"
#include "tap.h"
#include "test_cmp.h"
#include "test_rng.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- running one implementation ---------------------------------------- */

typedef struct problem {
    cb_params p;
    cb_shape in_shape[CB_MAX_TENSORS], out_shape[CB_MAX_TENSORS];
    float *x[CB_MAX_TENSORS];   /* q, k, v */
    size_t n_out;
} problem;

static void problem_free(problem *pr) { kt_inputs_free(pr->x); }

/* Set up inputs for `kernel` at "H=..,N=..": returns 0 or -1. */
static int problem_make(problem *pr, const char *kernel, const char *params, uint64_t seed)
{
    memset(pr, 0, sizeof *pr);
    if (kt_inputs_make(kernel, params, seed, 3, NULL, &pr->p, pr->in_shape, pr->out_shape, pr->x))
        return -1;
    pr->n_out = (size_t)cb_shape_numel(&pr->out_shape[0]);
    return 0;
}

/* kt_run_twice (kernel_test.h) on the problem's inputs. */
static float *run_impl(const problem *pr, const char *kernel, const char *backend, int *same)
{
    return kt_run_twice(kernel, backend, &pr->p, pr->x, same);
}

static double max_abs(const float *x, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(x[i]) > m) m = fabs(x[i]);
    return m;
}

static double bound(const problem *pr)
{
    double N = cb_params_get(&pr->p, "N", 0), d = cb_params_get(&pr->p, "d", 0);
    size_t nv = (size_t)cb_shape_numel(&pr->in_shape[2]);
    return 2 * (N + d + 8) * FLT_EPSILON * max_abs(pr->x[2], nv);
}

/* ---- the ref against known answers -------------------------------------- */

static double phi(double x) { return x > 0 ? x + 1 : exp(x); }

/* The masked formula in double, written independently of the ref file. */
static void naive(const problem *pr, int causal, double *o)
{
    int64_t H = cb_params_int(&pr->p, "H", 0), N = cb_params_int(&pr->p, "N", 0);
    int64_t d = cb_params_int(&pr->p, "d", 0), dv = cb_params_int(&pr->p, "dv", 0);
    for (int64_t h = 0; h < H; h++)
        for (int64_t i = 0; i < N; i++) {
            double den = 0, *oi = o + (h * N + i) * dv;
            for (int64_t c = 0; c < dv; c++) oi[c] = 0;
            for (int64_t j = 0; j < (causal ? i + 1 : N); j++) {
                double w = 0;
                for (int64_t a = 0; a < d; a++)
                    w += phi(pr->x[0][(h * N + i) * d + a]) * phi(pr->x[1][(h * N + j) * d + a]);
                den += w;
                for (int64_t c = 0; c < dv; c++) oi[c] += w * pr->x[2][(h * N + j) * dv + c];
            }
            for (int64_t c = 0; c < dv; c++) oi[c] /= den;
        }
}

static void test_ref_known(void)
{
    /* H=1, N=2, d=1, dv=1; phi(q) = 1, phi(k) = (1, 2), v = (1, 4):
     * all keys: o = (1*1 + 2*4) / 3 = 3 for both rows; causal: o = (1, 3) */
    static const char *mode[2] = {"causal=0", "causal=1"};
    const double want[2][2] = {{3, 3}, {1, 3}};
    for (int c = 0; c < 2; c++) {
        problem pr;
        char params[96];
        snprintf(params, sizeof params, "H=1,N=2,d=1,%s", mode[c]);
        int same = 0;
        float *o = NULL;
        if (problem_make(&pr, "linear_attention", params, 1) == 0) {
            pr.x[0][0] = 0; pr.x[0][1] = 0;
            pr.x[1][0] = 0; pr.x[1][1] = 1;
            pr.x[2][0] = 1; pr.x[2][1] = 4;
            o = run_impl(&pr, "linear_attention", "ref", &same);
        }
        ok(o && o[0] == want[c][0] && o[1] == want[c][1], "ref by hand, %s: o = (%g, %g)", mode[c],
           o ? o[0] : NAN, o ? o[1] : NAN);
        free(o);
        problem_free(&pr);
    }
    /* a negative input: phi(-1) = e^-1. N=2, q = (-1, 0) does not matter for
     * one feature; k = (-1, 0): phi = (1/e, 1); v = (0, 1): o_1 = 1/(1/e + 1) */
    {
        problem pr;
        int same = 0;
        float *o = NULL;
        if (problem_make(&pr, "linear_attention", "H=1,N=2,d=1,causal=1", 1) == 0) {
            pr.x[0][0] = -1; pr.x[0][1] = 0;
            pr.x[1][0] = -1; pr.x[1][1] = 0;
            pr.x[2][0] = 0; pr.x[2][1] = 1;
            o = run_impl(&pr, "linear_attention", "ref", &same);
        }
        double w = 1 / (exp(-1.0) + 1);
        ok(o && o[0] == 0 && fabs(o[1] - w) <= 1e-7, "ref by hand, phi(-1) = 1/e: o_1 = %.9g (want %.9g)",
           o ? o[1] : NAN, w);
        free(o);
        problem_free(&pr);
    }
    /* random: the ref against the masked formula, both modes */
    for (int c = 0; c < 2; c++) {
        problem pr;
        char params[96];
        snprintf(params, sizeof params, "H=2,N=67,d=13,dv=7,causal=%d", c);
        int same = 0;
        float *o = NULL;
        double *y = NULL, e = INFINITY;
        if (problem_make(&pr, "linear_attention", params, 7) == 0) {
            o = run_impl(&pr, "linear_attention", "ref", &same);
            y = malloc(pr.n_out * sizeof *y);
            if (o && y) {
                naive(&pr, c, y);
                e = 0;
                for (size_t i = 0; i < pr.n_out; i++)
                    if (!(fabs(o[i] - y[i]) <= e)) e = fabs(o[i] - y[i]);
            }
        }
        /* the ref rounds only its result: within an ulp of |o| <= max|v| ~ 4 */
        ok(e <= 5e-7, "ref = masked formula in double, %s: max err %.3g", params, e);
        free(o);
        free(y);
        problem_free(&pr);
    }
}

/* ---- every backend against the ref -------------------------------------- */

static void test_backends(void)
{
    static const char *const cases[] = {
        "H=1,N=1,d=1,dv=1,chunk=64",    /* N = 1, d = 1 */
        "H=2,N=1,d=4,dv=3,chunk=1",
        "H=2,N=67,d=13,dv=7,chunk=16",  /* N, d odd; dv != d; tail of 3 */
        "H=3,N=67,d=13,dv=13,chunk=1",  /* chunk = 1 */
        "H=2,N=67,d=13,dv=20,chunk=100",/* chunk > N */
        "H=2,N=128,d=64,dv=64,chunk=64",/* N a multiple of chunk */
        "H=1,N=300,d=8,dv=5,chunk=64",
        "H=1,N=1100,d=8,dv=5,chunk=64", /* dnnl non-causal: two 512 blocks + 76 */
        "H=2,N=513,d=16,dv=16,chunk=128", /* tails of 1 */
        "H=1,N=5,d=1,dv=1,chunk=2",
    };
    static const char *const backends[] = {"blas", "dnnl"};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        for (int causal = 0; causal < 2; causal++) {
            char params[128];
            snprintf(params, sizeof params, "%s,causal=%d", cases[c], causal);
            problem pr;
            int made = problem_make(&pr, "linear_attention", params, 100 + c) == 0, same_ref = 0;
            float *ref = made ? run_impl(&pr, "linear_attention", "ref", &same_ref) : NULL;
            for (size_t b = 0; b < sizeof backends / sizeof backends[0]; b++) {
                int same = 0;
                float *o = ref ? run_impl(&pr, "linear_attention", backends[b], &same) : NULL;
                double e = o ? test_max_diff_ff(o, ref, pr.n_out) : NAN, tol = made ? bound(&pr) : 0;
                ok(o && same && same_ref && e <= tol, "linear_attention %s = ref, %s: max err %.3g (bound %.3g)%s",
                   backends[b], params, e, tol, o && !same ? ", second run differs" : "");
                free(o);
            }
            free(ref);
            if (made) problem_free(&pr);
        }
    }
}

static void test_decode(void)
{
    static const char *const cases[] = {
        "H=1,N=1,d=1,dv=1",
        "H=2,N=67,d=13,dv=7",
        "H=3,N=130,d=32,dv=48",
        "H=8,N=50,d=64,dv=64",
    };
    static const char *const backends[] = {"ref", "blas", "dnnl"};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char params[128];
        snprintf(params, sizeof params, "%s,causal=1", cases[c]);
        problem pa, pd;
        int made = problem_make(&pa, "linear_attention", params, 200 + c) == 0 &&
                   problem_make(&pd, "linear_decode", cases[c], 200 + c) == 0;
        int same_ref = 0;
        float *ref = made ? run_impl(&pa, "linear_attention", "ref", &same_ref) : NULL;
        for (size_t b = 0; b < sizeof backends / sizeof backends[0]; b++) {
            int same = 0;
            float *o = ref ? run_impl(&pd, "linear_decode", backends[b], &same) : NULL;
            double e = o ? test_max_diff_ff(o, ref, pd.n_out) : NAN, tol = made ? bound(&pd) : 0;
            ok(o && same && e <= tol, "linear_decode %s = causal ref, %s: max err %.3g (bound %.3g)",
               backends[b], cases[c], e, tol);
            free(o);
        }
        free(ref);
        if (made) {
            problem_free(&pa);
            problem_free(&pd);
        }
    }
}

/* ---- contracts ----------------------------------------------------------- */

static void test_shapes(void)
{
    const cb_kernel *la = cb_kernel_find("linear_attention"), *ld = cb_kernel_find("linear_decode");
    ok(la && ld, "both kernels are registered");
    if (!la || !ld) return;
    static const struct { const char *k, *params; } bad[] = {
        {"linear_attention", "N=8,d=4"},                 /* missing H */
        {"linear_attention", "H=1,N=8,d=4,chunk=0"},
        {"linear_attention", "H=1,N=8,d=4,causal=2"},
        {"linear_attention", "H=1,N=8,d=4,causal=-1"},
        {"linear_attention", "H=1,N=0,d=4"},
        {"linear_attention", "H=1,N=8,d=2.5"},
        {"linear_attention", "H=1,N=8,d=4,dv=0"},
        {"linear_decode", "H=1,d=4"},                    /* missing N */
        {"linear_decode", "H=1,N=8,d=4,dv=-3"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cb_params p = {0};
        cb_shape in[CB_MAX_TENSORS], out[CB_MAX_TENSORS];
        char err[256] = "";
        const cb_kernel *k = cb_kernel_find(bad[i].k);
        int rc = cb_params_parse(&p, bad[i].params) == 0 ? k->shapes(&p, in, out, err, sizeof err) : 0;
        ok(rc == -1 && err[0], "%s rejects %s (%s)", bad[i].k, bad[i].params, err);
    }
    cb_params p = {0};
    cb_shape in[CB_MAX_TENSORS], out[CB_MAX_TENSORS];
    char err[256] = "";
    int rc = cb_params_parse(&p, "H=8,N=1024,d=64") == 0 ? la->shapes(&p, in, out, err, sizeof err) : -1;
    ok(rc == 0 && cb_params_int(&p, "dv", 0) == 64 && cb_params_int(&p, "causal", -1) == 0 &&
           cb_params_int(&p, "chunk", 0) == 64 && out[0].dim[0] == 8 && out[0].dim[1] == 1024 &&
           out[0].dim[2] == 64 && in[2].dim[2] == 64,
       "linear_attention defaults: dv = d, causal = 0, chunk = 64");
    double f0 = la->flops(&p);
    cb_params_set(&p, "causal", 1);
    double f1 = la->flops(&p);
    ok(f0 == 4.0 * 8 * 1024 * 64 * 64 + 4.0 * 8 * 1024 * 64 && f1 == f0 + 2.0 * 8 * 1024 * 64 * 128,
       "linear_attention flops: %.4g non-causal, %.4g causal", f0, f1);
    cb_params q = {0};
    cb_shape given[3] = {{3, {2, 10, 5}}, {3, {2, 10, 5}}, {3, {2, 10, 3}}};
    rc = la->infer(&q, given, err, sizeof err);
    ok(rc == 0 && cb_params_int(&q, "H", 0) == 2 && cb_params_int(&q, "N", 0) == 10 &&
           cb_params_int(&q, "d", 0) == 5 && cb_params_int(&q, "dv", 0) == 3,
       "linear_attention infers H, N, d, dv from the tensors");
    cb_shape wrong[3] = {{3, {2, 10, 5}}, {3, {2, 10, 4}}, {3, {2, 10, 3}}};
    ok(la->infer(&q, wrong, err, sizeof err) == -1 && ld->infer(&q, wrong, err, sizeof err) == -1,
       "infer rejects k shaped unlike q (%s)", err);
}

/* ---- the probe ------------------------------------------------------------ */

static void test_probe(void)
{
    const cb_probe *pb = cb_probe_find("causal_forms");
    ok(pb != NULL, "causal_forms is registered");
    if (!pb) return;
    cb_params p = {0};
    cb_metrics ms = {0};
    char err[256] = "";
    int rc = cb_params_parse(&p, "H=2,N=70,d=8,dv=5") == 0 ? pb->run(&p, 42, &ms, err, sizeof err) : -1;
    ok(rc == 0 && ms.n == 1 + 4 + 8 + 3, "causal_forms runs: %d metrics %s", ms.n, err);
    double worst64 = 0, worst32 = 0;
    int n64 = 0, n32 = 0;
    for (int i = 0; i < ms.n; i++) {
        const cb_metric *m = &ms.m[i];
        if (strncmp(m->name, "err64_", 6) == 0) {
            n64++;
            if (!(m->value <= worst64)) worst64 = m->value;
        } else if (strncmp(m->name, "err32_", 6) == 0) {
            n32++;
            if (!(m->value <= worst32)) worst32 = m->value;
        }
    }
    ok(n64 == 5 && worst64 < 1e-12, "fp64 forms agree: worst of %d is %.3g", n64, worst64);
    /* relative to max|o| ~ 1..2, the fp32 bound above gives ~ 2*86*eps ~ 2e-5 */
    ok(n32 == 11 && worst32 < 1e-4, "fp32 implementations agree with fp64: worst of %d is %.3g", n32, worst32);
    const cb_metric *m0 = ms.n > 1 ? &ms.m[1] : NULL;
    ok(m0 && strcmp(m0->name, "err64_chunked_vs_parallel") == 0 && cb_params_int(&m0->at, "N", 0) == 70 &&
           cb_params_int(&m0->at, "chunk", 0) == 16,
       "metrics carry N and chunk in at");
    cb_metrics_free(&ms);
    cb_params_set(&p, "d", 0);
    ok(pb->run(&p, 42, &ms, err, sizeof err) == -1, "causal_forms rejects d = 0 (%s)", err);
    cb_metrics_free(&ms);
}

int main(void)
{
    tap_no_plan();
    test_ref_known();
    test_shapes();
    test_backends();
    test_decode();
    test_probe();
    return tap_done();
}
