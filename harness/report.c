/* report.c — `claimbench report`: Markdown reports and gnuplot figures of a run.
 *
 * Reads the run folder (samples.tsv, machine.tsv, verdicts.tsv if verified)
 * and the specs, draws the figures of each task (the figure_kinds table
 * below; a new kind of figure is one function and one entry), then writes
 * reports/<id>.md — the spec's own prose with the generated sections woven in
 * at its marker lines — and reports/index.md. Nothing here measures or
 * judges: timings come from the rows' repetitions, verdicts from verify.
 * Two additions live in their own sections at the end: the trend figure of
 * each kernel across the runs of the SQLite history (fig_history), and the
 * HTML pages rendered from the Markdown (html.h).
 */
#define _XOPEN_SOURCE 700 /* realpath */
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "cli.h"
#include "history.h"
#include "html.h"
#include "kernel.h"
#include "plot.h"
#include "results.h"
#include "spec.h"
#include "stats.h"
#include "table.h"

#define MAX_BACKENDS 16
#define MAX_NAMES (2 * CB_MAX_PARAMS)
#define MAX_TASK_KERNELS 32

/* ---- what the run folder holds -------------------------------------------- */

typedef struct kv {
    char *key, *value;
} kv;

/* verdicts.tsv columns, as written by verify.c. */
enum { VF_TASK, VF_CHECK, VF_TYPE, VF_VERDICT, VF_MEASURED, VF_LO, VF_HI, VF_EXPECTED,
       VF_PAPER, VF_DETAIL, VF_N };

typedef struct vline {
    char *line;                 /* owns the text the fields point into */
    const char *f[VF_N];
} vline;

typedef struct figref {
    char stem[256];
    char caption[512];
} figref;

/* Everything a report is made from, and the figures of the task at hand. */
typedef struct rep {
    const cb_table *t;
    char run_name[256];
    int n_machine;
    kv *machine;
    int have_verdicts;
    int n_verdicts;
    vline *verdicts;
    double peak_1t, peak_all;   /* FMA peak GFLOP/s (NaN when not measured) */
    double sgemm_blas, sgemm_dnnl;
    const char *reports_dir;
    const char *history;        /* SQLite history for the trend figures (NULL: none) */
    char figdir[1100];
    int quiet;
    int n_fig, cap_fig;
    figref *fig;
    char err[1024];
} rep;

static const char *machine_get(const rep *r, const char *key)
{
    for (int i = 0; i < r->n_machine; i++)
        if (strcmp(r->machine[i].key, key) == 0) return r->machine[i].value;
    return NULL;
}

/* Read a whole text file line by line; calls fn(line, ctx) for each line
 * without its newline. Returns 0, -1 when the file cannot be opened
 * (errno set) or fn failed. */
static int each_line(const char *path, int (*fn)(char *line, void *ctx), void *ctx)
{
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = 0;
    while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
        if (len > 0) rc = fn(line, ctx);
    }
    if (rc == 0 && ferror(f)) rc = -1;
    free(line);
    fclose(f);
    return rc;
}

static int machine_line(char *line, void *ctx)
{
    rep *r = ctx;
    char *tab = strchr(line, '\t');
    if (!tab) return 0; /* not a pair: ignored */
    *tab = '\0';
    kv *g = realloc(r->machine, (size_t)(r->n_machine + 1) * sizeof *g);
    if (!g) return -1;
    r->machine = g;
    kv *e = &r->machine[r->n_machine];
    e->key = strdup(line);
    e->value = strdup(tab + 1);
    if (!e->key || !e->value) {
        free(e->key);
        free(e->value);
        return -1;
    }
    r->n_machine++;
    return 0;
}

static int verdict_line(char *line, void *ctx)
{
    rep *r = ctx;
    vline *g = realloc(r->verdicts, (size_t)(r->n_verdicts + 1) * sizeof *g);
    if (!g) return -1;
    r->verdicts = g;
    vline *v = &r->verdicts[r->n_verdicts];
    if (!(v->line = strdup(line))) return -1;
    /* Missing trailing fields read as empty, so an older verify still shows. */
    char *cur = v->line;
    for (int i = 0; i < VF_N; i++) {
        v->f[i] = cur ? cur : "";
        char *tab = cur ? strchr(cur, '\t') : NULL;
        if (tab) *tab = '\0';
        cur = tab ? tab + 1 : NULL;
    }
    r->n_verdicts++;
    return 0;
}

static void rep_free(rep *r)
{
    for (int i = 0; i < r->n_machine; i++) {
        free(r->machine[i].key);
        free(r->machine[i].value);
    }
    free(r->machine);
    for (int i = 0; i < r->n_verdicts; i++) free(r->verdicts[i].line);
    free(r->verdicts);
    free(r->fig);
}

/* ---- small numeric and text helpers --------------------------------------- */

/* Median, min and max of a row's repetitions; -1 when it has none. */
static int row_stats(const cb_row *row, double *med, double *mn, double *mx)
{
    if (row->n <= 0) return -1;
    *med = cb_median(row->v, row->n);
    *mn = *mx = row->v[0];
    for (int i = 1; i < row->n; i++) {
        if (row->v[i] < *mn) *mn = row->v[i];
        if (row->v[i] > *mx) *mx = row->v[i];
    }
    return 0;
}

static double row_median(const cb_row *row)
{
    double med, mn, mx;
    return row_stats(row, &med, &mn, &mx) == 0 ? med : NAN;
}

void cb_format_duration(double s, char *buf, size_t len)
{
    if (!isfinite(s)) snprintf(buf, len, "–");
    else if (s < 1e-6) snprintf(buf, len, "%.3g ns", s * 1e9);
    else if (s < 1e-3) snprintf(buf, len, "%.3g µs", s * 1e6);
    else if (s < 1) snprintf(buf, len, "%.3g ms", s * 1e3);
    else if (s < 100) snprintf(buf, len, "%.3g s", s);
    else snprintf(buf, len, "%.0f s", s);
}

/* Work of one call in GFLOP, from the kernel's own flop count; NaN when the
 * kernel is unknown or declares none. Defaults are filled through shapes()
 * in case a row's parameters are not complete. */
static double row_gflop(const cb_row *row)
{
    const cb_kernel *k = cb_kernel_find(row->kernel);
    if (!k || !k->flops) return NAN;
    cb_params p = row->params;
    if (k->shapes) {
        cb_shape in[CB_MAX_TENSORS], out[CB_MAX_TENSORS];
        char e[256];
        cb_params q = p;
        if (k->shapes(&q, in, out, e, sizeof e) == 0) p = q;
    }
    double fl = k->flops(&p);
    return fl > 0 ? fl * 1e-9 : NAN;
}

/* snprintf for labels and names, where cutting an over-long text is fine. */
__attribute__((format(printf, 3, 4)))
static void sfmt(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

/* A Markdown table cell: pipes escaped, no line breaks. */
static void md_cell(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '|') fputs("\\|", f);
        else if (*s == '\n' || *s == '\r' || *s == '\t') fputc(' ', f);
        else fputc(*s, f);
    }
}

/* A one-line summary as a paragraph ending with a full stop. */
static void put_sentence(FILE *f, const char *s)
{
    size_t n = strlen(s);
    fprintf(f, "%s%s\n\n", s, n && s[n - 1] == '.' ? "" : ".");
}

static void params_text(const cb_params *p, char *buf, size_t len)
{
    if (cb_params_format(p, buf, len) >= (int)len && len > 4) strcpy(buf + len - 4, "...");
    if (!buf[0]) snprintf(buf, len, "–");
}

/* A file or figure name made of [A-Za-z0-9._-] only. */
static void safe_name(char *s)
{
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '_' || *s == '-'))
            *s = '_';
}

static int add_unique(char (*names)[CB_NAME_MAX], int *n, int cap, const char *name)
{
    for (int i = 0; i < *n; i++)
        if (strcmp(names[i], name) == 0) return i;
    if (*n >= cap || strlen(name) >= CB_NAME_MAX) return -1;
    snprintf(names[*n], CB_NAME_MAX, "%s", name);
    return (*n)++;
}

/* ---- the timed rows of one kernel of a task --------------------------------- */

typedef struct krows {
    const char *kernel;
    const char *sweep;          /* the swept parameter ("" when none) */
    int n;
    const cb_row **row;         /* time, skip and fail rows of this kernel */
    int n_backends;
    char backends[MAX_BACKENDS][CB_NAME_MAX];
    int n_vary;                 /* variant parameters (causal): differ at one sweep value */
    char vary[MAX_NAMES][CB_NAME_MAX];
    int n_follow;               /* parameters that only follow the sweep (M = N) */
    char follow[MAX_NAMES][CB_NAME_MAX];
} krows;

/* Same sweep value (NaN when a row has none). */
static int same_x(double a, double b) { return (isnan(a) && isnan(b)) || a == b; }

static double row_x(const krows *k, const cb_row *row)
{
    return k->sweep[0] ? cb_params_get(&row->params, k->sweep, NAN) : NAN;
}

static int same_value(const cb_params *a, const cb_params *b, const char *name)
{
    int ha = cb_params_has(a, name), hb = cb_params_has(b, name);
    return ha == hb && (!ha || cb_params_get(a, name, 0) == cb_params_get(b, name, 0));
}

/* Sort the parameters of k's rows (sweep aside) into three kinds: fixed
 * (one value in every row), variants (two rows at the same sweep value
 * differ, as causal=0/1: each value is its own line) and followers (they
 * change only with the sweep value, as M = N: not a variant). */
