/* cli.h — what every subcommand receives, and the exit codes they share.
 *
 * main.c parses the global options and dispatches to one cb_cmd_* per
 * subcommand; each lives in the file of its stage (bench.c, report.c, ...).
 */
#ifndef CB_CLI_H
#define CB_CLI_H

#include <stdint.h>

enum {
    CB_EXIT_OK = 0,        /* done; for check: every agreement passed */
    CB_EXIT_FAIL = 1,      /* the thing checked failed (agreement, regression) */
    CB_EXIT_USAGE = 2,     /* bad command line or bad spec: nothing was run */
    CB_EXIT_ERROR = 3,     /* runtime failure: I/O, library, out of memory */
};

typedef struct cb_cli {
    const char *tasks_dir;     /* --tasks DIR   (default "tasks") */
    const char *runs_dir;      /* --runs DIR    (default "data/runs") */
    const char *reports_dir;   /* --reports DIR (default "reports") */
    const char *history;       /* --history FILE (default "data/history.sqlite") */
    uint64_t seed;             /* --seed N      (default 20200629) */
    int quiet;                 /* --quiet: no progress lines */
} cb_cli;

/* Each returns a CB_EXIT_* code; argv[0] is the subcommand name and the
 * remaining arguments are the subcommand's own. */
int cb_cmd_list(const cb_cli *cli, int argc, char **argv);
int cb_cmd_check(const cb_cli *cli, int argc, char **argv);
int cb_cmd_bench(const cb_cli *cli, int argc, char **argv);
int cb_cmd_verify(const cb_cli *cli, int argc, char **argv);
int cb_cmd_report(const cb_cli *cli, int argc, char **argv);
int cb_cmd_run(const cb_cli *cli, int argc, char **argv);
int cb_cmd_catalog(const cb_cli *cli, int argc, char **argv);
int cb_cmd_compare(const cb_cli *cli, int argc, char **argv);
int cb_cmd_history(const cb_cli *cli, int argc, char **argv);

#endif
