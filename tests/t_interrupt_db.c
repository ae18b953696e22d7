/* t_interrupt_db.c — is a history database intact, and which runs does it hold?
 *
 * Two uses. With a path, `t_interrupt_db.t DB` is the checker that
 * tests/t_interrupt.t runs after each interrupted bench (Debian's image has
 * no sqlite3 command): it opens DB read-write (so a hot journal left by a
 * killed writer is rolled back, as the next bench would), runs PRAGMA
 * integrity_check and prints
 *     integrity ok            (or "integrity FAILED: <why>", exit 1)
 *     runs <n>
 *     run <name>              one per run, sorted
 * Without arguments (as prove runs it) it tests itself: a history written by
 * cb_history_append passes and lists its run; the same file with a b-tree
 * page overwritten, and a file that is not a database, do not.
 */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "history.h"
#include "results.h"
#include "table.h"
#include "tap.h"

/* Check db; write the report to out. Returns 0 when intact, else 1. */
static int check_db(const char *db, FILE *out)
{
    sqlite3 *h = NULL;
    int bad = 0;
    char why[512] = "";
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        snprintf(why, sizeof why, "cannot open: %s", h ? sqlite3_errmsg(h) : "out of memory");
        bad = 1;
    }
    sqlite3_stmt *st = NULL;
    if (!bad && sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1, &st, NULL) != SQLITE_OK) {
        snprintf(why, sizeof why, "integrity_check: %s", sqlite3_errmsg(h));
        bad = 1;
    }
    if (!bad) {
        int rc, rows = 0;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            const char *msg = (const char *)sqlite3_column_text(st, 0);
            if (rows++ == 0 && msg && strcmp(msg, "ok") == 0)
                continue;
            snprintf(why, sizeof why, "%s", msg ? msg : "(null)");
            bad = 1;
        }
        if (rc != SQLITE_DONE) {
            snprintf(why, sizeof why, "integrity_check: %s", sqlite3_errmsg(h));
            bad = 1;
        }
    }
    sqlite3_finalize(st);
    st = NULL;
    if (!bad)
        fprintf(out, "integrity ok\n");
    else
        fprintf(out, "integrity FAILED: %s\n", why);

    /* The runs, when there is a runs table to read. */
    if (!bad && sqlite3_prepare_v2(h, "SELECT run FROM runs ORDER BY run", -1, &st, NULL) == SQLITE_OK) {
        int n = 0, rc;
        char *names = NULL;
        size_t len = 0;
        FILE *list = open_memstream(&names, &len);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            n++;
            if (list)
                fprintf(list, "run %s\n", (const char *)sqlite3_column_text(st, 0));
        }
        if (list)
            fclose(list);
        if (rc != SQLITE_DONE) {
            fprintf(out, "integrity FAILED: reading runs: %s\n", sqlite3_errmsg(h));
            bad = 1;
        } else {
            fprintf(out, "runs %d\n%s", n, names ? names : "");
        }
        free(names);
    } else if (!bad) {
        fprintf(out, "runs 0\n");
    }
    sqlite3_finalize(st);
    sqlite3_close(h);
    return bad;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        printf("Bail out! cannot write %s: %s\n", path, strerror(errno));
        exit(1);
    }
}

/* The checker's report on db, in a malloc'ed string. */
static char *report_of(const char *db, int *bad)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) {
        printf("Bail out! out of memory\n");
        exit(1);
    }
    *bad = check_db(db, f);
    fclose(f);
    return text;
}

static int self_test(void)
{
    char dir[] = "/tmp/t_interrupt_db-XXXXXX";
    if (!mkdtemp(dir)) {
        printf("Bail out! mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    tap_plan(6);
    char run[512], path[600], db[600], err[1024] = "";
    snprintf(run, sizeof run, "%s/20240102T030405Z-abc1234", dir);
    mkdir(run, 0700);
    snprintf(path, sizeof path, "%s/machine.tsv", run);
    write_text(path, "hostname\ttesthost\ncommit\tabc1234\ndate\t2024-01-02T03:04:05Z\nseed\t1\n");
    snprintf(db, sizeof db, "%s/history.sqlite", dir);

    /* Enough rows that the samples table spans several pages. */
    cb_table t = {0};
    cb_params p = {0};
    for (int i = 0; i < 400; i++) {
        double v[3] = {1e-3 * i, 2e-3, 3e-3};
        cb_params_set(&p, "N", 16 + i);
        if (cb_table_add(&t, CB_ROW_TIME, "task_a", "softmax_attention", "blas", "time", &p, v, 3,
                         "a note long enough to fill the pages of the samples table a bit faster") != 0) {
            printf("Bail out! out of memory\n");
            return 1;
        }
    }
    int appended = cb_history_append(db, run, &t, err, sizeof err) == 0;
    cb_table_free(&t);
    ok(appended, "cb_history_append wrote a history (%s)", appended ? "ok" : err);

    int bad;
    char *rep = report_of(db, &bad);
    ok(!bad && strstr(rep, "integrity ok\n") != NULL, "an intact history passes");
    ok(strstr(rep, "runs 1\nrun 20240102T030405Z-abc1234\n") != NULL, "and lists its one run");
    if (bad || !strstr(rep, "runs 1\n"))
        diag("report: %s", rep);
    free(rep);

    /* Overwrite the second half of the file (b-tree pages, not the header). */
    struct stat sb;
    int corrupted = 0;
    int fd = open(db, O_WRONLY);
    if (fd >= 0 && fstat(fd, &sb) == 0 && sb.st_size > 8192) {
        size_t n = (size_t)sb.st_size / 2;
        char *junk = malloc(n);
        if (junk) {
            memset(junk, 0x5a, n);
            corrupted = pwrite(fd, junk, n, sb.st_size - (off_t)n) == (ssize_t)n;
            free(junk);
        }
    }
    if (fd >= 0)
        close(fd);
    ok(corrupted, "overwrote half of the database (%lld bytes)", (long long)sb.st_size);
    rep = report_of(db, &bad);
    ok(bad && strstr(rep, "integrity FAILED") != NULL, "a damaged history fails the check");
    diag("damaged: %.*s", (int)strcspn(rep, "\n"), rep);
    free(rep);

    snprintf(path, sizeof path, "%s/not-a-db", dir);
    write_text(path, "this is not an SQLite database, just some text long enough to have a header.....\n");
    rep = report_of(path, &bad);
    ok(bad, "a file that is not a database fails the check");
    free(rep);

    cb_remove_tree(dir);
    return tap_done();
}

int main(int argc, char **argv)
{
    if (argc == 2)
        return check_db(argv[1], stdout);
    if (argc != 1) {
        fprintf(stderr, "usage: t_interrupt_db.t [HISTORY.sqlite]\n");
        return 2;
    }
    return self_test();
}