static void classify_params(krows *k)
{
    char names[MAX_NAMES][CB_NAME_MAX];
    int nn = 0;
    for (int i = 0; i < k->n; i++)
        for (int j = 0; j < k->row[i]->params.n; j++)
            if (strcmp(k->row[i]->params.name[j], k->sweep) != 0)
                add_unique(names, &nn, MAX_NAMES, k->row[i]->params.name[j]);
    for (int j = 0; j < nn; j++) {
        int variant = 0, constant = 1;
        for (int a = 0; a < k->n && !variant; a++)
            for (int b = a + 1; b < k->n && !variant; b++) {
                if (same_value(&k->row[a]->params, &k->row[b]->params, names[j])) continue;
                constant = 0;
                variant = same_x(row_x(k, k->row[a]), row_x(k, k->row[b]));
            }
        if (variant) add_unique(k->vary, &k->n_vary, MAX_NAMES, names[j]);
        else if (!constant) add_unique(k->follow, &k->n_follow, MAX_NAMES, names[j]);
    }
}

static int is_timed_row(const cb_row *row, const char *task, const char *kernel)
{
    return row->kind != CB_ROW_METRIC && strcmp(row->backend, "-") != 0 &&
           strcmp(row->metric, "time") == 0 &&
           strcmp(row->task, task) == 0 && (!kernel || strcmp(row->kernel, kernel) == 0);
}

static int collect_kernel(const rep *r, const cb_spec *s, const char *kernel, krows *k)
{
    memset(k, 0, sizeof *k);
    k->kernel = kernel;
    k->sweep = s->sweep_param;
    int n = 0;
    for (int i = 0; i < r->t->n; i++) n += is_timed_row(&r->t->rows[i], s->id, kernel);
    k->row = malloc((size_t)(n > 0 ? n : 1) * sizeof *k->row);
    if (!k->row) return -1;
    for (int i = 0; i < r->t->n; i++)
        if (is_timed_row(&r->t->rows[i], s->id, kernel)) k->row[k->n++] = &r->t->rows[i];

    /* Backends in the spec's order, then any other the data holds. */
    for (int e = 0; e < s->n_kernels; e++)
        if (strcmp(s->kernels[e].name, kernel) == 0)
            for (int b = 0; b < s->kernels[e].n_backends; b++)
                add_unique(k->backends, &k->n_backends, MAX_BACKENDS, s->kernels[e].backends[b]);
    for (int i = 0; i < k->n; i++) add_unique(k->backends, &k->n_backends, MAX_BACKENDS, k->row[i]->backend);

    classify_params(k);
    return 0;
}

/* "causal=1": the varying parameters of a row ("" when none vary). */
static void variant_label(const krows *k, const cb_params *p, char *buf, size_t len)
{
    cb_params v = {0};
    for (int j = 0; j < k->n_vary; j++)
        if (cb_params_has(p, k->vary[j])) cb_params_set(&v, k->vary[j], cb_params_get(p, k->vary[j], 0));
    cb_params_format(&v, buf, len);
}

/* The parameters every row shares (sweep and varying ones left out). */
static void fixed_params(const krows *k, const cb_params *p0, char *buf, size_t len)
{
    cb_params v = {0};
    for (int j = 0; j < p0->n; j++) {
        int skip = strcmp(p0->name[j], k->sweep) == 0;
        for (int i = 0; i < k->n_vary && !skip; i++) skip = strcmp(p0->name[j], k->vary[i]) == 0;
        for (int i = 0; i < k->n_follow && !skip; i++) skip = strcmp(p0->name[j], k->follow[i]) == 0;
        if (!skip) cb_params_set(&v, p0->name[j], p0->value[j]);
    }
    params_text(&v, buf, len);
}

/* Kernel names of a task: the spec's, then any other with timed rows. */
static int task_kernels(const rep *r, const cb_spec *s, char (*names)[CB_NAME_MAX])
{
    int n = 0;
    for (int e = 0; e < s->n_kernels; e++) add_unique(names, &n, MAX_TASK_KERNELS, s->kernels[e].name);
    for (int i = 0; i < r->t->n; i++)
        if (is_timed_row(&r->t->rows[i], s->id, NULL))
            add_unique(names, &n, MAX_TASK_KERNELS, r->t->rows[i].kernel);
    return n;
}

/* ---- figures --------------------------------------------------------------- */

/* One line of a figure before unit scaling: x, median, min, max per point. */
typedef struct rawser {
    char label[160];
    int color, dash;            /* as in cb_plot_series */
    int n;
    double *x, *y, *lo, *hi;
} rawser;

typedef struct rawfig {
    int n, cap;
    rawser *s;
} rawfig;

static void rawfig_free(rawfig *f)
{
    for (int i = 0; i < f->n; i++) {
        free(f->s[i].x);
        free(f->s[i].y);
        free(f->s[i].lo);
        free(f->s[i].hi);
    }
    free(f->s);
    memset(f, 0, sizeof *f);
}

typedef struct xrow {
    double x;
    const cb_row *row;
} xrow;

static int cmp_xrow(const void *a, const void *b)
{
    double x = ((const xrow *)a)->x, y = ((const xrow *)b)->x;
    return (x > y) - (x < y);
}

/* Add the time rows of kernel k on `backend` with variant `variant` as one
 * line sorted by the sweep value. per_token divides by N (the decode view).
 * Returns 0 (also when there is nothing to draw) or -1 on allocation failure. */
static int rawfig_add(rawfig *f, const krows *k, const char *backend, const char *variant,
                      const char *label, int per_token, int color, int dash)
{
    xrow *xs = malloc((size_t)(k->n > 0 ? k->n : 1) * sizeof *xs);
    if (!xs) return -1;
    int m = 0;
    for (int i = 0; i < k->n; i++) {
        const cb_row *row = k->row[i];
        if (row->kind != CB_ROW_TIME || row->n <= 0 || strcmp(row->backend, backend) != 0) continue;
        char v[256];
        variant_label(k, &row->params, v, sizeof v);
        double x = row_x(k, row);
        if (strcmp(v, variant) != 0 || !isfinite(x)) continue;
        xs[m].x = x;
        xs[m++].row = row;
    }
    if (m == 0) {
        free(xs);
        return 0;
    }
    qsort(xs, (size_t)m, sizeof *xs, cmp_xrow);
    if (f->n == f->cap) {
        int cap = f->cap ? 2 * f->cap : 8;
        rawser *g = realloc(f->s, (size_t)cap * sizeof *g);
        if (!g) {
            free(xs);
            return -1;
        }
        f->s = g;
        f->cap = cap;
    }
    rawser *s = &f->s[f->n];
    memset(s, 0, sizeof *s);
    sfmt(s->label, sizeof s->label, "%s", label);
    s->color = color;
    s->dash = dash;
    s->x = malloc((size_t)m * sizeof *s->x);
    s->y = malloc((size_t)m * sizeof *s->y);
    s->lo = malloc((size_t)m * sizeof *s->lo);
    s->hi = malloc((size_t)m * sizeof *s->hi);
    if (!s->x || !s->y || !s->lo || !s->hi) {
        free(s->x);
        free(s->y);
        free(s->lo);
        free(s->hi);
        free(xs);
        return -1;
    }
    for (int i = 0; i < m; i++) {
        double med, mn, mx;
        row_stats(xs[i].row, &med, &mn, &mx);
        double div = per_token ? cb_params_get(&xs[i].row->params, "N", xs[i].x) : 1.0;
        s->x[i] = xs[i].x;
        s->y[i] = med / div;
        s->lo[i] = mn / div;
        s->hi[i] = mx / div;
    }
    s->n = m;
    f->n++;
    free(xs);
    return 0;
}

/* The distinct variant labels of kernel k on a backend (or every backend
 * when NULL), in sorted order. */
static int variants(const krows *k, const char *backend, char (*out)[256], int cap)
{
    int n = 0;
    for (int i = 0; i < k->n; i++) {
        if (backend && strcmp(k->row[i]->backend, backend) != 0) continue;
        char v[256];
        variant_label(k, &k->row[i]->params, v, sizeof v);
        int seen = 0;
        for (int j = 0; j < n && !seen; j++) seen = strcmp(out[j], v) == 0;
        if (!seen && n < cap) snprintf(out[n++], 256, "%s", v);
    }
    for (int i = 1; i < n; i++) /* insertion sort: a handful of labels */
        for (int j = i; j > 0 && strcmp(out[j - 1], out[j]) > 0; j--) {
            char tmp[256];
            memcpy(tmp, out[j], 256);
            memcpy(out[j], out[j - 1], 256);
            memcpy(out[j - 1], tmp, 256);
        }
    return n;
}

/* Scale to a readable time unit, fit the slopes, draw, and record the
 * figure for the report. A figure without data is silently not drawn. */
