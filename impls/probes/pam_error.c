/* pam_error.c — probe: the error of piecewise-affine multiplication (PAM,
 * common/pam.h) and of the PAM matmul built from it.
 *
 * 1. The exhaustive mantissa grid: every pair (1 + i/G)(1 + j/G), G = 2^bits
 *    (default bits = 12: 16.8 M pairs, the top 12 mantissa bits of each
 *    operand), exponent 0. The relative error of PAM depends on the
 *    mantissas only: scaling an operand by 2^e adds e << 23 to its bits and
 *    so to the sum (checked below), and the sign only XORs. Emits
 *      grid_pairs, max_rel_under (the worst underestimate, 1/9),
 *      argmax_a, argmax_b (where: 1.5, 1.5), max_rel_over (0: never over),
 *      mean_rel_under (0.03849), mean_closed_form and mean_gap (|grid mean -
 *      closed form|),
 *      mismatch_closed_form (pam bits against 1 + x + y or 2 (x + y)
 *      evaluated in double, an independent formula: must be 0),
 *      mismatch_vector (the AVX-512 per-product path, cb_pam_bits_x16,
 *      against the scalar cb_pam_bits on the grid and on every pair of 40
 *      special values: must be 0),
 *      mismatch_scaling (signs and exponents: pam(+-2^e1 a, +-2^e2 b) against
 *      +-2^(e1+e2) pam(a, b) for 5 (e1, e2, signs) settings over a subgrid),
 *      and for the report's figure rel_err_diag (pam(a, a) against a^2) and
 *      rel_err_y_half (pam(a, 1.5) against 1.5 a) at a = 1, 1 + 1/64, ..., 2.
 * 2. The PAM matmul on standard normal a [mm, mm], b [mm, mm] (default
 *    mm = 256) against the exact product in double:
 *      nl2_<ref|avx512> = ||C_pam - C|| / ||C||, bias_avx512 =
 *      <C_pam - C, C> / <C, C>, norm_ratio_avx512 = ||C_pam|| / ||C||,
 *      seq_mismatch_avx512 (outputs that differ from the float32 sum of the
 *      scalar products taken in the order k = 0, 1, ...: must be 0),
 *    and what the per-product error predicts for them: for independent
 *    zero-mean products p_k = a_k b_k with PAM values q_k, the cross terms
 *    vanish and E||C_pam - C||^2 / E||C||^2 = E[(p - q)^2] / E[p^2], and
 *    E<C_pam - C, C> / E||C||^2 = E[p (q - p)] / E[p^2]. Both expectations
 *    are estimated from `pairs` (default 2^20) independent normal pairs:
 *      pred_nl2, pred_bias, nl2_over_pred, bias_over_pred.
 * Cost: about 1 s at the defaults.
 */
#include "kernel.h"
#include "rng.h"
#include "common/pam.h"
#include "probes/pam_error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the grid ------------------------------------------------------------ */

/* Li2(z) = sum_k z^k / k^2, |z| < 1 (enough terms for z <= 2/3 to 1e-18). */
static double dilog(double z)
{
    double s = 0, zk = 1;
    for (int k = 1; k <= 200; k++) {
        zk *= z;
        s += zk / ((double)k * k);
    }
    return s;
}

double cb_pam_mean_closed_form(void)
{
    const double l2 = log(2.0), l3 = log(3.0);
    return 4 * l2 * l2 - 1 - 3 * (l2 * l3 - dilog(2.0 / 3.0) + dilog(1.0 / 3.0));
}

/* 40 bit patterns covering every rule of cb_pam_bits: zeros, subnormals,
 * the normal range's ends, values near 1 and 2, infinities, NaNs. */
