/* checks.c — the seven claim checks, each decided from the measured table.
 *
 * Every check follows the same path:
 *   1. select its series from the table (time rows when the metric is
 *      "time", metric rows otherwise; `where` filters by parameters; sweeps
 *      are sorted by the check's parameter),
 *   2. compute its figure from the median of each row (the point estimate),
 *   3. bootstrap: B = 2000 times, resample the repetitions of every row with
 *      replacement, take each row's median again and recompute the figure;
 *      the 2.5 and 97.5 percentiles are the 95% interval,
 *   4. compare the interval with the expected range:
 *        inside → reproduced, disjoint → not reproduced, else inconclusive.
 * Rows with one repetition add no resampling noise; if no row has more than
 * one, the interval collapses to the point and the point decides.
 * Missing or unusable data always gives "inconclusive" with the reason.
 */
#include "checks.h"

#include "stats.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { BOOT_B = 2000 };         /* bootstrap resamples */
#define CI_LO 0.025             /* 95% percentile interval */
#define CI_HI 0.975

const char *cb_verdict_name(cb_verdict_kind v)
{
    switch (v) {
    case CB_REPRODUCED: return "reproduced";
    case CB_NOT_REPRODUCED: return "not reproduced";
    case CB_INCONCLUSIVE: return "inconclusive";
    }
    return "?";
}

/* ---- small text helpers --------------------------------------------------- */

/* Append printf-style text to buf (NUL-terminated, capacity cap), truncating. */
__attribute__((format(printf, 3, 4)))
static void add(char *buf, size_t cap, const char *fmt, ...)
{
    size_t len = strlen(buf);
    if (len + 1 >= cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + len, cap - len, fmt, ap);
    va_end(ap);
}

/* "[lo, hi]", "≥ lo" or "≤ hi" after `what ` (what may be ""). */
static void range_text(char *buf, size_t cap, const char *what, double lo, double hi)
{
    const char *sep = what[0] ? " " : "";
    if (isinf(hi) && hi > 0 && !(isinf(lo) && lo < 0))
        snprintf(buf, cap, "%s%s≥ %g", what, sep, lo);
    else if (isinf(lo) && lo < 0 && !(isinf(hi) && hi > 0))
        snprintf(buf, cap, "%s%s≤ %g", what, sep, hi);
    else
        snprintf(buf, cap, "%s%sin [%g, %g]", what, sep, lo, hi);
}

static const char *metric_of(const cb_series_ref *s) { return s->metric[0] ? s->metric : "time"; }
static cb_row_kind kind_of(const cb_series_ref *s)
{
    return strcmp(metric_of(s), "time") == 0 ? CB_ROW_TIME : CB_ROW_METRIC;
}
/* An empty backend in a check matches any backend. */
static const char *backend_of(const cb_series_ref *s) { return s->backend[0] ? s->backend : NULL; }

/* Append "kernel X backend Y metric M" (or "probe X metric M"). */
static void add_series(char *buf, size_t cap, const cb_series_ref *s)
{
    if (strcmp(s->backend, "-") == 0)
        add(buf, cap, "probe %s metric %s", s->kernel, metric_of(s));
    else
        add(buf, cap, "kernel %s backend %s metric %s", s->kernel,
            s->backend[0] ? s->backend : "(any)", metric_of(s));
}

static void add_params(char *buf, size_t cap, const char *prefix, const cb_params *p)
{
    if (p->n == 0)
        return;
    char tmp[512];
    cb_params_format(p, tmp, sizeof tmp);
    add(buf, cap, "%s%s", prefix, tmp);
}

/* The "missing data" sentence: "no rows for kernel X backend Y metric time
 * where causal=1 [over N]". */
static void say_missing(cb_verdict *v, const cb_series_ref *s, const cb_params *where,
                        const char *param)
{
    add(v->detail, sizeof v->detail, "no rows for ");
    add_series(v->detail, sizeof v->detail, s);
    add_params(v->detail, sizeof v->detail, " where ", where);
    if (param && param[0])
        add(v->detail, sizeof v->detail, " with parameter %s", param);
}

