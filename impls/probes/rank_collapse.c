/* rank_collapse.c — probe: pure self-attention loses rank doubly
 * exponentially with depth; skip connections stop it (Dong, Cordonnier,
 * Loukas 2021).
 *
 * The residual of a token matrix X [n, d] is res(X) = X - 1 x^T with x the
 * token mean, the best token-uniform approximation in the Frobenius norm.
 * The paper's Theorem bounds one single-head attention layer by
 * ||res(SA(X))|| <= (4 gamma beta / sqrt(d)) ||res(X)||^3: a cube per layer,
 * 3^L over L layers. Measuring that needs residuals of 1e-1000 and below, so
 * the stack is propagated on (x, R~, e) with X = 1 x^T + 2^e R~ (see
 * rank_collapse.h), without ever forming X:
 *
 *   scores  X A X^T (A = Wq Wk^T / sqrt d) equal  R A R^T + 1 u^T  up to terms
 *           constant along each row, u_j = x^T A r_j; softmax ignores those;
 *   so      P = 1 p^T + D with p = softmax(u) and, per row i,
 *           D_ij = p_j expm1(s_ij - log1p(sum_k p_k expm1(s_ik))),  s = R A R^T,
 *           which has the relative accuracy of s (no cancellation);
 *   and     P X Wv = 1 (x^T Wv + p^T R Wv) + D R Wv  (P 1 = 1):
 *           the new mean takes the first part, the new residual is
 *           center(D R Wv), of size |R|^3 and computed from R alone.
 * Once the residual part of the scores is below 2^-80 its square is below
 * long double rounding and D_ij = p_j (s_ij - sum_k p_k s_ik) exactly to
 * rounding: the residual map is then homogeneous of degree 3 in R, and the
 * exponent e carries the scale (an int64: no underflow at any depth we run).
 * The ReLU MLP is token-wise: f(x + r_i) - f(x) is computed as the masked
 * r_i W1 where the sign of x W1 does not flip, and from the two pre-
 * activations where it does, again without cancellation.
 *
 * Setup (params): n tokens (32), d features (32), L layers (10), seeds (4),
 * mlp_gain (2). Per seed, X0 [n, d] standard normal; per layer Wq, Wk, Wv
 * [d, d] N(0, 1/d) (the usual fan-in scaling); W1 [d, 4d] N(0, 2/d) (He),
 * W2 [4d, d] N(0, mlp_gain^2 / (4d)), so the MLP scales a residual by about
 * mlp_gain; every value drawn in float32 (harness/rng.c) and used unchanged
 * in every precision. const_input = 1 (tests only) makes every token of X0
 * the same row, const_input = 2 makes X0 all zeros: the degenerate inputs
 * the non-triviality checks must reject.
 *
 * Metrics. Series over depth (param layer = 0..L; mean over the seeds):
 * decades_<arch> = -log10(||res(X_l)||_F / ||X_l||_F), the decades of
 * collapse at layer l, for arch san, skip, mlp, skip_mlp; and for san the same
 * figure computed naively (form X, subtract the mean) in float64
 * (decades_naive64_san), in long double (decades_naive80_san) and in float32
 * through the registry's softmax_attention kernel on the blas backend
 * (decades_naive32_san).
 * Per seed (param seed): exponent_san, exponent_mlp (least-squares slope of
 * ln r_{l+1} against ln r_l over the layers with r_l <= 1e-3),
 * collapse_decades_<arch> (-log10 of the relative residual at depth L: how
 * many decades the stack has collapsed), rel_res0 (||res(X0)||/||X0||, the
 * non-triviality figure), first_layer_below_dbl_min (first layer whose san
 * residual is below 2.2e-308, L+1 if none), first_layer_below_ldbl_min
 * (the same for long double's 3.4e-4932), visible_decades64 / 80 / 32
 * (log10 of a naive pass's relative residual at the input over the smallest
 * one it ever reports: how many decades of the collapse float64, long
 * double and float32 can see before their rounding floor).
 * Agreement of the exact path with the naive ones (max over seeds, archs):
 * errx_naive80, errx_naive64 (||X_naive - X_exact||_F / ||X_exact||_F over
 * every layer), errres_naive80 / errres_naive64 / errres_naive32 (relative
 * error of ||res|| on the layers whose relative residual is at least 1e-8 /
 * 1e-4 / 1e-2, where the naive computations still resolve it) and the counts
 * of those layers in the san stack, cmp_layers_naive64 / cmp_layers_naive80
 * (fewest over the seeds).
 */
#include "kernel.h"
#include "rng.h"
#include "probes/rank_collapse.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef long double ld;

/* 2^k v for any int64 k (clamped: beyond +-40000 the result is 0 or inf in
 * long double anyway). */
static ld ldexp64(ld v, int64_t k)
{
    if (k < -40000) k = -40000;
    if (k > 40000) k = 40000;
    return ldexpl(v, (int)k);
}

int rc_state_alloc(rc_state *s, int n, int d)
{
    s->n = n;
    s->d = d;
    s->e = 0;
    s->x = calloc((size_t)d, sizeof *s->x);
    s->R = calloc((size_t)n * (size_t)d, sizeof *s->R);
    if (!s->x || !s->R) {
        rc_state_free(s);
        return -1;
    }
    return 0;
}

