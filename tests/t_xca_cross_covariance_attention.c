/* t_xca_cross_covariance_attention.c — cross-covariance attention (xca):
 * the ref against hand-computed answers and an independent float64 form
 * written as XCiT's reference code orders it, every backend against the ref
 * on edge shapes, the contract's parameter checks, and the xca_memory probe.
 *
 * Tolerance of a float32 backend against the ref. Per head, the Gram entry
 * g_ij = sum_n q_ni k_nj errs by at most gamma_N sum_n |q_ni k_nj| <=
 * N eps |q_i| |k_j| (Cauchy-Schwarz), so the logit tau g_ij / (|q_i| |k_j|)
 * errs by at most |tau| (N + 5) eps (5 for the norms, the scales and their
 * products). Logits off by at most delta move each softmax weight by a
 * factor within e^(+-2 delta); the softmax itself (exp within 2 ulp, a sum
 * of dh terms, a division) and o = sum_j A_ij v_nj (dh terms) add
 * (2 dh + 8) eps relative to max |v|. Hence
 *   |o - o_ref| <= max|v| eps (2 |tau| (N + 5) + 2 dh + 8),
 * loose (observed errors are printed and far below it), while any real
 * defect (a missed scale, a transposed map, a wrong axis) is an O(1) error.
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

/* ---- one problem, run on any backend ---------------------------------- */

typedef struct problem {
    cb_params p;
    cb_shape in_shape[CB_MAX_TENSORS], out_shape[CB_MAX_TENSORS];
    float *x[CB_MAX_TENSORS];   /* q, k, v */
    size_t n;               /* elements of each tensor */
} problem;

static void problem_free(problem *pr) { kt_inputs_free(pr->x); }

static int problem_make(problem *pr, const char *params, uint64_t seed)
{
    memset(pr, 0, sizeof *pr);
    if (kt_inputs_make("xca", params, seed, 3, NULL, &pr->p, pr->in_shape, pr->out_shape, pr->x))
        return -1;
    pr->n = (size_t)cb_shape_numel(&pr->in_shape[0]);
    return 0;
}

/* kt_run_twice (kernel_test.h) of xca on the problem's inputs. */
static float *run_impl(const problem *pr, const char *backend, int *same)
{
    return kt_run_twice("xca", backend, &pr->p, pr->x, same);
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
    double N = cb_params_get(&pr->p, "N", 0), dh = cb_params_get(&pr->p, "dh", 0);
    double tau = fabs(cb_params_get(&pr->p, "tau", 1));
    return max_abs(pr->x[2], pr->n) * FLT_EPSILON * (2 * tau * (N + 5) + 2 * dh + 8);
}

/* ---- the ref against known answers -------------------------------------- */

/* XCA in double as XCiT's xca.py orders it, written independently of
 * ref/xca.c: normalize the columns of q and k (F.normalize, eps 1e-12),
 * attn = q^T k * tau, softmax over the last axis, o = (attn @ v^T)^T. */
static void literal(const problem *pr, double *o)
{
    int64_t H = cb_params_int(&pr->p, "H", 0), N = cb_params_int(&pr->p, "N", 0);
    int64_t dh = cb_params_int(&pr->p, "dh", 0);
    double tau = cb_params_get(&pr->p, "tau", 1);
    for (int64_t h = 0; h < H; h++) {
        const float *q = pr->x[0] + h * N * dh, *k = pr->x[1] + h * N * dh, *v = pr->x[2] + h * N * dh;
        for (int64_t i = 0; i < dh; i++) {
            double nq = 0, attn[256], mx = -INFINITY, z = 0;
            for (int64_t n = 0; n < N; n++) nq += (double)q[n * dh + i] * q[n * dh + i];
            nq = fmax(sqrt(nq), 1e-12);
            for (int64_t j = 0; j < dh; j++) {
                double nk = 0, g = 0;
                for (int64_t n = 0; n < N; n++) nk += (double)k[n * dh + j] * k[n * dh + j];
                nk = fmax(sqrt(nk), 1e-12);
                for (int64_t n = 0; n < N; n++) g += (q[n * dh + i] / nq) * (k[n * dh + j] / nk);
                attn[j] = g * tau;
                mx = fmax(mx, attn[j]);
            }
            for (int64_t j = 0; j < dh; j++) z += (attn[j] = exp(attn[j] - mx));
            for (int64_t n = 0; n < N; n++) {
                double acc = 0;
                for (int64_t j = 0; j < dh; j++) acc += attn[j] / z * v[n * dh + j];
                o[(h * N + n) * dh + i] = acc;
            }
        }
    }
}

