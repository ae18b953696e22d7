/* t_rng.c — the counter-based generator (rng.c) and seeded inputs (inputs.c).
 *
 * Philox-4x32-10 is checked against Random123's published known-answer
 * vectors (kat_vectors: philox4x32_10), with counter word 0 = low half of the
 * index i, word 1 = its high half, words 2 and 3 = low and high halves of the
 * stream, and key words 0 and 1 = low and high halves of the seed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "inputs.h"
#include "rng.h"
#include "tap.h"

/* ---- known answers ------------------------------------------------------ */

static int kat(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0, uint32_t k1,
               const uint32_t want[4])
{
    uint32_t got[4];
    cb_rng_bits((uint64_t)k1 << 32 | k0, (uint64_t)c3 << 32 | c2, (uint64_t)c1 << 32 | c0, got);
    int same = memcmp(got, want, sizeof got) == 0;
    if (!same) diag("got %08x %08x %08x %08x", got[0], got[1], got[2], got[3]);
    return same;
}

static void test_known_answers(void)
{
    static const uint32_t zero[4] = {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8};
    static const uint32_t ones[4] = {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd};
    static const uint32_t pi[4] = {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1};
    ok(kat(0, 0, 0, 0, 0, 0, zero), "philox4x32-10 KAT: counter 0, key 0");
    ok(kat(~0u, ~0u, ~0u, ~0u, ~0u, ~0u, ones), "philox4x32-10 KAT: counter and key all ones");
    ok(kat(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, pi),
       "philox4x32-10 KAT: digits of pi");

    /* FNV-1a 64 reference values (Fowler, Noll, Vo test suite). */
    ok(cb_rng_stream("") == 0xcbf29ce484222325u && cb_rng_stream("a") == 0xaf63dc4c8601ec8cu &&
           cb_rng_stream("foobar") == 0x85944171f73967e8u,
       "cb_rng_stream is FNV-1a 64 ('', 'a', 'foobar')");
}

/* ---- determinism and slices --------------------------------------------- */

static void test_determinism(void)
{
    enum { N = 150001 };    /* past 2^16, where the fills go parallel */
    float *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b), *c = malloc(N * sizeof *c);
    double *d = malloc(N * sizeof *d);
    if (!a || !b || !c || !d) {
        ok(0, "allocation");
        free(a), free(b), free(c), free(d);
        return;
    }
    uint64_t s = cb_rng_stream("q");
    cb_rng_normal(a, N, 42, s, 1.0f);
    cb_rng_normal(b, N, 42, s, 1.0f);
    ok(memcmp(a, b, N * sizeof *a) == 0, "same (seed, stream) gives the same bits");

    cb_rng_normal(b, N, 43, s, 1.0f);
    cb_rng_normal(c, N, 42, cb_rng_stream("k"), 1.0f);
    int same_seed = 0, same_stream = 0;
    for (int i = 0; i < N; i++) {
        same_seed += a[i] == b[i];
        same_stream += a[i] == c[i];
    }
    ok(same_seed == 0 && same_stream == 0,
       "another seed or stream gives other values (%d, %d equal of %d)", same_seed, same_stream, N);

    /* [0, N) equals [0, m) + [m, N) for an odd and an even split point (an
     * odd one cuts a Box-Muller pair in two). */
    int slices_ok = 1;
    for (size_t m = 70001; m <= 70002; m++) {
        cb_rng_normal_at(b, m, 42, s, 0, 1.0f);
        cb_rng_normal_at(b + m, N - m, 42, s, m, 1.0f);
        slices_ok &= memcmp(a, b, N * sizeof *a) == 0;
    }
    ok(slices_ok, "filling two slices at their offsets equals filling the whole");

    /* Every element alone, at its own index. */
    int single_ok = 1;
    for (size_t i = 0; i < N; i += 97) {
        float one;
        cb_rng_normal_at(&one, 1, 42, s, i, 1.0f);
        single_ok &= one == a[i];
    }
    ok(single_ok, "one element at index i equals element i of the whole fill");

    cb_rng_normal(b, N, 42, s, 2.5f);
    cb_rng_normal_d(d, N, 42, s, 1.0);
    int scale_ok = 1, d_ok = 1;
    for (int i = 0; i < N; i++) {
        scale_ok &= b[i] == (float)(d[i] * 2.5);
        d_ok &= (float)d[i] == a[i];
    }
    ok(scale_ok && d_ok, "scale multiplies; the double fill rounds to the float fill");
    free(a), free(b), free(c), free(d);
}

