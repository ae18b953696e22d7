/* xca_memory.c — probe: what cross-covariance attention holds in memory as
 * the number of tokens N grows, against token (softmax) attention, and
 * whether its float32 backends stay exact at those N.
 *
 * XCiT (§3) gives XCA memory O(d^2/h + N d) against O(h N^2 + N d) for
 * token self-attention: the N d term is the token features themselves, the
 * rest is the attention map (dh x dh per head for XCA, N x N for tokens).
 *
 * What is measured. For each N in Nmin = Nmax/2^(points-1), ..., Nmax/2,
 * Nmax and each implementation, the heap bytes the implementation holds
 * after its prepare() and one run(), over what was held before (the inputs
 * and the output are allocated before, so they are not counted):
 *   extra_bytes_<kernel>_<backend>    at {H, dh, N}
 *   total_bytes_xca_<backend>         the same + the 4 tensors q, k, v, o
 *   growth_bytes_<kernel>_<backend>   extra bytes at N minus at Nmin
 * for xca (ref, blas, dnnl) and softmax_attention (blas, dnnl) at d = dh.
 * Heap bytes come from glibc's allocator statistics, mallinfo2(): bytes in
 * use in every arena plus mmapped chunks. That counts every malloc, calloc,
 * aligned_alloc and C++ new of the implementation and of the libraries it
 * calls (oneDNN's primitives and scratchpads), in any thread; it does not
 * count memory mapped directly (OpenBLAS's fixed buffer pool, thread
 * stacks, possibly JIT code pages), none of which depends on N. It is a
 * count, not a sample: the same allocations give the same bytes on every
 * run. Transient allocations freed inside run() would be missed; these
 * implementations allocate their scratch in prepare() (kernel.h), and the
 * larger of the readings after prepare() and after run() is kept, so what a
 * library allocates on the first call and keeps is counted too (dnnl/xca.c
 * avoids a oneDNN path that allocates inside every call). Peak RSS
 * (ru_maxrss) was not used: it only grows, includes the inputs, and
 * depends on what the allocator reuses.
 * glibc's per-thread cache of small freed chunks is drained before each
 * measurement (see tcache_drain), else small allocations could be served
 * from chunks mallinfo2 already counts as in use. Draining has the opposite
 * side effect: a small malloc served from a bin moves up to 7 more chunks
 * of its size into the cache, which then count as in use. So counts are
 * exact for large blocks and good to a kilobyte or two for small ones,
 * which is why the flatness of XCA's memory is judged by the growth in
 * bytes (growth_bytes), not by a log-log slope of a kilobyte-sized value.
 * Each implementation runs once first at N = Nmin/2, unmeasured, so
 * one-time costs of a library (thread pools, oneDNN's global state) are not
 * charged to the first N, and every measured N still builds its own oneDNN
 * primitives (a shape already in oneDNN's primitive cache would be cheaper).
 *
 * Accuracy at those N, where the agreement sizes do not reach: every xca
 * backend against XCA in float64 computed literally as the reference code
 * does (normalize q and k along the tokens, then the Gram matrix, tau,
 * softmax, attn @ v), which is not how ref/xca.c orders it (it scales the
 * raw Gram matrix):
 *   err32_xca_<backend>   at {H, dh, N, tau}: max |o - y| / max |y|.
 *
 * Params: H (8), dh (64), tau (1), Nmax (8192), points (5). Inputs: the
 * harness's seeded standard normal inputs (inputs.h).
 */
#include "common/relerr.h"
#include "kernel.h"
#include "inputs.h"

#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XCA_NORM_EPS 1e-12

/* Heap bytes in use now. */
static double heap_held(void)
{
    struct mallinfo2 mi = mallinfo2();
    return (double)mi.uordblks + (double)mi.hblkhd;
}

/* Does mallinfo2 see this process's mallocs (it does not under a
 * sanitizer's allocator)? */
static int heap_visible(void)
{
    const size_t n = (size_t)1 << 20;
    double before = heap_held();
    volatile char *x = malloc(n);
    if (!x) return 0;
    x[0] = 1;
    double grew = heap_held() - before;
    free((void *)x);
    return grew >= (double)n;
}

