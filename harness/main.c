/* main.c — the claimbench command line: global options, then one subcommand.
 *
 * Each subcommand lives with its stage (list and check here, bench.c,
 * verify.c, report.c, run.c); this file only parses what they share and
 * dispatches. Exit codes are those of cli.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agree.h"
#include "cli.h"
#include "kernel.h"
#include "spec.h"

static const char usage_text[] =
    "usage: claimbench [GLOBAL OPTIONS] COMMAND [ARGS]\n"
    "\n"
    "claimbench turns checkable claims of transformer and neural-operator papers\n"
    "into tasks: it runs several implementations of each kernel, checks they agree\n"
    "with a reference, times them, decides whether each claim holds on this\n"
    "machine, and writes reports with figures.\n"
    "\n"
    "commands:\n"
    "  list                      tasks, kernels, backends and probes\n"
    "  check [TASK ...]          agreement of every backend with ref, as TAP\n"
    "                            (exit 1 when a comparison fails)\n"
    "  bench [TASK ...]          agreement, probes and timings into a new run folder\n"
    "                            under data/runs/ (see 'claimbench bench --help')\n"
    "  verify [--json]           claim verdicts from the latest run\n"
    "  report                    reports/<task>.md, reports/index.md and figures\n"
    "                            from the latest run\n"
    "  run KERNEL --backend B [--set NAME=VALUE ...] --in NAME=FILE.npy ...\n"
    "      --out NAME=FILE.npy ...\n"
    "                            one kernel on your own float32 .npy tensors\n"
    "  catalog [--check]         tasks/README.md, the catalog of every paper, from\n"
    "                            tasks/catalog.tsv, the specs and reports/verdicts.tsv\n"
    "  history [--kernel K] [--backend B] [--task T] [--params P] [--json]\n"
    "                            each series' median time across runs in the SQLite\n"
    "                            history, with step changes flagged\n"
    "  compare [OPTIONS] BASE NEW  two runs (folders or Google Benchmark JSON): timings\n"
    "                            against the measured noise, agreement, verdicts;\n"
    "                            exit 1 on a real regression (claimbench compare --help)\n"
    "\n"
    "global options (before COMMAND):\n"
    "  --tasks DIR       task specs (default tasks)\n"
    "  --runs DIR        run folders (default data/runs)\n"
    "  --reports DIR     report output (default reports)\n"
    "  --history FILE    SQLite results history (default data/history.sqlite)\n"
    "  --seed N          input seed (default 20200629)\n"
    "  --quiet           no progress lines\n"
    "  -h, --help        this text; 'claimbench COMMAND --help' for a command\n"
    "\n"
    "exit codes: 0 done, 1 a check failed (agreement) or a real regression (compare),\n"
    "2 bad usage or bad spec (nothing run), 3 runtime failure.\n";

static int print_usage(FILE *f, int code)
{
    fputs(usage_text, f);
    return code;
}

/* ---- list --------------------------------------------------------------- */

int cb_cmd_list(const cb_cli *cli, int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: claimbench list\n\nPrints every task (with its paper, kernels, probes and checks),\n"
               "every kernel (inputs, outputs, parameters, backends) and every probe.\n");
        return CB_EXIT_OK;
    }
    if (argc > 1) {
        fprintf(stderr, "claimbench list: unexpected argument '%s'\n", argv[1]);
        return CB_EXIT_USAGE;
    }
    cb_spec *specs = NULL;
    int n = 0;
    char err[1024];
    if (cb_spec_load_dir(cli->tasks_dir, &specs, &n, err, sizeof err) != 0) {
        fprintf(stderr, "claimbench: %s\n", err);
        return CB_EXIT_USAGE;
    }
    printf("tasks (%d, in %s):\n", n, cli->tasks_dir);
    for (int i = 0; i < n; i++) {
        const cb_spec *s = &specs[i];
        printf("  %s\n    paper: %s\n    kernels:", s->id, s->paper);
        for (int j = 0; j < s->n_kernels; j++) {
            char pf[256];
            cb_params_format(&s->kernels[j].params, pf, sizeof pf);
            printf(" %s%s%s%s", s->kernels[j].name, pf[0] ? "(" : "", pf, pf[0] ? ")" : "");
        }
        printf("\n    probes:");
        for (int j = 0; j < s->n_probes; j++) printf(" %s", s->probes[j].name);
        printf("\n    checks:");
        for (int j = 0; j < s->n_checks; j++)
            printf(" %s[%s]", s->checks[j].name, cb_check_type_name(s->checks[j].type));
        printf("\n");
    }
    cb_spec_free_all(specs, n);

    printf("\nkernels:\n");
    for (int i = 0; cb_kernels[i]; i++) {
        const cb_kernel *k = cb_kernels[i];
        printf("  %-26s %s\n", k->name, k->summary);
        printf("    inputs:");
        for (int j = 0; j < k->n_in; j++) printf(" %s", k->in[j]);
        printf("  outputs:");
        for (int j = 0; j < k->n_out; j++) printf(" %s", k->out[j]);
        printf("  params: %s\n    backends:", k->params_doc);
        for (int j = 0; cb_impls[j]; j++)
            if (strcmp(cb_impls[j]->kernel, k->name) == 0) printf(" %s", cb_impls[j]->backend);
        printf("\n");
    }
    printf("\nprobes:\n");
    for (int i = 0; cb_probes[i]; i++)
        printf("  %-26s %s\n", cb_probes[i]->name, cb_probes[i]->summary);
    return CB_EXIT_OK;
}

/* ---- check ---------------------------------------------------------------- */

/* Keep the specs whose id is named on the command line (all when none).
 * Returns 0, or -1 after printing which name is unknown. */
