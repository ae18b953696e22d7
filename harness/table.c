/* table.c — the run's measurement table: rows in memory, TSV on disk.
 *
 * The TSV form is described in table.h. Writing is atomic (a temporary file
 * in the same folder, flushed and fsync'ed, then renamed over the target and
 * the folder fsync'ed), so a reader sees the old file or the new one, never
 * half of one. Reading is strict: every malformed line is refused with
 * "path:line: what is wrong", and nothing is added to the table on error.
 */
#define _POSIX_C_SOURCE 200809L
#include "table.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Copy src into dst[cap], truncating, and turn tabs and line breaks into
 * spaces so that a field can never break the line structure of the file. */
static void copy_field(char *dst, size_t cap, const char *src)
{
    size_t i = 0;
    if (src)
        for (; src[i] && i + 1 < cap; i++)
            dst[i] = (src[i] == '\t' || src[i] == '\n' || src[i] == '\r') ? ' ' : src[i];
    dst[i] = '\0';
}

/* Make room for one more row. */
static int reserve_one(cb_table *t)
{
    if (t->n < t->cap)
        return 0;
    int cap = t->cap ? 2 * t->cap : 32;
    cb_row *rows = realloc(t->rows, (size_t)cap * sizeof *rows);
    if (!rows)
        return -1;
    t->rows = rows;
    t->cap = cap;
    return 0;
}

int cb_table_add(cb_table *t, cb_row_kind kind, const char *task, const char *kernel,
                 const char *backend, const char *metric, const cb_params *params,
                 const double *v, int n, const char *note)
{
    if (n < 0 || (n > 0 && !v) || reserve_one(t) != 0)
        return -1;
    cb_row r;
    memset(&r, 0, sizeof r);
    r.kind = kind;
    copy_field(r.task, sizeof r.task, task);
    copy_field(r.kernel, sizeof r.kernel, kernel);
    copy_field(r.backend, sizeof r.backend, backend);
    copy_field(r.metric, sizeof r.metric, metric);
    copy_field(r.note, sizeof r.note, note);
    if (params)
        r.params = *params;
    r.n = n;
    if (n > 0) {
        r.v = malloc((size_t)n * sizeof *r.v);
        if (!r.v)
            return -1;
        memcpy(r.v, v, (size_t)n * sizeof *r.v);
    }
    t->rows[t->n++] = r;
    return 0;
}

int cb_table_extend(cb_table *dst, const cb_table *src)
{
    for (int i = 0; i < src->n; i++) {
        const cb_row *r = &src->rows[i];
        if (cb_table_add(dst, r->kind, r->task, r->kernel, r->backend, r->metric,
                         &r->params, r->v, r->n, r->note) != 0)
            return -1;
    }
    return 0;
}

void cb_table_free(cb_table *t)
{
    for (int i = 0; i < t->n; i++)
        free(t->rows[i].v);
    free(t->rows);
    t->rows = NULL;
    t->n = t->cap = 0;
}

/* ---- writing ------------------------------------------------------------ */

static int write_row(FILE *f, const cb_row *r)
{
    char params[CB_MAX_PARAMS * (CB_NAME_MAX + 32)];
    if (cb_params_format(&r->params, params, sizeof params) >= (int)sizeof params)
        return -1;
    if (fprintf(f, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t", cb_row_kind_name(r->kind), r->task,
                r->kernel, r->backend, r->metric, params[0] ? params : "-",
                r->note[0] ? r->note : "-") < 0)
        return -1;
    if (r->n == 0 && fputs("-", f) == EOF)
        return -1;
    for (int i = 0; i < r->n; i++)
        if (fprintf(f, "%s%.17g", i ? "," : "", r->v[i]) < 0)
            return -1;
    return fputc('\n', f) == EOF ? -1 : 0;
}

