/* t_attention_rank_collapse.c — the exact rank-collapse recursion of the
 * rank_collapse probe (impls/probes/rank_collapse.c) held against
 * independent computations, and the task's checks against degenerate inputs.
 *
 *  1. a textbook long double forward pass written here (form X, softmax,
 *     MLP, skips) against the exact (mean, residual, exponent) recursion, on
 *     a small random case, every architecture;
 *  2. the closed form for n = 2 tokens, d = 1 feature, where one attention
 *     layer maps the residual sqrt(2) delta to
 *     |delta wv sinh(2 A delta^2)| / (sqrt(2) cosh(A delta (m + delta)) cosh(A delta (m - delta))),
 *     for delta from 2^-3 down to 2^-3000, and its asymptote
 *     sqrt(2) |wv A| delta^3 at delta = 2^-20001 (below long double range);
 *  3. the first-order softmax branch against the closed (expm1/log1p) one
 *     while both are representable;
 *  4. degree-3 homogeneity of the residual map in the first-order regime
 *     (the per-layer exponent 3, exactly);
 *  5. the probe with the spec's parameters passes every check of the spec,
 *     and with a constant or an all-zero input the non-triviality checks
 *     (and every collapse check) fail;
 *  6. the probe's parameter validation.
 */
#include "kernel.h"
#include "checks.h"
#include "spec.h"
#include "table.h"
#include "probes/rank_collapse.h"

#include "tap.h"
#include "test_rng.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef long double ld;

/* Weights of one layer, owned by the caller's buffer of 3dd + 8dd floats. */
static rc_layer make_layer(float *b, int d, uint64_t *s)
{
    size_t dd = (size_t)d * d;
    test_fill_normal_state(b, 3 * dd, 1 / sqrt((double)d), s);
    test_fill_normal_state(b + 3 * dd, 4 * dd, sqrt(2.0 / d), s);
    test_fill_normal_state(b + 7 * dd, 4 * dd, 2 / sqrt(4.0 * d), s);
    return (rc_layer){b, b + dd, b + 2 * dd, b + 3 * dd, b + 7 * dd};
}

/* ---- 1. the textbook forward pass, in long double -------------------------- */

static void textbook_layer(ld *X, int n, int d, const rc_layer *w, int arch)
{
    const int F = 4 * d;
    ld *Q = calloc((size_t)n * d, sizeof *Q), *K = calloc((size_t)n * d, sizeof *K),
       *V = calloc((size_t)n * d, sizeof *V), *Y = calloc((size_t)n * d, sizeof *Y),
       *p = calloc((size_t)n, sizeof *p), *h = calloc((size_t)F, sizeof *h);
    if (!Q || !K || !V || !Y || !p || !h) goto out;
    for (int i = 0; i < n; i++)
        for (int c = 0; c < d; c++)
            for (int a = 0; a < d; a++) {
                Q[i * d + c] += X[i * d + a] * w->wq[a * d + c];
                K[i * d + c] += X[i * d + a] * w->wk[a * d + c];
                V[i * d + c] += X[i * d + a] * w->wv[a * d + c];
            }
    for (int i = 0; i < n; i++) {
        ld z = 0;
        for (int j = 0; j < n; j++) {
            ld t = 0;
            for (int c = 0; c < d; c++) t += Q[i * d + c] * K[j * d + c];
            p[j] = t / sqrtl(d);
        }
        ld mx = p[0];
        for (int j = 1; j < n; j++) mx = fmaxl(mx, p[j]);
        for (int j = 0; j < n; j++) z += p[j] = expl(p[j] - mx);
        for (int c = 0; c < d; c++) {
            ld t = 0;
            for (int j = 0; j < n; j++) t += p[j] / z * V[j * d + c];
            Y[i * d + c] = t;
        }
    }
    int skip = arch == RC_SKIP || arch == RC_SKIP_MLP;
    for (int i = 0; i < n * d; i++) X[i] = skip ? X[i] + Y[i] : Y[i];
    if (arch == RC_MLP || arch == RC_SKIP_MLP) {
        for (int i = 0; i < n; i++) {
            for (int f = 0; f < F; f++) {
                ld t = 0;
                for (int a = 0; a < d; a++) t += X[i * d + a] * w->w1[a * F + f];
                h[f] = t > 0 ? t : 0;
            }
            for (int c = 0; c < d; c++) {
                ld t = 0;
                for (int f = 0; f < F; f++) t += h[f] * w->w2[f * d + c];
                Y[i * d + c] = t;
            }
        }
        for (int i = 0; i < n * d; i++) X[i] = skip ? X[i] + Y[i] : Y[i];
    }
out:
    free(Q), free(K), free(V), free(Y), free(p), free(h);
}

