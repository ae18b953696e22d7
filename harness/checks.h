/* checks.h — the closed set of claim checks, each decided from measured data.
 *
 * A check reads series from a cb_table (the run's measurements, all
 * repetitions), computes its figure with a bootstrap 95% interval where the
 * data has repetitions, and returns a verdict:
 *   reproduced      the interval lies inside the expected range
 *   not reproduced  the interval lies outside it (or the data contradicts)
 *   inconclusive    the interval straddles a bound, or too little data
 * The bootstrap is seeded, so a verdict is a pure function of the data.
 */
#ifndef CB_CHECKS_H
#define CB_CHECKS_H

#include "spec.h"
#include "table.h"

typedef enum { CB_REPRODUCED, CB_NOT_REPRODUCED, CB_INCONCLUSIVE } cb_verdict_kind;

typedef struct cb_verdict {
    char task[64];
    char check[64];
    cb_check_type type;
    cb_verdict_kind verdict;
    double measured;            /* the check's figure (slope, ratio, crossover, worst value) */
    int has_interval;
    double lo, hi;              /* bootstrap 95% interval of `measured` */
    char expected[128];         /* the range it was held to, as text, e.g. "[0.85, 1.2]" */
    char paper[256];            /* copied from the check */
    char detail[512];           /* how it was decided, with the numbers */
} cb_verdict;

/* Evaluate one check of `task` against the table. Never fails: missing data
 * gives an inconclusive verdict saying what is missing. */
void cb_check_eval(const cb_check *c, const char *task, const cb_table *t,
                   uint64_t seed, cb_verdict *out);

const char *cb_verdict_name(cb_verdict_kind v);   /* "reproduced", "not reproduced", "inconclusive" */

#endif
