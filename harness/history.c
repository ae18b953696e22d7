/* history.c — the SQLite results history: append a run atomically, read
 * series back as trends, and flag their step changes.
 *
 * The whole append (schema creation, the duplicate check, the runs row and
 * every samples row) is one BEGIN IMMEDIATE … COMMIT transaction, rolled
 * back on the first error: SQLite's rollback journal then guarantees that a
 * crash, a kill or a failed insert leaves the previous runs only. IMMEDIATE
 * takes the write lock up front, so two appenders wait for each other (busy
 * timeout) instead of failing half way. The schema's CHECK and NOT NULL
 * constraints refuse a malformed row, which aborts the whole run.
 *
 * Reading is one SELECT over samples joined to runs, grouped into series in
 * C; the step test (cb_hist_find_steps) is explained where it is defined.
 */
/* realpath() is XSI; the rest is POSIX.1-2008. */
#define _XOPEN_SOURCE 700
#include "history.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"

#define BUSY_TIMEOUT_MS 15000

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS runs ("
    "  run TEXT PRIMARY KEY NOT NULL,"          /* the run folder's name */
    "  commit_id TEXT, date TEXT, hostname TEXT, cpu TEXT,"
    "  openblas_corename TEXT, openblas_config TEXT,"
    "  dnnl_version TEXT, dnnl_isa TEXT,"
    "  omp_threads TEXT, openblas_threads TEXT, seed TEXT,"
    "  machine TEXT NOT NULL,"                  /* machine.tsv verbatim */
    "  added_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now'))"
    ");"
    "CREATE TABLE IF NOT EXISTS samples ("
    "  run TEXT NOT NULL REFERENCES runs(run),"
    "  commit_id TEXT, hostname TEXT,"          /* copied from runs, for the key */
    "  task TEXT NOT NULL,"
    "  kind TEXT NOT NULL CHECK (kind IN ('time','metric','skip','fail')),"
    "  kernel TEXT NOT NULL, backend TEXT NOT NULL, metric TEXT NOT NULL,"
    "  params TEXT NOT NULL, note TEXT NOT NULL,"
    "  n INTEGER NOT NULL CHECK (n >= 0),"
    "  median REAL, min REAL, max REAL,"        /* NULL when n = 0 */
    "  vals TEXT NOT NULL"                      /* the repetitions, %.17g, comma separated */
    ");"
    "CREATE INDEX IF NOT EXISTS samples_key"
    "  ON samples(commit_id, hostname, backend, kernel, params);"
    "CREATE INDEX IF NOT EXISTS samples_run ON samples(run);";

/* ---- machine.tsv ---------------------------------------------------------- */

/* The file's text, and the value of a key looked up in it. */
static char *slurp(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        cb_fail(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *s = malloc(cap);
    while (s) {
        size_t k = fread(s + len, 1, cap - len - 1, f);
        len += k;
        if (len + 1 < cap) break;
        char *g = realloc(s, cap * 2);
        if (!g) {
            free(s);
            s = NULL;
            break;
        }
        s = g;
        cap *= 2;
    }
    int bad = ferror(f);
    fclose(f);
    if (!s || bad) {
        free(s);
        cb_fail(err, errlen, "%s: %s", path, bad ? "read error" : "out of memory");
        return NULL;
    }
    s[len] = '\0';
    return s;
}

/* Copy the value of `key` (a "key\tvalue" line) into out; 0 found, -1 not. */
static int machine_value(const char *text, const char *key, char *out, size_t cap)
{
    size_t kl = strlen(key);
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        size_t ll = end ? (size_t)(end - line) : strlen(line);
        if (ll > kl && strncmp(line, key, kl) == 0 && line[kl] == '\t') {
            size_t vl = ll - kl - 1;
            if (vl > 0 && line[kl + vl] == '\r') vl--;
            if (vl >= cap) vl = cap - 1;
            memcpy(out, line + kl + 1, vl);
            out[vl] = '\0';
            return 0;
        }
        line += ll + (end ? 1 : 0);
    }
    return -1;
}

/* ---- sqlite helpers ------------------------------------------------------- */

static int sql_fail(sqlite3 *h, const char *db, const char *what, char *err, size_t errlen)
{
    return cb_fail(err, errlen, "history %s: %s: %s", db, what, h ? sqlite3_errmsg(h) : "out of memory");
}

static int open_db(const char *db, int flags, sqlite3 **out, char *err, size_t errlen)
{
    sqlite3 *h = NULL;
    if (sqlite3_open_v2(db, &h, flags, NULL) != SQLITE_OK) {
        int rc = sql_fail(h, db, "open", err, errlen);
        sqlite3_close(h);
        return rc;
    }
    sqlite3_busy_timeout(h, BUSY_TIMEOUT_MS);
    sqlite3_extended_result_codes(h, 1);
    if (sqlite3_exec(h, "PRAGMA foreign_keys = ON;", NULL, NULL, NULL) != SQLITE_OK) {
        int rc = sql_fail(h, db, "PRAGMA foreign_keys", err, errlen);
        sqlite3_close(h);
        return rc;
    }
    *out = h;
    return 0;
}

/* Bind text, or NULL when s is NULL. */
static int bind_text(sqlite3_stmt *st, int i, const char *s)
{
    return s ? sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
}

static int bind_real(sqlite3_stmt *st, int i, double v)
{
    return isfinite(v) ? sqlite3_bind_double(st, i, v) : sqlite3_bind_null(st, i);
}

/* The run's id: the base name of its folder, symlinks (such as latest)
 * resolved. */
static int run_id(const char *run_dir, char *id, size_t cap, char *err, size_t errlen)
{
    char *real = realpath(run_dir, NULL);
    if (!real) return cb_fail(err, errlen, "%s: %s", run_dir, strerror(errno));
    const char *base = strrchr(real, '/');
    base = base ? base + 1 : real;
    int rc = 0;
    if (!*base || strlen(base) >= cap) rc = cb_fail(err, errlen, "%s: unusable run folder name", run_dir);
    else snprintf(id, cap, "%s", base);
    free(real);
    return rc;
}

/* ---- one samples row ---------------------------------------------------- */

static int insert_row(sqlite3_stmt *st, const char *run, const char *commit, const char *host,
                      const cb_row *r, char **vals, size_t *vals_cap)
{
    char params[CB_MAX_PARAMS * (CB_NAME_MAX + 32)];
    if (cb_params_format(&r->params, params, sizeof params) >= (int)sizeof params) return SQLITE_TOOBIG;
    /* vals: up to 25 characters per %.17g value plus the comma. */
    size_t need = (size_t)(r->n > 0 ? r->n : 0) * 26 + 1;
    if (need > *vals_cap) {
        char *g = realloc(*vals, need);
        if (!g) return SQLITE_NOMEM;
        *vals = g;
        *vals_cap = need;
    }
    size_t used = 0;
    (*vals)[0] = '\0';
    for (int i = 0; i < r->n; i++)
        used += (size_t)snprintf(*vals + used, *vals_cap - used, "%s%.17g", i ? "," : "", r->v[i]);

    double med = NAN, mn = NAN, mx = NAN;
    if (r->n > 0) {
        med = cb_median(r->v, r->n);
        mn = mx = r->v[0];
        for (int i = 1; i < r->n; i++) {
            if (r->v[i] < mn) mn = r->v[i];
            if (r->v[i] > mx) mx = r->v[i];
        }
    }
    const char *kind = cb_row_kind_name(r->kind);   /* "?" for a corrupt kind: CHECK refuses it */
    int rc = SQLITE_OK;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc == SQLITE_OK) rc = bind_text(st, 1, run);
    if (rc == SQLITE_OK) rc = bind_text(st, 2, commit);
    if (rc == SQLITE_OK) rc = bind_text(st, 3, host);
    if (rc == SQLITE_OK) rc = bind_text(st, 4, r->task);
    if (rc == SQLITE_OK) rc = bind_text(st, 5, kind);
    if (rc == SQLITE_OK) rc = bind_text(st, 6, r->kernel);
    if (rc == SQLITE_OK) rc = bind_text(st, 7, r->backend);
    if (rc == SQLITE_OK) rc = bind_text(st, 8, r->metric);
    if (rc == SQLITE_OK) rc = bind_text(st, 9, params);
    if (rc == SQLITE_OK) rc = bind_text(st, 10, r->note);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int(st, 11, r->n);
    if (rc == SQLITE_OK) rc = bind_real(st, 12, med);
    if (rc == SQLITE_OK) rc = bind_real(st, 13, mn);
    if (rc == SQLITE_OK) rc = bind_real(st, 14, mx);
    if (rc == SQLITE_OK) rc = bind_text(st, 15, *vals);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE) rc = SQLITE_OK;
    }
    return rc;
}

