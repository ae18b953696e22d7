/* t_favor_plus_random_features.c — the favor_attention kernel (ref, blas,
 * dnnl) and the favor_estimators probe.
 *
 * The ref is held to answers known without it: hand-computed one- and
 * two-feature cases, the estimator written as an explicit N x N matrix
 * without any stabilizer, and, with many iid Gaussian features, exact
 * softmax attention (Lemma 1: the estimate is unbiased, its relative spread
 * per entry is sqrt((e^s - 1)/m), s = |x+y|^2). Then every backend is held
 * to ref on edge shapes, and on inputs so large that an unshifted exp would
 * overflow in float; then the contract and the probe.
 *
 * Tolerance of the fp32 backends. Each feature is exp(a) with a an exponent
 * computed in float: its absolute error is at most (d + 8) u E, where E is
 * the largest sum of magnitudes entering an exponent (sum_a |w_la| |c x_a| +
 * |c x|^2/2 + the shift), u = 2^-24, d + 8 covering the dot product of
 * length d, the shifts and exp's 2 ulp. So every feature carries a relative
 * error <= eps_a = (d + 8) u E, and the sums over m features and N keys add
 * gamma_{m+N} = (m + N) u relative (positive terms). o_i is a ratio of
 * weighted sums of v with positive weights, so a relative weight error eps
 * moves it by at most 2 eps max|v|:
 *   |o32 - o| <= 2 (2 eps_a + (m + N + 8) u) max|v|.
 * Loose by design (observed errors are printed and are far below it); any
 * real defect (a missed tail block, a wrong norm term, a stale running
 * maximum) is an O(1) error.
 */
#include "kernel.h"
#include "kernel_test.h"
#include "tap.h"
#include "test_cmp.h"
#include "test_rng.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- running one implementation ---------------------------------------- */

typedef struct problem {
    cb_params p;
    int64_t H, N, d, dv, m;
    cb_shape in_shape[CB_MAX_TENSORS], out_shape[CB_MAX_TENSORS];
    float *x[CB_MAX_TENSORS];   /* q, k, v, w */
    size_t n_in[4], n_out;
} problem;

static void problem_free(problem *pr)
{
    kt_inputs_free(pr->x);
    memset(pr, 0, sizeof *pr);
}

/* Inputs for "H=..,N=..": q, k scaled by qk_scale, v and w standard normal. */
static int problem_make(problem *pr, const char *params, uint64_t seed, double qk_scale)
{
    memset(pr, 0, sizeof *pr);
    const double scale[4] = {qk_scale, qk_scale, 1.0, 1.0};
    if (kt_inputs_make("favor_attention", params, seed, 5, scale, &pr->p, pr->in_shape,
                       pr->out_shape, pr->x))
        return -1;
    pr->H = cb_params_int(&pr->p, "H", 0);
    pr->N = cb_params_int(&pr->p, "N", 0);
    pr->d = cb_params_int(&pr->p, "d", 0);
    pr->dv = cb_params_int(&pr->p, "dv", 0);
    pr->m = cb_params_int(&pr->p, "m", 0);
    for (int t = 0; t < 4; t++)
        pr->n_in[t] = (size_t)cb_shape_numel(&pr->in_shape[t]);
    pr->n_out = (size_t)cb_shape_numel(&pr->out_shape[0]);
    return 0;
}

/* kt_run_twice (kernel_test.h) of favor_attention on the problem's inputs. */
static float *run_impl(const problem *pr, const char *backend, int *same)
{
    return kt_run_twice("favor_attention", backend, &pr->p, pr->x, same);
}

static double max_abs_f(const float *x, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(x[i]) > m) m = fabs(x[i]);
    return m;
}

