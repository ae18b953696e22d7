/* t_softmax_kernels.c — the softmax attention kernels (softmax_attention,
 * softmax_decode, softmax_decode_nocache) and their ref, blas and dnnl
 * implementations.
 *
 * The ref backend is first held against answers known without it (a single
 * key, equal keys, a hand-computed two-key case, one dominant logit); then
 * every backend of every kernel is held against ref at edge and odd sizes,
 * and decode/nocache against causal softmax_attention. Tolerance: the error
 * relative to the output scale (max|ref|) must stay within 1e-5. The
 * optimized backends accumulate dot products of length d and weighted sums
 * of up to M ≤ 520 terms in fp32; with weights in [0, 1] summing to one and
 * unit-scale values that is ≲ 1e-6 in practice, and the softmax's expf
 * (a few ulp) adds ~1e-7 — 1e-5 leaves a margin of ~10× while still
 * catching any wrong mask, scale or block edge (errors of order 1e-2..1).
 */
#include "kernel.h"
#include "rng.h"
#include "common/softmax_rows.h"
#include "tap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

extern const cb_kernel cb_kernel_softmax_attention, cb_kernel_softmax_decode,
    cb_kernel_softmax_decode_nocache;
extern const cb_impl cb_impl_ref_softmax_attention, cb_impl_blas_softmax_attention,
    cb_impl_dnnl_softmax_attention, cb_impl_ref_softmax_decode, cb_impl_blas_softmax_decode,
    cb_impl_dnnl_softmax_decode, cb_impl_ref_softmax_decode_nocache,
    cb_impl_blas_softmax_decode_nocache, cb_impl_dnnl_softmax_decode_nocache;

#define TOL 1e-5
#define SEED 20240611u

/* ---- small helpers ------------------------------------------------------ */

typedef struct problem {
    const cb_kernel *k;
    cb_params p;
    cb_tensor in[3], out[1];
} problem;

static cb_params mk(const char *s)
{
    cb_params p = {0};
    if (cb_params_parse(&p, s) != 0) {
        printf("Bail out! bad params %s\n", s);
        exit(1);
    }
    return p;
}

static void problem_free(problem *pr)
{
    for (int i = 0; i < 3; i++) cb_tensor_free(&pr->in[i]);
    cb_tensor_free(&pr->out[0]);
}

/* Allocate inputs and output for kernel k at params s; inputs are standard
 * normal from the project's generator. Returns 0 or -1. */
static int problem_make(problem *pr, const cb_kernel *k, const char *s)
{
    memset(pr, 0, sizeof *pr);
    pr->k = k;
    pr->p = mk(s);
    cb_shape in[3], out[1];
    char err[256];
    if (k->shapes(&pr->p, in, out, err, sizeof err) != 0) {
        diag("shapes(%s): %s", s, err);
        return -1;
    }
    for (int i = 0; i < 3; i++) {
        if (cb_tensor_alloc(&pr->in[i], k->in[i], &in[i]) != 0) goto fail;
        cb_rng_normal(pr->in[i].data, (size_t)cb_shape_numel(&in[i]), SEED, cb_rng_stream(k->in[i]), 1.0f);
    }
    if (cb_tensor_alloc(&pr->out[0], "o", &out[0]) != 0) goto fail;
    return 0;
fail:
    diag("out of memory");
    problem_free(pr);
    return -1;
}

/* prepare, run, release; o receives the output. */
static int run_impl(const cb_impl *im, problem *pr, cb_tensor *o)
{
    void *st = NULL;
    char err[256] = "";
    if (im->prepare && im->prepare(&st, &pr->p, pr->in, o, err, sizeof err) != 0) {
        diag("%s %s prepare: %s", im->backend, im->kernel, err);
        return -1;
    }
    int rc = im->run(st, &pr->p, pr->in, o);
    if (im->release) im->release(st);
    return rc;
}

/* max |a - b| / max |b|; -1 if a holds a NaN or Inf. */
static double rel_err(const cb_tensor *a, const cb_tensor *b)
{
    int64_t n = cb_shape_numel(&b->shape);
    double emax = 0, scale = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(a->data[i])) return -1;
        double e = fabs((double)a->data[i] - b->data[i]);
        if (e > emax) emax = e;
        if (fabs(b->data[i]) > scale) scale = fabs(b->data[i]);
    }
    return scale > 0 ? emax / scale : emax;
}