static int render(rep *r, rawfig *f, const char *stem_in, const char *title, const char *xname,
                  const char *quantity, const char *caption)
{
    int points = 0, pow2 = 1;
    double logsum = 0;
    for (int j = 0; j < f->n; j++)
        for (int i = 0; i < f->s[j].n; i++)
            if (f->s[j].y[i] > 0 && f->s[j].x[i] > 0) {
                logsum += log(f->s[j].y[i]);
                points++;
                double e = log2(f->s[j].x[i]);
                pow2 &= e == floor(e);
            }
    if (points == 0) return 0;
    /* Unit from the geometric mean of the medians. */
    double gm = exp(logsum / points), scale = 1;
    const char *unit = "s";
    if (gm < 1e-6) scale = 1e9, unit = "ns";
    else if (gm < 1e-3) scale = 1e6, unit = "µs";
    else if (gm < 1) scale = 1e3, unit = "ms";

    char ylabel[128], stem[256];
    sfmt(ylabel, sizeof ylabel, "%s (%s)", quantity, unit);
    sfmt(stem, sizeof stem, "%s", stem_in);
    safe_name(stem);
    cb_plot p;
    cb_plot_init(&p, title, xname, ylabel, pow2 ? 2 : 10, 10);
    int rc = 0;
    for (int j = 0; j < f->n && rc == 0; j++) {
        rawser *s = &f->s[j];
        char label[192];
        double slope;
        if (cb_loglog_slope(s->x, s->y, s->n, &slope) == 0)
            sfmt(label, sizeof label, "%s (slope %.2f)", s->label, slope);
        else
            sfmt(label, sizeof label, "%s", s->label);
        for (int i = 0; i < s->n; i++) {
            s->y[i] *= scale;
            s->lo[i] *= scale;
            s->hi[i] *= scale;
        }
        if (cb_plot_add(&p, label, s->n, s->x, s->y, s->lo, s->hi) != 0) {
            rc = cb_fail(r->err, sizeof r->err, "figure %s: out of memory", stem);
        } else {
            p.s[p.n - 1].color = s->color;
            p.s[p.n - 1].dash = s->dash;
        }
    }
    if (rc == 0) rc = cb_plot_render(&p, r->figdir, stem, r->err, sizeof r->err);
    cb_plot_free(&p);
    if (rc != 0) return -1;
    if (r->n_fig == r->cap_fig) {
        int cap = r->cap_fig ? 2 * r->cap_fig : 8;
        figref *g = realloc(r->fig, (size_t)cap * sizeof *g);
        if (!g) return cb_fail(r->err, sizeof r->err, "figure %s: out of memory", stem);
        r->fig = g;
        r->cap_fig = cap;
    }
    sfmt(r->fig[r->n_fig].stem, sizeof r->fig[0].stem, "%s", stem);
    sfmt(r->fig[r->n_fig].caption, sizeof r->fig[0].caption, "%s", caption);
    r->n_fig++;
    return 0;
}

/* Figure kind 1: one kernel, median time against the sweep, a line per
 * backend and variant. */
static int fig_kernel_time(rep *r, const cb_spec *s)
{
    char names[MAX_TASK_KERNELS][CB_NAME_MAX];
    int nk = task_kernels(r, s, names);
    for (int i = 0; i < nk; i++) {
        krows k;
        rawfig f = {0};
        if (collect_kernel(r, s, names[i], &k) != 0) return cb_fail(r->err, sizeof r->err, "out of memory");
        int rc = 0;
        for (int b = 0; b < k.n_backends && rc == 0; b++) {
            char vs[16][256];
            int nv = variants(&k, k.backends[b], vs, 16);
            for (int v = 0; v < nv && rc == 0; v++) {
                char label[160];
                sfmt(label, sizeof label, "%s%s%s", k.backends[b], vs[v][0] ? " " : "", vs[v]);
                rc = rawfig_add(&f, &k, k.backends[b], vs[v], label, 0, b + 1, v);
            }
        }
        if (rc != 0) rc = cb_fail(r->err, sizeof r->err, "out of memory");
        char stem[256], title[256], caption[512];
        sfmt(stem, sizeof stem, "%s-%s-time", s->id, names[i]);
        sfmt(title, sizeof title, "%s: %s, time per call", s->id, names[i]);
        sfmt(caption, sizeof caption,
                 "Median time per call of `%s` against %s, one line per backend%s (log-log; bars span "
                 "the fastest and slowest repetition; the legend gives each line's fitted log-log slope).",
                 names[i], s->sweep_param, k.n_vary ? " and parameter variant" : "");
        if (rc == 0) rc = render(r, &f, stem, title, s->sweep_param, "median time per call", caption);
        rawfig_free(&f);
        free(k.row);
        if (rc != 0) return -1;
    }
    return 0;
}

/* Figure kind 2: one backend, every kernel of the task (drawn only when the
 * task has two kernels or more timed on it, else it repeats kind 1). */
static int fig_backend_kernels(rep *r, const cb_spec *s)
{
    char names[MAX_TASK_KERNELS][CB_NAME_MAX];
    int nk = task_kernels(r, s, names);
    char backends[MAX_BACKENDS][CB_NAME_MAX];
    int nb = 0;
    for (int e = 0; e < s->n_kernels; e++)
        for (int b = 0; b < s->kernels[e].n_backends; b++)
            add_unique(backends, &nb, MAX_BACKENDS, s->kernels[e].backends[b]);
    for (int i = 0; i < r->t->n; i++)
        if (is_timed_row(&r->t->rows[i], s->id, NULL))
            add_unique(backends, &nb, MAX_BACKENDS, r->t->rows[i].backend);
    for (int b = 0; b < nb; b++) {
        rawfig f = {0};
        int rc = 0, kernels_drawn = 0;
        for (int i = 0; i < nk && rc == 0; i++) {
            krows k;
            if (collect_kernel(r, s, names[i], &k) != 0) {
                rc = -1;
                break;
            }
            char vs[16][256];
            int nv = variants(&k, backends[b], vs, 16), before = f.n;
            for (int v = 0; v < nv && rc == 0; v++) {
                char label[160];
                sfmt(label, sizeof label, "%s%s%s", names[i], vs[v][0] ? " " : "", vs[v]);
                rc = rawfig_add(&f, &k, backends[b], vs[v], label, 0, i + 1, v);
            }
            kernels_drawn += f.n > before;
            free(k.row);
        }
        if (rc != 0) rc = cb_fail(r->err, sizeof r->err, "out of memory");
        char stem[256], title[256], caption[512];
        sfmt(stem, sizeof stem, "%s-%s-kernels", s->id, backends[b]);
        sfmt(title, sizeof title, "%s: every kernel on %s, time per call", s->id, backends[b]);
        sfmt(caption, sizeof caption,
                 "Every kernel of the task on the `%s` backend: median time per call against %s "
                 "(log-log; bars span the fastest and slowest repetition; fitted slopes in the legend).",
                 backends[b], s->sweep_param);
        if (rc == 0 && kernels_drawn >= 2)
            rc = render(r, &f, stem, title, s->sweep_param, "median time per call", caption);
        rawfig_free(&f);
        if (rc != 0) return -1;
    }
    return 0;
}

/* Figure kind 3: decoding kernels, time per generated token (median time
 * per call / N) against N, a line per kernel × backend. */
static int fig_decode_per_token(rep *r, const cb_spec *s)
{
    char names[MAX_TASK_KERNELS][CB_NAME_MAX];
    int nk = task_kernels(r, s, names);
    rawfig f = {0};
    int rc = 0, n_decode = 0;
    for (int i = 0; i < nk && rc == 0; i++) {
        if (!strstr(names[i], "decode")) continue;
        n_decode++;
        krows k;
        if (collect_kernel(r, s, names[i], &k) != 0) {
            rc = -1;
            break;
        }
        for (int b = 0; b < k.n_backends && rc == 0; b++) {
            char vs[16][256];
            int nv = variants(&k, k.backends[b], vs, 16);
            for (int v = 0; v < nv && rc == 0; v++) {
                char label[160];
                sfmt(label, sizeof label, "%s/%s%s%s", names[i], k.backends[b], vs[v][0] ? " " : "",
                         vs[v]);
                rc = rawfig_add(&f, &k, k.backends[b], vs[v], label, 1, n_decode, b);
            }
        }
        free(k.row);
    }
    if (rc != 0) rc = cb_fail(r->err, sizeof r->err, "out of memory");
    char stem[256], title[256], caption[512];
    sfmt(stem, sizeof stem, "%s-decode-per-token", s->id);
    sfmt(title, sizeof title, "%s: decoding, time per token", s->id);
    sfmt(caption, sizeof caption,
             "Decoding: time per token (median time per call / N) against %s, one line per kernel and "
             "backend (log-log; bars span the fastest and slowest repetition; fitted slopes in the legend).",
             s->sweep_param);
    if (rc == 0) rc = render(r, &f, stem, title, s->sweep_param, "time per token", caption);
    rawfig_free(&f);
    return rc;
}

static int add_figref(rep *r, const char *stem, const char *caption);

/* Does probe row `row` carry parameter x and every parameter of `where`
 * with the same value? */
static int figure_row_matches(const cb_row *row, const cb_spec_figure *g)
{
    if (cb_params_find(&row->params, g->x) < 0) return 0;
    for (int i = 0; i < g->where.n; i++) {
        int j = cb_params_find(&row->params, g->where.name[i]);
        if (j < 0 || row->params.value[j] != g->where.value[i]) return 0;
    }
    return 1;
}

static int is_figure_row(const cb_row *row, const cb_spec *s, const cb_spec_figure *g, const char *metric)
{
    return row->kind == CB_ROW_METRIC && row->n > 0 && strcmp(row->task, s->id) == 0 &&
           strcmp(row->kernel, g->probe) == 0 && (!metric || strcmp(row->metric, metric) == 0) &&
           figure_row_matches(row, g);
}

/* The parameters that tell the figure's lines apart: those neither x nor
 * fixed by `where` that take two values at the same x for the same metric.
 * A parameter the probe holds constant, or one that moves only with x (odds
 * = e^alpha beside alpha), would only split or lengthen the lines. */
static void figure_varying(const cb_table *t, const cb_spec *s, const cb_spec_figure *g, cb_params *vary)
{
    memset(vary, 0, sizeof *vary);
    int *idx = malloc((size_t)(t->n > 0 ? t->n : 1) * sizeof *idx), n = 0;
    if (!idx) return;   /* then every line is one metric: still a figure */
    for (int i = 0; i < t->n; i++)
        for (int m = 0; m < g->n_metrics; m++)
            if (is_figure_row(&t->rows[i], s, g, g->metrics[m])) {
                idx[n++] = i;
                break;
            }
    for (int a = 0; a < n; a++)
        for (int b = a + 1; b < n; b++) {
            const cb_row *ra = &t->rows[idx[a]], *rb = &t->rows[idx[b]];
            if (strcmp(ra->metric, rb->metric) != 0 ||
                cb_params_get(&ra->params, g->x, NAN) != cb_params_get(&rb->params, g->x, NAN))
                continue;
            for (int j = 0; j < ra->params.n; j++) {
                const char *name = ra->params.name[j];
                if (strcmp(name, g->x) == 0 || cb_params_find(&g->where, name) >= 0) continue;
                int k = cb_params_find(&rb->params, name);
                if (k < 0 || rb->params.value[k] != ra->params.value[j]) cb_params_set(vary, name, 1);
            }
        }
    free(idx);
}

