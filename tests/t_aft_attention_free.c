/* t_aft_attention_free.c — AFT-simple and AFT-full: every backend against
 * the ref oracle and against an independent double formula, hand-computed
 * answers, the range cases the factorized form must survive, the contracts'
 * parameter checks, and the aft_forms and aft_memory probes.
 *
 * Tolerance. o_tc = sigmoid(q_tc) Σ_t' a_t' v_t'c / Σ_t' a_t' with weights
 * a > 0, so |o| <= max|v|, and a float evaluation of the two sums (any order,
 * any blocking) errs by at most gamma_n = n eps of the sum of magnitudes, so
 *   |o_float - o| <= 2 gamma_n max|v|,  n = N + d + 16
 * (16 covers the exp's 2 ulp, the sigmoid, the division and the final
 * rounding). Loose (observed errors are printed, and are far below it), but
 * any real defect (a wrong shift, a lost tail, a stale state, a missing
 * channel) is an O(1) error.
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

/* ---- one problem: inputs for a kernel at "N=..,d=.." ------------------- */

typedef struct problem {
    const cb_kernel *k;
    cb_params p;
    cb_shape in_shape[CB_MAX_TENSORS], out_shape[CB_MAX_TENSORS];
    float *x[CB_MAX_TENSORS];   /* q, k, v (, w) */
    int64_t N, d;
    size_t n_out;
} problem;

static void problem_free(problem *pr)
{
    kt_inputs_free(pr->x);
    memset(pr, 0, sizeof *pr);
}

static int problem_make(problem *pr, const char *kernel, const char *params, uint64_t seed)
{
    memset(pr, 0, sizeof *pr);
    pr->k = cb_kernel_find(kernel);
    if (kt_inputs_make(kernel, params, seed, 5, NULL, &pr->p, pr->in_shape, pr->out_shape, pr->x))
        return -1;
    pr->N = cb_params_int(&pr->p, "N", 0);
    pr->d = cb_params_int(&pr->p, "d", 0);
    pr->n_out = (size_t)cb_shape_numel(&pr->out_shape[0]);
    return 0;
}

/* kt_run_twice (kernel_test.h) on the problem's inputs. */
static float *run_impl(const problem *pr, const char *backend, int *same)
{
    return kt_run_twice(pr->k->name, backend, &pr->p, pr->x, same);
}

static double vmax(const problem *pr)
{
    double m = 0;
    for (size_t i = 0; i < (size_t)(pr->N * pr->d); i++)
        if (fabs(pr->x[2][i]) > m) m = fabs(pr->x[2][i]);
    return m;
}

static double bound(const problem *pr) { return 2 * (double)(pr->N + pr->d + 16) * FLT_EPSILON * vmax(pr); }

/* Eq. 2 in double, written independently of the ref files: per (t, c) the
 * softmax over t' of k_t'c + w_t,t' (w = NULL: AFT-simple, w = 0). */
static void naive(const problem *pr, const float *w, double *o)
{
    const int64_t N = pr->N, d = pr->d;
    const float *q = pr->x[0], *k = pr->x[1], *v = pr->x[2];
    for (int64_t t = 0; t < N; t++)
        for (int64_t c = 0; c < d; c++) {
            double m = -INFINITY, num = 0, den = 0;
            for (int64_t u = 0; u < N; u++)
                m = fmax(m, (double)k[u * d + c] + (w ? w[t * N + u] : 0.0));
            for (int64_t u = 0; u < N; u++) {
                double a = exp((double)k[u * d + c] + (w ? w[t * N + u] : 0.0) - m);
                num += a * v[u * d + c];
                den += a;
            }
            o[t * d + c] = num / den / (1 + exp(-(double)q[t * d + c]));
        }
}

static const char *const backends[] = {"ref", "blas", "dnnl"};
enum { NB = 3 };

/* ---- hand-computed answers ------------------------------------------------ */

static void set(float *x, int n, const double *vals)
{
    for (int i = 0; i < n; i++)
        x[i] = (float)vals[i];
}