/* The fp32 bound of the header comment. */
static double bound(const problem *pr)
{
    const double u = FLT_EPSILON / 2, c = pow((double)pr->d, -0.25);
    double E = 0;
    for (int t = 0; t < 2; t++)
        for (int64_t r = 0; r < pr->H * pr->N; r++) {
            const float *x = pr->x[t] + r * pr->d;
            double n2 = 0;
            for (int64_t a = 0; a < pr->d; a++)
                n2 += (c * x[a]) * (c * x[a]);
            for (int64_t l = 0; l < pr->m; l++) {
                double s = n2;   /* |c x|^2/2 and a shift of the same size */
                for (int64_t a = 0; a < pr->d; a++)
                    s += fabs(pr->x[3][l * pr->d + a] * c * x[a]);
                if (s > E) E = s;
            }
        }
    double eps_a = (double)(pr->d + 8) * u * E;
    return 2 * (2 * eps_a + (double)(pr->m + pr->N + 8) * u) * max_abs_f(pr->x[2], pr->n_in[2]);
}

/* ---- independent formulas (double, no stabilizer) ----------------------- */

/* The estimator as an explicit matrix: A_ij = sum_l exp(w_l.x_i - |x_i|^2/2)
 * exp(w_l.y_j - |y_j|^2/2), o = A v / A 1. */
static void favor_matrix(const problem *pr, double *o)
{
    const int64_t N = pr->N, d = pr->d, dv = pr->dv, m = pr->m;
    const double c = pow((double)d, -0.25);
    for (int64_t h = 0; h < pr->H; h++)
        for (int64_t i = 0; i < N; i++) {
            const float *q = pr->x[0] + (h * N + i) * d;
            double *oi = o + (h * N + i) * dv, den = 0;
            for (int64_t e = 0; e < dv; e++) oi[e] = 0;
            for (int64_t j = 0; j < N; j++) {
                const float *k = pr->x[1] + (h * N + j) * d;
                double A = 0, qn = 0, kn = 0;
                for (int64_t a = 0; a < d; a++) {
                    qn += c * q[a] * c * q[a];
                    kn += c * k[a] * c * k[a];
                }
                for (int64_t l = 0; l < m; l++) {
                    double wq = 0, wk = 0;
                    for (int64_t a = 0; a < d; a++) {
                        wq += pr->x[3][l * d + a] * c * q[a];
                        wk += pr->x[3][l * d + a] * c * k[a];
                    }
                    A += exp(wq - qn / 2) * exp(wk - kn / 2);
                }
                den += A;
                for (int64_t e = 0; e < dv; e++) oi[e] += A * pr->x[2][(h * N + j) * dv + e];
            }
            for (int64_t e = 0; e < dv; e++) oi[e] /= den;
        }
}

/* Exact softmax attention softmax(q k^T / sqrt(d)) v. */
static void softmax_exact(const problem *pr, double *o)
{
    const int64_t N = pr->N, d = pr->d, dv = pr->dv;
    double *s = malloc((size_t)N * sizeof *s);
    if (!s) return;
    for (int64_t h = 0; h < pr->H; h++)
        for (int64_t i = 0; i < N; i++) {
            double mx = -INFINITY, den = 0, *oi = o + (h * N + i) * dv;
            for (int64_t j = 0; j < N; j++) {
                double t = 0;
                for (int64_t a = 0; a < d; a++)
                    t += (double)pr->x[0][(h * N + i) * d + a] * pr->x[1][(h * N + j) * d + a];
                s[j] = t / sqrt((double)d);
                if (s[j] > mx) mx = s[j];
            }
            for (int64_t e = 0; e < dv; e++) oi[e] = 0;
            for (int64_t j = 0; j < N; j++) {
                double p = exp(s[j] - mx);
                den += p;
                for (int64_t e = 0; e < dv; e++) oi[e] += p * pr->x[2][(h * N + j) * dv + e];
            }
            for (int64_t e = 0; e < dv; e++) oi[e] /= den;
        }
    free(s);
}

/* ---- the ref against known answers -------------------------------------- */

