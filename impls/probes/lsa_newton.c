/* lsa_newton.c — probe: Iterative Newton (Newton–Schulz) for in-context
 * least squares, written as linear self-attention layers, against the
 * matrix iteration, the closed-form solution, and gradient descent
 * (Fu, Chen, Jia, Sharan 2023).
 *
 * Data: for each condition number kappa in {1, 10, 100, 1000, 10000} and
 * each of `tasks` seeded tasks, N context points x_j in R^d with a chosen
 * spectrum: X = sqrt(N) Q diag(sqrt(lambda)) V^T (Q: N x d orthonormal
 * columns, V: d x d orthogonal, both Gram-Schmidt of Gaussians; lambda
 * geometric from 1 down to 1/kappa), so S = (1/N) sum_j x_j x_j^T has
 * eigenvalues lambda and condition number kappa; y_j = w_true . x_j with
 * w_true standard normal; a standard normal query x_q. Values are rounded
 * to float once (every computation then uses those numbers), and S is
 * diagonalized again (Jacobi) for lambda_min, lambda_max.
 *
 * Four computations, all in double unless named fp32:
 *   closed form   w* = S^-1 b, b = (1/N) sum_j y_j x_j, by Cholesky;
 *   Newton        M_0 = alpha S, alpha = 1/lambda_max^2, M_{k+1} = 2 M_k -
 *                 M_k S M_k (d x d matrices), w_k = M_k b;
 *   GD            w_0 = 0, w_{k+1} = w_k - eta (S w_k - b), eta =
 *                 2/(lambda_min + lambda_max) (the optimal fixed step);
 *   LSA           tokens (x_i, v_i, y_i) [D = 2d + 1], the query (x_q, 0, 0),
 *                 through the layers of cb_lsa_forward_d (see the task's
 *                 prose for the derivation):
 *                   init      v_i <- alpha S x_i         = M_0 x_i
 *                   layer k   v_i <- v_i - 2^(k-2) (1/N) sum_j v_j (x_j . v_i)
 *                             keeps v_i = 2^-k M_k x_i
 *                   readout   y_q <- 2^K (1/N) sum_j y_j (x_j . v_q) = x_q . M_K b
 * Metrics at {kappa, N, d} (max over tasks unless said):
 *   iters_newton, iters_gd   iterations to ||w_k - w*|| / ||w*|| <= tol
 *                            (kappa >= 10; at kappa = 1 the same under
 *                            iters_newton_kappa1 / iters_gd_kappa1, where
 *                            both are exact at once and a log-log fit
 *                            cannot take the Newton count 0)
 *   newton_order             the order of convergence, median over the
 *                            quadratic phase of log(e_{k+1}/e_k) /
 *                            log(e_k/e_{k-1}) (2 for e_{k+1} = e_k^2 / c);
 *                            the worst task, farthest from 2 (kappa >= 10)
 *   err64_iterates           max over layers k <= K and tokens of
 *                            |2^k v_i - M_k x_i| / max_i |M_k x_i|
 *   err64_readout            max over k of |LSA readout - x_q . M_k b| /
 *                            max over tasks |x_q . M_k b|
 *   err64_closed             the LSA prediction after K = iters_newton + 2
 *                            Newton layers against x_q . w*, relative to
 *                            max over tasks |x_q . w*|
 *   gd_growth_per_newton_iter  at {N, d}: exp of the slope of ln(iters_gd)
 *                            against iters_newton over kappa = 10..1e4: the
 *                            factor of GD steps one Newton iteration buys
 *   nontriv64                min over tasks of max |out - in| / max |in|
 *                            of the first Newton layer's tokens
 *   err32_<ref|blas|dnnl>    at kappa = 100 only: the same K + 2 layers
 *                            run by the float32 lsa_layer kernel, its
 *                            prediction against x_q . w*, as err64_closed.
 * Params: tasks (5), N (40), d (10), tol (1e-6).
 */
#include "kernel.h"
#include "probes/lsa_icl.h"
#include "rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { NEWTON_KMAX = 64 };
#define GD_KMAX 10000000L

static const double kappas[] = {1, 10, 100, 1000, 10000};
#define N_KAPPA ((int)(sizeof kappas / sizeof kappas[0]))

/* ---- small dense linear algebra in double (row-major) ---------------------- */