static void test_known(void)
{
    const double l3 = log(3.0);
    /* AFT-simple, N = 2, d = 1: k = (0, ln 3) gives weights (1/4, 3/4); with
     * v = (1, 5) the context is 1/4 + 15/4 = 4; q = (0, ln 3) gates it by
     * sigmoid = (1/2, 3/4): o = (2, 3). */
    {
        problem pr;
        const double q[2] = {0, l3}, k[2] = {0, l3}, v[2] = {1, 5};
        if (problem_make(&pr, "aft_simple", "N=2,d=1", 1) == 0) {
            set(pr.x[0], 2, q);
            set(pr.x[1], 2, k);
            set(pr.x[2], 2, v);
            for (int b = 0; b < NB; b++) {
                int same = 0;
                float *o = run_impl(&pr, backends[b], &same);
                /* within 1e-6 relative: a few ulp (ln 3 and the exps are rounded) */
                ok(o && fabs(o[0] - 2) <= 2e-6 && fabs(o[1] - 3) <= 3e-6,
                   "aft_simple %s by hand: o = (%.9g, %.9g), want (2, 3)", backends[b], o ? o[0] : NAN,
                   o ? o[1] : NAN);
                free(o);
            }
        }
        problem_free(&pr);
    }
    /* AFT-full, N = 2, d = 1: k = (0, 0), v = (1, 5), w = [[0, ln 3], [ln 3, 0]]:
     * row 0 weighs (1/4, 3/4): 4; row 1 (3/4, 1/4): 2; q = 0 halves: o = (2, 1). */
    {
        problem pr;
        const double q[2] = {0, 0}, k[2] = {0, 0}, v[2] = {1, 5}, w[4] = {0, l3, l3, 0};
        if (problem_make(&pr, "aft_full", "N=2,d=1", 1) == 0) {
            set(pr.x[0], 2, q);
            set(pr.x[1], 2, k);
            set(pr.x[2], 2, v);
            set(pr.x[3], 4, w);
            for (int b = 0; b < NB; b++) {
                int same = 0;
                float *o = run_impl(&pr, backends[b], &same);
                ok(o && fabs(o[0] - 2) <= 2e-6 && fabs(o[1] - 1) <= 1e-6,
                   "aft_full %s by hand: o = (%.9g, %.9g), want (2, 1)", backends[b], o ? o[0] : NAN,
                   o ? o[1] : NAN);
                free(o);
            }
        }
        problem_free(&pr);
    }
    /* Huge logits: without the max shift exp(1000) overflows. AFT-simple,
     * N = 3, d = 1, k = (1000, 0, -1000): all weight on token 0, context 7;
     * q = (100, 0, -100): o = (7, 3.5, 7 sigmoid(-100) ~ 2.6e-43). */
    {
        problem pr;
        const double q[3] = {100, 0, -100}, k[3] = {1000, 0, -1000}, v[3] = {7, 1, 1};
        if (problem_make(&pr, "aft_simple", "N=3,d=1", 1) == 0) {
            set(pr.x[0], 3, q);
            set(pr.x[1], 3, k);
            set(pr.x[2], 3, v);
            for (int b = 0; b < NB; b++) {
                int same = 0;
                float *o = run_impl(&pr, backends[b], &same);
                ok(o && o[0] == 7 && o[1] == 3.5f && isfinite(o[2]) && fabs(o[2]) < 1e-40,
                   "aft_simple %s, logits ±1000: o = (%g, %g, %g), want (7, 3.5, ~2.6e-43)", backends[b],
                   o ? o[0] : NAN, o ? o[1] : NAN, o ? o[2] : NAN);
                free(o);
            }
        }
        problem_free(&pr);
    }
    /* The separable shift's blind spot. AFT-full, N = 3, d = 1, k = (0, 0, 200),
     * w row 0 = (0, 0, -300): its logits are (0, 0, -100), so o_0 = (v_0 + v_1)/2
     * times sigmoid(0) = 1/2. The factorized form shifts by max k + max w =
     * 200 + 0, so all its row-0 terms are below e^-200 (0 in float): the
     * backends must notice and recompute. Rows 1, 2 (w = 0): weights
     * (e^-200, e^-200, 1) put everything on token 2. */
    {
        problem pr;
        const double q[3] = {0, 0, 0}, k[3] = {0, 0, 200}, v[3] = {2, 4, 9};
        const double w[9] = {0, 0, -300, 0, 0, 0, 0, 0, 0};
        if (problem_make(&pr, "aft_full", "N=3,d=1", 1) == 0) {
            set(pr.x[0], 3, q);
            set(pr.x[1], 3, k);
            set(pr.x[2], 3, v);
            set(pr.x[3], 9, w);
            for (int b = 0; b < NB; b++) {
                int same = 0;
                float *o = run_impl(&pr, backends[b], &same);
                ok(o && fabs(o[0] - 1.5) <= 1.5e-6 && fabs(o[1] - 4.5) <= 4.5e-6 && fabs(o[2] - 4.5) <= 4.5e-6,
                   "aft_full %s, shift gap 200: o = (%g, %g, %g), want (1.5, 4.5, 4.5)", backends[b],
                   o ? o[0] : NAN, o ? o[1] : NAN, o ? o[2] : NAN);
                free(o);
            }
        }
        problem_free(&pr);
    }
}