/* ---- append ------------------------------------------------------------- */

static const char *const machine_keys[] = {
    "commit", "date", "hostname", "cpu", "openblas_corename", "openblas_config",
    "dnnl_version", "dnnl_isa", "omp_threads", "openblas_threads", "seed",
};
#define N_MACHINE_KEYS ((int)(sizeof machine_keys / sizeof machine_keys[0]))

int cb_history_append(const char *db, const char *run_dir, const cb_table *t, char *err,
                      size_t errlen)
{
    char id[256];
    if (run_id(run_dir, id, sizeof id, err, errlen) != 0) return -1;
    char mpath[PATH_MAX + 32];
    snprintf(mpath, sizeof mpath, "%s/machine.tsv", run_dir);
    char *machine = slurp(mpath, err, errlen);
    if (!machine) return -1;
    char mval[N_MACHINE_KEYS][512];
    const char *mv[N_MACHINE_KEYS];
    for (int k = 0; k < N_MACHINE_KEYS; k++)
        mv[k] = machine_value(machine, machine_keys[k], mval[k], sizeof mval[k]) == 0 ? mval[k] : NULL;

    sqlite3 *h = NULL;
    if (open_db(db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &h, err, errlen) != 0) {
        free(machine);
        return -1;
    }
    sqlite3_stmt *st = NULL;
    char *vals = NULL;
    size_t vals_cap = 0;
    int rc = -1, in_tx = 0;

    if (sqlite3_exec(h, "BEGIN IMMEDIATE;", NULL, NULL, NULL) != SQLITE_OK) {
        sql_fail(h, db, "BEGIN IMMEDIATE", err, errlen);
        goto done;
    }
    in_tx = 1;
    if (sqlite3_exec(h, schema_sql, NULL, NULL, NULL) != SQLITE_OK) {
        sql_fail(h, db, "creating the schema", err, errlen);
        goto done;
    }

    /* Refuse a run already present, with a message that says so (the
     * PRIMARY KEY would refuse it too, less clearly). */
    if (sqlite3_prepare_v2(h, "SELECT added_at FROM runs WHERE run = ?1;", -1, &st, NULL) != SQLITE_OK ||
        bind_text(st, 1, id) != SQLITE_OK) {
        sql_fail(h, db, "looking up the run", err, errlen);
        goto done;
    }
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        cb_fail(err, errlen, "history %s: run %s is already in the history (added %s); not appended again",
                db, id, (const char *)sqlite3_column_text(st, 0));
        goto done;
    } else if (step != SQLITE_DONE) {
        sql_fail(h, db, "looking up the run", err, errlen);
        goto done;
    }
    sqlite3_finalize(st);
    st = NULL;

    if (sqlite3_prepare_v2(h,
                           "INSERT INTO runs(run, commit_id, date, hostname, cpu, openblas_corename,"
                           " openblas_config, dnnl_version, dnnl_isa, omp_threads, openblas_threads,"
                           " seed, machine) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13);",
                           -1, &st, NULL) != SQLITE_OK) {
        sql_fail(h, db, "preparing the runs insert", err, errlen);
        goto done;
    }
    int brc = bind_text(st, 1, id);
    for (int k = 0; k < N_MACHINE_KEYS && brc == SQLITE_OK; k++) brc = bind_text(st, 2 + k, mv[k]);
    if (brc == SQLITE_OK) brc = bind_text(st, 13, machine);
    if (brc != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE) {
        sql_fail(h, db, "inserting the run", err, errlen);
        goto done;
    }
    sqlite3_finalize(st);
    st = NULL;

    if (sqlite3_prepare_v2(h,
                           "INSERT INTO samples(run, commit_id, hostname, task, kind, kernel, backend,"
                           " metric, params, note, n, median, min, max, vals)"
                           " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15);",
                           -1, &st, NULL) != SQLITE_OK) {
        sql_fail(h, db, "preparing the samples insert", err, errlen);
        goto done;
    }
    for (int i = 0; i < t->n; i++) {
        int r = insert_row(st, id, mv[0], mv[2], &t->rows[i], &vals, &vals_cap);
        if (r != SQLITE_OK) {
            char what[256];
            snprintf(what, sizeof what, "row %d (%s %s/%s %s)", i + 1, t->rows[i].task,
                     t->rows[i].kernel, t->rows[i].backend, t->rows[i].metric);
            if (r == SQLITE_NOMEM || r == SQLITE_TOOBIG)
                cb_fail(err, errlen, "history %s: %s: %s", db, what, sqlite3_errstr(r));
            else
                sql_fail(h, db, what, err, errlen);
            goto done;
        }
    }
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_exec(h, "COMMIT;", NULL, NULL, NULL) != SQLITE_OK) {
        sql_fail(h, db, "COMMIT", err, errlen);
        goto done;
    }
    in_tx = 0;
    rc = 0;
