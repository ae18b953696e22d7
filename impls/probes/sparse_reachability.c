/* sparse_reachability.c — probe: what the strided pattern connects, how many
 * pairs it keeps, and that the optimized kernels compute attention over it.
 *
 * Part 1, combinatorics (no arithmetic), for N in 64, 250, 1000, 4096,
 * 16384, 65536 (up to the parameter Nmax) with l = ⌈√N⌉:
 *   pairs_per_row       mean |A_i| over the N rows (≈ 1.5 √N: l window keys
 *                       and on average N / (2l) strided ones)
 *   pairs_per_row_max   max |A_i| = |A_{N-1}| (≈ 2 √N)
 *   reach1              allowed pairs / causal pairs N(N+1)/2 (the density)
 *   reach2_union        causal pairs (j <= i) joined by a path of at most two
 *                       steps i → a → j with a ∈ A_i, j ∈ A_a, A = window ∪
 *                       strided (the merged head of the kernel), / N(N+1)/2
 *   reach2_factorized   the same with the paper's factorized path (§4.2):
 *                       a ∈ A(2)_i (strided, which holds i itself), then
 *                       j ∈ A(1)_a (window)
 *   reach2_local        window then window: the control, a pattern without
 *                       its strided half, which must fall short of 1
 * Each reach2 is counted pair by pair: for every i a bitset over [0, i]
 * gets every j reachable through every a, then its bits are counted. Only
 * one shortcut is taken, and it is exact: the strided sets A(2)_a of keys
 * a ≡ ρ (mod l) are nested (A(2)_a ⊂ A(2)_a' when a <= a'), so per residue
 * only the largest such a is expanded. O(N²) bit operations in all.
 * All metrics at {N, l}.
 *
 * Part 2, arithmetic, at the parameters H, N (default 2, 1000), d (64),
 * dv (= d), inputs standard normal from the counter-based generator,
 * rounded to float32 once so every form sees the same numbers:
 *   err64_split_vs_masked        at {N, l}, l in 1, 7, ⌈√N⌉, N: the split form
 *                                (window and strided softmax apart, merged by
 *                                log-sum-exp, as the blas and dnnl kernels
 *                                do) against dense masked attention, both in
 *                                double: an algebra error (a key counted twice
 *                                or lost, a wrong merge) is O(1) here
 *   err32_sparse_<blas|dnnl>     at {N, l}, l in 7, ⌈√N⌉: the float32 kernel
 *                                against the double masked form
 *   err32_dense_limit_<blas|dnnl> at {N, l}, l in 1, N: the float32 sparse
 *                                kernel at both ends of the pattern, where it
 *                                is dense causal attention, against dense
 *                                causal attention in double (keys j <= i, no
 *                                pattern at all)
 * Every error is max |x - y| / max |y| over all outputs.
 */
#include "common/relerr.h"
#include "kernel.h"
#include "rng.h"
#include "ref/sparse_attention_pattern.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- part 1: reachability ---------------------------------------------- */

enum { SET_WINDOW = 1, SET_STRIDED = 2, SET_UNION = 3 };

typedef struct reach_ws {
    uint64_t *bits;         /* ⌈N / 64⌉ words */
    int64_t *best;          /* per residue: the largest a whose A(2)_a is taken */
} reach_ws;

/* Set bits [lo, hi] (inclusive). */
static void set_range(uint64_t *b, int64_t lo, int64_t hi)
{
    int64_t wl = lo >> 6, wh = hi >> 6;
    uint64_t ml = ~(uint64_t)0 << (lo & 63), mh = ~(uint64_t)0 >> (63 - (hi & 63));
    if (wl == wh) {
        b[wl] |= ml & mh;
        return;
    }
    b[wl] |= ml;
    for (int64_t w = wl + 1; w < wh; w++)
        b[w] = ~(uint64_t)0;
    b[wh] |= mh;
}