/* o for the ref on the hand-set inputs x (q, k, v each N x dh, H = 1). */
static float *ref_on(const char *params, const float *q, const float *k, const float *v, problem *pr)
{
    int same = 0;
    if (problem_make(pr, params, 1) != 0) return NULL;
    memcpy(pr->x[0], q, pr->n * sizeof(float));
    memcpy(pr->x[1], k, pr->n * sizeof(float));
    memcpy(pr->x[2], v, pr->n * sizeof(float));
    return run_impl(pr, "ref", &same);
}

static void test_ref_known(void)
{
    char params[128];
    problem pr;
    /* N = 1, dh = 1: q^ = sign(q), k^ = sign(k), one logit, weight 1: o = v */
    {
        const float q[1] = {2}, k[1] = {-3}, v[1] = {5};
        float *o = ref_on("H=1,N=1,dh=1,tau=7", q, k, v, &pr);
        ok(o && o[0] == 5, "ref by hand, N = dh = 1: o = v = %g", o ? o[0] : NAN);
        free(o);
        problem_free(&pr);
    }
    /* N = dh = 2, q^ = k^ = I, tau = ln 3: A = softmax rows of diag(ln 3):
     * [[3/4, 1/4], [1/4, 3/4]], o = v A^T with v = [[1, 2], [3, 4]]:
     * [[1.25, 1.75], [3.25, 3.75]] (all exact in binary). The same with the
     * columns of q and k scaled by 5, 0.5, 2, 7: normalization removes them. */
    snprintf(params, sizeof params, "H=1,N=2,dh=2,tau=%.17g", log(3.0));
    const float v[4] = {1, 2, 3, 4};
    const float want[4] = {1.25f, 1.75f, 3.25f, 3.75f};
    const float qs[2][4] = {{1, 0, 0, 1}, {5, 0, 0, 0.5f}}, ks[2][4] = {{1, 0, 0, 1}, {2, 0, 0, 7}};
    for (int c = 0; c < 2; c++) {
        float *o = ref_on(params, qs[c], ks[c], v, &pr);
        double e = o ? test_max_diff_ff(o, want, 4) : NAN;
        ok(o && e <= 4e-7, "ref by hand, tau = ln 3%s: o = [[%g, %g], [%g, %g]] (max err %.2g)",
           c ? ", columns scaled" : "", o ? o[0] : NAN, o ? o[1] : NAN, o ? o[2] : NAN, o ? o[3] : NAN, e);
        free(o);
        problem_free(&pr);
    }
    /* an all-zero column of q: its norm is clamped to eps, q^_:,0 = 0, the
     * logits of row 0 are all 0 and its weights uniform: o[n, 0] = mean v[n, :] */
    {
        const float q[4] = {0, 1, 0, 2}, k[4] = {1, 0, 0, 1}, vz[4] = {1, 2, 3, 4};
        float *o = ref_on("H=1,N=2,dh=2,tau=5", q, k, vz, &pr);
        ok(o && o[0] == 1.5f && o[2] == 3.5f && isfinite(o[1]) && isfinite(o[3]),
           "ref by hand, a zero column: uniform row, o[:, 0] = (%g, %g)", o ? o[0] : NAN, o ? o[2] : NAN);
        free(o);
        problem_free(&pr);
    }
    /* random: the ref against the literal normalize-first form in double */
    static const char *const cases[] = {"H=2,N=67,dh=13,tau=1", "H=1,N=300,dh=40,tau=30", "H=3,N=5,dh=64,tau=-4"};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int same = 0;
        float *o = NULL;
        double *y = NULL, e = INFINITY, m = 0;
        if (problem_make(&pr, cases[c], 11 + c) == 0) {
            o = run_impl(&pr, "ref", &same);
            y = malloc(pr.n * sizeof *y);
            if (o && y) {
                literal(&pr, y);
                e = 0;
                for (size_t i = 0; i < pr.n; i++) {
                    if (!(fabs(o[i] - y[i]) <= e)) e = fabs(o[i] - y[i]);
                    m = fmax(m, fabs(y[i]));
                }
            }
        }
        /* the ref rounds only its result to float: half an ulp of max |o| */
        ok(o && same && e <= m * FLT_EPSILON, "ref = literal XCA in double, %s: max err %.3g (|o| <= %.3g)",
           cases[c], e, m);
        free(o);
        free(y);
        problem_free(&pr);
    }
}

/* ---- every backend against the ref -------------------------------------- */