void rc_state_free(rc_state *s)
{
    free(s->x);
    free(s->R);
    s->x = s->R = NULL;
}

/* Center the columns of R [n, d] and move their means, times 2^e, into x. */
static void center_into(ld *R, int n, int d, ld *x, int64_t e)
{
    for (int c = 0; c < d; c++) {
        ld m = 0;
        for (int i = 0; i < n; i++) m += R[(size_t)i * d + c];
        m /= n;
        for (int i = 0; i < n; i++) R[(size_t)i * d + c] -= m;
        if (x) x[c] += ldexp64(m, e);
    }
}

/* Rescale R~ by a power of two so max |R~| is in [1/2, 1) (exact). */
static void normalize(rc_state *s)
{
    size_t nd = (size_t)s->n * (size_t)s->d;
    ld m = 0;
    for (size_t i = 0; i < nd; i++)
        if (fabsl(s->R[i]) > m) m = fabsl(s->R[i]);
    if (!(m > 0) || !isfinite(m)) return;
    int k;
    frexpl(m, &k);
    for (size_t i = 0; i < nd; i++) s->R[i] = ldexpl(s->R[i], -k);
    s->e += k;
}

void rc_state_set(rc_state *s, const long double *X)
{
    size_t nd = (size_t)s->n * (size_t)s->d;
    memcpy(s->R, X, nd * sizeof *X);
    memset(s->x, 0, (size_t)s->d * sizeof *s->x);
    s->e = 0;
    center_into(s->R, s->n, s->d, s->x, 0);
    normalize(s);
}

void rc_state_get(const rc_state *s, long double *X)
{
    for (int i = 0; i < s->n; i++)
        for (int c = 0; c < s->d; c++)
            X[(size_t)i * s->d + c] = s->x[c] + ldexp64(s->R[(size_t)i * s->d + c], s->e);
}

static ld frob(const ld *v, size_t n)
{
    ld q = 0;
    for (size_t i = 0; i < n; i++) q += v[i] * v[i];
    return sqrtl(q);
}

double rc_state_log10_res(const rc_state *s)
{
    ld f = frob(s->R, (size_t)s->n * (size_t)s->d);
    return (double)log10l(f) + (double)s->e * log10(2.0);
}

double rc_state_log10_rel(const rc_state *s)
{
    /* ||X||^2 = n |x|^2 + ||res||^2 (the residual's columns sum to zero). */
    ld f = frob(s->R, (size_t)s->n * (size_t)s->d), xx = 0;
    for (int c = 0; c < s->d; c++) xx += s->x[c] * s->x[c];
    double lr = rc_state_log10_res(s);
    ld x2 = s->n * xx;
    /* ||res||^2 = (2^e f)^2, added only while representable */
    ld r2 = s->e > -8000 && s->e < 8000 ? ldexp64(f * f, 2 * s->e) : (s->e >= 8000 ? INFINITY : 0);
    if (isinf(r2)) return 0.0;   /* the residual dominates: ratio 1 */
    return lr - 0.5 * (double)log10l(x2 + r2);
}

/* ---- the exact layers ------------------------------------------------------ */

typedef struct rc_scratch {
    ld *A, *a, *T, *u, *p, *Dm, *M, *Y, *h, *g;
} rc_scratch;

static void scratch_free(rc_scratch *w)
{
    free(w->A), free(w->a), free(w->T), free(w->u), free(w->p);
    free(w->Dm), free(w->M), free(w->Y), free(w->h), free(w->g);
}

static int scratch_alloc(rc_scratch *w, int n, int d)
{
    size_t nd = (size_t)n * d, f = 4 * (size_t)d;
    memset(w, 0, sizeof *w);
    w->A = malloc((size_t)d * d * sizeof(ld));
    w->a = malloc((size_t)d * sizeof(ld));
    w->T = malloc(nd * sizeof(ld));
    w->u = malloc((size_t)n * sizeof(ld));
    w->p = malloc((size_t)n * sizeof(ld));
    w->Dm = malloc((size_t)n * n * sizeof(ld));
    w->M = malloc(nd * sizeof(ld));
    w->Y = malloc(nd * sizeof(ld));
    w->h = malloc(f * sizeof(ld));
    w->g = malloc((size_t)n * f * sizeof(ld));
    if (!w->A || !w->a || !w->T || !w->u || !w->p || !w->Dm || !w->M || !w->Y || !w->h || !w->g) {
        scratch_free(w);
        return -1;
    }
    return 0;
}

/* SA(X) on (x, R~, e): writes the new mean into xo [d] and the new residual
 * as 2^(*ey) Y~ into w->Y (centered, not normalized). */
