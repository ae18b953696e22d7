/* noise.h — telling a change in timing from the machine's noise.
 *
 * The statistics `claimbench compare` judges a timing change with, pure
 * functions of the repetitions (and, for the bootstrap, a seed):
 *
 *   - the two-sided Mann–Whitney U test on the repetitions of the two runs:
 *     exact (the permutation distribution of U) when there are no ties and
 *     both samples have at most CB_UTEST_EXACT_MAX values, otherwise the
 *     normal approximation with the tie and continuity corrections. These
 *     are the formulas of scipy.stats.mannwhitneyu (method "exact" and
 *     "asymptotic"), which Google Benchmark's compare.py calls;
 *   - the ratio of medians new/base with a percentile-bootstrap interval
 *     (base and new resampled independently);
 *   - the noise threshold: a high quantile of |log(median_b / median_a)|
 *     over the rows of pairs of same-commit runs, i.e. how far apart two
 *     medians of the same code land on this machine;
 *   - the machine class, the name a baseline and its noise are filed under.
 */
#ifndef CB_NOISE_H
#define CB_NOISE_H

#include <stddef.h>
#include <stdint.h>

/* Largest sample size for the exact U distribution (its table has
 * (n+1)·(m·n+1) doubles: 130 KB at 50 × 50). */
#define CB_UTEST_EXACT_MAX 50

typedef struct cb_utest {
    double u;       /* U statistic of the first sample: pairs x > y, ties 1/2 */
    double p;       /* two-sided p-value, in [0, 1] */
    int exact;      /* 1: exact permutation distribution; 0: normal approximation */
} cb_utest;

/* Two-sided Mann–Whitney U test of x (nx values) against y (ny). NaN values
 * are left out. Returns 0, or -1 when a sample is empty or on allocation
 * failure (then p = 1). */
int cb_mann_whitney(const double *x, int nx, const double *y, int ny, cb_utest *out);

/* The smallest two-sided p-value the exact test can give for these sizes
 * (2 / C(nx + ny, nx)): with 3 repetitions a side it is 0.1, so such a
 * comparison can never be significant at 0.05. */
double cb_utest_min_p(int nx, int ny);

/* Ratio of medians new/base and its percentile-bootstrap interval at
 * `level` (e.g. 0.95) from B resamples seeded with `seed`. With a single
 * value on a side, that side is not resampled. Returns 0, or -1 when a side
 * is empty, a median is not positive, or on allocation failure. */
int cb_ratio_ci(const double *base, int nb, const double *nw, int nn, int B, uint64_t seed,
                double level, double *ratio, double *lo, double *hi);

/* The threshold from pooled same-commit noise: abs_log holds n values of
 * |log(median_b / median_a)|; the result is exp(quantile_q) - 1 (a relative
 * change, 0.12 = 12%), but never below `floor`. NaN when n = 0. */
double cb_noise_threshold(const double *abs_log, int n, double q, double floor);

/* A stable name for a machine class from its CPU model and core count, as
 * machine.tsv records them: lower case, vendor marks and clock dropped,
 * words joined by '-', then "-<cores>c". "AMD EPYC" and "2" give
 * "amd-epyc-2c"; "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz" and "4"
 * give "intel-xeon-platinum-8375c-4c". NULL or empty fields give "unknown". */
void cb_machine_class(const char *cpu, const char *cores, char *buf, size_t len);

#endif
