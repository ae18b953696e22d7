/* history_cmd.c — `claimbench history`: each series' trend across runs, with
 * its step changes flagged.
 *
 * A series is one (task, kernel, backend, parameters) of the SQLite history;
 * its runs are shown in date order with their commit, machine, median time
 * per call and spread, and the steps cb_hist_find_steps flags (history.c
 * explains the test). --json prints the same for machines. --add appends run
 * folders to the history (runs fetched from CI, or a history rebuilt), the
 * same all-or-nothing append `bench` does.
 */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "history.h"
#include "report.h"
#include "sbuf.h"
#include "table.h"

static const char help_text[] =
    "usage: claimbench history [--task T] [--kernel K] [--backend B] [--params P]\n"
    "                          [--machine HOST] [--flagged] [--json]\n"
    "       claimbench history --add RUN_DIR [--add RUN_DIR ...]\n"
    "\n"
    "Shows, for every (task, kernel, backend, parameters) series of timings in the\n"
    "SQLite history (--history FILE, default data/history.sqlite), the median time\n"
    "per call of each run in date order, with its commit, machine and date, and\n"
    "flags step changes: a split of the series where the median of the runs after\n"
    "differs from the median of the runs before by more than the series' noise\n"
    "allows (3.5 standard errors; the noise is estimated from the runs' repetitions\n"
    "and from run-to-run differences) and by at least 5%, with at least 2 runs on\n"
    "each side, so one odd run is never a step.\n"
    "\n"
    "  --task T, --kernel K, --backend B   only these series\n"
    "  --params P      only series with these parameters, e.g. N=512,causal=1\n"
    "  --machine HOST  only runs on this host name\n"
    "  --flagged       only series with a flagged step\n"
    "  --json          one JSON object: {\"history\", \"series\": [{task, kernel,\n"
    "                  backend, params, noise, runs: [{run, commit, date, machine,\n"
    "                  median, min, max, n}], steps: [{index, run, commit, before,\n"
    "                  after, change, threshold, z}]}]}; times in seconds, index is\n"
    "                  the 0-based position of the first run after the step\n"
    "  --add RUN_DIR   append a run folder (its machine.tsv and samples.tsv) to the\n"
    "                  history, all or nothing; a run already there is refused\n"
    "\n"
    "exit codes: 0 done (a flagged step is information, not a failure), 2 bad usage,\n"
    "3 the history cannot be read or a run cannot be added.\n";

typedef struct hopts {
    cb_hist_filter f;
    int json, flagged;
    int n_add;
    const char **add;
} hopts;

/* The value of option argv[*a] into *slot. Returns 0, or -1 after a message. */
static int take_value(int argc, char **argv, int *a, const char **slot)
{
    if (*a + 1 >= argc) {
        fprintf(stderr, "claimbench history: %s needs a value\n", argv[*a]);
        return -1;
    }
    *slot = argv[++*a];
    return 0;
}

static int parse_args(int argc, char **argv, hopts *o)
{
    for (int a = 1; a < argc; a++) {
        const char *s = argv[a];
        const char **slot = strcmp(s, "--task") == 0      ? &o->f.task
                            : strcmp(s, "--kernel") == 0  ? &o->f.kernel
                            : strcmp(s, "--backend") == 0 ? &o->f.backend
                            : strcmp(s, "--params") == 0  ? &o->f.params
                            : strcmp(s, "--machine") == 0 ? &o->f.machine
                                                          : NULL;
        if (slot) {
            if (take_value(argc, argv, &a, slot) != 0) return -1;
        } else if (strcmp(s, "--json") == 0) {
            o->json = 1;
        } else if (strcmp(s, "--flagged") == 0) {
            o->flagged = 1;
        } else if (strcmp(s, "--add") == 0) {
            const char *dir;
            if (take_value(argc, argv, &a, &dir) != 0) return -1;
            o->add[o->n_add++] = dir;
        } else {
            fprintf(stderr, "claimbench history: %s '%s' (see claimbench history --help)\n",
                    s[0] == '-' ? "unknown option" : "unexpected argument", s);
            return -1;
        }
    }
    if (o->n_add && (o->json || o->flagged || o->f.task || o->f.kernel || o->f.backend ||
                     o->f.params || o->f.machine)) {
        fprintf(stderr, "claimbench history: --add takes no other option\n");
        return -1;
    }
    if (o->f.params && o->f.params[0]) {
        cb_params p;
        if (cb_params_parse(&p, o->f.params) != 0) {
            fprintf(stderr, "claimbench history: --params: not NAME=VALUE,...: '%s'\n", o->f.params);
            return -1;
        }
    }
    return 0;
}

