/* results.h — the run folder: one per `bench`, written atomically.
 *
 * Layout of <runs>/<YYYYmmddTHHMMSSZ>-<commit>/:
 *   machine.tsv     key\tvalue lines (machine.h)
 *   samples.tsv     every measured row (table.h)
 *   agreement.tap   the agreement of every backend with ref, as TAP
 *   gbench/<task>/<kernel>.<backend>.<params>.json   Google Benchmark's own JSON
 *   verdicts.tsv, verdicts.json                      added later by `verify`
 *
 * A run is built in <runs>/.partial-<pid>-<unix time>/ and renamed to its
 * final name only when complete; then <runs>/latest (a symlink holding the
 * folder's name) is replaced atomically. An interrupted run leaves only its
 * .partial folder, which readers ignore and the next cb_results_begin removes
 * once its process is gone, and `latest` still names the previous run.
 */
#ifndef CB_RESULTS_H
#define CB_RESULTS_H

#include <stddef.h>

typedef struct cb_run {
    char runs[1024];        /* the runs folder */
    char partial[1200];     /* <runs>/.partial-<pid>-<time>, while building */
    char name[160];         /* final folder name, <stamp>-<commit>[-k] */
    char path[1200];        /* <runs>/<name>: valid after cb_results_commit */
    int committed;
} cb_run;

/* Create <runs> if needed, remove .partial folders of processes that no
 * longer exist, and create this run's partial folder. `commit` names the
 * run ("unknown" if NULL or empty; characters other than [A-Za-z0-9._-]
 * become '_'). Returns 0, or -1 with err. */
int cb_results_begin(cb_run *r, const char *runs, const char *commit, char *err, size_t errlen);

/* The path of `rel` (e.g. "gbench/t/k.b.N=64.json") inside the run being
 * built, creating its parent folders. Returns 0, or -1 with err. */
int cb_run_path(const cb_run *r, const char *rel, char *buf, size_t len, char *err, size_t errlen);

/* Rename the partial folder to its final name (a suffix -2, -3, ... if that
 * name exists) and point <runs>/latest at it. r->path holds the final path.
 * Returns 0, or -1 with err (the partial folder is left as it is). */
int cb_results_commit(cb_run *r, char *err, size_t errlen);

/* Remove the partial folder of an uncommitted run (after a failure). */
void cb_results_abort(cb_run *r);

/* Resolve the latest complete run of <runs>: the folder `latest` names, or,
 * if that link is missing or dangling, the complete run with the greatest
 * name. Writes "<runs>/<name>" into buf. Returns 0, or -1 with err when
 * there is none. */
int cb_results_latest(const char *runs, char *buf, size_t len, char *err, size_t errlen);

/* Write a small file atomically: a temporary file in the same folder,
 * fsync, rename over path, fsync of the folder. Returns 0, or -1 with err
 * (no temporary file is left behind). */
int cb_write_atomic(const char *path, const void *data, size_t len, char *err, size_t errlen);

/* Remove a folder and everything under it (symlinks are removed, never
 * followed). Returns 0, or -1 with errno set. */
int cb_remove_tree(const char *path);

#endif
