/* linear_attention.c (ref) — the linear_attention contract and its oracle.
 *
 * Linear attention (Katharopoulos et al. 2020, "Transformers are RNNs")
 * replaces softmax(q.k) by the kernel phi(q).phi(k), phi(x) = elu(x) + 1, so
 * the sum over keys factors through a d x dv state:
 *
 *   o_i = phi(q_i)^T S_i / (phi(q_i)^T z_i),
 *   S_i = sum_j phi(k_j) v_j^T   (d x dv),   z_i = sum_j phi(k_j)   (d),
 *
 * with j over all N keys, or over j <= i when causal. Per head, q and k are
 * [N, d], v and o are [N, dv]; H heads are independent.
 *
 * This file computes it the obvious way, accumulating in double:
 *   non-causal: S and z once per head, then each output row;
 *   causal:     the recurrence S += phi(k_i) v_i^T, z += phi(k_i), then o_i
 *               from the running S, z (the RNN form of the paper).
 */
#include "kernel.h"
#include "feature_map.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- the contract ------------------------------------------------------ */

/* Fetch a required (or defaulted) parameter that must be an integer >= lo. */
static int want_int(cb_params *p, const char *name, int64_t lo, int64_t *out, char *err, size_t errlen)
{
    int i = cb_params_find(p, name);
    if (i < 0)
        return cb_fail(err, errlen, "linear_attention: missing parameter %s", name);
    double v = p->value[i];
    if (!(v == floor(v)) || v < (double)lo || v > 1e12)
        return cb_fail(err, errlen, "linear_attention: %s = %g must be an integer >= %lld",
                       name, v, (long long)lo);
    *out = (int64_t)v;
    return 0;
}

static int la_shapes(cb_params *p, cb_shape *in, cb_shape *out, char *err, size_t errlen)
{
    int64_t H, N, d, dv, causal, chunk;
    if (want_int(p, "H", 1, &H, err, errlen) || want_int(p, "N", 1, &N, err, errlen) ||
        want_int(p, "d", 1, &d, err, errlen))
        return -1;
    if (cb_params_default(p, "dv", (double)d) || cb_params_default(p, "causal", 0) ||
        cb_params_default(p, "chunk", 64))
        return cb_fail(err, errlen, "linear_attention: too many parameters");
    if (want_int(p, "dv", 1, &dv, err, errlen) || want_int(p, "causal", 0, &causal, err, errlen) ||
        want_int(p, "chunk", 1, &chunk, err, errlen))
        return -1;
    if (causal > 1)
        return cb_fail(err, errlen, "linear_attention: causal = %lld must be 0 or 1", (long long)causal);
    in[0] = (cb_shape){3, {H, N, d}};   /* q */
    in[1] = (cb_shape){3, {H, N, d}};   /* k */
    in[2] = (cb_shape){3, {H, N, dv}};  /* v */
    out[0] = (cb_shape){3, {H, N, dv}}; /* o */
    return 0;
}

static int la_infer(cb_params *p, const cb_shape *in, char *err, size_t errlen)
{
    for (int t = 0; t < 3; t++)
        if (in[t].rank != 3)
            return cb_fail(err, errlen, "linear_attention: input %d must be [H, N, d]", t);
    const cb_shape *q = &in[0], *k = &in[1], *v = &in[2];
    if (k->dim[0] != q->dim[0] || k->dim[1] != q->dim[1] || k->dim[2] != q->dim[2])
        return cb_fail(err, errlen, "linear_attention: k must have the shape of q");
    if (v->dim[0] != q->dim[0] || v->dim[1] != q->dim[1])
        return cb_fail(err, errlen, "linear_attention: v must be [H, N, dv] with q's H and N");
    if (cb_params_set(p, "H", (double)q->dim[0]) || cb_params_set(p, "N", (double)q->dim[1]) ||
        cb_params_set(p, "d", (double)q->dim[2]) || cb_params_set(p, "dv", (double)v->dim[2]))
        return cb_fail(err, errlen, "linear_attention: too many parameters");
    return 0;
}

/* Nominal FLOPs of the linear algorithm, the same for every backend:
 *   4*H*N*d*dv   phi(K)^T V and phi(Q) S (2 flops per multiply-add)
 *   4*H*N*d      z = colsum phi(K) and phi(Q) z (counted as 2 each)
 * and when causal, the intra-chunk products of the chunked form, counted
 * as full C x C blocks, C = min(chunk, N):
 *   2*H*N*C*(d + dv)   phi(Q_c) phi(K_c)^T and tril(.) V_c
 * Feature maps, the divisions and the intra-chunk row sums are not counted. */
