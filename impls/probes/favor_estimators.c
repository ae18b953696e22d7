/* favor_estimators.c — probe: the random-feature estimators of FAVOR+.
 *
 * Choromanski et al. (2021) estimate the softmax kernel SM(x, y) = exp(x.y)
 * with m random features w_1..w_m ~ N(0, I_d) (Lemma 1, Lemma 2):
 *
 *   positive  SM+_m   = (1/m) sum_l exp(w_l.x - |x|^2/2) exp(w_l.y - |y|^2/2)
 *                     = (1/m) sum_l exp(w_l.(x+y) - (|x|^2 + |y|^2)/2)
 *   trig      SMtrig_m = exp((|x|^2 + |y|^2)/2) (1/m) sum_l cos(w_l.(x-y))
 *
 * both unbiased, with closed-form mean squared errors (relative to SM^2,
 * s = |x+y|^2, t = |x-y|^2):
 *
 *   MSE+/SM^2    = (e^s - 1) / m
 *   MSEtrig/SM^2 = e^s SM^-4 (1 - e^-t)^2 / (2m)
 *
 * and with orthogonal features (the rows of each d x d block orthogonalized,
 * then rescaled to chi(d)-distributed norms so each row is still N(0, I_d))
 * Theorem 2 bounds the positive MSE by MSE+ minus
 * 2 (min(m, d) - 1) / (m (d + 2)) (SM - exp(-(|x|^2 + |y|^2)/2))^2
 * (for m > d, blocks of d are independent: the gap of one block over m/d).
 *
 * Part A, for d in {d1, d2} (16 and 64): P pairs (x, y) with |x|, |y| in
 * [0.2, 0.8] and random directions, and T independent draws of a Gaussian
 * G [M x d], M = m_max. In each draw the first m rows of G give the iid
 * estimator with m features for every m = 16, 32, .., M (nested prefixes:
 * each is exactly an m-feature estimator; the m's share draws, which only
 * correlates their errors), and the block-orthogonalized G the orthogonal
 * one (orthogonal rows by Cholesky QR of each block, twice; norms: those of
 * G's own rows, which are independent of the directions Gram-Schmidt gives,
 * since Gram-Schmidt ignores row scaling). Emitted at {d, m}:
 *   mse_pos_iid, mse_pos_orth, mse_trig_iid    mean over pairs of MSE/SM^2
 *   mse_pos_theory, mse_trig_theory            the closed forms, same mean
 *   mse_pos_ratio, mse_trig_ratio              mean over pairs of measured/closed form
 *   mse_orth_thm2_ratio                        mean over pairs of measured orth / Theorem 2 bound
 *   orth_iid_ratio                             mean over pairs of orth/iid MSE
 *   bias_z_pos_iid, bias_z_pos_orth, bias_z_trig_iid
 *                                              max over pairs of |mean error| / s.e.
 * and, for 16 pairs with x.y in [-4, -2] (|x|, |y| in [1.45, 2], |x+y|^2 <=
 * 1 so that the positive estimator's MSE is measurable with T draws):
 *   pos_trig_ratio, pos_trig_ratio_theory      max over pairs of MSE+/MSEtrig
 *
 * Part C, d = att_d (16): attention of att_n tokens, q, k entries N(0,
 * d^-1/2) (so |q / d^1/4| ~ 1) and v N(0, 1), against exact softmax
 * attention, all in double: for each m the normalized L2 error
 * |o_hat - o|_F / |o|_F, mean over att_reps draws of inputs and features:
 *   att_err_pos_iid, att_err_pos_orth, att_err_trig_iid     at {d, m}
 * Then the float32 favor_attention kernels run on the first draw with
 * m_eq = min(256, M) iid features (the same numbers, rounded to float once)
 * and their output is held to the probe's double one:
 *   kernel_err32_<ref|blas|dnnl>  max |o32 - o64| / max |o64|  at {d, m, N}
 *
 * Params (defaults): d1 16, d2 64 (0: skip), pairs 48, trials 4000,
 * m_max 1024 (a power of two >= 16), att_d 16, att_n 1024, att_reps 16.
 * Other parameters (the spec's H, d, ...) are ignored.
 */
#include "kernel.h"
#include "common/relerr.h"
#include "rng.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { SMALL_PAIRS = 16, MAX_MS = 16 };

typedef struct opts {
    int d1, d2, pairs, trials, m_max, att_d, att_n, att_reps;
} opts;

/* ---- small helpers ---------------------------------------------------- */

