/* delta_rule.c (ref) — the delta_rule contract and its oracle.
 *
 * DeltaNet (Yang, Wang, Zhang, Shen, Kim 2024, "Parallelizing Linear
 * Transformers with the Delta Rule over Sequence Length") keeps per head a
 * dv x d matrix state S and updates it once per token with the delta rule:
 *
 *   k^_t = k_t / max(||k_t||, 1e-12)                   (L2-normalized key)
 *   S_t  = S_{t-1} (I - beta_t k^_t k^_t^T) + beta_t v_t k^_t^T,   S_0 = 0
 *        = S_{t-1} + beta_t (v_t - S_{t-1} k^_t) k^_t^T            (delta form)
 *   o_t  = S_t q_t
 *
 * q, k are [H, N, d], v is [H, N, dv], beta is [H, N]; o is [H, N, dv]. The
 * kernel normalizes every key row itself (as the DeltaNet layer does; the
 * harness generates raw Gaussian keys), which is idempotent up to rounding
 * on keys that are already unit vectors; a zero key row stays zero (the
 * step then leaves S unchanged). beta is used as given: for beta in [0, 2]
 * every factor I - beta k^ k^^T has norm <= 1, so the state stays bounded;
 * outside that range it may grow geometrically and overflow to inf, which
 * agreement reports; nothing crashes. `chunk` (default 64) is the chunk
 * length of the chunkwise backends; this oracle and the scan backend ignore it.
 *
 * This file runs the recurrence token by token in double, S stored dv x d.
 */
#include "kernel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- the contract ------------------------------------------------------ */

static int want_int(const cb_params *p, const char *name, int64_t lo, int64_t hi, int64_t *out, char *err,
                    size_t errlen)
{
    int i = cb_params_find(p, name);
    if (i < 0)
        return cb_fail(err, errlen, "delta_rule: missing parameter %s", name);
    double v = p->value[i];
    if (!(v == floor(v)) || v < (double)lo || v > (double)hi)
        return cb_fail(err, errlen, "delta_rule: %s = %g must be an integer in [%lld, %lld]", name, v,
                       (long long)lo, (long long)hi);
    *out = (int64_t)v;
    return 0;
}

static int dr_shapes(cb_params *p, cb_shape *in, cb_shape *out, char *err, size_t errlen)
{
    int64_t H = 0, N = 0, d = 0, dv = 0, C = 0;
    if (cb_params_default(p, "chunk", 64))
        return cb_fail(err, errlen, "delta_rule: too many parameters");
    if (want_int(p, "H", 1, 1 << 20, &H, err, errlen) || want_int(p, "N", 1, 1 << 30, &N, err, errlen) ||
        want_int(p, "d", 1, 4096, &d, err, errlen) || want_int(p, "dv", 1, 4096, &dv, err, errlen) ||
        want_int(p, "chunk", 1, 1024, &C, err, errlen))
        return -1;
    if (H * N * (d > dv ? d : dv) > ((int64_t)1 << 31))
        return cb_fail(err, errlen, "delta_rule: H*N*max(d, dv) = %lld is too large",
                       (long long)(H * N * (d > dv ? d : dv)));
    in[0] = (cb_shape){3, {H, N, d}};    /* q */
    in[1] = (cb_shape){3, {H, N, d}};    /* k */
    in[2] = (cb_shape){3, {H, N, dv}};   /* v */
    in[3] = (cb_shape){2, {H, N}};       /* beta */
    out[0] = (cb_shape){3, {H, N, dv}};  /* o */
    return 0;
}

static int dr_infer(cb_params *p, const cb_shape *in, char *err, size_t errlen)
{
    for (int t = 0; t < 3; t++)
        if (in[t].rank != 3)
            return cb_fail(err, errlen, "delta_rule: %s must be [H, N, %s]", t == 0 ? "q" : t == 1 ? "k" : "v",
                           t == 2 ? "dv" : "d");
    if (in[3].rank != 2)
        return cb_fail(err, errlen, "delta_rule: beta must be [H, N]");
    for (int a = 0; a < 3; a++)
        if (in[1].dim[a] != in[0].dim[a])
            return cb_fail(err, errlen, "delta_rule: k must have the shape of q");
    if (in[2].dim[0] != in[0].dim[0] || in[2].dim[1] != in[0].dim[1])
        return cb_fail(err, errlen, "delta_rule: v must be [H, N, dv] with the H, N of q");
    if (in[3].dim[0] != in[0].dim[0] || in[3].dim[1] != in[0].dim[1])
        return cb_fail(err, errlen, "delta_rule: beta must be [H, N] with the H, N of q");
    if (cb_params_set(p, "H", (double)in[0].dim[0]) || cb_params_set(p, "N", (double)in[0].dim[1]) ||
        cb_params_set(p, "d", (double)in[0].dim[2]) || cb_params_set(p, "dv", (double)in[2].dim[2]))
        return cb_fail(err, errlen, "delta_rule: too many parameters");
    return 0;
}