done:
    sqlite3_finalize(st);
    if (in_tx) sqlite3_exec(h, "ROLLBACK;", NULL, NULL, NULL);
    sqlite3_close(h);
    free(vals);
    free(machine);
    return rc;
}

int cb_history_count_runs(const char *db, int *n, char *err, size_t errlen)
{
    sqlite3 *h = NULL;
    /* Read-write (not read-only) so a hot journal left by a killed appender
     * is rolled back on this open, as any later writer would. */
    if (open_db(db, SQLITE_OPEN_READWRITE, &h, err, errlen) != 0) return -1;
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(h,
                           "SELECT CASE WHEN EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table'"
                           " AND name = 'runs') THEN 1 ELSE 0 END;",
                           -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        sql_fail(h, db, "reading the schema", err, errlen);
        goto done;
    }
    int has = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    st = NULL;
    if (!has) {
        *n = 0;
        rc = 0;
        goto done;
    }
    if (sqlite3_prepare_v2(h, "SELECT count(*) FROM runs;", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        sql_fail(h, db, "counting runs", err, errlen);
        goto done;
    }
    *n = sqlite3_column_int(st, 0);
    rc = 0;
done:
    sqlite3_finalize(st);
    sqlite3_close(h);
    return rc;
}

/* ---- reading series back ---------------------------------------------------- */

static void params_sort(cb_params *p)
{
    for (int i = 1; i < p->n; i++)
        for (int j = i; j > 0 && strcmp(p->name[j - 1], p->name[j]) > 0; j--) {
            char name[CB_NAME_MAX];
            double v = p->value[j];
            memcpy(name, p->name[j], CB_NAME_MAX);
            memcpy(p->name[j], p->name[j - 1], CB_NAME_MAX);
            memcpy(p->name[j - 1], name, CB_NAME_MAX);
            p->value[j] = p->value[j - 1];
            p->value[j - 1] = v;
        }
}

/* The parameters with their names sorted, so "causal=1,N=64" and
 * "N=64,causal=1" (two specs listing them in another order) are one series.
 * Returns 0, or -1 when the text is not a parameter list. */
static int canonical_params(const char *text, cb_params *p, char *buf, size_t cap)
{
    if (cb_params_parse(p, text) != 0) return -1;
    params_sort(p);
    return cb_params_format(p, buf, cap) < (int)cap ? 0 : -1;
}

static void series_free(cb_hist_series *s)
{
    for (int i = 0; i < s->n; i++) free(s->p[i].v);
    free(s->p);
    s->p = NULL;
    s->n = s->cap = 0;
}

void cb_hist_set_free(cb_hist_set *set)
{
    for (int i = 0; i < set->n; i++) series_free(&set->s[i]);
    free(set->s);
    set->s = NULL;
    set->n = set->cap = 0;
}

/* "v1,v2,..." into a new array *out of *n values. Returns 0, -1 for a
 * malformed or empty list, -2 on allocation failure. */
static int parse_vals(const char *text, double **out, int *n)
{
    *out = NULL;
    int cap = 1;
    for (const char *c = text; *c; c++) cap += *c == ',';
    double *v = malloc((size_t)cap * sizeof *v);
    if (!v) return -2;
    int k = 0;
    const char *cur = text;
    while (*cur && k < cap) {
        char *end;
        errno = 0;
        double x = strtod(cur, &end);
        if (end == cur || errno == ERANGE || (*end && *end != ',')) {
            free(v);
            return -1;
        }
        v[k++] = x;
        cur = *end ? end + 1 : end;
    }
    if (k == 0) {
        free(v);
        return -1;
    }
    *out = v;
    *n = k;
    return 0;
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? (const char *)t : "";
}

/* Grow the set by one zeroed series; NULL on allocation failure. */
static cb_hist_series *new_series(cb_hist_set *set)
{
    if (set->n == set->cap) {
        int cap = set->cap ? 2 * set->cap : 16;
        cb_hist_series *g = realloc(set->s, (size_t)cap * sizeof *g);
        if (!g) return NULL;
        set->s = g;
        set->cap = cap;
    }
    cb_hist_series *s = &set->s[set->n++];
    memset(s, 0, sizeof *s);
    return s;
}

static int add_point(cb_hist_series *s, sqlite3_stmt *st, double *v, int n)
{
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 8;
        cb_hist_point *g = realloc(s->p, (size_t)cap * sizeof *g);
        if (!g) return -1;
        s->p = g;
        s->cap = cap;
    }
    cb_hist_point *p = &s->p[s->n++];
    memset(p, 0, sizeof *p);
    snprintf(p->run, sizeof p->run, "%s", col_text(st, 4));
    snprintf(p->commit, sizeof p->commit, "%s", col_text(st, 5));
    snprintf(p->date, sizeof p->date, "%s", col_text(st, 6));
    snprintf(p->machine, sizeof p->machine, "%s", col_text(st, 7));
    p->n = n;
    p->v = v;
    p->median = cb_median(v, n);
    p->min = p->max = v[0];
    for (int i = 1; i < n; i++) {
        if (v[i] < p->min) p->min = v[i];
        if (v[i] > p->max) p->max = v[i];
    }
    return 0;
}

