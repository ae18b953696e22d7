/* lsa_gd.c — probe: a linear self-attention layer with von Oswald et al.'s
 * constructed weights performs one gradient-descent step on the in-context
 * least-squares loss, and K stacked layers perform K steps.
 *
 * For each of `tasks` seeded regression tasks (lsa_icl.h: N pairs
 * y_j = W* x_j, x uniform in [-1, 1]^dx, a query x_q, a start W0) two
 * independent computations, both in double:
 *   LSA  tokens z (context (x_j, y_j), query (x_q, -W0 x_q)) through K layers
 *        of cb_lsa_forward_d with the weights of Prop. 1 (wk = wq = [[I,0],
 *        [0,0]], wv = [[0,0],[W0,-I]], wp = eta I, the kernel's 1/N making
 *        P = eta/N I); the prediction is minus the query's y-slot;
 *   GD   W_{k+1} = W_k - eta (1/N) sum_j (W_k x_j - y_j) x_j^T from W0, by
 *        the gradient formula; the tokens it predicts are (x_j, y_j -
 *        (W_K - W0) x_j) and (x_q, -W_K x_q), the prediction W_K x_q.
 * Metrics, at {K, N, dx, dy} for K = 1..Kmax:
 *   err64_tokens   max over tasks of max |LSA - GD| / max |GD| over the
 *                  task's (N+1) x D token values (no floor: a zero
 *                  reference is 0/0 = NaN)
 *   err64_pred     max over tasks |pred_LSA - pred_GD| / max over tasks |pred_GD|
 *   loss_ratio     mean over tasks of L(W_K) / L(W0), read from the LSA
 *                  tokens (L = (1/2N) sum |y-slot_j - W0 x_j|^2): the stack learns
 *   err32_<b>      the float32 kernel lsa_layer on backend b (ref, blas,
 *                  dnnl; cb_impl_run_arrays, each layer's output the next
 *                  one's input) on the first tasks32 tasks, token error as
 *                  err64_tokens against the double GD tokens
 * and at {K = 1, N, dx, dy}:
 *   nontriv64      min over tasks of max |LSA(z) - z| / max |z|: how much
 *                  one layer changed the tokens (0 for a layer that did
 *                  nothing)
 *   nontriv32_<b>  the same for each float32 backend's first layer.
 * Params: tasks (1000), tasks32 (100), N (20), dx (10), dy (1), K (8),
 * eta (1), w0 (1: W0 standard normal; 0: the paper's W0 = 0).
 */
#include "kernel.h"
#include "probes/lsa_icl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LSA_GD_KMAX 32

typedef struct acc {
    double err64_tok[LSA_GD_KMAX + 1], pred_err[LSA_GD_KMAX + 1], pred_scale[LSA_GD_KMAX + 1];
    double loss_ratio[LSA_GD_KMAX + 1], nontriv64;
} acc;

/* max of x and y where NaN wins */
static double nanmax(double x, double y) { return (isnan(x) || isnan(y)) ? NAN : (x > y ? x : y); }
static double nanmin(double x, double y) { return (isnan(x) || isnan(y)) ? NAN : (x < y ? x : y); }

/* The tokens K GD steps predict: exp[(N+1) x D] and pred (dy). W is dy x dx
 * scratch, r dy scratch. */
static void gd_tokens(const cb_icl_task *t, double eta, int K, double *W, double *G, double *exp, double *pred)
{
    const int N = t->N, dx = t->dx, dy = t->dy, D = dx + dy;
    memcpy(W, t->w0, (size_t)(dy * dx) * sizeof *W);
    for (int k = 0; k < K; k++) {
        memset(G, 0, (size_t)(dy * dx) * sizeof *G);
        for (int j = 0; j < N; j++) {
            const double *xj = t->x + (size_t)j * dx;
            for (int b = 0; b < dy; b++) {
                double r = -t->y[(size_t)j * dy + b];   /* residual W x_j - y_j */
                for (int a = 0; a < dx; a++) r += W[b * dx + a] * xj[a];
                for (int a = 0; a < dx; a++) G[b * dx + a] += r * xj[a];
            }
        }
        for (int e = 0; e < dy * dx; e++) W[e] -= eta * G[e] / N;
    }
    for (int j = 0; j < N; j++) {
        const double *xj = t->x + (size_t)j * dx;
        for (int a = 0; a < dx; a++) exp[(size_t)j * D + a] = xj[a];
        for (int b = 0; b < dy; b++) {
            double s = 0;   /* (W_K - W0) x_j */
            for (int a = 0; a < dx; a++) s += (W[b * dx + a] - t->w0[b * dx + a]) * xj[a];
            exp[(size_t)j * D + dx + b] = t->y[(size_t)j * dy + b] - s;
        }
    }
    for (int a = 0; a < dx; a++) exp[(size_t)N * D + a] = t->xq[a];
    for (int b = 0; b < dy; b++) {
        double s = 0;
        for (int a = 0; a < dx; a++) s += W[b * dx + a] * t->xq[a];
        pred[b] = s;
        exp[(size_t)N * D + dx + b] = -s;
    }
}