/* fsync the folder holding `path`, so the rename itself is durable. */
static int sync_parent(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else if ((size_t)(slash - path) < sizeof dir)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    else
        return -1;
    int fd = open(dir, O_RDONLY);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int cb_table_write(const cb_table *t, const char *path, char *err, size_t errlen)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= (int)sizeof tmp)
        return cb_fail(err, errlen, "%s: path too long", path);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return cb_fail(err, errlen, "%s: cannot create temporary file: %s", path, strerror(errno));
    /* mkstemp creates the file 0600; a results file is for everyone to read. */
    if (fchmod(fd, 0644) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return cb_fail(err, errlen, "%s: %s", tmp, strerror(e));
    }
    FILE *f = fdopen(fd, "w");
    if (!f) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return cb_fail(err, errlen, "%s: %s", tmp, strerror(e));
    }
    int bad_row = -1;
    for (int i = 0; i < t->n && bad_row < 0; i++)
        if (write_row(f, &t->rows[i]) != 0)
            bad_row = i;
    int io_err = bad_row >= 0 || fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0;
    int e = errno;
    if (fclose(f) != 0 && !io_err) {
        io_err = 1;
        e = errno;
    }
    if (io_err) {
        unlink(tmp);
        return cb_fail(err, errlen, "%s: write failed%s: %s", path,
                       bad_row >= 0 ? " (a row's parameters are too long?)" : "", strerror(e));
    }
    if (rename(tmp, path) != 0) {
        e = errno;
        unlink(tmp);
        return cb_fail(err, errlen, "%s: rename from %s failed: %s", path, tmp, strerror(e));
    }
    if (sync_parent(path) != 0)
        return cb_fail(err, errlen, "%s: written, but fsync of its folder failed: %s", path,
                       strerror(errno));
    return 0;
}

/* ---- reading ------------------------------------------------------------ */

/* Parse "v1,v2,..." (or "-" for none) into a fresh array. Returns 0, or -1
 * with why set (allocation failures leave why NULL). */
static int parse_values(const char *s, double **out, int *n, const char **why)
{
    *out = NULL;
    *n = 0;
    *why = NULL;
    if (strcmp(s, "-") == 0)
        return 0;
    int count = 1;
    for (const char *c = s; *c; c++)
        count += *c == ',';
    double *v = malloc((size_t)count * sizeof *v);
    if (!v)
        return -1;
    const char *cur = s;
    for (int i = 0; i < count; i++) {
        char *end;
        errno = 0;
        v[i] = strtod(cur, &end);
        /* ERANGE on underflow still yields the nearest value, which is what
         * %.17g wrote; only a value that does not parse at all is an error. */
        if (end == cur || (*end != ',' && *end != '\0')) {
            free(v);
            *why = "malformed value list";
            return -1;
        }
        cur = end + 1;
    }
    *out = v;
    *n = count;
    return 0;
}

/* Split line (modified in place) at tabs into at most max fields. Returns the
 * number of fields found (max + 1 means "more than max"). */
static int split_tabs(char *line, char **field, int max)
{
    int k = 0;
    char *cur = line;
    for (;;) {
        if (k == max)
            return max + 1;
        field[k++] = cur;
        char *tab = strchr(cur, '\t');
        if (!tab)
            return k;
        *tab = '\0';
        cur = tab + 1;
    }
}

static int fits(const char *s, size_t cap) { return strlen(s) < cap; }