/* Visit a as a first step: take its second-step set `second`. */
static void take(reach_ws *ws, int64_t a, int64_t l, int second)
{
    if (second & SET_WINDOW)
        set_range(ws->bits, a - l + 1 > 0 ? a - l + 1 : 0, a);
    if ((second & SET_STRIDED) && a > ws->best[a % l])
        ws->best[a % l] = a;
}

/* Number of j <= i reachable from i in at most two steps (first ∈ A_i of
 * kind `first`, then ∈ A_a of kind `second`). */
static int64_t reach_row(reach_ws *ws, int64_t i, int64_t l, int first, int second)
{
    const int64_t words = (i >> 6) + 1;
    memset(ws->bits, 0, (size_t)words * sizeof *ws->bits);
    for (int64_t r = 0; r < l; r++)
        ws->best[r] = -1;
    if (first & SET_WINDOW)
        for (int64_t a = i - l + 1 > 0 ? i - l + 1 : 0; a <= i; a++)
            take(ws, a, l, second);
    if (first & SET_STRIDED)
        for (int64_t a = i; a >= 0; a -= l)
            take(ws, a, l, second);
    for (int64_t r = 0; r < l; r++)
        for (int64_t j = ws->best[r]; j >= 0; j -= l)
            ws->bits[j >> 6] |= (uint64_t)1 << (j & 63);
    int64_t count = 0;
    for (int64_t w = 0; w < words; w++)
        count += __builtin_popcountll(ws->bits[w]);
    return count;   /* every bit set is some j <= a <= i */
}

/* Fraction of the N(N+1)/2 causal pairs reachable in at most two steps.
 * Rows are independent: split over the OpenMP threads, one workspace each. */
static int reach_fraction(int64_t N, int64_t l, int first, int second, double *out)
{
    int64_t total = 0;
    int failed = 0;
#pragma omp parallel reduction(+ : total) reduction(| : failed)
    {
        reach_ws ws = {calloc((size_t)((N >> 6) + 1), sizeof(uint64_t)), malloc((size_t)l * sizeof(int64_t))};
        if (!ws.bits || !ws.best) {
            failed = 1;
        } else {
#pragma omp for schedule(dynamic, 64)
            for (int64_t i = 0; i < N; i++)
                total += reach_row(&ws, i, l, first, second);
        }
        free(ws.bits);
        free(ws.best);
    }
    if (failed)
        return -1;
    *out = (double)total / ((double)N * (double)(N + 1) / 2);
    return 0;
}

/* Σ_i |A_i| and max_i |A_i|, by walking each row's window and strided keys. */
static void count_pairs(int64_t N, int64_t l, double *total, double *maxrow)
{
    double t = 0, m = 0;
    for (int64_t i = 0; i < N; i++) {
        int64_t n = 0;
        for (int64_t j = i - l + 1 > 0 ? i - l + 1 : 0; j <= i; j++)
            n++;
        for (int64_t j = i - l; j >= 0; j -= l)
            n++;
        t += (double)n;
        if (n > m) m = (double)n;
    }
    *total = t;
    *maxrow = m;
}

/* ---- part 2: arithmetic ---------------------------------------------------- */

typedef struct attn_in {
    int64_t H, N, d, dv;
    double scale;
    const double *q, *k, *v;   /* [H,N,d], [H,N,d], [H,N,dv] */
} attn_in;

/* Dense masked attention in double over the keys j <= i with allowed(i, j):
 * mode 0 the strided pattern of stride l, mode 1 every j <= i. w: N scratch. */
