/* t_deltanet_chunkwise.c — the delta rule (DeltaNet, Yang et al. 2024):
 * the ref oracle and every backend on hand-computed cases; every backend
 * against ref on edge shapes and chunk sizes (chunk 1, chunk > N, partial
 * last chunk) and one realistic shape; the double forms of the delta_forms
 * probe against each other and against closed forms; the spec's checks fed
 * with zero and constant outputs (they must fail) and with the real probe
 * (they must pass); `claimbench run` on .npy files, including betas outside
 * (0, 1).
 *
 * Tolerance for the float backends against ref: rounding in float32 enters
 * every step at about eps |S|; the state forgets along each key direction at
 * rate beta, so errors do not accumulate beyond the memory of the recurrence,
 * and the chunkwise products add sums of at most C + d terms. A normalized
 * L2 error of 1e-5 (measured: 1e-7 to 3e-7) and a max error of 1e-4 of the
 * output scale leave a wide margin; a wrong mask, a lost tail chunk or a
 * transposed state is an error of the size of o itself.
 */
#include "kernel.h"
#include "checks.h"
#include "npy.h"
#include "spec.h"
#include "table.h"
#include "probes/delta_forms.h"

#include "kernel_test.h"
#include "tap.h"
#include "test_cmp.h"
#include "test_rng.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const BACKENDS[] = {"ref", "scan", "blas", "dnnl"};
#define NB 4

/* ---- a problem and one run of an implementation --------------------------- */

typedef struct problem {
    cb_params p;
    int64_t H, N, d, dv;
    cb_shape in_shape[CB_MAX_TENSORS], out_shape[CB_MAX_TENSORS];
    float *x[CB_MAX_TENSORS];   /* q, k, v, beta */
    size_t len[4], nout;
} problem;

static void problem_free(problem *pr)
{
    kt_inputs_free(pr->x);
    memset(pr, 0, sizeof *pr);
}

/* q, k, v standard normal; beta, the write strengths, uniform in [0.05, 0.95). */
static int problem_make(problem *pr, const char *params, uint64_t seed)
{
    memset(pr, 0, sizeof *pr);
    if (kt_inputs_make("delta_rule", params, seed, 5, NULL, &pr->p, pr->in_shape, pr->out_shape,
                       pr->x))
        return -1;
    pr->H = cb_params_int(&pr->p, "H", 0);
    pr->N = cb_params_int(&pr->p, "N", 0);
    pr->d = cb_params_int(&pr->p, "d", 0);
    pr->dv = cb_params_int(&pr->p, "dv", 0);
    for (int t = 0; t < 4; t++)
        pr->len[t] = (size_t)cb_shape_numel(&pr->in_shape[t]);
    test_fill_uniform(pr->x[3], pr->len[3], seed * 5 + 3, 0.05, 0.95);
    pr->nout = (size_t)cb_shape_numel(&pr->out_shape[0]);
    return 0;
}

/* kt_run_twice (kernel_test.h) of delta_rule on the problem's inputs. */
static float *run_impl(const problem *pr, const char *backend, int *same)
{
    return kt_run_twice("delta_rule", backend, &pr->p, pr->x, same);
}

/* The double inputs of the probe's forms: q, normalized k, v, beta. */
static int to_double(const problem *pr, double *xd[4])
{
    for (int t = 0; t < 4; t++) {
        xd[t] = malloc(pr->len[t] * sizeof(double));
        if (!xd[t]) return -1;
        for (size_t i = 0; i < pr->len[t]; i++) xd[t][i] = pr->x[t][i];
    }
    for (int64_t r = 0; r < pr->H * pr->N; r++) {
        double s = 0, *k = xd[1] + r * pr->d;
        for (int64_t j = 0; j < pr->d; j++) s += k[j] * k[j];
        s = fmax(sqrt(s), 1e-12);
        for (int64_t j = 0; j < pr->d; j++) k[j] /= s;
    }
    return 0;
}

static void free4(double *xd[4])
{
    for (int t = 0; t < 4; t++) free(xd[t]);
}

/* ---- hand-computed cases --------------------------------------------------- */

static void set_inputs(problem *pr, const float *q, const float *k, const float *v, const float *b)
{
    memcpy(pr->x[0], q, pr->len[0] * sizeof(float));
    memcpy(pr->x[1], k, pr->len[1] * sizeof(float));
    memcpy(pr->x[2], v, pr->len[2] * sizeof(float));
    memcpy(pr->x[3], b, pr->len[3] * sizeof(float));
}