static const uint32_t special[40] = {
    0x00000000u, 0x80000000u, 0x00000001u, 0x807FFFFFu, 0x00400000u, 0x00800000u, 0x80800000u,
    0x00800001u, 0x01000000u, 0x1F800000u, 0x20000000u, 0x20000001u, 0x3F000000u, 0x3F7FFFFFu,
    0x3F800000u, 0xBF800000u, 0x3FC00000u, 0xBFC00000u, 0x3FFFFFFFu, 0x40000000u, 0x5F000000u,
    0x5F7FFFFFu, 0x5F800000u, 0x60000000u, 0x7E800000u, 0x7EFFFFFFu, 0x7F000000u, 0x7F7FFFFFu,
    0xFF7FFFFFu, 0x7F800000u, 0xFF800000u, 0x7FC00000u, 0xFFC00001u, 0x7F800001u, 0x00000010u,
    0x1F000000u, 0x1F7FFFFFu, 0x5F400000u, 0x20400000u, 0xC0490FDBu,
};

#ifdef __AVX512F__
/* Vector against scalar for a[0..15] x b[0..15] lane-wise; mismatches. */
static int vec_mismatch16(const uint32_t *ua, const uint32_t *ub)
{
    uint32_t r[16];
    const __m512i v = cb_pam_bits_x16(_mm512_loadu_si512(ua), _mm512_loadu_si512(ub));
    _mm512_storeu_si512(r, v);
    int bad = 0;
    for (int l = 0; l < 16; l++)
        bad += r[l] != cb_pam_bits(ua[l], ub[l]);
    return bad;
}
#endif

int cb_pam_grid_stats(int bits, cb_pam_grid *g)
{
    if (bits < 1 || bits > 16)
        return -1;
    memset(g, 0, sizeof *g);
    const uint32_t G = 1u << bits, shift = (uint32_t)(23 - bits);
    const double inv = 1.0 / (double)G;
    double max_under = -1, max_over = -1, sum_under = 0, mism_closed = 0;
    uint32_t arg_i = 0, arg_j = 0;
    for (uint32_t i = 0; i < G; i++) {
        const uint32_t ua = CB_PAM_BIAS | (i << shift);
        const double a = (double)cb_bits_f32(ua), x = i * inv;
        for (uint32_t j = 0; j < G; j++) {
            const uint32_t ub = CB_PAM_BIAS | (j << shift);
            const double b = (double)cb_bits_f32(ub), y = j * inv;
            const uint32_t q = cb_pam_bits(ua, ub);
            const double pam = (double)cb_bits_f32(q), ab = a * b;   /* exact: 2 x 17 significant bits */
            const double r = (pam - ab) / ab;
            if (-r > max_under) {
                max_under = -r;
                arg_i = i;
                arg_j = j;
            }
            if (r > max_over) max_over = r;
            sum_under += -r;
            /* the closed form: 1 + x + y without a carry, 2 (x + y) with one */
            const double closed = x + y < 1 ? 1 + x + y : 2 * (x + y);
            mism_closed += cb_f32_bits((float)closed) != q;
        }
    }
    g->pairs = (double)G * (double)G;
    g->max_under = max_under;
    g->argmax_a = 1 + arg_i * inv;
    g->argmax_b = 1 + arg_j * inv;
    g->max_over = max_over;
    g->mean_under = sum_under / g->pairs;
    g->mismatch_closed = mism_closed;

#ifdef __AVX512F__
    double mism_vec = 0;
    uint32_t va[16], vb[16];
    for (uint32_t i = 0; i < G; i++)
        for (uint32_t j0 = 0; j0 < G; j0 += 16) {
            int n = 0;
            for (uint32_t j = j0; j < j0 + 16; j++, n++) {
                /* signs alternate across lanes so the XOR is exercised too */
                va[n] = (CB_PAM_BIAS | (i << shift)) ^ ((j & 1u) << 31);
                vb[n] = (CB_PAM_BIAS | ((j % G) << shift)) ^ ((j & 2u) << 30);
            }
            mism_vec += vec_mismatch16(va, vb);
        }
    for (int s = 0; s < 40; s++)
        for (int t0 = 0; t0 < 40; t0 += 8) {
            /* 8 lanes of (special[s], special[t]) and 8 of the swapped pair */
            for (int l = 0; l < 8; l++) {
                va[l] = special[s];
                vb[l] = special[t0 + l];
                va[8 + l] = special[t0 + l];
                vb[8 + l] = special[s];
            }
            mism_vec += vec_mismatch16(va, vb);
        }
    g->mismatch_vector = mism_vec;
#else
    g->mismatch_vector = -1;
#endif

    /* exponents and signs: pam(s1 2^e1 a, s2 2^e2 b) = s1 s2 2^(e1+e2) pam(a, b) while in range */
    static const struct { int e1, e2; uint32_t s1, s2; } set[5] = {
        {-60, 30, 0, 1}, {100, -100, 1, 1}, {-63, -62, 0, 0}, {63, 63, 1, 0}, {-20, 7, 0, 0},
    };
    double mism_scale = 0;
    const uint32_t step = G >= 1024 ? G / 1024 : 1;
    for (int t = 0; t < 5; t++)
        for (uint32_t i = 0; i < G; i += step)
            for (uint32_t j = 0; j < G; j += step) {
                const uint32_t ua = CB_PAM_BIAS | (i << shift), ub = CB_PAM_BIAS | (j << shift);
                const uint32_t sa = (ua + ((uint32_t)set[t].e1 << 23)) | (set[t].s1 << 31);
                const uint32_t sb = (ub + ((uint32_t)set[t].e2 << 23)) | (set[t].s2 << 31);
                const uint32_t want = (cb_pam_bits(ua, ub) + ((uint32_t)(set[t].e1 + set[t].e2) << 23)) |
                                      ((set[t].s1 ^ set[t].s2) << 31);
                mism_scale += cb_pam_bits(sa, sb) != want;
            }
    g->mismatch_scaling = mism_scale;
    return 0;
}

