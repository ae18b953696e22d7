/* t_lsa_gd_equivalence.c — the lsa_layer kernel and the lsa_gd probe
 * (von Oswald et al. 2023): the contract; the ref by hand (including that
 * the query is left out of the keys and values) and against a second
 * algorithm written here (the associative form, in double); every backend
 * against that double answer on edge shapes; the probe's construction on a
 * hand-computed task (one and two GD steps); the probe end to end; that the
 * task's checks fail on an all-zero, a constant and an unchanged output;
 * and `claimbench run` on .npy files for every backend.
 *
 * Tolerance for the float backends. Written out, out_i = z_i + (1/N) G z_i
 * with G = wp wv (sum_j z_j z_j^T) wk^T wq: every evaluation order sums
 * products nested at most N + 4D + 1 deep, so a float evaluation errs by at
 * most gamma_n = n eps (first order) of the same expression over absolute
 * values, B_i = |z_i| + (1/N) |wp||wv| (sum_j |z_j||z_j|^T) |wk|^T |wq| |z_i|,
 * computed below in double. Each point is held to 4 (N + 4D + 8) eps B_i:
 * loose by design, yet any defect (the query counted as a context token, a
 * transposed weight, a lost 1/N) is an error of the size of the output.
 */
#include "kernel.h"
#include "checks.h"
#include "npy.h"
#include "probes/lsa_icl.h"
#include "spec.h"
#include "table.h"

#include "kernel_test.h"
#include "tap.h"
#include "test_rng.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- one problem: z and the four weights -------------------------------- */

typedef struct problem {
    cb_params p;
    int64_t N, D;
    cb_shape in_shape[CB_MAX_TENSORS], out_shape[CB_MAX_TENSORS];
    float *x[CB_MAX_TENSORS];   /* z, wk, wq, wv, wp */
    size_t n[5];
} problem;

static void problem_free(problem *pr) { kt_inputs_free(pr->x); }

/* z standard normal; the four weight matrices of standard deviation 1/sqrt(D). */
static int problem_make(problem *pr, int64_t N, int64_t D, uint64_t seed)
{
    memset(pr, 0, sizeof *pr);
    char params[64];
    snprintf(params, sizeof params, "N=%lld,D=%lld", (long long)N, (long long)D);
    const double w = 1.0 / sqrt((double)D), scale[5] = {1.0, w, w, w, w};
    if (kt_inputs_make("lsa_layer", params, seed, 5, scale, &pr->p, pr->in_shape, pr->out_shape,
                       pr->x))
        return -1;
    pr->N = N;
    pr->D = D;
    for (int t = 0; t < 5; t++)
        pr->n[t] = (size_t)cb_shape_numel(&pr->in_shape[t]);
    return 0;
}

/* kt_run_twice (kernel_test.h) of lsa_layer on the problem's inputs. */
static float *run_impl(const problem *pr, const char *backend, int *same)
{
    return kt_run_twice("lsa_layer", backend, &pr->p, pr->x, same);
}

/* ---- an independent double evaluation: the associative form ------------- */

/* C = A B for D x D double matrices (B transposed when tb). */
static void mm(const double *A, const double *B, int tb, double *C, int64_t D)
{
    for (int64_t i = 0; i < D; i++)
        for (int64_t j = 0; j < D; j++) {
            double s = 0;
            for (int64_t k = 0; k < D; k++) s += A[i * D + k] * (tb ? B[j * D + k] : B[k * D + j]);
            C[i * D + j] = s;
        }
}

/* y = z + (1/N) Z G^T, G = wp wv C wk^T wq, C = sum_{j<N} z_j z_j^T; and the
 * same over absolute values into bnd. */