/* ---- every backend against the ref and the independent formula -------- */

static void compare_all(problem *pr, const char *what)
{
    int same_ref = 0;
    float *ref = run_impl(pr, "ref", &same_ref);
    double *y = malloc(pr->n_out * sizeof *y);
    double tol = bound(pr);
    if (ref && y) {
        naive(pr, pr->k->n_in == 4 ? pr->x[3] : NULL, y);
        /* the ref rounds only its result: within half an ulp of |o| <= max|v| */
        double e = test_max_diff_fd(ref, y, pr->n_out);
        ok(same_ref && e <= FLT_EPSILON * vmax(pr), "%s ref = Eq. 2 in double: max err %.3g", what, e);
    } else {
        ok(0, "%s ref runs", what);
    }
    for (int b = 1; b < NB; b++) {
        int same = 0;
        float *o = ref ? run_impl(pr, backends[b], &same) : NULL;
        double e = o ? test_max_diff_ff(o, ref, pr->n_out) : NAN;
        ok(o && same && e <= tol, "%s %s = ref: max err %.3g (bound %.3g)%s", what, backends[b], e, tol,
           o && !same ? ", second run differs" : "");
        free(o);
    }
    free(ref);
    free(y);
}

static void test_backends(void)
{
    static const char *const simple[] = {
        "N=1,d=1", "N=1,d=5", "N=2,d=3", "N=67,d=13", "N=130,d=64", "N=257,d=17", "N=3000,d=1", "N=1000,d=33",
    };
    static const char *const full[] = {
        "N=1,d=1", "N=1,d=5", "N=2,d=3", "N=67,d=13", "N=130,d=64", "N=257,d=17", "N=300,d=1", "N=129,d=100",
    };
    for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++) {
        problem pr;
        char what[96];
        snprintf(what, sizeof what, "aft_simple %s", simple[i]);
        if (problem_make(&pr, "aft_simple", simple[i], 10 + i) == 0)
            compare_all(&pr, what);
        else
            ok(0, "%s: setup", what);
        problem_free(&pr);
    }
    for (size_t i = 0; i < sizeof full / sizeof full[0]; i++) {
        problem pr;
        char what[96];
        snprintf(what, sizeof what, "aft_full %s", full[i]);
        if (problem_make(&pr, "aft_full", full[i], 30 + i) == 0)
            compare_all(&pr, what);
        else
            ok(0, "%s: setup", what);
        problem_free(&pr);
    }
    /* Large logits (keys and weights at scale 30) and a causal mask
     * (w = -inf above the diagonal, as autoregressive AFT uses): row t sees
     * tokens 0..t only, while the column maxima of K come from the whole
     * sequence, so early rows hit the factorized form's range limit. */
    problem pr;
    if (problem_make(&pr, "aft_full", "N=96,d=24", 77) == 0) {
        for (int64_t i = 0; i < pr.N * pr.d; i++)
            pr.x[1][i] *= 30;
        for (int64_t t = 0; t < pr.N; t++)
            for (int64_t u = 0; u < pr.N; u++)
                pr.x[3][t * pr.N + u] = u > t ? -INFINITY : 30 * pr.x[3][t * pr.N + u];
        compare_all(&pr, "aft_full causal, k and w at scale 30");
    } else {
        ok(0, "aft_full causal: setup");
    }
    problem_free(&pr);
}

/* AFT-simple is AFT-full with w = 0 (§3.2): every aft_full backend with a
 * zero w against the aft_simple ref. */
static void test_w0(void)
{
    problem pf, ps;
    if (problem_make(&pf, "aft_full", "N=70,d=9", 5) || problem_make(&ps, "aft_simple", "N=70,d=9", 5)) {
        ok(0, "w = 0 setup");
        return;
    }
    memset(pf.x[3], 0, (size_t)(70 * 70) * sizeof(float));
    int same = 0;
    float *s = run_impl(&ps, "ref", &same);
    for (int b = 0; b < NB; b++) {
        float *o = s ? run_impl(&pf, backends[b], &same) : NULL;
        double e = o ? test_max_diff_ff(o, s, pf.n_out) : NAN;
        ok(o && e <= bound(&pf), "aft_full %s with w = 0 = aft_simple: max err %.3g", backends[b], e);
        free(o);
    }
    free(s);
    problem_free(&pf);
    problem_free(&ps);
}

