/* spec.h — a task spec: the YAML front matter of tasks/<id>.md, loaded.
 *
 * The loader (spec.c, libyaml) refuses a bad spec with "file:line: field:
 * message" and fills nothing the caller may use. See tasks/README.md for the
 * format as a task author meets it.
 */
#ifndef CB_SPEC_H
#define CB_SPEC_H

#include "../impls/kernel.h"

#define CB_SPEC_MAX_KERNELS 16
#define CB_SPEC_MAX_BACKENDS 8
#define CB_SPEC_MAX_SWEEP 32
#define CB_SPEC_MAX_PROBES 8
#define CB_SPEC_MAX_AGREE 8
#define CB_SPEC_MAX_CHECKS 24
#define CB_SPEC_MAX_INPUTS 8
#define CB_SPEC_MAX_FIGURES 8
#define CB_FIGURE_MAX_METRICS 8

typedef enum {
    CB_CHECK_SCALING, CB_CHECK_CROSSOVER, CB_CHECK_RATIO, CB_CHECK_TREND,
    CB_CHECK_ORDER, CB_CHECK_BOUND, CB_CHECK_EQUIVALENCE
} cb_check_type;

/* One measured series: a kernel (timed) or a probe (metrics). */
typedef struct cb_series_ref {
    char kernel[CB_NAME_MAX];   /* kernel or probe name */
    char backend[16];           /* backend; "-" for probes */
    char metric[CB_NAME_MAX];   /* "time" for timings (default), else a metric */
} cb_series_ref;

typedef struct cb_check {
    char name[64];
    cb_check_type type;
    int line;                   /* line of the check in the spec file */
    cb_series_ref a;            /* every type */
    cb_series_ref b;            /* crossover, ratio, order: the other side */
    char param[CB_NAME_MAX];    /* scaling, crossover, trend: the swept parameter */
    cb_params where;            /* fixed parameters the rows must carry
                                   (ratio: includes the point, e.g. N=8192) */
    double lo, hi;              /* expected range, meaning by type:
                                   scaling/trend: slope in [lo, hi]
                                   crossover: crossover value in [lo, hi]
                                   ratio: a/b in [lo, hi] (hi may be +inf)
                                   bound: every value in [lo, hi]
                                   equivalence: every value <= hi (lo unused)
                                   order: a < b (lo, hi unused) */
    char paper[256];            /* the paper's figure, as text */
} cb_check;

/* Input distribution for one named input tensor. */
typedef struct cb_input_spec {
    char name[CB_NAME_MAX];
    int uniform;                /* 0: normal(0, scale); 1: uniform[lo, hi) */
    double scale, lo, hi;
} cb_input_spec;

/* One timed kernel entry; the same kernel may appear with other params. */
typedef struct cb_spec_kernel {
    char name[CB_NAME_MAX];
    int n_backends;
    char backends[CB_SPEC_MAX_BACKENDS][16];
    cb_params params;           /* merged over the spec's params */
    int has_sweep;              /* own sweep values (same parameter) */
    int n_sweep;
    double sweep[CB_SPEC_MAX_SWEEP];
    double tol_max_abs, tol_max_rel, tol_nl2;  /* < 0: the spec's default */
    int line;
} cb_spec_kernel;

typedef struct cb_spec_probe {
    char name[CB_NAME_MAX];
    cb_params params;           /* merged over the spec's params */
    int line;
} cb_spec_probe;

/* A figure of probe metrics against one of their parameters (the spec's
 * `figures:`): a line per metric (and per value of any parameter that is
 * neither x nor fixed by `where`). */
typedef struct cb_spec_figure {
    char title[160];
    char probe[CB_NAME_MAX];    /* a probe of this spec */
    char x[CB_NAME_MAX];        /* the parameter on the x axis */
    int n_metrics;
    char metrics[CB_FIGURE_MAX_METRICS][CB_NAME_MAX];
    cb_params where;            /* fixed parameters the rows must carry */
    char ylabel[96];            /* default "value" */
    int logx, logy;             /* 1 log axis, 0 linear, -1 decided from the data */
    int line;
} cb_spec_figure;

typedef struct cb_spec {
    char path[512];
    char id[64];
    char paper[512];            /* exactly as in the paper list */
    char *claim;                /* one paragraph */
    cb_params params;           /* fixed parameters for every kernel */
    char sweep_param[CB_NAME_MAX];
    int n_sweep;
    double sweep[CB_SPEC_MAX_SWEEP];
    int n_kernels;
    cb_spec_kernel kernels[CB_SPEC_MAX_KERNELS];
    int n_probes;
    cb_spec_probe probes[CB_SPEC_MAX_PROBES];
    int n_inputs;
    cb_input_spec inputs[CB_SPEC_MAX_INPUTS];
    int n_agree;                /* agreement sizes as written; callers merge
                                   them over params and the kernel's params */
    cb_params agree[CB_SPEC_MAX_AGREE];
    double tol_max_abs, tol_max_rel, tol_nl2;  /* agreement tolerances; a
                                   point passes if abs err <= max_abs OR rel
                                   err <= max_rel; the output passes if every
                                   point passes and nl2 <= tol_nl2 */
    int n_checks;
    cb_check checks[CB_SPEC_MAX_CHECKS];
    int n_figures;
    cb_spec_figure figures[CB_SPEC_MAX_FIGURES];
    int repetitions;            /* timing repetitions (default 5) */
    double min_time;            /* seconds per repetition (default 0.05) */
    double budget;              /* seconds allowed per timed case (default 20) */
    char *body;                 /* the Markdown after the front matter */
    int body_line;              /* its first line number */
} cb_spec;

/* Load and validate one spec: kernels, probes and backends must exist in
 * the registry; check types and fields must be known and complete.
 * Returns 0, or -1 with err = "path:line: field: message". */
int cb_spec_load(const char *path, cb_spec *s, char *err, size_t errlen);
void cb_spec_free(cb_spec *s);

/* The check named `name` (names are unique in a loaded spec), or NULL. */
const cb_check *cb_spec_find_check(const cb_spec *s, const char *name);

/* Load every <dir>/<name>.md except README.md, sorted by file name; two
 * specs with the same id are an error. On success *out holds *n specs
 * (free with cb_spec_free_all). */
int cb_spec_load_dir(const char *dir, cb_spec **out, int *n, char *err, size_t errlen);
void cb_spec_free_all(cb_spec *s, int n);

const char *cb_check_type_name(cb_check_type t);
int cb_check_type_parse(const char *s, cb_check_type *t);

#endif