/* Mention skipped and failed rows of the check's series (ignored for fits). */
static void say_skips(cb_verdict *v, const cb_check *c, const char *task, const cb_table *t,
                      int with_b)
{
    int skipped = 0, failed = 0;
    const cb_row *first = NULL;
    for (int i = 0; i < t->n; i++) {
        const cb_row *r = &t->rows[i];
        if (r->kind != CB_ROW_SKIP && r->kind != CB_ROW_FAIL)
            continue;
        if (strcmp(r->task, task) != 0 || !cb_params_subset(&c->where, &r->params))
            continue;
        int mine = 0;
        for (int side = 0; side < (with_b ? 2 : 1); side++) {
            const cb_series_ref *s = side ? &c->b : &c->a;
            if (strcmp(r->kernel, s->kernel) == 0 &&
                (!s->backend[0] || strcmp(r->backend, s->backend) == 0))
                mine = 1;
        }
        if (!mine)
            continue;
        if (r->kind == CB_ROW_SKIP) skipped++;
        else failed++;
        if (!first)
            first = r;
    }
    if (!first)
        return;
    add(v->detail, sizeof v->detail, "; ignored %d skipped and %d failed rows (first: %s/%s",
        skipped, failed, first->kernel, first->backend);
    add_params(v->detail, sizeof v->detail, " at ", &first->params);
    add(v->detail, sizeof v->detail, ": %s)", first->note[0] ? first->note : "no reason given");
}

/* ---- selecting rows ------------------------------------------------------- */

/* Every row of series s (and `where`), in table order. */
static int collect(const cb_table *t, const char *task, const cb_series_ref *s,
                   const cb_params *where, const cb_row **out, int cap)
{
    int k = 0;
    for (int i = 0; i < t->n && k < cap; i++) {
        const cb_row *r = &t->rows[i];
        if (r->kind == kind_of(s) && strcmp(r->task, task) == 0 &&
            strcmp(r->kernel, s->kernel) == 0 &&
            (!backend_of(s) || strcmp(r->backend, s->backend) == 0) &&
            strcmp(r->metric, metric_of(s)) == 0 && cb_params_subset(where, &r->params))
            out[k++] = r;
    }
    return k;
}

static int sweep(const cb_table *t, const char *task, const cb_series_ref *s,
                 const cb_check *c, const cb_row **out, int cap)
{
    return cb_table_series(t, kind_of(s), task, s->kernel, backend_of(s), metric_of(s),
                           &c->where, c->param, out, cap);
}

static double xval(const cb_row *r, const char *param) { return cb_params_get(&r->params, param, NAN); }

/* Returns 0 when every row has values, all finite (and > 0 if positive);
 * else says why in the detail and returns -1. */
static int usable(cb_verdict *v, const cb_row *const *rows, int k, int positive)
{
    for (int i = 0; i < k; i++) {
        const cb_row *r = rows[i];
        const char *why = r->n == 0 ? "has no values" : NULL;
        for (int j = 0; j < r->n && !why; j++) {
            if (!isfinite(r->v[j]))
                why = "has a non-finite value";
            else if (positive && !(r->v[j] > 0))
                why = "has a value ≤ 0 (a log-log slope needs positive values)";
        }
        if (why) {
            add(v->detail, sizeof v->detail, "row %s/%s %s", r->kernel, r->backend, r->metric);
            add_params(v->detail, sizeof v->detail, " at ", &r->params);
            add(v->detail, sizeof v->detail, " %s", why);
            return -1;
        }
    }
    return 0;
}

/* Two rows of one series at the same swept value make the series ambiguous.
 * Returns 0, or -1 with the reason in detail. */
static int distinct(cb_verdict *v, const cb_row *const *rows, int k, const char *param)
{
    for (int i = 1; i < k; i++)
        if (xval(rows[i], param) == xval(rows[i - 1], param)) {
            add(v->detail, sizeof v->detail,
                "several rows of %s/%s at %s=%g (add the parameter that tells them apart to where)",
                rows[i]->kernel, rows[i]->backend, param, xval(rows[i], param));
            return -1;
        }
    return 0;
}