/* ---- --add ------------------------------------------------------------------ */

static int add_runs(const cb_cli *cli, const hopts *o)
{
    for (int i = 0; i < o->n_add; i++) {
        char path[2048], err[1024];
        snprintf(path, sizeof path, "%s/samples.tsv", o->add[i]);
        cb_table t = {0};
        int rc = cb_table_read(&t, path, err, sizeof err);
        if (rc == 0) rc = cb_history_append(cli->history, o->add[i], &t, err, sizeof err);
        cb_table_free(&t);
        if (rc != 0) {
            fprintf(stderr, "claimbench history: %s\n", err);
            return CB_EXIT_ERROR;
        }
        if (!cli->quiet) fprintf(stderr, "history: added %s to %s\n", o->add[i], cli->history);
    }
    return CB_EXIT_OK;
}

/* ---- output ----------------------------------------------------------------- */

static void series_json(cb_sbuf *b, const cb_hist_series *s)
{
    cb_sb_printf(b, "{\"task\": ");
    cb_sb_json_str(b, s->task);
    cb_sb_printf(b, ", \"kernel\": ");
    cb_sb_json_str(b, s->kernel);
    cb_sb_printf(b, ", \"backend\": ");
    cb_sb_json_str(b, s->backend);
    cb_sb_printf(b, ", \"params\": ");
    cb_sb_json_str(b, s->params);
    cb_sb_printf(b, ", \"noise\": ");
    cb_sb_json_num(b, s->noise);
    cb_sb_printf(b, ",\n   \"runs\": [");
    for (int i = 0; i < s->n; i++) {
        const cb_hist_point *p = &s->p[i];
        cb_sb_printf(b, "%s\n    {\"run\": ", i ? "," : "");
        cb_sb_json_str(b, p->run);
        cb_sb_printf(b, ", \"commit\": ");
        cb_sb_json_str(b, p->commit);
        cb_sb_printf(b, ", \"date\": ");
        cb_sb_json_str(b, p->date);
        cb_sb_printf(b, ", \"machine\": ");
        cb_sb_json_str(b, p->machine);
        /* %.9g: a time per call keeps its nanoseconds. */
        cb_sb_printf(b, ", \"median\": %.9g, \"min\": %.9g, \"max\": %.9g, \"n\": %d}", p->median,
                     p->min, p->max, p->n);
    }
    cb_sb_printf(b, "],\n   \"steps\": [");
    for (int i = 0; i < s->n_steps; i++) {
        const cb_hist_step *st = &s->steps[i];
        cb_sb_printf(b, "%s\n    {\"index\": %d, \"run\": ", i ? "," : "", st->at);
        cb_sb_json_str(b, s->p[st->at].run);
        cb_sb_printf(b, ", \"commit\": ");
        cb_sb_json_str(b, s->p[st->at].commit);
        cb_sb_printf(b, ", \"before\": %.9g, \"after\": %.9g, \"change\": ", st->before, st->after);
        cb_sb_json_num(b, st->change);
        cb_sb_printf(b, ", \"threshold\": ");
        cb_sb_json_num(b, st->threshold);
        cb_sb_printf(b, ", \"z\": ");
        cb_sb_json_num(b, st->z);
        cb_sb_printf(b, "}");
    }
    cb_sb_printf(b, "]}");
}

/* s right-aligned in width characters (UTF-8: µ and – are one character
 * but two and three bytes, which printf's widths would count). */
static void put_right(FILE *f, const char *s, int width)
{
    int chars = 0;
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) chars += (*c & 0xC0) != 0x80;
    for (int i = chars; i < width; i++) fputc(' ', f);
    fputs(s, f);
}

static int step_at(const cb_hist_series *s, int i)
{
    for (int k = 0; k < s->n_steps; k++)
        if (s->steps[k].at == i) return k;
    return -1;
}

