/* t_lsa_newton_construction.c — the lsa_newton probe (Fu et al. 2023):
 * Iterative Newton written as linear self-attention layers, checked on a
 * hand-computed task (every iterate and the readout, exact dyadic values),
 * the probe end to end at a small size, its parameter checks, and that the
 * task's own checks fail on zero, constant or unchanged outputs.
 */
#include "kernel.h"
#include "checks.h"
#include "probes/lsa_icl.h"
#include "spec.h"
#include "table.h"

#include "tap.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the construction by hand --------------------------------------------- */

static void test_by_hand(void)
{
    /* d = 2, N = 2: x_1 = (2, 0), x_2 = (0, 1), y = (4, 3), query (1, 1).
     * S = diag(2, 0.5), lambda_max = 2, alpha = 1/4, M_0 = diag(0.5, 0.125);
     * b = (4, 1.5), w* = (2, 3). Newton per eigen-direction:
     * m' = m (2 - lambda m): the first stays 0.5 = 1/2 (exact at once), the
     * second 0.125 -> 0.2421875 -> 0.455047607421875 (-> 2). So the tokens'
     * v of the query are M_0 x_q = (0.5, 0.125), 2^-1 M_1 x_q =
     * (0.25, 0.12109375), 2^-2 M_2 x_q = (0.125, 0.11376190185546875), and
     * the readout x_q . M_2 b = 0.5*4 + 0.455047607421875*1.5 =
     * 2.6825714111328125. Dyadic numbers: double is exact. */
    const int d = 2, N = 2, D = 2 * d + 1;
    double z[3 * 5] = {2, 0, 0, 0, 4, /**/ 0, 1, 0, 0, 3, /**/ 1, 1, 0, 0, 0};
    double z2[15], wk[25], wq[25], wv[25], wp[25];
    const double want_q[3][2] = {{0.5, 0.125}, {0.25, 0.12109375}, {0.125, 0.11376190185546875}};
    const double want_c[3][2][2] = {{{1, 0}, {0, 0.125}}, {{0.5, 0}, {0, 0.12109375}},
                                    {{0.25, 0}, {0, 0.11376190185546875}}};
    int rc = 0;
    for (int layer = 0; layer <= 2; layer++) {
        double scale = layer == 0 ? 0.25 : -ldexp(1.0, layer - 2);
        cb_lsa_newton_weights(layer == 0 ? 0 : 1, scale, d, wk, wq, wv, wp);
        rc |= cb_lsa_forward_d(z, N, D, wk, wq, wv, wp, z2);
        memcpy(z, z2, sizeof z);
        int good = rc == 0;
        for (int a = 0; a < d; a++) {
            good = good && z[2 * D + d + a] == want_q[layer][a];
            for (int j = 0; j < 2; j++) good = good && z[j * D + d + a] == want_c[layer][j][a];
        }
        good = good && z[0] == 2 && z[1] == 0 && z[4] == 4 && z[14] == 0;   /* x, y untouched */
        ok(good, "layer %d: query v = (%.17g, %.17g), want 2^-%d M_%d x_q = (%.17g, %.17g); context v exact too",
           layer, z[2 * D + d], z[2 * D + d + 1], layer, layer, want_q[layer][0], want_q[layer][1]);
    }
    cb_lsa_newton_weights(2, 4.0, d, wk, wq, wv, wp);
    rc |= cb_lsa_forward_d(z, N, D, wk, wq, wv, wp, z2);
    ok(rc == 0 && z2[2 * D + 2 * d] == 2.6825714111328125,
       "readout after 2 iterations: %.17g, want x_q . M_2 b = 2.6825714111328125 (w* gives 5)", z2[2 * D + 2 * d]);
    /* the weights' shape: Newton layer reads key x, query v, value v */
    cb_lsa_newton_weights(1, -3.0, d, wk, wq, wv, wp);
    ok(wk[0] == 1 && wk[1 * D + 1] == 1 && wk[2 * D + 2] == 0 && wq[0 * D + 2] == 1 && wq[1 * D + 3] == 1 &&
           wq[0] == 0 && wv[2 * D + 2] == 1 && wv[3 * D + 3] == 1 && wv[2 * D + 0] == 0 && wv[4 * D + 4] == 0 &&
           wp[0] == -3 && wp[4 * D + 4] == -3 && wp[1] == 0,
       "Newton layer weights: wk picks x, wq moves v onto x, wv keeps v, wp = scale I");
}

/* ---- the probe end to end --------------------------------------------------- */