/* The values of the varying parameters in a row: its line's key. */
static void figure_line_key(const cb_row *row, const cb_params *vary, char *buf, size_t len)
{
    cb_params rest = {0};
    for (int i = 0; i < row->params.n; i++)
        if (cb_params_find(vary, row->params.name[i]) >= 0)
            cb_params_set(&rest, row->params.name[i], row->params.value[i]);
    cb_params_format(&rest, buf, len);
}

static int cmp_xy(const void *a, const void *b)
{
    double x = ((const double *)a)[0], y = ((const double *)b)[0];
    return (x > y) - (x < y);
}

/* An axis is logarithmic when the spec says so, or (auto) when every value
 * is positive and they span more than a factor of 10. */
static int figure_axis_log(int want, double lo, double hi)
{
    if (want >= 0) return want;
    return lo > 0 && hi > 10 * lo;
}

#define FIGURE_MAX_LINES 16

/* Figure kind 4: what the spec's `figures:` ask for, probe metrics against
 * one of their parameters, a line per metric (and per value of whatever
 * parameter is neither x nor fixed). Figures whose metrics the run does not
 * hold are left out, like every other kind. */
static int fig_spec_figures(rep *r, const cb_spec *s)
{
    const cb_table *t = r->t;
    size_t cap = (size_t)(t->n > 0 ? t->n : 1);
    double *xy = malloc(2 * cap * sizeof *xy), *xs = malloc(cap * sizeof *xs), *ys = malloc(cap * sizeof *ys);
    int rc = 0;
    if (!xy || !xs || !ys) rc = cb_fail(r->err, sizeof r->err, "out of memory");
    for (int fi = 0; fi < s->n_figures && rc == 0; fi++) {
        const cb_spec_figure *g = &s->figures[fi];
        /* The lines: (metric, key) pairs, and the data range. */
        char keys[FIGURE_MAX_LINES][256];
        int metric_of[FIGURE_MAX_LINES], nl = 0, dropped = 0;
        double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
        cb_params vary;
        figure_varying(t, s, g, &vary);
        for (int m = 0; m < g->n_metrics; m++)
            for (int i = 0; i < t->n; i++) {
                const cb_row *row = &t->rows[i];
                if (!is_figure_row(row, s, g, g->metrics[m])) continue;
                char key[256];
                figure_line_key(row, &vary, key, sizeof key);
                int l = 0;
                while (l < nl && !(metric_of[l] == m && strcmp(keys[l], key) == 0)) l++;
                if (l == nl) {
                    if (nl == FIGURE_MAX_LINES) {
                        dropped = 1;
                        continue;
                    }
                    sfmt(keys[nl], sizeof keys[0], "%s", key);
                    metric_of[nl++] = m;
                }
                double x = cb_params_get(&row->params, g->x, NAN), y = row_median(row);
                if (isfinite(x)) xlo = fmin(xlo, x), xhi = fmax(xhi, x);
                if (isfinite(y)) ylo = fmin(ylo, y), yhi = fmax(yhi, y);
            }
        if (nl == 0) continue;
        int logx = figure_axis_log(g->logx, xlo, xhi), logy = figure_axis_log(g->logy, ylo, yhi);
        /* Base 2 on a log x axis whose values are all powers of two (m, N, n). */
        int pow2 = 1;
        for (int i = 0; i < t->n && pow2; i++) {
            const cb_row *row = &t->rows[i];
            if (is_figure_row(row, s, g, NULL)) {
                double e = log2(cb_params_get(&row->params, g->x, NAN));
                pow2 = e == floor(e);
            }
        }
        char stem[256], caption[512];
        sfmt(stem, sizeof stem, "%s-%s-%d", s->id, g->probe, fi + 1);
        safe_name(stem);
        cb_plot p;
        cb_plot_init(&p, g->title, g->x, g->ylabel, logx ? (pow2 ? 2 : 10) : 0, logy ? 10 : 0);
        for (int l = 0; l < nl && rc == 0; l++) {
            int n = 0;
            for (int i = 0; i < t->n; i++) {
                const cb_row *row = &t->rows[i];
                char key[256];
                if (!is_figure_row(row, s, g, g->metrics[metric_of[l]])) continue;
                figure_line_key(row, &vary, key, sizeof key);
                if (strcmp(key, keys[l]) != 0) continue;
                xy[2 * n] = cb_params_get(&row->params, g->x, NAN);
                xy[2 * n + 1] = row_median(row);
                n++;
            }
            qsort(xy, (size_t)n, 2 * sizeof *xy, cmp_xy);
            for (int i = 0; i < n; i++) xs[i] = xy[2 * i], ys[i] = xy[2 * i + 1];
            char label[400];
            sfmt(label, sizeof label, "%s%s%s%s", g->metrics[metric_of[l]], keys[l][0] ? " (" : "", keys[l],
                 keys[l][0] ? ")" : "");
            if (cb_plot_add(&p, label, n, xs, ys, NULL, NULL) != 0)
                rc = cb_fail(r->err, sizeof r->err, "figure %s: out of memory", stem);
        }
        char where[256];
        cb_params_format(&g->where, where, sizeof where);
        sfmt(caption, sizeof caption, "%s. Probe `%s`, median of each metric against %s%s%s (%s x, %s y axis)%s.",
             g->title, g->probe, g->x, where[0] ? " at " : "", where, logx ? "log" : "linear",
             logy ? "log" : "linear", dropped ? "; more lines than a figure shows were left out" : "");
        if (rc == 0) rc = cb_plot_render(&p, r->figdir, stem, r->err, sizeof r->err);
        if (rc == 0) rc = add_figref(r, stem, caption);
        cb_plot_free(&p);
    }
    free(xy);
    free(xs);
    free(ys);
    return rc;
}

static int fig_history(rep *r, const cb_spec *s);

/* The kinds of figure every task gets, in the order the report shows them.
 * A new kind is a function like the ones above and one line here; `timed`
 * kinds are drawn only for a task with a sweep. */
typedef struct figure_kind {
    const char *name;
    int (*draw)(rep *r, const cb_spec *s);
    int timed;
} figure_kind;

static const figure_kind figure_kinds[] = {
    {"time per call, per kernel", fig_kernel_time, 1},
    {"every kernel, per backend", fig_backend_kernels, 1},
    {"decoding time per token", fig_decode_per_token, 1},
    {"the spec's figures of probe metrics", fig_spec_figures, 0},
    {"trend across the runs of the history", fig_history, 1},
};

/* ---- sections ----------------------------------------------------------------- */

static int task_has_rows(const rep *r, const char *task)
{
    for (int i = 0; i < r->t->n; i++)
        if (strcmp(r->t->rows[i].task, task) == 0) return 1;
    return 0;
}

static void put_measured(FILE *f, const vline *v)
{
    /* verify prints a figure it could not compute as nan. */
    const char *m = v->f[VF_MEASURED];
    md_cell(f, strcmp(m, "nan") == 0 || strcmp(m, "-nan") == 0 || !m[0] ? "–" : m);
    if (strcmp(v->f[VF_LO], "-") != 0 && v->f[VF_LO][0]) {
        fprintf(f, " [");
        md_cell(f, v->f[VF_LO]);
        fprintf(f, ", ");
        md_cell(f, v->f[VF_HI]);
        fprintf(f, "]");
    }
}

static void sec_verdicts(FILE *f, rep *r, const cb_spec *s)
{
    fprintf(f, "## Verdicts\n\n");
    if (!r->have_verdicts) {
        fprintf(f, "not verified yet — run claimbench verify\n\n");
        return;
    }
    int n = 0;
    for (int i = 0; i < r->n_verdicts; i++) n += strcmp(r->verdicts[i].f[VF_TASK], s->id) == 0;
    if (n == 0) {
        fprintf(f, "No verdicts for this task in run `%s`%s.\n\n", r->run_name,
                task_has_rows(r, s->id) ? "" : " (the task was not measured in it)");
        return;
    }
    fprintf(f, "| check | type | verdict | measured [95%% interval] | expected | paper | how it was decided |\n"
               "| --- | --- | --- | --- | --- | --- | --- |\n");
    for (int i = 0; i < r->n_verdicts; i++) {
        const vline *v = &r->verdicts[i];
        if (strcmp(v->f[VF_TASK], s->id) != 0) continue;
        fprintf(f, "| ");
        md_cell(f, v->f[VF_CHECK]);
        fprintf(f, " | ");
        md_cell(f, v->f[VF_TYPE]);
        fprintf(f, " | **");
        md_cell(f, v->f[VF_VERDICT]);
        fprintf(f, "** | ");
        put_measured(f, v);
        fprintf(f, " | ");
        md_cell(f, v->f[VF_EXPECTED]);
        fprintf(f, " | ");
        md_cell(f, v->f[VF_PAPER]);
        fprintf(f, " | ");
        md_cell(f, v->f[VF_DETAIL]);
        fprintf(f, " |\n");
    }
    fprintf(f, "\n");
}

/* One table cell group of the timings: time, spread, GFLOP/s, % of the
 * backend's library sgemm, % of the all-thread FMA peak. */