/* Every backend on one hand case, with a tolerance relative to max |want|. */
static void hand_case(const char *what, const char *params, const float *q, const float *k, const float *v,
                      const float *b, const double *want, double tol)
{
    problem pr;
    if (problem_make(&pr, params, 1) != 0) {
        ok(0, "%s: setup", what);
        return;
    }
    set_inputs(&pr, q, k, v, b);
    double m = 0;
    for (size_t i = 0; i < pr.nout; i++) m = fmax(m, fabs(want[i]));
    for (int bk = 0; bk < NB; bk++) {
        int same = 0;
        float *o = run_impl(&pr, BACKENDS[bk], &same);
        double e = o ? 0 : NAN;
        for (size_t i = 0; o && i < pr.nout; i++) {
            double a = fabs(o[i] - want[i]);
            e = test_max_keep_nan(e, a);
        }
        ok(o && e <= tol * (m > 0 ? m : 1), "%s [%s]: max err %.3g (tol %.3g)", what, BACKENDS[bk], e,
           tol * (m > 0 ? m : 1));
        free(o);
    }
    problem_free(&pr);
}

static void test_hand(void)
{
    /* N = 1: S_1 = b v k^^T, o = b v (k^.q). k = (3, 4) -> k^ = (0.6, 0.8);
     * v = 2, b = 0.5, q = (1, 1): o = 0.5 * 2 * 1.4 = 1.4. */
    {
        const float q[2] = {1, 1}, k[2] = {3, 4}, v[1] = {2}, b[1] = {0.5f};
        const double want[1] = {1.4};
        hand_case("N=1 by hand", "H=1,N=1,d=2,dv=1", q, k, v, b, want, 1e-6);
    }
    /* d = dv = 1, N = 2: k = (2, -1) -> k^ = (1, -1), v = (1, 3),
     * b = (0.5, 0.25), q = (1, 2):
     *   S_1 = 0.5 (1 - 0) * 1 = 0.5,            o_1 = 0.5
     *   S_2 = 0.5 + 0.25 (3 - 0.5 * -1) * -1 = -0.375,  o_2 = -0.75 */
    {
        const float q[2] = {1, 2}, k[2] = {2, -1}, v[2] = {1, 3}, b[2] = {0.5f, 0.25f};
        const double want[2] = {0.5, -0.75};
        hand_case("d=1, N=2 by hand", "H=1,N=2,d=1,dv=1", q, k, v, b, want, 1e-6);
    }
    /* beta = 1 and orthonormal keys e_1..e_4 store each value exactly:
     * S_t = sum_{i<=t} v_i e_i^T, so the query e_1 recalls v_1 at every t;
     * then (t = 5) the key e_1 again with v = (9, 9) overwrites it: the
     * delta rule replaces, where linear attention would add. Keys are
     * scaled by 5 (the kernel normalizes them). chunk = 2: partial chunks. */
    {
        const int N = 5, d = 4, dv = 2;
        float q[5 * 4] = {0}, k[5 * 4] = {0}, v[5 * 2], b[5];
        double want[5 * 2];
        for (int t = 0; t < N; t++) {
            q[t * d + 0] = 1;
            k[t * d + (t < 4 ? t : 0)] = 5;
            v[t * dv + 0] = (float)(t + 1);
            v[t * dv + 1] = (float)(-2 * t - 1);
            b[t] = 1;
        }
        v[4 * dv + 0] = 9;
        v[4 * dv + 1] = 9;
        for (int t = 0; t < N; t++) {
            want[t * dv + 0] = t < 4 ? 1 : 9;
            want[t * dv + 1] = t < 4 ? -1 : 9;
        }
        hand_case("beta=1 stores and overwrites by key", "H=1,N=5,d=4,dv=2,chunk=2", q, k, v, b, want, 1e-6);
    }
    /* A zero key leaves the state alone: the L2 normalization maps it to 0. */
    {
        const float q[3] = {1, 1, 1}, k[3] = {1, 0, 2}, v[3] = {4, 7, 5}, b[3] = {0.5f, 0.9f, 0.5f};
        /* d = 1: k^ = (1, 0, 1); S_1 = 2, o_1 = 2; S_2 = 2, o_2 = 2;
         * S_3 = 2 + 0.5 (5 - 2) = 3.5, o_3 = 3.5 */
        const double want[3] = {2, 2, 3.5};
        hand_case("zero key row leaves the state unchanged", "H=1,N=3,d=1,dv=1", q, k, v, b, want, 1e-6);
    }
}

