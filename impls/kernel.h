/* kernel.h — the contract between the harness and every kernel implementation.
 *
 * A kernel is a named computation over named float32 row-major tensors whose
 * shapes derive from integer (or real) parameters. Each backend (impls/<b>/)
 * supplies one cb_impl per kernel; impls/registry.c lists them all. The ref
 * backend is the oracle: it accumulates in double and is written for clarity.
 *
 * A probe is a deterministic experiment (no timing) that emits named metrics,
 * such as the error between two algebraic forms of the same computation.
 */
#ifndef CB_KERNEL_H
#define CB_KERNEL_H

#include <stddef.h>
#include <stdint.h>

#define CB_MAX_PARAMS 16
#define CB_MAX_TENSORS 8
#define CB_MAX_RANK 4
#define CB_NAME_MAX 48

/* ---- parameters: a small ordered name → number map ------------------- */
typedef struct cb_params {
    int n;
    char name[CB_MAX_PARAMS][CB_NAME_MAX];
    double value[CB_MAX_PARAMS];
} cb_params;

/* Index of `name`, or -1. */
int cb_params_find(const cb_params *p, const char *name);
int cb_params_has(const cb_params *p, const char *name);
/* Value of `name`, or `dflt` when absent. */
double cb_params_get(const cb_params *p, const char *name, double dflt);
/* Integer value (rounded) of `name`, or `dflt`. */
int64_t cb_params_int(const cb_params *p, const char *name, int64_t dflt);
/* Set (insert or overwrite). Returns 0, or -1 when full or name too long. */
int cb_params_set(cb_params *p, const char *name, double value);
/* Set only when absent (for defaults). Returns 0 or -1. */
int cb_params_default(cb_params *p, const char *name, double value);
/* Copy every entry of `src` into `dst` (overwriting). Returns 0 or -1. */
int cb_params_merge(cb_params *dst, const cb_params *src);
/* "H=8,N=1024,d=64" in insertion order; integers printed without a point,
 * other values with %.17g. Returns the length written (snprintf semantics). */
int cb_params_format(const cb_params *p, char *buf, size_t len);
/* Parse the format above. Returns 0, or -1 on a malformed string. */
int cb_params_parse(cb_params *p, const char *s);
/* 1 when every entry of `sub` is present in `p` with the same value. */
int cb_params_subset(const cb_params *sub, const cb_params *p);

/* ---- tensors ---------------------------------------------------------- */
typedef struct cb_shape {
    int rank;
    int64_t dim[CB_MAX_RANK];
} cb_shape;

typedef struct cb_tensor {
    char name[CB_NAME_MAX];
    cb_shape shape;
    float *data;        /* 64-byte aligned, owned by whoever allocated it */
} cb_tensor;

int64_t cb_shape_numel(const cb_shape *s);
/* "[8, 1024, 64]" */
int cb_shape_format(const cb_shape *s, char *buf, size_t len);
/* Allocate 64-byte aligned storage and pre-touch it (zero fill), so no page
 * fault lands inside a timed region. Returns 0, or -1 (errno set). */
int cb_tensor_alloc(cb_tensor *t, const char *name, const cb_shape *s);
void cb_tensor_free(cb_tensor *t);
/* Scratch for implementations: n floats, 64-byte aligned, zeroed (so
 * pre-touched: no page fault inside a timed run). Free with free(). NULL on
 * failure. */
float *cb_alloc_floats(size_t n);

/* ---- kernels: the contract, one per kernel ---------------------------- */
typedef struct cb_kernel {
    const char *name;
    const char *summary;                 /* one line, for `claimbench list` */
    const char *params_doc;              /* e.g. "H N M d dv causal scale" */
    int n_in;
    const char *in[CB_MAX_TENSORS];
    int n_out;
    const char *out[CB_MAX_TENSORS];
    /* Fill defaults into p, validate it, derive the input and output shapes.
     * Returns 0, or -1 with a message naming the offending parameter. */
    int (*shapes)(cb_params *p, cb_shape *in, cb_shape *out, char *err, size_t errlen);
    /* For `run`: set the shape parameters (H, N, d, ...) from user input
     * shapes; shapes() is called afterwards to check consistency. */
    int (*infer)(cb_params *p, const cb_shape *in, char *err, size_t errlen);
    /* Floating-point operations of one call (for GFLOP/s); 0 if meaningless. */
    double (*flops)(const cb_params *p);
} cb_kernel;

/* ---- implementations: one per kernel × backend ------------------------ */
typedef struct cb_impl {
    const char *kernel;
    const char *backend;
    const char *how;                     /* one line: how it computes */
    /* Optional (may be NULL): build state outside the timed region (oneDNN
     * primitives over the given buffers, scratch space, plans). The tensors
     * stay at the same addresses until release(). Returns 0, or -1 + err. */
    int (*prepare)(void **state, const cb_params *p, const cb_tensor *in,
                   cb_tensor *out, char *err, size_t errlen);
    /* The timed call. Returns 0, or -1 on a runtime failure. */
    int (*run)(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out);
    void (*release)(void *state);        /* may be NULL */
} cb_impl;

/* Run `im` once at parameters p on caller-owned input arrays (one per input
 * of k, in order, copied into fresh tensors) and return output 0 in a new
 * malloc'd array of *n floats that the caller frees: prepare, run, release,
 * as a probe needs them outside any timing. Returns 0, or -1 with err. */
int cb_impl_run_arrays(const cb_kernel *k, const cb_impl *im, cb_params *p,
                       const float *const *in, float **out, int64_t *n, char *err, size_t errlen);

/* The same, then run() again on the same prepared state with output 0
 * zeroed: *same = 1 when that second call returns 0 and gives the same bits,
 * what timing loops rely on (run() resets its own state). The kernel tests
 * use it on every backend. */
int cb_impl_run_arrays_twice(const cb_kernel *k, const cb_impl *im, cb_params *p,
                             const float *const *in, float **out, int64_t *n, int *same, char *err,
                             size_t errlen);

/* ---- probes: deterministic experiments emitting metrics --------------- */
typedef struct cb_metric {
    char name[CB_NAME_MAX];
    cb_params at;                        /* the parameters it was measured at */
    double value;
} cb_metric;

typedef struct cb_metrics {
    int n, cap;
    cb_metric *m;
} cb_metrics;

/* Append one metric (grows the array). Returns 0, or -1 on allocation failure. */
int cb_metrics_add(cb_metrics *ms, const char *name, const cb_params *at, double value);
void cb_metrics_free(cb_metrics *ms);

typedef struct cb_probe {
    const char *name;
    const char *summary;
    /* Run with the spec's parameters (defaults filled by the probe) and the
     * run's seed; append metrics. Returns 0, or -1 + err. */
    int (*run)(const cb_params *p, uint64_t seed, cb_metrics *out, char *err, size_t errlen);
} cb_probe;

/* ---- the registry (impls/registry.c) ---------------------------------- */
extern const cb_kernel *const cb_kernels[];     /* NULL-terminated */
extern const cb_impl *const cb_impls[];         /* NULL-terminated */
extern const cb_probe *const cb_probes[];       /* NULL-terminated */
const cb_kernel *cb_kernel_find(const char *name);
const cb_impl *cb_impl_find(const char *kernel, const char *backend);
const cb_probe *cb_probe_find(const char *name);

/* Shared small helper for error messages: snprintf into err if non-NULL,
 * return -1. */
int cb_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