static int expected(const problem *pr, double *y, double *bnd)
{
    const int64_t N = pr->N, D = pr->D, T = N + 1;
    const size_t dd = (size_t)(D * D);
    double *w[4], *wa[4], *C = calloc(dd, sizeof *C), *Ca = calloc(dd, sizeof *Ca);
    double *t1 = malloc(dd * sizeof *t1), *t2 = malloc(dd * sizeof *t2), *G = malloc(dd * sizeof *G);
    double *Ga = malloc(dd * sizeof *Ga);
    int okm = C && Ca && t1 && t2 && G && Ga;
    for (int i = 0; i < 4; i++) {
        w[i] = malloc(dd * sizeof *w[i]);
        wa[i] = malloc(dd * sizeof *wa[i]);
        okm = okm && w[i] && wa[i];
        for (size_t e = 0; okm && e < dd; e++) {
            w[i][e] = pr->x[1 + i][e];
            wa[i][e] = fabs(w[i][e]);
        }
    }
    if (okm) {
        const float *z = pr->x[0];
        for (int64_t j = 0; j < N; j++)
            for (int64_t a = 0; a < D; a++)
                for (int64_t b = 0; b < D; b++) {
                    C[a * D + b] += (double)z[j * D + a] * z[j * D + b];
                    Ca[a * D + b] += fabs((double)z[j * D + a] * z[j * D + b]);
                }
        /* w order: wk, wq, wv, wp */
        mm(w[3], w[2], 0, t1, D);
        mm(t1, C, 0, t2, D);
        mm(t2, w[0], 1, t1, D);
        mm(t1, w[1], 0, G, D);
        mm(wa[3], wa[2], 0, t1, D);
        mm(t1, Ca, 0, t2, D);
        mm(t2, wa[0], 1, t1, D);
        mm(t1, wa[1], 0, Ga, D);
        for (int64_t i = 0; i < T; i++)
            for (int64_t a = 0; a < D; a++) {
                double s = 0, sa = 0;
                for (int64_t b = 0; b < D; b++) {
                    s += G[a * D + b] * z[i * D + b];
                    sa += Ga[a * D + b] * fabs((double)z[i * D + b]);
                }
                y[i * D + a] = z[i * D + a] + s / (double)N;
                bnd[i * D + a] = fabs((double)z[i * D + a]) + sa / (double)N;
            }
    }
    for (int i = 0; i < 4; i++) {
        free(w[i]);
        free(wa[i]);
    }
    free(C); free(Ca); free(t1); free(t2); free(G); free(Ga);
    return okm ? 0 : -1;
}

/* ---- the contract ---------------------------------------------------------- */

