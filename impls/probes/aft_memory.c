/* aft_memory.c — probe: the peak memory of the AFT kernels, measured.
 *
 * Zhai et al. (2021) claim AFT's memory is linear in the context size N and
 * the feature size d: AFT-full's Eq. 2 reads as an N × N × d array of
 * weights exp(k_t'c + w_t,t'), and the point is that no implementation
 * needs to build it. This probe measures, for each implementation, the
 * growth of the process's peak resident memory (VmHWM), which counts every
 * page the implementation touches: its own scratch, oneDNN's scratchpad
 * (user-managed in these kernels), anything malloc'd inside run().
 *
 * How one case is measured (kernel, backend, N, d):
 *   1. warm-up, before the first (smallest) size of each series only:
 *      inputs allocated and filled, prepare/run/release, freed, so one-time
 *      costs (OpenBLAS's per-thread buffers, OpenMP threads' stacks, code
 *      pages) are resident before the measurements; what a larger size adds
 *      to them (oneDNN JIT code for its shapes: kilobytes) is counted;
 *   2. malloc_trim(0), so freed heap pages are returned and a later
 *      allocation that reuses them must fault them in again (and is seen);
 *   3. reset the peak to the current RSS (write "5" to /proc/self/clear_refs,
 *      Linux >= 4.0), allocate and fill the inputs and outputs: io bytes;
 *   4. reset again, prepare + run: extra bytes = peak - RSS before.
 * Page granularity (4 KiB) and the few allocations of oneDNN's primitive
 * creation are the noise; both are O(1) in N.
 *
 * Metrics, all at {N, d} (bytes):
 *   peak_bytes_aft_simple_<ref|blas|dnnl>  io + extra, N = Ns/8 .. Ns
 *   extra_bytes_aft_simple_<b>             extra only
 *   extra_bytes_aft_full_<b>, extra_frac_aft_full_<b> = extra / (4 N² d),
 *     the fraction of the N × N × d float tensor the implementation holds:
 *       blas, dnnl  N = N/8 .. N at d, and d = dmax/16 .. dmax at N/2
 *       ref         N = Nref/2, Nref at d
 *       naive       N = Nnaive/2, Nnaive at d: Eq. 2 with the N × N × d
 *                   tensor built (below), the positive control that shows
 *                   the measurement sees such a tensor (extra_frac ≈ 1).
 * Params (defaults): d 64, N 8192, Ns 65536, dmax 256, Nref 1024, Nnaive 512.
 * Inputs: standard normal from the counter-based generator, one block of
 * 65536 values per tensor repeated (the values do not matter for memory,
 * only that they are finite and typical).
 */
#define _DEFAULT_SOURCE   /* malloc_trim */
#include "kernel.h"
#include "rng.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the naive AFT-full: the N × N × d tensor, built ------------------- */

/* T[t, t', c] = k_t'c + w_t,t', then per (t, c) a softmax over t' and the
 * weighted sum of v: what a direct tensor formulation (for instance
 * torch.softmax over a broadcast K + w) computes. Allocated inside run(),
 * as such code does. */
static int naive_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)state;
    const int64_t N = cb_params_int(p, "N", 0), d = cb_params_int(p, "d", 0);
    const float *q = in[0].data, *k = in[1].data, *v = in[2].data, *w = in[3].data;
    float *T = malloc((size_t)(N * N * d) * sizeof *T);
    if (!T) return -1;
    for (int64_t t = 0; t < N; t++)
        for (int64_t u = 0; u < N; u++)
            for (int64_t c = 0; c < d; c++)
                T[(t * N + u) * d + c] = k[u * d + c] + w[t * N + u];
    for (int64_t t = 0; t < N; t++)
        for (int64_t c = 0; c < d; c++) {
            float mx = -INFINITY, num = 0, den = 0;
            for (int64_t u = 0; u < N; u++)
                mx = T[(t * N + u) * d + c] > mx ? T[(t * N + u) * d + c] : mx;
            for (int64_t u = 0; u < N; u++) {
                float e = expf(T[(t * N + u) * d + c] - mx);
                num += e * v[u * d + c];
                den += e;
            }
            out[0].data[t * d + c] = num / den / (1.0f + expf(-q[t * d + c]));
        }
    free(T);
    return 0;
}