/* ---- the matmul ------------------------------------------------------------ */

void cb_pam_compare(const float *c, const double *y, size_t n, double *nl2, double *bias, double *norm_ratio)
{
    double ee = 0, ey = 0, yy = 0, cc = 0;
    for (size_t i = 0; i < n; i++) {
        const double e = (double)c[i] - y[i];
        ee += e * e;
        ey += e * y[i];
        yy += y[i] * y[i];
        cc += (double)c[i] * c[i];
    }
    *nl2 = sqrt(ee) / sqrt(yy);
    *bias = ey / yy;
    *norm_ratio = sqrt(cc) / sqrt(yy);
}

static int add(cb_metrics *ms, const char *name, const cb_params *at, double v, char *err, size_t errlen)
{
    if (cb_metrics_add(ms, name, at, v))
        return cb_fail(err, errlen, "pam_error: out of memory");
    return 0;
}

static int matmul_part(int64_t n, int64_t pairs, uint64_t seed, const cb_params *at, cb_metrics *ms, char *err,
                       size_t errlen)
{
    const size_t nn = (size_t)(n * n);
    int rc = -1;
    float *a = malloc(nn * sizeof *a), *b = malloc(nn * sizeof *b), *seq = malloc(nn * sizeof *seq);
    double *y = malloc(nn * sizeof *y), *row = malloc((size_t)n * sizeof *row);
    float *pa = malloc((size_t)pairs * sizeof *pa), *pb = malloc((size_t)pairs * sizeof *pb);
    float *c_ref = NULL, *c_avx = NULL;
    if (!a || !b || !seq || !y || !row || !pa || !pb) {
        cb_fail(err, errlen, "pam_error: out of memory");
        goto done;
    }
    cb_rng_normal(a, nn, seed, cb_rng_stream("a"), 1.0f);
    cb_rng_normal(b, nn, seed, cb_rng_stream("b"), 1.0f);
    /* the exact product in double, and the float32 sequential sum of scalar PAMs */
    for (int64_t i = 0; i < n; i++) {
        for (int64_t j = 0; j < n; j++) {
            row[j] = 0;
            seq[i * n + j] = 0.0f;
        }
        for (int64_t k = 0; k < n; k++) {
            const float aik = a[i * n + k];
            for (int64_t j = 0; j < n; j++) {
                row[j] += (double)aik * (double)b[k * n + j];
                seq[i * n + j] += cb_pam_f32(aik, b[k * n + j]);
            }
        }
        for (int64_t j = 0; j < n; j++)
            y[i * n + j] = row[j];
    }
    const cb_kernel *k = cb_kernel_find("pam_matmul");
    const cb_impl *ir = cb_impl_find("pam_matmul", "ref"), *iv = cb_impl_find("pam_matmul", "avx512");
    if (!k || !ir || !iv) {
        cb_fail(err, errlen, "pam_error: pam_matmul ref/avx512 missing from the registry");
        goto done;
    }
    const float *const in[2] = {a, b};
    int64_t got = 0;
    cb_params kp = {0};
    if (cb_params_set(&kp, "M", (double)n) || cb_params_set(&kp, "K", (double)n) ||
        cb_params_set(&kp, "N", (double)n)) {
        cb_fail(err, errlen, "pam_error: too many parameters");
        goto done;
    }
    cb_params k1 = kp, k2 = kp;
    if (cb_impl_run_arrays(k, ir, &k1, in, &c_ref, &got, err, errlen) ||
        cb_impl_run_arrays(k, iv, &k2, in, &c_avx, &got, err, errlen))
        goto done;
    double nl2_ref, bias_ref, nr_ref, nl2, bias, nr;
    cb_pam_compare(c_ref, y, nn, &nl2_ref, &bias_ref, &nr_ref);
    cb_pam_compare(c_avx, y, nn, &nl2, &bias, &nr);
    double seq_mismatch = 0;
    for (size_t i = 0; i < nn; i++)
        seq_mismatch += cb_f32_bits(c_avx[i]) != cb_f32_bits(seq[i]);

    /* the prediction from independent product pairs */
    cb_rng_normal(pa, (size_t)pairs, seed, cb_rng_stream("pair_a"), 1.0f);
    cb_rng_normal(pb, (size_t)pairs, seed, cb_rng_stream("pair_b"), 1.0f);
    double s_pp = 0, s_dd = 0, s_pd = 0;
    for (int64_t t = 0; t < pairs; t++) {
        const double p = (double)pa[t] * (double)pb[t], q = (double)cb_pam_f32(pa[t], pb[t]);
        s_pp += p * p;
        s_dd += (q - p) * (q - p);
        s_pd += p * (q - p);
    }
    const double pred_nl2 = sqrt(s_dd / s_pp), pred_bias = s_pd / s_pp;
    if (add(ms, "nl2_ref", at, nl2_ref, err, errlen) || add(ms, "nl2_avx512", at, nl2, err, errlen) ||
        add(ms, "bias_avx512", at, bias, err, errlen) || add(ms, "norm_ratio_avx512", at, nr, err, errlen) ||
        add(ms, "seq_mismatch_avx512", at, seq_mismatch, err, errlen) ||
        add(ms, "pred_nl2", at, pred_nl2, err, errlen) || add(ms, "pred_bias", at, pred_bias, err, errlen) ||
        add(ms, "nl2_over_pred", at, nl2 / pred_nl2, err, errlen) ||
        add(ms, "bias_over_pred", at, bias / pred_bias, err, errlen))
        goto done;
    rc = 0;
done:
    free(a);
    free(b);
    free(seq);
    free(y);
    free(row);
    free(pa);
    free(pb);
    free(c_ref);
    free(c_avx);
    return rc;
}