static void test_ref_known(void)
{
    /* m = 1, d = 1: phi(x_i) is one number that cancels, so every o_i is
     * sum_j phi(y_j) v_j / sum_j phi(y_j), phi(y) = exp(w y - y^2/2).
     * k = (0, 1), w = 1: phi = (1, e^0.5); v = (1, 4). */
    {
        problem pr;
        int same = 0;
        float *o = NULL;
        if (problem_make(&pr, "H=1,N=2,d=1,m=1", 1, 1.0) == 0) {
            pr.x[0][0] = 0.3f; pr.x[0][1] = -2.0f;
            pr.x[1][0] = 0; pr.x[1][1] = 1;
            pr.x[2][0] = 1; pr.x[2][1] = 4;
            pr.x[3][0] = 1;
            o = run_impl(&pr, "ref", &same);
        }
        double want = (1 + 4 * exp(0.5)) / (1 + exp(0.5));
        ok(o && fabs(o[0] - want) <= 1e-6 && fabs(o[1] - want) <= 1e-6,
           "ref by hand, one feature: o = (%.7g, %.7g), want %.7g twice", o ? o[0] : NAN, o ? o[1] : NAN, want);
        free(o);
        problem_free(&pr);
    }
    /* m = 2, d = 1, w = (1, -1): phi(x) ~ (e^x, e^-x) (the common e^(-x^2/2)
     * cancels in each ratio). q = (0, 1), k = (0, 1), v = (0, 1):
     * A_i0 = e^(x_i) + e^(-x_i), A_i1 = e^(x_i) e^(1 - 1/2) + e^(-x_i) e^(-1 - 1/2) */
    {
        problem pr;
        int same = 0;
        float *o = NULL;
        if (problem_make(&pr, "H=1,N=2,d=1,m=2", 1, 1.0) == 0) {
            pr.x[0][0] = 0; pr.x[0][1] = 1;
            pr.x[1][0] = 0; pr.x[1][1] = 1;
            pr.x[2][0] = 0; pr.x[2][1] = 1;
            pr.x[3][0] = 1; pr.x[3][1] = -1;
            o = run_impl(&pr, "ref", &same);
        }
        double want[2];
        for (int i = 0; i < 2; i++) {
            double x = i, a0 = exp(x) + exp(-x), a1 = exp(x) * exp(0.5) + exp(-x) * exp(-1.5);
            want[i] = a1 / (a0 + a1);
        }
        ok(o && fabs(o[0] - want[0]) <= 1e-6 && fabs(o[1] - want[1]) <= 1e-6,
           "ref by hand, two features: o = (%.7g, %.7g), want (%.7g, %.7g)", o ? o[0] : NAN, o ? o[1] : NAN,
           want[0], want[1]);
        free(o);
        problem_free(&pr);
    }
    /* random: the ref against the explicit-matrix formula (no stabilizer) */
    {
        static const char *const cases[] = {"H=2,N=37,d=13,dv=5,m=29", "H=1,N=20,d=64,dv=3,m=256"};
        for (size_t c = 0; c < 2; c++) {
            problem pr;
            int same = 0;
            float *o = NULL;
            double *y = NULL, e = INFINITY;
            if (problem_make(&pr, cases[c], 10 + c, 1.0) == 0) {
                o = run_impl(&pr, "ref", &same);
                y = malloc(pr.n_out * sizeof *y);
                if (o && y) {
                    favor_matrix(&pr, y);
                    e = test_max_diff_fd(o, y, pr.n_out);
                }
            }
            /* the ref rounds only its result (|o| <= max|v| ~ 4): 1e-6 */
            ok(o && same && e <= 1e-6, "ref = explicit N x N estimator, %s: max err %.3g", cases[c], e);
            free(o);
            free(y);
            problem_free(&pr);
        }
    }
    /* many iid features: FAVOR+ -> softmax attention. q, k scaled so that
     * |x|, |y| ~ 0.5 (s <= ~1): relative spread per entry sqrt(1.7/m) =
     * 0.9% at m = 20000; the output error is held to 5% of max|o - mean|. */
    {
        problem pr;
        int same = 0;
        float *o = NULL;
        double *y = NULL, e = INFINITY, scale = 0;
        if (problem_make(&pr, "H=1,N=12,d=4,dv=3,m=20000", 3, 0.35) == 0) {
            o = run_impl(&pr, "ref", &same);
            y = malloc(pr.n_out * sizeof *y);
            if (o && y) {
                softmax_exact(&pr, y);
                e = test_max_diff_fd(o, y, pr.n_out);
                for (size_t i = 0; i < pr.n_out; i++)
                    if (fabs(y[i]) > scale) scale = fabs(y[i]);
            }
        }
        ok(o && e <= 0.05 * scale, "ref with 20000 iid features ~ exact softmax attention: max err %.3g (scale %.3g)",
           e, scale);
        free(o);
        free(y);
        problem_free(&pr);
    }
}