/* ---- the bootstrap -------------------------------------------------------- */

/* A figure computed from the medians of the selected rows (in their order). */
typedef double (*figure_fn)(const double *med, void *ctx);

typedef struct boot {
    double point;               /* figure on the medians */
    double dist[BOOT_B];        /* figure on each resample, sorted (NaN last) */
    int resampled;              /* 0: no row had repetitions, dist unused */
    double lo, hi;              /* 2.5 / 97.5 percentiles (= point if !resampled) */
} boot;

static int bootstrap(const cb_row *const *rows, int k, figure_fn f, void *ctx, uint64_t seed,
                     boot *out)
{
    int maxn = 1;
    out->resampled = 0;
    for (int i = 0; i < k; i++) {
        if (rows[i]->n > maxn) maxn = rows[i]->n;
        if (rows[i]->n > 1) out->resampled = 1;
    }
    double *med = malloc((size_t)k * sizeof *med);
    double *scratch = malloc((size_t)maxn * sizeof *scratch);
    if (!med || !scratch) {
        free(med);
        free(scratch);
        return -1;
    }
    for (int i = 0; i < k; i++) {
        memcpy(scratch, rows[i]->v, (size_t)rows[i]->n * sizeof *scratch);
        med[i] = cb_median_inplace(scratch, rows[i]->n);
    }
    out->point = f(med, ctx);
    out->lo = out->hi = out->point;
    if (out->resampled) {
        cb_prng r;
        cb_prng_seed(&r, seed);
        for (int b = 0; b < BOOT_B; b++) {
            for (int i = 0; i < k; i++) {
                if (rows[i]->n == 1)
                    continue; /* fixed: med[i] is its only value */
                cb_resample(&r, rows[i]->v, rows[i]->n, scratch);
                med[i] = cb_median_inplace(scratch, rows[i]->n);
            }
            out->dist[b] = f(med, ctx);
        }
        cb_sort(out->dist, BOOT_B);
        out->lo = cb_quantile_sorted(out->dist, BOOT_B, CI_LO);
        out->hi = cb_quantile_sorted(out->dist, BOOT_B, CI_HI);
    }
    free(med);
    free(scratch);
    return 0;
}

/* The shared rule: interval inside [lo, hi] → reproduced, disjoint → not,
 * otherwise (straddling, or NaN) inconclusive. */
static cb_verdict_kind interval_verdict(double ilo, double ihi, double lo, double hi)
{
    if (ilo >= lo && ihi <= hi)
        return CB_REPRODUCED;
    if (ihi < lo || ilo > hi)
        return CB_NOT_REPRODUCED;
    return CB_INCONCLUSIVE;
}

static const char *relation(cb_verdict_kind k)
{
    return k == CB_REPRODUCED ? "inside" : k == CB_NOT_REPRODUCED ? "outside" : "straddles";
}

static void set_interval(cb_verdict *v, const boot *b)
{
    v->has_interval = b->resampled;
    v->lo = b->lo;
    v->hi = b->hi;
}

static void add_interval(cb_verdict *v, const boot *b)
{
    if (b->resampled)
        add(v->detail, sizeof v->detail, ", 95%% CI [%.4g, %.4g]", b->lo, b->hi);
    else
        add(v->detail, sizeof v->detail, " (one repetition per row: decided on the point)");
}

/* ---- scaling and trend: log-log slope over a sweep ----------------------- */

typedef struct slope_ctx {
    int k;
    const double *logx;
    double *logy;               /* scratch */
} slope_ctx;

static double slope_figure(const double *med, void *vctx)
{
    slope_ctx *c = vctx;
    for (int i = 0; i < c->k; i++)
        c->logy[i] = log(med[i]);
    double slope;
    return cb_ols(c->logx, c->logy, c->k, &slope, NULL) == 0 ? slope : NAN;
}