/* L = (1/2N) sum_j |y-slot_j - W0 x_j|^2 read from tokens z: the residual of
 * the implicit model W0 + sum of the layers' updates. */
static double token_loss(const cb_icl_task *t, const double *z)
{
    const int N = t->N, dx = t->dx, dy = t->dy, D = dx + dy;
    double L = 0;
    for (int j = 0; j < N; j++)
        for (int b = 0; b < dy; b++) {
            double s = 0;
            for (int a = 0; a < dx; a++) s += t->w0[b * dx + a] * z[(size_t)j * D + a];
            double r = z[(size_t)j * D + dx + b] - s;
            L += r * r;
        }
    return L / (2.0 * N);
}

static int get_int(const cb_params *p, const char *name, double lo, double hi, int *out, char *err, size_t errlen)
{
    double v = cb_params_get(p, name, 0);
    if (!(v >= lo && v <= hi && v == floor(v)))
        return cb_fail(err, errlen, "lsa_gd: %s = %g must be an integer in [%g, %g]", name, v, lo, hi);
    *out = (int)v;
    return 0;
}

static int add_metric(cb_metrics *ms, const char *name, int K, int N, int dx, int dy, double v, char *err,
                      size_t errlen)
{
    cb_params at = {0};
    if (cb_params_set(&at, "K", K) || cb_params_set(&at, "N", N) || cb_params_set(&at, "dx", dx) ||
        cb_params_set(&at, "dy", dy) || cb_metrics_add(ms, name, &at, v))
        return cb_fail(err, errlen, "lsa_gd: out of memory");
    return 0;
}