static double la_flops(const cb_params *p)
{
    double H = cb_params_get(p, "H", 0), N = cb_params_get(p, "N", 0), d = cb_params_get(p, "d", 0);
    double dv = cb_params_get(p, "dv", d), C = cb_params_get(p, "chunk", 64);
    double f = 4 * H * N * d * dv + 4 * H * N * d;
    if (cb_params_get(p, "causal", 0) != 0)
        f += 2 * H * N * (C < N ? C : N) * (d + dv);
    return f;
}

const cb_kernel cb_kernel_linear_attention = {
    .name = "linear_attention",
    .summary = "phi(Q)(phi(K)^T V) normalised, phi = elu+1; causal optional (Katharopoulos 2020)",
    .params_doc = "H N d dv(=d) causal(=0) chunk(=64)",
    .n_in = 3,
    .in = {"q", "k", "v"},
    .n_out = 1,
    .out = {"o"},
    .shapes = la_shapes,
    .infer = la_infer,
    .flops = la_flops,
};

/* ---- the reference implementation ------------------------------------- */

typedef struct ref_la {
    int64_t H, N, d, dv;
    int causal;
    double *S;   /* d x dv state */
    double *z;   /* d */
    double *fq;  /* phi(q_i), d */
    double *fk;  /* phi(k_j), d */
} ref_la;

static void ref_la_release(void *state)
{
    ref_la *s = state;
    if (!s) return;
    free(s->S);
    free(s->z);
    free(s->fq);
    free(s->fk);
    free(s);
}

static int ref_la_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out,
                          char *err, size_t errlen)
{
    (void)in;
    (void)out;
    ref_la *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "ref linear_attention: out of memory");
    s->H = cb_params_int(p, "H", 0);
    s->N = cb_params_int(p, "N", 0);
    s->d = cb_params_int(p, "d", 0);
    s->dv = cb_params_int(p, "dv", s->d);
    s->causal = (int)cb_params_int(p, "causal", 0);
    s->S = malloc((size_t)(s->d * s->dv) * sizeof *s->S);
    s->z = malloc((size_t)s->d * sizeof *s->z);
    s->fq = malloc((size_t)s->d * sizeof *s->fq);
    s->fk = malloc((size_t)s->d * sizeof *s->fk);
    if (!s->S || !s->z || !s->fq || !s->fk) {
        ref_la_release(s);
        return cb_fail(err, errlen, "ref linear_attention: out of memory");
    }
    *state = s;
    return 0;
}

/* S += phi(k) v^T and z += phi(k), for one key row k (d) and value row v (dv). */
static void absorb(ref_la *s, const float *k, const float *v)
{
    for (int64_t a = 0; a < s->d; a++)
        s->fk[a] = cb_phi(k[a]);
    for (int64_t a = 0; a < s->d; a++) {
        s->z[a] += s->fk[a];
        for (int64_t c = 0; c < s->dv; c++)
            s->S[a * s->dv + c] += s->fk[a] * v[c];
    }
}

/* o = phi(q)^T S / (phi(q)^T z), for one query row q (d) into o (dv). */
static void readout(ref_la *s, const float *q, float *o)
{
    double den = 0;
    for (int64_t a = 0; a < s->d; a++) {
        s->fq[a] = cb_phi(q[a]);
        den += s->fq[a] * s->z[a];
    }
    for (int64_t c = 0; c < s->dv; c++) {
        double num = 0;
        for (int64_t a = 0; a < s->d; a++)
            num += s->fq[a] * s->S[a * s->dv + c];
        o[c] = (float)(num / den);
    }
}

static int ref_la_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)p;
    ref_la *s = state;
    const int64_t N = s->N, d = s->d, dv = s->dv;
    for (int64_t h = 0; h < s->H; h++) {
        const float *q = in[0].data + h * N * d, *k = in[1].data + h * N * d;
        const float *v = in[2].data + h * N * dv;
        float *o = out[0].data + h * N * dv;
        memset(s->S, 0, (size_t)(d * dv) * sizeof *s->S);
        memset(s->z, 0, (size_t)d * sizeof *s->z);
        if (s->causal) {
            for (int64_t i = 0; i < N; i++) {   /* the RNN: absorb token i, then read */
                absorb(s, k + i * d, v + i * dv);
                readout(s, q + i * d, o + i * dv);
            }
        } else {
            for (int64_t j = 0; j < N; j++)
                absorb(s, k + j * d, v + j * dv);
            for (int64_t i = 0; i < N; i++)
                readout(s, q + i * d, o + i * dv);
        }
    }
    return 0;
}

const cb_impl cb_impl_ref_linear_attention = {
    .kernel = "linear_attention",
    .backend = "ref",
    .how = "double accumulation: S, z then rows; causal by the recurrence",
    .prepare = ref_la_prepare,
    .run = ref_la_run,
    .release = ref_la_release,
};