static void eval_slope(const cb_check *c, const char *task, const cb_table *t, uint64_t seed,
                       const cb_row **rows, boot *b, cb_verdict *v)
{
    int k = sweep(t, task, &c->a, c, rows, t->n);
    if (k == 0) {
        say_missing(v, &c->a, &c->where, c->param);
        return;
    }
    if (distinct(v, rows, k, c->param) != 0 || usable(v, rows, k, 1) != 0)
        return;
    double x0 = xval(rows[0], c->param), x1 = xval(rows[k - 1], c->param);
    if (k < 3 || !(x0 > 0) || x1 / x0 < 4) {
        add(v->detail, sizeof v->detail,
            "too few points: %d value%s of %s from %g to %g (a slope needs ≥ 3 positive values "
            "spanning ≥ 4×)", k, k == 1 ? "" : "s", c->param, x0, x1);
        return;
    }
    double *logx = malloc((size_t)k * sizeof *logx), *logy = malloc((size_t)k * sizeof *logy);
    if (!logx || !logy) {
        free(logx);
        free(logy);
        add(v->detail, sizeof v->detail, "out of memory");
        return;
    }
    for (int i = 0; i < k; i++)
        logx[i] = log(xval(rows[i], c->param));
    slope_ctx ctx = {k, logx, logy};
    int rc = bootstrap(rows, k, slope_figure, &ctx, seed, b);
    free(logx);
    free(logy);
    if (rc != 0) {
        add(v->detail, sizeof v->detail, "out of memory");
        return;
    }
    v->measured = b->point;
    set_interval(v, b);
    v->verdict = interval_verdict(b->lo, b->hi, c->lo, c->hi);
    add(v->detail, sizeof v->detail, "log-log slope of median %s of %s/%s over %s = %g..%g "
        "(%d points): %.4g", metric_of(&c->a), c->a.kernel, c->a.backend, c->param, x0, x1, k,
        b->point);
    add_interval(v, b);
    add(v->detail, sizeof v->detail, "; %s %s the expected range (%s)",
        b->resampled ? "interval" : "point", relation(v->verdict), v->expected);
}

/* ---- crossover: from which swept value on is A below B ------------------ */

typedef struct cross_ctx {
    int k;                      /* common points; med = A[0..k) then B[0..k) */
    const double *x;
} cross_ctx;

/* The smallest x[i] with A < B at i and at every larger point; +inf when
 * A is not below B at the largest point (no crossover inside the sweep). */
static double cross_figure(const double *med, void *vctx)
{
    const cross_ctx *c = vctx;
    int i = c->k;
    while (i > 0 && med[i - 1] < med[c->k + i - 1])
        i--;
    return i == c->k ? INFINITY : c->x[i];
}

