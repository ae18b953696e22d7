/* faulty.c (testing) — selftest_fault: a deliberately faulty kernel, for tests only.
 *
 * tests/t_isolation.t needs a backend that crashes or hangs on one case, to
 * show that the harness records that case as failed and goes on. The
 * computation is y = scale·x over N floats (the identity by default; scale 0
 * gives the all-zero output that agreement must refuse to count as a test,
 * tests/t_isolation.t); two backends:
 *
 *   ref     always correct;
 *   faulty  correct, except when N == fault_at, where run() misbehaves by
 *           `mode`: 0 not at all, 1 dies of SIGSEGV, 2 calls abort() (SIGABRT),
 *           3 hangs (sleeps until killed).
 *
 * Parameters: N (≥ 1), mode (0-3, default 0), fault_at (default -1: never),
 * scale (default 1).
 * No task in tasks/ uses it; `claimbench list` says so in its summary.
 */
#define _POSIX_C_SOURCE 200809L
#include "kernel.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the contract ------------------------------------------------------ */

static int sf_shapes(cb_params *p, cb_shape *in, cb_shape *out, char *err, size_t errlen)
{
    double N = cb_params_get(p, "N", NAN);
    if (!(N >= 1 && N <= 1e9 && N == floor(N)))
        return cb_fail(err, errlen, "selftest_fault: N must be an integer >= 1");
    /* scale is read where used, not filled in, so the usual cases keep
     * their parameter strings (tests/t_isolation.t matches on them). */
    if (cb_params_default(p, "mode", 0) || cb_params_default(p, "fault_at", -1))
        return cb_fail(err, errlen, "selftest_fault: too many parameters");
    double mode = cb_params_get(p, "mode", 0);
    if (!(mode >= 0 && mode <= 3 && mode == floor(mode)))
        return cb_fail(err, errlen, "selftest_fault: mode must be 0 (ok), 1 (SIGSEGV), 2 (abort) or 3 (hang)");
    in[0] = (cb_shape){1, {(int64_t)N}};
    out[0] = (cb_shape){1, {(int64_t)N}};
    return 0;
}

static int sf_infer(cb_params *p, const cb_shape *in, char *err, size_t errlen)
{
    if (in[0].rank != 1)
        return cb_fail(err, errlen, "selftest_fault: x must be a vector [N]");
    if (cb_params_set(p, "N", (double)in[0].dim[0]))
        return cb_fail(err, errlen, "selftest_fault: too many parameters");
    return 0;
}

const cb_kernel cb_kernel_selftest_fault = {
    .name = "selftest_fault",
    .summary = "test-only (tests/t_isolation.t): y = scale x; backend faulty crashes or hangs at N = fault_at",
    .params_doc = "N mode(=0: ok, 1 SIGSEGV, 2 abort, 3 hang) fault_at(=-1: never) scale(=1)",
    .n_in = 1,
    .in = {"x"},
    .n_out = 1,
    .out = {"y"},
    .shapes = sf_shapes,
    .infer = sf_infer,
    .flops = NULL,
};

/* ---- the implementations ----------------------------------------------- */

static int sf_copy(const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    int64_t n = cb_params_int(p, "N", 0);
    float scale = (float)cb_params_get(p, "scale", 1);
    for (int64_t i = 0; i < n; i++)
        out[0].data[i] = scale * in[0].data[i];
    return 0;
}

static int ref_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)state;
    return sf_copy(p, in, out);
}

static int faulty_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)state;
    if (cb_params_int(p, "N", 0) == cb_params_int(p, "fault_at", -1)) {
        switch (cb_params_int(p, "mode", 0)) {
        case 1:
            /* The default action, whatever handler a sanitizer runtime has
             * installed, so the process dies of SIGSEGV in every build. */
            signal(SIGSEGV, SIG_DFL);
            raise(SIGSEGV);
            break;
        case 2:
            abort();
        case 3:
            for (;;)
                pause();
        default:
            break;
        }
    }
    return sf_copy(p, in, out);
}

const cb_impl cb_impl_ref_selftest_fault = {
    .kernel = "selftest_fault",
    .backend = "ref",
    .how = "y = scale x, element by element",
    .run = ref_run,
};

const cb_impl cb_impl_faulty_selftest_fault = {
    .kernel = "selftest_fault",
    .backend = "faulty",
    .how = "y = scale x, but SIGSEGV, abort() or a hang at N = fault_at (test-only)",
    .run = faulty_run,
};