/* Order of series: task, kernel, backend, then parameter by parameter
 * (names sorted; values numerically, so N=64 comes before N=512). */
static int cmp_series(const void *a, const void *b)
{
    const cb_hist_series *x = a, *y = b;
    int c = strcmp(x->task, y->task);
    if (!c) c = strcmp(x->kernel, y->kernel);
    if (!c) c = strcmp(x->backend, y->backend);
    if (c) return c;
    cb_params p, q;
    if (cb_params_parse(&p, x->params) != 0 || cb_params_parse(&q, y->params) != 0)
        return strcmp(x->params, y->params);
    for (int i = 0; i < p.n && i < q.n; i++) {
        c = strcmp(p.name[i], q.name[i]);
        if (c) return c;
        if (p.value[i] != q.value[i]) return p.value[i] < q.value[i] ? -1 : 1;
    }
    return (p.n > q.n) - (p.n < q.n);
}

static int has_schema(sqlite3 *h, int *has)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(h,
                                "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
                                " AND name IN ('runs', 'samples');",
                                -1, &st, NULL);
    if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) *has = sqlite3_column_int(st, 0) == 2;
    else rc = SQLITE_ERROR;
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? 0 : -1;
}

static int nonempty(const char *s) { return s && s[0]; }

int cb_history_series(const char *db, const cb_hist_filter *f, cb_hist_set *out, char *err,
                      size_t errlen)
{
    memset(out, 0, sizeof *out);
    cb_hist_filter none = {0};
    if (!f) f = &none;
    cb_params want = {0};
    if (nonempty(f->params) && cb_params_parse(&want, f->params) != 0)
        return cb_fail(err, errlen, "not a parameter list (NAME=VALUE,...): '%s'", f->params);

    sqlite3 *h = NULL;
    /* Read-write without create: a missing file is an error, and a hot
     * journal left by a killed appender is rolled back on open. */
    if (open_db(db, SQLITE_OPEN_READWRITE, &h, err, errlen) != 0) return -1;
    sqlite3_stmt *st = NULL;
    int rc = -1, has = 0;
    if (has_schema(h, &has) != 0) {
        sql_fail(h, db, "reading the schema", err, errlen);
        goto done;
    }
    if (!has) {
        rc = 0;
        goto done;
    }
    /* ?n IS NULL OR column = ?n: one statement serves every filter. */
    if (sqlite3_prepare_v2(h,
                           "SELECT s.task, s.kernel, s.backend, s.params, s.run, r.commit_id, r.date,"
                           " r.hostname, s.vals FROM samples s JOIN runs r ON r.run = s.run"
                           " WHERE s.kind = 'time' AND s.metric = 'time' AND s.n > 0"
                           " AND (?1 IS NULL OR s.task = ?1) AND (?2 IS NULL OR s.kernel = ?2)"
                           " AND (?3 IS NULL OR s.backend = ?3) AND (?4 IS NULL OR r.hostname = ?4)"
                           " ORDER BY s.task, s.kernel, s.backend, r.date, s.run;",
                           -1, &st, NULL) != SQLITE_OK) {
        sql_fail(h, db, "preparing the series query", err, errlen);
        goto done;
    }
    const char *binds[4] = {f->task, f->kernel, f->backend, f->machine};
    for (int i = 0; i < 4; i++)
        if (bind_text(st, i + 1, nonempty(binds[i]) ? binds[i] : NULL) != SQLITE_OK) {
            sql_fail(h, db, "binding the filter", err, errlen);
            goto done;
        }
    int group = 0; /* first series of the current (task, kernel, backend) */
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *task = col_text(st, 0), *kernel = col_text(st, 1), *backend = col_text(st, 2);
        cb_params p;
        char key[sizeof out->s[0].params];
        if (canonical_params(col_text(st, 3), &p, key, sizeof key) != 0) continue;
        if (nonempty(f->params) && !cb_params_subset(&want, &p)) continue;
        if (group < out->n && (strcmp(out->s[group].task, task) != 0 ||
                               strcmp(out->s[group].kernel, kernel) != 0 ||
                               strcmp(out->s[group].backend, backend) != 0))
            group = out->n;
        cb_hist_series *s = NULL;
        for (int i = group; i < out->n && !s; i++)
            if (strcmp(out->s[i].params, key) == 0) s = &out->s[i];
        if (!s) {
            if (strlen(task) >= sizeof s->task || strlen(kernel) >= sizeof s->kernel ||
                strlen(backend) >= sizeof s->backend)
                continue; /* not a name this build can hold: not a series of it */
            if (!(s = new_series(out))) {
                cb_fail(err, errlen, "history %s: out of memory", db);
                goto done;
            }
            snprintf(s->task, sizeof s->task, "%s", task);
            snprintf(s->kernel, sizeof s->kernel, "%s", kernel);
            snprintf(s->backend, sizeof s->backend, "%s", backend);
            snprintf(s->params, sizeof s->params, "%s", key);
        }
        /* One point per run (a run timing the same point twice keeps its first). */
        if (s->n > 0 && strcmp(s->p[s->n - 1].run, col_text(st, 4)) == 0) continue;
        int n = 0;
        double *v = NULL;
        int pv = parse_vals(col_text(st, 8), &v, &n);
        if (pv == -2) {
            cb_fail(err, errlen, "history %s: out of memory", db);
            goto done;
        }
        if (pv != 0) continue; /* a malformed vals text: the point is left out */
        if (add_point(s, st, v, n) != 0) {
            free(v);
            cb_fail(err, errlen, "history %s: out of memory", db);
            goto done;
        }
    }
    if (step != SQLITE_DONE) {
        sql_fail(h, db, "reading the series", err, errlen);
        goto done;
    }
    if (out->n > 1) qsort(out->s, (size_t)out->n, sizeof *out->s, cmp_series);
    for (int i = 0; i < out->n; i++)
        if (cb_hist_find_steps(&out->s[i]) != 0) {
            cb_fail(err, errlen, "history %s: out of memory", db);
            goto done;
        }
    rc = 0;