/* Run `im` on pr and compare with `oracle` (already computed). */
static void check_against(const cb_impl *im, problem *pr, const cb_tensor *oracle, const char *what)
{
    char ps[256];
    cb_params_format(&pr->p, ps, sizeof ps);
    cb_tensor o;
    if (cb_tensor_alloc(&o, "o", &oracle->shape) != 0) {
        ok(0, "%s %s %s: allocation", im->backend, im->kernel, ps);
        return;
    }
    for (int64_t i = 0; i < cb_shape_numel(&o.shape); i++) o.data[i] = NAN;  /* must be overwritten */
    int rc = run_impl(im, pr, &o);
    double e = rc == 0 ? rel_err(&o, oracle) : -1;
    ok(rc == 0 && e >= 0 && e <= TOL, "%s %s vs %s at %s: rel err %.2e", im->backend, im->kernel, what, ps, e);
    cb_tensor_free(&o);
}

/* ---- the contracts ------------------------------------------------------ */

static void test_contracts(void)
{
    const cb_kernel *K = &cb_kernel_softmax_attention;
    cb_shape in[3], out[1];
    char err[256];

    cb_params p = mk("H=2,N=5,d=3");
    int rc = K->shapes(&p, in, out, err, sizeof err);
    ok(rc == 0 && cb_params_int(&p, "M", 0) == 5 && cb_params_int(&p, "dv", 0) == 3 &&
           cb_params_int(&p, "causal", 9) == 0 && fabs(cb_params_get(&p, "scale", 0) - 1 / sqrt(3.0)) < 1e-15,
       "softmax_attention shapes fills defaults M=N, dv=d, causal=0, scale=1/sqrt(d)");
    ok(rc == 0 && in[0].rank == 3 && in[0].dim[0] == 2 && in[0].dim[1] == 5 && in[0].dim[2] == 3 &&
           in[1].dim[1] == 5 && in[2].dim[2] == 3 && out[0].dim[0] == 2 && out[0].dim[1] == 5 && out[0].dim[2] == 3,
       "softmax_attention shapes: q [H,N,d], k [H,M,d], v [H,M,dv], o [H,N,dv]");

    p = mk("H=1,N=4,M=6,d=2,dv=7");
    rc = K->shapes(&p, in, out, err, sizeof err);
    ok(rc == 0 && in[1].dim[1] == 6 && in[2].dim[1] == 6 && in[2].dim[2] == 7 && out[0].dim[1] == 4 && out[0].dim[2] == 7,
       "softmax_attention shapes with M != N and dv != d");

    p = mk("H=1,N=4,M=6,d=2,causal=1");
    err[0] = '\0';
    rc = K->shapes(&p, in, out, err, sizeof err);
    ok(rc != 0 && strstr(err, "causal") && strstr(err, "M"), "causal with M != N is rejected, naming M: \"%s\"", err);

    const char *bad[] = {"N=4,d=2", "H=1,d=2", "H=1,N=4", "H=0,N=4,d=2", "H=1,N=2.5,d=2",
                         "H=1,N=4,d=2,causal=2", "H=1,N=4,d=2,causal=-1", "H=1,N=4,d=-3",
                         "H=1,N=4,d=2,dv=0", "H=1,N=4,d=2,M=0", "H=1,N=4,d=2,scale=inf"};
    const char *names[] = {"H", "N", "d", "H", "N", "causal", "causal", "d", "dv", "M", "scale"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        p = mk(bad[i]);
        err[0] = '\0';
        rc = K->shapes(&p, in, out, err, sizeof err);
        ok(rc != 0 && strstr(err, names[i]) != NULL, "shapes rejects %s naming %s: \"%s\"", bad[i], names[i], err);
    }

    /* infer from shapes */
    cb_shape qs = {3, {2, 7, 5}}, ks = {3, {2, 9, 5}}, vs = {3, {2, 9, 4}};
    cb_shape ins[3] = {qs, ks, vs};
    p = mk("causal=0");
    rc = K->infer(&p, ins, err, sizeof err);
    int rc2 = rc == 0 ? K->shapes(&p, in, out, err, sizeof err) : -1;
    ok(rc == 0 && rc2 == 0 && cb_params_int(&p, "H", 0) == 2 && cb_params_int(&p, "N", 0) == 7 &&
           cb_params_int(&p, "d", 0) == 5 && cb_params_int(&p, "M", 0) == 9 && cb_params_int(&p, "dv", 0) == 4 &&
           out[0].dim[0] == 2 && out[0].dim[1] == 7 && out[0].dim[2] == 4,
       "infer takes H,N,d from q, M from k, dv from v");
    p = mk("causal=1");
    rc = K->infer(&p, ins, err, sizeof err);
    rc2 = rc == 0 ? K->shapes(&p, in, out, err, sizeof err) : 0;
    ok(rc2 != 0 || rc != 0, "inferred M != N with causal=1 is rejected");
    cb_shape badk[3] = {qs, {3, {2, 9, 6}}, vs};
    ok(K->infer(&p, badk, err, sizeof err) != 0, "infer rejects k with another d: \"%s\"", err);
    cb_shape badv[3] = {qs, ks, {3, {2, 8, 4}}};
    ok(K->infer(&p, badv, err, sizeof err) != 0, "infer rejects v with another M: \"%s\"", err);
    cb_shape badh[3] = {qs, {3, {3, 9, 5}}, vs};
    ok(K->infer(&p, badh, err, sizeof err) != 0, "infer rejects k with another H: \"%s\"", err);
    cb_shape badr[3] = {{2, {7, 5}}, ks, vs};
    ok(K->infer(&p, badr, err, sizeof err) != 0, "infer rejects rank 2: \"%s\"", err);

    /* flops */
    p = mk("H=8,N=2048,d=64");
    K->shapes(&p, in, out, err, sizeof err);
    ok(K->flops(&p) == 4.0 * 8 * 2048.0 * 2048 * 64, "flops non-causal = 4 H N^2 d (%.4g)", K->flops(&p));
    p = mk("H=3,N=10,d=4,dv=6,causal=1");
    K->shapes(&p, in, out, err, sizeof err);
    ok(K->flops(&p) == 2.0 * 3 * 55 * 10, "flops causal = 2 H N(N+1)/2 (d+dv)");

    /* decode and nocache */
    const cb_kernel *D = &cb_kernel_softmax_decode, *C = &cb_kernel_softmax_decode_nocache;
    p = mk("H=2,N=6,d=3,dv=5");
    rc = D->shapes(&p, in, out, err, sizeof err);
    ok(rc == 0 && in[0].dim[1] == 6 && in[1].dim[2] == 3 && in[2].dim[2] == 5 && out[0].dim[2] == 5 &&
           fabs(cb_params_get(&p, "scale", 0) - 1 / sqrt(3.0)) < 1e-15,
       "softmax_decode shapes q,k [H,N,d], v [H,N,dv], default scale");
    double fd = 0, fc = 0;
    for (int t = 0; t < 6; t++) {
        fd += 2.0 * 2 * (t + 1) * (3 + 5);
        fc += 2.0 * 2 * ((t + 1) * (t + 2) / 2) * (3 + 5);
    }
    ok(D->flops(&p) == fd, "softmax_decode flops = 2 H sum_t (t+1)(d+dv) (%g)", fd);
    ok(C->flops(&p) == fc, "softmax_decode_nocache flops = sum_t 2 H (t+1)(t+2)/2 (d+dv) (%g)", fc);
    p = mk("H=2,d=3");
    ok(D->shapes(&p, in, out, err, sizeof err) != 0 && strstr(err, "N"), "softmax_decode rejects a missing N");
    p = mk("H=2,N=4,d=3,dv=0");
    ok(C->shapes(&p, in, out, err, sizeof err) != 0 && strstr(err, "dv"), "softmax_decode_nocache rejects dv=0");
    cb_shape dq = {3, {2, 6, 3}}, dv5 = {3, {2, 6, 5}};
    cb_shape dins[3] = {dq, dq, dv5};
    p = mk("scale=0.5");
    rc = C->infer(&p, dins, err, sizeof err);
    rc2 = rc == 0 ? C->shapes(&p, in, out, err, sizeof err) : -1;
    ok(rc == 0 && rc2 == 0 && cb_params_int(&p, "H", 0) == 2 && cb_params_int(&p, "N", 0) == 6 &&
           cb_params_int(&p, "d", 0) == 3 && cb_params_int(&p, "dv", 0) == 5 && cb_params_get(&p, "scale", 0) == 0.5,
       "decode infer takes H,N,d from q and dv from v, keeps scale");
    cb_shape dbad[3] = {dq, {3, {2, 7, 3}}, dv5};
    ok(D->infer(&p, dbad, err, sizeof err) != 0, "decode infer rejects k of another N: \"%s\"", err);
}