static void test_contract(void)
{
    const cb_kernel *k = cb_kernel_find("lsa_layer");
    ok(k != NULL, "lsa_layer is registered");
    if (!k) return;
    ok(strcmp(k->params_doc, "N D") == 0 && k->n_in == 5 && k->n_out == 1 && strcmp(k->in[0], "z") == 0 &&
           strcmp(k->in[4], "wp") == 0,
       "lsa_layer: params N D, inputs z wk wq wv wp, output out");
    static const char *const backends[] = {"ref", "blas", "dnnl"};
    for (int b = 0; b < 3; b++)
        ok(cb_impl_find("lsa_layer", backends[b]) != NULL, "lsa_layer/%s is registered", backends[b]);
    static const struct { const char *params, *names; } bad[] = {
        {"D=4", "N"}, {"N=8", "D"}, {"N=0,D=4", "N"}, {"N=8,D=2.5", "D"}, {"N=-3,D=4", "N"}, {"N=8,D=5000", "D"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cb_params p = {0};
        cb_shape in[CB_MAX_TENSORS], out[CB_MAX_TENSORS];
        char err[256] = "", want[16];
        int rc = cb_params_parse(&p, bad[i].params) == 0 ? k->shapes(&p, in, out, err, sizeof err) : 0;
        snprintf(want, sizeof want, " %s", bad[i].names);
        ok(rc == -1 && strstr(err, want) != NULL, "lsa_layer rejects %s naming %s (%s)", bad[i].params,
           bad[i].names, err);
    }
    cb_params p = {0};
    cb_shape in[CB_MAX_TENSORS], out[CB_MAX_TENSORS];
    char err[256] = "";
    int rc = cb_params_parse(&p, "N=20,D=11") == 0 ? k->shapes(&p, in, out, err, sizeof err) : -1;
    ok(rc == 0 && in[0].rank == 2 && in[0].dim[0] == 21 && in[0].dim[1] == 11 && in[3].dim[0] == 11 &&
           in[3].dim[1] == 11 && out[0].dim[0] == 21 && out[0].dim[1] == 11,
       "shapes at N=20, D=11: z and out [21, 11], weights [11, 11]");
    double f = k->flops(&p), want = 2.0 * 20 * 121 + 2.0 * 21 * 121 + 8.0 * 1331;
    ok(f == want, "flops at N=20, D=11: %.6g (want %.6g)", f, want);
    cb_params q = {0};
    cb_shape given[5] = {{2, {21, 11}}, {2, {11, 11}}, {2, {11, 11}}, {2, {11, 11}}, {2, {11, 11}}};
    rc = k->infer(&q, given, err, sizeof err);
    ok(rc == 0 && cb_params_int(&q, "N", 0) == 20 && cb_params_int(&q, "D", 0) == 11,
       "infer: z [21, 11] gives N = 20, D = 11");
    cb_shape one_row[5] = {{2, {1, 11}}, {2, {11, 11}}, {2, {11, 11}}, {2, {11, 11}}, {2, {11, 11}}};
    cb_shape wrong_w[5] = {{2, {21, 11}}, {2, {11, 11}}, {2, {11, 11}}, {2, {11, 10}}, {2, {11, 11}}};
    char e1[256] = "", e2[256] = "";
    ok(k->infer(&q, one_row, e1, sizeof e1) == -1 && k->infer(&q, wrong_w, e2, sizeof e2) == -1 && strstr(e2, "wv"),
       "infer rejects a z without a context token and a wv of the wrong shape (%s; %s)", e1, e2);
}

/* ---- the ref by hand ------------------------------------------------------- */

static void test_ref_hand(void)
{
    /* N = 1, D = 2, every weight the identity: out_i = z_i + z_0 (z_0 . z_i).
     * z_0 = (1, 2), query z_1 = (3, 4): out_0 = (1,2) + 5 (1,2) = (6, 12),
     * out_1 = (3,4) + 11 (1,2) = (14, 26). Had the query attended to itself
     * too, out_1 would also gain 25 (3, 4). */
    problem pr;
    if (problem_make(&pr, 1, 2, 1) != 0) {
        ok(0, "setup");
        return;
    }
    const float z[4] = {1, 2, 3, 4}, I[4] = {1, 0, 0, 1};
    memcpy(pr.x[0], z, sizeof z);
    for (int t = 1; t < 5; t++) memcpy(pr.x[t], I, sizeof I);
    static const char *const backends[] = {"ref", "blas", "dnnl"};
    for (int b = 0; b < 3; b++) {
        int same = 0;
        float *o = run_impl(&pr, backends[b], &same);
        ok(o && o[0] == 6 && o[1] == 12 && o[2] == 14 && o[3] == 26,
           "%s by hand, N = 1, identity weights: out = (%g, %g; %g, %g), want (6, 12; 14, 26): the query is not a key",
           backends[b], o ? o[0] : NAN, o ? o[1] : NAN, o ? o[2] : NAN, o ? o[3] : NAN);
        free(o);
    }
    /* wp = 2 I, wv = [[0,0],[0,1]], wk = wq = [[1,0],[0,0]]: only x-parts
     * score, only the y-part carries value: out_i = z_i + 2 (0, y_0) x_0 x_i;
     * out_0 = (1, 2 + 2*2*1) = (1, 6), out_1 = (3, 4 + 2*2*3) = (3, 16). */
    const float wkq[4] = {1, 0, 0, 0}, wv[4] = {0, 0, 0, 1}, wp[4] = {2, 0, 0, 2};
    memcpy(pr.x[1], wkq, sizeof wkq);
    memcpy(pr.x[2], wkq, sizeof wkq);
    memcpy(pr.x[3], wv, sizeof wv);
    memcpy(pr.x[4], wp, sizeof wp);
    for (int b = 0; b < 3; b++) {
        int same = 0;
        float *o = run_impl(&pr, backends[b], &same);
        ok(o && o[0] == 1 && o[1] == 6 && o[2] == 3 && o[3] == 16,
           "%s by hand, masked weights: out = (%g, %g; %g, %g), want (1, 6; 3, 16)", backends[b], o ? o[0] : NAN,
           o ? o[1] : NAN, o ? o[2] : NAN, o ? o[3] : NAN);
        free(o);
    }
    problem_free(&pr);
}

/* ---- every backend against the associative form in double ---------------- */

static void test_backends(void)
{
    static const int64_t cases[][2] = {
        {1, 1}, {1, 2}, {2, 1}, {20, 11}, {67, 13}, {300, 20}, {1000, 33}, {2049, 3}, {5, 64},
    };
    static const char *const backends[] = {"ref", "blas", "dnnl"};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const int64_t N = cases[c][0], D = cases[c][1];
        problem pr;
        double *y = NULL, *bnd = NULL;
        int made = problem_make(&pr, N, D, 100 + c) == 0;
        if (made) {
            y = malloc(pr.n[0] * sizeof *y);
            bnd = malloc(pr.n[0] * sizeof *bnd);
        }
        int have = made && y && bnd && expected(&pr, y, bnd) == 0;
        double ymax = 0;
        for (size_t i = 0; have && i < pr.n[0]; i++) ymax = fmax(ymax, fabs(y[i] - pr.x[0][i]));
        for (int b = 0; b < 3; b++) {
            int same = 0;
            float *o = have ? run_impl(&pr, backends[b], &same) : NULL;
            /* ref: double evaluation in the other order, one float rounding */
            double fac = b == 0 ? 1e-12 : 4.0 * (double)(N + 4 * D + 8) * FLT_EPSILON;
            double worst = 0, e = 0;
            int bad = !o;
            for (size_t i = 0; o && i < pr.n[0]; i++) {
                double d = fabs((double)o[i] - y[i]);
                double t = fac * bnd[i] + (b == 0 ? 0.6 * FLT_EPSILON * fabs(y[i]) : 0) + 1e-30;
                if (!(d <= t)) bad = 1;
                if (!(d / t <= worst)) worst = d / t;
                if (!(d <= e)) e = d;
            }
            ok(!bad && same, "%s = z + Z G^T/N in double, N=%lld D=%lld: max err %.3g (max |out - z| %.3g), "
               "worst err / bound %.3g%s", backends[b], (long long)N, (long long)D, e, ymax, worst,
               o && !same ? ", second run differs" : "");
            free(o);
        }
        free(y);
        free(bnd);
        if (made) problem_free(&pr);
    }
}

