/* verify.c — `claimbench verify`: claim verdicts from the latest run.
 *
 * Every check of every task present in the run is evaluated from the run's
 * samples (checks.c decides; nothing here judges). The verdicts are written
 * into the run folder as verdicts.tsv (read by report) and verdicts.json
 * (the same array `verify --json` prints), each atomically.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checks.h"
#include "cli.h"
#include "results.h"
#include "sbuf.h"
#include "spec.h"
#include "table.h"

/* Replace tabs and newlines so a field stays one TSV cell. */
static void sb_tsv_cell(cb_sbuf *b, const char *s)
{
    for (const char *p = s; *p; p++) cb_sb_printf(b, "%c", (*p == '\t' || *p == '\n') ? ' ' : *p);
}

static void verdict_json(cb_sbuf *b, const cb_verdict *v, int first)
{
    cb_sb_printf(b, "%s\n  {\"task\": ", first ? "" : ",");
    cb_sb_json_str(b, v->task);
    cb_sb_printf(b, ", \"check\": ");
    cb_sb_json_str(b, v->check);
    cb_sb_printf(b, ", \"type\": ");
    cb_sb_json_str(b, cb_check_type_name(v->type));
    cb_sb_printf(b, ", \"verdict\": ");
    cb_sb_json_str(b, cb_verdict_name(v->verdict));
    cb_sb_printf(b, ", \"measured\": ");
    cb_sb_json_num(b, v->measured);
    cb_sb_printf(b, ", \"interval\": ");
    if (v->has_interval) {
        cb_sb_printf(b, "[");
        cb_sb_json_num(b, v->lo);
        cb_sb_printf(b, ", ");
        cb_sb_json_num(b, v->hi);
        cb_sb_printf(b, "]");
    } else {
        cb_sb_printf(b, "null");
    }
    cb_sb_printf(b, ", \"expected\": ");
    cb_sb_json_str(b, v->expected);
    cb_sb_printf(b, ", \"paper\": ");
    cb_sb_json_str(b, v->paper);
    cb_sb_printf(b, ", \"detail\": ");
    cb_sb_json_str(b, v->detail);
    cb_sb_printf(b, "}");
}

static void verdict_tsv(cb_sbuf *b, const cb_verdict *v)
{
    cb_sb_printf(b, "%s\t%s\t%s\t%s\t%.6g\t", v->task, v->check, cb_check_type_name(v->type),
              cb_verdict_name(v->verdict), v->measured);
    if (v->has_interval) cb_sb_printf(b, "%.6g\t%.6g\t", v->lo, v->hi);
    else cb_sb_printf(b, "-\t-\t");
    sb_tsv_cell(b, v->expected);
    cb_sb_printf(b, "\t");
    sb_tsv_cell(b, v->paper);
    cb_sb_printf(b, "\t");
    sb_tsv_cell(b, v->detail);
    cb_sb_printf(b, "\n");
}

static void verdict_human(FILE *f, const cb_verdict *v)
{
    fprintf(f, "  %-15s %-28s %-11s measured %-10.4g", cb_verdict_name(v->verdict), v->check,
            cb_check_type_name(v->type), v->measured);
    if (v->has_interval) fprintf(f, " [%.4g, %.4g]", v->lo, v->hi);
    fprintf(f, "  expected %s  (paper: %s)\n      %s\n", v->expected, v->paper, v->detail);
}

static int task_in_run(const cb_table *t, const char *task)
{
    for (int i = 0; i < t->n; i++)
        if (strcmp(t->rows[i].task, task) == 0) return 1;
    return 0;
}