/* C = A B, n x n */
static void matmul(const double *A, const double *B, double *C, int n)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int k = 0; k < n; k++) s += A[i * n + k] * B[k * n + j];
            C[i * n + j] = s;
        }
}

static void matvec(const double *A, const double *x, double *y, int n)
{
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int k = 0; k < n; k++) s += A[i * n + k] * x[k];
        y[i] = s;
    }
}

/* Modified Gram-Schmidt, twice, on the `cols` columns of the rows x cols
 * matrix A (in place): orthonormal columns. */
static void orthonormalize(double *A, int rows, int cols)
{
    for (int pass = 0; pass < 2; pass++)
        for (int c = 0; c < cols; c++) {
            for (int p = 0; p < c; p++) {
                double dot = 0;
                for (int r = 0; r < rows; r++) dot += A[r * cols + p] * A[r * cols + c];
                for (int r = 0; r < rows; r++) A[r * cols + c] -= dot * A[r * cols + p];
            }
            double nrm = 0;
            for (int r = 0; r < rows; r++) nrm += A[r * cols + c] * A[r * cols + c];
            nrm = sqrt(nrm);
            for (int r = 0; r < rows; r++) A[r * cols + c] /= nrm;
        }
}

/* Eigenvalues of the symmetric n x n matrix S (cyclic Jacobi on a copy in
 * W), into ev; returns min and max through lo, hi. */
static void sym_eig_range(const double *S, double *W, int n, double *lo, double *hi)
{
    memcpy(W, S, (size_t)n * n * sizeof *W);
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0;
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++) off += W[p * n + q] * W[p * n + q];
        if (off < 1e-300) break;
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++) {
                double apq = W[p * n + q];
                if (apq == 0) continue;
                double theta = (W[q * n + q] - W[p * n + p]) / (2 * apq);
                double t = (theta >= 0 ? 1 : -1) / (fabs(theta) + sqrt(theta * theta + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;
                for (int k = 0; k < n; k++) {   /* rotate columns p, q */
                    double a = W[k * n + p], b = W[k * n + q];
                    W[k * n + p] = c * a - s * b;
                    W[k * n + q] = s * a + c * b;
                }
                for (int k = 0; k < n; k++) {   /* rotate rows p, q */
                    double a = W[p * n + k], b = W[q * n + k];
                    W[p * n + k] = c * a - s * b;
                    W[q * n + k] = s * a + c * b;
                }
            }
    }
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int i = 0; i < n; i++) {
        if (W[i * n + i] < *lo) *lo = W[i * n + i];
        if (W[i * n + i] > *hi) *hi = W[i * n + i];
    }
}

/* Solve S w = b for symmetric positive definite S by Cholesky (L in W).
 * Returns 0, or -1 if S is not positive definite. */
static int cholesky_solve(const double *S, const double *b, double *W, double *w, int n)
{
    memcpy(W, S, (size_t)n * n * sizeof *W);
    for (int j = 0; j < n; j++) {
        double s = W[j * n + j];
        for (int k = 0; k < j; k++) s -= W[j * n + k] * W[j * n + k];
        if (!(s > 0)) return -1;
        W[j * n + j] = sqrt(s);
        for (int i = j + 1; i < n; i++) {
            double t = W[i * n + j];
            for (int k = 0; k < j; k++) t -= W[i * n + k] * W[j * n + k];
            W[i * n + j] = t / W[j * n + j];
        }
    }
    for (int i = 0; i < n; i++) {   /* L u = b */
        double t = b[i];
        for (int k = 0; k < i; k++) t -= W[i * n + k] * w[k];
        w[i] = t / W[i * n + i];
    }
    for (int i = n - 1; i >= 0; i--) {   /* L^T w = u */
        double t = w[i];
        for (int k = i + 1; k < n; k++) t -= W[k * n + i] * w[k];
        w[i] = t / W[i * n + i];
    }
    return 0;
}

static double rel_dist(const double *a, const double *b, int n)
{
    double e = 0, m = 0;
    for (int i = 0; i < n; i++) {
        e += (a[i] - b[i]) * (a[i] - b[i]);
        m += b[i] * b[i];
    }
    return sqrt(e / m);
}

/* ---- one task ---------------------------------------------------------------- */