/* XCA in float64, literally as in the reference code: normalize the
 * columns of q and k over the tokens, Gram matrix, tau, softmax, attn @ v.
 * qh, kh: N x dh doubles of scratch; G: dh x dh. */
static void xca_literal(const float *q, const float *k, const float *v, int64_t H, int64_t N, int64_t dh,
                        double tau, double *y, double *qh, double *kh, double *G)
{
    for (int64_t h = 0; h < H; h++) {
        const int64_t off = h * N * dh;
        for (int t = 0; t < 2; t++) {
            const float *x = (t ? k : q) + off;
            double *xh = t ? kh : qh;
            for (int64_t c = 0; c < dh; c++) {
                double ss = 0;
                for (int64_t n = 0; n < N; n++)
                    ss += (double)x[n * dh + c] * (double)x[n * dh + c];
                double nrm = sqrt(ss) > XCA_NORM_EPS ? sqrt(ss) : XCA_NORM_EPS;
                for (int64_t n = 0; n < N; n++)
                    xh[n * dh + c] = x[n * dh + c] / nrm;
            }
        }
        memset(G, 0, (size_t)(dh * dh) * sizeof *G);
        for (int64_t n = 0; n < N; n++)
            for (int64_t i = 0; i < dh; i++)
                for (int64_t j = 0; j < dh; j++)
                    G[i * dh + j] += qh[n * dh + i] * kh[n * dh + j];
        for (int64_t i = 0; i < dh; i++) {
            double mx = -INFINITY, sum = 0;
            for (int64_t j = 0; j < dh; j++) {
                G[i * dh + j] *= tau;
                if (G[i * dh + j] > mx) mx = G[i * dh + j];
            }
            for (int64_t j = 0; j < dh; j++) {
                G[i * dh + j] = exp(G[i * dh + j] - mx);
                sum += G[i * dh + j];
            }
            for (int64_t j = 0; j < dh; j++)
                G[i * dh + j] /= sum;
        }
        for (int64_t n = 0; n < N; n++)
            for (int64_t i = 0; i < dh; i++) {
                double acc = 0;
                for (int64_t j = 0; j < dh; j++)
                    acc += G[i * dh + j] * (double)v[off + n * dh + j];
                y[off + n * dh + i] = acc;
            }
    }
}

/* max |x - y| / max |y| over n values (NaN in x gives NaN). */
/* glibc keeps up to 7 freed chunks of each small size (up to 1032 bytes)
 * in a per-thread cache that mallinfo2 still counts as in use, so a small
 * malloc served from it would not show. Before a measurement the calling
 * thread's cache is drained: 7 chunks of each of its 64 sizes are taken and
 * held until after it (a few hundred kB at most, outside the measurement). */
enum { TC_SIZES = 64, TC_COUNT = 7 };

static void **tcache_drain(void)
{
    void **held = malloc(TC_SIZES * TC_COUNT * sizeof *held);
    if (!held) return NULL;
    for (int c = 0; c < TC_SIZES; c++)
        for (int i = 0; i < TC_COUNT; i++)
            held[c * TC_COUNT + i] = malloc((size_t)(24 + 16 * c));   /* chunk sizes 32 .. 1040 */
    return held;
}

static void tcache_refill(void **held)
{
    if (!held) return;
    for (int i = 0; i < TC_SIZES * TC_COUNT; i++)
        free(held[i]);
    free(held);
}

/* Prepare and run one implementation on prepared tensors; *extra receives
 * the heap bytes it held (the larger of after prepare, after run). */
static int measure(const cb_impl *im, const cb_params *kp, const cb_tensor *in, cb_tensor *out, double *extra,
                   char *err, size_t errlen)
{
    void *state = NULL;
    void **held = tcache_drain();
    if (!held)
        return cb_fail(err, errlen, "xca_memory: out of memory");
    double base = heap_held();
    if (im->prepare && im->prepare(&state, kp, in, out, err, errlen)) {
        tcache_refill(held);
        return -1;
    }
    double after_prepare = heap_held() - base;
    int rc = im->run(state, kp, in, out);
    double after_run = heap_held() - base;
    if (im->release) im->release(state);
    tcache_refill(held);
    if (rc)
        return cb_fail(err, errlen, "xca_memory: %s/%s run failed", im->kernel, im->backend);
    *extra = after_run > after_prepare ? after_run : after_prepare;
    return 0;
}