done:
    sqlite3_finalize(st);
    sqlite3_close(h);
    if (rc != 0) cb_hist_set_free(out);
    return rc;
}

/* ---- step changes ------------------------------------------------------------ */

/* The test, in log(time) so that a step is a relative change:
 *
 * Noise. sigma, the standard deviation of one run's log median, is the
 * larger of two robust estimates: (a) within runs, from each run's own
 * repetitions: 1.4826·MAD(log v) is their sd, and 1.2533·sd/√n that of their
 * median (the median of the runs' values is kept); (b) between runs,
 * 1.4826·median|y[i+1] − y[i]| / √2 over consecutive run medians: on shared
 * machines a run's conditions (frequency, neighbours) move its median more
 * than its repetitions show, and a step touches only one of the differences,
 * so their median ignores it.
 *
 * Split. Binary segmentation: within a segment, every split leaving
 * CB_HIST_MIN_SIDE runs or more on each side is scored by
 * z = |median(after) − median(before)| / (1.2533·sigma·√(1/a + 1/b)) (the
 * standard error of a difference of medians of a and b runs); the best split
 * is flagged when z ≥ CB_HIST_Z and the change is at least CB_HIST_MIN_CHANGE,
 * and both halves are searched again. Medians of segments and the two-run
 * minimum are asv's idea: one outlying run never makes a step, a step must
 * persist. */