int cb_cmd_verify(const cb_cli *cli, int argc, char **argv)
{
    int json = 0;
    const char *run = NULL;
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--json") == 0) {
            json = 1;
        } else if (strcmp(argv[a], "--run") == 0 && a + 1 < argc) {
            run = argv[++a];
        } else if (strcmp(argv[a], "--help") == 0 || strcmp(argv[a], "-h") == 0) {
            printf("usage: claimbench verify [--json] [--run DIR]\n\n"
                   "Decides every claim check of every task in the latest run (or DIR)\n"
                   "from its measurements and writes verdicts.tsv and verdicts.json into\n"
                   "the run folder. --json prints the JSON array (keys: task, check, type,\n"
                   "verdict, measured, interval, expected, paper, detail) instead of the\n"
                   "table. A claim that does not reproduce is a result, not an error:\n"
                   "the exit code is 0 whatever the verdicts.\n");
            return CB_EXIT_OK;
        } else {
            fprintf(stderr, "claimbench verify: unknown argument '%s'\n", argv[a]);
            return CB_EXIT_USAGE;
        }
    }
    char err[1024];
    char dir[1024];
    if (run) {
        snprintf(dir, sizeof dir, "%s", run);
    } else if (cb_results_latest(cli->runs_dir, dir, sizeof dir, err, sizeof err) != 0) {
        fprintf(stderr, "claimbench verify: %s (run claimbench bench first)\n", err);
        return CB_EXIT_ERROR;
    }
    cb_spec *specs = NULL;
    int n = 0;
    if (cb_spec_load_dir(cli->tasks_dir, &specs, &n, err, sizeof err) != 0) {
        fprintf(stderr, "claimbench: %s\n", err);
        return CB_EXIT_USAGE;
    }
    char path[1200];
    snprintf(path, sizeof path, "%s/samples.tsv", dir);
    cb_table t = {0};
    if (cb_table_read(&t, path, err, sizeof err) != 0) {
        fprintf(stderr, "claimbench verify: %s\n", err);
        cb_spec_free_all(specs, n);
        return CB_EXIT_ERROR;
    }
    cb_sbuf js = {0}, ts = {0};
    int counts[3] = {0, 0, 0}, first = 1;
    cb_sb_printf(&js, "[");
    if (!json) printf("verdicts from %s\n", dir);
    for (int i = 0; i < n; i++) {
        const cb_spec *s = &specs[i];
        if (!task_in_run(&t, s->id)) {
            if (!cli->quiet) fprintf(stderr, "claimbench verify: task %s is not in this run; skipped\n", s->id);
            continue;
        }
        if (!json) printf("\n%s\n", s->id);
        for (int c = 0; c < s->n_checks; c++) {
            cb_verdict v;
            cb_check_eval(&s->checks[c], s->id, &t, cli->seed, &v);
            counts[v.verdict]++;
            verdict_json(&js, &v, first);
            verdict_tsv(&ts, &v);
            first = 0;
            if (!json) verdict_human(stdout, &v);
        }
    }
    cb_sb_printf(&js, "\n]\n");
    int rc = CB_EXIT_OK;
    if (js.oom || ts.oom) {
        fprintf(stderr, "claimbench verify: out of memory\n");
        rc = CB_EXIT_ERROR;
    } else {
        char p1[1200], p2[1200];
        snprintf(p1, sizeof p1, "%s/verdicts.tsv", dir);
        snprintf(p2, sizeof p2, "%s/verdicts.json", dir);
        if (cb_write_atomic(p1, ts.s ? ts.s : "", ts.len, err, sizeof err) != 0 ||
            cb_write_atomic(p2, js.s, js.len, err, sizeof err) != 0) {
            fprintf(stderr, "claimbench verify: %s\n", err);
            rc = CB_EXIT_ERROR;
        } else if (json) {
            fputs(js.s, stdout);
        } else {
            printf("\n%d reproduced, %d not reproduced, %d inconclusive\n", counts[CB_REPRODUCED],
                   counts[CB_NOT_REPRODUCED], counts[CB_INCONCLUSIVE]);
        }
    }
    cb_sb_free(&js);
    cb_sb_free(&ts);
    cb_table_free(&t);
    cb_spec_free_all(specs, n);
    return rc;
}