static void test_backends(void)
{
    static const char *const cases[] = {
        "H=1,N=1,dh=1",             /* N = 1, dh = 1 */
        "H=2,N=1,dh=5",             /* one token: every column norm is |x| */
        "H=1,N=5,dh=1",             /* dh = 1: A = [1], o = v */
        "H=2,N=67,dh=13",           /* odd sizes, dh not a multiple of 16 */
        "H=3,N=130,dh=64",
        "H=2,N=1000,dh=17,tau=25",  /* a sharp softmax */
        "H=1,N=33,dh=100,tau=-3",   /* negative temperature, dh > N */
        "H=4,N=257,dh=48,tau=8",
        "H=8,N=2048,dh=64",         /* the benchmark's head count and width */
        "H=3,N=2500,dh=20,tau=4",   /* blocks of the Gram pass: 2 full + a tail of 452 */
    };
    static const char *const backends[] = {"blas", "dnnl"};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        problem pr;
        int made = problem_make(&pr, cases[c], 100 + c) == 0, same_ref = 0;
        float *ref = made ? run_impl(&pr, "ref", &same_ref) : NULL;
        for (size_t b = 0; b < sizeof backends / sizeof backends[0]; b++) {
            int same = 0;
            float *o = ref ? run_impl(&pr, backends[b], &same) : NULL;
            double e = o ? test_max_diff_ff(o, ref, pr.n) : NAN, tol = made ? bound(&pr) : 0;
            ok(o && same && same_ref && e <= tol, "xca %s = ref, %s: max err %.3g (bound %.3g)%s", backends[b],
               cases[c], e, tol, o && !same ? ", second run differs" : "");
            free(o);
        }
        free(ref);
        if (made) problem_free(&pr);
    }
}

/* Permuting the tokens permutes the output rows the same way: the dh x dh
 * map is a sum over tokens (checked on the fast backends, exactly up to
 * the summation order of the Gram matrix, so within the bound). */
static void test_permutation(void)
{
    static const char *const backends[] = {"ref", "blas", "dnnl"};
    problem pr, pp;
    if (problem_make(&pr, "H=2,N=50,dh=24,tau=6", 9) || problem_make(&pp, "H=2,N=50,dh=24,tau=6", 9)) {
        ok(0, "permutation setup");
        return;
    }
    const size_t N = 50, dh = 24;
    for (size_t h = 0; h < 2; h++)          /* token n of pp = token (7 n + 3) mod N of pr */
        for (size_t n = 0; n < N; n++)
            for (int t = 0; t < 3; t++)
                memcpy(pp.x[t] + (h * N + n) * dh, pr.x[t] + (h * N + (7 * n + 3) % N) * dh, dh * sizeof(float));
    for (size_t b = 0; b < 3; b++) {
        int s1 = 0, s2 = 0;
        float *o = run_impl(&pr, backends[b], &s1), *op = run_impl(&pp, backends[b], &s2);
        double e = (o && op) ? 0 : NAN;
        for (size_t h = 0; o && op && h < 2; h++)
            for (size_t n = 0; n < N; n++)
                for (size_t c = 0; c < dh; c++) {
                    double d = fabs((double)op[(h * N + n) * dh + c] - o[(h * N + (7 * n + 3) % N) * dh + c]);
                    e = test_max_keep_nan(e, d);
                }
        ok(o && op && e <= bound(&pr), "xca %s: permuting tokens permutes the output (max err %.3g)", backends[b], e);
        free(o);
        free(op);
    }
    problem_free(&pr);
    problem_free(&pp);
}

/* ---- the contract --------------------------------------------------------- */