/* ---- distributions ----------------------------------------------------- */

static void test_moments(void)
{
    enum { N = 1000000 };
    float *x = malloc(N * sizeof *x);
    if (!x) {
        ok(0, "allocation");
        return;
    }
    cb_rng_normal(x, N, 20200629, cb_rng_stream("moments"), 1.0f);
    double sum = 0, sq = 0, q4 = 0, mx = 0;
    int finite = 1;
    for (int i = 0; i < N; i++) {
        finite &= isfinite(x[i]);
        sum += x[i];
        if (fabs(x[i]) > mx) mx = fabs(x[i]);
    }
    double mean = sum / N;
    for (int i = 0; i < N; i++) {
        double e = x[i] - mean;
        sq += e * e;
        q4 += e * e * e * e;
    }
    double var = sq / (N - 1), kurt = q4 / N / (var * var);
    /* Neighbours share a Philox counter (the cos and sin of one pair): they
     * must still be uncorrelated. */
    double lag = 0;
    for (int i = 0; i + 1 < N; i++) lag += (x[i] - mean) * (x[i + 1] - mean);
    double rho = lag / (N - 1) / var;
    diag("1e6 normals: mean %.5f, variance %.5f, kurtosis %.4f, lag-1 corr %.5f, max |x| %.3f",
         mean, var, kurt, rho, mx);
    ok(finite, "normals are finite");
    ok(fabs(mean) < 5e-3, "normal mean %.5f within 5e-3 of 0", mean);
    ok(fabs(var - 1.0) < 1e-2, "normal variance %.5f within 1e-2 of 1", var);
    ok(fabs(kurt - 3.0) < 0.05, "normal kurtosis %.4f within 0.05 of 3", kurt);
    ok(fabs(rho) < 5e-3, "neighbouring normals uncorrelated (%.5f, within 5e-3)", rho);

    /* Uniform floats: in [0, 1), multiples of 2^-24, mean 1/2. */
    int in_range = 1, grid = 1;
    double usum = 0;
    for (uint64_t i = 0; i < N; i++) {
        float u = cb_rng_uniform(7, 1, i);
        in_range &= u >= 0.0f && u < 1.0f;
        grid &= (double)u * 16777216.0 == floor((double)u * 16777216.0);
        usum += u;
    }
    ok(in_range && grid, "uniform floats lie in [0, 1) on the 2^-24 grid");
    ok(fabs(usum / N - 0.5) < 2e-3, "uniform mean %.5f within 2e-3 of 1/2", usum / N);

    int d_range = 1, d_fine = 0;
    for (uint64_t i = 0; i < 100000; i++) {
        double u = cb_rng_uniform_d(7, 1, i);
        d_range &= u >= 0.0 && u < 1.0;
        /* a value off the 2^-24 grid shows bits beyond the float's 24 */
        d_fine += u * 16777216.0 != floor(u * 16777216.0);
    }
    ok(d_range && d_fine > 99000, "uniform doubles lie in [0, 1) with more than 24 bits (%d)", d_fine);

    cb_rng_fill_uniform(x, N, 7, 2, -3.0f, 5.0f);
    float lo = x[0], hi = x[0];
    for (int i = 0; i < N; i++) {
        if (x[i] < lo) lo = x[i];
        if (x[i] > hi) hi = x[i];
    }
    ok(lo >= -3.0f && hi < 5.0f && lo < -2.99f && hi > 4.99f,
       "fill_uniform(-3, 5) covers [-3, 5) and stays inside (%.4f .. %.4f)", lo, hi);

    /* A narrow interval far from 0, where lo + (hi-lo)*u rounds onto hi. */
    cb_rng_fill_uniform(x, 10000, 7, 3, 1.0f, 1.0000002f);
    int below = 1;
    for (int i = 0; i < 10000; i++) below &= x[i] >= 1.0f && x[i] < 1.0000002f;
    ok(below, "fill_uniform never returns hi, even when rounding would");
    free(x);
}