static void timing_cells(FILE *f, const rep *r, const cb_row *row)
{
    if (!row) {
        fprintf(f, " – | | | | |");
        return;
    }
    if (row->kind != CB_ROW_TIME || row->n <= 0) {
        fprintf(f, " %s (", row->kind == CB_ROW_FAIL ? "failed" : "skipped");
        md_cell(f, row->note[0] ? row->note : "no reason given");
        fprintf(f, ") | | | | |");
        return;
    }
    double med, mn, mx;
    row_stats(row, &med, &mn, &mx);
    char t[32];
    cb_format_duration(med, t, sizeof t);
    double gflops = row_gflop(row) / med;
    double sgemm = strcmp(row->backend, "dnnl") == 0 ? r->sgemm_dnnl : r->sgemm_blas;
    fprintf(f, " %s | ±%.1f%% |", t, med > 0 ? 50.0 * (mx - mn) / med : 0.0);
    if (isfinite(gflops)) fprintf(f, " %.3g |", gflops);
    else fprintf(f, " – |");
    if (isfinite(gflops) && sgemm > 0) fprintf(f, " %.3g%% |", 100 * gflops / sgemm);
    else fprintf(f, " – |");
    if (isfinite(gflops) && r->peak_all > 0) fprintf(f, " %.3g%% |", 100 * gflops / r->peak_all);
    else fprintf(f, " – |");
}

typedef struct tgroup {
    char label[256];
    double x;
} tgroup;

static int cmp_tgroup(const void *a, const void *b)
{
    const tgroup *p = a, *q = b;
    int c = strcmp(p->label, q->label);
    if (c) return c;
    if (isnan(p->x) || isnan(q->x)) return isnan(p->x) - isnan(q->x);
    return (p->x > q->x) - (p->x < q->x);
}

static int timings_one(FILE *f, const rep *r, const cb_spec *s, const char *kernel)
{
    krows k;
    if (collect_kernel(r, s, kernel, &k) != 0) return -1;
    const cb_kernel *kk = cb_kernel_find(kernel);
    fprintf(f, "### `%s`\n\n", kernel);
    if (kk && kk->summary) put_sentence(f, kk->summary);
    if (k.n == 0) {
        fprintf(f, "No timings of this kernel in the run.\n\n");
        free(k.row);
        return 0;
    }
    char fixed[1024];
    fixed_params(&k, &k.row[0]->params, fixed, sizeof fixed);
    fprintf(f, "Fixed parameters: `%s`", fixed);
    for (int j = 0; j < k.n_follow; j++)
        fprintf(f, "%s`%s`", j ? ", " : "; changing with the sweep: ", k.follow[j]);
    fprintf(f, ".\n\n");

    tgroup *g = malloc((size_t)k.n * sizeof *g);
    if (!g) {
        free(k.row);
        return -1;
    }
    int ng = 0;
    for (int i = 0; i < k.n; i++) {
        tgroup t;
        variant_label(&k, &k.row[i]->params, t.label, sizeof t.label);
        t.x = row_x(&k, k.row[i]);
        int seen = 0;
        for (int j = 0; j < ng && !seen; j++) seen = strcmp(g[j].label, t.label) == 0 && same_x(g[j].x, t.x);
        if (!seen) g[ng++] = t;
    }
    qsort(g, (size_t)ng, sizeof *g, cmp_tgroup);

    int show_variant = k.n_vary > 0, show_x = s->sweep_param[0] != '\0';
    fprintf(f, "|");
    if (show_variant) fprintf(f, " variant |");
    if (show_x) fprintf(f, " %s |", s->sweep_param);
    for (int b = 0; b < k.n_backends; b++)
        fprintf(f, " %s time | %s spread | %s GFLOP/s | %s %% sgemm | %s %% peak |", k.backends[b],
                k.backends[b], k.backends[b], k.backends[b], k.backends[b]);
    fprintf(f, "\n|");
    for (int c = 0; c < show_variant + show_x; c++) fprintf(f, " --- |");
    for (int c = 0; c < 5 * k.n_backends; c++) fprintf(f, " ---: |");
    fprintf(f, "\n");
    for (int j = 0; j < ng; j++) {
        fprintf(f, "|");
        if (show_variant) fprintf(f, " %s |", g[j].label[0] ? g[j].label : "–");
        if (show_x) {
            if (isfinite(g[j].x)) fprintf(f, " %.10g |", g[j].x);
            else fprintf(f, " – |");
        }
        for (int b = 0; b < k.n_backends; b++) {
            /* The time row of this cell, else its skip or fail row. */
            const cb_row *cell = NULL;
            for (int i = 0; i < k.n; i++) {
                const cb_row *row = k.row[i];
                char v[256];
                variant_label(&k, &row->params, v, sizeof v);
                if (strcmp(row->backend, k.backends[b]) != 0 || strcmp(v, g[j].label) != 0 ||
                    !same_x(row_x(&k, row), g[j].x))
                    continue;
                if (!cell || (cell->kind != CB_ROW_TIME && row->kind == CB_ROW_TIME)) cell = row;
            }
            timing_cells(f, r, cell);
        }
        fprintf(f, "\n");
    }
    fprintf(f, "\n");
    free(g);
    free(k.row);
    return 0;
}

static void sec_timings(FILE *f, rep *r, const cb_spec *s)
{
    fprintf(f, "## Timings\n\n");
    char names[MAX_TASK_KERNELS][CB_NAME_MAX];
    int nk = task_kernels(r, s, names);
    if (nk == 0) {
        fprintf(f, "This task times no kernel.\n\n");
        return;
    }
    fprintf(f, "Median time per call over the repetitions; spread = half the range between the fastest "
               "and slowest repetition, relative to the median; GFLOP/s = the kernel's floating-point "
               "work per call / median time; %% sgemm = of the same library's sgemm (n = 2048) on this "
               "machine (ref is held to OpenBLAS); %% peak = of the all-thread FMA peak.\n\n");
    for (int i = 0; i < nk; i++)
        if (timings_one(f, r, s, names[i]) != 0) fprintf(f, "(out of memory)\n\n");
}

static int is_agreement(const cb_row *row, const char *task)
{
    return row->kind == CB_ROW_METRIC && strcmp(row->task, task) == 0 &&
           strncmp(row->metric, "agree_", 6) == 0;
}

static void sec_agreement(FILE *f, rep *r, const cb_spec *s)
{
    fprintf(f, "## Agreement with ref\n\n");
    int any = 0;
    for (int i = 0; i < r->t->n && !any; i++) any = is_agreement(&r->t->rows[i], s->id);
    if (!any) {
        fprintf(f, "No agreement measurements for this task in the run.\n\n");
        return;
    }
    fprintf(f, "Each backend against the ref oracle on the same seeded inputs (worst output).\n\n"
               "| kernel | backend | size | max abs | max rel | nl2 | pass |\n"
               "| --- | --- | --- | ---: | ---: | ---: | --- |\n");
    const cb_table *t = r->t;
    for (int i = 0; i < t->n; i++) {
        const cb_row *a = &t->rows[i];
        if (!is_agreement(a, s->id)) continue;
        /* The first row of each (kernel, backend, size) leads its line. */
        int first = 1;
        for (int j = 0; j < i && first; j++) {
            const cb_row *b = &t->rows[j];
            first = !(is_agreement(b, s->id) && strcmp(a->kernel, b->kernel) == 0 &&
                      strcmp(a->backend, b->backend) == 0 && cb_params_subset(&a->params, &b->params) &&
                      cb_params_subset(&b->params, &a->params));
        }
        if (!first) continue;
        static const char *const metrics[] = {"agree_max_abs", "agree_max_rel", "agree_nl2"};
        char size[512];
        params_text(&a->params, size, sizeof size);
        fprintf(f, "| `%s` | %s | %s |", a->kernel, a->backend, size);
        double vals[4];
        for (int m = 0; m < 4; m++) {
            const cb_row *b = cb_table_find(t, CB_ROW_METRIC, s->id, a->kernel, a->backend,
                                            m < 3 ? metrics[m] : "agree_pass", &a->params);
            vals[m] = b ? row_median(b) : NAN;
        }
        for (int m = 0; m < 3; m++) {
            if (isfinite(vals[m])) fprintf(f, " %.3g |", vals[m]);
            else fprintf(f, " – |");
        }
        fprintf(f, " %s |\n", isnan(vals[3]) ? "–" : vals[3] >= 0.5 ? "pass" : "**FAIL**");
    }
    fprintf(f, "\n");
}

static int is_probe_row(const cb_row *row, const char *task)
{
    return strcmp(row->task, task) == 0 && strcmp(row->backend, "-") == 0 &&
           (row->kind != CB_ROW_METRIC || strncmp(row->metric, "agree_", 6) != 0);
}