static double dot(const double *a, const double *b, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* A unit vector in R^d from normal draws of `stream` starting at index 0. */
static void unit_vector(double *u, int d, uint64_t seed, const char *name)
{
    cb_rng_normal_d(u, (size_t)d, seed, cb_rng_stream(name), 1.0);
    double n = sqrt(dot(u, u, d));
    for (int a = 0; a < d; a++)
        u[a] /= n;
}

static double uniform(uint64_t seed, const char *name, uint64_t i, double lo, double hi)
{
    return lo + (hi - lo) * cb_rng_uniform_d(seed, cb_rng_stream(name), i);
}

/* In-place Cholesky of the n x n lower triangle of A (row-major, lda):
 * A = L L^T. Returns -1 on a non-positive pivot. */
static int cholesky(double *A, int n, int lda)
{
    for (int j = 0; j < n; j++) {
        double s = A[j * lda + j];
        for (int k = 0; k < j; k++)
            s -= A[j * lda + k] * A[j * lda + k];
        if (!(s > 0))
            return -1;
        double ljj = sqrt(s);
        A[j * lda + j] = ljj;
        for (int i = j + 1; i < n; i++) {
            double t = A[i * lda + j];
            for (int k = 0; k < j; k++)
                t -= A[i * lda + k] * A[j * lda + k];
            A[i * lda + j] = t / ljj;
        }
    }
    return 0;
}

/* Rows of the d x d block B (row-major) made orthonormal in place: B = L Q,
 * Q = L^-1 B with G G^T = L L^T (Cholesky QR, which is Gram-Schmidt on the
 * rows); done twice, so Q is orthonormal to rounding. gram: d*d scratch. */
static int orthonormalize(double *B, int d, double *gram)
{
    for (int pass = 0; pass < 2; pass++) {
        cblas_dsyrk(CblasRowMajor, CblasLower, CblasNoTrans, d, d, 1.0, B, d, 0.0, gram, d);
        if (cholesky(gram, d, d))
            return -1;
        cblas_dtrsm(CblasRowMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit, d, d, 1.0, gram, d,
                    B, d);
    }
    return 0;
}

/* W = the block-orthogonal features made from G (nb*d x d): block b of G
 * orthonormalized, row i rescaled to |g_i|. */
static int orthogonal_features(const double *G, int nb, int d, double *W, double *gram)
{
    for (int b = 0; b < nb; b++) {
        const double *g = G + (size_t)b * d * d;
        double *w = W + (size_t)b * d * d;
        memcpy(w, g, (size_t)d * d * sizeof *w);
        if (orthonormalize(w, d, gram))
            return -1;
        for (int i = 0; i < d; i++) {
            double n = sqrt(dot(g + (size_t)i * d, g + (size_t)i * d, d));
            for (int a = 0; a < d; a++)
                w[(size_t)i * d + a] *= n;
        }
    }
    return 0;
}

/* G [nb*d x d] of draw `t` for dimension d under `tag`, one stream per
 * d x d block (small fills stay on this thread: the generator goes
 * OpenMP-parallel from 2^16 values, and its idle threads would then spin
 * against OpenBLAS's between the many small calls of a draw). */
static void draw_gaussian(double *G, int nb, int d, uint64_t seed, const char *tag, int t)
{
    for (int b = 0; b < nb; b++) {
        char name[96];
        snprintf(name, sizeof name, "favor_estimators/%s/d=%d/t=%d/b=%d", tag, d, t, b);
        cb_rng_normal_d(G + (size_t)b * d * d, (size_t)d * d, seed, cb_rng_stream(name), 1.0);
    }
}

static int add_metric(cb_metrics *ms, const char *name, int d, int m, double v)
{
    cb_params at = {0};
    if (cb_params_set(&at, "d", d) || cb_params_set(&at, "m", m))
        return -1;
    return cb_metrics_add(ms, name, &at, v);
}

/* ---- part A: the kernel estimators on fixed pairs ------------------------ */

typedef struct pair {
    double sm, lam;          /* exp(x.y), exp(-(|x|^2 + |y|^2)/2) */
    double s, t;             /* |x+y|^2, |x-y|^2 */
} pair;

/* Running error sums of one estimator over the draws: per pair and m. */
typedef struct acc {
    double *sum, *sum2;      /* [pairs x K] */
} acc;

static void acc_free(acc *a)
{
    free(a->sum);
    free(a->sum2);
}

static int acc_init(acc *a, int n)
{
    a->sum = calloc((size_t)n, sizeof *a->sum);
    a->sum2 = calloc((size_t)n, sizeof *a->sum2);
    return a->sum && a->sum2 ? 0 : -1;
}

/* Accumulate the estimator whose l-th term is f(proj[l]) over the prefixes
 * ms[0..K) of proj (one pair, one draw): err = mean of the first m terms - sm. */
static void accumulate(acc *a, int p, int K, const int *ms, const double *terms, double sm)
{
    double cum = 0;
    int l = 0;
    for (int k = 0; k < K; k++) {
        for (; l < ms[k]; l++)
            cum += terms[l];
        double e = cum / ms[k] - sm;
        a->sum[p * K + k] += e;
        a->sum2[p * K + k] += e * e;
    }
}

/* Pair (x, y) in R^d: s = x+y and t = x-y go to S and T (d each). */
static void set_pair(int d, const double *x, const double *y, double *S, double *T, pair *pr)
{
    for (int a = 0; a < d; a++) {
        S[a] = x[a] + y[a];
        T[a] = x[a] - y[a];
    }
    pr->sm = exp(dot(x, y, d));
    pr->lam = exp(-(dot(x, x, d) + dot(y, y, d)) / 2);
    pr->s = dot(S, S, d);
    pr->t = dot(T, T, d);
}

/* Unit vectors u, v of R^d (v perpendicular to u when perp), for pair p of
 * set `tag`. scratch: 2d. */
static void pair_directions(int d, uint64_t seed, const char *tag, int p, int perp, double *u, double *v)
{
    char name[96];
    snprintf(name, sizeof name, "favor_estimators/%s/u/d=%d/p=%d", tag, d, p);
    unit_vector(u, d, seed, name);
    snprintf(name, sizeof name, "favor_estimators/%s/v/d=%d/p=%d", tag, d, p);
    unit_vector(v, d, seed, name);
    if (!perp || d < 2)
        return;
    double uv = dot(u, v, d), nv = 0;
    for (int a = 0; a < d; a++) {
        v[a] -= uv * u[a];
        nv += v[a] * v[a];
    }
    nv = sqrt(nv);
    for (int a = 0; a < d; a++)
        v[a] /= nv;
}

static int part_a(const opts *o, int d, uint64_t seed, cb_metrics *out, char *err, size_t errlen)
{
    const int P = o->pairs, P2 = d >= 2 ? SMALL_PAIRS : 0, M = o->m_max, T = o->trials;
    const int nb = (M + d - 1) / d, rows = nb * d, ncol = 2 * P + 2 * P2;
    int ms[MAX_MS], K = 0;
    for (int m = 16; m <= M && K < MAX_MS; m *= 2)
        ms[K++] = m;
    int rc = -1;
    pair *pa = calloc((size_t)(P + P2), sizeof *pa);
    double *X = malloc((size_t)ncol * d * sizeof *X);          /* ncol x d */
    double *G = malloc((size_t)rows * d * sizeof *G);
    double *W = malloc((size_t)rows * d * sizeof *W);
    double *gram = malloc((size_t)d * d * sizeof *gram);
    double *Ci = malloc((size_t)ncol * M * sizeof *Ci);        /* projections on G */
    double *Co = malloc((size_t)P * M * sizeof *Co);           /* on the orthogonal W */
    double *terms = malloc((size_t)(P > P2 ? P : P2) * M * sizeof *terms);   /* one row per pair */
    double *scratch = malloc((size_t)4 * d * sizeof *scratch);
    acc a_pi = {0}, a_po = {0}, a_tr = {0}, b_pi = {0}, b_tr = {0};
    if (!pa || !X || !G || !W || !gram || !Ci || !Co || !terms || !scratch || acc_init(&a_pi, P * K) ||
        acc_init(&a_po, P * K) || acc_init(&a_tr, P * K) || acc_init(&b_pi, (P2 ? P2 : 1) * K) ||
        acc_init(&b_tr, (P2 ? P2 : 1) * K)) {
        cb_fail(err, errlen, "favor_estimators: out of memory");
        goto done;
    }
    /* the pairs: rows [s_A | t_A | s_B | t_B] of X (s = x+y, t = x-y).
     * A: |x|, |y| uniform in [0.2, 0.8], independent uniform directions. */
    double *u = scratch, *v = scratch + d, *x = scratch + 2 * d, *y = scratch + 3 * d;
    for (int p = 0; p < P; p++) {
        double rx = uniform(seed, "favor_estimators/A/rx", (uint64_t)(d * 1000 + p), 0.2, 0.8);
        double ry = uniform(seed, "favor_estimators/A/ry", (uint64_t)(d * 1000 + p), 0.2, 0.8);
        pair_directions(d, seed, "A", p, 0, u, v);
        for (int a = 0; a < d; a++) {
            x[a] = rx * u[a];
            y[a] = ry * v[a];
        }
        set_pair(d, x, y, X + (size_t)p * d, X + (size_t)(P + p) * d, &pa[p]);
    }
    /* B: small kernel values. |x| in [1.7, 2], |y| = |x| +- 0.25, and the
     * angle set so that |x+y|^2 = s, s uniform in [0.1, 1]; then
     * x.y = (s - |x|^2 - |y|^2)/2 <= (1 - 1.7^2 - 1.45^2)/2 < -2. */
    for (int p = 0; p < P2; p++) {
        double rx = uniform(seed, "favor_estimators/B/rx", (uint64_t)(d * 1000 + p), 1.7, 2.0);
        double ry = rx + uniform(seed, "favor_estimators/B/ry", (uint64_t)(d * 1000 + p), -0.25, 0.25);
        double sv = uniform(seed, "favor_estimators/B/s", (uint64_t)(d * 1000 + p), 0.1, 1.0);
        double c = (sv - rx * rx - ry * ry) / 2, along = c / rx, across = ry * ry - along * along;
        across = across > 0 ? sqrt(across) : 0;
        pair_directions(d, seed, "B", p, 1, u, v);
        for (int a = 0; a < d; a++) {
            x[a] = rx * u[a];
            y[a] = along * u[a] + across * v[a];
        }
        set_pair(d, x, y, X + (size_t)(2 * P + p) * d, X + (size_t)(2 * P + P2 + p) * d, &pa[P + p]);
    }

    for (int t = 0; t < T; t++) {
        draw_gaussian(G, nb, d, seed, "G", t);
        if (orthogonal_features(G, nb, d, W, gram)) {
            cb_fail(err, errlen, "favor_estimators: a Gaussian block was singular (d = %d, draw %d)", d, t);
            goto done;
        }
        /* Ci = X^T G^T (ncol x M), Co = S_A^T W^T (P x M) */
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, ncol, M, d, 1.0, X, d, G, d, 0.0, Ci, M);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, P, M, d, 1.0, X, d, W, d, 0.0, Co, M);
        for (int p = 0; p < P; p++) {
            const pair *pr = &pa[p];
            const double *ci = Ci + (size_t)p * M, *co = Co + (size_t)p * M, *ct = Ci + (size_t)(P + p) * M;
            double *tp = terms + (size_t)p * M;
            for (int l = 0; l < M; l++)
                tp[l] = pr->lam * exp(ci[l]);
            accumulate(&a_pi, p, K, ms, tp, pr->sm);
            for (int l = 0; l < M; l++)
                tp[l] = pr->lam * exp(co[l]);
            accumulate(&a_po, p, K, ms, tp, pr->sm);
            for (int l = 0; l < M; l++)
                tp[l] = cos(ct[l]) / pr->lam;
            accumulate(&a_tr, p, K, ms, tp, pr->sm);
        }
        for (int p = 0; p < P2; p++) {
            const pair *pr = &pa[P + p];
            const double *ci = Ci + (size_t)(2 * P + p) * M, *ct = Ci + (size_t)(2 * P + P2 + p) * M;
            double *tp = terms + (size_t)p * M;
            for (int l = 0; l < M; l++)
                tp[l] = pr->lam * exp(ci[l]);
            accumulate(&b_pi, p, K, ms, tp, pr->sm);
            for (int l = 0; l < M; l++)
                tp[l] = cos(ct[l]) / pr->lam;
            accumulate(&b_tr, p, K, ms, tp, pr->sm);
        }
    }

    for (int k = 0; k < K; k++) {
        const int m = ms[k];
        double v_pi = 0, v_po = 0, v_tr = 0, th_p = 0, th_t = 0, r_p = 0, r_t = 0, r_o = 0, r_oi = 0;
        double z_pi = 0, z_po = 0, z_tr = 0;
        const acc *as[3] = {&a_pi, &a_po, &a_tr};
        double *zs[3] = {&z_pi, &z_po, &z_tr};
        for (int p = 0; p < P; p++) {
            const pair *pr = &pa[p];
            const int i = p * K + k;
            double sm2 = pr->sm * pr->sm;
            double mse[3];
            for (int e = 0; e < 3; e++) {
                double mean = as[e]->sum[i] / T;
                mse[e] = as[e]->sum2[i] / T;
                double var = T > 1 ? (as[e]->sum2[i] - T * mean * mean) / (T - 1) : 0;
                double z = var > 0 ? fabs(mean) / sqrt(var / T) : (mean == 0 ? 0 : INFINITY);
                if (!(z <= *zs[e])) *zs[e] = z;
            }
            double tp = (exp(pr->s) - 1) / m;
            double tt = exp(pr->s) / (sm2 * sm2) * (1 - exp(-pr->t)) * (1 - exp(-pr->t)) / (2.0 * m);
            double gap = 2.0 * ((m < d ? m : d) - 1) / (m * (d + 2.0)) * (pr->sm - pr->lam) * (pr->sm - pr->lam) / sm2;
            v_pi += mse[0] / sm2;
            v_po += mse[1] / sm2;
            v_tr += mse[2] / sm2;
            th_p += tp;
            th_t += tt;
            r_p += mse[0] / sm2 / tp;
            r_t += mse[2] / sm2 / tt;
            r_o += mse[1] / sm2 / (tp - gap);
            r_oi += mse[1] / mse[0];
        }
        double worst = 0, worst_th = 0;
        for (int p = 0; p < P2; p++) {
            const pair *pr = &pa[P + p];
            const int i = p * K + k;
            double ratio = b_pi.sum2[i] / b_tr.sum2[i];
            double th = 2 * pow(pr->sm, 4) * (1 - exp(-pr->s)) / ((1 - exp(-pr->t)) * (1 - exp(-pr->t)));
            if (isnan(ratio) || ratio > worst) worst = ratio;   /* a NaN stays */
            if (th > worst_th) worst_th = th;
        }
        if (add_metric(out, "mse_pos_iid", d, m, v_pi / P) || add_metric(out, "mse_pos_orth", d, m, v_po / P) ||
            add_metric(out, "mse_trig_iid", d, m, v_tr / P) ||
            add_metric(out, "mse_pos_theory", d, m, th_p / P) ||
            add_metric(out, "mse_trig_theory", d, m, th_t / P) ||
            add_metric(out, "mse_pos_ratio", d, m, r_p / P) || add_metric(out, "mse_trig_ratio", d, m, r_t / P) ||
            add_metric(out, "mse_orth_thm2_ratio", d, m, r_o / P) ||
            add_metric(out, "orth_iid_ratio", d, m, r_oi / P) ||
            add_metric(out, "bias_z_pos_iid", d, m, z_pi) || add_metric(out, "bias_z_pos_orth", d, m, z_po) ||
            add_metric(out, "bias_z_trig_iid", d, m, z_tr) ||
            (P2 && (add_metric(out, "pos_trig_ratio", d, m, worst) ||
                    add_metric(out, "pos_trig_ratio_theory", d, m, worst_th)))) {
            cb_fail(err, errlen, "favor_estimators: out of memory");
            goto done;
        }
    }
    rc = 0;
