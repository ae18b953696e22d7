/* history.c — append a run to the SQLite results history, atomically.
 *
 * The whole append (schema creation, the duplicate check, the runs row and
 * every samples row) is one BEGIN IMMEDIATE … COMMIT transaction, rolled
 * back on the first error: SQLite's rollback journal then guarantees that a
 * crash, a kill or a failed insert leaves the previous runs only. IMMEDIATE
 * takes the write lock up front, so two appenders wait for each other (busy
 * timeout) instead of failing half way. The schema's CHECK and NOT NULL
 * constraints refuse a malformed row, which aborts the whole run.
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