static void masked(const attn_in *x, int64_t l, int dense_causal, double *o, double *w)
{
    const int64_t N = x->N, d = x->d, dv = x->dv;
    for (int64_t h = 0; h < x->H; h++) {
        const double *q = x->q + h * N * d, *k = x->k + h * N * d, *v = x->v + h * N * dv;
        for (int64_t i = 0; i < N; i++) {
            double mx = -INFINITY, sum = 0, *oi = o + (h * N + i) * dv;
            for (int64_t j = 0; j <= i; j++) {
                if (!dense_causal && !cb_sparse_allowed(i, j, l)) {
                    w[j] = -INFINITY;
                    continue;
                }
                double s = 0;
                for (int64_t c = 0; c < d; c++)
                    s += q[i * d + c] * k[j * d + c];
                w[j] = x->scale * s;
                if (w[j] > mx) mx = w[j];
            }
            for (int64_t c = 0; c < dv; c++)
                oi[c] = 0;
            for (int64_t j = 0; j <= i; j++) {
                if (w[j] == -INFINITY)
                    continue;
                double e = exp(w[j] - mx);
                sum += e;
                for (int64_t c = 0; c < dv; c++)
                    oi[c] += e * v[j * dv + c];
            }
            for (int64_t c = 0; c < dv; c++)
                oi[c] /= sum;
        }
    }
}

/* One partial softmax of query i over keys j = hi, hi - step, ..., >= lo:
 * its maximum, Σ e^(x - m) and Σ e^(x - m) v (into acc). Returns 0 when the
 * set is empty. */
static int partial(const attn_in *x, int64_t h, int64_t i, int64_t lo, int64_t hi, int64_t step,
                   double *m, double *s, double *acc)
{
    const int64_t N = x->N, d = x->d, dv = x->dv;
    const double *q = x->q + (h * N + i) * d, *k = x->k + h * N * d, *v = x->v + h * N * dv;
    if (hi < lo)
        return 0;
    double mx = -INFINITY;
    for (int64_t j = hi; j >= lo; j -= step) {
        double t = 0;
        for (int64_t c = 0; c < d; c++)
            t += q[c] * k[j * d + c];
        if (x->scale * t > mx) mx = x->scale * t;
    }
    double sum = 0;
    for (int64_t c = 0; c < dv; c++)
        acc[c] = 0;
    for (int64_t j = hi; j >= lo; j -= step) {
        double t = 0;
        for (int64_t c = 0; c < d; c++)
            t += q[c] * k[j * d + c];
        double e = exp(x->scale * t - mx);
        sum += e;
        for (int64_t c = 0; c < dv; c++)
            acc[c] += e * v[j * dv + c];
    }
    *m = mx;
    *s = sum;
    return 1;
}

/* The split form: window keys [i - l + 1, i] and strided keys i - l, i - 2l, ...
 * as two partial softmaxes merged by log-sum-exp. acc: 2·dv scratch. */
static void split(const attn_in *x, int64_t l, double *o, double *acc)
{
    const int64_t N = x->N, dv = x->dv;
    for (int64_t h = 0; h < x->H; h++)
        for (int64_t i = 0; i < N; i++) {
            double m1, s1, m2 = 0, s2 = 0, *oi = o + (h * N + i) * dv;
            partial(x, h, i, i - l + 1 > 0 ? i - l + 1 : 0, i, 1, &m1, &s1, acc);
            int has2 = partial(x, h, i, 0, i - l, l, &m2, &s2, acc + dv);
            double m = has2 && m2 > m1 ? m2 : m1;
            double a = exp(m1 - m), b = has2 ? exp(m2 - m) : 0;
            for (int64_t c = 0; c < dv; c++)
                oi[c] = (a * acc[c] + (has2 ? b * acc[dv + c] : 0)) / (a * s1 + b * s2);
        }
}

/* Run sparse_attention/<backend> at params kp on float inputs x and return
 * its error against y. */
static int run_kernel(const char *backend, cb_params *kp, const float *const x[3], const double *y,
                      double *e, char *err, size_t errlen)
{
    const cb_kernel *k = cb_kernel_find("sparse_attention");
    const cb_impl *im = cb_impl_find("sparse_attention", backend);
    if (!k || !im)
        return cb_fail(err, errlen, "sparse_reachability: no sparse_attention/%s in the registry", backend);
    float *o = NULL;
    int64_t n = 0;
    if (cb_impl_run_arrays(k, im, kp, x, &o, &n, err, errlen))
        return -1;
    *e = cb_rel_err_fd(o, y, (size_t)n);
    free(o);
    return 0;
}

