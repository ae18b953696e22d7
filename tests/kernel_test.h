/* kernel_test.h — the kernel tests' way to set up a problem and run one
 * implementation on it (header-only). kt_inputs_make: parameters, the shapes
 * they give, and inputs from the tests' own generator (test_rng.h).
 * kt_run_twice: cb_impl_run_arrays_twice (kernel.h) with a diag line on
 * every failure: inputs copied into fresh tensors, prepare, run twice on one
 * prepared state (output 0 zeroed in between), release.
 *
 * The second run checks what timing loops rely on: run() resets its own
 * state, so calling it again on the same prepared state gives the same bits.
 * Every NULL return comes with a diag line saying why. */
#ifndef CB_KERNEL_TEST_H
#define CB_KERNEL_TEST_H

#include "kernel.h"

#include "tap.h"
#include "test_rng.h"

#include <stdlib.h>

/* Parse params for kernel, compute its shapes into in_shape/out_shape and
 * allocate its inputs x[0 .. n_in - 1] (n_in of the kernel; x has
 * CB_MAX_TENSORS slots), input t filled with normals of standard deviation
 * scale[t] (1 when scale is NULL) from stream seed * stride + t. Returns 0, or
 * -1 with a diag line and no input left allocated. */
static inline int kt_inputs_make(const char *kernel, const char *params, uint64_t seed,
                                 uint64_t stride, const double *scale, cb_params *p,
                                 cb_shape *in_shape, cb_shape *out_shape, float **x)
{
    char err[256] = "";
    const cb_kernel *k = cb_kernel_find(kernel);
    for (int t = 0; t < CB_MAX_TENSORS; t++)
        x[t] = NULL;
    if (!k || cb_params_parse(p, params) || k->shapes(p, in_shape, out_shape, err, sizeof err)) {
        diag("setup %s %s: %s", kernel, params, k ? err : "no such kernel");
        return -1;
    }
    for (int t = 0; t < k->n_in; t++) {
        const size_t n = (size_t)cb_shape_numel(&in_shape[t]);
        if (!(x[t] = malloc(n * sizeof(float)))) {
            diag("setup %s %s: out of memory", kernel, params);
            for (int u = 0; u < t; u++) {
                free(x[u]);
                x[u] = NULL;
            }
            return -1;
        }
        test_fill_normal_scaled(x[t], n, seed * stride + (uint64_t)t, scale ? scale[t] : 1.0);
    }
    return 0;
}

/* Free what kt_inputs_make allocated (x has CB_MAX_TENSORS slots). */
static inline void kt_inputs_free(float **x)
{
    for (int t = 0; t < CB_MAX_TENSORS; t++) {
        free(x[t]);
        x[t] = NULL;
    }
}

/* Run kernel/backend on inputs x[0 .. n_in - 1] at params p, twice on one
 * prepared state (cb_impl_run_arrays_twice). Returns output 0 (malloc'ed) or
 * NULL with a diag line saying why; *same = 1 when the second run returned 0
 * and gave the same bits, else 0 (same may be NULL). */
static inline float *kt_run_twice(const char *kernel, const char *backend, const cb_params *p,
                                  float *const *x, int *same)
{
    const cb_kernel *k = cb_kernel_find(kernel);
    const cb_impl *im = cb_impl_find(kernel, backend);
    int same_local = 0;
    if (same) *same = 0;
    if (!k || !im) {
        diag("%s/%s: no such %s", kernel, backend, k ? "implementation" : "kernel");
        return NULL;
    }
    cb_params q = *p;                /* shapes() may fill in defaults */
    float *res = NULL;
    int64_t n = 0;
    char err[256] = "";
    if (cb_impl_run_arrays_twice(k, im, &q, (const float *const *)x, &res, &n, &same_local, err,
                                 sizeof err)) {
        diag("%s/%s: %s", kernel, backend, err);
        return NULL;
    }
    if (same) *same = same_local;
    return res;
}

#endif
