/* history.h — every run appended to one SQLite database, all or nothing.
 *
 * Schema (created when absent):
 *   runs(run PRIMARY KEY = the run folder's name, commit_id, date, hostname,
 *        cpu, openblas_corename, openblas_config, dnnl_version, dnnl_isa,
 *        omp_threads, openblas_threads, seed, machine = machine.tsv verbatim,
 *        added_at)
 *   samples(run → runs, commit_id, hostname, task, kind, kernel, backend,
 *           metric, params, note, n, median, min, max, vals = "v1,v2,...")
 *   index samples_key on samples(commit_id, hostname, backend, kernel, params)
 * A run is appended in one IMMEDIATE transaction: either all its rows are in
 * the history or none are, whatever interrupts it.
 */
#ifndef CB_HISTORY_H
#define CB_HISTORY_H

#include <stddef.h>

#include "table.h"

/* Append the run in folder run_dir (its machine.tsv gives the runs row; its
 * measurements are t) to the database file db, creating file and schema if
 * absent. A run id already present is refused. Returns 0, or -1 with err
 * (and the database unchanged). */
int cb_history_append(const char *db, const char *run_dir, const cb_table *t, char *err,
                      size_t errlen);

/* Number of runs in db (0 when it has no schema yet). The file must exist.
 * Returns 0, or -1 with err. */
int cb_history_count_runs(const char *db, int *n, char *err, size_t errlen);

#endif
