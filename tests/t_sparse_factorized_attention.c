/* t_sparse_factorized_attention.c — strided sparse attention: the pattern
 * helpers against brute force, the ref against hand-computed values and an
 * independent masked formula, every backend against the ref on edge shapes,
 * the contract's parameter checks and flop count, and the
 * sparse_reachability probe against brute-force path counting.
 *
 * Tolerance of a float backend. Attention weights are positive and
 * normalised, so o_i is a convex combination of value rows and any error
 * stays relative to max|v|. Two sources:
 *   logits: a float dot product of length d errs by at most d u Σ|q_c k_c|
 *           <= d u ‖q_i‖ ‖k_j‖ (u = 2^-24), times scale; a logit error δ
 *           changes the weights by a factor within e^{±2δ}, so the output by
 *           at most ~2·2δ max|v|;
 *   sums:   the softmax sum and the weighted sum of at most N + 1 terms (the
 *           merge adds two partial sums), each within (N + 16) u of the sum
 *           of magnitudes (16 covers exp's 2 ulp, the merge and the division).
 * So |o_float - o| <= max|v| u (4 d scale max‖q‖ max‖k‖ + 2 (N + 16)). The
 * bound is loose (observed errors are printed and far below it), while a
 * real defect (a key lost or counted twice, a wrong merge, a wrong band) is
 * an O(1) error.
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

/* ---- an independent statement of the pattern ---------------------------- */

/* j is visible from i: in the last l positions up to i, or a multiple of l back. */
static int visible(int64_t i, int64_t j, int64_t l)
{
    if (j > i) return 0;
    if (i - j <= l - 1) return 1;
    return (i - j) % l == 0;
}

static int64_t isqrt_up(int64_t n)
{
    int64_t r = 1;
    while (r * r < n) r++;
    return r;
}

/* ---- running one implementation ---------------------------------------- */

typedef struct problem {
    cb_params p;
    cb_shape in_shape[CB_MAX_TENSORS], out_shape[CB_MAX_TENSORS];
    float *x[CB_MAX_TENSORS];   /* q, k, v */
    size_t n_out;
} problem;

static void problem_free(problem *pr) { kt_inputs_free(pr->x); }

static int problem_make(problem *pr, const char *params, uint64_t seed)
{
    memset(pr, 0, sizeof *pr);
    if (kt_inputs_make("sparse_attention", params, seed, 3, NULL, &pr->p, pr->in_shape,
                       pr->out_shape, pr->x))
        return -1;
    pr->n_out = (size_t)cb_shape_numel(&pr->out_shape[0]);
    return 0;
}

/* kt_run_twice (kernel_test.h) of sparse_attention on the problem's inputs. */
static float *run_impl(const problem *pr, const char *backend, int *same)
{
    return kt_run_twice("sparse_attention", backend, &pr->p, pr->x, same);
}

/* The bound of the header comment. */
static double bound(const problem *pr)
{
    int64_t H = cb_params_int(&pr->p, "H", 0), N = cb_params_int(&pr->p, "N", 0);
    int64_t d = cb_params_int(&pr->p, "d", 0), dv = cb_params_int(&pr->p, "dv", 0);
    double scale = fabs(cb_params_get(&pr->p, "scale", 0));
    double qm = 0, km = 0, vm = 0;
    for (int64_t r = 0; r < H * N; r++) {
        double a = 0, b = 0;
        for (int64_t c = 0; c < d; c++) {
            a += (double)pr->x[0][r * d + c] * pr->x[0][r * d + c];
            b += (double)pr->x[1][r * d + c] * pr->x[1][r * d + c];
        }
        if (sqrt(a) > qm) qm = sqrt(a);
        if (sqrt(b) > km) km = sqrt(b);
        for (int64_t c = 0; c < dv; c++)
            if (fabs(pr->x[2][r * dv + c]) > vm) vm = fabs(pr->x[2][r * dv + c]);
    }
    double u = FLT_EPSILON / 2;
    return vm * u * (4.0 * (double)d * scale * qm * km + 2.0 * (double)(N + 16));
}