static const cb_metric *find(const cb_metrics *ms, const char *name, double kappa)
{
    for (int i = 0; i < ms->n; i++)
        if (strcmp(ms->m[i].name, name) == 0 &&
            (kappa < 0 || cb_params_get(&ms->m[i].at, "kappa", -1) == kappa))
            return &ms->m[i];
    return NULL;
}

static void test_probe(void)
{
    const cb_probe *pb = cb_probe_find("lsa_newton");
    ok(pb != NULL, "lsa_newton is registered");
    if (!pb) return;
    cb_params p = {0};
    cb_metrics ms = {0};
    char err[256] = "";
    int rc = cb_params_parse(&p, "tasks=2,N=20,d=4,tol=1e-6") == 0 ? pb->run(&p, 3, &ms, err, sizeof err) : -1;
    /* kappa = 1: 2 counts + 4; kappa >= 10: 3 + 4 each; err32 x 3 at 100; growth */
    ok(rc == 0 && ms.n == 6 + 4 * 7 + 3 + 1, "lsa_newton runs: %d metrics %s", ms.n, err);
    static const double ks[] = {1, 10, 100, 1000, 10000};
    for (int i = 0; rc == 0 && i < 5; i++) {
        const cb_metric *it = find(&ms, "err64_iterates", ks[i]), *ro = find(&ms, "err64_readout", ks[i]);
        const cb_metric *cl = find(&ms, "err64_closed", ks[i]);
        ok(it && ro && cl && it->value <= 1e-10 && ro->value <= 1e-10 && cl->value <= 1e-10 && it->value >= 0,
           "kappa %g: layers = Newton iterates (%.3g), readout (%.3g), closed form (%.3g), all <= 1e-10", ks[i],
           it ? it->value : NAN, ro ? ro->value : NAN, cl ? cl->value : NAN);
        if (i == 0) continue;
        const cb_metric *n = find(&ms, "iters_newton", ks[i]), *g = find(&ms, "iters_gd", ks[i]);
        /* formulas: Newton 2 log2 kappa + 3.8, GD 6.9 kappa (d = 4: within a
         * factor 2 either way, since w* spreads over fewer directions) */
        double nf = 2 * log2(ks[i]) + 3.8, gf = 6.9 * ks[i];
        ok(n && g && n->value > nf - 4 && n->value < nf + 2 && g->value > gf / 2 && g->value < gf * 1.1,
           "kappa %g: Newton %g iterations (formula %.1f), GD %g steps (formula %.0f)", ks[i], n ? n->value : NAN,
           nf, g ? g->value : NAN, gf);
    }
    const cb_metric *n1 = find(&ms, "iters_newton_kappa1", 1), *g1 = find(&ms, "iters_gd_kappa1", 1);
    const cb_metric *gr = find(&ms, "gd_growth_per_newton_iter", -1), *o = find(&ms, "newton_order", 10000);
    const cb_metric *f = find(&ms, "err32_blas", 100);
    ok(n1 && g1 && n1->value == 0 && g1->value == 1, "kappa 1: Newton exact at M_0, GD exact after one step");
    ok(gr && gr->value > 1.25 && gr->value < 1.6 && o && o->value > 1.8 && o->value < 2.2 && f && f->value < 1e-3,
       "GD steps per Newton iteration %.3g (sqrt 2 = 1.414), order %.3g at kappa 1e4, fp32 blas %.3g at kappa 100",
       gr ? gr->value : NAN, o ? o->value : NAN, f ? f->value : NAN);
    cb_metrics_free(&ms);
    static const char *const bad[] = {"d=1", "N=3,d=4", "tol=0", "tasks=0"};
    for (int i = 0; i < 4; i++) {
        cb_params q = {0};
        char e2[256] = "";
        cb_params_parse(&q, bad[i]);
        int r = pb->run(&q, 1, &ms, e2, sizeof e2);
        ok(r == -1 && ms.n == 0, "lsa_newton rejects %s (%s)", bad[i], e2);
        cb_metrics_free(&ms);
    }
}

/* ---- the checks fail on zero, constant and unchanged outputs --------------- */

static cb_verdict_kind eval(const cb_spec *s, const char *name, const cb_table *t, double *measured)
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