static void fast_sa(const rc_state *s, const rc_layer *L, int lin_below, rc_scratch *w, ld *xo, int64_t *ey)
{
    const int n = s->n, d = s->d;
    const ld *R = s->R, *x = s->x;
    const int64_t e = s->e;
    /* A = Wq Wk^T / sqrt(d) */
    ld isd = 1.0L / sqrtl((ld)d);
    for (int a = 0; a < d; a++)
        for (int b = 0; b < d; b++) {
            ld t = 0;
            for (int c = 0; c < d; c++) t += (ld)L->wq[a * d + c] * (ld)L->wk[b * d + c];
            w->A[a * d + b] = t * isd;
        }
    /* a = A^T x, u~_j = a . r~_j, T = R~ A */
    for (int b = 0; b < d; b++) {
        ld t = 0;
        for (int c = 0; c < d; c++) t += x[c] * w->A[c * d + b];
        w->a[b] = t;
    }
    for (int j = 0; j < n; j++) {
        ld t = 0;
        for (int b = 0; b < d; b++) t += w->a[b] * R[(size_t)j * d + b];
        w->u[j] = ldexp64(t, e);
    }
    for (int i = 0; i < n; i++)
        for (int b = 0; b < d; b++) {
            ld t = 0;
            for (int c = 0; c < d; c++) t += R[(size_t)i * d + c] * w->A[c * d + b];
            w->T[(size_t)i * d + b] = t;
        }
    /* p = softmax(u) */
    ld um = -INFINITY, z = 0;
    for (int j = 0; j < n; j++) um = w->u[j] > um ? w->u[j] : um;
    for (int j = 0; j < n; j++) z += (w->p[j] = expl(w->u[j] - um));
    for (int j = 0; j < n; j++) w->p[j] /= z;
    /* D~ = (P - 1 p^T) / 2^(2e), row by row; s~_ij = T_i . r~_j */
    const int64_t sc = 2 * e;
    ld *srow = w->M;   /* borrow M's first n values as the row of scores */
    for (int i = 0; i < n; i++) {
        ld *Di = w->Dm + (size_t)i * n;
        for (int j = 0; j < n; j++) {
            ld t = 0;
            for (int b = 0; b < d; b++) t += w->T[(size_t)i * d + b] * R[(size_t)j * d + b];
            srow[j] = t;
        }
        ld smax = 0;
        for (int j = 0; sc >= lin_below && j < n; j++)
            smax = fmaxl(smax, fabsl(ldexp64(srow[j], sc)));
        if (sc >= lin_below && smax > 0.5L) {
            /* large scores: P itself (stable softmax of s + u), then P - p;
             * D is not small here, so the difference loses nothing */
            ld mx = -INFINITY, zs = 0;
            for (int j = 0; j < n; j++) mx = fmaxl(mx, ldexp64(srow[j], sc) + w->u[j]);
            for (int j = 0; j < n; j++) zs += (Di[j] = expl(ldexp64(srow[j], sc) + w->u[j] - mx));
            for (int j = 0; j < n; j++) Di[j] = ldexp64(Di[j] / zs - w->p[j], -sc);
        } else if (sc >= lin_below) {
            /* |s| <= 1/2: 1 + zz is in [e^-1/2, e^1/2], log1p loses nothing */
            ld zz = 0;
            for (int k = 0; k < n; k++) zz += w->p[k] * expm1l(ldexp64(srow[k], sc));
            ld lz = log1pl(zz);
            for (int j = 0; j < n; j++)
                Di[j] = ldexp64(w->p[j] * expm1l(ldexp64(srow[j], sc) - lz), -sc);
        } else {
            ld m = 0;
            for (int k = 0; k < n; k++) m += w->p[k] * srow[k];
            for (int j = 0; j < n; j++) Di[j] = w->p[j] * (srow[j] - m);
        }
    }
    /* M = D~ R~, Y~ = M Wv (true residual part 2^(3e) Y~) */
    for (int i = 0; i < n; i++)
        for (int c = 0; c < d; c++) {
            ld t = 0;
            for (int j = 0; j < n; j++) t += w->Dm[(size_t)i * n + j] * R[(size_t)j * d + c];
            w->M[(size_t)i * d + c] = t;
        }
    for (int i = 0; i < n; i++)
        for (int c = 0; c < d; c++) {
            ld t = 0;
            for (int b = 0; b < d; b++) t += w->M[(size_t)i * d + b] * (ld)L->wv[b * d + c];
            w->Y[(size_t)i * d + c] = t;
        }
    /* new mean: x^T Wv + 2^e (p^T R~) Wv + 2^(3e) mean(Y~) */
    for (int c = 0; c < d; c++) {
        ld t0 = 0, t1 = 0;
        for (int b = 0; b < d; b++) {
            ld pr = 0;
            for (int j = 0; j < n; j++) pr += w->p[j] * R[(size_t)j * d + b];
            t0 += x[b] * (ld)L->wv[b * d + c];
            t1 += pr * (ld)L->wv[b * d + c];
        }
        xo[c] = t0 + ldexp64(t1, e);
    }
    center_into(w->Y, n, d, xo, 3 * e);
    *ey = 3 * e;
}

/* MLP(X) = ReLU(X W1) W2 on (x, R~, e): the new mean into xo, the residual
 * as 2^e Y~ into w->Y (centered). */