/* ---- every backend against ref ----------------------------------------------- */

static void test_agreement(void)
{
    static const char *const sizes[] = {
        "H=1,N=1,d=1,dv=1",
        "H=2,N=67,d=13,dv=7,chunk=16",
        "H=1,N=5,d=3,dv=2,chunk=8",       /* chunk > N */
        "H=2,N=33,d=17,dv=5,chunk=1",     /* chunk 1: the recurrence in matrix form */
        "H=3,N=130,d=64,dv=32",           /* default chunk 64, tail of 2 */
        "H=2,N=300,d=128,dv=128,chunk=128",
        "H=4,N=1024,d=64,dv=64",          /* realistic */
    };
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        problem pr;
        if (problem_make(&pr, sizes[s], 10 + s) != 0) {
            ok(0, "setup %s", sizes[s]);
            continue;
        }
        int same = 0;
        float *ref = run_impl(&pr, "ref", &same);
        ok(ref != NULL && same, "ref %s runs, reproducibly", sizes[s]);
        double m = 0, n2 = 0;
        for (size_t i = 0; ref && i < pr.nout; i++) {
            m = fmax(m, fabs(ref[i]));
            n2 += (double)ref[i] * ref[i];
        }
        for (int b = 1; b < NB && ref; b++) {
            float *o = run_impl(&pr, BACKENDS[b], &same);
            double e = o ? 0 : NAN, d2 = 0;
            for (size_t i = 0; o && i < pr.nout; i++) {
                double a = fabs((double)o[i] - ref[i]);
                e = test_max_keep_nan(e, a);
                d2 += a * a;
            }
            double nl2 = n2 > 0 ? sqrt(d2 / n2) : (d2 == 0 ? 0 : NAN);
            ok(o && e <= 1e-4 * fmax(m, 1e-30) + 1e-30 * (m == 0) && nl2 <= 1e-5 && same,
               "%s vs ref %s: max err %.3g (max |o| %.3g), nl2 %.3g, reproducible %d", BACKENDS[b], sizes[s], e,
               m, nl2, same);
            free(o);
        }
        free(ref);
        problem_free(&pr);
    }
}

/* ---- the probe's double forms ------------------------------------------------- */

static void test_forms(void)
{
    problem pr;
    if (problem_make(&pr, "H=2,N=77,d=9,dv=6", 99) != 0) {
        ok(0, "forms: setup");
        return;
    }
    double *xd[4] = {NULL, NULL, NULL, NULL};
    size_t no = pr.nout, ns = (size_t)(pr.H * pr.d * pr.dv);
    double *orec = malloc(no * sizeof *orec), *och = malloc(no * sizeof *och);
    double *srec = malloc(ns * sizeof *srec), *sch = malloc(ns * sizeof *sch);
    if (to_double(&pr, xd) || !orec || !och || !srec || !sch ||
        cb_delta_recurrent_d(xd[0], xd[1], xd[2], xd[3], pr.H, pr.N, pr.d, pr.dv, orec, srec)) {
        ok(0, "forms: allocation");
    } else {
        /* the double recurrence against the ref kernel (float output) */
        int same = 0;
        float *ref = run_impl(&pr, "ref", &same);
        double e = ref ? cb_delta_rel_err_f(ref, orec, no) : NAN;
        ok(e <= 1e-6, "forms: cb_delta_recurrent_d matches the ref kernel to %.3g (float rounding)", e);
        free(ref);
        static const int C[] = {1, 2, 3, 7, 16, 77, 100};
        for (size_t c = 0; c < sizeof C / sizeof C[0]; c++) {
            if (cb_delta_chunkwise_d(xd[0], xd[1], xd[2], xd[3], pr.H, pr.N, pr.d, pr.dv, C[c], och, sch)) {
                ok(0, "forms: chunkwise allocation");
                continue;
            }
            double eo = cb_delta_rel_err_d(och, orec, no), es = cb_delta_rel_err_d(sch, srec, ns);
            ok(eo <= 1e-12 && es <= 1e-12, "forms: chunkwise C=%d equals the recurrence: o %.3g, S %.3g", C[c],
               eo, es);
        }
        /* the final state against an explicit product of the factors, for
         * head 0 and N = 3: S_3 = ((b1 v1 k1^T)(I - b2 k2 k2^T) + b2 v2 k2^T)(I - b3 k3 k3^T) + b3 v3 k3^T */
        {
            const int64_t d = pr.d, dv = pr.dv;
            double S[6 * 9] = {0}, Sn[6 * 9], Sc[6 * 9];
            for (int t = 0; t < 3; t++) {
                const double *k = xd[1] + t * d, *v = xd[2] + t * dv, b = xd[3][t];
                for (int64_t i = 0; i < dv; i++)
                    for (int64_t j = 0; j < d; j++) {
                        double acc = 0;   /* (S (I - b k k^T))_ij = S_ij - b (S k)_i k_j */
                        for (int64_t l = 0; l < d; l++) acc += S[i * d + l] * k[l];
                        Sn[i * d + j] = S[i * d + j] - b * acc * k[j] + b * v[i] * k[j];
                    }
                memcpy(S, Sn, sizeof S);
            }
            double *o3 = malloc((size_t)(3 * dv) * sizeof *o3);
            int rc = o3 ? cb_delta_chunkwise_d(xd[0], xd[1], xd[2], xd[3], 1, 3, d, dv, 2, o3, Sc) : -1;
            double es = rc ? NAN : cb_delta_rel_err_d(Sc, S, (size_t)(d * dv));
            ok(es <= 1e-13, "forms: chunkwise state after 3 tokens equals the product of Householder factors (%.3g)",
               es);
            free(o3);
        }
    }
    free(orec);
    free(och);
    free(srec);
    free(sch);
    free4(xd);
    problem_free(&pr);
}