/* Nominal FLOPs, the same for every backend: those of the recurrence,
 * 6*H*N*d*dv (S k, the rank-1 update and S q, 2 flops per multiply-add).
 * The chunkwise backends do more (see tasks/deltanet_chunkwise.md), so their
 * GFLOP/s column is "recurrence-equivalent". Normalizing k (3*H*N*d) is not
 * counted. */
static double dr_flops(const cb_params *p)
{
    double H = cb_params_get(p, "H", 0), N = cb_params_get(p, "N", 0), d = cb_params_get(p, "d", 0),
           dv = cb_params_get(p, "dv", 0);
    return 6 * H * N * d * dv;
}

const cb_kernel cb_kernel_delta_rule = {
    .name = "delta_rule",
    .summary = "DeltaNet: S_t = S_{t-1}(I - b_t k_t k_t^T) + b_t v_t k_t^T, o_t = S_t q_t; k L2-normalized inside (Yang 2024)",
    .params_doc = "H N d dv chunk",
    .n_in = 4,
    .in = {"q", "k", "v", "beta"},
    .n_out = 1,
    .out = {"o"},
    .shapes = dr_shapes,
    .infer = dr_infer,
    .flops = dr_flops,
};

/* ---- the reference implementation ------------------------------------- */

typedef struct ref_dr {
    int64_t H, N, d, dv;
    double *S;    /* dv x d */
    double *kn;   /* the normalized key, d */
    double *a;    /* S k^, dv */
} ref_dr;

static void ref_dr_release(void *state)
{
    ref_dr *s = state;
    if (!s) return;
    free(s->S);
    free(s->kn);
    free(s->a);
    free(s);
}

static int ref_dr_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out, char *err,
                          size_t errlen)
{
    (void)in;
    (void)out;
    ref_dr *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "ref delta_rule: out of memory");
    s->H = cb_params_int(p, "H", 0);
    s->N = cb_params_int(p, "N", 0);
    s->d = cb_params_int(p, "d", 0);
    s->dv = cb_params_int(p, "dv", 0);
    s->S = malloc((size_t)(s->dv * s->d) * sizeof *s->S);
    s->kn = malloc((size_t)s->d * sizeof *s->kn);
    s->a = malloc((size_t)s->dv * sizeof *s->a);
    if (!s->S || !s->kn || !s->a) {
        ref_dr_release(s);
        return cb_fail(err, errlen, "ref delta_rule: out of memory");
    }
    *state = s;
    return 0;
}

static int ref_dr_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)p;
    ref_dr *s = state;
    const int64_t N = s->N, d = s->d, dv = s->dv;
    for (int64_t h = 0; h < s->H; h++) {
        const float *q = in[0].data + h * N * d, *k = in[1].data + h * N * d;
        const float *v = in[2].data + h * N * dv, *beta = in[3].data + h * N;
        float *o = out[0].data + h * N * dv;
        memset(s->S, 0, (size_t)(dv * d) * sizeof *s->S);   /* S_0 = 0 */
        for (int64_t t = 0; t < N; t++) {
            /* k^_t = k_t / max(||k_t||, 1e-12) */
            double nrm = 0;
            for (int64_t j = 0; j < d; j++)
                nrm += (double)k[t * d + j] * k[t * d + j];
            nrm = fmax(sqrt(nrm), 1e-12);
            for (int64_t j = 0; j < d; j++)
                s->kn[j] = k[t * d + j] / nrm;
            /* a = S_{t-1} k^_t */
            for (int64_t i = 0; i < dv; i++) {
                double acc = 0;
                for (int64_t j = 0; j < d; j++)
                    acc += s->S[i * d + j] * s->kn[j];
                s->a[i] = acc;
            }
            /* S_t = S_{t-1} + beta_t (v_t - a) k^_t^T */
            const double b = beta[t];
            for (int64_t i = 0; i < dv; i++) {
                const double delta = b * ((double)v[t * dv + i] - s->a[i]);
                for (int64_t j = 0; j < d; j++)
                    s->S[i * d + j] += delta * s->kn[j];
            }
            /* o_t = S_t q_t */
            for (int64_t i = 0; i < dv; i++) {
                double acc = 0;
                for (int64_t j = 0; j < d; j++)
                    acc += s->S[i * d + j] * (double)q[t * d + j];
                o[t * dv + i] = (float)acc;
            }
        }
    }
    return 0;
}

const cb_impl cb_impl_ref_delta_rule = {
    .kernel = "delta_rule",
    .backend = "ref",
    .how = "double: token by token, S += beta (v - S k^) k^^T, o = S q (S dv x d)",
    .prepare = ref_dr_prepare,
    .run = ref_dr_run,
    .release = ref_dr_release,
};