static void fast_mlp(const rc_state *s, const rc_layer *L, rc_scratch *w, ld *xo)
{
    const int n = s->n, d = s->d, F = 4 * d;
    const int64_t e = s->e;
    for (int f = 0; f < F; f++) {
        ld t = 0;
        for (int a = 0; a < d; a++) t += s->x[a] * (ld)L->w1[a * F + f];
        w->h[f] = t;
    }
    for (int i = 0; i < n; i++)
        for (int f = 0; f < F; f++) {
            ld dt = 0;   /* delta~ = r~_i W1 */
            for (int a = 0; a < d; a++) dt += s->R[(size_t)i * d + a] * (ld)L->w1[a * F + f];
            ld h = w->h[f], dl = ldexp64(dt, e), g;
            if (h > 0)
                g = h + dl > 0 ? dt : ldexp64(-h, -e);
            else
                g = h + dl > 0 ? ldexp64(h + dl, -e) : 0;
            w->g[(size_t)i * F + f] = g;   /* ReLU(h + delta) - ReLU(h), over 2^e */
        }
    for (int c = 0; c < d; c++) {
        ld t = 0;
        for (int f = 0; f < F; f++) t += (w->h[f] > 0 ? w->h[f] : 0) * (ld)L->w2[f * d + c];
        xo[c] = t;
    }
    for (int i = 0; i < n; i++)
        for (int c = 0; c < d; c++) {
            ld t = 0;
            for (int f = 0; f < F; f++) t += w->g[(size_t)i * F + f] * (ld)L->w2[f * d + c];
            w->Y[(size_t)i * d + c] = t;
        }
    center_into(w->Y, n, d, xo, e);
}

/* s <- s + (xo, 2^ey Y~) when skip, else s <- (xo, 2^ey Y~). */
static void combine(rc_state *s, const ld *xo, const ld *Y, int64_t ey, int skip)
{
    size_t nd = (size_t)s->n * s->d;
    if (skip) {
        for (int c = 0; c < s->d; c++) s->x[c] += xo[c];
        for (size_t i = 0; i < nd; i++) s->R[i] += ldexp64(Y[i], ey - s->e);
    } else {
        memcpy(s->x, xo, (size_t)s->d * sizeof *xo);
        memcpy(s->R, Y, nd * sizeof *Y);
        s->e = ey;
    }
    normalize(s);
}

int rc_fast_layer(rc_state *s, const rc_layer *w, int arch, int lin_below)
{
    rc_scratch sc;
    ld *xo = malloc((size_t)s->d * sizeof *xo);
    if (!xo || scratch_alloc(&sc, s->n, s->d) != 0) {
        free(xo);
        return -1;
    }
    int64_t ey = 0;
    int skip = arch == RC_SKIP || arch == RC_SKIP_MLP;
    fast_sa(s, w, lin_below, &sc, xo, &ey);
    combine(s, xo, sc.Y, ey, skip);
    if (arch == RC_MLP || arch == RC_SKIP_MLP) {
        fast_mlp(s, w, &sc, xo);
        combine(s, xo, sc.Y, s->e, arch == RC_SKIP_MLP);
    }
    scratch_free(&sc);
    free(xo);
    return 0;
}

/* ---- the naive layers: form X, in double and in long double ----------------
 * The textbook computation: Q = X Wq, K = X Wk, V = X Wv, S = Q K^T / sqrt d,
 * P = softmax by rows (max subtracted), SA = P V; MLP = ReLU(X W1) W2. One
 * definition, instantiated for both types. Scratch: 3nd + n + n*4d values. */
#define RC_NAIVE(T, SUF, EXPF, SQRTF)                                                          \
    static void naive_layer_##SUF(T *X, int n, int d, const rc_layer *L, int arch, T *wk)       \
    {                                                                                           \
        const int F = 4 * d;                                                                    \
        T *Q = wk, *K = Q + (size_t)n * d, *V = K + (size_t)n * d, *srow = V + (size_t)n * d;   \
        T *H = srow + n, *Y = Q; /* Y reuses Q row by row: row i of Q is read before written */ \
        for (int i = 0; i < n; i++)                                                             \
            for (int c = 0; c < d; c++) {                                                       \
                T q = 0, k = 0, v = 0;                                                          \
                for (int a = 0; a < d; a++) {                                                   \
                    T xa = X[(size_t)i * d + a];                                                \
                    q += xa * (T)L->wq[a * d + c];                                              \
                    k += xa * (T)L->wk[a * d + c];                                              \
                    v += xa * (T)L->wv[a * d + c];                                              \
                }                                                                               \
                Q[(size_t)i * d + c] = q, K[(size_t)i * d + c] = k, V[(size_t)i * d + c] = v;   \
            }                                                                                   \
        T isd = (T)1 / SQRTF((T)d);                                                             \
        for (int i = 0; i < n; i++) {                                                           \
            T mx = -INFINITY, z = 0;                                                            \
            for (int j = 0; j < n; j++) {                                                       \
                T t = 0;                                                                        \
                for (int c = 0; c < d; c++) t += Q[(size_t)i * d + c] * K[(size_t)j * d + c];   \
                srow[j] = t * isd;                                                              \
                mx = srow[j] > mx ? srow[j] : mx;                                               \
            }                                                                                   \
            for (int j = 0; j < n; j++) z += (srow[j] = EXPF(srow[j] - mx));                    \
            for (int c = 0; c < d; c++) {                                                       \
                T t = 0;                                                                        \
                for (int j = 0; j < n; j++) t += srow[j] * V[(size_t)j * d + c];                \
                Y[(size_t)i * d + c] = t / z;                                                   \
            }                                                                                   \
        }                                                                                       \
        int skip = arch == RC_SKIP || arch == RC_SKIP_MLP;                                      \
        for (size_t i = 0; i < (size_t)n * d; i++) X[i] = skip ? X[i] + Y[i] : Y[i];            \
        if (arch != RC_MLP && arch != RC_SKIP_MLP) return;                                      \
        for (int i = 0; i < n; i++) {                                                           \
            for (int f = 0; f < F; f++) {                                                       \
                T t = 0;                                                                        \
                for (int a = 0; a < d; a++) t += X[(size_t)i * d + a] * (T)L->w1[a * F + f];    \
                H[f] = t > 0 ? t : 0;                                                           \
            }                                                                                   \
            for (int c = 0; c < d; c++) {                                                       \
                T t = 0;                                                                        \
                for (int f = 0; f < F; f++) t += H[f] * (T)L->w2[f * d + c];                    \
                Y[(size_t)i * d + c] = t;                                                       \
            }                                                                                   \
        }                                                                                       \
        for (size_t i = 0; i < (size_t)n * d; i++) X[i] = skip ? X[i] + Y[i] : Y[i];            \
    }