static void test_contract(void)
{
    const cb_kernel *k = cb_kernel_find("xca");
    ok(k && cb_impl_find("xca", "ref") && cb_impl_find("xca", "blas") && cb_impl_find("xca", "dnnl"),
       "xca and its three backends are registered");
    if (!k) return;
    static const char *const bad[] = {
        "N=8,dh=4",                 /* missing H */
        "H=1,dh=4",                 /* missing N */
        "H=1,N=8",                  /* missing dh */
        "H=1,N=0,dh=4",
        "H=0,N=8,dh=4",
        "H=1,N=8,dh=2.5",
        "H=1,N=8,dh=-1",
        "H=1,N=8,dh=4,tau=inf",
        "H=1,N=8,dh=4,tau=nan",
        "H=1,N=8,dh=4,tau=1e39",    /* not a float */
        "H=65536,N=65536,dh=65536", /* too large */
    };
    static const char *const names[] = {"H", "N", "dh", "N", "H", "dh", "dh", "tau", "tau", "tau", "too large"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cb_params p = {0};
        cb_shape in[CB_MAX_TENSORS], out[CB_MAX_TENSORS];
        char err[256] = "";
        int parsed = cb_params_parse(&p, bad[i]) == 0;
        int rc = parsed ? k->shapes(&p, in, out, err, sizeof err) : 0;
        ok(parsed && rc == -1 && strstr(err, names[i]), "xca rejects %s, naming %s (%s)", bad[i], names[i], err);
    }
    cb_params p = {0};
    cb_shape in[CB_MAX_TENSORS], out[CB_MAX_TENSORS];
    char err[256] = "";
    int rc = cb_params_parse(&p, "H=8,N=1024,dh=64") == 0 ? k->shapes(&p, in, out, err, sizeof err) : -1;
    ok(rc == 0 && cb_params_get(&p, "tau", 0) == 1 && in[0].rank == 3 && in[1].dim[1] == 1024 &&
           in[2].dim[2] == 64 && out[0].dim[0] == 8 && out[0].dim[1] == 1024 && out[0].dim[2] == 64,
       "xca defaults tau = 1; q, k, v, o are [H, N, dh]");
    ok(k->flops(&p) == 8.0 * (4.0 * 1024 * 64 * 64 + 4.0 * 1024 * 64), "xca flops: %.6g", k->flops(&p));
    ok(strstr(k->params_doc, "H") && strstr(k->params_doc, "N") && strstr(k->params_doc, "dh") &&
           strstr(k->params_doc, "tau"),
       "params_doc lists H N dh tau: \"%s\"", k->params_doc);
    cb_params q = {0};
    cb_shape given[3] = {{3, {2, 10, 5}}, {3, {2, 10, 5}}, {3, {2, 10, 5}}};
    rc = k->infer(&q, given, err, sizeof err);
    ok(rc == 0 && cb_params_int(&q, "H", 0) == 2 && cb_params_int(&q, "N", 0) == 10 &&
           cb_params_int(&q, "dh", 0) == 5,
       "xca infers H, N, dh from the tensors");
    cb_shape wrong_v[3] = {{3, {2, 10, 5}}, {3, {2, 10, 5}}, {3, {2, 10, 4}}};
    ok(k->infer(&q, wrong_v, err, sizeof err) == -1 && strstr(err, "v"), "infer rejects v shaped unlike q (%s)", err);
    cb_shape wrong_k[3] = {{3, {2, 10, 5}}, {3, {2, 9, 5}}, {3, {2, 10, 5}}};
    ok(k->infer(&q, wrong_k, err, sizeof err) == -1 && strstr(err, "k"), "infer rejects k shaped unlike q (%s)", err);
    cb_shape rank2[3] = {{2, {10, 5}}, {3, {2, 10, 5}}, {3, {2, 10, 5}}};
    ok(k->infer(&q, rank2, err, sizeof err) == -1 && strstr(err, "rank"), "infer rejects a rank-2 q (%s)", err);
}

/* ---- the probe ------------------------------------------------------------ */

static const cb_metric *find_metric(const cb_metrics *ms, const char *name, double N)
{
    for (int i = 0; i < ms->n; i++)
        if (strcmp(ms->m[i].name, name) == 0 && cb_params_get(&ms->m[i].at, "N", -1) == N)
            return &ms->m[i];
    return NULL;
}

