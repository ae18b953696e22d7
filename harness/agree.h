/* agree.h — agreement of every backend with the ref oracle.
 *
 * For each kernel entry of a spec, each agreement size and each non-ref
 * backend: the same seeded inputs, every output compared with ref's by max
 * absolute error, max relative error and normalized L2 error; NaN or Inf
 * anywhere fails. Results are TAP lines (for `check`) and metric rows
 * (agree_max_abs, agree_max_rel, agree_nl2, agree_pass) for the run folder.
 *
 * Each comparison (one backend at one size) runs in a child process
 * (isolate.h) that builds the inputs, runs ref and the backend and sends
 * back the error statistics: a backend that crashes or hangs there fails
 * that comparison (TAP "not ok ... killed by SIGSEGV", an agree_pass row of
 * 0 and a fail row naming the signal) and the next one runs.
 */
#ifndef CB_AGREE_H
#define CB_AGREE_H

#include <stdio.h>

#include "spec.h"
#include "table.h"

typedef struct cb_errstats {
    double max_abs, max_rel, nl2;
    int64_t nonfinite;          /* NaN/Inf count in the candidate */
} cb_errstats;

/* Compare candidate x with reference y over n elements: max_abs, max_rel
 * (over points with y != 0, relative to |y|), nl2 = ||x−y||₂ / ||y||₂ (the
 * plain norm when y = 0) and the count of non-finite candidate values. */
void cb_errstats_compute(const float *x, const float *y, int64_t n, cb_errstats *st);

/* Points failing both tolerances (abs error > tol_abs and rel error >
 * tol_rel), non-finite candidates included. */
int64_t cb_count_out_of_tolerance(const float *x, const float *y, int64_t n,
                                  double tol_abs, double tol_rel);

/* Seconds one comparison may run before its child is killed and the
 * comparison failed. Agreement sizes are chosen small (a ref call takes
 * milliseconds to a second or two); 300 s still lets a sanitizer build on a
 * loaded 2-core machine through while bounding a hang. */
#define CB_AGREE_TIME_LIMIT 300.0

/* Run the agreement of one spec. TAP lines go to `tap` (may be NULL), with a
 * running test number in *test_no; rows go to `rows` (may be NULL). Returns
 * the number of failed comparisons, or -1 on a runtime error (err set; also
 * when the process was interrupted, see cb_isolate_interrupted). Each
 * comparison may run CB_AGREE_TIME_LIMIT seconds. */
int cb_agree_task(const cb_spec *s, uint64_t seed, FILE *tap, int *test_no,
                  cb_table *rows, char *err, size_t errlen);
/* The same with a time limit of limit_s seconds per comparison. */
int cb_agree_task_limit(const cb_spec *s, uint64_t seed, double limit_s, FILE *tap,
                        int *test_no, cb_table *rows, char *err, size_t errlen);

/* The child side of one comparison, `claimbench bench __agree SPEC ENTRY
 * SIZE BACKEND` (argv[0] is "__agree"): kernel entry ENTRY of the spec file
 * SPEC at agreement size SIZE (indices), ref against BACKEND; writes the
 * result to CB_ISOLATE_FD. Returns the process's exit code. */
int cb_agree_child(int argc, char **argv, uint64_t seed);

#endif