/* ---- the reference against known answers ------------------------------- */

static void test_ref_known(void)
{
    const cb_impl *R = &cb_impl_ref_softmax_attention;
    problem pr;

    /* one key: every weight is 1, o = v */
    if (problem_make(&pr, &cb_kernel_softmax_attention, "H=2,N=3,M=1,d=4,dv=3") == 0) {
        int rc = run_impl(R, &pr, &pr.out[0]);
        double e = 0;
        for (int h = 0; h < 2; h++)
            for (int i = 0; i < 3; i++)
                for (int c = 0; c < 3; c++)
                    e = fmax(e, fabs(pr.out[0].data[(h * 3 + i) * 3 + c] - pr.in[2].data[h * 3 + c]));
        ok(rc == 0 && e == 0, "ref: with one key the output is v (err %g)", e);
        problem_free(&pr);
    }

    /* equal keys: uniform weights, o_i = mean of v_0..v_{M-1} (causal: v_0..v_i) */
    for (int causal = 0; causal < 2; causal++) {
        char s[96];
        snprintf(s, sizeof s, "H=2,N=9,d=5,dv=4,causal=%d", causal);
        if (problem_make(&pr, &cb_kernel_softmax_attention, s) != 0) continue;
        for (int h = 0; h < 2; h++)                     /* every key row equal to key row 0 */
            for (int j = 1; j < 9; j++)
                memcpy(pr.in[1].data + (h * 9 + j) * 5, pr.in[1].data + h * 9 * 5, 5 * sizeof(float));
        int rc = run_impl(R, &pr, &pr.out[0]);
        double e = 0;
        for (int h = 0; h < 2; h++)
            for (int i = 0; i < 9; i++)
                for (int c = 0; c < 4; c++) {
                    int n = causal ? i + 1 : 9;
                    double m = 0;
                    for (int j = 0; j < n; j++) m += pr.in[2].data[(h * 9 + j) * 4 + c];
                    e = fmax(e, fabs(pr.out[0].data[(h * 9 + i) * 4 + c] - m / n));
                }
        ok(rc == 0 && e < 1e-6, "ref: equal keys give the %s mean of v (err %.2e)", causal ? "prefix" : "full", e);
        problem_free(&pr);
    }

    /* two keys by hand: q = 1, k = (0, ln 3), scale 1 → p = (1/4, 3/4); v = (4, 8) → o = 7 */
    if (problem_make(&pr, &cb_kernel_softmax_attention, "H=1,N=1,M=2,d=1,scale=1") == 0) {
        pr.in[0].data[0] = 1;
        pr.in[1].data[0] = 0;
        pr.in[1].data[1] = (float)log(3.0);
        pr.in[2].data[0] = 4;
        pr.in[2].data[1] = 8;
        int rc = run_impl(R, &pr, &pr.out[0]);
        ok(rc == 0 && fabs(pr.out[0].data[0] - 7.0) < 1e-6, "ref: hand-computed two-key case gives 7 (%.8f)", pr.out[0].data[0]);
        problem_free(&pr);
    }

    /* one logit larger than the rest by 1e4: o_i = v of that key, finite */
    if (problem_make(&pr, &cb_kernel_softmax_attention, "H=1,N=4,M=5,d=1,dv=2,scale=1") == 0) {
        for (int i = 0; i < 4; i++) pr.in[0].data[i] = 100.0f;
        for (int j = 0; j < 5; j++) pr.in[1].data[j] = j == 3 ? 200.0f : 100.0f - 10.0f * j;
        int rc = run_impl(R, &pr, &pr.out[0]);
        double e = 0;
        for (int i = 0; i < 4; i++)
            for (int c = 0; c < 2; c++)
                e = fmax(e, fabs(pr.out[0].data[i * 2 + c] - pr.in[2].data[3 * 2 + c]));
        ok(rc == 0 && e == 0, "ref: logits 2e4 vs 1e4 select v of the dominant key (err %g)", e);
        problem_free(&pr);
    }
}