/* ---- the construction on a hand-computed task ----------------------------- */

static void test_construction_by_hand(void)
{
    /* dx = dy = 1, N = 2: x = (1, 2), y = (3, 5), W0 = 0.5, x_q = 1, eta = 1.
     * grad L(W0) = (1/2) sum (W0 x_j - y_j) x_j = (1/2)(-2.5 - 8) = -5.25,
     * W1 = 5.75; grad L(W1) = (1/2)((5.75 - 3) + (11.5 - 5) 2) = 7.875,
     * W2 = -2.125. Tokens after one layer: y_j - (W1 - W0) x_j =
     * (3 - 5.25, 5 - 10.5) = (-2.25, -5.5), query slot -W1 x_q = -5.75;
     * after two: y_j - (W2 - W0) x_j = (5.625, 10.25), query 2.125. All
     * binary fractions, so the double evaluation is exact. */
    double x[2] = {1, 2}, y[2] = {3, 5}, xq[1] = {1}, ws[1] = {0}, w0[1] = {0.5};
    cb_icl_task t = {.N = 2, .dx = 1, .dy = 1, .x = x, .y = y, .xq = xq, .wstar = ws, .w0 = w0};
    double z[6], z1[6], z2[6], wk[4], wq[4], wv[4], wp[4];
    cb_icl_tokens(&t, z);
    ok(z[0] == 1 && z[1] == 3 && z[2] == 2 && z[3] == 5 && z[4] == 1 && z[5] == -0.5,
       "tokens: (1, 3), (2, 5), query (1, -W0 x_q = -0.5)");
    cb_lsa_gd_weights(&t, 1.0, wk, wq, wv, wp);
    ok(wk[0] == 1 && wk[1] == 0 && wk[3] == 0 && wq[0] == 1 && wv[0] == 0 && wv[1] == 0 && wv[2] == 0.5 &&
           wv[3] == -1 && wp[0] == 1 && wp[3] == 1 && wp[1] == 0,
       "weights: wk = wq = [[1,0],[0,0]], wv = [[0,0],[W0,-1]], wp = I");
    int rc = cb_lsa_forward_d(z, 2, 2, wk, wq, wv, wp, z1);
    ok(rc == 0 && z1[0] == 1 && z1[1] == -2.25 && z1[2] == 2 && z1[3] == -5.5 && z1[4] == 1 && z1[5] == -5.75,
       "one layer = one GD step: y-slots (%g, %g), query %g, want (-2.25, -5.5), -5.75 = -W1 x_q", z1[1], z1[3],
       z1[5]);
    rc = rc || cb_lsa_forward_d(z1, 2, 2, wk, wq, wv, wp, z2);
    ok(rc == 0 && z2[1] == 5.625 && z2[3] == 10.25 && z2[5] == 2.125 && z2[0] == 1 && z2[2] == 2,
       "two layers = two GD steps: y-slots (%g, %g), query %g, want (5.625, 10.25), 2.125 = -W2 x_q", z2[1], z2[3],
       z2[5]);
    /* The same task with W0 = 0 (the paper's choice): one step W1 = 5.25 */
    w0[0] = 0;
    cb_icl_tokens(&t, z);
    cb_lsa_gd_weights(&t, 1.0, wk, wq, wv, wp);
    rc = cb_lsa_forward_d(z, 2, 2, wk, wq, wv, wp, z1);
    /* grad L(0) = (1/2)(-3 - 10) = -6.5, W1 = 6.5 */
    ok(rc == 0 && z1[5] == -6.5 && z1[1] == 3 - 6.5 && z1[3] == 5 - 13,
       "W0 = 0: query %g (want -6.5), y-slots (%g, %g)", z1[5], z1[1], z1[3]);
}