/* ---- every backend against the ref -------------------------------------- */

static void test_backends(void)
{
    /* ramp > 0 scales key row j by ramp (j + 1) / N, so the largest key
     * exponent sits in the last block and the running maximum must rise
     * (and rescale the state) from block to block in both backends. */
    static const struct { const char *params; double qk, ramp; } cases[] = {
        {"H=1,N=1,d=1,dv=1,m=1", 1.0, 0},          /* N = 1, d = 1, m = 1 */
        {"H=2,N=1,d=4,dv=3,m=5", 1.0, 0},
        {"H=2,N=67,d=13,dv=7,m=37", 1.0, 0},       /* odd d, dv != d, m not a multiple of 16 */
        {"H=3,N=513,d=64,dv=64,m=256", 1.0, 0},    /* dnnl: one 512-row block and a tail of 1 */
        {"H=1,N=257,d=16,dv=1,m=64", 1.0, 0},      /* blas: one 256-row block and a tail of 1 */
        {"H=2,N=600,d=8,dv=5,m=1000", 1.0, 0},     /* several blocks; m > N */
        {"H=1,N=300,d=64,dv=16,m=128", 1.0, 0},
        {"H=2,N=200,d=16,dv=16,m=64", 6.0, 0},     /* |c x|^2/2 ~ 144: exp would overflow float unshifted */
        {"H=2,N=1300,d=16,dv=8,m=64", 1.0, 1.5},   /* rising key maximum over 6 (blas) and 3 (dnnl) blocks */
    };
    static const char *const backends[] = {"blas", "dnnl"};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        problem pr;
        int made = problem_make(&pr, cases[c].params, 100 + c, cases[c].qk) == 0, same_ref = 0;
        if (made && cases[c].ramp > 0)
            for (int64_t h = 0; h < pr.H; h++)
                for (int64_t j = 0; j < pr.N; j++)
                    for (int64_t a = 0; a < pr.d; a++)
                        pr.x[1][(h * pr.N + j) * pr.d + a] *= (float)(cases[c].ramp * (double)(j + 1) / (double)pr.N);
        float *ref = made ? run_impl(&pr, "ref", &same_ref) : NULL;
        double *refd = ref ? malloc(pr.n_out * sizeof *refd) : NULL;
        if (refd)
            for (size_t i = 0; i < pr.n_out; i++) refd[i] = ref[i];
        for (size_t b = 0; b < sizeof backends / sizeof backends[0]; b++) {
            int same = 0;
            float *o = refd ? run_impl(&pr, backends[b], &same) : NULL;
            double e = o ? test_max_diff_fd(o, refd, pr.n_out) : NAN, tol = made ? bound(&pr) : 0;
            ok(o && same && same_ref && e <= tol, "favor_attention %s = ref, %s (q, k x %g%s): max err %.3g (bound %.3g)%s",
               backends[b], cases[c].params, cases[c].qk, cases[c].ramp > 0 ? ", keys ramped" : "", e, tol,
               o && !same ? ", second run differs" : "");
            free(o);
        }
        free(ref);
        free(refd);
        if (made) problem_free(&pr);
    }
}

/* ---- contract ------------------------------------------------------------ */