/* ---- contracts ------------------------------------------------------------ */

static void test_shapes(void)
{
    const cb_kernel *as = cb_kernel_find("aft_simple"), *af = cb_kernel_find("aft_full");
    ok(as && af, "both kernels are registered");
    if (!as || !af) return;
    ok(strcmp(as->params_doc, "N d") == 0 && strcmp(af->params_doc, "N d") == 0, "params_doc lists N d");
    static const struct { const char *k, *params; } bad[] = {
        {"aft_simple", "d=4"},          /* missing N */
        {"aft_simple", "N=8"},          /* missing d */
        {"aft_simple", "N=0,d=4"},
        {"aft_simple", "N=8,d=2.5"},
        {"aft_simple", "N=-1,d=4"},
        {"aft_full", "N=8,d=0"},
        {"aft_full", "d=4"},
        {"aft_full", "N=50000,d=4"},    /* N x N over the int range of BLAS */
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
    int rc = cb_params_parse(&p, "N=100,d=7") == 0 ? af->shapes(&p, in, out, err, sizeof err) : -1;
    ok(rc == 0 && in[0].rank == 2 && in[0].dim[0] == 100 && in[0].dim[1] == 7 && in[3].dim[0] == 100 &&
           in[3].dim[1] == 100 && out[0].dim[0] == 100 && out[0].dim[1] == 7,
       "aft_full shapes: q, k, v, o [100, 7], w [100, 100]");
    ok(af->flops(&p) == 4.0 * 100 * 100 * 7 && as->flops(&p) == 9.0 * 100 * 7,
       "flops: aft_full 4 N² d = %g, aft_simple 9 N d = %g", af->flops(&p), as->flops(&p));
    cb_params q = {0};
    cb_shape given[4] = {{2, {10, 5}}, {2, {10, 5}}, {2, {10, 5}}, {2, {10, 10}}};
    ok(af->infer(&q, given, err, sizeof err) == 0 && cb_params_int(&q, "N", 0) == 10 &&
           cb_params_int(&q, "d", 0) == 5,
       "aft_full infers N, d from the tensors");
    cb_params r = {0};
    ok(as->infer(&r, given, err, sizeof err) == 0 && cb_params_int(&r, "N", 0) == 10 &&
           cb_params_int(&r, "d", 0) == 5,
       "aft_simple infers N, d from the tensors");
    cb_shape wrong_w[4] = {{2, {10, 5}}, {2, {10, 5}}, {2, {10, 5}}, {2, {10, 9}}};
    ok(af->infer(&q, wrong_w, err, sizeof err) == -1, "aft_full infer rejects w [10, 9] (%s)", err);
    cb_shape wrong_k[4] = {{2, {10, 5}}, {2, {10, 4}}, {2, {10, 5}}, {2, {10, 10}}};
    ok(as->infer(&q, wrong_k, err, sizeof err) == -1 && af->infer(&q, wrong_k, err, sizeof err) == -1,
       "infer rejects k shaped unlike q (%s)", err);
    cb_shape rank3[3] = {{3, {1, 10, 5}}, {2, {10, 5}}, {2, {10, 5}}};
    ok(as->infer(&q, rank3, err, sizeof err) == -1, "aft_simple infer rejects a rank-3 q (%s)", err);
}

/* ---- the probes ------------------------------------------------------------ */

static const cb_metric *find_metric(const cb_metrics *ms, const char *name, int64_t N, int64_t d)
{
    for (int i = 0; i < ms->n; i++)
        if (strcmp(ms->m[i].name, name) == 0 && cb_params_int(&ms->m[i].at, "N", -1) == N &&
            cb_params_int(&ms->m[i].at, "d", -1) == d)
            return &ms->m[i];
    return NULL;
}

static void test_forms(void)
{
    const cb_probe *pb = cb_probe_find("aft_forms");
    ok(pb != NULL, "aft_forms is registered");
    if (!pb) return;
    cb_params p = {0};
    cb_metrics ms = {0};
    char err[256] = "";
    int rc = cb_params_parse(&p, "N=48,d=6") == 0 ? pb->run(&p, 42, &ms, err, sizeof err) : -1;
    ok(rc == 0 && ms.n == 2 + 3 + 3, "aft_forms runs: %d metrics %s", ms.n, err);
    double w64 = 0, w32 = 0;
    int n64 = 0, n32 = 0;
    for (int i = 0; i < ms.n; i++) {
        if (strncmp(ms.m[i].name, "err64_", 6) == 0) {
            n64++;
            if (!(ms.m[i].value <= w64)) w64 = ms.m[i].value;
        } else if (strncmp(ms.m[i].name, "err32_", 6) == 0) {
            n32++;
            if (!(ms.m[i].value <= w32)) w32 = ms.m[i].value;
        }
    }
    ok(n64 == 2 && w64 < 1e-13, "fp64 factorized = direct: worst of %d is %.3g", n64, w64);
    /* relative to max|o|, the bound above is ~2 (48 + 6 + 16) eps ~ 2e-5 */
    ok(n32 == 6 && w32 < 2e-5, "fp32 backends = fp64 forms: worst of %d is %.3g", n32, w32);
    ok(ms.n > 1 && cb_params_get(&ms.m[1].at, "scale", 0) == 10 && cb_params_int(&ms.m[1].at, "N", 0) == 48,
       "err64 metrics carry N, d, scale in at");
    cb_metrics_free(&ms);
    cb_params_set(&p, "d", 0);
    ok(pb->run(&p, 42, &ms, err, sizeof err) == -1, "aft_forms rejects d = 0 (%s)", err);
    cb_metrics_free(&ms);
}

static void test_memory(void)
{
    const cb_probe *pb = cb_probe_find("aft_memory");
    ok(pb != NULL, "aft_memory is registered");
    if (!pb) return;
    cb_params p = {0};
    cb_metrics ms = {0};
    char err[256] = "";
    /* aft_full N 32..256 at d = 16 and d 2..32 at N = 128; aft_simple N
     * 8192..65536 (tensors of 0.5..4 MiB: oneDNN's JIT code for each new
     * shape, some 100 KiB, must stay small beside them); ref at 32, 64; the
     * naive tensor at 64, 128 (256 KiB, 1 MiB) */
    int rc = cb_params_parse(&p, "d=16,N=256,Ns=65536,dmax=32,Nref=64,Nnaive=128") == 0
                 ? pb->run(&p, 7, &ms, err, sizeof err)
                 : -1;
    /* 3 backends x 4 sizes x 2 (aft_simple) + 2 x (4 + 4) x 2 + 2 x 2 + 2 x 2 */
    ok(rc == 0 && ms.n == 24 + 32 + 4 + 4, "aft_memory runs: %d metrics %s", ms.n, err);
    if (rc != 0) {
        cb_metrics_free(&ms);
        return;
    }
    const cb_metric *nv = find_metric(&ms, "extra_frac_aft_full_naive", 128, 16);
    ok(nv && nv->value > 0.9 && nv->value < 1.5,
       "the naive N x N x d tensor is seen: extra / (4 N² d) = %.4g at N = 128", nv ? nv->value : NAN);
    for (int b = 1; b < NB; b++) {
        char name[64];
        snprintf(name, sizeof name, "extra_frac_aft_full_%s", backends[b]);
        const cb_metric *m = find_metric(&ms, name, 256, 16);
        /* exp(W) is 1/d of the tensor, B and R add 4/N: 0.078 */
        ok(m && m->value > 0.05 && m->value < 0.125, "aft_full %s holds %.4g of the N x N x d tensor (model 0.078)",
           backends[b], m ? m->value : NAN);
    }
    const cb_metric *r = find_metric(&ms, "extra_frac_aft_full_ref", 64, 16);
    ok(r && r->value < 0.05, "aft_full ref holds %.4g of it (O(d) scratch)", r ? r->value : NAN);
    for (int b = 0; b < NB; b++) {
        char name[64];
        snprintf(name, sizeof name, "peak_bytes_aft_simple_%s", backends[b]);
        const cb_metric *lo = find_metric(&ms, name, 8192, 16), *hi = find_metric(&ms, name, 65536, 16);
        double ratio = lo && hi ? hi->value / lo->value : NAN;
        ok(ratio > 6 && ratio < 10, "aft_simple %s footprint grows %.3g× over 8× N", backends[b], ratio);
    }
    cb_metrics_free(&ms);
    cb_params_set(&p, "N", 4);
    ok(pb->run(&p, 7, &ms, err, sizeof err) == -1, "aft_memory rejects N = 4 (%s)", err);
    cb_metrics_free(&ms);
}

int main(void)
{
    tap_no_plan();
    test_shapes();
    test_known();
    test_backends();
    test_w0();
    test_forms();
    test_memory();
    return tap_done();
}