typedef struct subject {
    const char *kernel, *backend;
} subject;

static const subject subjects[] = {
    {"xca", "ref"}, {"xca", "blas"}, {"xca", "dnnl"},
    {"softmax_attention", "blas"}, {"softmax_attention", "dnnl"},
};
enum { N_SUBJECTS = sizeof subjects / sizeof subjects[0] };

/* Kernel parameters of subject s at N (xca: dh and tau; softmax: d = dh). */
static int kernel_params(const subject *s, int64_t H, int64_t dh, double tau, int64_t N, cb_params *kp)
{
    memset(kp, 0, sizeof *kp);
    int is_xca = strcmp(s->kernel, "xca") == 0;
    return cb_params_set(kp, "H", (double)H) || cb_params_set(kp, "N", (double)N) ||
           cb_params_set(kp, is_xca ? "dh" : "d", (double)dh) || (is_xca && cb_params_set(kp, "tau", tau));
}

/* One N (or the warm-up when ms is NULL): every subject, memory and, for
 * xca, error against the float64 literal form. first[s]: subject s's extra
 * bytes at Nmin, set when negative (at the first measured N). */
static int one_size(int64_t H, int64_t dh, double tau, int64_t N, uint64_t seed, cb_metrics *ms,
                    double *first, char *err, size_t errlen)
{
    const size_t nel = (size_t)(H * N * dh);
    const double io_bytes = 4.0 * (double)nel * sizeof(float);
    double *y = NULL, *qh = NULL, *kh = NULL, *G = NULL;
    cb_params at = {0}, at_err = {0};
    int rc = -1;
    if (cb_params_set(&at, "H", (double)H) || cb_params_set(&at, "dh", (double)dh) ||
        cb_params_set(&at, "N", (double)N) || cb_params_merge(&at_err, &at) ||
        cb_params_set(&at_err, "tau", tau))
        return cb_fail(err, errlen, "xca_memory: too many parameters");
    for (int si = 0; si < N_SUBJECTS; si++) {
        const subject *s = &subjects[si];
        const cb_kernel *k = cb_kernel_find(s->kernel);
        const cb_impl *im = cb_impl_find(s->kernel, s->backend);
        if (!k || !im) {
            cb_fail(err, errlen, "xca_memory: no %s/%s in the registry", s->kernel, s->backend);
            goto done;
        }
        cb_params kp;
        if (kernel_params(s, H, dh, tau, N, &kp)) {
            cb_fail(err, errlen, "xca_memory: too many parameters");
            goto done;
        }
        cb_tensor in[CB_MAX_TENSORS], out[CB_MAX_TENSORS];
        if (cb_inputs_make(k, &kp, NULL, seed, in, out, err, errlen))
            goto done;
        int is_xca = strcmp(s->kernel, "xca") == 0;
        if (ms && is_xca && !y) {   /* the float64 answer, once per N (same inputs for every backend) */
            y = malloc(nel * sizeof *y);
            qh = malloc((size_t)(N * dh) * sizeof *qh);
            kh = malloc((size_t)(N * dh) * sizeof *kh);
            G = malloc((size_t)(dh * dh) * sizeof *G);
            if (!y || !qh || !kh || !G) {
                cb_inputs_free(k, in, out);
                cb_fail(err, errlen, "xca_memory: out of memory");
                goto done;
            }
            xca_literal(in[0].data, in[1].data, in[2].data, H, N, dh, tau, y, qh, kh, G);
        }
        double extra = 0;
        int mrc = measure(im, &kp, in, out, &extra, err, errlen);
        double e = mrc == 0 && ms && is_xca ? cb_rel_err_fd(out[0].data, y, nel) : 0;
        cb_inputs_free(k, in, out);
        if (mrc)
            goto done;
        if (!ms)
            continue;
        char name[CB_NAME_MAX];
        snprintf(name, sizeof name, "extra_bytes_%s_%s", s->kernel, s->backend);
        if (cb_metrics_add(ms, name, &at, extra))
            goto oom;
        snprintf(name, sizeof name, "total_bytes_%s_%s", s->kernel, s->backend);
        if (is_xca && cb_metrics_add(ms, name, &at, extra + io_bytes))
            goto oom;
        if (first[si] < 0)
            first[si] = extra;
        snprintf(name, sizeof name, "growth_bytes_%s_%s", s->kernel, s->backend);
        if (cb_metrics_add(ms, name, &at, extra - first[si]))
            goto oom;
        if (is_xca) {
            snprintf(name, sizeof name, "err32_xca_%s", s->backend);
            if (cb_metrics_add(ms, name, &at_err, e))
                goto oom;
        }
    }
    rc = 0;
    goto done;
oom:
    cb_fail(err, errlen, "xca_memory: out of memory");
done:
    free(y);
    free(qh);
    free(kh);
    free(G);
    return rc;
}