static int select_tasks(cb_spec *specs, int n, int argc, char **argv, int *keep)
{
    for (int i = 0; i < n; i++) keep[i] = argc == 0;
    for (int a = 0; a < argc; a++) {
        int found = 0;
        for (int i = 0; i < n; i++)
            if (strcmp(specs[i].id, argv[a]) == 0) keep[i] = found = 1;
        if (!found) {
            fprintf(stderr, "claimbench: unknown task '%s'; known:", argv[a]);
            for (int i = 0; i < n; i++) fprintf(stderr, " %s", specs[i].id);
            fprintf(stderr, "\n");
            return -1;
        }
    }
    return 0;
}

int cb_cmd_check(const cb_cli *cli, int argc, char **argv)
{
    for (int a = 1; a < argc; a++)
        if (strcmp(argv[a], "--help") == 0 || strcmp(argv[a], "-h") == 0) {
            printf("usage: claimbench check [TASK ...]\n\n"
                   "Runs every backend of every kernel of the tasks (all by default) on the\n"
                   "spec's agreement sizes against the ref oracle, with the same seeded\n"
                   "inputs, and prints TAP: max abs, max rel and normalized L2 error per\n"
                   "output. Exit 1 when any comparison fails.\n");
            return CB_EXIT_OK;
        } else if (argv[a][0] == '-') {
            fprintf(stderr, "claimbench check: unknown option '%s'\n", argv[a]);
            return CB_EXIT_USAGE;
        }
    cb_spec *specs = NULL;
    int n = 0;
    char err[1024];
    if (cb_spec_load_dir(cli->tasks_dir, &specs, &n, err, sizeof err) != 0) {
        fprintf(stderr, "claimbench: %s\n", err);
        return CB_EXIT_USAGE;
    }
    int *keep = calloc((size_t)n + 1, sizeof *keep);
    if (!keep) {
        cb_spec_free_all(specs, n);
        fprintf(stderr, "claimbench: out of memory\n");
        return CB_EXIT_ERROR;
    }
    int rc = CB_EXIT_OK;
    if (select_tasks(specs, n, argc - 1, argv + 1, keep) != 0) {
        rc = CB_EXIT_USAGE;
        goto done;
    }
    int test_no = 0, failures = 0;
    for (int i = 0; i < n; i++) {
        if (!keep[i]) continue;
        printf("# task %s\n", specs[i].id);
        fflush(stdout);
        int f = cb_agree_task(&specs[i], cli->seed, stdout, &test_no, NULL, err, sizeof err);
        if (f < 0) {
            printf("Bail out! %s\n", err);
            rc = CB_EXIT_ERROR;
            goto done;
        }
        failures += f;
    }
    printf("1..%d\n", test_no);
    if (failures) {
        printf("# %d of %d comparisons failed\n", failures, test_no);
        rc = CB_EXIT_FAIL;
    }
done:
    free(keep);
    cb_spec_free_all(specs, n);
    return rc;
}

/* ---- dispatch --------------------------------------------------------------- */

static const struct {
    const char *name;
    int (*fn)(const cb_cli *, int, char **);
} commands[] = {
    {"list", cb_cmd_list},     {"check", cb_cmd_check},   {"bench", cb_cmd_bench},
    {"verify", cb_cmd_verify}, {"report", cb_cmd_report}, {"run", cb_cmd_run},
    {"catalog", cb_cmd_catalog}, {"history", cb_cmd_history},
    {"compare", cb_cmd_compare},
};

int main(int argc, char **argv)
{
    cb_cli cli = {
        .tasks_dir = "tasks",
        .runs_dir = "data/runs",
        .reports_dir = "reports",
        .history = "data/history.sqlite",
        .seed = 20200629,
        .quiet = 0,
    };
    int a = 1;
    for (; a < argc && argv[a][0] == '-'; a++) {
        const char *o = argv[a];
        if (strcmp(o, "-h") == 0 || strcmp(o, "--help") == 0)
            return print_usage(stdout, CB_EXIT_OK);
        if (strcmp(o, "--quiet") == 0) {
            cli.quiet = 1;
            continue;
        }
        const char **slot = strcmp(o, "--tasks") == 0     ? &cli.tasks_dir
                            : strcmp(o, "--runs") == 0    ? &cli.runs_dir
                            : strcmp(o, "--reports") == 0 ? &cli.reports_dir
                            : strcmp(o, "--history") == 0 ? &cli.history
                                                          : NULL;
        if (slot || strcmp(o, "--seed") == 0) {
            if (a + 1 >= argc) {
                fprintf(stderr, "claimbench: %s needs a value\n", o);
                return CB_EXIT_USAGE;
            }
            const char *v = argv[++a];
            if (slot) {
                *slot = v;
            } else {
                char *end;
                errno = 0;
                unsigned long long s = strtoull(v, &end, 0);
                if (errno || *end || end == v || v[0] == '-') {
                    fprintf(stderr, "claimbench: --seed: not a non-negative integer: '%s'\n", v);
                    return CB_EXIT_USAGE;
                }
                cli.seed = (uint64_t)s;
            }
            continue;
        }
        fprintf(stderr, "claimbench: unknown option '%s'\n\n", o);
        return print_usage(stderr, CB_EXIT_USAGE);
    }
    if (a >= argc)
        return print_usage(stderr, CB_EXIT_USAGE);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[a], commands[i].name) == 0)
            return commands[i].fn(&cli, argc - a, argv + a);
    fprintf(stderr, "claimbench: unknown command '%s'\n\n", argv[a]);
    return print_usage(stderr, CB_EXIT_USAGE);
}