done:
    acc_free(&a_pi);
    acc_free(&a_po);
    acc_free(&a_tr);
    acc_free(&b_pi);
    acc_free(&b_tr);
    free(pa);
    free(X);
    free(G);
    free(W);
    free(gram);
    free(Ci);
    free(Co);
    free(terms);
    free(scratch);
    return rc;
}

/* ---- part C: attention output against exact softmax attention ------------ */

typedef struct att {
    int N, d, dv, M, K, ms[MAX_MS];
    double *X, *Y, *Vaug;      /* scaled queries, keys [N x d]; [v | 1] [N x (dv+1)] */
    double *O;                 /* exact output [N x dv] */
    double *A;                 /* N x N scores; then projections */
    double *Fq, *Fk;           /* features [N x 2M] */
    double *Sf;                /* [2M x (dv+1)] */
    double *R;                 /* [N x (dv+1)] */
    double *est;               /* the m_eq iid output of draw 0 [N x dv] */
} att;

/* |R[:, :dv] / R[:, dv] - O|_F / |O|_F; the m_eq estimate is kept in out. */
static double rel_l2(const att *a, double *out)
{
    double num = 0, den = 0;
    for (int i = 0; i < a->N; i++) {
        const double *r = a->R + (size_t)i * (a->dv + 1);
        for (int e = 0; e < a->dv; e++) {
            double o = r[e] / r[a->dv], y = a->O[(size_t)i * a->dv + e];
            if (out) out[(size_t)i * a->dv + e] = o;
            num += (o - y) * (o - y);
            den += y * y;
        }
    }
    return sqrt(num / den);
}