/* Masked attention in double, written from the definition (visible()). */
static void naive(const problem *pr, double *o)
{
    int64_t H = cb_params_int(&pr->p, "H", 0), N = cb_params_int(&pr->p, "N", 0);
    int64_t d = cb_params_int(&pr->p, "d", 0), dv = cb_params_int(&pr->p, "dv", 0);
    int64_t l = cb_params_int(&pr->p, "l", 0);
    double scale = cb_params_get(&pr->p, "scale", 0);
    for (int64_t h = 0; h < H; h++)
        for (int64_t i = 0; i < N; i++) {
            double mx = -INFINITY, den = 0, *oi = o + (h * N + i) * dv;
            for (int64_t j = 0; j <= i; j++) {
                if (!visible(i, j, l)) continue;
                double s = 0;
                for (int64_t c = 0; c < d; c++)
                    s += (double)pr->x[0][(h * N + i) * d + c] * pr->x[1][(h * N + j) * d + c];
                if (scale * s > mx) mx = scale * s;
            }
            for (int64_t c = 0; c < dv; c++) oi[c] = 0;
            for (int64_t j = 0; j <= i; j++) {
                if (!visible(i, j, l)) continue;
                double s = 0;
                for (int64_t c = 0; c < d; c++)
                    s += (double)pr->x[0][(h * N + i) * d + c] * pr->x[1][(h * N + j) * d + c];
                double w = exp(scale * s - mx);
                den += w;
                for (int64_t c = 0; c < dv; c++) oi[c] += w * pr->x[2][(h * N + j) * dv + c];
            }
            for (int64_t c = 0; c < dv; c++) oi[c] /= den;
        }
}

/* ---- the pattern: defaults and the flop count --------------------------- */

static void test_contract(void)
{
    const cb_kernel *k = cb_kernel_find("sparse_attention");
    ok(k != NULL, "sparse_attention is registered");
    if (!k) return;
    /* default stride ⌈√N⌉, including N = 1 */
    static const int64_t ns[] = {1, 2, 3, 4, 5, 15, 16, 17, 1000, 1024, 1025, 65536};
    int good = 1;
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        cb_params p = {0};
        cb_shape in[CB_MAX_TENSORS], out[CB_MAX_TENSORS];
        char err[256] = "";
        cb_params_set(&p, "H", 1);
        cb_params_set(&p, "N", (double)ns[i]);
        cb_params_set(&p, "d", 4);
        if (k->shapes(&p, in, out, err, sizeof err) != 0 || cb_params_int(&p, "l", 0) != isqrt_up(ns[i])) {
            diag("N=%lld: l=%lld, want %lld (%s)", (long long)ns[i], (long long)cb_params_int(&p, "l", 0),
                 (long long)isqrt_up(ns[i]), err);
            good = 0;
        }
    }
    ok(good, "default l = ceil(sqrt(N)) for N = 1 .. 65536");

    cb_params p = {0};
    cb_shape in[CB_MAX_TENSORS], out[CB_MAX_TENSORS];
    char err[256] = "";
    int rc = cb_params_parse(&p, "H=8,N=1024,d=64") == 0 ? k->shapes(&p, in, out, err, sizeof err) : -1;
    ok(rc == 0 && cb_params_int(&p, "dv", 0) == 64 && cb_params_int(&p, "l", 0) == 32 &&
           fabs(cb_params_get(&p, "scale", 0) - 0.125) < 1e-15 && in[0].dim[0] == 8 && in[0].dim[1] == 1024 &&
           in[0].dim[2] == 64 && in[2].dim[2] == 64 && out[0].dim[2] == 64,
       "defaults: dv = d, l = 32, scale = 1/8; shapes [8, 1024, 64]");

    /* flops = 2 H (d + dv) × the allowed pairs, counted here by brute force */
    int flops_ok = 1;
    for (int64_t N = 1; N <= 70 && flops_ok; N++)
        for (int64_t l = 1; l <= 75; l++) {
            double pairs = 0;
            for (int64_t i = 0; i < N; i++)
                for (int64_t j = 0; j <= i; j++)
                    pairs += visible(i, j, l);
            cb_params q = {0};
            cb_params_set(&q, "H", 3);
            cb_params_set(&q, "N", (double)N);
            cb_params_set(&q, "d", 5);
            cb_params_set(&q, "dv", 2);
            cb_params_set(&q, "l", (double)l);
            if (k->flops(&q) != 2.0 * 3 * 7 * pairs) {
                diag("flops at N=%lld l=%lld: %g, want %g", (long long)N, (long long)l, k->flops(&q),
                     2.0 * 3 * 7 * pairs);
                flops_ok = 0;
                break;
            }
        }
    ok(flops_ok, "flops = 2 H (d + dv) x allowed pairs for every N <= 70, l <= 75");

    static const char *const bad[] = {
        "N=8,d=4",                  /* missing H */
        "H=1,d=4",                  /* missing N */
        "H=1,N=8",                  /* missing d */
        "H=1,N=0,d=4",
        "H=1,N=8,d=0",
        "H=1,N=8,d=4,dv=0",
        "H=1,N=8,d=2.5",
        "H=1,N=8,d=4,l=0",
        "H=1,N=8,d=4,l=-3",
        "H=1,N=8,d=4,l=2.5",
        "H=1,N=8,d=4,scale=1e39",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cb_params q = {0};
        char e2[256] = "";
        int r2 = cb_params_parse(&q, bad[i]) == 0 ? k->shapes(&q, in, out, e2, sizeof e2) : 0;
        ok(r2 == -1 && strstr(e2, "sparse_attention"), "rejects %s (%s)", bad[i], e2);
    }
    ok(strstr(k->params_doc, "H") && strstr(k->params_doc, "N") && strstr(k->params_doc, "dv") &&
           strstr(k->params_doc, "l(") && strstr(k->params_doc, "scale"),
       "params_doc lists H N d dv l scale: %s", k->params_doc);

    cb_params q = {0};
    cb_shape given[3] = {{3, {2, 10, 5}}, {3, {2, 10, 5}}, {3, {2, 10, 3}}};
    rc = k->infer(&q, given, err, sizeof err);
    ok(rc == 0 && cb_params_int(&q, "H", 0) == 2 && cb_params_int(&q, "N", 0) == 10 &&
           cb_params_int(&q, "d", 0) == 5 && cb_params_int(&q, "dv", 0) == 3,
       "infer takes H, N, d, dv from the tensors");
    cb_shape wrong[3] = {{3, {2, 10, 5}}, {3, {2, 11, 5}}, {3, {2, 10, 3}}};
    ok(k->infer(&q, wrong, err, sizeof err) == -1, "infer rejects k with another N (%s)", err);
    cb_shape wrongv[3] = {{3, {2, 10, 5}}, {3, {2, 10, 5}}, {3, {1, 10, 3}}};
    ok(k->infer(&q, wrongv, err, sizeof err) == -1, "infer rejects v with another H (%s)", err);
}