/* ---- zero and constant outputs must fail the spec's checks ----------------- */

/* Add one probe metric row (one value) to t. */
static int add_metric(cb_table *t, const char *metric, const char *at, double v)
{
    cb_params p = {0};
    if (cb_params_parse(&p, at)) return -1;
    return cb_table_add(t, CB_ROW_METRIC, "deltanet_chunkwise", "delta_forms", "-", metric, &p, &v, 1, "");
}

static cb_verdict_kind eval(const cb_spec *s, const char *check, const cb_table *t, cb_verdict *v)
{
    const cb_check *c = cb_spec_find_check(s, check);
    if (!c) {
        memset(v, 0, sizeof *v);
        snprintf(v->detail, sizeof v->detail, "no check %s in the spec", check);
        return CB_INCONCLUSIVE;
    }
    cb_check_eval(c, "deltanet_chunkwise", t, 1, v);
    diag("%s: %s, measured %.4g; %s", check, cb_verdict_name(v->verdict), v->measured, v->detail);
    return v->verdict;
}

static void test_trivial_outputs_fail(void)
{
    cb_spec s;
    char err[512] = "";
    memset(&s, 0, sizeof s);
    if (cb_spec_load("tasks/deltanet_chunkwise.md", &s, err, sizeof err) != 0) {
        ok(0, "spec loads: %s", err);
        return;
    }
    ok(s.n_checks == 13, "spec tasks/deltanet_chunkwise.md loads with its 13 checks (%d)", s.n_checks);

    /* A real probe run at a small size: every fp64 / fp32 / bound check passes. */
    const cb_probe *pb = cb_probe_find("delta_forms");
    cb_metrics ms = {0};
    cb_params pp = {0};
    cb_params_parse(&pp, "H=1,N=67,d=16,dv=8");
    int rc = pb ? pb->run(&pp, 7, &ms, err, sizeof err) : -1;
    ok(rc == 0 && ms.n == 35, "delta_forms probe runs at H=1, N=67, d=16, dv=8 (%d metrics) %s", ms.n, rc ? err : "");
    cb_table real = {0};
    for (int i = 0; rc == 0 && i < ms.n; i++)
        cb_table_add(&real, CB_ROW_METRIC, "deltanet_chunkwise", "delta_forms", "-", ms.m[i].name, &ms.m[i].at,
                     &ms.m[i].value, 1, "");
    static const char *const eq[] = {"chunkwise_equals_recurrent_fp64", "chunkwise_state_equals_recurrent_fp64",
                                     "chunkwise_blas_fp32", "chunkwise_dnnl_fp32", "recurrent_scan_fp32",
                                     "reference_output_nontrivial"};
    cb_verdict v;
    for (size_t i = 0; i < sizeof eq / sizeof eq[0]; i++)
        ok(eval(&s, eq[i], &real, &v) == CB_REPRODUCED, "real probe data: %s reproduced", eq[i]);
    cb_metrics_free(&ms);
    cb_table_free(&real);

    /* Now the comparison code on trivial outputs. Reference: the double
     * recurrence of a random problem; "kernel" outputs: all zero, constant. */
    problem pr;
    double *xd[4] = {NULL, NULL, NULL, NULL};
    if (problem_make(&pr, "H=1,N=40,d=8,dv=4", 5) != 0 || to_double(&pr, xd)) {
        ok(0, "trivial: setup");
        free4(xd);
        problem_free(&pr);
        cb_spec_free(&s);
        return;
    }
    const size_t n = pr.nout;
    double *orec = malloc(n * sizeof *orec), *zero_d = calloc(n, sizeof *zero_d), *const_d = malloc(n * sizeof *const_d);
    float *zero_f = calloc(n, sizeof *zero_f), *const_f = malloc(n * sizeof *const_f);
    if (!orec || !zero_d || !const_d || !zero_f || !const_f ||
        cb_delta_recurrent_d(xd[0], xd[1], xd[2], xd[3], pr.H, pr.N, pr.d, pr.dv, orec, NULL)) {
        ok(0, "trivial: allocation");
    } else {
        for (size_t i = 0; i < n; i++) {
            const_d[i] = 0.75;
            const_f[i] = 0.75f;
        }
        const char *at = "N=40,d=8,dv=4,chunk=16";
        /* fp32 kernel output all zero / constant against a real reference */
        double ez = cb_delta_rel_err_f(zero_f, orec, n), ec = cb_delta_rel_err_f(const_f, orec, n);
        /* both sides zero (a kernel and a reference that do nothing): 0/0 */
        double ezz = cb_delta_rel_err_d(zero_d, zero_d, n), ecc = cb_delta_rel_err_d(const_d, const_d, n);
        ok(ez >= 0.99 && ec > 0.1, "trivial: zero output err %.3g, constant output err %.3g", ez, ec);
        ok(isnan(ezz) && ecc == 0, "trivial: zero vs zero gives NaN (%g), constant vs constant 0 (%g)", ezz, ecc);
        cb_table t = {0};
        add_metric(&t, "err32_blas", at, ez);
        add_metric(&t, "err32_dnnl", at, ec);
        add_metric(&t, "err64_chunk_vs_recurrent", at, ezz);
        add_metric(&t, "err64_state_vs_recurrent", at, ezz);
        ok(eval(&s, "chunkwise_blas_fp32", &t, &v) != CB_REPRODUCED, "trivial: all-zero fp32 output fails chunkwise_blas_fp32");
        ok(eval(&s, "chunkwise_dnnl_fp32", &t, &v) != CB_REPRODUCED, "trivial: constant fp32 output fails chunkwise_dnnl_fp32");
        ok(eval(&s, "chunkwise_equals_recurrent_fp64", &t, &v) != CB_REPRODUCED,
           "trivial: zero output on both sides (NaN) fails chunkwise_equals_recurrent_fp64");
        cb_table_free(&t);
        /* the constant-vs-constant case passes the equivalence (error 0), and
         * is exactly what the non-triviality bound is for */
        cb_table t2 = {0};
        double spc = cb_delta_spread(const_d, n, pr.x[2], n);
        add_metric(&t2, "spread_recurrent", "N=40,d=8,dv=4", spc);
        cb_verdict_kind k2 = eval(&s, "reference_output_nontrivial", &t2, &v);
        ok(k2 != CB_REPRODUCED, "trivial: a constant reference output fails reference_output_nontrivial (spread %.3g)",
           v.measured);
        cb_table_free(&t2);
        cb_table t3 = {0};
        add_metric(&t3, "spread_recurrent", "N=40,d=8,dv=4", cb_delta_spread(zero_d, n, pr.x[2], n));
        cb_verdict_kind k3 = eval(&s, "reference_output_nontrivial", &t3, &v);
        ok(k3 != CB_REPRODUCED, "trivial: an all-zero reference output fails reference_output_nontrivial (spread %.3g)",
           v.measured);
        cb_table_free(&t3);
        cb_table t4 = {0};
        double sp = cb_delta_spread(orec, n, pr.x[2], n);
        add_metric(&t4, "spread_recurrent", "N=40,d=8,dv=4", sp);
        ok(eval(&s, "reference_output_nontrivial", &t4, &v) == CB_REPRODUCED,
           "trivial: the real reference output passes it (spread %.3g)", sp);
        cb_table_free(&t4);
    }
    free(orec);
    free(zero_d);
    free(const_d);
    free(zero_f);
    free(const_f);
    free4(xd);
    problem_free(&pr);
    cb_spec_free(&s);
}