static void test_against_textbook(void)
{
    const int n = 5, d = 3, L = 4;
    static const char *const names[] = {"san", "skip", "mlp", "skip_mlp"};
    float wbuf[4][11 * 9];
    uint64_t s = 0x9E3779B97F4A7C15ull;
    rc_layer w[4];
    for (int l = 0; l < L; l++) w[l] = make_layer(wbuf[l], d, &s);
    float x0[15];
    test_fill_normal_state(x0, 15, 1, &s);
    for (int a = 0; a < RC_N_ARCH; a++) {
        ld X[15], Xe[15];
        rc_state st;
        if (rc_state_alloc(&st, n, d) != 0) {
            ok(0, "alloc");
            return;
        }
        for (int i = 0; i < 15; i++) X[i] = x0[i];
        rc_state_set(&st, X);
        double worst = 0, worst_res = 0;
        int fails = 0;
        for (int l = 0; l < L; l++) {
            fails += rc_fast_layer(&st, &w[l], a, -80) != 0;
            textbook_layer(X, n, d, &w[l], a);
            rc_state_get(&st, Xe);
            ld e2 = 0, n2 = 0, m[3] = {0, 0, 0}, r2 = 0;
            for (int i = 0; i < 15; i++) {
                e2 += (X[i] - Xe[i]) * (X[i] - Xe[i]);
                n2 += Xe[i] * Xe[i];
                m[i % 3] += X[i] / n;
            }
            for (int i = 0; i < 15; i++) r2 += (X[i] - m[i % 3]) * (X[i] - m[i % 3]);
            worst = fmax(worst, (double)sqrtl(e2 / n2));
            /* the residual, where the textbook pass still resolves it */
            double lr = rc_state_log10_res(&st), lrt = (double)log10l(sqrtl(r2));
            if (rc_state_log10_rel(&st) > -8) worst_res = fmax(worst_res, fabs(lr - lrt));
        }
        ok(fails == 0 && worst <= 1e-16, "%s: exact recursion = textbook long double pass over %d layers: "
           "max ||X - X_exact|| / ||X_exact|| = %.3g (<= 1e-16)", names[a], L, worst);
        ok(worst_res <= 1e-9, "%s: residual agrees while resolvable: max |log10 r - log10 r_textbook| = %.3g",
           names[a], worst_res);
        rc_state_free(&st);
    }
}

/* ---- 2. the closed form, n = 2, d = 1 ---------------------------------------- */

static void test_closed_form(void)
{
    const float wq = 0.8f, wk = -1.3f, wv = 0.9f, w1[4] = {1, -1, 0.5f, 2}, w2[4] = {1, 1, 1, 1};
    const rc_layer w = {&wq, &wk, &wv, w1, w2};
    const ld A = (ld)wq * wk, m = 0.7L;
    static const int ks[] = {-3, -10, -100, -3000, -20001};
    for (size_t t = 0; t < sizeof ks / sizeof ks[0]; t++) {
        rc_state st;
        if (rc_state_alloc(&st, 2, 1) != 0) {
            ok(0, "alloc");
            return;
        }
        /* delta = 2^k: R~ = (1/2, -1/2), e = k + 1 */
        st.x[0] = m;
        st.R[0] = 0.5L, st.R[1] = -0.5L;
        st.e = ks[t] + 1;
        double before = rc_state_log10_res(&st), want_before = 0.5 * log10(2.0) + ks[t] * log10(2.0);
        int rc = rc_fast_layer(&st, &w, RC_SAN, -80);
        double got = rc_state_log10_res(&st), want;
        if (ks[t] > -4000) {
            ld dl = ldexpl(1, ks[t]);
            ld r = fabsl(dl * wv * sinhl(2 * A * dl * dl)) /
                   (sqrtl(2) * coshl(A * dl * (m + dl)) * coshl(A * dl * (m - dl)));
            want = (double)log10l(r);
        } else {   /* the asymptote sqrt(2) |wv A| delta^3; the O(delta^2) rest is far below rounding */
            want = (double)(log10l(sqrtl(2) * fabsl((ld)wv * A)) + 3.0L * ks[t] * log10l(2));
        }
        double tol = 1e-12 + 1e-15 * fabs(want);
        ok(rc == 0 && fabs(before - want_before) <= tol && fabs(got - want) <= tol,
           "n = 2, d = 1, delta = 2^%d: log10 r' = %.15g, closed form %.15g (diff %.2g)", ks[t], got, want,
           fabs(got - want));
        rc_state_free(&st);
    }
}