static int probe_run(const cb_params *params, uint64_t seed, cb_metrics *ms, char *err, size_t errlen)
{
    cb_params p = *params;
    if (cb_params_default(&p, "bits", 12) || cb_params_default(&p, "mm", 256) ||
        cb_params_default(&p, "pairs", 1 << 20))
        return cb_fail(err, errlen, "pam_error: too many parameters");
    const double bits = cb_params_get(&p, "bits", 0), mm = cb_params_get(&p, "mm", 0),
                 pairs = cb_params_get(&p, "pairs", 0);
    if (!(bits >= 4 && bits <= 14 && bits == floor(bits)))
        return cb_fail(err, errlen, "pam_error: bits = %g must be an integer in [4, 14]", bits);
    if (!(mm >= 1 && mm <= 2048 && mm == floor(mm)))
        return cb_fail(err, errlen, "pam_error: mm = %g must be an integer in [1, 2048]", mm);
    if (!(pairs >= 1 && pairs <= (1 << 26) && pairs == floor(pairs)))
        return cb_fail(err, errlen, "pam_error: pairs = %g must be an integer in [1, 2^26]", pairs);
    cb_pam_grid g;
    if (cb_pam_grid_stats((int)bits, &g))
        return cb_fail(err, errlen, "pam_error: bad bits");
    if (g.mismatch_vector < 0)
        return cb_fail(err, errlen, "pam_error: built without AVX-512F, cannot check the vector path");
    cb_params at = {0};
    if (cb_params_set(&at, "bits", bits))
        return cb_fail(err, errlen, "pam_error: too many parameters");
    const double closed = cb_pam_mean_closed_form();
    if (add(ms, "grid_pairs", &at, g.pairs, err, errlen) || add(ms, "max_rel_under", &at, g.max_under, err, errlen) ||
        add(ms, "argmax_a", &at, g.argmax_a, err, errlen) || add(ms, "argmax_b", &at, g.argmax_b, err, errlen) ||
        add(ms, "max_rel_over", &at, g.max_over, err, errlen) ||
        add(ms, "mean_rel_under", &at, g.mean_under, err, errlen) ||
        add(ms, "mean_closed_form", &at, closed, err, errlen) ||
        add(ms, "mean_gap", &at, fabs(g.mean_under - closed), err, errlen) ||
        add(ms, "mismatch_closed_form", &at, g.mismatch_closed, err, errlen) ||
        add(ms, "mismatch_vector", &at, g.mismatch_vector, err, errlen) ||
        add(ms, "mismatch_scaling", &at, g.mismatch_scaling, err, errlen))
        return -1;
    /* the error profile for the figure: along the diagonal y = x and along
     * y = 1/2, at 65 points x = i/64 (operand 1 + x) */
    for (int i = 0; i <= 64; i++) {
        const double x = i / 64.0;
        const float a = (float)(1 + x), h = 1.5f;
        cb_params ax = {0};
        if (cb_params_set(&ax, "a", 1 + x))
            return cb_fail(err, errlen, "pam_error: too many parameters");
        /* x = 1 is 2.0: the next binade, where the error is 0 again */
        const double ed = ((double)cb_pam_f32(a, a) - (double)a * a) / ((double)a * a);
        const double eh = ((double)cb_pam_f32(a, h) - (double)a * h) / ((double)a * h);
        if (add(ms, "rel_err_diag", &ax, ed, err, errlen) || add(ms, "rel_err_y_half", &ax, eh, err, errlen))
            return -1;
    }
    cb_params atm = {0};
    if (cb_params_set(&atm, "mm", mm))
        return cb_fail(err, errlen, "pam_error: too many parameters");
    return matmul_part((int64_t)mm, (int64_t)pairs, seed, &atm, ms, err, errlen);
}

const cb_probe cb_probe_pam_error = {
    .name = "pam_error",
    .summary = "piecewise-affine multiply: worst/mean error on the exhaustive mantissa grid, bit-exactness, PAM matmul error",
    .run = probe_run,
};