/* Exact softmax attention in double: O = softmax(X Y^T) V. */
static void exact_attention(att *a)
{
    const int N = a->N, dv = a->dv;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, N, a->d, 1.0, a->X, a->d, a->Y, a->d, 0.0, a->A, N);
    for (int i = 0; i < N; i++) {
        double *r = a->A + (size_t)i * N, mx = -INFINITY, sum = 0;
        for (int j = 0; j < N; j++)
            mx = r[j] > mx ? r[j] : mx;
        for (int j = 0; j < N; j++) {
            r[j] = exp(r[j] - mx);
            sum += r[j];
        }
        for (int j = 0; j < N; j++)
            r[j] /= sum;
    }
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, dv, N, 1.0, a->A, N, a->Vaug, dv + 1, 0.0, a->O, dv);
}

/* Positive features of X (rows shifted by their max: cancels per query) and
 * Y (shifted by |y|^2/2 and one global max: cancels in S and z) on the M
 * features W, into Fq, Fk [N x M]; then errors for every m prefix into err[k]
 * (added); the m_eq estimate into est when est != NULL. */
static void favor_positive(att *a, const double *W, double *err, int m_eq, double *est)
{
    const int N = a->N, d = a->d, M = a->M, dv1 = a->dv + 1;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, M, d, 1.0, a->X, d, W, d, 0.0, a->Fq, M);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, M, d, 1.0, a->Y, d, W, d, 0.0, a->Fk, M);
    double gmax = -INFINITY;
    for (int i = 0; i < N; i++) {
        double *k = a->Fk + (size_t)i * M;
        double hn = dot(a->Y + (size_t)i * d, a->Y + (size_t)i * d, d) / 2;
        for (int l = 0; l < M; l++) {
            k[l] -= hn;
            gmax = k[l] > gmax ? k[l] : gmax;
        }
    }
    for (int i = 0; i < N; i++) {
        double *q = a->Fq + (size_t)i * M, *k = a->Fk + (size_t)i * M, mx = -INFINITY;
        for (int l = 0; l < M; l++)
            mx = q[l] > mx ? q[l] : mx;
        for (int l = 0; l < M; l++) {
            q[l] = exp(q[l] - mx);
            k[l] = exp(k[l] - gmax);
        }
    }
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, M, dv1, N, 1.0, a->Fk, M, a->Vaug, dv1, 0.0, a->Sf, dv1);
    for (int k = 0; k < a->K; k++) {
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, dv1, a->ms[k], 1.0, a->Fq, M, a->Sf, dv1, 0.0,
                    a->R, dv1);
        err[k] += rel_l2(a, est && a->ms[k] == m_eq ? est : NULL);
    }
}