static double log_mad_sd(const double *v, int n, double *tmp)
{
    int m = 0;
    for (int i = 0; i < n; i++)
        if (v[i] > 0 && isfinite(v[i])) tmp[m++] = log(v[i]);
    if (m < 2) return NAN;
    return 1.4826 * cb_mad(tmp, m);
}

static double series_noise(const cb_hist_series *s, const double *y, double *tmp, double *tmp2)
{
    /* (a) within runs */
    int k = 0;
    for (int i = 0; i < s->n; i++) {
        double sd = log_mad_sd(s->p[i].v, s->p[i].n, tmp);
        if (isfinite(sd)) tmp2[k++] = 1.2533 * sd / sqrt((double)s->p[i].n);
    }
    double within = k > 0 ? cb_median(tmp2, k) : 0;
    /* (b) between consecutive runs */
    double between = 0;
    if (s->n >= 3) {
        for (int i = 0; i + 1 < s->n; i++) tmp2[i] = fabs(y[i + 1] - y[i]);
        between = 1.4826 * cb_median(tmp2, s->n - 1) / sqrt(2.0);
    }
    double sigma = within > between ? within : between;
    return isfinite(sigma) ? sigma : 0;
}

/* Sum of |y - m| over y[0..n). */
static double l1_cost(const double *y, int n, double m)
{
    double c = 0;
    for (int i = 0; i < n; i++) c += fabs(y[i] - m);
    return c;
}