static void sec_probes(FILE *f, rep *r, const cb_spec *s)
{
    fprintf(f, "## Probes\n\n");
    const cb_table *t = r->t;
    char probes[MAX_TASK_KERNELS][CB_NAME_MAX];
    int np = 0;
    for (int i = 0; i < s->n_probes; i++) add_unique(probes, &np, MAX_TASK_KERNELS, s->probes[i].name);
    for (int i = 0; i < t->n; i++)
        if (is_probe_row(&t->rows[i], s->id)) add_unique(probes, &np, MAX_TASK_KERNELS, t->rows[i].kernel);
    if (np == 0) {
        fprintf(f, "This task has no probes.\n\n");
        return;
    }
    for (int p = 0; p < np; p++) {
        const cb_probe *pr = cb_probe_find(probes[p]);
        fprintf(f, "### `%s`\n\n", probes[p]);
        if (pr && pr->summary) put_sentence(f, pr->summary);
        /* The probe's rows as a krows, to find the parameters that vary. */
        krows k;
        memset(&k, 0, sizeof k);
        k.kernel = probes[p];
        k.sweep = "";
        const cb_row **rows = malloc((size_t)(t->n > 0 ? t->n : 1) * sizeof *rows);
        if (!rows) {
            fprintf(f, "(out of memory)\n\n");
            continue;
        }
        k.row = rows;
        for (int i = 0; i < t->n; i++)
            if (is_probe_row(&t->rows[i], s->id) && strcmp(t->rows[i].kernel, probes[p]) == 0)
                rows[k.n++] = &t->rows[i];
        if (k.n == 0) {
            fprintf(f, "No metrics of this probe in the run.\n\n");
            free(rows);
            continue;
        }
        classify_params(&k);
        char fixed[1024];
        fixed_params(&k, &rows[0]->params, fixed, sizeof fixed);
        fprintf(f, "Fixed parameters: `%s`.\n\n| metric |", fixed);
        for (int j = 0; j < k.n_vary; j++) fprintf(f, " %s |", k.vary[j]);
        fprintf(f, " value |\n| --- |");
        for (int j = 0; j < k.n_vary; j++) fprintf(f, " ---: |");
        fprintf(f, " ---: |\n");
        /* Grouped by metric, in the order the metrics first appear. */
        for (int i = 0; i < k.n; i++) {
            int first = 1;
            for (int j = 0; j < i && first; j++) first = strcmp(rows[j]->metric, rows[i]->metric) != 0;
            if (!first) continue;
            for (int j = i; j < k.n; j++) {
                const cb_row *row = rows[j];
                if (strcmp(row->metric, rows[i]->metric) != 0) continue;
                fprintf(f, "| %s |", row->metric);
                for (int v = 0; v < k.n_vary; v++) {
                    if (cb_params_has(&row->params, k.vary[v]))
                        fprintf(f, " %.6g |", cb_params_get(&row->params, k.vary[v], 0));
                    else
                        fprintf(f, " – |");
                }
                if (row->kind == CB_ROW_METRIC && row->n == 1) fprintf(f, " %.6g |\n", row->v[0]);
                else if (row->kind == CB_ROW_METRIC && row->n > 1)
                    fprintf(f, " %.6g (median of %d) |\n", row_median(row), row->n);
                else {
                    fprintf(f, " %s (", row->kind == CB_ROW_FAIL ? "failed" : "skipped");
                    md_cell(f, row->note[0] ? row->note : "no reason given");
                    fprintf(f, ") |\n");
                }
            }
        }
        fprintf(f, "\n");
        free(rows);
    }
}

static void sec_figures(FILE *f, rep *r, const cb_spec *s)
{
    fprintf(f, "## Figures\n\n");
    if (r->n_fig == 0) {
        fprintf(f, "No figures: the run holds no timings of this task over %s%s.\n\n",
                s->sweep_param[0] ? s->sweep_param : "a swept parameter",
                s->n_figures ? " and none of the probe metrics its figures draw" : "");
        return;
    }
    for (int i = 0; i < r->n_fig; i++)
        fprintf(f, "![%s](figures/%s.svg)\n\n*Figure %d.* %s ([PNG](figures/%s.png))\n\n", r->fig[i].stem,
                r->fig[i].stem, i + 1, r->fig[i].caption, r->fig[i].stem);
}

/* The machine figures of the run (task _machine) as one table line. */
static void machine_row(FILE *f, const rep *r, const char *kernel, const char *backend,
                        const char *metric, const char *what)
{
    for (int i = 0; i < r->t->n; i++) {
        const cb_row *row = &r->t->rows[i];
        if (strcmp(row->task, "_machine") != 0 || strcmp(row->kernel, kernel) != 0 ||
            strcmp(row->backend, backend) != 0 || strcmp(row->metric, metric) != 0)
            continue;
        double med, mn, mx;
        char p[256];
        params_text(&row->params, p, sizeof p);
        fprintf(f, "| %s | %s |", what, p);
        if (row_stats(row, &med, &mn, &mx) == 0) {
            if (row->n > 1) fprintf(f, " %.4g (%.4g – %.4g over %d repetitions) |\n", med, mn, mx, row->n);
            else fprintf(f, " %.4g |\n", med);
        } else {
            fprintf(f, " – (%s) |\n", row->note[0] ? row->note : "not measured");
        }
        return;
    }
    fprintf(f, "| %s | – | not measured |\n", what);
}

static void sec_machine(FILE *f, rep *r, const cb_spec *s)
{
    (void)s;
    fprintf(f, "## Machine\n\nRun `%s`.\n\n| key | value |\n| --- | --- |\n", r->run_name);
    for (int i = 0; i < r->n_machine; i++) {
        fprintf(f, "| ");
        md_cell(f, r->machine[i].key);
        fprintf(f, " | ");
        md_cell(f, r->machine[i].value);
        fprintf(f, " |\n");
    }
    fprintf(f, "\n| measured | at | GFLOP/s |\n| --- | --- | ---: |\n");
    machine_row(f, r, "fma_peak", "-", "gflops_1t", "FMA peak, one thread");
    machine_row(f, r, "fma_peak", "-", "gflops_all", "FMA peak, all threads");
    machine_row(f, r, "sgemm", "blas", "gflops", "sgemm, OpenBLAS (blas)");
    machine_row(f, r, "sgemm", "dnnl", "gflops", "sgemm, oneDNN (dnnl)");
    fprintf(f, "\n");
}

/* The generated sections, in the order missing markers are appended. */
typedef struct section {
    const char *marker;         /* <!-- claimbench:marker --> */
    void (*write)(FILE *f, rep *r, const cb_spec *s);
} section;

static const section sections[] = {
    {"verdicts", sec_verdicts}, {"timings", sec_timings}, {"agreement", sec_agreement},
    {"probes", sec_probes},     {"figures", sec_figures}, {"machine", sec_machine},
};
#define N_SECTIONS ((int)(sizeof sections / sizeof sections[0]))

/* Index of the section a line marks, or -1: "<!-- claimbench:NAME -->" with
 * any surrounding blanks. */
static int marker_of(const char *line, size_t len)
{
    while (len > 0 && (*line == ' ' || *line == '\t')) line++, len--;
    while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t' || line[len - 1] == '\r')) len--;
    const char *open = "<!--", *close = "-->";
    if (len < 8 || strncmp(line, open, 4) != 0 || strncmp(line + len - 3, close, 3) != 0) return -1;
    const char *p = line + 4, *end = line + len - 3;
    while (p < end && *p == ' ') p++;
    while (end > p && end[-1] == ' ') end--;
    if ((size_t)(end - p) < 11 || strncmp(p, "claimbench:", 11) != 0) return -1;
    p += 11;
    for (int i = 0; i < N_SECTIONS; i++)
        if (strlen(sections[i].marker) == (size_t)(end - p) && strncmp(p, sections[i].marker, (size_t)(end - p)) == 0)
            return i;
    return -1;
}

/* ---- files -------------------------------------------------------------------- */

static int mkdir_p(const char *path, char *err, size_t errlen)
{
    char buf[1100];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return cb_fail(err, errlen, "%s: path too long", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) return cb_fail(err, errlen, "mkdir %s: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST) return cb_fail(err, errlen, "mkdir %s: %s", buf, strerror(errno));
    return 0;
}

/* Close a memory stream and write its text atomically to path. */
static int finish_file(FILE *f, char **buf, size_t *len, const char *path, char *err, size_t errlen)
{
    int bad = ferror(f);
    if (fclose(f) != 0 || bad || !*buf) return cb_fail(err, errlen, "%s: out of memory", path);
    return cb_write_atomic(path, *buf, *len, err, errlen);
}

static int write_task(rep *r, const cb_spec *s)
{
    r->n_fig = 0;
    for (size_t i = 0; i < sizeof figure_kinds / sizeof figure_kinds[0]; i++)
        if ((s->sweep_param[0] || !figure_kinds[i].timed) && figure_kinds[i].draw(r, s) != 0) return -1;

    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return cb_fail(r->err, sizeof r->err, "out of memory");
    const char *commit = machine_get(r, "commit"), *date = machine_get(r, "date");
    fprintf(f, "# %s\n\n", s->paper);
    fprintf(f, "*claimbench task `%s`, run `%s` (commit %s, %s). Generated by `claimbench report` "
               "from the task spec and the run's measurements: edit tasks/%s.md, not this file.*\n\n",
               s->id, r->run_name, commit ? commit : "unknown", date ? date : "date unknown", s->id);
    fprintf(f, "**Claim.** %s\n\n", s->claim ? s->claim : "");
    int done[N_SECTIONS] = {0}, seen_text = 0;
    const char *body = s->body ? s->body : "";
    while (*body) {
        const char *nl = strchr(body, '\n');
        size_t ll = nl ? (size_t)(nl - body) : strlen(body);
        int m = marker_of(body, ll);
        /* The paper is the report's one title: a spec body that opens with
         * its own "# Heading" gets it one level down. */
        if (!seen_text && ll >= 2 && body[0] == '#' && body[1] == ' ')
            fputc('#', f);
        if (ll > 0 && strspn(body, " \t") < ll)
            seen_text = 1;
        if (m >= 0) {
            sections[m].write(f, r, s);
            done[m] = 1;
        } else {
            fwrite(body, 1, ll, f);
            fputc('\n', f);
        }
        body += ll + (nl ? 1 : 0);
    }
    for (int m = 0; m < N_SECTIONS; m++)
        if (!done[m]) {
            fputc('\n', f);
            sections[m].write(f, r, s);
        }
    char path[1200];
    snprintf(path, sizeof path, "%s/%s.md", r->reports_dir, s->id);
    int rc = finish_file(f, &buf, &len, path, r->err, sizeof r->err);
    free(buf);
    if (rc == 0 && !r->quiet) fprintf(stderr, "report: %s (%d figure%s)\n", path, r->n_fig, r->n_fig == 1 ? "" : "s");
    return rc;
}

static int write_index(rep *r, const cb_spec *specs, int n)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return cb_fail(r->err, sizeof r->err, "out of memory");
    const char *commit = machine_get(r, "commit"), *date = machine_get(r, "date"),
               *host = machine_get(r, "hostname"), *cpu = machine_get(r, "cpu");
    fprintf(f, "# claimbench reports\n\nRun `%s`: commit `%s`, %s, on `%s` (%s).\n\n", r->run_name,
            commit ? commit : "unknown", date ? date : "date unknown", host ? host : "unknown host",
            cpu ? cpu : "unknown cpu");
    if (!r->have_verdicts) {
        fprintf(f, "**Verdicts:** not verified yet — run claimbench verify\n\n");
    } else {
        int c[3] = {0, 0, 0};
        for (int i = 0; i < r->n_verdicts; i++) {
            const char *v = r->verdicts[i].f[VF_VERDICT];
            c[strcmp(v, "reproduced") == 0 ? 0 : strcmp(v, "not reproduced") == 0 ? 1 : 2]++;
        }
        fprintf(f, "**Verdicts:** %d reproduced, %d not reproduced, %d inconclusive (of %d checks).\n\n",
                c[0], c[1], c[2], r->n_verdicts);
    }
    for (int i = 0; i < n; i++) {
        const cb_spec *s = &specs[i];
        fprintf(f, "## [%s](%s.md)\n\n%s\n\n", s->id, s->id, s->paper);
        if (!task_has_rows(r, s->id)) fprintf(f, "Not measured in this run.\n\n");
        if (!r->have_verdicts) continue;
        int any = 0;
        for (int j = 0; j < r->n_verdicts; j++) {
            const vline *v = &r->verdicts[j];
            if (strcmp(v->f[VF_TASK], s->id) != 0) continue;
            any = 1;
            fprintf(f, "- `%s` (%s): **%s**, measured ", v->f[VF_CHECK], v->f[VF_TYPE], v->f[VF_VERDICT]);
            put_measured(f, v);
            fprintf(f, ", expected %s; paper: %s\n", v->f[VF_EXPECTED], v->f[VF_PAPER]);
        }
        fprintf(f, "%s\n", any ? "" : "No verdicts for this task.\n");
    }
    char path[1200];
    snprintf(path, sizeof path, "%s/index.md", r->reports_dir);
    int rc = finish_file(f, &buf, &len, path, r->err, sizeof r->err);
    free(buf);
    if (rc == 0 && !r->quiet) fprintf(stderr, "report: %s\n", path);
    return rc;
}