static const cb_impl naive_full = {
    .kernel = "aft_full",
    .backend = "naive",
    .how = "Eq. 2 with the N x N x d tensor k + w materialized (memory control)",
    .run = naive_run,
};

/* ---- peak resident memory --------------------------------------------- */

/* A field of /proc/self/status ("VmHWM", "VmRSS") in bytes, or -1. Read
 * with open/read into a stack buffer: no heap allocation of its own. */
static int64_t status_bytes(const char *field)
{
    char buf[8192];
    int fd = open("/proc/self/status", O_RDONLY);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = '\0';
    size_t len = strlen(field);
    for (char *s = buf; (s = strstr(s, field)) != NULL; s += len)
        if ((s == buf || s[-1] == '\n') && s[len] == ':')
            return (int64_t)strtoll(s + len + 1, NULL, 10) * 1024;   /* kB */
    return -1;
}

/* Reset the peak (VmHWM) to the current RSS. Returns 0 or -1 (errno). */
static int reset_peak(void)
{
    int fd = open("/proc/self/clear_refs", O_WRONLY);
    if (fd < 0) return -1;
    ssize_t n = write(fd, "5", 1);
    int e = errno;
    close(fd);
    errno = e;
    return n == 1 ? 0 : -1;
}

/* ---- one case ------------------------------------------------------------ */

typedef struct tensors {
    int n_in;
    cb_tensor in[CB_MAX_TENSORS], out[CB_MAX_TENSORS];
} tensors;

static void tensors_free(tensors *t)
{
    for (int i = 0; i < CB_MAX_TENSORS; i++) {
        cb_tensor_free(&t->in[i]);
        cb_tensor_free(&t->out[i]);
    }
}

/* Standard normal values for input `name`: the first FILL_BLOCK elements of
 * its stream, repeated. The values only have to be finite and typical; the
 * generator costs ~15-80 ns per element here, which would make filling
 * w at N = 8192 (67M elements) the slowest part of the probe. */
enum { FILL_BLOCK = 1 << 16 };

static void fill_tiled(float *x, size_t n, uint64_t seed, const char *name)
{
    size_t b = n < FILL_BLOCK ? n : FILL_BLOCK;
    cb_rng_normal(x, b, seed, cb_rng_stream(name), 1.0f);
    for (size_t i = b; i < n; i += b)
        memcpy(x + i, x, (n - i < b ? n - i : b) * sizeof *x);
}

static int tensors_make(tensors *t, const cb_kernel *k, const cb_shape *ish, const cb_shape *osh, uint64_t seed)
{
    memset(t, 0, sizeof *t);
    for (int i = 0; i < k->n_in; i++) {
        if (cb_tensor_alloc(&t->in[i], k->in[i], &ish[i]))
            return -1;
        fill_tiled(t->in[i].data, (size_t)cb_shape_numel(&ish[i]), seed, k->in[i]);
    }
    for (int o = 0; o < k->n_out; o++)
        if (cb_tensor_alloc(&t->out[o], k->out[o], &osh[o]))
            return -1;
    return 0;
}

static int prepare_run_release(const cb_impl *im, const cb_params *p, tensors *t, char *err, size_t errlen)
{
    void *state = NULL;
    if (im->prepare && im->prepare(&state, p, t->in, t->out, err, errlen))
        return -1;
    int rc = im->run(state, p, t->in, t->out);
    if (im->release) im->release(state);
    if (rc)
        return cb_fail(err, errlen, "aft_memory: %s/%s run failed", im->kernel, im->backend);
    return 0;
}

