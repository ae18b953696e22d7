/* int4_gemm.c (ref) — the int4_gemm contract and its oracle.
 *
 * The integer GEMM at the heart of Xi et al. (2023, "Training Transformers
 * with 4-bit Integers"): after quantization, a linear layer multiplies INT4
 * level matrices and accumulates in int32; the float scales are applied
 * outside. This kernel is that integer product:
 *
 *   c[m][n] = sum_k qa[m][k] qb[k][n],   qa = int4(a), qb = int4(b),
 *   int4(v) = clamp(rint(v), -7, 7)     (round half to even; NaN -> 0),
 *
 * with a [M, K] and b [K, N] float32 carriers of the levels (inputs that
 * already hold integers in -7..7 pass unchanged) and c [M, N] float32 holding
 * the exact integer sums. |c| <= 49 K, so every value is exact in float32
 * while 49 K < 2^24, i.e. K <= 342392; shapes() refuses larger K.
 *
 * This file computes it the obvious way: levels as int, sums in int64.
 */
#include "kernel.h"

#include <math.h>
#include <stdlib.h>

/* 49 K < 2^24 = 16777216 */
#define INT4_GEMM_MAX_K 342392

/* ---- the contract ------------------------------------------------------ */

static int want_dim(const cb_params *p, const char *name, int64_t *out, char *err, size_t errlen)
{
    int i = cb_params_find(p, name);
    if (i < 0)
        return cb_fail(err, errlen, "int4_gemm: missing parameter %s", name);
    double v = p->value[i];
    if (!(v == floor(v)) || v < 1 || v > 1e9)
        return cb_fail(err, errlen, "int4_gemm: %s = %g must be an integer >= 1", name, v);
    *out = (int64_t)v;
    return 0;
}

static int ig_shapes(cb_params *p, cb_shape *in, cb_shape *out, char *err, size_t errlen)
{
    int64_t M = 0, K = 0, N = 0;
    if (want_dim(p, "M", &M, err, errlen) || want_dim(p, "K", &K, err, errlen) ||
        want_dim(p, "N", &N, err, errlen))
        return -1;
    if (K > INT4_GEMM_MAX_K)
        return cb_fail(err, errlen,
                       "int4_gemm: K = %lld > %d: sums up to 49 K would not be exact in float32 (2^24)",
                       (long long)K, INT4_GEMM_MAX_K);
    if (M * K > ((int64_t)1 << 31) || K * N > ((int64_t)1 << 31) || M * N > ((int64_t)1 << 31))
        return cb_fail(err, errlen, "int4_gemm: M, K, N = %lld, %lld, %lld are too large", (long long)M,
                       (long long)K, (long long)N);
    in[0] = (cb_shape){2, {M, K}};
    in[1] = (cb_shape){2, {K, N}};
    out[0] = (cb_shape){2, {M, N}};
    return 0;
}

static int ig_infer(cb_params *p, const cb_shape *in, char *err, size_t errlen)
{
    if (in[0].rank != 2 || in[1].rank != 2)
        return cb_fail(err, errlen, "int4_gemm: a must be [M, K] and b [K, N]");
    if (in[1].dim[0] != in[0].dim[1])
        return cb_fail(err, errlen, "int4_gemm: b has %lld rows, a has K = %lld columns",
                       (long long)in[1].dim[0], (long long)in[0].dim[1]);
    if (cb_params_set(p, "M", (double)in[0].dim[0]) || cb_params_set(p, "K", (double)in[0].dim[1]) ||
        cb_params_set(p, "N", (double)in[1].dim[1]))
        return cb_fail(err, errlen, "int4_gemm: too many parameters");
    return 0;
}

/* 2 M K N operations (a multiply and an add per term), as for sgemm. */
static double ig_flops(const cb_params *p)
{
    return 2 * cb_params_get(p, "M", 0) * cb_params_get(p, "K", 0) * cb_params_get(p, "N", 0);
}

const cb_kernel cb_kernel_int4_gemm = {
    .name = "int4_gemm",
    .summary = "c = int4(a) int4(b) exactly, int4(v) = clamp(rint(v), -7, 7), int32 sums as float (Xi et al. 2023)",
    .params_doc = "M K N",
    .n_in = 2,
    .in = {"a", "b"},
    .n_out = 1,
    .out = {"c"},
    .shapes = ig_shapes,
    .infer = ig_infer,
    .flops = ig_flops,
};

/* ---- the reference implementation ------------------------------------- */

static int level(float v)
{
    double r = rint((double)v);
    if (r != r) return 0;
    if (r > 7) return 7;
    if (r < -7) return -7;
    return (int)r;
}

typedef struct ref_ig {
    int64_t M, K, N;
    int *qa, *qb;
} ref_ig;

static void ref_ig_release(void *state)
{
    ref_ig *s = state;
    if (!s) return;
    free(s->qa);
    free(s->qb);
    free(s);
}

static int ref_ig_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out,
                          char *err, size_t errlen)
{
    (void)in;
    (void)out;
    ref_ig *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "ref int4_gemm: out of memory");
    s->M = cb_params_int(p, "M", 0);
    s->K = cb_params_int(p, "K", 0);
    s->N = cb_params_int(p, "N", 0);
    s->qa = malloc((size_t)(s->M * s->K) * sizeof *s->qa);
    s->qb = malloc((size_t)(s->K * s->N) * sizeof *s->qb);
    if (!s->qa || !s->qb) {
        ref_ig_release(s);
        return cb_fail(err, errlen, "ref int4_gemm: out of memory");
    }
    *state = s;
    return 0;
}

static int ref_ig_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)p;
    ref_ig *s = state;
    const int64_t M = s->M, K = s->K, N = s->N;
    for (int64_t i = 0; i < M * K; i++)
        s->qa[i] = level(in[0].data[i]);
    for (int64_t i = 0; i < K * N; i++)
        s->qb[i] = level(in[1].data[i]);
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            int64_t acc = 0;
            for (int64_t k = 0; k < K; k++)
                acc += (int64_t)s->qa[m * K + k] * s->qb[k * N + n];
            out[0].data[m * N + n] = (float)acc;
        }
    return 0;
}

const cb_impl cb_impl_ref_int4_gemm = {
    .kernel = "int4_gemm",
    .backend = "ref",
    .how = "levels clamp(rint(v), -7, 7) as int, int64 sums",
    .prepare = ref_ig_prepare,
    .run = ref_ig_run,
    .release = ref_ig_release,
};