/* ---- the probe end to end -------------------------------------------------- */

static const cb_metric *find_metric(const cb_metrics *ms, const char *name, int K)
{
    for (int i = 0; i < ms->n; i++)
        if (strcmp(ms->m[i].name, name) == 0 && cb_params_int(&ms->m[i].at, "K", -1) == K)
            return &ms->m[i];
    return NULL;
}

static void test_probe(void)
{
    const cb_probe *pb = cb_probe_find("lsa_gd");
    ok(pb != NULL, "lsa_gd is registered");
    if (!pb) return;
    for (int w0 = 0; w0 <= 1; w0++) {
        cb_params p = {0};
        cb_metrics ms = {0};
        char err[256] = "", s[128];
        snprintf(s, sizeof s, "tasks=40,tasks32=4,K=4,N=20,dx=10,dy=1,eta=1,w0=%d", w0);
        int rc = cb_params_parse(&p, s) == 0 ? pb->run(&p, 7, &ms, err, sizeof err) : -1;
        /* per K: err64_tokens, err64_pred, loss_ratio, err32 x 3; then 4 nontriv */
        ok(rc == 0 && ms.n == 4 * 6 + 4, "lsa_gd runs (W0 %s): %d metrics %s", w0 ? "random" : "= 0", ms.n, err);
        int good = rc == 0;
        double worst64 = 0, worst32 = 0, lr_prev = 1;
        for (int K = 1; K <= 4 && good; K++) {
            const cb_metric *a = find_metric(&ms, "err64_tokens", K), *b = find_metric(&ms, "err64_pred", K);
            const cb_metric *l = find_metric(&ms, "loss_ratio", K);
            good = a && b && l && a->value <= 1e-12 && b->value <= 1e-12 && l->value > 0 && l->value < lr_prev;
            if (good) {
                worst64 = fmax(worst64, fmax(a->value, b->value));
                lr_prev = l->value;
            }
            static const char *const names[] = {"err32_ref", "err32_blas", "err32_dnnl"};
            for (int i = 0; i < 3 && good; i++) {
                const cb_metric *m = find_metric(&ms, names[i], K);
                good = m && m->value <= 1e-4 && m->value > 0;
                if (good) worst32 = fmax(worst32, m->value);
            }
        }
        const cb_metric *nt = find_metric(&ms, "nontriv64", 1);
        good = good && nt && nt->value > 1e-3;
        ok(good, "lsa_gd (W0 %s): fp64 error %.3g <= 1e-12, fp32 %.3g <= 1e-4, loss falls with K, layer changes "
           "tokens by %.3g", w0 ? "random" : "= 0", worst64, worst32, nt ? nt->value : NAN);
        cb_metrics_free(&ms);
    }
    cb_params p = {0};
    cb_metrics ms = {0};
    char err[256] = "";
    cb_params_parse(&p, "K=0");
    ok(pb->run(&p, 1, &ms, err, sizeof err) == -1 && strstr(err, "K = 0"), "lsa_gd rejects K = 0 (%s)", err);
    cb_metrics_free(&ms);
}

/* ---- the checks fail on zero, constant and unchanged outputs --------------- */