typedef struct ntask {
    int N, d;
    double *x;       /* N x d */
    double *y;       /* N */
    double *xq;      /* d */
    double *S;       /* d x d, (1/N) X^T X */
    double *b;       /* d, (1/N) X^T y */
    double *wstar;   /* d, closed form */
    double lmin, lmax;
} ntask;

static void ntask_free(ntask *t)
{
    free(t->x);
    free(t->y);
    free(t->xq);
    free(t->S);
    free(t->b);
    free(t->wstar);
    memset(t, 0, sizeof *t);
}

static uint64_t stream_of(const char *part, double kappa, int index)
{
    char name[96];
    snprintf(name, sizeof name, "newton/%s/%g/%d", part, kappa, index);
    return cb_rng_stream(name);
}

/* Build task `index` at condition number kappa. Returns 0, -1 (memory) or
 * -2 (S not positive definite after rounding). */
static int ntask_make(ntask *t, int N, int d, double kappa, uint64_t seed, int index)
{
    memset(t, 0, sizeof *t);
    t->N = N;
    t->d = d;
    t->x = malloc((size_t)N * d * sizeof *t->x);
    t->y = malloc((size_t)N * sizeof *t->y);
    t->xq = malloc((size_t)d * sizeof *t->xq);
    t->S = malloc((size_t)d * d * sizeof *t->S);
    t->b = malloc((size_t)d * sizeof *t->b);
    t->wstar = malloc((size_t)d * sizeof *t->wstar);
    double *Q = malloc((size_t)N * d * sizeof *Q), *V = malloc((size_t)d * d * sizeof *V);
    double *W = malloc((size_t)d * d * sizeof *W), *wt = malloc((size_t)d * sizeof *wt);
    float *g = malloc(((size_t)N * d + (size_t)d * d + 2 * (size_t)d) * sizeof *g);
    int rc = -1;
    if (!t->x || !t->y || !t->xq || !t->S || !t->b || !t->wstar || !Q || !V || !W || !wt || !g)
        goto out;
    cb_rng_normal(g, (size_t)N * d + (size_t)d * d + 2 * (size_t)d, seed, stream_of("g", kappa, index), 1.0f);
    for (size_t i = 0; i < (size_t)N * d; i++) Q[i] = g[i];
    for (size_t i = 0; i < (size_t)d * d; i++) V[i] = g[(size_t)N * d + i];
    for (int a = 0; a < d; a++) {
        wt[a] = g[(size_t)N * d + (size_t)d * d + a];
        t->xq[a] = g[(size_t)N * d + (size_t)d * d + d + a];
    }
    orthonormalize(Q, N, d);
    orthonormalize(V, d, d);
    /* x_j = sqrt(N) sum_a Q_ja sqrt(lambda_a) V_:a, lambda_a = kappa^(-a/(d-1)) */
    for (int j = 0; j < N; j++)
        for (int c = 0; c < d; c++) {
            double s = 0;
            for (int a = 0; a < d; a++) {
                double lam = d > 1 ? pow(kappa, -(double)a / (d - 1)) : 1;
                s += Q[j * d + a] * sqrt(lam) * V[c * d + a];
            }
            t->x[j * d + c] = (double)(float)(sqrt((double)N) * s);
        }
    for (int j = 0; j < N; j++) {
        double s = 0;
        for (int a = 0; a < d; a++) s += wt[a] * t->x[j * d + a];
        t->y[j] = (double)(float)s;
    }
    for (int a = 0; a < d; a++) {
        double sb = 0;
        for (int c = 0; c < d; c++) {
            double s = 0;
            for (int j = 0; j < N; j++) s += t->x[j * d + a] * t->x[j * d + c];
            t->S[a * d + c] = s / N;
        }
        for (int j = 0; j < N; j++) sb += t->y[j] * t->x[j * d + a];
        t->b[a] = sb / N;
    }
    sym_eig_range(t->S, W, d, &t->lmin, &t->lmax);
    rc = cholesky_solve(t->S, t->b, W, t->wstar, d) == 0 && t->lmin > 0 ? 0 : -2;
out:
    free(Q);
    free(V);
    free(W);
    free(wt);
    free(g);
    return rc;
}

/* ---- the LSA construction --------------------------------------------------- */