/* Measure im at {N, d}: *io = bytes of the inputs and outputs, *extra =
 * peak growth during prepare + run. With warm = 1, a warm-up run at the same
 * size comes first (the first size of every series). */
static int measure(const cb_impl *im, int64_t N, int64_t d, int warm, uint64_t seed, double *io,
                   double *extra, char *err, size_t errlen)
{
    const cb_kernel *k = cb_kernel_find(im->kernel);
    if (!k) return cb_fail(err, errlen, "aft_memory: no kernel %s", im->kernel);
    cb_params p = {0};
    cb_shape ish[CB_MAX_TENSORS], osh[CB_MAX_TENSORS];
    if (cb_params_set(&p, "N", (double)N) || cb_params_set(&p, "d", (double)d) ||
        k->shapes(&p, ish, osh, err, errlen))
        return -1;
    tensors t;
    int rc = 0;
    if (warm) {                                              /* 1. warm-up */
        rc = tensors_make(&t, k, ish, osh, seed);
        if (rc == 0)
            rc = prepare_run_release(im, &p, &t, err, errlen);
        else
            cb_fail(err, errlen, "aft_memory: out of memory at N = %lld", (long long)N);
        tensors_free(&t);
        if (rc) return -1;
    }
    malloc_trim(0);                                          /* 2. */
    if (reset_peak() != 0)                                   /* 3. */
        return cb_fail(err, errlen, "aft_memory: cannot reset the peak RSS (/proc/self/clear_refs): %s",
                       strerror(errno));
    int64_t base0 = status_bytes("VmHWM");
    if (tensors_make(&t, k, ish, osh, seed)) {
        tensors_free(&t);
        return cb_fail(err, errlen, "aft_memory: out of memory at N = %lld", (long long)N);
    }
    int64_t mid = status_bytes("VmHWM");
    if (reset_peak() != 0) {                                 /* 4. */
        tensors_free(&t);
        return cb_fail(err, errlen, "aft_memory: cannot reset the peak RSS: %s", strerror(errno));
    }
    int64_t base1 = status_bytes("VmHWM");
    rc = prepare_run_release(im, &p, &t, err, errlen);
    int64_t peak = status_bytes("VmHWM");
    tensors_free(&t);
    if (rc) return -1;
    if (base0 < 0 || mid < 0 || base1 < 0 || peak < 0)
        return cb_fail(err, errlen, "aft_memory: cannot read VmHWM from /proc/self/status");
    *io = (double)(mid - base0);
    *extra = (double)(peak - base1);
    return 0;
}

/* ---- the probe ------------------------------------------------------------ */

static int get_dim(cb_params *p, const char *name, int64_t lo, int64_t *out, char *err, size_t errlen)
{
    double v = cb_params_get(p, name, 0);
    if (!(v >= (double)lo && v <= 1e7 && v == floor(v)))
        return cb_fail(err, errlen, "aft_memory: %s = %g must be an integer >= %lld", name, v, (long long)lo);
    *out = (int64_t)v;
    return 0;
}

static int emit(cb_metrics *ms, const char *prefix, const char *backend, int64_t N, int64_t d, double value,
                char *err, size_t errlen)
{
    char name[CB_NAME_MAX];
    cb_params at = {0};
    snprintf(name, sizeof name, "%s%s", prefix, backend);
    if (cb_params_set(&at, "N", (double)N) || cb_params_set(&at, "d", (double)d) ||
        cb_metrics_add(ms, name, &at, value))
        return cb_fail(err, errlen, "aft_memory: out of memory");
    return 0;
}