int cb_table_read(cb_table *t, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return cb_fail(err, errlen, "%s: %s", path, strerror(errno));
    cb_table got = {0};
    char *line = NULL;
    size_t linecap = 0;
    long lineno = 0;
    int rc = 0;
    ssize_t len;
    errno = 0;
    while ((len = getline(&line, &linecap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0)
            continue; /* a blank line (e.g. at the end of a hand-edited file) */
        char *fld[8];
        int k = split_tabs(line, fld, 8);
        if (k != 8) {
            rc = cb_fail(err, errlen, "%s:%ld: expected 8 tab-separated fields, found %s%d",
                         path, lineno, k > 8 ? "more than " : "", k > 8 ? 8 : k);
            break;
        }
        cb_row_kind kind;
        cb_params params;
        const char *why = NULL;
        if (cb_row_kind_parse(fld[0], &kind) != 0)
            why = "kind is not time|metric|skip|fail";
        else if (!fits(fld[1], sizeof got.rows->task) || !fits(fld[2], sizeof got.rows->kernel) ||
                 !fits(fld[3], sizeof got.rows->backend) || !fits(fld[4], sizeof got.rows->metric) ||
                 !fits(fld[6], sizeof got.rows->note))
            why = "a field is longer than its limit";
        else if (cb_params_parse(&params, fld[5]) != 0)
            why = "malformed parameters";
        if (why) {
            rc = cb_fail(err, errlen, "%s:%ld: %s", path, lineno, why);
            break;
        }
        double *v;
        int n;
        if (parse_values(fld[7], &v, &n, &why) != 0) {
            rc = cb_fail(err, errlen, "%s:%ld: %s", path, lineno, why ? why : "out of memory");
            break;
        }
        const char *note = strcmp(fld[6], "-") == 0 ? "" : fld[6];
        int added = cb_table_add(&got, kind, fld[1], fld[2], fld[3], fld[4], &params, v, n, note);
        free(v);
        if (added != 0) {
            rc = cb_fail(err, errlen, "%s:%ld: out of memory", path, lineno);
            break;
        }
        errno = 0;
    }
    if (rc == 0 && ferror(f))
        rc = cb_fail(err, errlen, "%s:%ld: read error: %s", path, lineno + 1, strerror(errno));
    free(line);
    fclose(f);
    int n0 = t->n;
    if (rc == 0 && cb_table_extend(t, &got) != 0) {
        while (t->n > n0) /* leave t as it was */
            free(t->rows[--t->n].v);
        rc = cb_fail(err, errlen, "%s: out of memory", path);
    }
    cb_table_free(&got);
    return rc;
}

/* ---- queries ------------------------------------------------------------ */

static int row_matches(const cb_row *r, cb_row_kind kind, const char *task, const char *kernel,
                       const char *backend, const char *metric, const cb_params *where)
{
    return r->kind == kind && (!task || strcmp(r->task, task) == 0) &&
           (!kernel || strcmp(r->kernel, kernel) == 0) &&
           (!backend || strcmp(r->backend, backend) == 0) &&
           (!metric || strcmp(r->metric, metric) == 0) && cb_params_subset(where, &r->params);
}

const cb_row *cb_table_find(const cb_table *t, cb_row_kind kind, const char *task,
                            const char *kernel, const char *backend,
                            const char *metric, const cb_params *where)
{
    for (int i = 0; i < t->n; i++)
        if (row_matches(&t->rows[i], kind, task, kernel, backend, metric, where))
            return &t->rows[i];
    return NULL;
}

int cb_table_series(const cb_table *t, cb_row_kind kind, const char *task,
                    const char *kernel, const char *backend, const char *metric,
                    const cb_params *where, const char *x,
                    const cb_row **out, int cap)
{
    /* Insertion into a sorted prefix: series are short (a sweep), and the
     * sort is stable, so rows with equal x keep the table's order. When more
     * than cap rows match, the cap smallest x values are kept. */
    int k = 0;
    for (int i = 0; i < t->n; i++) {
        const cb_row *r = &t->rows[i];
        int xi = cb_params_find(&r->params, x);
        if (xi < 0 || !row_matches(r, kind, task, kernel, backend, metric, where))
            continue;
        double xv = r->params.value[xi];
        int j = k < cap ? k : cap;
        while (j > 0 && cb_params_get(&out[j - 1]->params, x, 0) > xv)
            j--;
        if (j >= cap)
            continue;
        int last = k < cap ? k : cap - 1;
        for (int m = last; m > j; m--)
            out[m] = out[m - 1];
        out[j] = r;
        if (k < cap)
            k++;
    }
    return k;
}

const char *cb_row_kind_name(cb_row_kind k)
{
    switch (k) {
    case CB_ROW_TIME: return "time";
    case CB_ROW_METRIC: return "metric";
    case CB_ROW_SKIP: return "skip";
    case CB_ROW_FAIL: return "fail";
    }
    return "?";
}

int cb_row_kind_parse(const char *s, cb_row_kind *k)
{
    static const cb_row_kind all[] = {CB_ROW_TIME, CB_ROW_METRIC, CB_ROW_SKIP, CB_ROW_FAIL};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcmp(s, cb_row_kind_name(all[i])) == 0) {
            *k = all[i];
            return 0;
        }
    return -1;
}