static void test_contract(void)
{
    const cb_kernel *k = cb_kernel_find("favor_attention");
    ok(k != NULL, "favor_attention is registered");
    if (!k) return;
    static const char *const bad[] = {
        "N=8,d=4",                 /* missing H */
        "H=1,d=4",                 /* missing N */
        "H=1,N=0,d=4",
        "H=1,N=8,d=2.5",
        "H=1,N=8,d=4,dv=0",
        "H=1,N=8,d=4,m=0",
        "H=1,N=8,d=4,m=-3",
        "H=1,N=8,d=4,m=3000000000",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cb_params p = {0};
        cb_shape in[CB_MAX_TENSORS], out[CB_MAX_TENSORS];
        char err[256] = "";
        int rc = cb_params_parse(&p, bad[i]) == 0 ? k->shapes(&p, in, out, err, sizeof err) : 0;
        ok(rc == -1 && err[0], "rejects %s (%s)", bad[i], err);
    }
    cb_params p = {0};
    cb_shape in[CB_MAX_TENSORS], out[CB_MAX_TENSORS];
    char err[256] = "";
    int rc = cb_params_parse(&p, "H=8,N=1024,d=64") == 0 ? k->shapes(&p, in, out, err, sizeof err) : -1;
    ok(rc == 0 && cb_params_int(&p, "dv", 0) == 64 && cb_params_int(&p, "m", 0) == 256 && in[3].rank == 2 &&
           in[3].dim[0] == 256 && in[3].dim[1] == 64 && out[0].dim[1] == 1024 && out[0].dim[2] == 64,
       "defaults: dv = d, m = 256; w is [m, d]");
    ok(k->flops(&p) == 8.0 * 1024 * 256 * (4 * 64 + 4 * 64 + 4), "flops: H N m (4 d + 4 dv + 4) = %.4g",
       k->flops(&p));
    cb_params q = {0};
    cb_shape given[4] = {{3, {2, 10, 5}}, {3, {2, 10, 5}}, {3, {2, 10, 3}}, {2, {7, 5}}};
    rc = k->infer(&q, given, err, sizeof err);
    ok(rc == 0 && cb_params_int(&q, "H", 0) == 2 && cb_params_int(&q, "N", 0) == 10 &&
           cb_params_int(&q, "d", 0) == 5 && cb_params_int(&q, "dv", 0) == 3 && cb_params_int(&q, "m", 0) == 7,
       "infers H, N, d, dv and m from the tensors");
    cb_shape wrong_w[4] = {{3, {2, 10, 5}}, {3, {2, 10, 5}}, {3, {2, 10, 3}}, {2, {7, 4}}};
    cb_shape wrong_k[4] = {{3, {2, 10, 5}}, {3, {2, 11, 5}}, {3, {2, 10, 3}}, {2, {7, 5}}};
    ok(k->infer(&q, wrong_w, err, sizeof err) == -1, "infer rejects w with another d (%s)", err);
    ok(k->infer(&q, wrong_k, err, sizeof err) == -1, "infer rejects k shaped unlike q (%s)", err);
}

/* ---- the probe ------------------------------------------------------------ */

static const cb_metric *find_metric(const cb_metrics *ms, const char *name, int d, int m)
{
    for (int i = 0; i < ms->n; i++)
        if (strcmp(ms->m[i].name, name) == 0 && cb_params_int(&ms->m[i].at, "d", -1) == d &&
            cb_params_int(&ms->m[i].at, "m", -1) == m)
            return &ms->m[i];
    return NULL;
}