static int probe_run(const cb_params *params, uint64_t seed, cb_metrics *ms, char *err, size_t errlen)
{
    static const char *const backends[] = {"ref", "blas", "dnnl"};
    enum { NB = 3 };
    cb_params p = *params;
    if (cb_params_default(&p, "tasks", 1000) || cb_params_default(&p, "tasks32", 100) ||
        cb_params_default(&p, "N", 20) || cb_params_default(&p, "dx", 10) || cb_params_default(&p, "dy", 1) ||
        cb_params_default(&p, "K", 8) || cb_params_default(&p, "eta", 1) || cb_params_default(&p, "w0", 1))
        return cb_fail(err, errlen, "lsa_gd: too many parameters");
    int tasks = 0, tasks32 = 0, N = 0, dx = 0, dy = 0, Kmax = 0;
    if (get_int(&p, "tasks", 1, 1e6, &tasks, err, errlen) || get_int(&p, "tasks32", 0, 1e6, &tasks32, err, errlen) ||
        get_int(&p, "N", 1, 1e5, &N, err, errlen) || get_int(&p, "dx", 1, 256, &dx, err, errlen) ||
        get_int(&p, "dy", 1, 256, &dy, err, errlen) || get_int(&p, "K", 1, LSA_GD_KMAX, &Kmax, err, errlen))
        return -1;
    const double eta = cb_params_get(&p, "eta", 1), w0s = cb_params_get(&p, "w0", 1);
    if (!(eta > 0 && eta < 100) || !(w0s >= 0 && w0s < 100))
        return cb_fail(err, errlen, "lsa_gd: eta = %g must be in (0, 100), w0 = %g in [0, 100)", eta, w0s);
    if (tasks32 > tasks) tasks32 = tasks;
    const int D = dx + dy, T = N + 1;
    const size_t nz = (size_t)T * D, dd = (size_t)D * D;

    int rc = -1;
    acc A;
    memset(&A, 0, sizeof A);
    A.nontriv64 = INFINITY;
    double err32[NB][LSA_GD_KMAX + 1], nontriv32[NB];
    for (int b = 0; b < NB; b++) {
        nontriv32[b] = INFINITY;
        for (int k = 0; k <= LSA_GD_KMAX; k++) err32[b][k] = 0;
    }
    cb_icl_task t = {0};
    double *z = malloc(nz * sizeof *z), *z2 = malloc(nz * sizeof *z2), *z0 = malloc(nz * sizeof *z0);
    double *ex = malloc(nz * sizeof *ex), *pred = malloc((size_t)dy * sizeof *pred);
    double *W = malloc((size_t)(dx * dy) * sizeof *W), *G = malloc((size_t)(dx * dy) * sizeof *G);
    double *w[4];
    float *wf[4], *zf = malloc(nz * sizeof *zf);
    int ok = z && z2 && z0 && ex && pred && W && G && zf;
    for (int i = 0; i < 4; i++) {
        w[i] = malloc(dd * sizeof *w[i]);
        wf[i] = malloc(dd * sizeof *wf[i]);
        ok = ok && w[i] && wf[i];
    }
    if (!ok) {
        cb_fail(err, errlen, "lsa_gd: out of memory");
        goto done;
    }
    const cb_kernel *kern = cb_kernel_find("lsa_layer");
    if (!kern) {
        cb_fail(err, errlen, "lsa_gd: no lsa_layer kernel in the registry");
        goto done;
    }
    for (int ti = 0; ti < tasks; ti++) {
        if (cb_icl_task_make(&t, N, dx, dy, w0s, seed, (uint64_t)ti)) {
            cb_fail(err, errlen, "lsa_gd: out of memory");
            goto done;
        }
        cb_icl_tokens(&t, z);
        memcpy(z0, z, nz * sizeof *z);
        cb_lsa_gd_weights(&t, eta, w[0], w[1], w[2], w[3]);
        const double L0 = token_loss(&t, z0);
        for (int K = 1; K <= Kmax; K++) {
            if (cb_lsa_forward_d(z, N, D, w[0], w[1], w[2], w[3], z2)) {
                cb_fail(err, errlen, "lsa_gd: out of memory");
                goto done;
            }
            memcpy(z, z2, nz * sizeof *z);
            if (K == 1) {
                A.nontriv64 = nanmin(A.nontriv64, cb_lsa_change(z, z0, nz));
            }
            gd_tokens(&t, eta, K, W, G, ex, pred);
            A.err64_tok[K] = nanmax(A.err64_tok[K], cb_lsa_rel_err(z, ex, nz));
            for (int b = 0; b < dy; b++) {
                double lsa_pred = -z[(size_t)N * D + dx + b];
                A.pred_err[K] = nanmax(A.pred_err[K], fabs(lsa_pred - pred[b]));
                A.pred_scale[K] = nanmax(A.pred_scale[K], fabs(pred[b]));
            }
            A.loss_ratio[K] += token_loss(&t, z) / L0 / tasks;
        }
        /* float32 kernels, each layer's output the next layer's input */
        if (ti < tasks32) {
            for (int i = 0; i < 4; i++)
                for (size_t e = 0; e < dd; e++) wf[i][e] = (float)w[i][e];
            for (int b = 0; b < NB; b++) {
                const cb_impl *im = cb_impl_find("lsa_layer", backends[b]);
                if (!im) {
                    cb_fail(err, errlen, "lsa_gd: no lsa_layer/%s in the registry", backends[b]);
                    goto done;
                }
                for (size_t e = 0; e < nz; e++) zf[e] = (float)z0[e];
                for (int K = 1; K <= Kmax; K++) {
                    cb_params kp = {0};
                    if (cb_params_set(&kp, "N", N) || cb_params_set(&kp, "D", D)) {
                        cb_fail(err, errlen, "lsa_gd: too many parameters");
                        goto done;
                    }
                    const float *const in[5] = {zf, wf[0], wf[1], wf[2], wf[3]};
                    float *o = NULL;
                    int64_t n = 0;
                    if (cb_impl_run_arrays(kern, im, &kp, in, &o, &n, err, errlen))
                        goto done;
                    if (n != (int64_t)nz) {
                        free(o);
                        cb_fail(err, errlen, "lsa_gd: lsa_layer/%s returned %lld values", backends[b], (long long)n);
                        goto done;
                    }
                    if (K == 1) {
                        nontriv32[b] = nanmin(nontriv32[b], cb_lsa_change_f(o, zf, nz));
                    }
                    gd_tokens(&t, eta, K, W, G, ex, pred);
                    err32[b][K] = nanmax(err32[b][K], cb_lsa_rel_err_f(o, ex, nz));
                    memcpy(zf, o, nz * sizeof *zf);
                    free(o);
                }
            }
        }
        cb_icl_task_free(&t);
    }
    for (int K = 1; K <= Kmax; K++) {
        if (add_metric(ms, "err64_tokens", K, N, dx, dy, A.err64_tok[K], err, errlen) ||
            add_metric(ms, "err64_pred", K, N, dx, dy, A.pred_err[K] / A.pred_scale[K], err, errlen) ||
            add_metric(ms, "loss_ratio", K, N, dx, dy, A.loss_ratio[K], err, errlen))
            goto done;
        for (int b = 0; b < NB && tasks32 > 0; b++) {
            char name[CB_NAME_MAX];
            snprintf(name, sizeof name, "err32_%s", backends[b]);
            if (add_metric(ms, name, K, N, dx, dy, err32[b][K], err, errlen))
                goto done;
        }
    }
    if (add_metric(ms, "nontriv64", 1, N, dx, dy, A.nontriv64, err, errlen))
        goto done;
    for (int b = 0; b < NB && tasks32 > 0; b++) {
        char name[CB_NAME_MAX];
        snprintf(name, sizeof name, "nontriv32_%s", backends[b]);
        if (add_metric(ms, name, 1, N, dx, dy, nontriv32[b], err, errlen))
            goto done;
    }
    rc = 0;
done:
    cb_icl_task_free(&t);
    free(z);
    free(z2);
    free(z0);
    free(ex);
    free(pred);
    free(W);
    free(G);
    free(zf);
    for (int i = 0; i < 4; i++) {
        free(w[i]);
        free(wf[i]);
    }
    return rc;
}

const cb_probe cb_probe_lsa_gd = {
    .name = "lsa_gd",
    .summary = "von Oswald's constructed LSA layer == one GD step on in-context least squares; K layers == K steps (fp64, fp32)",
    .run = probe_run,
};