/* Median of the machine row's values (NaN when absent). */
static double machine_figure(const cb_table *t, const char *kernel, const char *backend, const char *metric)
{
    for (int i = 0; i < t->n; i++) {
        const cb_row *row = &t->rows[i];
        if (strcmp(row->task, "_machine") == 0 && strcmp(row->kernel, kernel) == 0 &&
            strcmp(row->backend, backend) == 0 && strcmp(row->metric, metric) == 0)
            return row_median(row);
    }
    return NAN;
}

/* Copy a small file of the run into the reports folder (atomically), so a
 * committed snapshot of reports/ carries its verdicts and machine. A missing
 * source is not an error (a run not verified yet has no verdicts.tsv). */
static int copy_into_reports(const char *run_dir, const char *reports_dir, const char *name,
                             char *err, size_t errlen)
{
    char src[1200], dst[1200];
    snprintf(src, sizeof src, "%s/%s", run_dir, name);
    snprintf(dst, sizeof dst, "%s/%s", reports_dir, name);
    FILE *f = fopen(src, "rb");
    if (!f) return errno == ENOENT ? 0 : cb_fail(err, errlen, "%s: %s", src, strerror(errno));
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? 2 * cap : 65536;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return cb_fail(err, errlen, "%s: out of memory", src);
            }
            buf = nb;
        }
        size_t k = fread(buf + len, 1, cap - len, f);
        len += k;
        if (k == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    int rc = bad ? cb_fail(err, errlen, "%s: read error", src)
                 : cb_write_atomic(dst, buf ? buf : "", len, err, errlen);
    free(buf);
    return rc;
}

static int write_html(const char *reports_dir, const cb_spec *specs, int n, char *err, size_t errlen);

/* cb_report_write, with the history the trend figures are drawn from. */
static int report_write(const char *run_dir, const char *tasks_dir, const char *reports_dir,
                        const char *history, int quiet, char *err, size_t errlen)
{
    rep r;
    memset(&r, 0, sizeof r);
    r.reports_dir = reports_dir;
    r.history = history;
    r.quiet = quiet;
    char *real = realpath(run_dir, NULL);
    if (!real) {
        cb_fail(err, errlen, "%s: %s", run_dir, strerror(errno));
        return CB_EXIT_ERROR;
    }
    const char *base = strrchr(real, '/');
    snprintf(r.run_name, sizeof r.run_name, "%s", base && base[1] ? base + 1 : real);
    free(real);

    char path[1200];
    cb_table t = {0};
    r.t = &t;
    int rc = CB_EXIT_ERROR;
    cb_spec *specs = NULL;
    int n = 0;

    snprintf(path, sizeof path, "%s/samples.tsv", run_dir);
    if (cb_table_read(&t, path, err, errlen) != 0) goto done;
    snprintf(path, sizeof path, "%s/machine.tsv", run_dir);
    if (each_line(path, machine_line, &r) != 0) {
        cb_fail(err, errlen, "%s: %s", path, errno ? strerror(errno) : "out of memory");
        goto done;
    }
    snprintf(path, sizeof path, "%s/verdicts.tsv", run_dir);
    errno = 0;
    if (each_line(path, verdict_line, &r) == 0) {
        r.have_verdicts = 1;
    } else if (errno != ENOENT) {
        cb_fail(err, errlen, "%s: %s", path, errno ? strerror(errno) : "out of memory");
        goto done;
    }
    r.peak_1t = machine_figure(&t, "fma_peak", "-", "gflops_1t");
    r.peak_all = machine_figure(&t, "fma_peak", "-", "gflops_all");
    r.sgemm_blas = machine_figure(&t, "sgemm", "blas", "gflops");
    r.sgemm_dnnl = machine_figure(&t, "sgemm", "dnnl", "gflops");

    if (cb_spec_load_dir(tasks_dir, &specs, &n, err, errlen) != 0) {
        specs = NULL;
        n = 0;
        rc = CB_EXIT_USAGE;
        goto done;
    }
    snprintf(r.figdir, sizeof r.figdir, "%s/figures", reports_dir);
    if (mkdir_p(r.figdir, err, errlen) != 0) goto done;
    for (int i = 0; i < n; i++)
        if (write_task(&r, &specs[i]) != 0) {
            cb_fail(err, errlen, "task %s: %s", specs[i].id, r.err);
            goto done;
        }
    if (write_index(&r, specs, n) != 0) {
        cb_fail(err, errlen, "%s", r.err);
        goto done;
    }
    if (write_html(reports_dir, specs, n, err, errlen) != 0) goto done;
    if (!quiet) fprintf(stderr, "report: %s/index.html and a page per task\n", reports_dir);
    if (copy_into_reports(run_dir, reports_dir, "verdicts.tsv", err, errlen) != 0 ||
        copy_into_reports(run_dir, reports_dir, "machine.tsv", err, errlen) != 0)
        goto done;
    rc = CB_EXIT_OK;
done:
    if (specs) cb_spec_free_all(specs, n);
    cb_table_free(&t);
    rep_free(&r);
    return rc;
}

int cb_report_write(const char *run_dir, const char *tasks_dir, const char *reports_dir, int quiet,
                    char *err, size_t errlen)
{
    return report_write(run_dir, tasks_dir, reports_dir, NULL, quiet, err, errlen);
}

int cb_cmd_report(const cb_cli *cli, int argc, char **argv)
{
    const char *run = NULL;
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--help") == 0 || strcmp(argv[a], "-h") == 0) {
            printf("usage: claimbench report [RUN_DIR]\n\n"
                   "Writes <reports>/<task>.md for every task spec, <reports>/index.md and the\n"
                   "figures (<reports>/figures/*.svg and *.png, drawn with gnuplot) from the\n"
                   "latest run (or RUN_DIR): timings, agreement, probe metrics, the verdicts\n"
                   "of 'claimbench verify' and the machine, woven into each spec's prose.\n"
                   "With two runs or more of a task in the history (--history), a figure per\n"
                   "kernel and backend draws its median times across the runs, steps marked.\n"
                   "Then <reports>/index.html and <reports>/<task>.html: the same reports as\n"
                   "web pages (relative links, inline style, no script) to open from disk.\n");
            return CB_EXIT_OK;
        }
        if (argv[a][0] == '-' || run) {
            fprintf(stderr, "claimbench report: %s '%s' (see claimbench report --help)\n",
                    argv[a][0] == '-' ? "unknown option" : "unexpected argument", argv[a]);
            return CB_EXIT_USAGE;
        }
        run = argv[a];
    }
    char err[1024], dir[1024];
    if (run) {
        snprintf(dir, sizeof dir, "%s", run);
    } else if (cb_results_latest(cli->runs_dir, dir, sizeof dir, err, sizeof err) != 0) {
        fprintf(stderr, "claimbench report: no results: run claimbench bench first (%s)\n", err);
        return CB_EXIT_ERROR;
    }
    int rc = report_write(dir, cli->tasks_dir, cli->reports_dir, cli->history, cli->quiet, err, sizeof err);
    if (rc != CB_EXIT_OK) fprintf(stderr, "claimbench report: %s\n", err);
    return rc;
}