/* ---- the ref against known answers -------------------------------------- */

static void test_ref_known(void)
{
    /* H=1, N=4, d=1, dv=1, l=2, q = 0 (every logit 0: uniform weights over
     * the visible keys), v = (1, 10, 100, 1000):
     *   row 0: {0}          → 1
     *   row 1: {0, 1}       → 5.5
     *   row 2: {1, 2} ∪ {0} → 37
     *   row 3: {2, 3} ∪ {1} → 370   (key 0 is 3 back: not a multiple of 2) */
    problem pr;
    int same = 0;
    float *o = NULL;
    if (problem_make(&pr, "H=1,N=4,d=1,dv=1,l=2,scale=1", 1) == 0) {
        for (int i = 0; i < 4; i++) pr.x[0][i] = 0;
        const float vv[4] = {1, 10, 100, 1000};
        memcpy(pr.x[2], vv, sizeof vv);
        o = run_impl(&pr, "ref", &same);
    }
    ok(o && o[0] == 1 && o[1] == 5.5f && o[2] == 37 && o[3] == 370,
       "ref by hand, uniform weights: o = (%g, %g, %g, %g), want (1, 5.5, 37, 370)", o ? o[0] : NAN,
       o ? o[1] : NAN, o ? o[2] : NAN, o ? o[3] : NAN);
    free(o);
    problem_free(&pr);

    /* logits chosen as logs: scale=1, d=1, q = 1, k_j = ln w_j, so row i
     * weighs its visible keys by w_j. N=5, l=2, w = (1, 2, 3, 4, 5),
     * v = (0, 0, 0, 0, 1) except row 4 sees {3, 4} ∪ {2, 0}:
     * with v = (1, 0, 1, 0, 0): row 4 = (w_0 + w_2) / (w_0 + w_2 + w_3 + w_4)
     * = 4 / 13; row 3 sees {2, 3} ∪ {1}: (w_2) / (w_1 + w_2 + w_3) = 3 / 9. */
    o = NULL;
    if (problem_make(&pr, "H=1,N=5,d=1,dv=1,l=2,scale=1", 1) == 0) {
        const float vv[5] = {1, 0, 1, 0, 0};
        for (int i = 0; i < 5; i++) {
            pr.x[0][i] = 1;
            pr.x[1][i] = (float)log((double)(i + 1));
        }
        memcpy(pr.x[2], vv, sizeof vv);
        o = run_impl(&pr, "ref", &same);
    }
    ok(o && fabs(o[4] - 4.0 / 13) < 1e-7 && fabs(o[3] - 3.0 / 9) < 1e-7,
       "ref by hand, weights (1..5): o_3 = %.8g (want 1/3), o_4 = %.8g (want 4/13)", o ? o[3] : NAN,
       o ? o[4] : NAN);
    free(o);
    problem_free(&pr);

    /* random: the ref against the independent masked formula */
    static const char *const cases[] = {
        "H=2,N=67,d=13,dv=7",           /* l = 9 */
        "H=1,N=50,d=4,dv=3,l=1",
        "H=1,N=50,d=4,dv=3,l=7",
        "H=1,N=50,d=4,dv=3,l=200",
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        problem p2;
        double *y = NULL, e = INFINITY;
        o = NULL;
        if (problem_make(&p2, cases[c], 7 + c) == 0) {
            o = run_impl(&p2, "ref", &same);
            y = malloc(p2.n_out * sizeof *y);
            if (o && y) {
                naive(&p2, y);
                e = 0;
                for (size_t i = 0; i < p2.n_out; i++)
                    if (!(fabs(o[i] - y[i]) <= e)) e = fabs(o[i] - y[i]);
            }
        }
        /* the ref rounds only its result: within an ulp of |o| <= max|v| ~ 4 */
        ok(e <= 5e-7, "ref = masked formula in double, %s: max err %.3g", cases[c], e);
        free(o);
        free(y);
        problem_free(&p2);
    }
}