/* ---- every backend against ref ------------------------------------------ */

static void test_attention_backends(void)
{
    const char *sizes[] = {
        "H=1,N=1,d=1",              "H=1,N=1,d=1,causal=1",       "H=2,N=5,d=1,dv=1",
        "H=2,N=67,d=13",            "H=2,N=67,d=13,causal=1",     "H=3,N=67,M=45,d=13,dv=7",
        "H=2,N=19,M=300,d=16,dv=24", "H=1,N=300,d=8,dv=5,causal=1", "H=2,N=520,M=130,d=16",
        "H=1,N=513,d=32,causal=1",  "H=1,N=7,M=3,d=5,dv=1,scale=-0.7",
    };
    const cb_impl *impls[] = {&cb_impl_blas_softmax_attention, &cb_impl_dnnl_softmax_attention};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        problem pr;
        if (problem_make(&pr, &cb_kernel_softmax_attention, sizes[i]) != 0) {
            ok(0, "inputs for %s", sizes[i]);
            continue;
        }
        if (run_impl(&cb_impl_ref_softmax_attention, &pr, &pr.out[0]) != 0) {
            ok(0, "ref softmax_attention at %s", sizes[i]);
        } else {
            for (int b = 0; b < 2; b++) check_against(impls[b], &pr, &pr.out[0], "ref");
        }
        problem_free(&pr);
    }
}