static cb_verdict_kind eval_check(const cb_spec *s, const char *name, const cb_table *t, double *measured)
{
    const cb_check *c = cb_spec_find_check(s, name);
    if (!c) {
        *measured = NAN;
        return CB_INCONCLUSIVE;
    }
    cb_verdict v;
    cb_check_eval(c, s->id, t, 1, &v);
    *measured = v.measured;
    return v.verdict;
}

static void test_degenerate_outputs(void)
{
    cb_spec *s = calloc(1, sizeof *s);
    char err[512] = "";
    int loaded = s && cb_spec_load("tasks/lsa_gd_equivalence.md", s, err, sizeof err) == 0;
    ok(loaded, "the task spec loads %s", err);
    if (!loaded) {
        free(s);
        return;
    }
    /* one real task; the right answer is the double LSA layer (equal to the
     * GD step, as tested above) */
    cb_icl_task t;
    const int N = 20, dx = 10, dy = 1, D = dx + dy, T = N + 1;
    const size_t nz = (size_t)T * D;
    double z0[21 * 11], gd[21 * 11], cand[21 * 11], w[4][121];
    float candf[21 * 11], z0f[21 * 11];
    if (cb_icl_task_make(&t, N, dx, dy, 1.0, 5, 0) != 0) {
        ok(0, "task");
        cb_spec_free(s);
        free(s);
        return;
    }
    cb_icl_tokens(&t, z0);
    cb_lsa_gd_weights(&t, 1.0, w[0], w[1], w[2], w[3]);
    cb_lsa_forward_d(z0, N, D, w[0], w[1], w[2], w[3], gd);
    for (size_t i = 0; i < nz; i++) z0f[i] = (float)z0[i];
    enum { RIGHT, ZERO, CONST, UNCHANGED, ZERO_REF };
    static const char *const what[] = {"the right output", "an all-zero output", "a constant output",
                                       "the input unchanged", "an all-zero reference (x / 0)"};
    for (int c = RIGHT; c <= ZERO_REF; c++) {
        for (size_t i = 0; i < nz; i++) {
            cand[i] = c == RIGHT || c == ZERO_REF ? gd[i] : c == ZERO ? 0 : c == CONST ? 0.7 : z0[i];
            candf[i] = (float)cand[i];
        }
        double ref0[21 * 11];
        const double *ref = gd;
        if (c == ZERO_REF) {
            memset(ref0, 0, sizeof ref0);
            ref = ref0;
        }
        cb_params at = {0};
        cb_params_parse(&at, "K=1,N=20,dx=10,dy=1");
        double e64 = cb_lsa_rel_err(cand, ref, nz), e32 = cb_lsa_rel_err_f(candf, ref, nz);
        double nt64 = cb_lsa_change(cand, z0, nz), nt32 = cb_lsa_change_f(candf, z0f, nz);
        cb_table tab = {0};
        cb_table_add(&tab, CB_ROW_METRIC, s->id, "lsa_gd", "-", "err64_tokens", &at, &e64, 1, "");
        cb_table_add(&tab, CB_ROW_METRIC, s->id, "lsa_gd", "-", "err32_blas", &at, &e32, 1, "");
        cb_table_add(&tab, CB_ROW_METRIC, s->id, "lsa_gd", "-", "nontriv64", &at, &nt64, 1, "");
        cb_table_add(&tab, CB_ROW_METRIC, s->id, "lsa_gd", "-", "nontriv32_blas", &at, &nt32, 1, "");
        double m1, m2, m3, m4;
        cb_verdict_kind v1 = eval_check(s, "one_layer_is_one_gd_step_fp64", &tab, &m1);
        cb_verdict_kind v2 = eval_check(s, "blas_fp32_equals_gd", &tab, &m2);
        cb_verdict_kind v3 = eval_check(s, "layer_changes_tokens_fp64", &tab, &m3);
        cb_verdict_kind v4 = eval_check(s, "layer_changes_tokens_blas", &tab, &m4);
        if (c == RIGHT)
            ok(v1 == CB_REPRODUCED && v2 == CB_REPRODUCED && v3 == CB_REPRODUCED && v4 == CB_REPRODUCED,
               "%s passes: err64 %.3g, err32 %.3g, change %.3g / %.3g", what[c], m1, m2, m3, m4);
        else
            ok(v1 == CB_NOT_REPRODUCED && v2 == CB_NOT_REPRODUCED,
               "%s fails the equivalences: err64 %.3g (%s), err32 %.3g (%s)", what[c], m1, cb_verdict_name(v1), m2,
               cb_verdict_name(v2));
        if (c == UNCHANGED)
            ok(v3 == CB_NOT_REPRODUCED && v4 == CB_NOT_REPRODUCED,
               "%s also fails the non-triviality bounds: change %.3g (%s), %.3g (%s)", what[c], m3,
               cb_verdict_name(v3), m4, cb_verdict_name(v4));
        cb_table_free(&tab);
    }
    cb_icl_task_free(&t);
    cb_spec_free(s);
    free(s);
}