static void test_probe(void)
{
    const cb_probe *pb = cb_probe_find("favor_estimators");
    ok(pb != NULL, "favor_estimators is registered");
    if (!pb) return;
    cb_params p = {0};
    cb_metrics ms = {0}, ms2 = {0};
    char err[256] = "";
    const char *small = "d1=8,d2=0,pairs=6,trials=400,m_max=64,att_d=8,att_n=64,att_reps=2";
    int rc = cb_params_parse(&p, small) == 0 ? pb->run(&p, 7, &ms, err, sizeof err) : -1;
    /* part A: 14 metrics per m (m = 16, 32, 64); part C: 3 per m, then 3 */
    ok(rc == 0 && ms.n == 3 * 14 + 3 * 3 + 3, "runs on a small problem: %d metrics %s", ms.n, err);
    int rc2 = pb->run(&p, 7, &ms2, err, sizeof err);
    int same = rc2 == 0 && ms2.n == ms.n;
    for (int i = 0; same && i < ms.n; i++)
        same = strcmp(ms.m[i].name, ms2.m[i].name) == 0 && ms.m[i].value == ms2.m[i].value;
    ok(same, "deterministic: a second run gives the same metrics");

    /* the closed form is (1/m) mean(e^s - 1): m * it is the same for every m */
    const cb_metric *t16 = find_metric(&ms, "mse_pos_theory", 8, 16), *t64 = find_metric(&ms, "mse_pos_theory", 8, 64);
    ok(t16 && t64 && fabs(16 * t16->value - 64 * t64->value) <= 1e-12 * 16 * t16->value,
       "mse_pos_theory * m is constant in m (%.6g, %.6g)", t16 ? 16 * t16->value : NAN, t64 ? 64 * t64->value : NAN);
    double worst_ratio = 0, worst_z = 0, worst_pt = 0, worst32 = 0;
    int n_ratio = 0, n_z = 0, n_pt = 0, n32 = 0;
    for (int i = 0; i < ms.n; i++) {
        const cb_metric *m = &ms.m[i];
        if (!strcmp(m->name, "mse_pos_ratio") || !strcmp(m->name, "mse_trig_ratio")) {
            n_ratio++;
            if (!(fabs(m->value - 1) <= worst_ratio)) worst_ratio = fabs(m->value - 1);
        } else if (!strncmp(m->name, "bias_z_", 7)) {
            n_z++;
            if (!(m->value <= worst_z)) worst_z = m->value;
        } else if (!strcmp(m->name, "pos_trig_ratio")) {
            n_pt++;
            if (!(m->value <= worst_pt)) worst_pt = m->value;
        } else if (!strncmp(m->name, "kernel_err32_", 13)) {
            n32++;
            if (!(m->value <= worst32)) worst32 = m->value;
        }
    }
    /* 400 draws, 6 pairs: the mean of 6 measured/closed-form ratios is within
     * a few % of 1 (per pair ~5-10% at m = 16); 25% catches a wrong formula */
    ok(n_ratio == 6 && worst_ratio <= 0.25, "measured MSE = closed forms: worst |ratio - 1| = %.3g over %d", worst_ratio,
       n_ratio);
    ok(n_z == 9 && worst_z < 5, "unbiased: largest bias z-score %.3g over %d", worst_z, n_z);
    ok(n_pt == 3 && worst_pt < 1e-3, "positive << trig where SM is small: largest MSE ratio %.3g", worst_pt);
    ok(n32 == 3 && worst32 < 1e-4, "kernels = the probe's double estimator: worst %.3g", worst32);
    const cb_metric *oi = find_metric(&ms, "orth_iid_ratio", 8, 64);
    ok(oi && oi->value < 1, "orthogonal features beat iid at d = 8, m = 64: MSE ratio %.3g", oi ? oi->value : NAN);
    const cb_metric *e16 = find_metric(&ms, "att_err_pos_iid", 8, 16), *e64 = find_metric(&ms, "att_err_pos_iid", 8, 64);
    ok(e16 && e64 && e64->value < e16->value, "attention error falls with m: %.3g at m = 16, %.3g at m = 64",
       e16 ? e16->value : NAN, e64 ? e64->value : NAN);
    cb_metrics_free(&ms);
    cb_metrics_free(&ms2);

    cb_params bad = {0};
    ok(cb_params_parse(&bad, "m_max=48") == 0 && pb->run(&bad, 7, &ms, err, sizeof err) == -1,
       "rejects m_max = 48, not a power of two (%s)", err);
    cb_metrics_free(&ms);
    cb_params bad2 = {0};
    ok(cb_params_parse(&bad2, "trials=1") == 0 && pb->run(&bad2, 7, &ms, err, sizeof err) == -1,
       "rejects trials = 1 (%s)", err);
    cb_metrics_free(&ms);
}

int main(void)
{
    tap_no_plan();
    test_contract();
    test_ref_known();
    test_backends();
    test_probe();
    return tap_done();
}