/* decode and nocache: every backend against causal softmax_attention ref */
static void test_decode_backends(void)
{
    const char *sizes[] = {"H=1,N=1,d=1", "H=2,N=67,d=13,dv=7", "H=3,N=40,d=16", "H=1,N=300,d=8,dv=5"};
    const cb_impl *impls[] = {
        &cb_impl_ref_softmax_decode,         &cb_impl_blas_softmax_decode,         &cb_impl_dnnl_softmax_decode,
        &cb_impl_ref_softmax_decode_nocache, &cb_impl_blas_softmax_decode_nocache, &cb_impl_dnnl_softmax_decode_nocache,
    };
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        char s[128];
        snprintf(s, sizeof s, "%s,causal=1", sizes[i]);
        problem att, dec;
        if (problem_make(&att, &cb_kernel_softmax_attention, s) != 0) {
            ok(0, "inputs for %s", s);
            continue;
        }
        if (problem_make(&dec, &cb_kernel_softmax_decode, sizes[i]) != 0) {
            ok(0, "inputs for %s", sizes[i]);
            problem_free(&att);
            continue;
        }
        /* same generator streams and shapes: the same inputs */
        int same = 1;
        for (int t = 0; t < 3; t++)
            same &= memcmp(att.in[t].data, dec.in[t].data, (size_t)cb_shape_numel(&att.in[t].shape) * sizeof(float)) == 0;
        ok(same, "decode and attention inputs agree at %s", sizes[i]);
        if (run_impl(&cb_impl_ref_softmax_attention, &att, &att.out[0]) != 0) {
            ok(0, "ref softmax_attention at %s", s);
        } else {
            for (int b = 0; b < 6; b++) check_against(impls[b], &dec, &att.out[0], "causal attention ref");
        }
        problem_free(&att);
        problem_free(&dec);
    }
}

/* Logits of magnitude 1e4 and more. Inputs are multiples of 1/8 in [-4, 4]
 * and the scale a power of two, so every fp32 dot product and every logit
 * is exact: the backends must then agree with ref to 1e-5 even though the
 * logits are huge (with inexact logits, fp32 rounds a logit of 1e4 by ~1e-3,
 * and the softmax would pass that on — an input-conditioning effect, not a
 * bug). */