/* ---- `claimbench run` on .npy files ------------------------------------------- */

static int write_npy(const char *path, const char *name, const cb_shape *shape, const float *x)
{
    cb_tensor t;
    char err[256];
    memset(&t, 0, sizeof t);
    if (cb_tensor_alloc(&t, name, shape)) return -1;
    memcpy(t.data, x, (size_t)cb_shape_numel(shape) * sizeof(float));
    int rc = cb_npy_write(path, &t, err, sizeof err);
    if (rc) diag("write %s: %s", path, err);
    cb_tensor_free(&t);
    return rc;
}

static void test_run_cli(void)
{
    const char *bin = getenv("CLAIMBENCH");
    if (!bin || !bin[0]) {
        ok(1, "# SKIP claimbench run: CLAIMBENCH not set");
        return;
    }
    char dir[] = "/tmp/t_deltanet.XXXXXX";
    if (!mkdtemp(dir)) {
        ok(0, "run: temporary folder");
        return;
    }
    /* two problems: betas in (0, 1); betas outside it (-0.5 .. 2.5) */
    for (int pass = 0; pass < 2; pass++) {
        problem pr;
        if (problem_make(&pr, "H=2,N=23,d=5,dv=3,chunk=4", 40 + pass) != 0) {
            ok(0, "run: setup");
            continue;
        }
        if (pass == 1) test_fill_uniform(pr.x[3], pr.len[3], 77, -0.5, 2.5);
        static const char *const names[4] = {"q", "k", "v", "beta"};
        char path[4][512], cmd[4096];
        int okw = 1;
        for (int t = 0; t < 4; t++) {
            snprintf(path[t], sizeof path[t], "%s/%s.npy", dir, names[t]);
            okw = okw && write_npy(path[t], names[t], &pr.in_shape[t], pr.x[t]) == 0;
        }
        int same = 0;
        float *ref = run_impl(&pr, "ref", &same);
        double m = 0;
        for (size_t i = 0; ref && i < pr.nout; i++) m = fmax(m, fabs(ref[i]));
        for (int b = 0; b < NB; b++) {
            char out[512];
            snprintf(out, sizeof out, "%s/o_%s.npy", dir, BACKENDS[b]);
            snprintf(cmd, sizeof cmd,
                     "'%s' run delta_rule --backend %s --set chunk=4 --in q=%s --in k=%s --in v=%s --in beta=%s "
                     "--out o=%s > %s/log 2>&1",
                     bin, BACKENDS[b], path[0], path[1], path[2], path[3], out, dir);
            int st = okw ? system(cmd) : -1;
            cb_tensor o;
            char err[256] = "";
            memset(&o, 0, sizeof o);
            int rd = st == 0 ? cb_npy_read(out, &o, "o", err, sizeof err) : -1;
            double e = NAN;
            if (rd == 0 && ref && (size_t)cb_shape_numel(&o.shape) == pr.nout) {
                e = 0;
                for (size_t i = 0; i < pr.nout; i++) {
                    double a = fabs((double)o.data[i] - ref[i]);
                    e = test_max_keep_nan(e, a);
                }
            }
            ok(st == 0 && rd == 0 && e <= 1e-4 * m,
               "run delta_rule --backend %s on .npy, betas %s: exit %d, max err vs ref %.3g (max |o| %.3g)",
               BACKENDS[b], pass ? "in [-0.5, 2.5)" : "in (0.05, 0.95)", st, e, m);
            if (rd == 0) cb_tensor_free(&o);
        }
        free(ref);
        for (int t = 0; t < 4; t++) unlink(path[t]);
        problem_free(&pr);
    }
    /* a beta of the wrong shape is refused with a message, not a crash */
    {
        char cmd[4096], path[512];
        snprintf(path, sizeof path, "%s/q.npy", dir);
        float x[6] = {1, 2, 3, 4, 5, 6};
        cb_shape s3 = {3, {1, 2, 3}};
        int w = write_npy(path, "q", &s3, x);
        snprintf(cmd, sizeof cmd,
                 "'%s' run delta_rule --backend blas --in q=%s --in k=%s --in v=%s --in beta=%s --out o=%s/o.npy "
                 "> %s/log 2>&1",
                 bin, path, path, path, path, dir, dir);
        int st = w == 0 ? system(cmd) : 0;
        ok(st != 0, "run: a 3-d beta is refused (exit status %d)", st);
        unlink(path);
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) diag("could not remove %s", dir);
}

int main(void)
{
    tap_no_plan();
    test_hand();
    test_agreement();
    test_forms();
    test_trivial_outputs_fail();
    test_run_cli();
    return tap_done();
}
