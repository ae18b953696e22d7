/* t_table.c — the measurement table: TSV round trip, atomic writes, strict
 * reading with path:line errors, and the find/series queries. */
#define _POSIX_C_SOURCE 200809L
#include "table.h"
#include "tap.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Same bits, with every NaN equal to every NaN. */
static int same_value(double a, double b)
{
    return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof a) == 0;
}

static int same_row(const cb_row *a, const cb_row *b)
{
    if (a->kind != b->kind || strcmp(a->task, b->task) || strcmp(a->kernel, b->kernel) ||
        strcmp(a->backend, b->backend) || strcmp(a->metric, b->metric) ||
        strcmp(a->note, b->note) || a->n != b->n || a->params.n != b->params.n)
        return 0;
    for (int i = 0; i < a->params.n; i++)
        if (strcmp(a->params.name[i], b->params.name[i]) ||
            !same_value(a->params.value[i], b->params.value[i]))
            return 0;
    for (int i = 0; i < a->n; i++)
        if (!same_value(a->v[i], b->v[i]))
            return 0;
    return 1;
}

static int write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(text, f);
    return fclose(f);
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

/* Read `text` from a file and expect failure with "path:line:" in the error. */
static void expect_error(const char *dir, const char *text, int line, const char *what, const char *name)
{
    char path[512], err[512] = "", want[600];
    snprintf(path, sizeof path, "%s/bad.tsv", dir);
    if (write_text(path, text) != 0) {
        ok(0, "%s: could not write the test file", name);
        return;
    }
    cb_table t = {0};
    cb_table_add(&t, CB_ROW_TIME, "keep", "k", "b", "time", NULL, (double[]){1}, 1, "");
    int rc = cb_table_read(&t, path, err, sizeof err);
    snprintf(want, sizeof want, "%s:%d: ", path, line);
    ok(rc == -1 && strstr(err, want) && strstr(err, what) && t.n == 1,
       "%s: refused with \"%s\" (table left as it was)", name, err);
    cb_table_free(&t);
    unlink(path);
}