/* Trigonometric features (sin, cos of W x, interleaved, so the first 2m
 * columns are the first m features), times h(y) = exp(|y|^2/2) for keys
 * (divided by its maximum); h(x) cancels per query row. */
static void favor_trig(att *a, const double *W, double *err)
{
    const int N = a->N, d = a->d, M = a->M, dv1 = a->dv + 1;
    double *P = a->A;   /* N x M projections */
    double hmax = 0;
    for (int j = 0; j < N; j++) {
        double hn = dot(a->Y + (size_t)j * d, a->Y + (size_t)j * d, d) / 2;
        hmax = hn > hmax ? hn : hmax;
    }
    for (int side = 0; side < 2; side++) {
        const double *Z = side ? a->Y : a->X;
        double *F = side ? a->Fk : a->Fq;
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, M, d, 1.0, Z, d, W, d, 0.0, P, M);
        for (int i = 0; i < N; i++) {
            double h = side ? exp(dot(Z + (size_t)i * d, Z + (size_t)i * d, d) / 2 - hmax) : 1.0;
            for (int l = 0; l < M; l++) {
                F[(size_t)i * 2 * M + 2 * l] = h * sin(P[(size_t)i * M + l]);
                F[(size_t)i * 2 * M + 2 * l + 1] = h * cos(P[(size_t)i * M + l]);
            }
        }
    }
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, 2 * M, dv1, N, 1.0, a->Fk, 2 * M, a->Vaug, dv1, 0.0,
                a->Sf, dv1);
    for (int k = 0; k < a->K; k++) {
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, dv1, 2 * a->ms[k], 1.0, a->Fq, 2 * M, a->Sf,
                    dv1, 0.0, a->R, dv1);
        err[k] += rel_l2(a, NULL);
    }
}