static double nmax(double a, double b) { return (isnan(a) || isnan(b)) ? NAN : (a > b ? a : b); }

typedef struct kstats {
    double iters_newton, iters_gd, order, err_it, err_ro, ro_scale, err_cl, cl_scale, nontriv;
    double err32[3], scale32;
} kstats;

static int run_f32_layers(const ntask *t, int K, double alpha, const char *backend, double *pred, char *err,
                          size_t errlen)
{
    const int N = t->N, d = t->d, D = 2 * d + 1;
    const size_t nz = (size_t)(N + 1) * D, dd = (size_t)D * D;
    const cb_kernel *k = cb_kernel_find("lsa_layer");
    const cb_impl *im = cb_impl_find("lsa_layer", backend);
    if (!k || !im) return cb_fail(err, errlen, "lsa_newton: no lsa_layer/%s in the registry", backend);
    float *z = calloc(nz, sizeof *z), *wf[4];
    double *w[4];
    int ok = z != NULL, rc = -1;
    for (int i = 0; i < 4; i++) {
        w[i] = malloc(dd * sizeof *w[i]);
        wf[i] = malloc(dd * sizeof *wf[i]);
        ok = ok && w[i] && wf[i];
    }
    if (!ok) {
        cb_fail(err, errlen, "lsa_newton: out of memory");
        goto out;
    }
    for (int j = 0; j < N; j++) {
        for (int a = 0; a < d; a++) z[(size_t)j * D + a] = (float)t->x[j * d + a];
        z[(size_t)j * D + 2 * d] = (float)t->y[j];
    }
    for (int a = 0; a < d; a++) z[(size_t)N * D + a] = (float)t->xq[a];
    for (int layer = 0; layer <= K + 1; layer++) {
        int kind = layer == 0 ? 0 : layer <= K ? 1 : 2;
        double scale = kind == 0 ? alpha : kind == 1 ? -ldexp(1.0, layer - 2) : ldexp(1.0, K);
        cb_lsa_newton_weights(kind, scale, d, w[0], w[1], w[2], w[3]);
        for (int i = 0; i < 4; i++)
            for (size_t e = 0; e < dd; e++) wf[i][e] = (float)w[i][e];
        cb_params kp = {0};
        if (cb_params_set(&kp, "N", N) || cb_params_set(&kp, "D", D)) {
            cb_fail(err, errlen, "lsa_newton: too many parameters");
            goto out;
        }
        const float *const in[5] = {z, wf[0], wf[1], wf[2], wf[3]};
        float *o = NULL;
        int64_t n = 0;
        if (cb_impl_run_arrays(k, im, &kp, in, &o, &n, err, errlen)) goto out;
        if (n != (int64_t)nz) {
            free(o);
            cb_fail(err, errlen, "lsa_newton: lsa_layer/%s returned %lld values", backend, (long long)n);
            goto out;
        }
        memcpy(z, o, nz * sizeof *z);
        free(o);
    }
    *pred = z[(size_t)N * D + 2 * d];
    rc = 0;
out:
    free(z);
    for (int i = 0; i < 4; i++) {
        free(w[i]);
        free(wf[i]);
    }
    return rc;
}

