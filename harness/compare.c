/* compare.c — `claimbench compare BASE NEW`: what changed between two runs,
 * and whether any of it is a real regression.
 *
 * BASE and NEW are each a run folder (samples.tsv, with machine.tsv and
 * verdicts.tsv when present) or a Google Benchmark JSON file (the iteration
 * rows' real_time in their time_unit; aggregates are ignored). Rows are
 * matched by (task, kernel, backend, metric, parameters), and for agreement
 * rows the output name too. Then, per matched row:
 *
 *   timing     the ratio of medians new/base with a bootstrap 95% interval
 *              and the two-sided Mann–Whitney U p-value of the repetitions
 *              (noise.h), classified against a threshold T that comes from
 *              the machine's measured same-commit noise (noise.tsv):
 *                regression   p < alpha and the interval's low end > 1 + T
 *                slower       p < alpha and ratio > 1 + T, the interval
 *                             reaching below 1 + T (advisory)
 *                improvement  p < alpha and the interval's high end < 1/(1 + T)
 *                faster       p < alpha and ratio < 1/(1 + T) (advisory)
 *                noise        anything else: not significant, or within T
 *              T is the 99th percentile of how far apart the medians of two
 *              runs of the same code land, i.e. a point estimate just beyond
 *              it is what noise does for 1 row in 100; a comparison has
 *              dozens of rows, so the whole interval must clear T.
 *   numerical  agreement with ref: agree_pass 1 → 0 is a regression; an
 *              error (agree_max_abs, agree_max_rel, agree_nl2) that grows
 *              more than FACTOR × (10) and beyond FLOOR (1e-6) is one.
 *              fp32 rounding moves these errors by small factors when the
 *              summation order changes (a BLAS update, another thread
 *              count); 10× is an order of magnitude beyond that, and below
 *              1e-6 (≈ 8 float32 ulps at 1) a ratio means nothing (0 → 1e-8
 *              is "infinitely" worse and still exact to rounding). Probe and
 *              machine metrics are reported when they change, never judged.
 *   verdicts   reproduced > inconclusive > not reproduced; a verdict that
 *              moves down is a flip.
 *   cases      a case that ran in BASE and fails in NEW (crash, time limit,
 *              run() error) has failed.
 * Rows present on one side only are listed. Exit 1 when there is a timing
 * regression, a numerical regression, a verdict flip or a failed case; 0
 * otherwise; 2 on bad usage; 3 when an input cannot be read.
 *
 * `compare --calibrate RUN1 ... RUNk` (k ≥ 3 same-commit runs) measures the
 * noise: |log(median_j / median_i)| over every timed row of every pair of
 * runs, pooled per backend and over all, and writes the thresholds into
 * <baselines>/<machine class>/noise.tsv with how they were measured.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "kernel.h"
#include "noise.h"
#include "results.h"
#include "stats.h"
#include "table.h"

static const char usage_text[] =
    "usage: claimbench compare [OPTIONS] BASE NEW\n"
    "       claimbench compare --calibrate [--quantile Q] [--floor F] [--out FILE] RUN1 RUN2 RUN3 ...\n"
    "       claimbench compare --machine-class RUN\n"
    "\n"
    "Compares two results, each a run folder (samples.tsv [+ machine.tsv,\n"
    "verdicts.tsv]) or a Google Benchmark JSON file, row by row (task, kernel,\n"
    "backend, parameters):\n"
    "  timings    ratio of medians new/base with a bootstrap 95% interval and a\n"
    "             two-sided Mann-Whitney U p-value on the repetitions; a row is a\n"
    "             'regression' when p < alpha and the whole interval lies above\n"
    "             1 + T, 'slower' when p < alpha and the ratio (not the whole\n"
    "             interval) is above 1 + T, 'noise' when not significant or within\n"
    "             T ('faster' and 'improvement' likewise downward);\n"
    "  numerical  agreement with ref: pass -> fail, or an error growing more than\n"
    "             FACTOR x and beyond FLOOR, is a regression;\n"
    "  verdicts   a verdict moving down (reproduced > inconclusive > not\n"
    "             reproduced) is a flip;\n"
    "  cases      a case that ran in BASE and failed in NEW has failed.\n"
    "T, the noise threshold, comes from <baselines>/<machine class>/noise.tsv\n"
    "(the class of NEW, from its machine.tsv; see --calibrate), per backend.\n"
    "\n"
    "  --json            a machine-readable document on stdout instead of the table\n"
    "  --threshold X     T for every row (0.15 or 15%), instead of the noise file\n"
    "  --noise FILE      the noise file to read T from\n"
    "  --baselines DIR   where noise files live (default data/baselines)\n"
    "  --class NAME      machine class (default: from NEW's machine.tsv)\n"
    "  --alpha A         significance level of the U test (default 0.05)\n"
    "  --resamples B     bootstrap resamples (default 2000, seeded with --seed)\n"
    "  --num-factor F    numerical: error growth factor (default 10)\n"
    "  --num-floor E     numerical: errors below E are rounding (default 1e-6)\n"
    "  --all             list every row, unchanged numerical rows too\n"
    "\n"
    "  --calibrate RUN...  k >= 3 runs of the same commit on this machine: the\n"
    "                    threshold per backend (and '*' over all) is the Q\n"
    "                    quantile of |log(median_j / median_i)| over every timed\n"
    "                    row of every pair i < j, as a relative change, at least\n"
    "                    F; written to --out (default <baselines>/<class>/noise.tsv)\n"
    "  --quantile Q      (default 0.99)    --floor F   (default 0.05)\n"
    "  --machine-class RUN   print the machine class of a run folder\n"
    "\n"
    "exit: 0 no real regression, 1 a timing or numerical regression, a verdict\n"
    "flip or a failed case, 2 bad usage, 3 an input cannot be read or written.\n";

#define DEFAULT_THRESHOLD 0.20   /* no noise file: the upper end of hosted runners' measured noise */
#define DEFAULT_ALPHA 0.05
#define DEFAULT_RESAMPLES 2000
#define DEFAULT_QUANTILE 0.99
#define DEFAULT_FLOOR 0.05
#define CI_LEVEL 0.95

/* ---- the rows of one side, keyed for matching -------------------------------- */

typedef struct entry {
    cb_row_kind kind;
    char task[64];
    char kernel[160];
    char backend[16];
    char metric[CB_NAME_MAX];
    char params[512];       /* for display: cb_params_format, or "" */
    char note[256];
    char key[1024];         /* matching key: fields joined by \x1f, params sorted */
    int n;
    double *v;
    int matched;
} entry;

typedef struct verdict_row {
    char task[64];
    char check[128];
    char verdict[32];
    int matched;
} verdict_row;

typedef struct side {
    const char *path;
    int is_json;
    int n, cap;
    entry *e;
    int has_machine, has_verdicts;
    char commit[64], cpu[256], cores[16], date[64];
    char klass[128];
    int nv, vcap;
    verdict_row *vr;
} side;

typedef struct opts {
    int json, all, calibrate, machine_class;
    double threshold;       /* < 0: from the noise file */
    const char *noise, *baselines, *klass, *out;
    double alpha, num_factor, num_floor, quantile, floor;
    int resamples;
    int npaths;
    char **paths;
} opts;

static void side_free(side *s)
{
    for (int i = 0; i < s->n; i++)
        free(s->e[i].v);
    free(s->e);
    free(s->vr);
    memset(s, 0, sizeof *s);
}