static int get_dim(const cb_params *p, const char *name, int64_t *out, char *err, size_t errlen)
{
    double v = cb_params_get(p, name, 0);
    if (!(v >= 1 && v <= 1e9 && v == floor(v)))
        return cb_fail(err, errlen, "sparse_reachability: %s = %g must be an integer >= 1", name, v);
    *out = (int64_t)v;
    return 0;
}

static int add_at(cb_metrics *ms, const char *name, int64_t N, int64_t l, double value)
{
    cb_params at = {0};
    if (cb_params_set(&at, "N", (double)N) || cb_params_set(&at, "l", (double)l))
        return -1;
    return cb_metrics_add(ms, name, &at, value);
}

static int part_reach(int64_t Nmax, cb_metrics *ms, char *err, size_t errlen)
{
    static const int64_t sizes[] = {64, 250, 1000, 4096, 16384, 65536};
    static const struct { const char *name; int first, second; } kinds[] = {
        {"reach2_union", SET_UNION, SET_UNION},
        {"reach2_factorized", SET_STRIDED, SET_WINDOW},
        {"reach2_local", SET_WINDOW, SET_WINDOW},
    };
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        const int64_t N = sizes[s], l = cb_sparse_ceil_sqrt(N);
        if (N > Nmax)
            break;
        double total, maxrow;
        count_pairs(N, l, &total, &maxrow);
        if (add_at(ms, "pairs_per_row", N, l, total / (double)N) ||
            add_at(ms, "pairs_per_row_max", N, l, maxrow) ||
            add_at(ms, "reach1", N, l, total / ((double)N * (double)(N + 1) / 2)))
            return cb_fail(err, errlen, "sparse_reachability: out of memory");
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
            double f;
            if (reach_fraction(N, l, kinds[k].first, kinds[k].second, &f) ||
                add_at(ms, kinds[k].name, N, l, f))
                return cb_fail(err, errlen, "sparse_reachability: out of memory");
        }
    }
    return 0;
}

