/* report.h — reports/<task>.md, reports/index.md and the figures, from a run.
 *
 * `claimbench report` (cb_cmd_report in cli.h) reads the latest run folder:
 * samples.tsv (the measurements), machine.tsv, verdicts.tsv when `verify`
 * has run, and the task specs. Each task's report is its spec's Markdown body
 * with generated sections woven in at marker lines
 *     <!-- claimbench:verdicts -->   <!-- claimbench:timings -->
 *     <!-- claimbench:agreement -->  <!-- claimbench:probes -->
 *     <!-- claimbench:figures -->    <!-- claimbench:machine -->
 * (a section whose marker is absent is appended at the end, in this order).
 * Figures are drawn with gnuplot into <reports>/figures/ as SVG and PNG.
 * Every file is written atomically. The run's verdicts.tsv and machine.tsv are
 * copied beside the reports, so a committed snapshot says what it measured
 * and where (the catalog reads its verdicts from there). It also writes
 * index.html and <task>.html (html.h) and, when the history holds two or more
 * runs, one trend figure per kernel and backend.
 */
#ifndef CB_REPORT_H
#define CB_REPORT_H

#include <stddef.h>

/* Write the reports of the run in folder run_dir for the specs in tasks_dir
 * into reports_dir (created if needed). Progress lines go to stderr unless
 * quiet. Returns a CB_EXIT_* code (cli.h): OK, USAGE for a bad spec, ERROR
 * for an I/O or gnuplot failure; err says what went wrong. */
int cb_report_write(const char *run_dir, const char *tasks_dir, const char *reports_dir,
                    int quiet, char *err, size_t errlen);

/* A duration with an automatic unit: "812 ns", "12.3 µs", "4.56 ms", "1.2 s". */
void cb_format_duration(double seconds, char *buf, size_t len);

#endif