/* The level of one side of a split, judged against the other side's level
 * `other`: the median when the side has 3 runs or more (one odd run cannot
 * move it), else the run closest to `other` (with 2 runs, both must have
 * moved: a median of two is their mean, which one odd run moves by half). */
static double side_level(const double *y, int n, double other, double *tmp)
{
    if (n >= 3) {
        memcpy(tmp, y, (size_t)n * sizeof *tmp);
        return cb_median_inplace(tmp, n);
    }
    double best = y[0];
    for (int i = 1; i < n; i++)
        if (fabs(y[i] - other) < fabs(best - other)) best = y[i];
    return best;
}

static void split(cb_hist_series *s, const double *y, int lo, int hi, double sigma, double *tmp)
{
    /* Where: the split whose two segment medians fit the runs best (least
     * absolute deviation, the robust cost of a piecewise-constant fit). A
     * difference of medians alone would not place it: it hardly changes when
     * the split moves one run off the true step. */
    int best = -1;
    double best_cost = INFINITY;
    for (int k = lo + CB_HIST_MIN_SIDE; k <= hi - CB_HIST_MIN_SIDE; k++) {
        int a = k - lo, b = hi - k;
        memcpy(tmp, y + lo, (size_t)a * sizeof *tmp);
        double mb = cb_median_inplace(tmp, a);
        memcpy(tmp, y + k, (size_t)b * sizeof *tmp);
        double ma = cb_median_inplace(tmp, b);
        double cost = l1_cost(y + lo, a, mb) + l1_cost(y + k, b, ma);
        if (cost < best_cost) {
            best_cost = cost;
            best = k;
        }
    }
    if (best < 0) return;
    /* Whether: the levels each side differ by CB_HIST_Z standard errors
     * and by CB_HIST_MIN_CHANGE at least. */
    int a = best - lo, b = hi - best;
    memcpy(tmp, y + lo, (size_t)a * sizeof *tmp);
    double mb = cb_median_inplace(tmp, a);
    memcpy(tmp, y + best, (size_t)b * sizeof *tmp);
    double ma = cb_median_inplace(tmp, b);
    double before = side_level(y + lo, a, ma, tmp), after = side_level(y + best, b, mb, tmp);
    double d = after - before;
    double se = 1.2533 * sigma * sqrt(1.0 / a + 1.0 / b);
    double z = se > 0 ? fabs(d) / se : (d != 0 ? INFINITY : 0);
    if (z < CB_HIST_Z || fabs(expm1(d)) < CB_HIST_MIN_CHANGE) return;
    split(s, y, lo, best, sigma, tmp);
    if (s->n_steps < CB_HIST_MAX_STEPS) {
        cb_hist_step *st = &s->steps[s->n_steps++];
        st->at = best;
        st->before = exp(before);
        st->after = exp(after);
        st->change = expm1(d);
        double t = expm1(CB_HIST_Z * se);
        st->threshold = t > CB_HIST_MIN_CHANGE ? t : CB_HIST_MIN_CHANGE;
        st->z = z;
    }
    split(s, y, best, hi, sigma, tmp);
}

int cb_hist_find_steps(cb_hist_series *s)
{
    s->n_steps = 0;
    s->noise = 0;
    if (s->n <= 0) return 0;
    int maxrep = 1;
    for (int i = 0; i < s->n; i++)
        if (s->p[i].n > maxrep) maxrep = s->p[i].n;
    size_t cap = (size_t)(s->n > maxrep ? s->n : maxrep);
    double *y = malloc((size_t)s->n * sizeof *y), *tmp = malloc(cap * sizeof *tmp),
           *tmp2 = malloc(cap * sizeof *tmp2);
    int rc = -1;
    if (y && tmp && tmp2) {
        int usable = 1;
        for (int i = 0; i < s->n; i++) {
            usable &= s->p[i].median > 0 && isfinite(s->p[i].median);
            y[i] = log(s->p[i].median);
        }
        if (usable) {
            s->noise = series_noise(s, y, tmp, tmp2);
            split(s, y, 0, s->n, s->noise, tmp);
        }
        rc = 0;
    }
    free(y);
    free(tmp);
    free(tmp2);
    return rc;
}