static int part_errors(const cb_params *p, uint64_t seed, cb_metrics *ms, char *err, size_t errlen)
{
    static const char *const backends[] = {"blas", "dnnl"};
    int64_t H, N, d, dv;
    if (get_dim(p, "H", &H, err, errlen) || get_dim(p, "N", &N, err, errlen) ||
        get_dim(p, "d", &d, err, errlen) || get_dim(p, "dv", &dv, err, errlen))
        return -1;
    const int64_t lroot = cb_sparse_ceil_sqrt(N);
    const size_t nqk = (size_t)(H * N * d), nv = (size_t)(H * N * dv);
    int rc = -1;
    double *q = malloc(nqk * sizeof *q), *k = malloc(nqk * sizeof *k), *v = malloc(nv * sizeof *v);
    double *y = malloc(nv * sizeof *y), *x = malloc(nv * sizeof *x);
    double *w = malloc((size_t)N * sizeof *w), *acc = malloc(2 * (size_t)dv * sizeof *acc);
    float *qf = malloc(nqk * sizeof *qf), *kf = malloc(nqk * sizeof *kf), *vf = malloc(nv * sizeof *vf);
    const float *const xin[3] = {qf, kf, vf};
    if (!q || !k || !v || !y || !x || !w || !acc || !qf || !kf || !vf) {
        cb_fail(err, errlen, "sparse_reachability: out of memory");
        goto done;
    }
    cb_rng_normal_d(q, nqk, seed, cb_rng_stream("q"), 1.0);
    cb_rng_normal_d(k, nqk, seed, cb_rng_stream("k"), 1.0);
    cb_rng_normal_d(v, nv, seed, cb_rng_stream("v"), 1.0);
    for (size_t i = 0; i < nqk; i++) {
        qf[i] = (float)q[i];
        kf[i] = (float)k[i];
        q[i] = qf[i];
        k[i] = kf[i];
    }
    for (size_t i = 0; i < nv; i++) {
        vf[i] = (float)v[i];
        v[i] = vf[i];
    }
    attn_in a = {H, N, d, dv, 1.0 / sqrt((double)d), q, k, v};

    /* the split form against the masked one, in double */
    const int64_t ls[4] = {1, 7, lroot, N};
    for (int t = 0; t < 4; t++) {
        masked(&a, ls[t], 0, y, w);
        split(&a, ls[t], x, acc);
        if (add_at(ms, "err64_split_vs_masked", N, ls[t], cb_rel_err_dd(x, y, nv)))
            goto oom;
    }
    /* the float32 kernels against the masked form */
    for (int t = 1; t < 3; t++) {
        masked(&a, ls[t], 0, y, w);
        for (size_t b = 0; b < 2; b++) {
            cb_params kp = {0};
            char name[CB_NAME_MAX];
            double e;
            if (cb_params_set(&kp, "H", (double)H) || cb_params_set(&kp, "N", (double)N) ||
                cb_params_set(&kp, "d", (double)d) || cb_params_set(&kp, "dv", (double)dv) ||
                cb_params_set(&kp, "l", (double)ls[t]))
                goto oom;
            if (run_kernel(backends[b], &kp, xin, y, &e, err, errlen))
                goto done;
            snprintf(name, sizeof name, "err32_sparse_%s", backends[b]);
            if (add_at(ms, name, N, ls[t], e))
                goto oom;
        }
    }
    /* both ends of the pattern against dense causal attention */
    masked(&a, 0, 1, y, w);
    const int64_t ends[2] = {1, N};
    for (int t = 0; t < 2; t++)
        for (size_t b = 0; b < 2; b++) {
            cb_params kp = {0};
            char name[CB_NAME_MAX];
            double e;
            if (cb_params_set(&kp, "H", (double)H) || cb_params_set(&kp, "N", (double)N) ||
                cb_params_set(&kp, "d", (double)d) || cb_params_set(&kp, "dv", (double)dv) ||
                cb_params_set(&kp, "l", (double)ends[t]))
                goto oom;
            if (run_kernel(backends[b], &kp, xin, y, &e, err, errlen))
                goto done;
            snprintf(name, sizeof name, "err32_dense_limit_%s", backends[b]);
            if (add_at(ms, name, N, ends[t], e))
                goto oom;
        }
    rc = 0;
    goto done;
oom:
    cb_fail(err, errlen, "sparse_reachability: out of memory");
done:
    free(q);
    free(k);
    free(v);
    free(y);
    free(x);
    free(w);
    free(acc);
    free(qf);
    free(kf);
    free(vf);
    return rc;
}

static int probe_run(const cb_params *params, uint64_t seed, cb_metrics *ms, char *err, size_t errlen)
{
    cb_params p = *params;
    if (cb_params_default(&p, "H", 2) || cb_params_default(&p, "N", 1000) ||
        cb_params_default(&p, "d", 64) || cb_params_default(&p, "Nmax", 65536))
        return cb_fail(err, errlen, "sparse_reachability: too many parameters");
    if (cb_params_default(&p, "dv", cb_params_get(&p, "d", 64)))
        return cb_fail(err, errlen, "sparse_reachability: too many parameters");
    int64_t Nmax;
    if (get_dim(&p, "Nmax", &Nmax, err, errlen) || part_reach(Nmax, ms, err, errlen))
        return -1;
    return part_errors(&p, seed, ms, err, errlen);
}

const cb_probe cb_probe_sparse_reachability = {
    .name = "sparse_reachability",
    .summary = "strided pattern: 2-hop reachability of causal pairs, pairs per row, split form = masked (fp64, fp32)",
    .run = probe_run,
};