static void eval_crossover(const cb_check *c, const char *task, const cb_table *t,
                           uint64_t seed, const cb_row **rows, boot *b, cb_verdict *v)
{
    /* rows is 4 × t->n long: A's series, B's series, then the paired rows
     * (A's at pair[0..k), B's gathered at pair[n..n+k) and moved to follow
     * A's; k ≤ n, so the move never overwrites what it still has to read). */
    const cb_row **ra = rows, **rb = rows + t->n, **pair = rows + 2 * t->n;
    int ka = sweep(t, task, &c->a, c, ra, t->n);
    int kb = sweep(t, task, &c->b, c, rb, t->n);
    if (ka == 0 || kb == 0) {
        say_missing(v, ka == 0 ? &c->a : &c->b, &c->where, c->param);
        return;
    }
    if (distinct(v, ra, ka, c->param) != 0 || distinct(v, rb, kb, c->param) != 0)
        return;
    /* Points present in both series (both are sorted by x). */
    double *x = malloc((size_t)(ka < kb ? ka : kb) * sizeof *x);
    if (!x) {
        add(v->detail, sizeof v->detail, "out of memory");
        return;
    }
    int k = 0;
    for (int i = 0, j = 0; i < ka && j < kb;) {
        double xa = xval(ra[i], c->param), xb = xval(rb[j], c->param);
        if (xa < xb) i++;
        else if (xb < xa) j++;
        else { x[k] = xa; pair[k] = ra[i]; pair[t->n + k] = rb[j]; k++; i++; j++; }
    }
    /* Pack B's paired rows right after A's: pair[0..k) A, pair[k..2k) B. */
    for (int i = 0; i < k; i++)
        pair[k + i] = pair[t->n + i];
    if (k < 2) {
        add(v->detail, sizeof v->detail, "too few points: %d value%s of %s measured for both "
            "A and B (need ≥ 2)", k, k == 1 ? "" : "s", c->param);
        free(x);
        return;
    }
    if (usable(v, pair, 2 * k, 0) != 0) {
        free(x);
        return;
    }
    cross_ctx ctx = {k, x};
    if (bootstrap(pair, 2 * k, cross_figure, &ctx, seed, b) != 0) {
        add(v->detail, sizeof v->detail, "out of memory");
        free(x);
        return;
    }
    int none = 0;
    if (b->resampled) {
        for (int i = 0; i < BOOT_B; i++)
            none += isinf(b->dist[i]) != 0;
    } else {
        none = isinf(b->point) ? BOOT_B : 0;
    }
    double medA = cb_median(pair[k - 1]->v, pair[k - 1]->n);
    double medB = cb_median(pair[2 * k - 1]->v, pair[2 * k - 1]->n);
    int found = isfinite(b->point);

    v->measured = found ? b->point : NAN;
    set_interval(v, b);
    if (found && b->lo >= c->lo && b->hi <= c->hi)
        v->verdict = CB_REPRODUCED;
    else if ((!found && none >= CI_HI * BOOT_B) || b->lo > c->hi || b->hi < c->lo)
        v->verdict = CB_NOT_REPRODUCED;
    else
        v->verdict = CB_INCONCLUSIVE;

    if (!found)
        add(v->detail, sizeof v->detail, "A (%s/%s) is not below B (%s/%s) at the largest "
            "%s=%g: no crossover in the sweep", c->a.kernel, c->a.backend, c->b.kernel,
            c->b.backend, c->param, x[k - 1]);
    else if (b->point == x[0])
        add(v->detail, sizeof v->detail, "A (%s/%s) below B (%s/%s) at every swept %s "
            "(from %s=%g on)", c->a.kernel, c->a.backend, c->b.kernel, c->b.backend, c->param,
            c->param, x[0]);
    else
        add(v->detail, sizeof v->detail, "A (%s/%s) below B (%s/%s) from %s=%g on",
            c->a.kernel, c->a.backend, c->b.kernel, c->b.backend, c->param, b->point);
    add(v->detail, sizeof v->detail, "; ratio B/A at the largest %s=%g = %.3g (%d common "
        "points)", c->param, x[k - 1], medB / medA, k);
    if (b->resampled)
        add(v->detail, sizeof v->detail, "; 95%% bootstrap range [%g, %g], %.1f%% of resamples "
            "without crossover", b->lo, b->hi, 100.0 * none / BOOT_B);
    else
        add(v->detail, sizeof v->detail, " (one repetition per row: decided on the point)");
    add(v->detail, sizeof v->detail, "; expected in [%g, %g]", c->lo, c->hi);
    free(x);
}

/* ---- ratio: A / B at one point -------------------------------------------- */

static double ratio_figure(const double *med, void *ctx)
{
    (void)ctx;
    return med[0] / med[1];
}

/* Exactly one row of series s, else the reason in detail. */
static const cb_row *one_row(const cb_table *t, const char *task, const cb_series_ref *s,
                             const cb_params *where, const cb_row **buf, cb_verdict *v)
{
    int k = collect(t, task, s, where, buf, t->n);
    if (k == 1)
        return buf[0];
    if (k == 0) {
        say_missing(v, s, where, NULL);
    } else {
        add(v->detail, sizeof v->detail, "%d rows match ", k);
        add_series(v->detail, sizeof v->detail, s);
        add_params(v->detail, sizeof v->detail, " where ", where);
        add(v->detail, sizeof v->detail, " (where must select one point)");
    }
    return NULL;
}