static void quantize(cb_tensor *t)
{
    for (int64_t i = 0; i < cb_shape_numel(&t->shape); i++) {
        float x = roundf(t->data[i] * 8.0f) / 8.0f;
        t->data[i] = x > 4 ? 4 : x < -4 ? -4 : x;
    }
}

static double max_logit(const problem *pr, int N, int M, int d, int H, double scale)
{
    double mx = 0;
    for (int h = 0; h < H; h++)
        for (int i = 0; i < N; i++)
            for (int j = 0; j < M; j++) {
                double dot = 0;
                for (int c = 0; c < d; c++)
                    dot += (double)pr->in[0].data[(h * N + i) * d + c] * pr->in[1].data[(h * M + j) * d + c];
                mx = fmax(mx, fabs(scale * dot));
            }
    return mx;
}

static void test_large_logits(void)
{
    const char *sizes[] = {"H=2,N=67,d=13,scale=1024", "H=2,N=67,d=13,causal=1,scale=1024",
                           "H=1,N=300,M=40,d=32,scale=512", "H=1,N=40,d=32,causal=1,scale=1048576"};
    const cb_impl *impls[] = {&cb_impl_blas_softmax_attention, &cb_impl_dnnl_softmax_attention};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        problem pr;
        if (problem_make(&pr, &cb_kernel_softmax_attention, sizes[i]) != 0) continue;
        quantize(&pr.in[0]);
        quantize(&pr.in[1]);
        double ml = max_logit(&pr, (int)cb_params_int(&pr.p, "N", 0), (int)cb_params_int(&pr.p, "M", 0),
                              (int)cb_params_int(&pr.p, "d", 0), (int)cb_params_int(&pr.p, "H", 0),
                              cb_params_get(&pr.p, "scale", 0));
        ok(ml >= 1e4, "large-logit case %s reaches |logit| = %.3g", sizes[i], ml);
        if (run_impl(&cb_impl_ref_softmax_attention, &pr, &pr.out[0]) == 0) {
            double e = rel_err(&pr.out[0], &pr.out[0]);
            ok(e == 0, "ref output finite at %s", sizes[i]);
            for (int b = 0; b < 2; b++) check_against(impls[b], &pr, &pr.out[0], "ref (large logits)");
        }
        if (cb_params_int(&pr.p, "causal", 0)) {   /* and the decoders, on the same inputs */
            problem dec;
            char s[128];
            snprintf(s, sizeof s, "H=%lld,N=%lld,d=%lld,scale=%.17g", (long long)cb_params_int(&pr.p, "H", 0),
                     (long long)cb_params_int(&pr.p, "N", 0), (long long)cb_params_int(&pr.p, "d", 0),
                     cb_params_get(&pr.p, "scale", 0));
            if (problem_make(&dec, &cb_kernel_softmax_decode, s) == 0) {
                for (int t = 0; t < 3; t++)
                    memcpy(dec.in[t].data, pr.in[t].data, (size_t)cb_shape_numel(&pr.in[t].shape) * sizeof(float));
                const cb_impl *dimpls[] = {&cb_impl_blas_softmax_decode, &cb_impl_dnnl_softmax_decode,
                                           &cb_impl_blas_softmax_decode_nocache, &cb_impl_dnnl_softmax_decode_nocache};
                for (int b = 0; b < 4; b++) check_against(dimpls[b], &dec, &pr.out[0], "causal ref (large logits)");
                problem_free(&dec);
            }
        }
        problem_free(&pr);
    }
}

/* Large logits from unquantized inputs: fp32 cannot represent the logits
 * exactly, so only a conditioning bound applies. A length-d fp32 dot product
 * is off by at most about d·u·Σ|q_c k_c| (u = 2^-24), times scale; softmax
 * moves the weights by at most 2·max|Δlogit| in l1, so
 * |Δo| ≤ 2·max|Δlogit|·max|v|. The check is that the result is finite and
 * inside that bound (so no overflow, no lost max subtraction). */