static void test_degenerate(void)
{
    cb_spec *s = calloc(1, sizeof *s);
    char err[512] = "";
    int loaded = s && cb_spec_load("tasks/lsa_newton_construction.md", s, err, sizeof err) == 0;
    ok(loaded, "the task spec loads %s", err);
    if (!loaded) {
        free(s);
        return;
    }
    /* reference: M_1 x_i of the hand task (times 2^-1 in the tokens) */
    const double ref[6] = {0.5, 0, 0, 0.12109375, 0.25, 0.12109375};
    double zero[6] = {0}, cst[6], stale[6] = {1, 0, 0, 0.125, 0.5, 0.125};   /* M_0 x: the layer did nothing */
    for (int i = 0; i < 6; i++) cst[i] = 0.3;
    const double *cands[4] = {ref, zero, cst, stale};
    static const char *const what[4] = {"the right iterate", "an all-zero output", "a constant output",
                                        "the previous iterate (layer did nothing)"};
    for (int c = 0; c < 4; c++) {
        cb_params at = {0};
        cb_params_parse(&at, "kappa=100,N=40,d=10");
        double e = cb_lsa_rel_err(cands[c], ref, 6), nt = cb_lsa_change(cands[c], stale, 6);
        cb_table t = {0};
        cb_table_add(&t, CB_ROW_METRIC, s->id, "lsa_newton", "-", "err64_iterates", &at, &e, 1, "");
        cb_table_add(&t, CB_ROW_METRIC, s->id, "lsa_newton", "-", "nontriv64", &at, &nt, 1, "");
        double m1, m2;
        cb_verdict_kind v1 = eval(s, "newton_layers_equal_iterates_fp64", &t, &m1);
        cb_verdict_kind v2 = eval(s, "newton_layer_changes_tokens", &t, &m2);
        if (c == 0)
            ok(v1 == CB_REPRODUCED && v2 == CB_REPRODUCED, "%s passes (err %.3g, change %.3g)", what[c], m1, m2);
        else
            ok(v1 == CB_NOT_REPRODUCED, "%s fails the equivalence: err %.3g (%s)", what[c], m1, cb_verdict_name(v1));
        if (c == 3)
            ok(v2 == CB_NOT_REPRODUCED, "%s fails the non-triviality bound: change %.3g", what[c], m2);
        cb_table_free(&t);
    }
    /* an all-zero reference: x / 0 */
    {
        cb_params at = {0};
        cb_params_parse(&at, "kappa=100,N=40,d=10");
        double e = cb_lsa_rel_err(ref, zero, 6), m;
        cb_table t = {0};
        cb_table_add(&t, CB_ROW_METRIC, s->id, "lsa_newton", "-", "err64_iterates", &at, &e, 1, "");
        cb_verdict_kind v = eval(s, "newton_layers_equal_iterates_fp64", &t, &m);
        ok(v == CB_NOT_REPRODUCED, "an all-zero reference fails the equivalence (err %g = x / 0)", m);
        cb_table_free(&t);
    }
    /* constant iteration counts (a solver that did not depend on kappa)
     * fail both trends and the order */
    {
        cb_table t = {0};
        static const double ks[4] = {10, 100, 1000, 10000};
        for (int i = 0; i < 4; i++) {
            cb_params at = {0};
            cb_params_set(&at, "kappa", ks[i]);
            cb_params_set(&at, "N", 40);
            cb_params_set(&at, "d", 10);
            double five = 5;
            cb_table_add(&t, CB_ROW_METRIC, s->id, "lsa_newton", "-", "iters_gd", &at, &five, 1, "");
            cb_table_add(&t, CB_ROW_METRIC, s->id, "lsa_newton", "-", "iters_newton", &at, &five, 1, "");
        }
        double m1, m2, m3;
        cb_verdict_kind v1 = eval(s, "gd_steps_grow_like_kappa", &t, &m1);
        cb_verdict_kind v2 = eval(s, "newton_iterations_grow_like_log_kappa", &t, &m2);
        cb_verdict_kind v3 = eval(s, "newton_fewer_than_gd", &t, &m3);
        ok(v1 == CB_NOT_REPRODUCED && v2 == CB_NOT_REPRODUCED && v3 == CB_NOT_REPRODUCED,
           "constant iteration counts fail: GD slope %g (%s), Newton slope %g (%s), Newton/GD %g (%s)", m1,
           cb_verdict_name(v1), m2, cb_verdict_name(v2), m3, cb_verdict_name(v3));
        cb_table_free(&t);
    }
    cb_spec_free(s);
    free(s);
}

int main(void)
{
    tap_no_plan();
    test_by_hand();
    test_probe();
    test_degenerate();
    return tap_done();
}