static void test_probe(void)
{
    const cb_probe *pb = cb_probe_find("xca_memory");
    ok(pb != NULL, "xca_memory is registered");
    if (!pb) return;
    cb_params p = {0};
    cb_metrics ms = {0};
    char err[256] = "";
    const int H = 2, dh = 8;
    int rc = cb_params_parse(&p, "H=2,dh=8,Nmax=256,points=3") == 0 ? pb->run(&p, 42, &ms, err, sizeof err) : -1;
#if defined(__SANITIZE_ADDRESS__)
    /* ASan's allocator is not glibc's: mallinfo2 sees nothing; the probe
     * runs every step (checked by ASan) and then says so rather than
     * report zeros */
    ok(rc == -1 && strstr(err, "mallinfo2") && ms.n == 3 * (5 + 3 + 5 + 3),
       "xca_memory runs but refuses to report memory under ASan (%s)", err);
    cb_metrics_free(&ms);
    return;
#endif
    ok(rc == 0 && ms.n == 3 * (5 + 3 + 5 + 3), "xca_memory runs: %d metrics %s", ms.n, err);
    for (double N = 64; N <= 256; N *= 2) {
        const cb_metric *xb = find_metric(&ms, "extra_bytes_xca_blas", N);
        const cb_metric *xd = find_metric(&ms, "extra_bytes_xca_dnnl", N);
        const cb_metric *xr = find_metric(&ms, "extra_bytes_xca_ref", N);
        const cb_metric *sb = find_metric(&ms, "extra_bytes_softmax_attention_blas", N);
        const cb_metric *tb = find_metric(&ms, "total_bytes_xca_blas", N);
        /* blas xca holds the dh x dh map (floats), two float and one double
         * scale vectors and its state: at least 4 dh^2 bytes, and nothing
         * that grows with N (a generous 4 KiB over the arrays for the
         * allocator's headers and the struct) */
        double arrays = 4.0 * dh * dh + 16.0 * dh;
        ok(xb && xb->value >= 4.0 * dh * dh && xb->value <= arrays + 4096,
           "blas xca holds %.0f bytes at N = %g (arrays %.0f)", xb ? xb->value : NAN, N, arrays);
        /* ref: dh^2 + 2 dh doubles */
        ok(xr && xr->value >= 8.0 * dh * dh && xr->value <= 8.0 * dh * dh + 16.0 * dh + 4096,
           "ref xca holds %.0f bytes at N = %g", xr ? xr->value : NAN, N);
        ok(xd && xd->value >= 4.0 * H * dh * dh, "dnnl xca holds %.0f bytes at N = %g (>= its A map %d)",
           xd ? xd->value : NAN, N, 4 * H * dh * dh);
        /* blas softmax attention holds a block of scores; below 1024 tokens
         * the block is all N queries: N^2 floats */
        ok(sb && sb->value >= 4.0 * N * N, "blas softmax_attention holds %.0f bytes at N = %g (>= 4 N^2 = %.0f)",
           sb ? sb->value : NAN, N, 4.0 * N * N);
        ok(tb && xb && tb->value == xb->value + 16.0 * H * N * dh && cb_params_get(&tb->at, "H", 0) == H &&
               cb_params_get(&tb->at, "dh", 0) == dh,
           "total = extra + the four [H, N, dh] tensors, at {H, dh, N}");
        for (int b = 0; b < 3; b++) {
            static const char *const names[3] = {"err32_xca_ref", "err32_xca_blas", "err32_xca_dnnl"};
            const cb_metric *e = find_metric(&ms, names[b], N);
            /* the bound above, made relative to max |o|, which is about a
             * third of max |v| here (tau = 1: rows of A near uniform, o a
             * mean of dh normals): 4 (2 (N + 5) + 2 dh + 8) eps */
            double tol = 4 * (2 * (N + 5) + 2 * dh + 8) * FLT_EPSILON;
            ok(e && e->value <= tol && cb_params_get(&e->at, "tau", 0) == 1, "%s at N = %g: %.3g (<= %.3g)",
               names[b], N, e ? e->value : NAN, tol);
        }
    }
    /* growth from N = 64: none for xca (within the allocator's kilobyte
     * granularity, see the probe), 4 (256^2 - 64^2) bytes of scores for blas
     * softmax attention (its block is all N queries below 1024) */
    const cb_metric *g0 = find_metric(&ms, "growth_bytes_xca_blas", 64), *gx = find_metric(&ms, "growth_bytes_xca_blas", 256);
    const cb_metric *gd = find_metric(&ms, "growth_bytes_xca_dnnl", 256);
    const cb_metric *gs = find_metric(&ms, "growth_bytes_softmax_attention_blas", 256);
    ok(g0 && g0->value == 0 && gx && fabs(gx->value) <= 4096 && gd && fabs(gd->value) <= 65536,
       "xca extra memory does not grow from N = 64 to 256: blas %+.0f, dnnl %+.0f bytes", gx ? gx->value : NAN,
       gd ? gd->value : NAN);
    ok(gs && gs->value >= 4.0 * (256 * 256 - 64 * 64), "blas softmax_attention grows by %.0f bytes (>= %d)",
       gs ? gs->value : NAN, 4 * (256 * 256 - 64 * 64));
    cb_metrics_free(&ms);
    static const char *const bad[] = {"Nmax=100,points=4", "Nmax=4,points=3", "dh=0", "points=2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cb_params q = {0};
        cb_metrics m2 = {0};
        rc = cb_params_parse(&q, bad[i]) == 0 ? pb->run(&q, 42, &m2, err, sizeof err) : 0;
        ok(rc == -1 && m2.n == 0, "xca_memory rejects %s (%s)", bad[i], err);
        cb_metrics_free(&m2);
    }
}

int main(void)
{
    tap_no_plan();
    test_ref_known();
    test_contract();
    test_backends();
    test_permutation();
    test_probe();
    return tap_done();
}