/* ||X - 1 mean^T||_F and ||X||_F, in T */
#define RC_NAIVE_RES(T, SUF, SQRTF)                                                             \
    static void naive_res_##SUF(const T *X, int n, int d, double *res, double *nrm)             \
    {                                                                                           \
        T r = 0, q = 0;                                                                         \
        for (int c = 0; c < d; c++) {                                                           \
            T m = 0;                                                                            \
            for (int i = 0; i < n; i++) m += X[(size_t)i * d + c];                              \
            m /= (T)n;                                                                          \
            for (int i = 0; i < n; i++) {                                                       \
                T t = X[(size_t)i * d + c] - m;                                                 \
                r += t * t;                                                                     \
                q += X[(size_t)i * d + c] * X[(size_t)i * d + c];                               \
            }                                                                                   \
        }                                                                                       \
        *res = (double)SQRTF(r);                                                                \
        *nrm = (double)SQRTF(q);                                                                \
    }

RC_NAIVE(double, d64, exp, sqrt)
RC_NAIVE(long double, d80, expl, sqrtl)
RC_NAIVE_RES(double, d64, sqrt)
RC_NAIVE_RES(long double, d80, sqrtl)
RC_NAIVE_RES(float, f32, sqrtf)

/* ---- the probe ---------------------------------------------------------------- */

static const char *const arch_name[RC_N_ARCH] = {"san", "skip", "mlp", "skip_mlp"};

typedef struct rc_cfg {
    int n, d, L, seeds, const_input;
    double gain;
} rc_cfg;

/* Weights of every layer of one seed, float32: per layer wq, wk, wv, w1, w2. */
static float *make_weights(const rc_cfg *c, uint64_t seed, int s, rc_layer *layers)
{
    const size_t dd = (size_t)c->d * c->d, df = 4 * dd, per = 3 * dd + 2 * df;
    float *all = malloc((size_t)c->L * per * sizeof *all);
    if (!all) return NULL;
    for (int l = 0; l < c->L; l++) {
        float *b = all + (size_t)l * per;
        char name[96];
        const double sd = 1.0 / sqrt((double)c->d);
        snprintf(name, sizeof name, "rank_collapse/wq/s=%d/l=%d", s, l);
        cb_rng_normal(b, dd, seed, cb_rng_stream(name), (float)sd);
        snprintf(name, sizeof name, "rank_collapse/wk/s=%d/l=%d", s, l);
        cb_rng_normal(b + dd, dd, seed, cb_rng_stream(name), (float)sd);
        snprintf(name, sizeof name, "rank_collapse/wv/s=%d/l=%d", s, l);
        cb_rng_normal(b + 2 * dd, dd, seed, cb_rng_stream(name), (float)sd);
        snprintf(name, sizeof name, "rank_collapse/w1/s=%d/l=%d", s, l);
        cb_rng_normal(b + 3 * dd, df, seed, cb_rng_stream(name), (float)sqrt(2.0 / c->d));
        snprintf(name, sizeof name, "rank_collapse/w2/s=%d/l=%d", s, l);
        cb_rng_normal(b + 3 * dd + df, df, seed, cb_rng_stream(name), (float)(c->gain / sqrt(4.0 * c->d)));
        layers[l] = (rc_layer){b, b + dd, b + 2 * dd, b + 3 * dd, b + 3 * dd + df};
    }
    return all;
}

/* Least-squares slope of ln r_{l+1} against ln r_l over the layers with
 * log10 r_l <= -3 (lr: log10 r_l, l = 0..L). NaN with fewer than 3 pairs or
 * a non-finite value. */