static void series_text(FILE *f, const cb_hist_series *s)
{
    fprintf(f, "\n%s  %s/%s  %s\n", s->task, s->kernel, s->backend, s->params[0] ? s->params : "-");
    fprintf(f, "  %d run%s; noise of one run's median ±%.1f%%; %d step%s flagged\n", s->n,
            s->n == 1 ? "" : "s", 100 * expm1(s->noise), s->n_steps, s->n_steps == 1 ? "" : "s");
    fprintf(f, "  %4s  %-20s  %-14s  %-16s  %10s  ", "#", "date", "commit", "machine", "median");
    put_right(f, "min – max", 23);
    fprintf(f, "  %4s\n", "reps");
    for (int i = 0; i < s->n; i++) {
        const cb_hist_point *p = &s->p[i];
        char med[32], lo[32], hi[32], range[80];
        cb_format_duration(p->median, med, sizeof med);
        cb_format_duration(p->min, lo, sizeof lo);
        cb_format_duration(p->max, hi, sizeof hi);
        snprintf(range, sizeof range, "%s – %s", lo, hi);
        int k = step_at(s, i);
        fprintf(f, "  %4d  %-20.20s  %-14.14s  %-16.16s  ", i + 1, p->date[0] ? p->date : "-",
                p->commit[0] ? p->commit : "-", p->machine[0] ? p->machine : "-");
        put_right(f, med, 10);
        fputs("  ", f);
        put_right(f, range, 23);
        fprintf(f, "  %4d", p->n);
        if (k >= 0) fprintf(f, "  ◀ step %+.1f%%", 100 * s->steps[k].change);
        fprintf(f, "\n");
    }
    for (int k = 0; k < s->n_steps; k++) {
        const cb_hist_step *st = &s->steps[k];
        char b[32], a[32];
        cb_format_duration(st->before, b, sizeof b);
        cb_format_duration(st->after, a, sizeof a);
        fprintf(f, "  step before run %d (commit %s, %s): %+.1f%% (%s → %s, medians of the runs each "
                   "side); flagged beyond ±%.1f%%, z = %.1f\n",
                st->at + 1, s->p[st->at].commit[0] ? s->p[st->at].commit : "-",
                s->p[st->at].date[0] ? s->p[st->at].date : "no date", 100 * st->change, b, a,
                100 * st->threshold, st->z);
    }
}

int cb_cmd_history(const cb_cli *cli, int argc, char **argv)
{
    for (int a = 1; a < argc; a++)
        if (strcmp(argv[a], "--help") == 0 || strcmp(argv[a], "-h") == 0) {
            fputs(help_text, stdout);
            return CB_EXIT_OK;
        }
    hopts o;
    memset(&o, 0, sizeof o);
    o.add = calloc((size_t)argc + 1, sizeof *o.add);
    if (!o.add) {
        fprintf(stderr, "claimbench history: out of memory\n");
        return CB_EXIT_ERROR;
    }
    if (parse_args(argc, argv, &o) != 0) {
        free(o.add);
        return CB_EXIT_USAGE;
    }
    if (o.n_add) {
        int rc = add_runs(cli, &o);
        free(o.add);
        return rc;
    }
    free(o.add);

    struct stat sb;
    if (stat(cli->history, &sb) != 0) {
        fprintf(stderr, "claimbench history: %s: %s (bench appends every run to it)\n", cli->history,
                strerror(errno));
        return CB_EXIT_ERROR;
    }
    cb_hist_set set;
    char err[1024];
    if (cb_history_series(cli->history, &o.f, &set, err, sizeof err) != 0) {
        fprintf(stderr, "claimbench history: %s\n", err);
        return CB_EXIT_ERROR;
    }
    int shown = 0, steps = 0;
    for (int i = 0; i < set.n; i++)
        if (!o.flagged || set.s[i].n_steps > 0) {
            shown++;
            steps += set.s[i].n_steps;
        }
    int rc = CB_EXIT_OK;
    if (o.json) {
        cb_sbuf b = {0};
        cb_sb_printf(&b, "{\"history\": ");
        cb_sb_json_str(&b, cli->history);
        cb_sb_printf(&b, ",\n \"series\": [");
        int first = 1;
        for (int i = 0; i < set.n; i++) {
            if (o.flagged && set.s[i].n_steps == 0) continue;
            cb_sb_printf(&b, "%s\n  ", first ? "" : ",");
            first = 0;
            series_json(&b, &set.s[i]);
        }
        cb_sb_printf(&b, "]}\n");
        if (b.oom) {
            fprintf(stderr, "claimbench history: out of memory\n");
            rc = CB_EXIT_ERROR;
        } else {
            fputs(b.s, stdout);
        }
        cb_sb_free(&b);
    } else {
        printf("history %s: %d series%s, %d step%s flagged\n", cli->history, shown,
               o.flagged ? " with a flagged step" : "", steps, steps == 1 ? "" : "s");
        for (int i = 0; i < set.n; i++)
            if (!o.flagged || set.s[i].n_steps > 0) series_text(stdout, &set.s[i]);
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "claimbench history: writing the output: %s\n", strerror(errno));
        rc = CB_EXIT_ERROR;
    }
    cb_hist_set_free(&set);
    return rc;
}