/* ---- inputs.c, on a kernel of this test's own --------------------------- */

static int toy_shapes(cb_params *p, cb_shape *in, cb_shape *out, char *err, size_t errlen)
{
    if (cb_params_default(p, "n", 5) != 0) return cb_fail(err, errlen, "params full");
    int64_t n = cb_params_int(p, "n", 5);
    if (n < 0) return cb_fail(err, errlen, "n must be >= 0, got %lld", (long long)n);
    in[0] = (cb_shape){2, {n, 3, 0, 0}};
    in[1] = (cb_shape){1, {n, 0, 0, 0}};
    out[0] = (cb_shape){1, {n, 0, 0, 0}};
    return 0;
}

static const cb_kernel toy = {
    .name = "toy", .summary = "test kernel", .params_doc = "n",
    .n_in = 2, .in = {"a", "b"}, .n_out = 1, .out = {"c"},
    .shapes = toy_shapes,
};

static void test_inputs(void)
{
    cb_params p = {0};
    cb_tensor in[CB_MAX_TENSORS], out[CB_MAX_TENSORS];
    char err[256];
    int rc = cb_inputs_make(&toy, &p, NULL, 99, in, out, err, sizeof err);
    ok(rc == 0 && cb_params_int(&p, "n", -1) == 5 && in[0].shape.rank == 2 &&
           in[0].shape.dim[0] == 5 && in[0].shape.dim[1] == 3 && out[0].shape.dim[0] == 5 &&
           strcmp(in[1].name, "b") == 0,
       "inputs_make fills defaults and allocates the kernel's shapes");
    if (rc != 0) return;
    float want[15];
    cb_rng_normal(want, 15, 99, cb_rng_stream("a"), 1.0f);
    int out_zero = 1;
    for (int i = 0; i < 5; i++) out_zero &= out[0].data[i] == 0.0f;
    ok(memcmp(in[0].data, want, sizeof want) == 0 && out_zero,
       "input 'a' is stream FNV-1a(\"a\") of the seed, standard normal; outputs zeroed");
    cb_inputs_free(&toy, in, out);

    cb_spec dist;
    memset(&dist, 0, sizeof dist);
    dist.n_inputs = 2;
    dist.inputs[0] = (cb_input_spec){.name = "b", .uniform = 1, .lo = 2.0, .hi = 4.0};
    dist.inputs[1] = (cb_input_spec){.name = "a", .uniform = 0, .scale = 0.5};
    rc = cb_inputs_make(&toy, &p, &dist, 99, in, out, err, sizeof err);
    int dist_ok = rc == 0;
    if (rc == 0) {
        float wb[5];
        cb_rng_fill_uniform(wb, 5, 99, cb_rng_stream("b"), 2.0f, 4.0f);
        cb_rng_normal(want, 15, 99, cb_rng_stream("a"), 0.5f);
        dist_ok = memcmp(in[1].data, wb, sizeof wb) == 0 && memcmp(in[0].data, want, sizeof want) == 0;
        cb_inputs_free(&toy, in, out);
    }
    ok(dist_ok, "the spec's distribution per input name: uniform[2, 4) for b, normal(0, 0.5) for a");

    cb_params_set(&p, "n", -2);
    rc = cb_inputs_make(&toy, &p, NULL, 99, in, out, err, sizeof err);
    ok(rc == -1 && strstr(err, "n must be >= 0") && in[0].data == NULL && out[0].data == NULL,
       "a shapes() failure returns -1 with its message and nothing allocated: %s", err);
}

int main(void)
{
    tap_plan(23);
    test_known_answers();
    test_determinism();
    test_moments();
    test_inputs();
    return tap_done();
}
