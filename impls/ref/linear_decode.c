/* linear_decode.c (ref) — the linear_decode contract and its oracle.
 *
 * Autoregressive decoding with linear attention as an RNN (Katharopoulos et
 * al. 2020, eq. 16-20): token by token, as in generation, every head keeps
 * the state S (d x dv) and z (d), both zero before the first token:
 *
 *   S += phi(k_t) v_t^T,   z += phi(k_t),   o_t = phi(q_t)^T S / (phi(q_t)^T z)
 *
 * for t = 0 .. N-1, time outermost (token t of every head before token t+1),
 * phi(x) = elu(x) + 1. The output equals causal linear_attention; the point
 * is the cost per token, O(H d dv) whatever t is.
 *
 * This file is the double-precision reference: the state is double.
 */
#include "kernel.h"
#include "feature_map.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- the contract ------------------------------------------------------ */

static int want_int(cb_params *p, const char *name, int64_t lo, int64_t *out, char *err, size_t errlen)
{
    int i = cb_params_find(p, name);
    if (i < 0)
        return cb_fail(err, errlen, "linear_decode: missing parameter %s", name);
    double v = p->value[i];
    if (!(v == floor(v)) || v < (double)lo || v > 1e12)
        return cb_fail(err, errlen, "linear_decode: %s = %g must be an integer >= %lld",
                       name, v, (long long)lo);
    *out = (int64_t)v;
    return 0;
}

static int ld_shapes(cb_params *p, cb_shape *in, cb_shape *out, char *err, size_t errlen)
{
    int64_t H, N, d, dv;
    if (want_int(p, "H", 1, &H, err, errlen) || want_int(p, "N", 1, &N, err, errlen) ||
        want_int(p, "d", 1, &d, err, errlen))
        return -1;
    if (cb_params_default(p, "dv", (double)d))
        return cb_fail(err, errlen, "linear_decode: too many parameters");
    if (want_int(p, "dv", 1, &dv, err, errlen))
        return -1;
    in[0] = (cb_shape){3, {H, N, d}};   /* q */
    in[1] = (cb_shape){3, {H, N, d}};   /* k */
    in[2] = (cb_shape){3, {H, N, dv}};  /* v */
    out[0] = (cb_shape){3, {H, N, dv}}; /* o */
    return 0;
}

static int ld_infer(cb_params *p, const cb_shape *in, char *err, size_t errlen)
{
    for (int t = 0; t < 3; t++)
        if (in[t].rank != 3)
            return cb_fail(err, errlen, "linear_decode: input %d must be [H, N, d]", t);
    const cb_shape *q = &in[0], *k = &in[1], *v = &in[2];
    if (k->dim[0] != q->dim[0] || k->dim[1] != q->dim[1] || k->dim[2] != q->dim[2])
        return cb_fail(err, errlen, "linear_decode: k must have the shape of q");
    if (v->dim[0] != q->dim[0] || v->dim[1] != q->dim[1])
        return cb_fail(err, errlen, "linear_decode: v must be [H, N, dv] with q's H and N");
    if (cb_params_set(p, "H", (double)q->dim[0]) || cb_params_set(p, "N", (double)q->dim[1]) ||
        cb_params_set(p, "d", (double)q->dim[2]) || cb_params_set(p, "dv", (double)v->dim[2]))
        return cb_fail(err, errlen, "linear_decode: too many parameters");
    return 0;
}

/* Per token and head: the rank-1 update phi(k) v^T and the readout
 * phi(q)^T S (2*d*dv each), z += phi(k) and phi(q).z (2*d each, counted
 * like linear_attention's). Feature maps and divisions are not counted. */
static double ld_flops(const cb_params *p)
{
    double H = cb_params_get(p, "H", 0), N = cb_params_get(p, "N", 0), d = cb_params_get(p, "d", 0);
    double dv = cb_params_get(p, "dv", d);
    return 4 * H * N * d * dv + 4 * H * N * d;
}

const cb_kernel cb_kernel_linear_decode = {
    .name = "linear_decode",
    .summary = "token-by-token linear-attention decoding with the recurrent state S, z",
    .params_doc = "H N d dv(=d)",
    .n_in = 3,
    .in = {"q", "k", "v"},
    .n_out = 1,
    .out = {"o"},
    .shapes = ld_shapes,
    .infer = ld_infer,
    .flops = ld_flops,
};

/* ---- the reference implementation ------------------------------------- */

typedef struct ref_ld {
    int64_t H, N, d, dv;
    double *S;   /* H x d x dv */
    double *z;   /* H x d */
    double *f;   /* one feature row, d */
} ref_ld;

static void ref_ld_release(void *state)
{
    ref_ld *s = state;
    if (!s) return;
    free(s->S);
    free(s->z);
    free(s->f);
    free(s);
}

static int ref_ld_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out,
                          char *err, size_t errlen)
{
    (void)in;
    (void)out;
    ref_ld *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "ref linear_decode: out of memory");
    s->H = cb_params_int(p, "H", 0);
    s->N = cb_params_int(p, "N", 0);
    s->d = cb_params_int(p, "d", 0);
    s->dv = cb_params_int(p, "dv", s->d);
    s->S = malloc((size_t)(s->H * s->d * s->dv) * sizeof *s->S);
    s->z = malloc((size_t)(s->H * s->d) * sizeof *s->z);
    s->f = malloc((size_t)s->d * sizeof *s->f);
    if (!s->S || !s->z || !s->f) {
        ref_ld_release(s);
        return cb_fail(err, errlen, "ref linear_decode: out of memory");
    }
    *state = s;
    return 0;
}

static int ref_ld_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)p;
    ref_ld *s = state;
    const int64_t H = s->H, N = s->N, d = s->d, dv = s->dv;
    memset(s->S, 0, (size_t)(H * d * dv) * sizeof *s->S);
    memset(s->z, 0, (size_t)(H * d) * sizeof *s->z);
    for (int64_t t = 0; t < N; t++) {           /* time outermost, as in generation */
        for (int64_t h = 0; h < H; h++) {
            const float *q = in[0].data + (h * N + t) * d, *k = in[1].data + (h * N + t) * d;
            const float *v = in[2].data + (h * N + t) * dv;
            float *o = out[0].data + (h * N + t) * dv;
            double *S = s->S + h * d * dv, *z = s->z + h * d;
            /* absorb token t: S += phi(k) v^T, z += phi(k) */
            for (int64_t a = 0; a < d; a++) {
                double fk = cb_phi(k[a]);
                z[a] += fk;
                for (int64_t c = 0; c < dv; c++)
                    S[a * dv + c] += fk * v[c];
            }
            /* read: o = phi(q)^T S / phi(q)^T z */
            double den = 0;
            for (int64_t a = 0; a < d; a++) {
                s->f[a] = cb_phi(q[a]);
                den += s->f[a] * z[a];
            }
            for (int64_t c = 0; c < dv; c++) {
                double num = 0;
                for (int64_t a = 0; a < d; a++)
                    num += s->f[a] * S[a * dv + c];
                o[c] = (float)(num / den);
            }
        }
    }
    return 0;
}

const cb_impl cb_impl_ref_linear_decode = {
    .kernel = "linear_decode",
    .backend = "ref",
    .how = "double state S, z per head; per token a rank-1 update and a readout",
    .prepare = ref_ld_prepare,
    .run = ref_ld_run,
    .release = ref_ld_release,
};