static void eval_ratio(const cb_check *c, const char *task, const cb_table *t, uint64_t seed,
                       const cb_row **rows, boot *b, cb_verdict *v)
{
    const cb_row *pair[2];
    if (!(pair[0] = one_row(t, task, &c->a, &c->where, rows, v)) ||
        !(pair[1] = one_row(t, task, &c->b, &c->where, rows, v)) ||
        usable(v, pair, 2, 0) != 0)
        return;
    if (bootstrap(pair, 2, ratio_figure, NULL, seed, b) != 0) {
        add(v->detail, sizeof v->detail, "out of memory");
        return;
    }
    double ma = cb_median(pair[0]->v, pair[0]->n), mb = cb_median(pair[1]->v, pair[1]->n);
    if (!isfinite(b->point)) {
        add(v->detail, sizeof v->detail, "median of B is %g: the ratio A/B is undefined", mb);
        return;
    }
    v->measured = b->point;
    set_interval(v, b);
    v->verdict = interval_verdict(b->lo, b->hi, c->lo, c->hi);
    add(v->detail, sizeof v->detail, "median %s: A (%s/%s) %.4g, B (%s/%s) %.4g; A/B = %.4g",
        metric_of(&c->a), c->a.kernel, c->a.backend, ma, c->b.kernel, c->b.backend, mb,
        b->point);
    add_params(v->detail, sizeof v->detail, " at ", &c->where);
    add_interval(v, b);
    add(v->detail, sizeof v->detail, "; %s %s the expected range (%s)",
        b->resampled ? "interval" : "point", relation(v->verdict), v->expected);
}

/* ---- order: A < B at every common point ----------------------------------- */

typedef struct order_ctx { int k; } order_ctx;   /* med = A[0..k) then B[0..k) */

static double order_figure(const double *med, void *vctx)
{
    const order_ctx *c = vctx;
    double worst = -INFINITY;
    for (int i = 0; i < c->k; i++) {
        double r = med[i] / med[c->k + i];
        if (isnan(r) || r > worst)
            worst = r;
        if (isnan(r))
            break;
    }
    return worst;
}

static int same_params(const cb_params *a, const cb_params *b)
{
    return cb_params_subset(a, b) && cb_params_subset(b, a);
}

static void eval_order(const cb_check *c, const char *task, const cb_table *t, uint64_t seed,
                       const cb_row **rows, boot *b, cb_verdict *v)
{
    const cb_row **ra = rows, **rb = rows + t->n, **pair = rows + 2 * t->n;
    int ka = collect(t, task, &c->a, &c->where, ra, t->n);
    int kb = collect(t, task, &c->b, &c->where, rb, t->n);
    if (ka == 0 || kb == 0) {
        say_missing(v, ka == 0 ? &c->a : &c->b, &c->where, NULL);
        return;
    }
    /* Pair each A row with the one B row at the same parameters. */
    int k = 0, unpaired = 0;
    for (int i = 0; i < ka; i++) {
        const cb_row *match = NULL;
        for (int j = 0; j < kb; j++) {
            if (!same_params(&ra[i]->params, &rb[j]->params))
                continue;
            if (match) {
                add(v->detail, sizeof v->detail, "several rows of B (%s/%s %s)", c->b.kernel,
                    c->b.backend, metric_of(&c->b));
                add_params(v->detail, sizeof v->detail, " at ", &ra[i]->params);
                return;
            }
            match = rb[j];
        }
        if (!match) {
            unpaired++;
            continue;
        }
        pair[k] = ra[i];
        pair[t->n + k] = match;
        k++;
    }
    if (k == 0) {
        add(v->detail, sizeof v->detail, "no point where both A (%s/%s %s) and B (%s/%s %s) "
            "were measured with the same parameters", c->a.kernel, c->a.backend,
            metric_of(&c->a), c->b.kernel, c->b.backend, metric_of(&c->b));
        return;
    }
    for (int i = 0; i < k; i++) /* B's rows right after A's, as in eval_crossover */
        pair[k + i] = pair[t->n + i];
    if (usable(v, pair, 2 * k, 0) != 0)
        return;
    for (int i = 0; i < k; i++) {
        if (!(cb_median(pair[k + i]->v, pair[k + i]->n) > 0)) {
            add(v->detail, sizeof v->detail, "median of B is ≤ 0");
            add_params(v->detail, sizeof v->detail, " at ", &pair[i]->params);
            add(v->detail, sizeof v->detail, ": the ratio A/B is undefined");
            return;
        }
    }
    order_ctx ctx = {k};
    if (bootstrap(pair, 2 * k, order_figure, &ctx, seed, b) != 0) {
        add(v->detail, sizeof v->detail, "out of memory");
        return;
    }
    /* Where the largest ratio is, for the detail. */
    int at = 0;
    double worst = -INFINITY;
    for (int i = 0; i < k; i++) {
        double r = cb_median(pair[i]->v, pair[i]->n) / cb_median(pair[k + i]->v, pair[k + i]->n);
        if (r > worst) { worst = r; at = i; }
    }
    v->measured = b->point;
    set_interval(v, b);
    v->verdict = b->hi < 1 ? CB_REPRODUCED : b->lo >= 1 ? CB_NOT_REPRODUCED : CB_INCONCLUSIVE;
    add(v->detail, sizeof v->detail, "median %s of A (%s/%s) over B (%s/%s %s) at %d point%s: "
        "largest A/B = %.4g", metric_of(&c->a), c->a.kernel, c->a.backend, c->b.kernel,
        c->b.backend, metric_of(&c->b), k, k == 1 ? "" : "s", b->point);
    add_params(v->detail, sizeof v->detail, " at ", &pair[at]->params);
    add_interval(v, b);
    add(v->detail, sizeof v->detail, "; A < B needs the upper bound < 1");
    if (unpaired)
        add(v->detail, sizeof v->detail, "; %d rows of A had no B at the same parameters",
            unpaired);
}