int main(void)
{
    tap_no_plan();
    char dir[] = "/tmp/cb_t_table_XXXXXX";
    if (!mkdtemp(dir)) {
        ok(0, "mkdtemp");
        return tap_done();
    }
    char path[512], err[512] = "";
    snprintf(path, sizeof path, "%s/samples.tsv", dir);

    /* ---- a table with every kind of row and awkward values ---- */
    cb_table t = {0};
    cb_params p = {0}, q = {0}, e = {0};
    cb_params_set(&p, "H", 8);
    cb_params_set(&p, "N", 1024);
    cb_params_set(&p, "scale", 0.125);
    cb_params_set(&q, "m", 16);
    cb_params_set(&q, "eps", 0.1);          /* not exactly representable */
    cb_params_set(&q, "tiny", -3.5e-300);
    double tv[] = {1.5e-3, 1.25e-3, 0.1 + 0.2, 5e-324, 1.7976931348623157e308};
    double mv[] = {NAN, INFINITY, -INFINITY, -0.0, 1.0 / 3.0};
    int rc = cb_table_add(&t, CB_ROW_TIME, "linear_attention", "attn_softmax", "blas", "time", &p, tv, 5, "");
    rc |= cb_table_add(&t, CB_ROW_METRIC, "performer", "favor_mse", "-", "mse_ort", &q, mv, 5, "label with spaces");
    rc |= cb_table_add(&t, CB_ROW_SKIP, "linear_attention", "attn_softmax", "dnnl", "time", &p, NULL, 0,
                       "out of memory\tat N=65536\n");
    rc |= cb_table_add(&t, CB_ROW_FAIL, "t", "k", "ref", "time", &e, (double[]){42}, 1, "exit 3");
    ok(rc == 0 && t.n == 4, "four rows added");
    ok(strcmp(t.rows[2].note, "out of memory at N=65536 ") == 0,
       "tabs and newlines in a note become spaces (\"%s\")", t.rows[2].note);

    ok(cb_table_write(&t, path, err, sizeof err) == 0, "write %s %s", path, err);
    ok(count_entries(dir) == 1, "no temporary file is left beside it");

    cb_table back = {0};
    ok(cb_table_read(&back, path, err, sizeof err) == 0, "read it back %s", err);
    int all_same = back.n == t.n;
    for (int i = 0; all_same && i < t.n; i++) {
        int s = same_row(&t.rows[i], &back.rows[i]);
        ok(s, "row %d round-trips exactly (kind, names, params, note, values)", i);
        all_same &= s;
    }
    ok(all_same, "the whole table round-trips (%d rows)", back.n);
    ok(back.rows[1].v && signbit(back.rows[1].v[3]) && back.rows[1].v[3] == 0, "-0 keeps its sign");

    /* read appends */
    ok(cb_table_read(&back, path, err, sizeof err) == 0 && back.n == 8 &&
       same_row(&back.rows[5], &t.rows[1]), "reading again appends the rows");
    cb_table_free(&back);

    /* overwrite: the new content replaces the old one entirely */
    cb_table small = {0};
    cb_table_add(&small, CB_ROW_TIME, "x", "k", "ref", "time", &e, (double[]){1, 2}, 2, "");
    ok(cb_table_write(&small, path, err, sizeof err) == 0 &&
       cb_table_read(&back, path, err, sizeof err) == 0 && back.n == 1 && same_row(&back.rows[0], &small.rows[0]),
       "writing over a file replaces it");
    cb_table_free(&back);
    cb_table_free(&small);
    ok(count_entries(dir) == 1, "still no temporary file");

    /* extend copies */
    cb_table copy = {0};
    ok(cb_table_extend(&copy, &t) == 0 && copy.n == 4 && copy.rows[0].v != t.rows[0].v &&
       same_row(&copy.rows[0], &t.rows[0]), "extend copies rows and their values");
    cb_table_free(&copy);

    /* ---- errors ---- */
    char nodir[600];
    snprintf(nodir, sizeof nodir, "%s/missing/samples.tsv", dir);
    ok(cb_table_write(&t, nodir, err, sizeof err) == -1 && strstr(err, nodir), "write into a missing folder fails: %s", err);
    ok(cb_table_read(&back, nodir, err, sizeof err) == -1 && strstr(err, nodir) && back.n == 0,
       "reading a missing file names it: %s", err);

    const char *good = "time\tt\tk\tb\ttime\tN=1\t-\t1,2\n";
    char text[1024];
    snprintf(text, sizeof text, "%s%s%s", good, good, "time\tt\tk\tb\ttime\tN=1\t-\n");
    expect_error(dir, text, 3, "fields", "seven fields on line 3");
    snprintf(text, sizeof text, "%s%s", good, "time\tt\tk\tb\ttime\tN=1\t-\t1\textra\n");
    expect_error(dir, text, 2, "fields", "nine fields on line 2");
    snprintf(text, sizeof text, "%s%s", good, "timing\tt\tk\tb\ttime\tN=1\t-\t1\n");
    expect_error(dir, text, 2, "kind", "unknown kind on line 2");
    snprintf(text, sizeof text, "%s%s%s", good, good, "time\tt\tk\tb\ttime\tN=\t-\t1\n");
    expect_error(dir, text, 3, "parameters", "malformed params on line 3");
    snprintf(text, sizeof text, "%s", "time\tt\tk\tb\ttime\tN=1\t-\t1,x\n");
    expect_error(dir, text, 1, "value", "non-number value on line 1");
    snprintf(text, sizeof text, "%s%s", good, "time\tt\tk\tb\ttime\tN=1\t-\t1,,2\n");
    expect_error(dir, text, 2, "value", "empty value on line 2");
    snprintf(text, sizeof text, "%s%s", good, "time\tt\tk\tb\ttime\tN=1\t-\t\n");
    expect_error(dir, text, 2, "value", "empty value list on line 2");
    snprintf(text, sizeof text, "time\tt\tk\tb\ttime\tN=1\t-\t1\ntime\t%0100d\tk\tb\ttime\tN=1\t-\t1\n", 0);
    expect_error(dir, text, 2, "longer", "overlong task on line 2");

    /* A hand-edited file: CRLF line ends, a trailing blank line, no final newline. */
    snprintf(path, sizeof path, "%s/crlf.tsv", dir);
    write_text(path, "time\tt\tk\tb\ttime\tN=1\t-\t1,2\r\n\nmetric\tt\tp\t-\tmse\t-\tnote\t3");
    ok(cb_table_read(&back, path, err, sizeof err) == 0 && back.n == 2 && back.rows[0].n == 2 &&
       back.rows[1].params.n == 0 && back.rows[1].v[0] == 3 && strcmp(back.rows[1].note, "note") == 0,
       "CRLF, blank lines and a missing final newline are read %s", err);
    cb_table_free(&back);
    unlink(path);

    /* ---- queries ---- */
    cb_table s = {0};
    double one[] = {1};
    double Ns[] = {4096, 256, 1024, 512, 2048};
    for (int i = 0; i < 5; i++) {
        for (int causal = 0; causal < 2; causal++) {
            cb_params pp = {0};
            cb_params_set(&pp, "causal", causal);
            cb_params_set(&pp, "N", Ns[i]);
            double v = Ns[i] + causal;
            cb_table_add(&s, CB_ROW_TIME, "t", "attn", "ref", "time", &pp, &v, 1, "");
        }
    }
    cb_params nx = {0};
    cb_params_set(&nx, "causal", 1);
    cb_table_add(&s, CB_ROW_TIME, "t", "attn", "ref", "time", &nx, one, 1, "no N"); /* left out of series */
    cb_table_add(&s, CB_ROW_METRIC, "t", "attn", "ref", "time", &p, one, 1, "");    /* other kind */
    const cb_row *out[16];
    int k = cb_table_series(&s, CB_ROW_TIME, "t", "attn", "ref", "time", &nx, "N", out, 16);
    int sorted = k == 5;
    for (int i = 0; sorted && i < k; i++)
        sorted = cb_params_get(&out[i]->params, "N", 0) == 256.0 * (1 << i) &&
                 out[i]->v[0] == 256.0 * (1 << i) + 1;
    ok(sorted, "series: the 5 causal=1 rows with N, sorted by N (%d found)", k);
    k = cb_table_series(&s, CB_ROW_TIME, "t", "attn", "ref", "time", &nx, "N", out, 3);
    ok(k == 3 && out[0]->v[0] == 257 && out[2]->v[0] == 1025, "series with cap 3 keeps the 3 smallest N");
    k = cb_table_series(&s, CB_ROW_TIME, "t", "attn", NULL, NULL, NULL, "N", out, 16);
    ok(k == 10 && out[0]->v[0] == 256 && out[1]->v[0] == 257, "series without where: all 10, stable for equal N");
    ok(cb_table_series(&s, CB_ROW_TIME, "t", "attn", "blas", "time", NULL, "N", out, 16) == 0,
       "series of another backend is empty");
    const cb_row *f = cb_table_find(&s, CB_ROW_TIME, "t", "attn", "ref", "time", &nx);
    ok(f && f->v[0] == 4097, "find returns the first matching row");
    ok(cb_table_find(&s, CB_ROW_METRIC, "t", NULL, NULL, NULL, NULL) == &s.rows[11],
       "find matches on kind");
    ok(cb_table_find(&s, CB_ROW_SKIP, NULL, NULL, NULL, NULL, NULL) == NULL, "find returns NULL when nothing matches");

    cb_row_kind kk;
    int kinds_ok = 1;
    for (int i = CB_ROW_TIME; i <= CB_ROW_FAIL; i++)
        kinds_ok &= cb_row_kind_parse(cb_row_kind_name((cb_row_kind)i), &kk) == 0 && (int)kk == i;
    ok(kinds_ok && cb_row_kind_parse("Time", &kk) == -1, "row kind names round-trip; parsing is exact");

    cb_table_free(&s);
    cb_table_free(&t);
    snprintf(path, sizeof path, "%s/samples.tsv", dir);
    unlink(path);
    rmdir(dir);
    return tap_done();
}