/* ---- every backend against the ref -------------------------------------- */

static void test_backends(void)
{
    static const char *const cases[] = {
        "H=1,N=1,d=1,dv=1",             /* N = 1: l = 1 */
        "H=2,N=1,d=4,dv=3,l=5",
        "H=1,N=2,d=1,dv=1",
        "H=2,N=67,d=13,dv=7",           /* l = 9, 67 = 7·9 + 4: two residue groups */
        "H=3,N=64,d=16,dv=16",          /* l = 8 divides N: one group */
        "H=2,N=67,d=13,dv=7,l=1",       /* every key strided: dense causal */
        "H=2,N=67,d=13,dv=7,l=2",
        "H=2,N=67,d=13,dv=7,l=66",      /* one strided key for the last row only */
        "H=2,N=67,d=13,dv=7,l=67",      /* l = N: window only, dense causal */
        "H=1,N=67,d=5,dv=20,l=1000",    /* l > N */
        "H=3,N=130,d=64,dv=32",         /* l = 12 */
        "H=1,N=300,d=8,dv=5,l=17",      /* several window blocks, a tail */
        "H=2,N=700,d=24,dv=24,l=3",     /* strided rows in several blocks of 64 */
        "H=1,N=1000,d=16,dv=16",        /* l = 32, 1000 = 31·32 + 8 */
        "H=2,N=2000,d=64,dv=64,scale=0.3", /* l = 45, window blocks of 48 */
    };
    static const char *const backends[] = {"blas", "dnnl"};
    enum { NC = sizeof cases / sizeof cases[0] };
    problem pr[NC];
    float *ref[NC];
    int made[NC], same_ref[NC];
    for (size_t c = 0; c < NC; c++) {
        made[c] = problem_make(&pr[c], cases[c], 100 + c) == 0;
        ref[c] = made[c] ? run_impl(&pr[c], "ref", &same_ref[c]) : NULL;
    }
    /* backend by backend: OpenBLAS's and OpenMP's spinning workers slow each
     * other down for a while after every switch between the two */
    for (size_t b = 0; b < sizeof backends / sizeof backends[0]; b++)
        for (size_t c = 0; c < NC; c++) {
            int same = 0;
            float *o = ref[c] ? run_impl(&pr[c], backends[b], &same) : NULL;
            double e = o ? test_max_diff_ff(o, ref[c], pr[c].n_out) : NAN, tol = made[c] ? bound(&pr[c]) : 0;
            ok(o && same && same_ref[c] && e <= tol, "sparse_attention %s = ref, %s: max err %.3g (bound %.3g)%s",
               backends[b], cases[c], e, tol, o && !same ? ", second run differs" : "");
            free(o);
        }
    for (size_t c = 0; c < NC; c++) {
        free(ref[c]);
        if (made[c]) problem_free(&pr[c]);
    }
}

/* ---- the probe ------------------------------------------------------------ */

/* Causal pairs (j <= i) joined by a path i → a → j (a may be i or j) with
 * a ∈ first(i) and j ∈ second(a); sets: 1 window, 2 strided, 3 both. */