/* ---- bound and equivalence: every value of the matching rows ------------- */

static void eval_values(const cb_check *c, const char *task, const cb_table *t,
                        const cb_row **rows, cb_verdict *v)
{
    int equiv = c->type == CB_CHECK_EQUIVALENCE;
    double lo = equiv ? -INFINITY : c->lo, hi = c->hi;
    int k = collect(t, task, &c->a, &c->where, rows, t->n);
    if (k == 0) {
        say_missing(v, &c->a, &c->where, NULL);
        return;
    }
    int count = 0, outside = 0, nonfinite = 0, have_nan = 0;
    double vmin = INFINITY, vmax = -INFINITY, worst = NAN, worst_dist = -1;
    const cb_row *worst_row = NULL;
    for (int i = 0; i < k; i++) {
        for (int j = 0; j < rows[i]->n; j++) {
            double x = rows[i]->v[j];
            count++;
            if (isnan(x)) {
                /* NaN never passes, and is the worst possible value. */
                nonfinite++;
                outside++;
                if (!have_nan) {
                    have_nan = 1;
                    worst = NAN;
                    worst_dist = INFINITY;
                    worst_row = rows[i];
                }
                continue;
            }
            if (x < vmin) vmin = x;
            if (x > vmax) vmax = x;
            /* An infinite value never passes either (an error or metric that
             * overflowed), whatever the bounds. */
            double d = isinf(x) ? INFINITY : x < lo ? lo - x : x > hi ? x - hi : 0;
            if (isinf(x))
                nonfinite++;
            if (d > 0) {
                outside++;
                if (have_nan)
                    continue;
                if (d > worst_dist || !worst_row) {
                    worst = x;
                    worst_dist = d;
                    worst_row = rows[i];
                }
            }
        }
    }
    if (count == 0) {
        add(v->detail, sizeof v->detail, "%d matching row%s but no values", k, k == 1 ? "" : "s");
        return;
    }
    if (outside) {
        v->verdict = CB_NOT_REPRODUCED;
        v->measured = worst;
    } else {
        v->verdict = CB_REPRODUCED;
        v->measured = (isfinite(hi) || equiv) ? vmax : vmin;
    }
    v->has_interval = 0;
    v->lo = v->hi = v->measured;
    add(v->detail, sizeof v->detail, "%d value%s of %s/%s %s in %d row%s", count,
        count == 1 ? "" : "s", c->a.kernel, c->a.backend, metric_of(&c->a), k, k == 1 ? "" : "s");
    add_params(v->detail, sizeof v->detail, " where ", &c->where);
    if (vmin <= vmax)
        add(v->detail, sizeof v->detail, ": min %.4g, max %.4g", vmin, vmax);
    if (nonfinite)
        add(v->detail, sizeof v->detail, "; %d non-finite", nonfinite);
    add(v->detail, sizeof v->detail, "; %d outside the expected range (%s)", outside, v->expected);
    if (worst_row) {
        add(v->detail, sizeof v->detail, " (worst %.4g", worst);
        add_params(v->detail, sizeof v->detail, " at ", &worst_row->params);
        add(v->detail, sizeof v->detail, ")");
    }
}

