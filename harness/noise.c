/* noise.c — the U test, the bootstrap ratio of medians, the noise threshold
 * and the machine class of noise.h. */
#include "noise.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "stats.h"

/* ---- Mann–Whitney U ------------------------------------------------------- */

typedef struct ranked {
    double v;
    int from_x;
} ranked;

static int cmp_ranked(const void *pa, const void *pb)
{
    double a = ((const ranked *)pa)->v, b = ((const ranked *)pb)->v;
    return (a > b) - (a < b);
}

/* P(U >= k) under the null for sizes m, n, by counting arrangements.
 * Adding the largest of the m + n values: if it belongs to x it exceeds all
 * j values of y, so  c(i, j; u) = c(i-1, j; u-j) + c(i, j-1; u),
 * with c(0, j; u) = c(i, 0; u) = [u == 0]. Counts are kept in doubles (at
 * most C(100, 50) ≈ 1e29, far inside the range; only ratios are used).
 * Returns NaN on allocation failure. */
static double exact_sf(int m, int n, int k)
{
    const int K = m * n + 1;
    double *prev = calloc((size_t)(n + 1) * (size_t)K, sizeof *prev);
    double *cur = calloc((size_t)(n + 1) * (size_t)K, sizeof *cur);
    if (!prev || !cur) {
        free(prev);
        free(cur);
        return NAN;
    }
    for (int j = 0; j <= n; j++)
        prev[(size_t)j * K] = 1;            /* i = 0 */
    for (int i = 1; i <= m; i++) {
        memset(cur, 0, (size_t)(n + 1) * (size_t)K * sizeof *cur);
        cur[0] = 1;                         /* j = 0 */
        for (int j = 1; j <= n; j++) {
            double *c = cur + (size_t)j * K;
            const double *up = prev + (size_t)j * K, *left = cur + (size_t)(j - 1) * K;
            for (int u = 0; u <= i * j; u++)
                c[u] = (u >= j ? up[u - j] : 0) + left[u];
        }
        double *t = prev;
        prev = cur;
        cur = t;
    }
    const double *f = prev + (size_t)n * K;
    double total = 0, tail = 0;
    for (int u = 0; u < K; u++) {
        total += f[u];
        if (u >= k)
            tail += f[u];
    }
    free(prev);
    free(cur);
    return tail / total;
}

int cb_mann_whitney(const double *x, int nx, const double *y, int ny, cb_utest *out)
{
    out->u = NAN;
    out->p = 1;
    out->exact = 0;
    ranked *r = malloc((size_t)(nx + ny > 0 ? nx + ny : 1) * sizeof *r);
    if (!r)
        return -1;
    int m = 0, n = 0;
    for (int i = 0; i < nx; i++)
        if (!isnan(x[i])) {
            r[m + n] = (ranked){x[i], 1};
            m++;
        }
    for (int i = 0; i < ny; i++)
        if (!isnan(y[i])) {
            r[m + n] = (ranked){y[i], 0};
            n++;
        }
    if (m == 0 || n == 0) {
        free(r);
        return -1;
    }
    const int N = m + n;
    qsort(r, (size_t)N, sizeof *r, cmp_ranked);
    /* Mid-ranks (1-based) and the tie term sum(t^3 - t). */
    double rank_sum_x = 0, tie_term = 0;
    for (int i = 0; i < N;) {
        int j = i;
        while (j + 1 < N && r[j + 1].v == r[i].v)
            j++;
        double mid = 0.5 * ((i + 1) + (j + 1));
        double t = j - i + 1;
        tie_term += t * t * t - t;
        for (int k = i; k <= j; k++)
            if (r[k].from_x)
                rank_sum_x += mid;
        i = j + 1;
    }
    free(r);
    const double mn = (double)m * n;
    const double u1 = rank_sum_x - 0.5 * m * (m + 1.0);
    const double umax = u1 > mn - u1 ? u1 : mn - u1;
    out->u = u1;
    double p;
    if (tie_term == 0 && m <= CB_UTEST_EXACT_MAX && n <= CB_UTEST_EXACT_MAX) {
        p = 2 * exact_sf(m, n, (int)lround(umax));
        if (isnan(p))
            return -1;
        out->exact = 1;
    } else {
        double var = mn / 12.0 * ((N + 1.0) - tie_term / ((double)N * (N - 1.0)));
        if (!(var > 0)) {
            p = 1;          /* every value tied: no evidence of a shift */
        } else {
            double z = (umax - 0.5 * mn - 0.5) / sqrt(var);
            p = erfc(z / sqrt(2.0));    /* 2 * P(Z > z) */
        }
    }
    out->p = p < 0 ? 0 : p > 1 ? 1 : p;
    return 0;
}