/* Run favor_attention/backend at H = 1 on q, k, v (float, N x d / N x dv)
 * and w (m x d); *e = max |o - est| / max |est|. */
static int run_kernel(const char *backend, const att *a, int m, const float *const x[4], double *e,
                      char *err, size_t errlen)
{
    const cb_kernel *k = cb_kernel_find("favor_attention");
    const cb_impl *im = cb_impl_find("favor_attention", backend);
    if (!k || !im)
        return cb_fail(err, errlen, "favor_estimators: no favor_attention/%s in the registry", backend);
    cb_params kp = {0};
    if (cb_params_set(&kp, "H", 1) || cb_params_set(&kp, "N", a->N) || cb_params_set(&kp, "d", a->d) ||
        cb_params_set(&kp, "dv", a->dv) || cb_params_set(&kp, "m", m))
        return cb_fail(err, errlen, "favor_estimators: too many parameters");
    float *o = NULL;
    int64_t n = 0;
    if (cb_impl_run_arrays(k, im, &kp, x, &o, &n, err, errlen))
        return -1;
    size_t cnt = (size_t)a->N * a->dv;
    if ((size_t)n < cnt) cnt = (size_t)n;
    *e = cb_rel_err_fd(o, a->est, cnt);
    free(o);
    return 0;
}