/* Copy src into dst (cap bytes), truncated and NUL-terminated. */
static void copy_str(char *dst, size_t cap, const char *src)
{
    if (cap == 0)
        return;
    size_t n = src ? strlen(src) : 0;
    if (n > cap - 1)
        n = cap - 1;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

static int is_agree_metric(const char *metric) { return strncmp(metric, "agree_", 6) == 0; }

/* The parameters sorted by name, "a=1,b=2", so two runs that list them in
 * another order still match. */
static void params_canonical(const cb_params *p, char *buf, size_t len)
{
    int idx[CB_MAX_PARAMS];
    for (int i = 0; i < p->n; i++)
        idx[i] = i;
    for (int i = 1; i < p->n; i++)
        for (int j = i; j > 0 && strcmp(p->name[idx[j - 1]], p->name[idx[j]]) > 0; j--) {
            int t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
    size_t at = 0;
    buf[0] = '\0';
    for (int i = 0; i < p->n && at < len; i++) {
        int k = snprintf(buf + at, len - at, "%s%s=%.17g", i ? "," : "", p->name[idx[i]],
                         p->value[idx[i]]);
        if (k < 0)
            break;
        at += (size_t)k;
    }
}

/* Append one entry (copies v). Returns 0 or -1 on allocation failure. */
static int side_add(side *s, cb_row_kind kind, const char *task, const char *kernel,
                    const char *backend, const char *metric, const cb_params *params,
                    const char *note, const double *v, int n)
{
    if (s->n == s->cap) {
        int nc = s->cap ? 2 * s->cap : 64;
        entry *g = realloc(s->e, (size_t)nc * sizeof *g);
        if (!g)
            return -1;
        s->e = g;
        s->cap = nc;
    }
    entry *e = &s->e[s->n];
    memset(e, 0, sizeof *e);
    e->kind = kind;
    copy_str(e->task, sizeof e->task, task);
    copy_str(e->kernel, sizeof e->kernel, kernel);
    copy_str(e->backend, sizeof e->backend, backend);
    copy_str(e->metric, sizeof e->metric, metric);
    copy_str(e->note, sizeof e->note, note && strcmp(note, "-") != 0 ? note : "");
    char canon[600] = "";
    if (params) {
        cb_params_format(params, e->params, sizeof e->params);
        params_canonical(params, canon, sizeof canon);
    }
    snprintf(e->key, sizeof e->key, "%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s", e->task, e->kernel,
             e->backend, e->metric, canon, is_agree_metric(e->metric) ? e->note : "");
    if (n > 0) {
        e->v = malloc((size_t)n * sizeof *e->v);
        if (!e->v)
            return -1;
        memcpy(e->v, v, (size_t)n * sizeof *e->v);
    }
    e->n = n;
    s->n++;
    return 0;
}

/* ---- reading a run folder ---------------------------------------------------- */

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t k = fread(buf + n, 1, cap - n - 1, f);
        n += k;
        if (n + 1 < cap)
            break;
        char *g = realloc(buf, 2 * cap);
        if (!g) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = g;
        cap *= 2;
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        free(buf);
        if (bad)
            errno = EIO;
        else
            errno = ENOMEM;
        return NULL;
    }
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

/* machine.tsv: the few keys compare needs. A missing file is not an error. */
static void read_machine(side *s, const char *dir)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/machine.tsv", dir);
    char *text = read_file(path, NULL);
    if (!text)
        return;
    s->has_machine = 1;
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        char *tab = strchr(line, '\t');
        if (!tab)
            continue;
        *tab = '\0';
        const char *v = tab + 1;
        if (strcmp(line, "commit") == 0)
            copy_str(s->commit, sizeof s->commit, v);
        else if (strcmp(line, "cpu") == 0)
            copy_str(s->cpu, sizeof s->cpu, v);
        else if (strcmp(line, "cores") == 0)
            copy_str(s->cores, sizeof s->cores, v);
        else if (strcmp(line, "date") == 0)
            copy_str(s->date, sizeof s->date, v);
    }
    free(text);
    cb_machine_class(s->cpu, s->cores, s->klass, sizeof s->klass);
}

/* verdicts.tsv (verify.c): task, check, type, verdict, ... per line. */
static int read_verdicts(side *s, const char *dir)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/verdicts.tsv", dir);
    char *text = read_file(path, NULL);
    if (!text)
        return 0;
    s->has_verdicts = 1;
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (line[0] == '#' || !line[0])
            continue;
        char *f[4];
        int nf = 0;
        for (char *p = line; nf < 4 && p;) {
            f[nf++] = p;
            p = strchr(p, '\t');
            if (p)
                *p++ = '\0';
        }
        if (nf < 4)
            continue;
        if (s->nv == s->vcap) {
            int nc = s->vcap ? 2 * s->vcap : 32;
            verdict_row *g = realloc(s->vr, (size_t)nc * sizeof *g);
            if (!g) {
                free(text);
                return -1;
            }
            s->vr = g;
            s->vcap = nc;
        }
        verdict_row *v = &s->vr[s->nv++];
        memset(v, 0, sizeof *v);
        copy_str(v->task, sizeof v->task, f[0]);
        copy_str(v->check, sizeof v->check, f[1]);
        copy_str(v->verdict, sizeof v->verdict, f[3]);
    }
    free(text);
    return 0;
}

static int load_run_folder(side *s, const char *dir, char *err, size_t errlen)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/samples.tsv", dir);
    cb_table t = {0};
    if (cb_table_read(&t, path, err, errlen) != 0)
        return -1;
    for (int i = 0; i < t.n; i++) {
        const cb_row *r = &t.rows[i];
        if (side_add(s, r->kind, r->task, r->kernel, r->backend, r->metric, &r->params, r->note,
                     r->v, r->n) != 0) {
            cb_table_free(&t);
            return cb_fail(err, errlen, "out of memory");
        }
    }
    cb_table_free(&t);
    read_machine(s, dir);
    if (read_verdicts(s, dir) != 0)
        return cb_fail(err, errlen, "out of memory");
    return 0;
}

/* ---- reading a Google Benchmark JSON file -------------------------------------- */

/* A small recursive-descent reader for the JSONReporter's output: the
 * "context" object's scalar members and, per element of "benchmarks", the
 * scalar members compare needs; anything else is skipped. */
typedef struct jreader {
    const char *p, *end;
    int depth;
    char msg[160];
} jreader;

static int jfail(jreader *j, const char *what)
{
    if (!j->msg[0])
        snprintf(j->msg, sizeof j->msg, "%s at byte %ld", what, (long)(j->end - j->p));
    return -1;
}