/* aft_full case: extra bytes and their fraction of 4 N² d. */
static int full_case(const cb_impl *im, int64_t N, int64_t d, int warm, uint64_t seed, cb_metrics *ms,
                     char *err, size_t errlen)
{
    double io, extra;
    if (measure(im, N, d, warm, seed, &io, &extra, err, errlen) ||
        emit(ms, "extra_bytes_aft_full_", im->backend, N, d, extra, err, errlen) ||
        emit(ms, "extra_frac_aft_full_", im->backend, N, d, extra / (4.0 * (double)N * (double)N * (double)d),
             err, errlen))
        return -1;
    return 0;
}

static int probe_run(const cb_params *params, uint64_t seed, cb_metrics *ms, char *err, size_t errlen)
{
    static const char *const backends[] = {"ref", "blas", "dnnl"};
    cb_params p = *params;
    if (cb_params_default(&p, "d", 64) || cb_params_default(&p, "N", 8192) ||
        cb_params_default(&p, "Ns", 65536) || cb_params_default(&p, "dmax", 256) ||
        cb_params_default(&p, "Nref", 1024) || cb_params_default(&p, "Nnaive", 512))
        return cb_fail(err, errlen, "aft_memory: too many parameters");
    int64_t d = 0, N = 0, Ns = 0, dmax = 0, Nref = 0, Nnaive = 0;
    if (get_dim(&p, "d", 1, &d, err, errlen) || get_dim(&p, "N", 8, &N, err, errlen) ||
        get_dim(&p, "Ns", 8, &Ns, err, errlen) || get_dim(&p, "dmax", 16, &dmax, err, errlen) ||
        get_dim(&p, "Nref", 2, &Nref, err, errlen) || get_dim(&p, "Nnaive", 2, &Nnaive, err, errlen))
        return -1;
    if (N > 46340)
        return cb_fail(err, errlen, "aft_memory: N = %lld exceeds aft_full's limit", (long long)N);

    /* AFT-simple: the whole footprint over N */
    for (size_t b = 0; b < sizeof backends / sizeof backends[0]; b++) {
        const cb_impl *im = cb_impl_find("aft_simple", backends[b]);
        if (!im) return cb_fail(err, errlen, "aft_memory: no aft_simple/%s", backends[b]);
        for (int64_t n = Ns / 8; n <= Ns; n *= 2) {
            double io, extra;
            if (measure(im, n, d, n == Ns / 8, seed, &io, &extra, err, errlen) ||
                emit(ms, "peak_bytes_aft_simple_", backends[b], n, d, io + extra, err, errlen) ||
                emit(ms, "extra_bytes_aft_simple_", backends[b], n, d, extra, err, errlen))
                return -1;
        }
    }
    /* AFT-full: the fast backends over N and over d, the ref, the control */
    for (size_t b = 1; b < sizeof backends / sizeof backends[0]; b++) {
        const cb_impl *im = cb_impl_find("aft_full", backends[b]);
        if (!im) return cb_fail(err, errlen, "aft_memory: no aft_full/%s", backends[b]);
        for (int64_t n = N / 8; n <= N; n *= 2)
            if (full_case(im, n, d, n == N / 8, seed, ms, err, errlen))
                return -1;
        for (int64_t dd = dmax / 16; dd <= dmax; dd *= 2)
            if (dd != d && full_case(im, N / 2, dd, 0, seed, ms, err, errlen))
                return -1;
    }
    const cb_impl *ref = cb_impl_find("aft_full", "ref");
    if (!ref) return cb_fail(err, errlen, "aft_memory: no aft_full/ref");
    for (int64_t n = Nref / 2; n <= Nref; n *= 2)
        if (full_case(ref, n, d, n == Nref / 2, seed, ms, err, errlen))
            return -1;
    for (int64_t n = Nnaive / 2; n <= Nnaive; n *= 2)
        if (full_case(&naive_full, n, d, n == Nnaive / 2, seed, ms, err, errlen))
            return -1;
    return 0;
}

const cb_probe cb_probe_aft_memory = {
    .name = "aft_memory",
    .summary = "peak resident memory of AFT-simple and AFT-full per implementation vs the N x N x d tensor",
    .run = probe_run,
};