/* ---- 3. and 4.: the first-order branch, homogeneity ---------------------------- */

static void random_state(rc_state *st, int n, int d, int64_t e, uint64_t *s)
{
    float v[64];
    test_fill_normal_state(v, (size_t)(n * d + d), 1, s);
    ld X[64];
    for (int i = 0; i < n * d; i++) X[i] = v[i];
    rc_state_set(st, X);
    for (int c = 0; c < d; c++) st->x[c] = v[n * d + c];
    st->e = e;
}

static void test_branches(void)
{
    const int n = 6, d = 4, L = 10;
    float wbuf[10][11 * 16];
    uint64_t s = 12345;
    rc_layer w[10];
    for (int l = 0; l < L; l++) w[l] = make_layer(wbuf[l], d, &s);
    rc_state a, b;
    if (rc_state_alloc(&a, n, d) || rc_state_alloc(&b, n, d)) {
        ok(0, "alloc");
        rc_state_free(&a);
        rc_state_free(&b);
        return;
    }
    uint64_t s2 = 777, s3 = 777;
    random_state(&a, n, d, -2, &s2);
    random_state(&b, n, d, -2, &s3);
    double worst = 0;
    int layers = 0, used_linear = 0;
    for (int l = 0; l < L && a.e > -7000; l++) {
        used_linear += 2 * a.e < -80;
        rc_fast_layer(&a, &w[l], RC_SAN, -80);
        rc_fast_layer(&b, &w[l], RC_SAN, -1000000);   /* closed form while representable */
        if (a.e <= -7000) break;
        double la = rc_state_log10_res(&a), lb = rc_state_log10_res(&b);
        worst = fmax(worst, fabs(la - lb) / fmax(1, fabs(lb)));
        layers++;
    }
    ok(layers >= 4 && used_linear >= 2 && worst <= 1e-15,
       "first-order branch = expm1/log1p branch where both apply, over %d layers (%d in the first-order regime, "
       "residual to ~1e-2000): max relative difference of log10 r = %.3g", layers, used_linear, worst);

    /* degree 3: the same R~ at e = -10000 and -20000 gives the same R~' with
     * exponents 3 x 10000 apart */
    for (int arch = RC_SAN; arch <= RC_MLP; arch += RC_MLP - RC_SAN) {
        uint64_t t1 = 99, t2 = 99;
        random_state(&a, n, d, -10000, &t1);
        random_state(&b, n, d, -20000, &t2);
        rc_fast_layer(&a, &w[0], arch, -80);
        rc_fast_layer(&b, &w[0], arch, -80);
        ld diff = 0, mx = 0;
        for (int i = 0; i < n * d; i++) {
            diff = fmaxl(diff, fabsl(a.R[i] - b.R[i]));
            mx = fmaxl(mx, fabsl(a.R[i]));
        }
        ok(a.e - b.e == 30000 && mx >= 0.5L && diff <= 4 * LDBL_EPSILON,
           "%s: residual map homogeneous of degree 3: e' differ by %lld (30000), max |R~'_a - R~'_b| = %.3Lg",
           arch == RC_SAN ? "san" : "mlp", (long long)(a.e - b.e), diff);
    }
    rc_state_free(&a);
    rc_state_free(&b);
}

/* ---- 5. the spec's checks on the probe's metrics ------------------------------- */

static int probe_table(const cb_spec *sp, int const_input, cb_table *t, char *err, size_t errlen)
{
    const cb_probe *pr = cb_probe_find("rank_collapse");
    if (!pr || sp->n_probes != 1) return cb_fail(err, errlen, "no probe");
    cb_params p = sp->probes[0].params;
    if (cb_params_set(&p, "const_input", const_input)) return cb_fail(err, errlen, "params");
    cb_metrics ms = {0};
    int rc = pr->run(&p, 1, &ms, err, errlen);
    for (int i = 0; rc == 0 && i < ms.n; i++)
        rc = cb_table_add(t, CB_ROW_METRIC, sp->id, "rank_collapse", "-", ms.m[i].name, &ms.m[i].at,
                          &ms.m[i].value, 1, NULL);
    cb_metrics_free(&ms);
    return rc;
}