/* Everything for one task; accumulates into st. */
static int one_task(const ntask *t, double tol, int do_f32, kstats *st, char *err, size_t errlen)
{
    static const char *const backends[3] = {"ref", "blas", "dnnl"};
    const int N = t->N, d = t->d, D = 2 * d + 1;
    const size_t nz = (size_t)(N + 1) * D, dd = (size_t)D * D;
    const double alpha = 1.0 / (t->lmax * t->lmax);
    int rc = -1;
    double *M = malloc((size_t)d * d * sizeof *M), *T1 = malloc((size_t)d * d * sizeof *T1);
    double *T2 = malloc((size_t)d * d * sizeof *T2), *wk_ = malloc((size_t)d * sizeof *wk_);
    double *Ms = malloc((size_t)(NEWTON_KMAX + 1) * d * d * sizeof *Ms);
    double *e = malloc((size_t)(NEWTON_KMAX + 1) * sizeof *e);
    double *z = calloc(nz, sizeof *z), *z2 = malloc(nz * sizeof *z2), *zr = malloc(nz * sizeof *zr);
    double *mx = malloc((size_t)d * sizeof *mx), *w[4];
    double *vlsa = malloc((size_t)(N + 1) * d * sizeof *vlsa), *mref = malloc((size_t)(N + 1) * d * sizeof *mref);
    int ok = M && T1 && T2 && wk_ && Ms && e && z && z2 && zr && mx && vlsa && mref;
    for (int i = 0; i < 4; i++) {
        w[i] = malloc(dd * sizeof *w[i]);
        ok = ok && w[i];
    }
    if (!ok) {
        cb_fail(err, errlen, "lsa_newton: out of memory");
        goto out;
    }
    /* Newton, matrix form */
    for (int i = 0; i < d * d; i++) M[i] = alpha * t->S[i];
    int kn = -1;
    for (int k = 0; k <= NEWTON_KMAX; k++) {
        memcpy(Ms + (size_t)k * d * d, M, (size_t)d * d * sizeof *M);
        matvec(M, t->b, wk_, d);
        e[k] = rel_dist(wk_, t->wstar, d);
        if (kn < 0 && e[k] <= tol) kn = k;
        if (k == NEWTON_KMAX) break;
        matmul(M, t->S, T1, d);    /* M S */
        matmul(T1, M, T2, d);      /* M S M */
        for (int i = 0; i < d * d; i++) M[i] = 2 * M[i] - T2[i];
    }
    if (kn < 0) {
        cb_fail(err, errlen, "lsa_newton: Newton did not reach %g in %d iterations", tol, NEWTON_KMAX);
        goto out;
    }
    /* its order of convergence from three successive errors,
     * p_k = log(e_{k+1} / e_k) / log(e_k / e_{k-1}): for e_{k+1} = e_k^2 / c
     * it is 2 whatever c; taken while e_{k-1} < 0.1 (the quadratic phase)
     * and e_{k+1} > 1e-9 (above the rounding floor, about kappa * 1e-16);
     * the median of those */
    double ratios[NEWTON_KMAX];
    int nr = 0;
    for (int k = 1; k < NEWTON_KMAX; k++)
        if (e[k - 1] < 0.1 && e[k + 1] > 1e-9 && e[k] < e[k - 1] && e[k + 1] < e[k])
            ratios[nr++] = log(e[k + 1] / e[k]) / log(e[k] / e[k - 1]);
    for (int i = 1; i < nr; i++)   /* insertion sort, nr is small */
        for (int j = i; j > 0 && ratios[j - 1] > ratios[j]; j--) {
            double s = ratios[j];
            ratios[j] = ratios[j - 1];
            ratios[j - 1] = s;
        }
    double order = nr ? (nr % 2 ? ratios[nr / 2] : 0.5 * (ratios[nr / 2 - 1] + ratios[nr / 2])) : NAN;
    /* GD with the optimal fixed step */
    const double eta = 2.0 / (t->lmin + t->lmax);
    for (int a = 0; a < d; a++) wk_[a] = 0;
    long kg = -1;
    for (long k = 0; k <= GD_KMAX; k++) {
        if (rel_dist(wk_, t->wstar, d) <= tol) {
            kg = k;
            break;
        }
        matvec(t->S, wk_, mx, d);
        for (int a = 0; a < d; a++) wk_[a] -= eta * (mx[a] - t->b[a]);
    }
    if (kg < 0) {
        cb_fail(err, errlen, "lsa_newton: GD did not reach %g in %ld steps", tol, GD_KMAX);
        goto out;
    }
    /* the LSA construction: K = kn + 2 Newton layers */
    const int K = kn + 2 <= NEWTON_KMAX ? kn + 2 : NEWTON_KMAX;
    for (int j = 0; j < N; j++) {
        for (int a = 0; a < d; a++) z[(size_t)j * D + a] = t->x[j * d + a];
        z[(size_t)j * D + 2 * d] = t->y[j];
    }
    for (int a = 0; a < d; a++) z[(size_t)N * D + a] = t->xq[a];
    double err_it = 0, err_ro = 0, ro_scale = 0, pred = NAN;
    for (int layer = 0; layer <= K; layer++) {
        const double scale = layer == 0 ? alpha : -ldexp(1.0, layer - 2);
        cb_lsa_newton_weights(layer == 0 ? 0 : 1, scale, d, w[0], w[1], w[2], w[3]);
        if (cb_lsa_forward_d(z, N, D, w[0], w[1], w[2], w[3], z2)) {
            cb_fail(err, errlen, "lsa_newton: out of memory");
            goto out;
        }
        if (layer == 1) {
            double ch = cb_lsa_change(z2, z, nz);
            if (!(ch >= st->nontriv)) st->nontriv = ch;
        }
        memcpy(z, z2, nz * sizeof *z);
        /* iterate: 2^k v_i against M_k x_i for every token */
        const double *Mk = Ms + (size_t)layer * d * d;
        for (int i = 0; i <= N; i++) {
            const double *xi = i < N ? t->x + (size_t)i * d : t->xq;
            matvec(Mk, xi, mref + (size_t)i * d, d);
            for (int a = 0; a < d; a++) vlsa[(size_t)i * d + a] = ldexp(z[(size_t)i * D + d + a], layer);
        }
        err_it = nmax(err_it, cb_lsa_rel_err(vlsa, mref, (size_t)(N + 1) * d));
        /* readout on a copy: x_q . M_k b */
        cb_lsa_newton_weights(2, ldexp(1.0, layer), d, w[0], w[1], w[2], w[3]);
        if (cb_lsa_forward_d(z, N, D, w[0], w[1], w[2], w[3], zr)) {
            cb_fail(err, errlen, "lsa_newton: out of memory");
            goto out;
        }
        matvec(Mk, t->b, mx, d);
        double want = 0;
        for (int a = 0; a < d; a++) want += t->xq[a] * mx[a];
        pred = zr[(size_t)N * D + 2 * d];
        err_ro = nmax(err_ro, fabs(pred - want));
        ro_scale = nmax(ro_scale, fabs(want));
    }
    double ystar = 0;
    for (int a = 0; a < d; a++) ystar += t->xq[a] * t->wstar[a];
    st->iters_newton = nmax(st->iters_newton, kn);
    st->iters_gd = nmax(st->iters_gd, (double)kg);
    /* keep the order farthest from 2 (NaN wins) */
    if (!isnan(st->order) && !(fabs(order - 2) <= fabs(st->order - 2))) st->order = order;
    st->err_it = nmax(st->err_it, err_it);
    st->err_ro = nmax(st->err_ro, err_ro / ro_scale);
    st->err_cl = nmax(st->err_cl, fabs(pred - ystar));
    st->cl_scale = nmax(st->cl_scale, fabs(ystar));
    if (do_f32) {
        for (int b = 0; b < 3; b++) {
            double p32 = NAN;
            if (run_f32_layers(t, K, alpha, backends[b], &p32, err, errlen)) goto out;
            st->err32[b] = nmax(st->err32[b], fabs(p32 - ystar));
        }
        st->scale32 = nmax(st->scale32, fabs(ystar));
    }
    rc = 0;
out:
    free(M);
    free(T1);
    free(T2);
    free(wk_);
    free(Ms);
    free(e);
    free(z);
    free(z2);
    free(zr);
    free(mx);
    free(vlsa);
    free(mref);
    for (int i = 0; i < 4; i++) free(w[i]);
    return rc;
}