static int get_int(const cb_params *p, const char *name, int64_t lo, int64_t hi, int64_t *out, char *err,
                   size_t errlen)
{
    double v = cb_params_get(p, name, 0);
    if (!(v == floor(v)) || v < (double)lo || v > (double)hi)
        return cb_fail(err, errlen, "xca_memory: %s = %g must be an integer in [%lld, %lld]", name, v,
                       (long long)lo, (long long)hi);
    *out = (int64_t)v;
    return 0;
}

static int probe_run(const cb_params *params, uint64_t seed, cb_metrics *ms, char *err, size_t errlen)
{
    cb_params p = *params;
    if (cb_params_default(&p, "H", 8) || cb_params_default(&p, "dh", 64) || cb_params_default(&p, "tau", 1) ||
        cb_params_default(&p, "Nmax", 8192) || cb_params_default(&p, "points", 5))
        return cb_fail(err, errlen, "xca_memory: too many parameters");
    int64_t H, dh, Nmax, points;
    if (get_int(&p, "H", 1, 1 << 16, &H, err, errlen) || get_int(&p, "dh", 1, 1 << 16, &dh, err, errlen) ||
        get_int(&p, "Nmax", 2, 1 << 24, &Nmax, err, errlen) || get_int(&p, "points", 3, 30, &points, err, errlen))
        return -1;
    double tau = cb_params_get(&p, "tau", 1);
    if (!isfinite(tau))
        return cb_fail(err, errlen, "xca_memory: tau = %g must be finite", tau);
    const int64_t Nmin = Nmax >> (points - 1);
    if (Nmin < 2 || Nmin << (points - 1) != Nmax)
        return cb_fail(err, errlen, "xca_memory: Nmax = %lld must be a multiple of 2^(points - 1) and Nmax / 2^(points - 1) >= 2 (points = %lld)",
                       (long long)Nmax, (long long)points);
    /* Under a sanitizer's allocator mallinfo2 sees nothing: every step still
     * runs (so the sanitizer checks it), then the probe fails rather than
     * report zeros. */
    int visible = heap_visible();
    double first[N_SUBJECTS];
    for (int i = 0; i < N_SUBJECTS; i++)
        first[i] = -1;
    if (one_size(H, dh, tau, Nmin / 2, seed, NULL, first, err, errlen))   /* warm-up, unmeasured */
        return -1;
    for (int64_t N = Nmin; N <= Nmax; N *= 2)
        if (one_size(H, dh, tau, N, seed, ms, first, err, errlen))
            return -1;
    if (!visible)
        return cb_fail(err, errlen, "xca_memory: mallinfo2() does not see this process's allocations "
                                    "(a sanitizer's allocator?): no memory figures");
    return 0;
}

const cb_probe cb_probe_xca_memory = {
    .name = "xca_memory",
    .summary = "XCA vs token attention: heap bytes held per implementation as N grows; fp32 XCA error vs fp64",
    .run = probe_run,
};