static double fit_exponent(const double *lr, int L)
{
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    int k = 0;
    for (int l = 0; l < L; l++) {
        if (!(lr[l] <= -3)) continue;
        if (!isfinite(lr[l]) || !isfinite(lr[l + 1])) return NAN;
        sx += lr[l], sy += lr[l + 1], sxx += lr[l] * lr[l], sxy += lr[l] * lr[l + 1];
        k++;
    }
    if (k < 3) return NAN;
    double den = k * sxx - sx * sx;
    return den > 0 ? (k * sxy - sx * sy) / den : NAN;
}

/* Run the float32 SAN stack through softmax_attention/blas, writing the
 * relative residual (log10) of each layer into lr32[0..L]. */
static int run_f32(const rc_cfg *c, const float *X0, const rc_layer *layers, double *lr32, char *err,
                   size_t errlen)
{
    const cb_kernel *k = cb_kernel_find("softmax_attention");
    const cb_impl *im = cb_impl_find("softmax_attention", "blas");
    if (!k || !im) return cb_fail(err, errlen, "rank_collapse: no softmax_attention/blas in the registry");
    const int n = c->n, d = c->d;
    const size_t nd = (size_t)n * d;
    float *X = malloc(nd * sizeof *X), *Q = malloc(nd * sizeof *Q), *K = malloc(nd * sizeof *K),
          *V = malloc(nd * sizeof *V);
    int rc = -1;
    if (!X || !Q || !K || !V) {
        cb_fail(err, errlen, "rank_collapse: out of memory");
        goto done;
    }
    memcpy(X, X0, nd * sizeof *X);
    for (int l = 0; l <= c->L; l++) {
        double res, nrm;
        naive_res_f32(X, n, d, &res, &nrm);
        lr32[l] = log10(res / nrm);
        if (l == c->L) break;
        const rc_layer *w = &layers[l];
        for (int i = 0; i < n; i++)
            for (int cc = 0; cc < d; cc++) {
                float q = 0, kk = 0, v = 0;
                for (int a = 0; a < d; a++) {
                    float xa = X[(size_t)i * d + a];
                    q += xa * w->wq[a * d + cc];
                    kk += xa * w->wk[a * d + cc];
                    v += xa * w->wv[a * d + cc];
                }
                Q[(size_t)i * d + cc] = q, K[(size_t)i * d + cc] = kk, V[(size_t)i * d + cc] = v;
            }
        cb_params kp = {0};
        if (cb_params_set(&kp, "H", 1) || cb_params_set(&kp, "N", n) || cb_params_set(&kp, "d", d) ||
            cb_params_set(&kp, "dv", d) || cb_params_set(&kp, "scale", 1.0 / sqrt((double)d))) {
            cb_fail(err, errlen, "rank_collapse: too many parameters");
            goto done;
        }
        const float *const in[3] = {Q, K, V};
        float *o = NULL;
        int64_t no = 0;
        if (cb_impl_run_arrays(k, im, &kp, in, &o, &no, err, errlen)) goto done;
        if (no != (int64_t)nd) {
            free(o);
            cb_fail(err, errlen, "rank_collapse: softmax_attention returned %lld values", (long long)no);
            goto done;
        }
        memcpy(X, o, nd * sizeof *X);
        free(o);
    }
    rc = 0;
done:
    free(X), free(Q), free(K), free(V);
    return rc;
}

static int get_int(const cb_params *p, const char *name, int lo, int hi, int *out, char *err, size_t errlen)
{
    double v = cb_params_get(p, name, 0);
    if (!(v >= lo && v <= hi && v == floor(v)))
        return cb_fail(err, errlen, "rank_collapse: %s = %g must be an integer in [%d, %d]", name, v, lo, hi);
    *out = (int)v;
    return 0;
}

/* Everything measured for one seed. */
typedef struct rc_seed_out {
    double lres[RC_N_ARCH][32], lrel[RC_N_ARCH][32];
    double lrel64[32], lrel80[32], lrel32[32];
    double errx80, errx64, errres80, errres64, errres32;
    int cmp64, cmp80;
} rc_seed_out;

static void upd(double *m, double v)
{
    if (!(v <= *m)) *m = v;   /* NaN propagates */
}