static void round_to_float(double *x, float *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        f[i] = (float)x[i];
        x[i] = f[i];
    }
}

static int part_c(const opts *o, uint64_t seed, cb_metrics *out, char *err, size_t errlen)
{
    static const char *const backends[] = {"ref", "blas", "dnnl"};
    att a = {0};
    a.N = o->att_n;
    a.d = o->att_d;
    a.dv = o->att_d;
    a.M = o->m_max;
    for (int m = 16; m <= a.M && a.K < MAX_MS; m *= 2)
        a.ms[a.K++] = m;
    const int N = a.N, d = a.d, dv = a.dv, M = a.M, nb = (M + d - 1) / d, rows = nb * d;
    const int m_eq = M < 256 ? M : 256;
    const double c = pow(d, -0.25);
    double e_iid[MAX_MS] = {0}, e_orth[MAX_MS] = {0}, e_trig[MAX_MS] = {0}, e32[3] = {0};
    int rc = -1;
    double *q = malloc((size_t)N * d * sizeof *q), *k = malloc((size_t)N * d * sizeof *k);
    double *v = malloc((size_t)N * dv * sizeof *v);
    double *G = malloc((size_t)rows * d * sizeof *G), *W = malloc((size_t)rows * d * sizeof *W);
    double *gram = malloc((size_t)d * d * sizeof *gram);
    float *qf = malloc((size_t)N * d * sizeof *qf), *kf = malloc((size_t)N * d * sizeof *kf);
    float *vf = malloc((size_t)N * dv * sizeof *vf), *wf = malloc((size_t)rows * d * sizeof *wf);
    a.X = malloc((size_t)N * d * sizeof *a.X);
    a.Y = malloc((size_t)N * d * sizeof *a.Y);
    a.Vaug = malloc((size_t)N * (dv + 1) * sizeof *a.Vaug);
    a.O = malloc((size_t)N * dv * sizeof *a.O);
    a.A = malloc((size_t)N * (N > M ? N : M) * sizeof *a.A);
    a.Fq = malloc((size_t)N * 2 * M * sizeof *a.Fq);
    a.Fk = malloc((size_t)N * 2 * M * sizeof *a.Fk);
    a.Sf = malloc((size_t)2 * M * (dv + 1) * sizeof *a.Sf);
    a.R = malloc((size_t)N * (dv + 1) * sizeof *a.R);
    a.est = malloc((size_t)N * dv * sizeof *a.est);
    if (!q || !k || !v || !G || !W || !gram || !qf || !kf || !vf || !wf || !a.X || !a.Y || !a.Vaug || !a.O ||
        !a.A || !a.Fq || !a.Fk || !a.Sf || !a.R || !a.est) {
        cb_fail(err, errlen, "favor_estimators: out of memory");
        goto done;
    }
    for (int r = 0; r < o->att_reps; r++) {
        char name[96];
        snprintf(name, sizeof name, "favor_estimators/att/q/d=%d/r=%d", d, r);
        cb_rng_normal_d(q, (size_t)N * d, seed, cb_rng_stream(name), c);
        snprintf(name, sizeof name, "favor_estimators/att/k/d=%d/r=%d", d, r);
        cb_rng_normal_d(k, (size_t)N * d, seed, cb_rng_stream(name), c);
        snprintf(name, sizeof name, "favor_estimators/att/v/d=%d/r=%d", d, r);
        cb_rng_normal_d(v, (size_t)N * dv, seed, cb_rng_stream(name), 1.0);
        draw_gaussian(G, nb, d, seed, "att/G", r);
        /* every input rounded to float once: the kernels see the same numbers */
        round_to_float(q, qf, (size_t)N * d);
        round_to_float(k, kf, (size_t)N * d);
        round_to_float(v, vf, (size_t)N * dv);
        round_to_float(G, wf, (size_t)rows * d);
        for (size_t i = 0; i < (size_t)N * d; i++) {
            a.X[i] = c * q[i];
            a.Y[i] = c * k[i];
        }
        for (int i = 0; i < N; i++) {
            memcpy(a.Vaug + (size_t)i * (dv + 1), v + (size_t)i * dv, (size_t)dv * sizeof *v);
            a.Vaug[(size_t)i * (dv + 1) + dv] = 1.0;
        }
        exact_attention(&a);
        if (orthogonal_features(G, nb, d, W, gram)) {
            cb_fail(err, errlen, "favor_estimators: a Gaussian block was singular (attention draw %d)", r);
            goto done;
        }
        favor_positive(&a, G, e_iid, m_eq, r == 0 ? a.est : NULL);
        favor_positive(&a, W, e_orth, m_eq, NULL);
        favor_trig(&a, G, e_trig);
        if (r == 0) {
            const float *const x[4] = {qf, kf, vf, wf};
            for (int b = 0; b < 3; b++)
                if (run_kernel(backends[b], &a, m_eq, x, &e32[b], err, errlen))
                    goto done;
        }
    }
    for (int kk = 0; kk < a.K; kk++) {
        double R = o->att_reps;
        if (add_metric(out, "att_err_pos_iid", d, a.ms[kk], e_iid[kk] / R) ||
            add_metric(out, "att_err_pos_orth", d, a.ms[kk], e_orth[kk] / R) ||
            add_metric(out, "att_err_trig_iid", d, a.ms[kk], e_trig[kk] / R)) {
            cb_fail(err, errlen, "favor_estimators: out of memory");
            goto done;
        }
    }
    for (int b = 0; b < 3; b++) {
        cb_params at = {0};
        char name[CB_NAME_MAX];
        snprintf(name, sizeof name, "kernel_err32_%s", backends[b]);
        if (cb_params_set(&at, "d", d) || cb_params_set(&at, "m", m_eq) || cb_params_set(&at, "N", N) ||
            cb_metrics_add(out, name, &at, e32[b])) {
            cb_fail(err, errlen, "favor_estimators: out of memory");
            goto done;
        }
    }
    rc = 0;
done:
    free(q);
    free(k);
    free(v);
    free(G);
    free(W);
    free(gram);
    free(qf);
    free(kf);
    free(vf);
    free(wf);
    free(a.X);
    free(a.Y);
    free(a.Vaug);
    free(a.O);
    free(a.A);
    free(a.Fq);
    free(a.Fk);
    free(a.Sf);
    free(a.R);
    free(a.est);
    return rc;
}