static cb_verdict_kind verdict_of(const cb_spec *sp, const cb_table *t, const char *check)
{
    const cb_check *c = cb_spec_find_check(sp, check);
    if (!c) {
        diag("no check %s in the spec", check);
        return CB_INCONCLUSIVE;
    }
    cb_verdict v;
    cb_check_eval(c, sp->id, t, 1, &v);
    diag("%s: %s (%s)", check, cb_verdict_name(v.verdict), v.detail);
    return v.verdict;
}

static void test_spec_checks(void)
{
    cb_spec *sp = calloc(1, sizeof *sp);
    char err[512] = "";
    int loaded = sp && cb_spec_load("tasks/attention_rank_collapse.md", sp, err, sizeof err) == 0;
    ok(loaded, "the task spec loads %s", err);
    if (!loaded) {
        free(sp);
        return;
    }
    cb_table t = {0};
    int rc = probe_table(sp, 0, &t, err, sizeof err);
    ok(rc == 0, "probe runs with the spec's parameters %s", err);
    int good = 0;
    for (int i = 0; rc == 0 && i < sp->n_checks; i++) {
        cb_verdict v;
        cb_check_eval(&sp->checks[i], sp->id, &t, 1, &v);
        good += v.verdict == CB_REPRODUCED;
        if (v.verdict != CB_REPRODUCED) diag("%s: %s (%s)", v.check, cb_verdict_name(v.verdict), v.detail);
    }
    ok(rc == 0 && good == sp->n_checks, "random input: %d of %d checks reproduced", good, sp->n_checks);
    cb_table_free(&t);

    /* degenerate inputs: every check that reads the residual must fail */
    static const char *const must_fail[] = {
        "input_not_token_uniform", "exponent_pure_attention", "exponent_with_mlp",
        "pure_attention_collapses", "mlp_alone_still_collapses", "mlp_slows_collapse",
        "skip_connections_stop_collapse", "skip_and_mlp_stop_collapse", "leaves_float64_range",
        "compared_layers_float64", "compared_layers_long_double", "float64_floor", "long_double_floor",
        "float32_floor"};
    for (int ci = 1; ci <= 2; ci++) {
        cb_table z = {0};
        rc = probe_table(sp, ci, &z, err, sizeof err);
        int n_ok = 0, n = (int)(sizeof must_fail / sizeof must_fail[0]);
        for (int i = 0; rc == 0 && i < n; i++) n_ok += verdict_of(sp, &z, must_fail[i]) != CB_REPRODUCED;
        ok(rc == 0 && n_ok == n, "%s input: %d of %d residual checks fail, the non-triviality ones among them",
           ci == 1 ? "constant-token" : "all-zero", n_ok, n);
        ok(rc == 0 && verdict_of(sp, &z, "input_not_token_uniform") == CB_NOT_REPRODUCED &&
               verdict_of(sp, &z, "compared_layers_float64") == CB_NOT_REPRODUCED,
           "%s input: the non-triviality bounds say 'not reproduced'", ci == 1 ? "constant-token" : "all-zero");
        cb_table_free(&z);
    }
    cb_spec_free(sp);
    free(sp);
}

/* ---- 6. parameter validation ----------------------------------------------- */

static void test_params(void)
{
    const cb_probe *pr = cb_probe_find("rank_collapse");
    ok(pr != NULL, "rank_collapse is registered");
    if (!pr) return;
    static const char *const bad[] = {"L=0", "n=0", "d=500", "seeds=0", "L=40", "mlp_gain=0", "const_input=3",
                                      "n=2.5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cb_params p = {0};
        cb_metrics ms = {0};
        char err[256] = "";
        int prc = cb_params_parse(&p, bad[i]);
        int rc = prc == 0 ? pr->run(&p, 1, &ms, err, sizeof err) : 0;
        ok(prc == 0 && rc != 0 && err[0], "%s is refused: %s", bad[i], err);
        cb_metrics_free(&ms);
    }
}

int main(void)
{
    tap_no_plan();
    test_against_textbook();
    test_closed_form();
    test_branches();
    test_spec_checks();
    test_params();
    return tap_done();
}
