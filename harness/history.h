/* history.h — every run appended to one SQLite database, all or nothing;
 * read back as per-series trends with their step changes flagged.
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
 *
 * A series is one (task, kernel, backend, parameters) of time rows, its runs
 * in date order (machine.tsv's date, then the run name). Step changes are
 * found by cb_hist_find_steps (see history.c for the test and its reasons).
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

/* ---- reading the history back: trends and their steps -------------------- */

#define CB_HIST_MAX_STEPS 8

/* Which series to read; NULL or "" fields match everything. params is a
 * cb_params string ("N=512,causal=1"): a series matches when it has every
 * one of these parameters with the same value. */
typedef struct cb_hist_filter {
    const char *task, *kernel, *backend, *params, *machine;
} cb_hist_filter;

/* One run of a series: its median time per call and its repetitions. */
typedef struct cb_hist_point {
    char run[160];
    char commit[48];
    char date[40];
    char machine[128];          /* hostname */
    int n;                      /* repetitions */
    double *v;                  /* the n repetitions, seconds per call */
    double median, min, max;
} cb_hist_point;

/* A flagged step: the run median moves between runs at-1 and at and stays
 * moved (at least CB_HIST_MIN_SIDE runs on each side). */
typedef struct cb_hist_step {
    int at;                     /* index of the first run after the step */
    double before, after;       /* medians of the run medians of the two segments */
    double change;              /* after / before - 1 */
    double threshold;           /* |relative change| this split had to exceed */
    double z;                   /* |log change| in standard errors of the difference */
} cb_hist_step;

typedef struct cb_hist_series {
    char task[64];
    char kernel[CB_NAME_MAX];
    char backend[16];
    char params[CB_MAX_PARAMS * (CB_NAME_MAX + 32)];   /* names sorted */
    int n, cap;
    cb_hist_point *p;           /* in date order */
    double noise;               /* sd of log(run median): relative noise of one run */
    int n_steps;
    cb_hist_step steps[CB_HIST_MAX_STEPS];   /* in run order */
} cb_hist_series;

typedef struct cb_hist_set {
    int n, cap;
    cb_hist_series *s;          /* ordered by task, kernel, backend, parameters */
} cb_hist_set;

/* The segments each side of a step hold at least this many runs (a single
 * slow or fast run is noise, not a step); the smallest relative change
 * flagged, whatever the noise (asv's default regression threshold). */
#define CB_HIST_MIN_SIDE 2
#define CB_HIST_MIN_CHANGE 0.05
/* Standard errors the difference of segment medians must exceed. */
#define CB_HIST_Z 3.5

/* Read every time series matching f from db (which must exist; a database
 * without the schema yet holds no series), with its steps found. Fills
 * *out (free with cb_hist_set_free). Returns 0, or -1 with err. */
int cb_history_series(const char *db, const cb_hist_filter *f, cb_hist_set *out, char *err,
                      size_t errlen);
void cb_hist_set_free(cb_hist_set *set);

/* Estimate s->noise from the series' repetitions and run medians and flag
 * its steps (s->steps, s->n_steps). Pure: a function of the data only.
 * Returns 0, or -1 on allocation failure. */
int cb_hist_find_steps(cb_hist_series *s);

#endif