/* ---- claimbench run on .npy, every backend --------------------------------- */

static void test_run_npy(void)
{
    const char *bin = getenv("CLAIMBENCH");
    if (!bin || !bin[0]) {
        diag("CLAIMBENCH not set: claimbench run on .npy not tested (prove sets it)");
        return;
    }
    char dir[] = "/tmp/t_lsa_gd.XXXXXX";
    if (!mkdtemp(dir)) {
        ok(0, "temporary folder");
        return;
    }
    problem pr;
    double *y = NULL, *bnd = NULL;
    int made = problem_make(&pr, 37, 11, 99) == 0;
    if (made) {
        y = malloc(pr.n[0] * sizeof *y);
        bnd = malloc(pr.n[0] * sizeof *bnd);
    }
    int have = made && y && bnd && expected(&pr, y, bnd) == 0;
    const cb_kernel *k = cb_kernel_find("lsa_layer");
    char path[5][256] = {{0}}, err[256] = "";
    for (int t = 0; have && t < 5; t++) {
        cb_tensor ten;
        memset(&ten, 0, sizeof ten);
        snprintf(path[t], sizeof path[t], "%s/%s.npy", dir, k->in[t]);
        have = cb_tensor_alloc(&ten, k->in[t], &pr.in_shape[t]) == 0;
        if (have) {
            memcpy(ten.data, pr.x[t], pr.n[t] * sizeof(float));
            have = cb_npy_write(path[t], &ten, err, sizeof err) == 0;
            cb_tensor_free(&ten);
        }
    }
    static const char *const backends[] = {"ref", "blas", "dnnl"};
    for (int b = 0; b < 3; b++) {
        char outp[300], cmd[2048];
        snprintf(outp, sizeof outp, "%s/out_%s.npy", dir, backends[b]);
        snprintf(cmd, sizeof cmd, "'%s' run lsa_layer --backend %s --in z='%s' --in wk='%s' --in wq='%s' "
                 "--in wv='%s' --in wp='%s' --out out='%s' >/dev/null 2>&1",
                 bin, backends[b], path[0], path[1], path[2], path[3], path[4], outp);
        int rc = have ? system(cmd) : -1;
        cb_tensor o;
        memset(&o, 0, sizeof o);
        int got = rc == 0 && cb_npy_read(outp, &o, "out", err, sizeof err) == 0;
        int shape_ok = got && o.shape.rank == 2 && o.shape.dim[0] == 38 && o.shape.dim[1] == 11;
        double worst = 0;
        int bad = !shape_ok;
        for (size_t i = 0; shape_ok && i < pr.n[0]; i++) {
            double d = fabs((double)o.data[i] - y[i]), tol = 4.0 * (37 + 4 * 11 + 8) * FLT_EPSILON * bnd[i];
            if (!(d <= tol)) bad = 1;
            if (!(d / tol <= worst)) worst = d / tol;
        }
        ok(!bad, "claimbench run lsa_layer --backend %s on .npy (N inferred = 37, D = 11): exit %d, worst err / "
           "bound %.3g %s", backends[b], rc, worst, err);
        cb_tensor_free(&o);
        unlink(outp);
    }
    for (int t = 0; t < 5; t++)
        if (path[t][0]) unlink(path[t]);
    rmdir(dir);
    free(y);
    free(bnd);
    if (made) problem_free(&pr);
}

int main(void)
{
    tap_no_plan();
    test_contract();
    test_ref_hand();
    test_backends();
    test_construction_by_hand();
    test_probe();
    test_degenerate_outputs();
    test_run_npy();
    return tap_done();
}