static int run_seed(const rc_cfg *c, uint64_t seed, int s, rc_seed_out *o, char *err, size_t errlen)
{
    const int n = c->n, d = c->d, L = c->L;
    const size_t nd = (size_t)n * d;
    rc_layer *layers = malloc((size_t)L * sizeof *layers);
    float *wall = layers ? make_weights(c, seed, s, layers) : NULL;
    float *X0 = malloc(nd * sizeof *X0);
    ld *Xf = malloc(nd * sizeof *Xf), *X80 = malloc(nd * sizeof *X80), *wk80 = NULL;
    double *X64 = malloc(nd * sizeof *X64), *wk64 = NULL;
    size_t wkn = 3 * nd + (size_t)n + 4 * (size_t)d;
    wk80 = malloc(wkn * sizeof *wk80);
    wk64 = malloc(wkn * sizeof *wk64);
    rc_state st = {0};
    int rc = -1;
    if (!wall || !X0 || !Xf || !X80 || !X64 || !wk80 || !wk64 || rc_state_alloc(&st, n, d) != 0) {
        cb_fail(err, errlen, "rank_collapse: out of memory");
        goto done;
    }
    char name[64];
    snprintf(name, sizeof name, "rank_collapse/x/s=%d", s);
    if (c->const_input == 2) {   /* all zeros */
        memset(X0, 0, nd * sizeof *X0);
    } else if (c->const_input) {   /* every token the same row */
        cb_rng_normal(X0, (size_t)d, seed, cb_rng_stream(name), 1.0f);
        for (int i = 1; i < n; i++) memcpy(X0 + (size_t)i * d, X0, (size_t)d * sizeof *X0);
    } else {
        cb_rng_normal(X0, nd, seed, cb_rng_stream(name), 1.0f);
    }
    o->errx80 = o->errx64 = o->errres80 = o->errres64 = o->errres32 = 0;
    o->cmp64 = o->cmp80 = 0;
    for (int a = 0; a < RC_N_ARCH; a++) {
        for (size_t i = 0; i < nd; i++) X80[i] = X0[i], X64[i] = X0[i];
        rc_state_set(&st, X80);
        for (int l = 0; l <= L; l++) {
            o->lres[a][l] = rc_state_log10_res(&st);
            o->lrel[a][l] = rc_state_log10_rel(&st);
            /* the naive forms against the exact state */
            rc_state_get(&st, Xf);
            ld nf = frob(Xf, nd), e80 = 0, e64 = 0;
            for (size_t i = 0; i < nd; i++) {
                e80 += (X80[i] - Xf[i]) * (X80[i] - Xf[i]);
                e64 += ((ld)X64[i] - Xf[i]) * ((ld)X64[i] - Xf[i]);
            }
            upd(&o->errx80, (double)(sqrtl(e80) / nf));
            upd(&o->errx64, (double)(sqrtl(e64) / nf));
            double r80, n80, r64, n64, rex = pow(10.0, o->lres[a][l]);
            naive_res_d80(X80, n, d, &r80, &n80);
            naive_res_d64(X64, n, d, &r64, &n64);
            if (a == RC_SAN) {
                o->lrel80[l] = log10(r80 / n80);
                o->lrel64[l] = log10(r64 / n64);
            }
            if (o->lrel[a][l] >= -8) {
                upd(&o->errres80, fabs(r80 - rex) / rex);
                o->cmp80 += a == RC_SAN;
            }
            if (o->lrel[a][l] >= -4) {
                upd(&o->errres64, fabs(r64 - rex) / rex);
                o->cmp64 += a == RC_SAN;
            }
            if (l == L) break;
            if (rc_fast_layer(&st, &layers[l], a, -80) != 0) {
                cb_fail(err, errlen, "rank_collapse: out of memory");
                goto done;
            }
            naive_layer_d80(X80, n, d, &layers[l], a, wk80);
            naive_layer_d64(X64, n, d, &layers[l], a, wk64);
        }
    }
    if (run_f32(c, X0, layers, o->lrel32, err, errlen) != 0) goto done;
    for (int l = 0; l <= L; l++)
        if (o->lrel[RC_SAN][l] >= -2) {
            double rex = pow(10.0, o->lrel[RC_SAN][l]), r32 = pow(10.0, o->lrel32[l]);
            upd(&o->errres32, fabs(r32 - rex) / rex);
        }
    rc = 0;
done:
    rc_state_free(&st);
    free(layers), free(wall), free(X0), free(Xf), free(X80), free(X64), free(wk80), free(wk64);
    return rc;
}