/* ==== the trend of each kernel across the runs of the history ================
 *
 * Figure kind 4, drawn when the SQLite history holds two runs or more of the
 * task on this run's machine: per kernel and backend, the median time per
 * call in each run (x: the runs in date order, labelled with their commits),
 * one line per parameter set, and each step that `claimbench history` flags
 * (history.h) as a vertical black segment across the jump. A history that
 * cannot be read costs the figure only, with a warning. */

typedef struct hrun {
    const char *run, *commit, *date;
} hrun;

static int cmp_hrun(const void *a, const void *b)
{
    const hrun *x = a, *y = b;
    int c = strcmp(x->date, y->date);
    return c ? c : strcmp(x->run, y->run);
}

/* Index (1-based) of run name among the n sorted runs; 0 when absent. */
static int hrun_index(const hrun *runs, int n, const char *run)
{
    for (int i = 0; i < n; i++)
        if (strcmp(runs[i].run, run) == 0) return i + 1;
    return 0;
}

static int add_figref(rep *r, const char *stem, const char *caption)
{
    if (r->n_fig == r->cap_fig) {
        int cap = r->cap_fig ? 2 * r->cap_fig : 8;
        figref *g = realloc(r->fig, (size_t)cap * sizeof *g);
        if (!g) return cb_fail(r->err, sizeof r->err, "figure %s: out of memory", stem);
        r->fig = g;
        r->cap_fig = cap;
    }
    sfmt(r->fig[r->n_fig].stem, sizeof r->fig[0].stem, "%s", stem);
    sfmt(r->fig[r->n_fig].caption, sizeof r->fig[0].caption, "%s", caption);
    r->n_fig++;
    return 0;
}

/* The parameters of series i that are not the same in every series of the
 * group: its line's label ("" when none differ). */
static void history_label(const cb_hist_series *g, int ng, int i, char *buf, size_t len)
{
    cb_params mine, other, lab = {0};
    buf[0] = '\0';
    if (cb_params_parse(&mine, g[i].params) != 0) {
        sfmt(buf, len, "%s", g[i].params);
        return;
    }
    for (int j = 0; j < mine.n; j++) {
        int common = 1;
        for (int k = 0; k < ng && common; k++)
            common = cb_params_parse(&other, g[k].params) == 0 && cb_params_find(&other, mine.name[j]) >= 0 &&
                     cb_params_get(&other, mine.name[j], NAN) == mine.value[j];
        if (!common) cb_params_set(&lab, mine.name[j], mine.value[j]);
    }
    cb_params_format(&lab, buf, len);
}

/* One figure: the ng series of one kernel on one backend. */
static int fig_history_group(rep *r, const cb_spec *s, const cb_hist_series *g, int ng)
{
    int total = 0, longest = 0;
    for (int i = 0; i < ng; i++) {
        total += g[i].n;
        if (g[i].n > longest) longest = g[i].n;
    }
    if (longest < 2) return 0;
    hrun *runs = malloc((size_t)total * sizeof *runs);
    double *x = malloc((size_t)longest * sizeof *x), *y = malloc((size_t)longest * sizeof *y);
    if (!runs || !x || !y) {
        free(runs);
        free(x);
        free(y);
        return cb_fail(r->err, sizeof r->err, "out of memory");
    }
    /* Every run of the group once, in date order. */
    int nr = 0;
    for (int i = 0; i < ng; i++)
        for (int k = 0; k < g[i].n; k++)
            runs[nr++] = (hrun){g[i].p[k].run, g[i].p[k].commit, g[i].p[k].date};
    qsort(runs, (size_t)nr, sizeof *runs, cmp_hrun);
    int u = 0;
    for (int i = 0; i < nr; i++)
        if (u == 0 || strcmp(runs[u - 1].run, runs[i].run) != 0) runs[u++] = runs[i];
    nr = u;

    /* Unit from the geometric mean of the medians; a log axis only when
     * they span more than a factor 4 (else it would show one tick label). */
    double logsum = 0, lo = INFINITY, hi = 0;
    int points = 0;
    for (int i = 0; i < ng; i++)
        for (int k = 0; k < g[i].n; k++)
            if (g[i].p[k].median > 0) {
                logsum += log(g[i].p[k].median);
                points++;
                if (g[i].p[k].median < lo) lo = g[i].p[k].median;
                if (g[i].p[k].median > hi) hi = g[i].p[k].median;
            }
    int logy = points && hi > 4 * lo ? 10 : 0;
    double gm = points ? exp(logsum / points) : 1, scale = 1;
    const char *unit = "s";
    if (gm < 1e-6) scale = 1e9, unit = "ns";
    else if (gm < 1e-3) scale = 1e6, unit = "µs";
    else if (gm < 1) scale = 1e3, unit = "ms";

    char stem[256], title[256], ylabel[128], caption[512];
    sfmt(stem, sizeof stem, "%s-history-%s-%s", s->id, g[0].kernel, g[0].backend);
    safe_name(stem);
    sfmt(title, sizeof title, "%s: %s on %s across %d runs", s->id, g[0].kernel, g[0].backend, nr);
    sfmt(ylabel, sizeof ylabel, "median time per call (%s)", unit);
    cb_plot p;
    cb_plot_init(&p, title, "run (commit), oldest first", ylabel, 0, logy);
    for (int i = 0; i < nr && i < CB_PLOT_MAX_XTICS; i++) {
        char tic[16];
        sfmt(tic, sizeof tic, "%.10s", runs[i].commit[0] ? runs[i].commit : "?");
        cb_plot_xtic(&p, i + 1, tic);
    }
    int rc = 0, n_steps = 0;
    char steps_text[256] = "";
    for (int i = 0; i < ng && rc == 0; i++) {
        char label[160];
        history_label(g, ng, i, label, sizeof label);
        for (int k = 0; k < g[i].n; k++) {
            x[k] = hrun_index(runs, nr, g[i].p[k].run);
            y[k] = g[i].p[k].median * scale;
        }
        if (cb_plot_add(&p, label[0] ? label : "median", g[i].n, x, y, NULL, NULL) != 0) rc = -1;
        for (int t = 0; t < g[i].n_steps && rc == 0 && n_steps < 6; t++) {
            const cb_hist_step *st = &g[i].steps[t];
            double at = 0.5 * (x[st->at - 1] + x[st->at]);
            double sx[2] = {at, at}, sy[2] = {st->before * scale, st->after * scale};
            char sl[192];
            sfmt(sl, sizeof sl, "step %+.0f%% before %s%s%s", 100 * st->change, g[i].p[st->at].commit,
                 label[0] ? ", " : "", label);
            if (cb_plot_add(&p, sl, 2, sx, sy, NULL, NULL) != 0) {
                rc = -1;
                break;
            }
            p.s[p.n - 1].color = 7; /* black */
            p.s[p.n - 1].dash = 1;
            size_t used = strlen(steps_text);
            sfmt(steps_text + used, sizeof steps_text - used, "%s%+.0f%% before `%.12s`", n_steps ? ", " : "",
                 100 * st->change, g[i].p[st->at].commit);
            n_steps++;
        }
    }
    if (rc != 0) rc = cb_fail(r->err, sizeof r->err, "figure %s: out of memory", stem);
    if (rc == 0) rc = cb_plot_render(&p, r->figdir, stem, r->err, sizeof r->err);
    cb_plot_free(&p);
    if (rc == 0) {
        sfmt(caption, sizeof caption,
             "Trend: median time per call of `%s` on `%s` in each of the %d runs of the history on "
             "this machine, from `%.12s` to `%.12s`, one line per parameter set%s. %s%s%s",
             g[0].kernel, g[0].backend, nr, runs[0].commit, runs[nr - 1].commit, logy ? " (log y)" : "",
             n_steps ? "Steps flagged by `claimbench history` (black): " : "No step flagged by `claimbench history`.",
             steps_text, n_steps ? "." : "");
        rc = add_figref(r, stem, caption);
    }
    free(runs);
    free(x);
    free(y);
    return rc;
}

static int fig_history(rep *r, const cb_spec *s)
{
    struct stat sb;
    if (!r->history || !r->history[0] || stat(r->history, &sb) != 0) return 0; /* no history yet */
    cb_hist_filter f = {.task = s->id, .machine = machine_get(r, "hostname")};
    cb_hist_set set;
    char e[1024];
    if (cb_history_series(r->history, &f, &set, e, sizeof e) != 0) {
        if (!r->quiet) fprintf(stderr, "report: warning: no trend figures for %s: %s\n", s->id, e);
        return 0;
    }
    int rc = 0;
    /* The series come ordered by kernel and backend: one figure per run of equal ones. */
    for (int i = 0; i < set.n && rc == 0;) {
        int j = i + 1;
        while (j < set.n && strcmp(set.s[j].kernel, set.s[i].kernel) == 0 &&
               strcmp(set.s[j].backend, set.s[i].backend) == 0)
            j++;
        rc = fig_history_group(r, s, set.s + i, j - i);
        i = j;
    }
    cb_hist_set_free(&set);
    return rc;
}

/* ==== the HTML pages ===========================================================
 *
 * index.html and <task>.html, rendered from the Markdown just written. */

static int write_html(const char *reports_dir, const cb_spec *specs, int n, char *err, size_t errlen)
{
    const char **pages = malloc((size_t)(n + 1) * sizeof *pages);
    if (!pages) return cb_fail(err, errlen, "out of memory");
    pages[0] = "index";
    for (int i = 0; i < n; i++) pages[i + 1] = specs[i].id;
    int rc = cb_html_write_reports(reports_dir, pages, n + 1, err, errlen);
    free(pages);
    return rc;
}