/* ---- the probe -------------------------------------------------------------- */

/* An integer parameter in [lo, hi], or its default. */
static int get_int(const cb_params *p, const char *name, int dflt, int lo, int hi, int *out, char *err,
                   size_t errlen)
{
    double v = cb_params_get(p, name, dflt);
    if (!(v == floor(v)) || v < lo || v > hi)
        return cb_fail(err, errlen, "favor_estimators: %s = %g must be an integer in [%d, %d]", name, v, lo, hi);
    *out = (int)v;
    return 0;
}

static int probe_run(const cb_params *p, uint64_t seed, cb_metrics *ms, char *err, size_t errlen)
{
    opts o;
    if (get_int(p, "d1", 16, 1, 4096, &o.d1, err, errlen) || get_int(p, "d2", 64, 0, 4096, &o.d2, err, errlen) ||
        get_int(p, "pairs", 48, 1, 100000, &o.pairs, err, errlen) ||
        get_int(p, "trials", 4000, 2, 100000000, &o.trials, err, errlen) ||
        get_int(p, "m_max", 1024, 16, 1 << 20, &o.m_max, err, errlen) ||
        get_int(p, "att_d", 16, 1, 4096, &o.att_d, err, errlen) ||
        get_int(p, "att_n", 1024, 1, 1 << 16, &o.att_n, err, errlen) ||
        get_int(p, "att_reps", 16, 0, 100000, &o.att_reps, err, errlen))
        return -1;
    if (o.m_max & (o.m_max - 1))
        return cb_fail(err, errlen, "favor_estimators: m_max = %d must be a power of two", o.m_max);
    if (part_a(&o, o.d1, seed, ms, err, errlen))
        return -1;
    if (o.d2 > 0 && part_a(&o, o.d2, seed, ms, err, errlen))
        return -1;
    if (o.att_reps > 0 && part_c(&o, seed, ms, err, errlen))
        return -1;
    return 0;
}

const cb_probe cb_probe_favor_estimators = {
    .name = "favor_estimators",
    .summary = "FAVOR+ estimators: unbiasedness, MSE vs m and closed forms, orthogonal vs iid, positive vs trig, attention error",
    .run = probe_run,
};