static void jws(jreader *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static int jexpect(jreader *j, char c)
{
    jws(j);
    if (j->p >= j->end || *j->p != c) {
        char what[32];
        snprintf(what, sizeof what, "expected '%c'", c);
        return jfail(j, what);
    }
    j->p++;
    return 0;
}

static void put_utf8(char *out, size_t cap, size_t *k, unsigned cp)
{
    char b[4];
    int n;
    if (cp < 0x80) {
        b[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xC0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else {
        b[0] = (char)(0xE0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    }
    for (int i = 0; i < n; i++)
        if (*k + 1 < cap)
            out[(*k)++] = b[i];
}

/* A string into out (truncated to cap - 1 bytes; out may be NULL). */
static int jstring(jreader *j, char *out, size_t cap)
{
    if (jexpect(j, '"') != 0)
        return -1;
    size_t k = 0;
    while (j->p < j->end && *j->p != '"') {
        char c = *j->p++;
        if (c == '\\') {
            if (j->p >= j->end)
                return jfail(j, "unterminated string");
            char e = *j->p++;
            unsigned cp = 0;
            switch (e) {
            case 'n': cp = '\n'; break;
            case 't': cp = '\t'; break;
            case 'r': cp = '\r'; break;
            case 'b': cp = '\b'; break;
            case 'f': cp = '\f'; break;
            case 'u':
                for (int i = 0; i < 4; i++) {
                    if (j->p >= j->end)
                        return jfail(j, "bad \\u escape");
                    char h = *j->p++;
                    cp = cp * 16 + (unsigned)(h >= '0' && h <= '9'   ? h - '0'
                                              : h >= 'a' && h <= 'f' ? h - 'a' + 10
                                              : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                                                     : 0);
                }
                break;
            default: cp = (unsigned char)e; break;   /* \" \\ \/ */
            }
            if (out)
                put_utf8(out, cap, &k, cp);
        } else if (out && k + 1 < cap) {
            out[k++] = c;
        }
    }
    if (j->p >= j->end)
        return jfail(j, "unterminated string");
    j->p++;
    if (out && cap)
        out[k] = '\0';
    return 0;
}

/* Any value; a scalar is returned as text in out (strings unquoted, true,
 * false, null and numbers verbatim), objects and arrays are skipped and
 * give "". */
static int jvalue(jreader *j, char *out, size_t cap)
{
    jws(j);
    if (out && cap)
        out[0] = '\0';
    if (j->p >= j->end)
        return jfail(j, "unexpected end");
    char c = *j->p;
    if (c == '"')
        return jstring(j, out, cap);
    if (c == '{' || c == '[') {
        if (++j->depth > 64)
            return jfail(j, "nested too deep");
        char close = c == '{' ? '}' : ']';
        j->p++;
        jws(j);
        if (j->p < j->end && *j->p == close) {
            j->p++;
            j->depth--;
            return 0;
        }
        for (;;) {
            if (c == '{') {
                if (jstring(j, NULL, 0) != 0 || jexpect(j, ':') != 0)
                    return -1;
            }
            if (jvalue(j, NULL, 0) != 0)
                return -1;
            jws(j);
            if (j->p < j->end && *j->p == ',') {
                j->p++;
                continue;
            }
            if (jexpect(j, close) != 0)
                return -1;
            break;
        }
        j->depth--;
        if (out && cap)
            out[0] = '\0';
        return 0;
    }
    const char *s = j->p;
    while (j->p < j->end && !strchr(",}] \t\r\n", *j->p))
        j->p++;
    if (j->p == s)
        return jfail(j, "expected a value");
    if (out && cap) {
        size_t n = (size_t)(j->p - s) < cap - 1 ? (size_t)(j->p - s) : cap - 1;
        memcpy(out, s, n);
        out[n] = '\0';
    }
    return 0;
}

/* One element of "benchmarks": the members compare needs. */
typedef struct gb_item {
    char name[512], run_name[512], run_type[32], time_unit[8], error[8];
    double real_time;
    int has_time;
} gb_item;

static int jitem(jreader *j, gb_item *it)
{
    memset(it, 0, sizeof *it);
    jws(j);
    if (j->p >= j->end || *j->p != '{')
        return jvalue(j, NULL, 0);      /* not an object: skip it */
    j->p++;
    jws(j);
    if (j->p < j->end && *j->p == '}') {
        j->p++;
        return 0;
    }
    for (;;) {
        char key[64], val[512];
        if (jstring(j, key, sizeof key) != 0 || jexpect(j, ':') != 0 ||
            jvalue(j, val, sizeof val) != 0)
            return -1;
        if (strcmp(key, "name") == 0)
            copy_str(it->name, sizeof it->name, val);
        else if (strcmp(key, "run_name") == 0)
            copy_str(it->run_name, sizeof it->run_name, val);
        else if (strcmp(key, "run_type") == 0)
            copy_str(it->run_type, sizeof it->run_type, val);
        else if (strcmp(key, "time_unit") == 0)
            copy_str(it->time_unit, sizeof it->time_unit, val);
        else if (strcmp(key, "error_occurred") == 0)
            copy_str(it->error, sizeof it->error, val);
        else if (strcmp(key, "real_time") == 0) {
            char *end;
            it->real_time = strtod(val, &end);
            it->has_time = end != val && *end == '\0';
        }
        jws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        return jexpect(j, '}');
    }
}

/* Seconds per time_unit ("ns" is Google Benchmark's default). */
static double unit_seconds(const char *u)
{
    if (!u[0] || strcmp(u, "ns") == 0) return 1e-9;
    if (strcmp(u, "us") == 0) return 1e-6;
    if (strcmp(u, "ms") == 0) return 1e-3;
    if (strcmp(u, "s") == 0) return 1;
    return NAN;
}

/* The repetitions of one benchmark name, collected before they become a row. */
typedef struct gb_group {
    char name[512];
    int n, cap, errors;
    double *v;
} gb_group;

/* A benchmark name "task/kernel/backend/params[/...]" as claimbench writes
 * it becomes those fields; any other name is task "gbench", kernel = name. */
static int add_gb_row(side *s, const gb_group *g)
{
    char buf[512];
    copy_str(buf, sizeof buf, g->name);
    char *part[5] = {0};
    int np = 0;
    for (char *p = buf; np < 5 && p;) {   /* a 5th part ("real_time", ...) is dropped */
        part[np++] = p;
        p = strchr(p, '/');
        if (p)
            *p++ = '\0';
    }
    cb_params params = {0};
    int ours = np >= 4 && strchr(part[3], '=') && cb_params_parse(&params, part[3]) == 0 &&
               strlen(part[0]) < 64 && strlen(part[1]) < CB_NAME_MAX && strlen(part[2]) < 16;
    cb_row_kind kind = g->n > 0 ? CB_ROW_TIME : CB_ROW_FAIL;
    const char *note = g->n > 0 ? "" : "every repetition reported an error";
    if (ours)
        return side_add(s, kind, part[0], part[1], part[2], "time", &params, note, g->v, g->n);
    return side_add(s, kind, "gbench", g->name, "-", "time", NULL, note, g->v, g->n);
}

static int load_gbench_json(side *s, const char *path, char *err, size_t errlen)
{
    size_t len;
    char *text = read_file(path, &len);
    if (!text)
        return cb_fail(err, errlen, "%s: %s", path, strerror(errno));
    jreader j = {text, text + len, 0, ""};
    gb_group *g = NULL;
    int ng = 0, gcap = 0, rc = -1, saw_benchmarks = 0;
    if (jexpect(&j, '{') != 0)
        goto bad;
    jws(&j);
    if (j.p < j.end && *j.p == '}')
        goto bad;
    for (;;) {
        char key[64];
        if (jstring(&j, key, sizeof key) != 0 || jexpect(&j, ':') != 0)
            goto bad;
        jws(&j);
        if (strcmp(key, "context") == 0 && j.p < j.end && *j.p == '{') {
            j.p++;
            jws(&j);
            if (j.p < j.end && *j.p == '}')
                j.p++;
            else
                for (;;) {
                    char ck[64], cv[256];
                    if (jstring(&j, ck, sizeof ck) != 0 || jexpect(&j, ':') != 0 ||
                        jvalue(&j, cv, sizeof cv) != 0)
                        goto bad;
                    if (strcmp(ck, "commit") == 0)
                        copy_str(s->commit, sizeof s->commit, cv);
                    else if (strcmp(ck, "date") == 0)
                        copy_str(s->date, sizeof s->date, cv);
                    jws(&j);
                    if (j.p < j.end && *j.p == ',') {
                        j.p++;
                        continue;
                    }
                    if (jexpect(&j, '}') != 0)
                        goto bad;
                    break;
                }
        } else if (strcmp(key, "benchmarks") == 0 && j.p < j.end && *j.p == '[') {
            saw_benchmarks = 1;
            j.p++;
            jws(&j);
            if (j.p < j.end && *j.p == ']')
                j.p++;
            else
                for (;;) {
                    gb_item it;
                    if (jitem(&j, &it) != 0)
                        goto bad;
                    const char *nm = it.run_name[0] ? it.run_name : it.name;
                    int iteration = !it.run_type[0] || strcmp(it.run_type, "iteration") == 0;
                    if (nm[0] && iteration) {
                        int gi = 0;
                        while (gi < ng && strcmp(g[gi].name, nm) != 0)
                            gi++;
                        if (gi == ng) {
                            if (ng == gcap) {
                                int nc = gcap ? 2 * gcap : 16;
                                gb_group *ng_ = realloc(g, (size_t)nc * sizeof *ng_);
                                if (!ng_) {
                                    snprintf(err, errlen, "out of memory");
                                    goto done;
                                }
                                g = ng_;
                                gcap = nc;
                            }
                            memset(&g[ng], 0, sizeof g[ng]);
                            copy_str(g[ng].name, sizeof g[ng].name, nm);
                            ng++;
                        }
                        gb_group *gr = &g[gi];
                        double scale = unit_seconds(it.time_unit);
                        if (strcmp(it.error, "true") == 0 || !it.has_time || isnan(scale)) {
                            gr->errors++;
                        } else {
                            if (gr->n == gr->cap) {
                                int nc = gr->cap ? 2 * gr->cap : 16;
                                double *nv = realloc(gr->v, (size_t)nc * sizeof *nv);
                                if (!nv) {
                                    snprintf(err, errlen, "out of memory");
                                    goto done;
                                }
                                gr->v = nv;
                                gr->cap = nc;
                            }
                            gr->v[gr->n++] = it.real_time * scale;
                        }
                    }
                    jws(&j);
                    if (j.p < j.end && *j.p == ',') {
                        j.p++;
                        continue;
                    }
                    if (jexpect(&j, ']') != 0)
                        goto bad;
                    break;
                }
        } else if (jvalue(&j, NULL, 0) != 0) {
            goto bad;
        }
        jws(&j);
        if (j.p < j.end && *j.p == ',') {
            j.p++;
            continue;
        }
        if (jexpect(&j, '}') != 0)
            goto bad;
        break;
    }
    if (!saw_benchmarks) {
        snprintf(err, errlen, "%s: not a Google Benchmark JSON file (no \"benchmarks\" array)", path);
        goto done;
    }
    for (int i = 0; i < ng; i++)
        if (add_gb_row(s, &g[i]) != 0) {
            snprintf(err, errlen, "out of memory");
            goto done;
        }
    rc = 0;
    goto done;
bad:
    snprintf(err, errlen, "%s: not valid JSON: %s", path, j.msg[0] ? j.msg : "malformed");
done:
    for (int i = 0; i < ng; i++)
        free(g[i].v);
    free(g);
    free(text);
    return rc;
}

/* A run folder or a JSON file. Returns 0, or -1 with err. */
static int load_side(side *s, const char *path, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    s->path = path;
    struct stat st;
    if (stat(path, &st) != 0)
        return cb_fail(err, errlen, "%s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return load_run_folder(s, path, err, errlen);
    s->is_json = 1;
    return load_gbench_json(s, path, err, errlen);
}

/* ---- matching ------------------------------------------------------------------- */

/* The first unmatched entry of s with this key, or NULL. */
static entry *find_match(side *s, const char *key)
{
    for (int i = 0; i < s->n; i++)
        if (!s->e[i].matched && strcmp(s->e[i].key, key) == 0)
            return &s->e[i];
    return NULL;
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

/* ---- thresholds ------------------------------------------------------------------- */

typedef struct noise_entry {
    char backend[16];
    double threshold;
} noise_entry;

typedef struct thresholds {
    char source[1200];
    double fallback;        /* "*" row, --threshold, or the default */
    int n;
    noise_entry e[32];
} thresholds;

static double threshold_for(const thresholds *th, const char *backend)
{
    for (int i = 0; i < th->n; i++)
        if (strcmp(th->e[i].backend, backend) == 0)
            return th->e[i].threshold;
    return th->fallback;
}

/* noise.tsv: '#' comments, a header "backend\tthreshold...", one row per
 * backend ("*" = all). Returns 0, 1 when the file does not exist, or -1 with
 * err when it is malformed. */
static int read_noise(const char *path, thresholds *th, char *err, size_t errlen)
{
    char *text = read_file(path, NULL);
    if (!text)
        return errno == ENOENT ? 1 : cb_fail(err, errlen, "%s: %s", path, strerror(errno));
    int lineno = 0, rows = 0, rc = 0;
    th->n = 0;
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        lineno++;
        if (line[0] == '#' || !line[0] || strncmp(line, "backend\t", 8) == 0)
            continue;
        char *tab = strchr(line, '\t');
        char *end = NULL;
        double v = tab ? strtod(tab + 1, &end) : NAN;
        if (!tab || end == tab + 1 || (*end && *end != '\t') || !(v >= 0) || !isfinite(v)) {
            rc = cb_fail(err, errlen, "%s:%d: expected 'backend<TAB>threshold...'", path, lineno);
            break;
        }
        *tab = '\0';
        rows++;
        if (strcmp(line, "*") == 0) {
            th->fallback = v;
        } else if (th->n < (int)(sizeof th->e / sizeof th->e[0])) {
            copy_str(th->e[th->n].backend, sizeof th->e[th->n].backend, line);
            th->e[th->n].threshold = v;
            th->n++;
        }
    }
    free(text);
    if (rc == 0 && rows == 0)
        rc = cb_fail(err, errlen, "%s: no thresholds in it", path);
    if (rc == 0)
        copy_str(th->source, sizeof th->source, path);
    return rc;
}

/* ---- one compared row --------------------------------------------------------------- */

typedef struct timing_res {
    const entry *b, *n;
    const char *klass;
    double mb, mn, ratio, lo, hi, p, thr;
    int exact, fails;
} timing_res;

typedef struct num_res {
    const entry *b, *n;
    const char *klass;
    double vb, vn;
    char reason[160];
    int fails, shown;
} num_res;

typedef struct verdict_res {
    const verdict_row *b, *n;
    const char *klass;
    int fails;
} verdict_res;

static int verdict_rank(const char *v)
{
    if (strcmp(v, "reproduced") == 0) return 2;
    if (strcmp(v, "inconclusive") == 0) return 1;
    if (strcmp(v, "not reproduced") == 0) return 0;
    return -1;
}

static int is_timing_entry(const entry *e) { return strcmp(e->metric, "time") == 0; }

static double entry_value(const entry *e) { return e->n > 0 ? cb_median(e->v, e->n) : NAN; }

static void judge_timing(const opts *o, const thresholds *th, uint64_t seed, timing_res *r)
{
    const entry *b = r->b, *n = r->n;
    r->mb = r->mn = r->ratio = r->lo = r->hi = NAN;
    r->p = NAN;
    r->thr = threshold_for(th, n->backend);
    r->fails = 0;
    if (b->kind == CB_ROW_TIME && n->kind == CB_ROW_TIME && b->n > 0 && n->n > 0) {
        r->mb = cb_median(b->v, b->n);
        r->mn = cb_median(n->v, n->n);
        cb_ratio_ci(b->v, b->n, n->v, n->n, o->resamples, seed ^ fnv1a(b->key), CI_LEVEL,
                    &r->ratio, &r->lo, &r->hi);
        cb_utest u;
        cb_mann_whitney(b->v, b->n, n->v, n->n, &u);
        r->p = u.p;
        r->exact = u.exact;
        double up = 1 + r->thr, down = 1 / (1 + r->thr);
        int sig = r->p < o->alpha;
        if (sig && r->lo > up) {
            r->klass = "regression";
            r->fails = 1;
        } else if (sig && r->ratio > up) {
            r->klass = "slower";
        } else if (sig && r->hi < down) {
            r->klass = "improvement";
        } else if (sig && r->ratio < down) {
            r->klass = "faster";
        } else {
            r->klass = "noise";
        }
        return;
    }
    if (n->kind == CB_ROW_FAIL && b->kind != CB_ROW_FAIL) {
        r->klass = "failed";
        r->fails = 1;
    } else if (n->kind == CB_ROW_SKIP && b->kind == CB_ROW_TIME) {
        r->klass = "skipped";
    } else if (n->kind == CB_ROW_TIME) {
        r->klass = "recovered";
        r->mn = entry_value(n);
    } else {
        r->klass = "not timed";
    }
    if (b->kind == CB_ROW_TIME)
        r->mb = entry_value(b);
}

static void judge_numerical(const opts *o, num_res *r)
{
    const entry *b = r->b, *n = r->n;
    r->vb = entry_value(b);
    r->vn = entry_value(n);
    r->fails = 0;
    r->reason[0] = '\0';
    r->klass = "same";
    if (n->kind == CB_ROW_FAIL && b->kind != CB_ROW_FAIL) {
        r->klass = "failed";
        r->fails = 1;
        copy_str(r->reason, sizeof r->reason, n->note[0] ? n->note : "failed");
        return;
    }
    if (b->kind == CB_ROW_FAIL && n->kind != CB_ROW_FAIL) {
        r->klass = "improvement";
        snprintf(r->reason, sizeof r->reason, "ran again");
        return;
    }
    double vb = r->vb, vn = r->vn;
    if (strcmp(b->metric, "agree_pass") == 0) {
        if (vb >= 0.5 && !(vn >= 0.5)) {
            r->klass = "regression";
            r->fails = 1;
            snprintf(r->reason, sizeof r->reason, "agreement with ref: pass -> fail");
        } else if (!(vb >= 0.5) && vn >= 0.5) {
            r->klass = "improvement";
            snprintf(r->reason, sizeof r->reason, "agreement with ref: fail -> pass");
        }
        return;
    }
    if (is_agree_metric(b->metric)) {
        if (isfinite(vb) && !isfinite(vn)) {
            r->klass = "regression";
            r->fails = 1;
            snprintf(r->reason, sizeof r->reason, "error became %g", vn);
        } else if (vn > o->num_factor * vb && vn > o->num_floor) {
            r->klass = "regression";
            r->fails = 1;
            if (vb > 0)
                snprintf(r->reason, sizeof r->reason, "error grew %.3gx (> %gx) to %.3g (> %g)",
                         vn / vb, o->num_factor, vn, o->num_floor);
            else
                snprintf(r->reason, sizeof r->reason, "error grew from 0 to %.3g (> %g)", vn,
                         o->num_floor);
        } else if (vb > o->num_factor * vn && vb > o->num_floor) {
            r->klass = "improvement";
            snprintf(r->reason, sizeof r->reason, "error shrank %.3gx", vn > 0 ? vb / vn : INFINITY);
        } else if (!(vb == vn) && !(isnan(vb) && isnan(vn))) {
            r->klass = "changed";
            snprintf(r->reason, sizeof r->reason, "within %gx or below %g", o->num_factor,
                     o->num_floor);
        }
        return;
    }
    if (!(vb == vn) && !(isnan(vb) && isnan(vn))) {
        r->klass = "changed";
        snprintf(r->reason, sizeof r->reason, "%s metric (reported, not judged)",
                 strcmp(b->task, "_machine") == 0 ? "machine" : "probe");
    }
}

/* ---- output ----------------------------------------------------------------------- */

static void fmt_time(double s, char *buf, size_t len)
{
    if (!isfinite(s))
        snprintf(buf, len, "-");
    else if (s < 1e-6)
        snprintf(buf, len, "%.3g ns", s * 1e9);
    else if (s < 1e-3)
        snprintf(buf, len, "%.3g us", s * 1e6);
    else if (s < 1)
        snprintf(buf, len, "%.3g ms", s * 1e3);
    else
        snprintf(buf, len, "%.3g s", s);
}

/* Parameters for the table: values with 4 significant digits. */
static void params_short(const char *params, char *buf, size_t len)
{
    cb_params p = {0};
    if (!params[0] || cb_params_parse(&p, params) != 0) {
        snprintf(buf, len, "%s", params);
        return;
    }
    size_t at = 0;
    buf[0] = '\0';
    for (int i = 0; i < p.n && at < len; i++) {
        int k = snprintf(buf + at, len - at, "%s%s=%.4g", i ? "," : "", p.name[i], p.value[i]);
        if (k < 0)
            break;
        at += (size_t)k;
    }
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p == '\t')
            fputs("\\t", f);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static void json_num(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.10g", v);
    else
        fputs("null", f);
}

static void json_side(FILE *f, const char *name, const side *s)
{
    fprintf(f, "  ");
    json_str(f, name);
    fprintf(f, ": {\"path\": ");
    json_str(f, s->path);
    fprintf(f, ", \"format\": \"%s\", \"commit\": ", s->is_json ? "gbench" : "run");
    if (s->commit[0]) json_str(f, s->commit); else fputs("null", f);
    fprintf(f, ", \"machine_class\": ");
    if (s->klass[0]) json_str(f, s->klass); else fputs("null", f);
    fprintf(f, ", \"rows\": %d, \"verdicts\": %d},\n", s->n, s->nv);
}

static void json_entry_id(FILE *f, const entry *e)
{
    fprintf(f, "\"task\": ");
    json_str(f, e->task);
    fprintf(f, ", \"kernel\": ");
    json_str(f, e->kernel);
    fprintf(f, ", \"backend\": ");
    json_str(f, e->backend);
    fprintf(f, ", \"metric\": ");
    json_str(f, e->metric);
    fprintf(f, ", \"params\": ");
    json_str(f, e->params);
}

/* ---- the command -------------------------------------------------------------------- */

static int parse_double(const char *opt, const char *s, double *out, int percent_ok)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (percent_ok && end != s && *end == '%' && end[1] == '\0') {
        v /= 100;
        end++;
    }
    if (errno || end == s || *end || !isfinite(v) || v < 0) {
        fprintf(stderr, "claimbench compare: %s needs a non-negative number, not '%s'\n", opt, s);
        return -1;
    }
    *out = v;
    return 0;
}

/* Returns 1 for --help, -1 on a usage error (printed), else 0. */
static int parse_opts(int argc, char **argv, opts *o)
{
    memset(o, 0, sizeof *o);
    o->threshold = -1;
    o->baselines = "data/baselines";
    o->alpha = DEFAULT_ALPHA;
    o->resamples = DEFAULT_RESAMPLES;
    o->num_factor = 10;
    o->num_floor = 1e-6;
    o->quantile = DEFAULT_QUANTILE;
    o->floor = DEFAULT_FLOOR;
    o->paths = argv + 1;
    for (int a = 1; a < argc; a++) {
        const char *s = argv[a];
        if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0)
            return 1;
        if (strcmp(s, "--json") == 0) {
            o->json = 1;
        } else if (strcmp(s, "--all") == 0) {
            o->all = 1;
        } else if (strcmp(s, "--calibrate") == 0) {
            o->calibrate = 1;
        } else if (strcmp(s, "--machine-class") == 0) {
            o->machine_class = 1;
        } else if (s[0] == '-' && s[1] == '-') {
            static const char *const with_value[] = {"--threshold", "--noise", "--baselines",
                                                     "--class", "--alpha", "--resamples",
                                                     "--num-factor", "--num-floor", "--quantile",
                                                     "--floor", "--out", NULL};
            int known = 0;
            for (int i = 0; with_value[i]; i++)
                known |= strcmp(s, with_value[i]) == 0;
            if (!known) {
                fprintf(stderr, "claimbench compare: unknown option '%s' (see claimbench compare --help)\n", s);
                return -1;
            }
            if (a + 1 >= argc) {
                fprintf(stderr, "claimbench compare: %s needs a value\n", s);
                return -1;
            }
            const char *v = argv[++a];
            double d;
            if (strcmp(s, "--noise") == 0) {
                o->noise = v;
            } else if (strcmp(s, "--baselines") == 0) {
                o->baselines = v;
            } else if (strcmp(s, "--class") == 0) {
                o->klass = v;
            } else if (strcmp(s, "--out") == 0) {
                o->out = v;
            } else {
                if (parse_double(s, v, &d, strcmp(s, "--threshold") == 0) != 0)
                    return -1;
                if (strcmp(s, "--threshold") == 0) {
                    o->threshold = d;
                } else if (strcmp(s, "--alpha") == 0) {
                    if (!(d > 0 && d < 1)) {
                        fprintf(stderr, "claimbench compare: --alpha must lie in (0, 1)\n");
                        return -1;
                    }
                    o->alpha = d;
                } else if (strcmp(s, "--resamples") == 0) {
                    if (d != floor(d) || d < 100 || d > 1e6) {
                        fprintf(stderr, "claimbench compare: --resamples needs a whole number in [100, 1e6]\n");
                        return -1;
                    }
                    o->resamples = (int)d;
                } else if (strcmp(s, "--num-factor") == 0) {
                    if (!(d >= 1)) {
                        fprintf(stderr, "claimbench compare: --num-factor must be >= 1\n");
                        return -1;
                    }
                    o->num_factor = d;
                } else if (strcmp(s, "--num-floor") == 0) {
                    o->num_floor = d;
                } else if (strcmp(s, "--quantile") == 0) {
                    if (!(d > 0 && d <= 1)) {
                        fprintf(stderr, "claimbench compare: --quantile must lie in (0, 1]\n");
                        return -1;
                    }
                    o->quantile = d;
                } else {
                    o->floor = d;
                }
            }
        } else {
            o->paths[o->npaths++] = argv[a];   /* compacts the paths in place */
        }
    }
    if (o->calibrate + o->machine_class > 1) {
        fprintf(stderr, "claimbench compare: --calibrate and --machine-class exclude each other\n");
        return -1;
    }
    if (o->machine_class && o->npaths != 1) {
        fprintf(stderr, "claimbench compare: --machine-class needs one run folder\n");
        return -1;
    }
    if (o->calibrate && o->npaths < 3) {
        fprintf(stderr, "claimbench compare: --calibrate needs at least 3 same-commit runs (got %d)\n",
                o->npaths);
        return -1;
    }
    if (!o->calibrate && !o->machine_class && o->npaths != 2) {
        fprintf(stderr, "claimbench compare: needs BASE and NEW (got %d path%s; see --help)\n",
                o->npaths, o->npaths == 1 ? "" : "s");
        return -1;
    }
    return 0;
}

/* mkdir -p of the folder part of path. Returns 0 or -1 with errno. */
static int make_parent(const char *path)
{
    char buf[1200];
    copy_str(buf, sizeof buf, path);
    char *slash = strrchr(buf, '/');
    if (!slash)
        return 0;
    *slash = '\0';
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return buf[0] && mkdir(buf, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* ---- --calibrate --------------------------------------------------------------------- */

typedef struct pool {
    char backend[16];
    int n, cap;
    double *v;
} pool;

static int pool_add(pool **pools, int *np, const char *backend, double v)
{
    int i = 0;
    while (i < *np && strcmp((*pools)[i].backend, backend) != 0)
        i++;
    if (i == *np) {
        pool *g = realloc(*pools, (size_t)(*np + 1) * sizeof *g);
        if (!g)
            return -1;
        *pools = g;
        memset(&g[i], 0, sizeof g[i]);
        copy_str(g[i].backend, sizeof g[i].backend, backend);
        (*np)++;
    }
    pool *p = &(*pools)[i];
    if (p->n == p->cap) {
        int nc = p->cap ? 2 * p->cap : 256;
        double *g = realloc(p->v, (size_t)nc * sizeof *g);
        if (!g)
            return -1;
        p->v = g;
        p->cap = nc;
    }
    p->v[p->n++] = v;
    return 0;
}

static int cmd_calibrate(const cb_cli *cli, const opts *o)
{
    (void)cli;
    int k = o->npaths, rc = CB_EXIT_ERROR;
    char err[1400] = "";
    side *s = calloc((size_t)k, sizeof *s);
    pool *pools = NULL;
    int np = 0;
    char *doc = NULL;
    size_t doclen = 0;
    FILE *f = NULL;
    if (!s) {
        fprintf(stderr, "claimbench compare: out of memory\n");
        return CB_EXIT_ERROR;
    }
    for (int i = 0; i < k; i++)
        if (load_side(&s[i], o->paths[i], err, sizeof err) != 0) {
            fprintf(stderr, "claimbench compare: %s\n", err);
            goto done;
        }
    /* Same commit, same machine class: otherwise this is not noise. */
    for (int i = 1; i < k; i++) {
        if (strcmp(s[i].commit, s[0].commit) != 0) {
            fprintf(stderr, "claimbench compare: --calibrate needs runs of one commit: %s is %s, %s is %s\n",
                    s[0].path, s[0].commit[0] ? s[0].commit : "unknown", s[i].path,
                    s[i].commit[0] ? s[i].commit : "unknown");
            rc = CB_EXIT_USAGE;
            goto done;
        }
        if (strcmp(s[i].klass, s[0].klass) != 0) {
            fprintf(stderr, "claimbench compare: --calibrate needs runs of one machine class: %s is %s, %s is %s\n",
                    s[0].path, s[0].klass, s[i].path, s[i].klass);
            rc = CB_EXIT_USAGE;
            goto done;
        }
    }
    const char *klass = o->klass ? o->klass : s[0].klass[0] ? s[0].klass : "unknown";
    int pairs = 0;
    for (int a = 0; a < k; a++)
        for (int b = a + 1; b < k; b++) {
            pairs++;
            for (int i = 0; i < s[a].n; i++) {
                const entry *x = &s[a].e[i];
                if (x->kind != CB_ROW_TIME || !is_timing_entry(x) || x->n < 1)
                    continue;
                for (int j = 0; j < s[b].n; j++) {
                    const entry *y = &s[b].e[j];
                    if (y->kind != CB_ROW_TIME || y->n < 1 || strcmp(x->key, y->key) != 0)
                        continue;
                    double ma = cb_median(x->v, x->n), mb = cb_median(y->v, y->n);
                    if (ma > 0 && mb > 0) {
                        double al = fabs(log(mb / ma));
                        if (pool_add(&pools, &np, "*", al) != 0 ||
                            pool_add(&pools, &np, x->backend, al) != 0) {
                            fprintf(stderr, "claimbench compare: out of memory\n");
                            goto done;
                        }
                    }
                    break;
                }
            }
        }
    if (np == 0) {
        fprintf(stderr, "claimbench compare: no timed row is common to the runs: nothing to calibrate\n");
        rc = CB_EXIT_USAGE;
        goto done;
    }
    char path[1200];
    if (o->out)
        copy_str(path, sizeof path, o->out);
    else
        snprintf(path, sizeof path, "%s/%s/noise.tsv", o->baselines, klass);
    f = open_memstream(&doc, &doclen);
    if (!f) {
        fprintf(stderr, "claimbench compare: out of memory\n");
        goto done;
    }
    time_t now = time(NULL);
    struct tm tmv;
    char date[32];
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tmv));
    fprintf(f, "# noise.tsv: same-commit timing noise of machine class %s, the thresholds\n"
               "# `claimbench compare` holds a timing change to (see its --help).\n"
               "# Measured by: claimbench compare --calibrate --quantile %g --floor %g over\n"
               "# %d runs of commit %s (%d pairs), on %s.\n"
               "# For every timed row present in both runs of a pair: |log(median_j / median_i)|;\n"
               "# threshold = max(floor, exp(quantile %g of those values) - 1), per backend and\n"
               "# over all backends (*), a relative change (0.10 = 10%%).\n",
            klass, o->quantile, o->floor, k, s[0].commit[0] ? s[0].commit : "unknown", pairs, date,
            o->quantile);
    for (int i = 0; i < k; i++) {
        /* The folder's name, not its path: the path is local to the machine. */
        char nm[1200];
        copy_str(nm, sizeof nm, s[i].path);
        size_t l = strlen(nm);
        while (l > 1 && nm[l - 1] == '/')
            nm[--l] = '\0';
        const char *slash = strrchr(nm, '/');
        fprintf(f, "# run %d: %s (%s)\n", i + 1, slash ? slash + 1 : nm,
                s[i].date[0] ? s[i].date : "no date");
    }
    fprintf(f, "backend\tthreshold\tvalues\tquantile_rel\tmedian_rel\tmax_rel\n");
    if (!o->json)
        printf("noise of %s over %d runs (%d pairs), quantile %g, floor %g:\n", klass, k, pairs,
               o->quantile, o->floor);
    /* "*" first, then the backends in the order met. */
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < np; i++) {
            pool *p = &pools[i];
            if ((strcmp(p->backend, "*") == 0) != (pass == 0))
                continue;
            double thr = cb_noise_threshold(p->v, p->n, o->quantile, o->floor);
            double qv = exp(cb_quantile(p->v, p->n, o->quantile)) - 1;
            double med = exp(cb_quantile(p->v, p->n, 0.5)) - 1;
            double mx = exp(cb_quantile(p->v, p->n, 1)) - 1;
            fprintf(f, "%s\t%.4f\t%d\t%.4f\t%.4f\t%.4f\n", p->backend, thr, p->n, qv, med, mx);
            if (!o->json)
                printf("  %-6s threshold %5.1f%%  (%d values: median %.1f%%, q%g %.1f%%, max %.1f%%)\n",
                       p->backend, 100 * thr, p->n, 100 * med, o->quantile, 100 * qv, 100 * mx);
        }
    if (fclose(f) != 0) {
        f = NULL;
        fprintf(stderr, "claimbench compare: out of memory\n");
        goto done;
    }
    f = NULL;
    if (make_parent(path) != 0) {
        fprintf(stderr, "claimbench compare: %s: %s\n", path, strerror(errno));
        goto done;
    }
    if (cb_write_atomic(path, doc, doclen, err, sizeof err) != 0) {
        fprintf(stderr, "claimbench compare: %s\n", err);
        goto done;
    }
    if (o->json)
        fputs(doc, stdout);
    else
        printf("wrote %s\n", path);
    rc = CB_EXIT_OK;
done:
    if (f)
        fclose(f);
    free(doc);
    for (int i = 0; i < np; i++)
        free(pools[i].v);
    free(pools);
    for (int i = 0; i < k; i++)
        side_free(&s[i]);
    free(s);
    return rc;
}

/* ---- BASE NEW ------------------------------------------------------------------------- */

typedef struct results {
    timing_res *t;
    num_res *m;
    verdict_res *v;
    const entry **only_b, **only_n;
    const verdict_row **vonly_b, **vonly_n;
    int nt, nm, nv, nob, non, nvob, nvon;
} results;

static void results_free(results *r)
{
    free(r->t);
    free(r->m);
    free(r->v);
    free(r->only_b);
    free(r->only_n);
    free(r->vonly_b);
    free(r->vonly_n);
}

static int count_class(const timing_res *t, int n, const char *k)
{
    int c = 0;
    for (int i = 0; i < n; i++)
        c += strcmp(t[i].klass, k) == 0;
    return c;
}

static void print_text(const opts *o, const side *b, const side *n, const thresholds *th,
                       const results *r, int timing_regr, int num_regr, int flips, int failed)
{
    printf("base  %s  (%s%s%s)\n", b->path, b->commit[0] ? b->commit : "commit unknown",
           b->klass[0] ? ", " : "", b->klass);
    printf("new   %s  (%s%s%s)\n", n->path, n->commit[0] ? n->commit : "commit unknown",
           n->klass[0] ? ", " : "", n->klass);
    if (b->klass[0] && n->klass[0] && strcmp(b->klass, n->klass) != 0)
        printf("WARNING: different machine classes (%s, %s): timings are not comparable\n",
               b->klass, n->klass);
    printf("threshold T: %.1f%%", 100 * th->fallback);
    for (int i = 0; i < th->n; i++)
        printf("%s%s %.1f%%", i ? ", " : " (", th->e[i].backend, 100 * th->e[i].threshold);
    printf("%s from %s; alpha %g; %g%% bootstrap interval, %d resamples\n", th->n ? ")" : "",
           th->source, o->alpha, 100 * CI_LEVEL, o->resamples);

    /* timings */
    int wk = 6, wp = 6;
    char ps[512];
    for (int i = 0; i < r->nt; i++) {
        const entry *e = r->t[i].b;
        int l = (int)(strlen(e->task) + strlen(e->kernel) + strlen(e->backend) + 2);
        if (l > wk) wk = l;
        params_short(e->params, ps, sizeof ps);
        if ((int)strlen(ps) > wp) wp = (int)strlen(ps);
    }
    printf("\ntimings: %d rows: %d regression, %d slower, %d noise, %d faster, %d improvement, "
           "%d failed, %d skipped\n",
           r->nt, count_class(r->t, r->nt, "regression"), count_class(r->t, r->nt, "slower"),
           count_class(r->t, r->nt, "noise"), count_class(r->t, r->nt, "faster"),
           count_class(r->t, r->nt, "improvement"), count_class(r->t, r->nt, "failed"),
           count_class(r->t, r->nt, "skipped"));
    if (r->nt)
        printf("%-11s  %-*s  %-*s  %10s  %10s  %7s  %-17s  %8s  %5s\n", "class", wk,
               "task/kernel/backend", wp, "params", "base", "new", "new/base", "95% interval",
               "p", "T");
    int small = 0;
    for (int i = 0; i < r->nt; i++) {
        const timing_res *t = &r->t[i];
        const entry *e = t->b;
        char name[400], tb[32], tn[32], ci[64] = "-", pv[32] = "-", ra[32] = "-";
        snprintf(name, sizeof name, "%s/%s/%s", e->task, e->kernel, e->backend);
        params_short(e->params, ps, sizeof ps);
        fmt_time(t->mb, tb, sizeof tb);
        fmt_time(t->mn, tn, sizeof tn);
        if (isfinite(t->ratio))
            snprintf(ra, sizeof ra, "%.3f", t->ratio);
        if (isfinite(t->lo))
            snprintf(ci, sizeof ci, "[%.3f, %.3f]", t->lo, t->hi);
        if (isfinite(t->p))
            snprintf(pv, sizeof pv, "%.2g", t->p);
        printf("%-11s  %-*s  %-*s  %10s  %10s  %7s  %-17s  %8s  %4.0f%%\n", t->klass, wk, name, wp,
               ps, tb, tn, ra, ci, pv, 100 * t->thr);
        if (isfinite(t->p) && cb_utest_min_p(t->b->n, t->n->n) >= o->alpha)
            small++;
    }
    if (small)
        printf("note: %d rows have too few repetitions for the U test ever to reach p < %g "
               "(3 against 3 gives p >= 0.1): use 9 or more\n", small, o->alpha);

    /* numerical */
    int shown = 0, changed = 0;
    for (int i = 0; i < r->nm; i++)
        changed += strcmp(r->m[i].klass, "same") != 0;
    printf("\nnumerical: %d rows compared: %d regression, %d changed or improved, %d unchanged\n",
           r->nm, num_regr, changed - num_regr, r->nm - changed);
    for (int i = 0; i < r->nm; i++) {
        const num_res *m = &r->m[i];
        if (!o->all && strcmp(m->klass, "same") == 0)
            continue;
        if (!o->all && strcmp(m->klass, "changed") == 0 && strcmp(m->b->task, "_machine") == 0)
            continue;
        const entry *e = m->b;
        params_short(e->params, ps, sizeof ps);
        printf("%-11s  %s/%s/%s %s%s%s%s %s: %.4g -> %.4g%s%s\n", m->klass, e->task, e->kernel,
               e->backend, e->metric, e->note[0] && is_agree_metric(e->metric) ? " [" : "",
               is_agree_metric(e->metric) ? e->note : "",
               e->note[0] && is_agree_metric(e->metric) ? "]" : "", ps, m->vb, m->vn,
               m->reason[0] ? "  " : "", m->reason);
        shown++;
    }

    /* verdicts */
    if (b->has_verdicts || n->has_verdicts) {
        int same = 0;
        for (int i = 0; i < r->nv; i++)
            same += strcmp(r->v[i].klass, "same") == 0;
        printf("\nverdicts: %d checks compared: %d flipped, %d better, %d unchanged\n", r->nv, flips,
               r->nv - same - flips, same);
        for (int i = 0; i < r->nv; i++) {
            const verdict_res *v = &r->v[i];
            if (!o->all && strcmp(v->klass, "same") == 0)
                continue;
            printf("%-11s  %s/%s: %s -> %s\n", v->klass, v->b->task, v->b->check, v->b->verdict,
                   v->n->verdict);
        }
        for (int i = 0; i < r->nvob; i++)
            printf("%-11s  %s/%s: %s\n", "only base", r->vonly_b[i]->task, r->vonly_b[i]->check,
                   r->vonly_b[i]->verdict);
        for (int i = 0; i < r->nvon; i++)
            printf("%-11s  %s/%s: %s\n", "only new", r->vonly_n[i]->task, r->vonly_n[i]->check,
                   r->vonly_n[i]->verdict);
    } else {
        printf("\nverdicts: neither side has verdicts.tsv (run claimbench verify)\n");
    }

    /* one side only */
    if (r->nob || r->non)
        printf("\nrows on one side only: %d only in base, %d only in new\n", r->nob, r->non);
    for (int pass = 0; pass < 2; pass++) {
        const entry **list = pass ? r->only_n : r->only_b;
        int cnt = pass ? r->non : r->nob;
        for (int i = 0; i < cnt; i++) {
            const entry *e = list[i];
            params_short(e->params, ps, sizeof ps);
            printf("%-11s  %s/%s/%s %s %s (%s)\n", pass ? "only new" : "only base", e->task,
                   e->kernel, e->backend, e->metric, ps, cb_row_kind_name(e->kind));
        }
    }
    (void)shown;
    int fail = timing_regr + num_regr + flips + failed;
    printf("\nresult: %s: %d timing regression%s, %d numerical regression%s, %d verdict flip%s, "
           "%d failed case%s\n",
           fail ? "FAIL" : "ok", timing_regr, timing_regr == 1 ? "" : "s", num_regr,
           num_regr == 1 ? "" : "s", flips, flips == 1 ? "" : "s", failed, failed == 1 ? "" : "s");
}

static void print_json(const opts *o, const side *b, const side *n, const thresholds *th,
                       const results *r, int timing_regr, int num_regr, int flips, int failed)
{
    FILE *f = stdout;
    fprintf(f, "{\n  \"schema\": \"claimbench-compare/1\",\n");
    json_side(f, "base", b);
    json_side(f, "new", n);
    fprintf(f, "  \"alpha\": ");
    json_num(f, o->alpha);
    fprintf(f, ", \"level\": ");
    json_num(f, CI_LEVEL);
    fprintf(f, ", \"resamples\": %d,\n  \"threshold\": {\"source\": ", o->resamples);
    json_str(f, th->source);
    fprintf(f, ", \"all\": ");
    json_num(f, th->fallback);
    fprintf(f, ", \"per_backend\": {");
    for (int i = 0; i < th->n; i++) {
        fprintf(f, "%s", i ? ", " : "");
        json_str(f, th->e[i].backend);
        fprintf(f, ": ");
        json_num(f, th->e[i].threshold);
    }
    fprintf(f, "}},\n  \"numerical_rule\": {\"factor\": ");
    json_num(f, o->num_factor);
    fprintf(f, ", \"floor\": ");
    json_num(f, o->num_floor);
    fprintf(f, "},\n  \"timings\": [");
    for (int i = 0; i < r->nt; i++) {
        const timing_res *t = &r->t[i];
        fprintf(f, "%s\n    {", i ? "," : "");
        json_entry_id(f, t->b);
        fprintf(f, ", \"class\": \"%s\", \"n_base\": %d, \"n_new\": %d, \"median_base\": ", t->klass,
                t->b->n, t->n->n);
        json_num(f, t->mb);
        fprintf(f, ", \"median_new\": ");
        json_num(f, t->mn);
        fprintf(f, ", \"ratio\": ");
        json_num(f, t->ratio);
        fprintf(f, ", \"ci\": ");
        if (isfinite(t->lo)) {
            fprintf(f, "[");
            json_num(f, t->lo);
            fprintf(f, ", ");
            json_num(f, t->hi);
            fprintf(f, "]");
        } else {
            fprintf(f, "null");
        }
        fprintf(f, ", \"p\": ");
        json_num(f, t->p);
        fprintf(f, ", \"exact\": %s, \"threshold\": ", t->exact ? "true" : "false");
        json_num(f, t->thr);
        fprintf(f, ", \"base_kind\": \"%s\", \"new_kind\": \"%s\", \"fails\": %s, \"note\": ",
                cb_row_kind_name(t->b->kind), cb_row_kind_name(t->n->kind),
                t->fails ? "true" : "false");
        json_str(f, t->n->kind == CB_ROW_TIME ? "" : t->n->note);
        fprintf(f, "}");
    }
    fprintf(f, "%s],\n  \"numerical\": [", r->nt ? "\n  " : "");
    for (int i = 0; i < r->nm; i++) {
        const num_res *m = &r->m[i];
        fprintf(f, "%s\n    {", i ? "," : "");
        json_entry_id(f, m->b);
        fprintf(f, ", \"output\": ");
        json_str(f, is_agree_metric(m->b->metric) ? m->b->note : "");
        fprintf(f, ", \"class\": \"%s\", \"base\": ", m->klass);
        json_num(f, m->vb);
        fprintf(f, ", \"new\": ");
        json_num(f, m->vn);
        fprintf(f, ", \"fails\": %s, \"reason\": ", m->fails ? "true" : "false");
        json_str(f, m->reason);
        fprintf(f, "}");
    }
    fprintf(f, "%s],\n  \"verdicts\": [", r->nm ? "\n  " : "");
    int first = 1;
    for (int i = 0; i < r->nv; i++) {
        const verdict_res *v = &r->v[i];
        fprintf(f, "%s\n    {\"task\": ", first ? "" : ",");
        first = 0;
        json_str(f, v->b->task);
        fprintf(f, ", \"check\": ");
        json_str(f, v->b->check);
        fprintf(f, ", \"base\": ");
        json_str(f, v->b->verdict);
        fprintf(f, ", \"new\": ");
        json_str(f, v->n->verdict);
        fprintf(f, ", \"class\": \"%s\", \"fails\": %s}", v->klass, v->fails ? "true" : "false");
    }
    for (int pass = 0; pass < 2; pass++) {
        const verdict_row *const *list = pass ? r->vonly_n : r->vonly_b;
        int cnt = pass ? r->nvon : r->nvob;
        for (int i = 0; i < cnt; i++) {
            fprintf(f, "%s\n    {\"task\": ", first ? "" : ",");
            first = 0;
            json_str(f, list[i]->task);
            fprintf(f, ", \"check\": ");
            json_str(f, list[i]->check);
            fprintf(f, ", \"base\": ");
            if (pass) fputs("null", f); else json_str(f, list[i]->verdict);
            fprintf(f, ", \"new\": ");
            if (pass) json_str(f, list[i]->verdict); else fputs("null", f);
            fprintf(f, ", \"class\": \"%s\", \"fails\": false}", pass ? "only new" : "only base");
        }
    }
    fprintf(f, "%s],\n", first ? "" : "\n  ");
    for (int pass = 0; pass < 2; pass++) {
        const entry **list = pass ? r->only_n : r->only_b;
        int cnt = pass ? r->non : r->nob;
        fprintf(f, "  \"%s\": [", pass ? "only_new" : "only_base");
        for (int i = 0; i < cnt; i++) {
            fprintf(f, "%s\n    {", i ? "," : "");
            json_entry_id(f, list[i]);
            fprintf(f, ", \"kind\": \"%s\"}", cb_row_kind_name(list[i]->kind));
        }
        fprintf(f, "%s],\n", cnt ? "\n  " : "");
    }
    int fail = timing_regr + num_regr + flips + failed;
    fprintf(f, "  \"summary\": {\"timing_regressions\": %d, \"slower\": %d, \"noise\": %d, "
               "\"faster\": %d, \"improvements\": %d, \"numerical_regressions\": %d, "
               "\"verdict_flips\": %d, \"failed_cases\": %d, \"only_base\": %d, \"only_new\": %d, "
               "\"result\": \"%s\", \"exit\": %d}\n}\n",
            timing_regr, count_class(r->t, r->nt, "slower"), count_class(r->t, r->nt, "noise"),
            count_class(r->t, r->nt, "faster"), count_class(r->t, r->nt, "improvement"), num_regr,
            flips, failed, r->nob, r->non, fail ? "fail" : "pass", fail ? CB_EXIT_FAIL : CB_EXIT_OK);
}

static int cmd_compare(const cb_cli *cli, const opts *o)
{
    side b, n;
    char err[1400];
    memset(&b, 0, sizeof b);
    memset(&n, 0, sizeof n);
    if (load_side(&b, o->paths[0], err, sizeof err) != 0 ||
        load_side(&n, o->paths[1], err, sizeof err) != 0) {
        fprintf(stderr, "claimbench compare: %s\n", err);
        side_free(&b);
        side_free(&n);
        return CB_EXIT_ERROR;
    }

    /* The threshold: --threshold, --noise, the class's noise file, or the default. */
    thresholds th;
    memset(&th, 0, sizeof th);
    th.fallback = DEFAULT_THRESHOLD;
    const char *klass = o->klass ? o->klass : n.klass[0] ? n.klass : b.klass;
    if (o->threshold >= 0) {
        th.fallback = o->threshold;
        snprintf(th.source, sizeof th.source, "--threshold");
    } else {
        char path[1200];
        if (o->noise)
            copy_str(path, sizeof path, o->noise);
        else if (klass[0])
            snprintf(path, sizeof path, "%s/%s/noise.tsv", o->baselines, klass);
        else
            path[0] = '\0';
        int nr = path[0] ? read_noise(path, &th, err, sizeof err) : 1;
        if (nr < 0 || (nr > 0 && o->noise)) {
            fprintf(stderr, "claimbench compare: %s\n",
                    nr < 0 ? err : "the --noise file does not exist");
            side_free(&b);
            side_free(&n);
            return nr < 0 ? CB_EXIT_ERROR : CB_EXIT_USAGE;
        }
        if (nr > 0) {
            th.fallback = DEFAULT_THRESHOLD;
            snprintf(th.source, sizeof th.source,
                     "the default: no noise file %s (measure one with make baseline, or pass --threshold)",
                     path[0] ? path : "(machine class unknown)");
            if (!o->json)
                fprintf(stderr, "claimbench compare: warning: no measured noise for class %s; "
                                "using T = %.0f%%\n",
                        klass[0] ? klass : "unknown", 100 * DEFAULT_THRESHOLD);
        }
    }

    results r;
    memset(&r, 0, sizeof r);
    int rc = CB_EXIT_ERROR;
    r.t = calloc((size_t)b.n + 1, sizeof *r.t);
    r.m = calloc((size_t)b.n + 1, sizeof *r.m);
    r.v = calloc((size_t)b.nv + 1, sizeof *r.v);
    r.only_b = calloc((size_t)b.n + 1, sizeof *r.only_b);
    r.only_n = calloc((size_t)n.n + 1, sizeof *r.only_n);
    r.vonly_b = calloc((size_t)b.nv + 1, sizeof *r.vonly_b);
    r.vonly_n = calloc((size_t)n.nv + 1, sizeof *r.vonly_n);
    if (!r.t || !r.m || !r.v || !r.only_b || !r.only_n || !r.vonly_b || !r.vonly_n) {
        fprintf(stderr, "claimbench compare: out of memory\n");
        goto done;
    }
    int timing_regr = 0, num_regr = 0, flips = 0, failed = 0;
    for (int i = 0; i < b.n; i++) {
        entry *x = &b.e[i];
        entry *y = find_match(&n, x->key);
        if (!y) {
            r.only_b[r.nob++] = x;
            continue;
        }
        x->matched = y->matched = 1;
        if (is_timing_entry(x)) {
            timing_res *t = &r.t[r.nt++];
            t->b = x;
            t->n = y;
            judge_timing(o, &th, cli->seed, t);
            if (t->fails && strcmp(t->klass, "failed") == 0)
                failed++;
            else if (t->fails)
                timing_regr++;
        } else {
            num_res *m = &r.m[r.nm++];
            m->b = x;
            m->n = y;
            judge_numerical(o, m);
            if (m->fails && strcmp(m->klass, "failed") == 0)
                failed++;
            else if (m->fails)
                num_regr++;
        }
    }
    for (int i = 0; i < n.n; i++)
        if (!n.e[i].matched)
            r.only_n[r.non++] = &n.e[i];
    for (int i = 0; i < b.nv; i++) {
        verdict_row *x = &b.vr[i];
        verdict_row *y = NULL;
        for (int j = 0; j < n.nv && !y; j++)
            if (!n.vr[j].matched && strcmp(n.vr[j].task, x->task) == 0 &&
                strcmp(n.vr[j].check, x->check) == 0)
                y = &n.vr[j];
        if (!y) {
            r.vonly_b[r.nvob++] = x;
            continue;
        }
        x->matched = y->matched = 1;
        verdict_res *v = &r.v[r.nv++];
        v->b = x;
        v->n = y;
        int rb = verdict_rank(x->verdict), rn = verdict_rank(y->verdict);
        v->fails = 0;
        if (strcmp(x->verdict, y->verdict) == 0) {
            v->klass = "same";
        } else if (rn < rb) {
            v->klass = "flip";
            v->fails = 1;
            flips++;
        } else {
            v->klass = "better";
        }
    }
    for (int j = 0; j < n.nv; j++)
        if (!n.vr[j].matched)
            r.vonly_n[r.nvon++] = &n.vr[j];

    if (o->json)
        print_json(o, &b, &n, &th, &r, timing_regr, num_regr, flips, failed);
    else
        print_text(o, &b, &n, &th, &r, timing_regr, num_regr, flips, failed);
    fflush(stdout);
    rc = timing_regr + num_regr + flips + failed ? CB_EXIT_FAIL : CB_EXIT_OK;
done:
    results_free(&r);
    side_free(&b);
    side_free(&n);
    return rc;
}

int cb_cmd_compare(const cb_cli *cli, int argc, char **argv)
{
    opts o;
    int pr = parse_opts(argc, argv, &o);
    if (pr > 0) {
        fputs(usage_text, stdout);
        return CB_EXIT_OK;
    }
    if (pr < 0)
        return CB_EXIT_USAGE;
    if (o.machine_class) {
        side s;
        char err[1400];
        if (load_side(&s, o.paths[0], err, sizeof err) != 0) {
            fprintf(stderr, "claimbench compare: %s\n", err);
            side_free(&s);
            return CB_EXIT_ERROR;
        }
        int ok = s.has_machine;
        if (ok)
            printf("%s\n", s.klass);
        else
            fprintf(stderr, "claimbench compare: %s has no machine.tsv\n", o.paths[0]);
        side_free(&s);
        return ok ? CB_EXIT_OK : CB_EXIT_ERROR;
    }
    if (o.calibrate)
        return cmd_calibrate(cli, &o);
    return cmd_compare(cli, &o);
}