static int add(cb_metrics *ms, const char *name, double kappa, int N, int d, double v, char *err, size_t errlen)
{
    cb_params at = {0};
    if (cb_params_set(&at, "kappa", kappa) || cb_params_set(&at, "N", N) || cb_params_set(&at, "d", d) ||
        cb_metrics_add(ms, name, &at, v))
        return cb_fail(err, errlen, "lsa_newton: out of memory");
    return 0;
}

static int probe_run(const cb_params *params, uint64_t seed, cb_metrics *ms, char *err, size_t errlen)
{
    static const char *const backends[3] = {"ref", "blas", "dnnl"};
    cb_params p = *params;
    if (cb_params_default(&p, "tasks", 5) || cb_params_default(&p, "N", 40) || cb_params_default(&p, "d", 10) ||
        cb_params_default(&p, "tol", 1e-6))
        return cb_fail(err, errlen, "lsa_newton: too many parameters");
    const double tv = cb_params_get(&p, "tasks", 0), Nv = cb_params_get(&p, "N", 0), dv = cb_params_get(&p, "d", 0);
    const double tol = cb_params_get(&p, "tol", 0);
    if (!(tv >= 1 && tv <= 1000 && tv == floor(tv)))
        return cb_fail(err, errlen, "lsa_newton: tasks = %g must be an integer in [1, 1000]", tv);
    if (!(dv >= 2 && dv <= 64 && dv == floor(dv)))
        return cb_fail(err, errlen, "lsa_newton: d = %g must be an integer in [2, 64]", dv);
    if (!(Nv >= dv && Nv <= 4096 && Nv == floor(Nv)))
        return cb_fail(err, errlen, "lsa_newton: N = %g must be an integer in [d, 4096]", Nv);
    if (!(tol >= 1e-12 && tol < 1))
        return cb_fail(err, errlen, "lsa_newton: tol = %g must be in [1e-12, 1)", tol);
    const int tasks = (int)tv, N = (int)Nv, d = (int)dv;
    double fx[N_KAPPA], fy[N_KAPPA];   /* (Newton iterations, ln GD steps), kappa >= 10 */
    int nf = 0;
    for (int kk = 0; kk < N_KAPPA; kk++) {
        const double kappa = kappas[kk];
        kstats st;
        memset(&st, 0, sizeof st);
        st.order = 2;
        st.nontriv = INFINITY;
        const int do_f32 = kappa == 100;
        for (int ti = 0; ti < tasks; ti++) {
            ntask t;
            int r = ntask_make(&t, N, d, kappa, seed, ti);
            if (r != 0) {
                ntask_free(&t);
                return cb_fail(err, errlen, r == -1 ? "lsa_newton: out of memory"
                                                    : "lsa_newton: S not positive definite at kappa = %g", kappa);
            }
            r = one_task(&t, tol, do_f32, &st, err, errlen);
            ntask_free(&t);
            if (r) return -1;
        }
        if (kappa == 1) {
            if (add(ms, "iters_newton_kappa1", kappa, N, d, st.iters_newton, err, errlen) ||
                add(ms, "iters_gd_kappa1", kappa, N, d, st.iters_gd, err, errlen))
                return -1;
        } else if ((fx[nf] = st.iters_newton, fy[nf++] = log(st.iters_gd), 0) ||
                   add(ms, "iters_newton", kappa, N, d, st.iters_newton, err, errlen) ||
                   add(ms, "iters_gd", kappa, N, d, st.iters_gd, err, errlen) ||
                   add(ms, "newton_order", kappa, N, d, st.order, err, errlen)) {
            return -1;
        }
        if (add(ms, "err64_iterates", kappa, N, d, st.err_it, err, errlen) ||
            add(ms, "err64_readout", kappa, N, d, st.err_ro, err, errlen) ||
            add(ms, "err64_closed", kappa, N, d, st.err_cl / st.cl_scale, err, errlen) ||
            add(ms, "nontriv64", kappa, N, d, st.nontriv, err, errlen))
            return -1;
        for (int b = 0; b < 3 && do_f32; b++) {
            char name[CB_NAME_MAX];
            snprintf(name, sizeof name, "err32_%s", backends[b]);
            if (add(ms, name, kappa, N, d, st.err32[b] / st.scale32, err, errlen)) return -1;
        }
    }
    /* GD steps bought by one more Newton iteration: exp of the least-squares
     * slope of ln(iters_gd) against iters_newton over kappa = 10..1e4 */
    double mx = 0, my = 0, sxy = 0, sxx = 0;
    for (int i = 0; i < nf; i++) {
        mx += fx[i] / nf;
        my += fy[i] / nf;
    }
    for (int i = 0; i < nf; i++) {
        sxy += (fx[i] - mx) * (fy[i] - my);
        sxx += (fx[i] - mx) * (fx[i] - mx);
    }
    cb_params at = {0};
    if (cb_params_set(&at, "N", N) || cb_params_set(&at, "d", d) ||
        cb_metrics_add(ms, "gd_growth_per_newton_iter", &at, exp(sxy / sxx)))
        return cb_fail(err, errlen, "lsa_newton: out of memory");
    return 0;
}

const cb_probe cb_probe_lsa_newton = {
    .name = "lsa_newton",
    .summary = "Newton-Schulz for in-context least squares as LSA layers (fp64, fp32) vs the matrix iteration, "
               "the closed form and GD over condition numbers 1..1e4",
    .run = probe_run,
};