double cb_utest_min_p(int nx, int ny)
{
    if (nx < 1 || ny < 1)
        return 1;
    /* 2 / C(nx + ny, nx), in logs to stay finite. */
    double lc = lgamma(nx + ny + 1.0) - lgamma(nx + 1.0) - lgamma(ny + 1.0);
    double p = 2 * exp(-lc);
    return p > 1 ? 1 : p;
}

/* ---- bootstrap ratio of medians ----------------------------------------------- */

int cb_ratio_ci(const double *base, int nb, const double *nw, int nn, int B, uint64_t seed,
                double level, double *ratio, double *lo, double *hi)
{
    *ratio = *lo = *hi = NAN;
    if (nb < 1 || nn < 1 || B < 1)
        return -1;
    double mb = cb_median(base, nb), mw = cb_median(nw, nn);
    if (!(mb > 0) || !(mw > 0))
        return -1;
    *ratio = mw / mb;
    double *rb = malloc((size_t)nb * sizeof *rb), *rn = malloc((size_t)nn * sizeof *rn);
    double *rs = malloc((size_t)B * sizeof *rs);
    if (!rb || !rn || !rs) {
        free(rb);
        free(rn);
        free(rs);
        return -1;
    }
    cb_prng g;
    cb_prng_seed(&g, seed);
    for (int b = 0; b < B; b++) {
        cb_resample(&g, base, nb, rb);
        cb_resample(&g, nw, nn, rn);
        double a = cb_median_inplace(rb, nb), c = cb_median_inplace(rn, nn);
        rs[b] = a > 0 ? c / a : NAN;
    }
    cb_sort(rs, B);
    int finite = 0;
    while (finite < B && !isnan(rs[finite]))
        finite++;
    double tail = 0.5 * (1 - level);
    *lo = cb_quantile_sorted(rs, finite, tail);
    *hi = cb_quantile_sorted(rs, finite, 1 - tail);
    free(rb);
    free(rn);
    free(rs);
    return 0;
}

/* ---- the threshold ------------------------------------------------------------- */

double cb_noise_threshold(const double *abs_log, int n, double q, double floor)
{
    if (n <= 0)
        return NAN;
    double t = exp(cb_quantile(abs_log, n, q)) - 1;
    return t > floor ? t : floor;
}

/* ---- machine class ------------------------------------------------------------- */

/* Remove every occurrence of `mark` (case-insensitive) from s. */
static void drop_mark(char *s, const char *mark)
{
    size_t ml = strlen(mark);
    for (char *p = s; *p;) {
        if (strncasecmp(p, mark, ml) == 0)
            memmove(p, p + ml, strlen(p + ml) + 1);
        else
            p++;
    }
}

static int all_digits(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return 0;
    return 1;
}

void cb_machine_class(const char *cpu, const char *cores, char *buf, size_t len)
{
    if (len == 0)
        return;
    char c[256];
    snprintf(c, sizeof c, "%s", cpu && *cpu ? cpu : "unknown");
    c[strcspn(c, "@")] = '\0';              /* the clock: "... CPU @ 2.90GHz" */
    drop_mark(c, "(R)");
    drop_mark(c, "(TM)");
    /* Lower-case words of letters and digits, without the filler words and
     * an "NN-Core" count (the core count that matters is the one we see). */
    char words[32][64];
    int nw = 0;
    for (char *p = c; *p && nw < 32;) {
        while (*p && !isalnum((unsigned char)*p))
            p++;
        int k = 0;
        while (*p && isalnum((unsigned char)*p)) {
            if (k < 63)
                words[nw][k++] = (char)tolower((unsigned char)*p);
            p++;
        }
        if (k == 0)
            break;
        words[nw][k] = '\0';
        if (strcmp(words[nw], "cpu") == 0 || strcmp(words[nw], "processor") == 0)
            continue;
        if (strcmp(words[nw], "core") == 0 && nw > 0 && all_digits(words[nw - 1])) {
            nw--;
            continue;
        }
        nw++;
    }
    size_t at = 0;
    buf[0] = '\0';
    for (int i = 0; i < nw && at + 1 < len; i++) {
        int k = snprintf(buf + at, len - at, "%s%s", at ? "-" : "", words[i]);
        if (k < 0)
            break;
        at += (size_t)k < len - at ? (size_t)k : len - at - 1;
    }
    if (at == 0)
        at = (size_t)snprintf(buf, len, "unknown");
    if (at >= len)
        at = len - 1;
    char n[32];
    snprintf(n, sizeof n, "%s", cores && *cores ? cores : "");
    if (all_digits(n))
        snprintf(buf + at, len - at, "-%sc", n);
}