static int in_set(int64_t i, int64_t j, int64_t l, int set)
{
    if (j > i) return 0;
    return ((set & 1) && i - j < l) || ((set & 2) && (i - j) % l == 0);
}

static double brute_reach(int64_t N, int64_t l, int first, int second)
{
    double hit = 0;
    for (int64_t i = 0; i < N; i++)
        for (int64_t j = 0; j <= i; j++) {
            int found = 0;
            for (int64_t a = j; a <= i && !found; a++)
                found = in_set(i, a, l, first) && in_set(a, j, l, second);
            hit += found;
        }
    return hit / ((double)N * (N + 1) / 2);
}

static const cb_metric *find_metric(const cb_metrics *ms, const char *name, int64_t N, int64_t l)
{
    for (int i = 0; i < ms->n; i++)
        if (strcmp(ms->m[i].name, name) == 0 && cb_params_int(&ms->m[i].at, "N", -1) == N &&
            (l < 0 || cb_params_int(&ms->m[i].at, "l", -1) == l))
            return &ms->m[i];
    return NULL;
}

static void test_probe(void)
{
    const cb_probe *pb = cb_probe_find("sparse_reachability");
    ok(pb != NULL, "sparse_reachability is registered");
    if (!pb) return;
    cb_params p = {0};
    cb_metrics ms = {0};
    char err[256] = "";
    int rc = cb_params_parse(&p, "H=2,N=90,d=8,dv=5,Nmax=1000") == 0 ? pb->run(&p, 42, &ms, err, sizeof err) : -1;
    /* sizes 64, 250, 1000: 6 metrics each; errors: 4 + 4 + 4 */
    ok(rc == 0 && ms.n == 3 * 6 + 12, "sparse_reachability runs: %d metrics %s", ms.n, err);

    static const int64_t sizes[] = {64, 250};
    for (size_t s = 0; s < 2; s++) {
        const int64_t N = sizes[s], l = isqrt_up(N);
        const cb_metric *u = find_metric(&ms, "reach2_union", N, l);
        const cb_metric *f = find_metric(&ms, "reach2_factorized", N, l);
        const cb_metric *lo = find_metric(&ms, "reach2_local", N, l);
        double bu = brute_reach(N, l, 3, 3), bf = brute_reach(N, l, 2, 1), bl = brute_reach(N, l, 1, 1);
        ok(u && f && lo && u->value == bu && f->value == bf && lo->value == bl && bu == 1 && bf == 1 && bl < 1,
           "reachability at N=%lld, l=%lld = brute force: union %.6g (%.6g), factorized %.6g (%.6g), "
           "local %.6g (%.6g)", (long long)N, (long long)l, u ? u->value : NAN, bu, f ? f->value : NAN, bf,
           lo ? lo->value : NAN, bl);
    }
    /* N = 64, l = 8: rows 0..7 see i+1 keys (36), rows 8..63 see 8 window
     * keys (448) and floor(i/8) strided ones (8·(1+..+7) = 224): 708 pairs */
    const cb_metric *pr = find_metric(&ms, "pairs_per_row", 64, 8);
    const cb_metric *pm = find_metric(&ms, "pairs_per_row_max", 64, 8);
    const cb_metric *r1 = find_metric(&ms, "reach1", 64, 8);
    ok(pr && pm && r1 && pr->value == 708.0 / 64 && pm->value == 15 && r1->value == 708.0 / 2080,
       "pairs at N=64: %.6g per row (want 11.0625), max %g (want 15), density %.6g (want 708/2080)",
       pr ? pr->value : NAN, pm ? pm->value : NAN, r1 ? r1->value : NAN);

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
    ok(n64 == 4 && worst64 < 1e-13, "fp64 split form = masked form: worst of %d is %.3g", n64, worst64);
    ok(n32 == 8 && worst32 < 1e-5, "fp32 kernels = fp64 forms: worst of %d is %.3g", n32, worst32);
    ok(find_metric(&ms, "err32_dense_limit_dnnl", 90, 90) && find_metric(&ms, "err32_dense_limit_blas", 90, 1) &&
           find_metric(&ms, "err32_sparse_blas", 90, 10) && find_metric(&ms, "err64_split_vs_masked", 90, 7),
       "error metrics carry N and l in at");
    cb_metrics_free(&ms);
    cb_params_set(&p, "d", 0);
    ok(pb->run(&p, 42, &ms, err, sizeof err) == -1, "sparse_reachability rejects d = 0 (%s)", err);
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
