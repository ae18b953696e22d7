/* table.h — the measurements of one run, as rows, and their TSV form.
 *
 * Every stage after `bench` reads measured data only through this table:
 * checks select series from it, reports draw it, history stores it. A row is
 * one (task, kernel-or-probe, backend, metric, parameters) point with all its
 * repetitions, so statistics (medians, bootstrap intervals) are computed from
 * the raw repetitions and never from pre-digested numbers.
 *
 * File form (results/<run>/samples.tsv), one row per line, tab separated:
 *   kind  task  kernel  backend  metric  params  note  v1,v2,...
 * kind is time|metric|skip|fail; params is cb_params_format(); values are
 * %.17g; note is free text without tabs or newlines ("-" when empty).
 */
#ifndef CB_TABLE_H
#define CB_TABLE_H

#include "../impls/kernel.h"

typedef enum { CB_ROW_TIME, CB_ROW_METRIC, CB_ROW_SKIP, CB_ROW_FAIL } cb_row_kind;

typedef struct cb_row {
    cb_row_kind kind;
    char task[64];
    char kernel[CB_NAME_MAX];   /* kernel name, or probe name for metrics */
    char backend[16];           /* backend, or "-" for probes */
    char metric[CB_NAME_MAX];   /* "time" (seconds per call) or a metric name */
    cb_params params;
    char note[256];             /* skip/fail reason, or a label */
    int n;                      /* repetitions */
    double *v;                  /* n values */
} cb_row;

typedef struct cb_table {
    int n, cap;
    cb_row *rows;
} cb_table;

/* Append a row (copies v). Returns 0, or -1 on allocation failure. */
int cb_table_add(cb_table *t, cb_row_kind kind, const char *task, const char *kernel,
                 const char *backend, const char *metric, const cb_params *params,
                 const double *v, int n, const char *note);
/* Append every row of src. */
int cb_table_extend(cb_table *dst, const cb_table *src);
void cb_table_free(cb_table *t);

/* Write atomically (temp file in the same folder, fsync, rename). */
int cb_table_write(const cb_table *t, const char *path, char *err, size_t errlen);
/* Read a file written by cb_table_write; errors name path and line. */
int cb_table_read(cb_table *t, const char *path, char *err, size_t errlen);

/* First row matching every non-NULL string field (kind must match too) and
 * whose params contain `where` (cb_params_subset; NULL matches all). */
const cb_row *cb_table_find(const cb_table *t, cb_row_kind kind, const char *task,
                            const char *kernel, const char *backend,
                            const char *metric, const cb_params *where);

/* Collect the series of rows matching as above, sorted by the value of the
 * parameter `x` (rows without it are left out). Fills up to cap row pointers
 * and returns how many. */
int cb_table_series(const cb_table *t, cb_row_kind kind, const char *task,
                    const char *kernel, const char *backend, const char *metric,
                    const cb_params *where, const char *x,
                    const cb_row **out, int cap);

const char *cb_row_kind_name(cb_row_kind k);
int cb_row_kind_parse(const char *s, cb_row_kind *k);

#endif
