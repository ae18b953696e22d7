/* gbench_shim.h — Google Benchmark 1.7.1 from C: run one timed case at a time.
 *
 * The C side never sees the C++ header. A case is registered, run and cleared
 * in one call (gb_run_case), so the harness decides the order of cases, prints
 * its own progress and enforces its own time budget. Google Benchmark's own
 * JSONReporter writes the case's JSON, untouched, to a file (compare.py and
 * other tools read it), while each run is also handed back to C.
 *
 * Timing is real (wall-clock) time: the kernels are multi-threaded libraries,
 * and CPU time would count the calling thread only. Repetitions, min_time and
 * the warm-up time are set through the library's flags, not per benchmark,
 * because per-benchmark settings are appended to the benchmark's name
 * ("…/min_warmup_time:0.200/repeats:5") and names must stay stable for
 * compare.py across runs with other settings.
 *
 * Debian's libbenchmark is a debug build: its JSON context says
 * "library_build_type": "debug". That concerns the library's own loop, which
 * is negligible for µs–ms kernels; the console warning about it is never
 * printed because the shim does not use the console reporter.
 */
#ifndef CB_GBENCH_SHIM_H
#define CB_GBENCH_SHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Opaque: a benchmark::State seen from C. */
typedef struct gb_state gb_state;
/* The benchmark body: loop `while (gb_keep_running(st)) { ...one call... }`. */
typedef void (*gb_fn)(gb_state *st, void *ctx);

typedef struct gb_case_opts {
    int repetitions;            /* ≥ 1 */
    double min_time;            /* seconds per repetition (Google Benchmark decides iterations) */
    double min_warmup_time;     /* seconds of untimed warm-up before the first repetition */
    int64_t iterations;         /* fixed iterations per repetition; 0 = automatic.
                                   Non-zero adds "iterations:N" to the name. */
} gb_case_opts;

/* One run as Google Benchmark reported it: a repetition, or an aggregate
 * (mean, median, stddev, cv) computed by the library. */
typedef struct gb_result {
    const char *name;           /* the full benchmark name, e.g. "x/y/real_time" */
    int aggregate;              /* 0: one repetition; 1: an aggregate */
    const char *aggregate_name; /* "" for repetitions */
    int64_t repetition_index;   /* -1 for aggregates */
    int64_t iterations;         /* calls timed in this repetition */
    double real_seconds;        /* real time per iteration, seconds (for cv: a fraction) */
    double cpu_seconds;         /* calling thread's CPU time per iteration, seconds */
    int error;                  /* the body called gb_skip_with_error */
    const char *error_message;  /* "" unless error */
} gb_result;

/* Receives every run of a case, in the order the library reports them;
 * the pointers are valid during the call only. */
typedef void (*gb_result_cb)(const gb_result *r, void *user);

/* Parse Google Benchmark's own --benchmark_* flags out of argv (argc is
 * updated); argv[0] becomes the "executable" in the JSON context and must
 * outlive every run. Returns the number of arguments left that are not
 * flags of the library (0 when all were understood). */
int gb_initialize(int *argc, char **argv);

/* Add key=value to the JSON "context" of every following case; a key that
 * exists already gets the new value. Returns 0, or -1 on allocation failure. */
int gb_add_context(const char *key, const char *value);

/* Register `name`, run it with options `o`, write Google Benchmark's JSON to
 * json_path (through a temporary file in the same folder, renamed when
 * complete), call cb for each run (may be NULL), then clear the registry.
 * Returns 0 when every repetition ran; 1 when the body reported an error
 * (err holds its message; the JSON is still written); -1 on a failure to
 * write the JSON or another library failure (err says which). */
int gb_run_case(const char *name, gb_fn fn, void *ctx, const gb_case_opts *o,
                const char *json_path, gb_result_cb cb, void *user,
                char *err, size_t errlen);

/* Free the library's global context (call once at the end). */
void gb_shutdown(void);

/* ---- inside the body ---------------------------------------------------- */
int gb_keep_running(gb_state *st);                /* 1 while another iteration is wanted */
void gb_pause_timing(gb_state *st);
void gb_resume_timing(gb_state *st);
int64_t gb_iterations_done(gb_state *st);

enum {
    GB_COUNTER_DEFAULT = 0,        /* the value as given */
    GB_COUNTER_RATE = 1,           /* value / seconds */
    GB_COUNTER_ITER_RATE = 2,      /* value × iterations / seconds (e.g. FLOP per call → FLOP/s) */
    GB_COUNTER_AVG_ITER = 3,       /* value / iterations */
};
/* Set a user counter (a plain field in the JSON); kind is a GB_COUNTER_*. */
void gb_set_counter(gb_state *st, const char *name, double value, int kind);
void gb_set_label(gb_state *st, const char *label);
/* Mark this run failed; the body must return (or break out of its loop). */
void gb_skip_with_error(gb_state *st, const char *msg);
/* Keep the compiler from discarding what p points to, and from reordering
 * memory accesses across the call. */
void gb_do_not_optimize(void *p);
void gb_clobber_memory(void);

#ifdef __cplusplus
}
#endif

#endif