static void test_large_logits_inexact(void)
{
    const char *sizes[] = {"H=2,N=67,d=13,scale=1500", "H=1,N=130,d=32,causal=1,scale=900"};
    const cb_impl *impls[] = {&cb_impl_blas_softmax_attention, &cb_impl_dnnl_softmax_attention};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        problem pr;
        if (problem_make(&pr, &cb_kernel_softmax_attention, sizes[i]) != 0) continue;
        const int H = (int)cb_params_int(&pr.p, "H", 0), N = (int)cb_params_int(&pr.p, "N", 0);
        const int d = (int)cb_params_int(&pr.p, "d", 0);
        const double scale = cb_params_get(&pr.p, "scale", 0);
        double sabs = 0, vmax = 0;
        for (int h = 0; h < H; h++)
            for (int a = 0; a < N; a++)
                for (int b = 0; b < N; b++) {
                    double t = 0;
                    for (int c = 0; c < d; c++)
                        t += fabs((double)pr.in[0].data[(h * N + a) * d + c] * pr.in[1].data[(h * N + b) * d + c]);
                    sabs = fmax(sabs, fabs(scale) * t);
                }
        for (int64_t j = 0; j < cb_shape_numel(&pr.in[2].shape); j++) vmax = fmax(vmax, fabs(pr.in[2].data[j]));
        double bound = 2.0 * (d + 1) * 0x1p-24 * sabs * vmax;
        if (run_impl(&cb_impl_ref_softmax_attention, &pr, &pr.out[0]) == 0) {
            for (int b = 0; b < 2; b++) {
                cb_tensor o;
                if (cb_tensor_alloc(&o, "o", &pr.out[0].shape) != 0) continue;
                int rc = run_impl(impls[b], &pr, &o);
                double e = 0;
                int finite = 1;
                for (int64_t j = 0; j < cb_shape_numel(&o.shape); j++) {
                    finite &= isfinite(o.data[j]) != 0;
                    e = fmax(e, fabs((double)o.data[j] - pr.out[0].data[j]));
                }
                ok(rc == 0 && finite && e <= bound, "%s softmax_attention at %s (scale·Σ|q k| up to %.3g): finite, "
                   "max abs err %.2e within the conditioning bound %.2e", impls[b]->backend, sizes[i], sabs, e, bound);
                cb_tensor_free(&o);
            }
        }
        problem_free(&pr);
    }
}

/* ---- the vectorized row softmax on its own ------------------------------ */

static void test_softmax_rows(void)
{
    enum { R = 5, C = 37 };
    float s[R * C], keep[R * C], inv[R];
    cb_rng_normal(keep, R * C, SEED, cb_rng_stream("softmax_rows"), 30.0f);
    keep[0 * C + 2] = -INFINITY;     /* explicit -inf masks inside the valid part */
    keep[4 * C + 10] = -INFINITY;
    keep[4 * C + 0] = -INFINITY;
    for (int mode = 0; mode < 2; mode++) {
        memcpy(s, keep, sizeof s);
        const int len0 = 30;             /* rows see 30, 31, ..., 34 keys; the rest masked */
        cb_softmax_rows(s, C, R, C, len0, mode ? inv : NULL);
        double e = 0;
        int bad = 0;
        for (int r = 0; r < R; r++) {
            int len = len0 + r;
            double mx = -INFINITY, sum = 0;
            for (int j = 0; j < len; j++) mx = fmax(mx, keep[r * C + j]);
            for (int j = 0; j < len; j++) sum += exp((double)keep[r * C + j] - mx);
            for (int j = 0; j < C; j++) {
                double want = j < len ? exp((double)keep[r * C + j] - mx) / sum : 0;
                double got = mode ? (double)s[r * C + j] * inv[r] : s[r * C + j];
                if (!isfinite(got)) bad = 1;
                if ((j >= len || isinf(keep[r * C + j])) && got != 0) bad = 1;
                e = fmax(e, fabs(got - want));
            }
        }
        ok(!bad && e < 1e-6, "cb_softmax_rows (%s): -inf and masked keys give exact 0, max err %.2e",
           mode ? "inverse sums" : "normalised", e);
    }
}

int main(void)
{
    tap_no_plan();
    test_contracts();
    test_ref_known();
    test_softmax_rows();
    test_attention_backends();
    test_decode_backends();
    test_large_logits();
    test_large_logits_inexact();
    return tap_done();
}