/* ---- entry point ---------------------------------------------------------- */

static void expected_text(const cb_check *c, char *buf, size_t cap)
{
    switch (c->type) {
    case CB_CHECK_SCALING:
    case CB_CHECK_TREND: range_text(buf, cap, "slope", c->lo, c->hi); break;
    case CB_CHECK_CROSSOVER: range_text(buf, cap, "crossover", c->lo, c->hi); break;
    case CB_CHECK_RATIO: range_text(buf, cap, "ratio", c->lo, c->hi); break;
    case CB_CHECK_ORDER: snprintf(buf, cap, "A < B"); break;
    case CB_CHECK_BOUND: range_text(buf, cap, "", c->lo, c->hi); break;
    case CB_CHECK_EQUIVALENCE: snprintf(buf, cap, "≤ %g", c->hi); break;
    }
}

void cb_check_eval(const cb_check *c, const char *task, const cb_table *t,
                   uint64_t seed, cb_verdict *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->task, sizeof out->task, "%s", task);
    memcpy(out->check, c->name, sizeof out->check);
    out->check[sizeof out->check - 1] = '\0';
    memcpy(out->paper, c->paper, sizeof out->paper);
    out->paper[sizeof out->paper - 1] = '\0';
    out->type = c->type;
    out->verdict = CB_INCONCLUSIVE;
    out->measured = out->lo = out->hi = NAN;
    expected_text(c, out->expected, sizeof out->expected);

    int two = c->type == CB_CHECK_CROSSOVER || c->type == CB_CHECK_RATIO ||
              c->type == CB_CHECK_ORDER;
    if (!c->a.kernel[0] || (two && !c->b.kernel[0])) {
        add(out->detail, sizeof out->detail, "the check names no series %s",
            !c->a.kernel[0] ? "A" : "B");
        return;
    }
    if ((c->type == CB_CHECK_SCALING || c->type == CB_CHECK_TREND ||
         c->type == CB_CHECK_CROSSOVER) && !c->param[0]) {
        add(out->detail, sizeof out->detail, "the check names no swept parameter");
        return;
    }
    if (t->n == 0) {
        add(out->detail, sizeof out->detail, "the table is empty: ");
        say_missing(out, &c->a, &c->where, c->param);
        return;
    }
    /* Row-pointer workspace (4 × the table: series A, series B, and the
     * pairs of A and B rows) and the bootstrap distribution, on the heap. */
    const cb_row **rows = malloc(4 * (size_t)t->n * sizeof *rows);
    boot *b = malloc(sizeof *b);
    if (!rows || !b) {
        add(out->detail, sizeof out->detail, "out of memory");
    } else {
        switch (c->type) {
        case CB_CHECK_SCALING:
        case CB_CHECK_TREND: eval_slope(c, task, t, seed, rows, b, out); break;
        case CB_CHECK_CROSSOVER: eval_crossover(c, task, t, seed, rows, b, out); break;
        case CB_CHECK_RATIO: eval_ratio(c, task, t, seed, rows, b, out); break;
        case CB_CHECK_ORDER: eval_order(c, task, t, seed, rows, b, out); break;
        case CB_CHECK_BOUND:
        case CB_CHECK_EQUIVALENCE: eval_values(c, task, t, rows, out); break;
        }
        say_skips(out, c, task, t, two);
    }
    free(rows);
    free(b);
}