static int probe_run(const cb_params *params, uint64_t seed, cb_metrics *ms, char *err, size_t errlen)
{
    cb_params p = *params;
    if (cb_params_default(&p, "n", 32) || cb_params_default(&p, "d", 32) || cb_params_default(&p, "L", 10) ||
        cb_params_default(&p, "seeds", 4) || cb_params_default(&p, "mlp_gain", 2) ||
        cb_params_default(&p, "const_input", 0))
        return cb_fail(err, errlen, "rank_collapse: too many parameters");
    rc_cfg c = {0};
    if (get_int(&p, "n", 1, 256, &c.n, err, errlen) || get_int(&p, "d", 1, 128, &c.d, err, errlen) ||
        get_int(&p, "L", 1, 24, &c.L, err, errlen) || get_int(&p, "seeds", 1, 64, &c.seeds, err, errlen) ||
        get_int(&p, "const_input", 0, 2, &c.const_input, err, errlen))
        return -1;
    c.gain = cb_params_get(&p, "mlp_gain", 2);
    if (!(c.gain > 0 && c.gain < 1e3)) return cb_fail(err, errlen, "rank_collapse: mlp_gain = %g must be in (0, 1e3)", c.gain);
    rc_seed_out *out = calloc((size_t)c.seeds, sizeof *out);
    if (!out) return cb_fail(err, errlen, "rank_collapse: out of memory");
    int rc = -1;
    for (int s = 0; s < c.seeds; s++)
        if (run_seed(&c, seed, s, &out[s], err, errlen) != 0) goto done;

    cb_params at = {0};
    char name[CB_NAME_MAX];
    /* series over depth: decades collapsed, -log10 of the relative residual,
     * mean over the seeds (a doubly exponential fall is a straight line of
     * slope log10 3 on a log axis; a naive pass flattens at its rounding) */
    for (int l = 0; l <= c.L; l++) {
        at.n = 0;
        if (cb_params_set(&at, "layer", l)) goto oom;
        for (int a = 0; a < RC_N_ARCH + 3; a++) {
            double m = 0;
            for (int s = 0; s < c.seeds; s++) {
                const rc_seed_out *o = &out[s];
                m -= a < RC_N_ARCH ? o->lrel[a][l]
                     : a == RC_N_ARCH ? o->lrel64[l] : a == RC_N_ARCH + 1 ? o->lrel80[l] : o->lrel32[l];
            }
            if (a < RC_N_ARCH)
                snprintf(name, sizeof name, "decades_%s", arch_name[a]);
            else
                snprintf(name, sizeof name, "decades_naive%s_san",
                         a == RC_N_ARCH ? "64" : a == RC_N_ARCH + 1 ? "80" : "32");
            if (cb_metrics_add(ms, name, &at, m / c.seeds)) goto oom;
        }
    }
    /* per seed */
    for (int s = 0; s < c.seeds; s++) {
        const rc_seed_out *o = &out[s];
        at.n = 0;
        if (cb_params_set(&at, "seed", s)) goto oom;
        if (cb_metrics_add(ms, "exponent_san", &at, fit_exponent(o->lres[RC_SAN], c.L)) ||
            cb_metrics_add(ms, "exponent_mlp", &at, fit_exponent(o->lres[RC_MLP], c.L)))
            goto oom;
        for (int a = 0; a < RC_N_ARCH; a++) {
            snprintf(name, sizeof name, "collapse_decades_%s", arch_name[a]);
            if (cb_metrics_add(ms, name, &at, -o->lrel[a][c.L])) goto oom;
        }
        int first = c.L + 1, first80 = c.L + 1;
        for (int l = c.L; l >= 0; l--) {
            if (o->lres[RC_SAN][l] < log10(DBL_MIN)) first = l;
            if (o->lres[RC_SAN][l] < (double)log10l(LDBL_MIN)) first80 = l;
        }
        /* decades of collapse each naive pass can see: from its own input
         * residual down to the lowest residual it ever reports */
        double f64 = INFINITY, f80 = INFINITY, f32 = INFINITY;
        for (int l = 0; l <= c.L; l++) {
            f64 = fmin(f64, o->lrel64[l]);
            f80 = fmin(f80, o->lrel80[l]);
            f32 = fmin(f32, o->lrel32[l]);
        }
        if (cb_metrics_add(ms, "rel_res0", &at, pow(10.0, o->lrel[RC_SAN][0])) ||
            cb_metrics_add(ms, "first_layer_below_dbl_min", &at, first) ||
            cb_metrics_add(ms, "first_layer_below_ldbl_min", &at, first80) ||
            cb_metrics_add(ms, "visible_decades64", &at, o->lrel64[0] - f64) ||
            cb_metrics_add(ms, "visible_decades80", &at, o->lrel80[0] - f80) ||
            cb_metrics_add(ms, "visible_decades32", &at, o->lrel32[0] - f32))
            goto oom;
    }
    /* agreement, worst over seeds and architectures */
    double ex80 = 0, ex64 = 0, er80 = 0, er64 = 0, er32 = 0;
    int cmp = c.L + 1, cmp80 = c.L + 1;
    for (int s = 0; s < c.seeds; s++) {
        upd(&ex80, out[s].errx80), upd(&ex64, out[s].errx64);
        upd(&er80, out[s].errres80), upd(&er64, out[s].errres64), upd(&er32, out[s].errres32);
        if (out[s].cmp64 < cmp) cmp = out[s].cmp64;
        if (out[s].cmp80 < cmp80) cmp80 = out[s].cmp80;
    }
    at.n = 0;
    if (cb_params_set(&at, "L", c.L) || cb_metrics_add(ms, "errx_naive80", &at, ex80) ||
        cb_metrics_add(ms, "errx_naive64", &at, ex64) || cb_metrics_add(ms, "errres_naive80", &at, er80) ||
        cb_metrics_add(ms, "errres_naive64", &at, er64) || cb_metrics_add(ms, "errres_naive32", &at, er32) ||
        cb_metrics_add(ms, "cmp_layers_naive64", &at, cmp) ||
        cb_metrics_add(ms, "cmp_layers_naive80", &at, cmp80))
        goto oom;
    rc = 0;
    goto done;
oom:
    cb_fail(err, errlen, "rank_collapse: out of memory");
done:
    free(out);
    return rc;
}

const cb_probe cb_probe_rank_collapse = {
    .name = "rank_collapse",
    .summary = "token-uniformity residual ||X - 1 mean^T|| of deep random attention stacks (pure, +skip, "
               "+MLP, +both), propagated exactly in (mean, scaled residual, int exponent), against naive "
               "float64 / long double / float32 forward passes",
    .run = probe_run,
};
