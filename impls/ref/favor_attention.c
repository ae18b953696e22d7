/* favor_attention.c (ref) — the favor_attention contract and its oracle.
 *
 * FAVOR+ (Choromanski et al. 2021, "Rethinking Attention with Performers")
 * estimates softmax attention softmax(q k^T / sqrt(d)) v in time linear in N.
 * With x = q / d^(1/4) and y = k / d^(1/4), so that SM(x, y) = exp(x.y) is
 * the softmax kernel exp(q.k / sqrt(d)), and m random features w_1..w_m (the
 * rows of the input w [m, d]), the positive random features of Lemma 1 are
 *
 *   phi(x)_l = exp(w_l.x - |x|^2 / 2) / sqrt(m),      l = 1..m,
 *
 * phi(x).phi(y) is an unbiased estimate of exp(x.y) for w_l ~ N(0, I_d), and
 *
 *   o_i = sum_j (phi(x_i).phi(y_j)) v_j / sum_j phi(x_i).phi(y_j)
 *       = phi(x_i)^T S / phi(x_i)^T z,  S = sum_j phi(y_j) v_j^T (m x dv),
 *                                       z = sum_j phi(y_j)       (m),
 *
 * non-causal, per head; q, k are [H, N, d], v and o [H, N, dv], w [m, d] is
 * shared by the heads. Whether w is iid Gaussian or block-orthogonal is the
 * caller's choice: the kernel takes it as given, so any output can be
 * reproduced exactly from the tensors alone.
 *
 * The stabilizer. exp(w.x - |x|^2/2) overflows or underflows in float for
 * large inputs, so the paper's code subtracts a maximum before exp: per query
 * row for the query features, one maximum over all keys and features for the
 * key features. A constant factor c_i on row i of phi(Q) multiplies both the
 * numerator and the denominator of o_i, and a constant c on all of phi(K)
 * multiplies S and z alike: both cancel exactly. So this file computes
 *
 *   phi_q(x_i)_l = exp(a_il - max_l' a_il') / sqrt(m),  a_il = w_l.x_i - |x_i|^2/2
 *   phi_k(y_j)_l = exp(b_jl - max_j'l' b_j'l') / sqrt(m), b_jl = w_l.y_j - |y_j|^2/2
 *
 * whose largest entries are exactly 1/sqrt(m). (The reference code takes the
 * maximum of w.x alone and also adds 1e-6 to every feature; that epsilon does
 * not cancel, it is a small bias outside Lemma 1, and is left out here.)
 *
 * This oracle computes it the obvious way in double: the key exponents of a
 * head, their maximum, phi(K), S and z, then each query row.
 */
#include "kernel.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- the contract ------------------------------------------------------ */

/* Fetch a required (or defaulted) parameter: an integer in [1, INT_MAX]
 * (the optimized backends index with int, as cblas does). */
static int want_dim(cb_params *p, const char *name, int64_t *out, char *err, size_t errlen)
{
    int i = cb_params_find(p, name);
    if (i < 0)
        return cb_fail(err, errlen, "favor_attention: missing parameter %s", name);
    double v = p->value[i];
    if (!(v == floor(v)) || v < 1 || v > (double)INT_MAX)
        return cb_fail(err, errlen, "favor_attention: %s = %g must be an integer in [1, %d]", name, v,
                       INT_MAX);
    *out = (int64_t)v;
    return 0;
}

static int fa_shapes(cb_params *p, cb_shape *in, cb_shape *out, char *err, size_t errlen)
{
    int64_t H = 0, N = 0, d = 0, dv = 0, m = 0;
    if (want_dim(p, "H", &H, err, errlen) || want_dim(p, "N", &N, err, errlen) ||
        want_dim(p, "d", &d, err, errlen))
        return -1;
    if (cb_params_default(p, "dv", (double)d) || cb_params_default(p, "m", 256))
        return cb_fail(err, errlen, "favor_attention: too many parameters");
    if (want_dim(p, "dv", &dv, err, errlen) || want_dim(p, "m", &m, err, errlen))
        return -1;
    /* Keep every tensor (and the N x m feature blocks) addressable. */
    const double big = 0x1p48;
    if ((double)H * N * d > big || (double)H * N * dv > big || (double)m * d > big ||
        (double)N * m > big)
        return cb_fail(err, errlen, "favor_attention: H, N, d, dv, m give tensors that are too large");
    in[0] = (cb_shape){3, {H, N, d}};   /* q */
    in[1] = (cb_shape){3, {H, N, d}};   /* k */
    in[2] = (cb_shape){3, {H, N, dv}};  /* v */
    in[3] = (cb_shape){2, {m, d}};      /* w: the random features, one per row */
    out[0] = (cb_shape){3, {H, N, dv}}; /* o */
    return 0;
}

static int fa_infer(cb_params *p, const cb_shape *in, char *err, size_t errlen)
{
    static const char *const names[3] = {"q", "k", "v"};
    for (int t = 0; t < 3; t++)
        if (in[t].rank != 3)
            return cb_fail(err, errlen, "favor_attention: input %s must be [H, N, d], got rank %d",
                           names[t], in[t].rank);
    if (in[3].rank != 2)
        return cb_fail(err, errlen, "favor_attention: input w must be [m, d], got rank %d", in[3].rank);
    const cb_shape *q = &in[0], *k = &in[1], *v = &in[2], *w = &in[3];
    if (k->dim[0] != q->dim[0] || k->dim[1] != q->dim[1] || k->dim[2] != q->dim[2])
        return cb_fail(err, errlen, "favor_attention: k must have the shape of q");
    if (v->dim[0] != q->dim[0] || v->dim[1] != q->dim[1])
        return cb_fail(err, errlen, "favor_attention: v must be [H, N, dv] with q's H and N");
    if (w->dim[1] != q->dim[2])
        return cb_fail(err, errlen, "favor_attention: w must be [m, d] with q's d = %lld, got d = %lld",
                       (long long)q->dim[2], (long long)w->dim[1]);
    if (cb_params_set(p, "H", (double)q->dim[0]) || cb_params_set(p, "N", (double)q->dim[1]) ||
        cb_params_set(p, "d", (double)q->dim[2]) || cb_params_set(p, "dv", (double)v->dim[2]) ||
        cb_params_set(p, "m", (double)w->dim[0]))
        return cb_fail(err, errlen, "favor_attention: too many parameters");
    return 0;
}

/* Nominal FLOPs of the algorithm, the same for every backend (2 per
 * multiply-add), per head:
 *   4*N*m*d    the projections W x_i and W y_j of every query and key
 *   4*N*m*dv   S = phi(K)^T V and phi(Q) S
 *   4*N*m      z = colsum phi(K) and phi(Q) z
 * The 2*N*m exponentials, the norms, maxima and divisions are not counted. */
static double fa_flops(const cb_params *p)
{
    double H = cb_params_get(p, "H", 0), N = cb_params_get(p, "N", 0), d = cb_params_get(p, "d", 0);
    double dv = cb_params_get(p, "dv", d), m = cb_params_get(p, "m", 256);
    return H * N * m * (4 * d + 4 * dv + 4);
}

const cb_kernel cb_kernel_favor_attention = {
    .name = "favor_attention",
    .summary = "FAVOR+ positive random features: phi(Q)(phi(K)^T V) normalised ~ softmax(QK^T/sqrt d)V (Choromanski 2021)",
    .params_doc = "H N d dv(=d) m(=256)",
    .n_in = 4,
    .in = {"q", "k", "v", "w"},
    .n_out = 1,
    .out = {"o"},
    .shapes = fa_shapes,
    .infer = fa_infer,
    .flops = fa_flops,
};

/* ---- the reference implementation ------------------------------------- */

typedef struct ref_fa {
    int64_t H, N, d, dv, m;
    double *fk;   /* phi(K) of one head, N x m (first the exponents b_jl) */
    double *S;    /* m x dv */
    double *z;    /* m */
    double *fq;   /* phi(x_i), m */
    double *x;    /* one scaled row, d */
} ref_fa;

static void ref_fa_release(void *state)
{
    ref_fa *s = state;
    if (!s) return;
    free(s->fk);
    free(s->S);
    free(s->z);
    free(s->fq);
    free(s->x);
    free(s);
}

static int ref_fa_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out,
                          char *err, size_t errlen)
{
    (void)in;
    (void)out;
    ref_fa *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "ref favor_attention: out of memory");
    s->H = cb_params_int(p, "H", 0);
    s->N = cb_params_int(p, "N", 0);
    s->d = cb_params_int(p, "d", 0);
    s->dv = cb_params_int(p, "dv", s->d);
    s->m = cb_params_int(p, "m", 256);
    s->fk = malloc((size_t)(s->N * s->m) * sizeof *s->fk);
    s->S = malloc((size_t)(s->m * s->dv) * sizeof *s->S);
    s->z = malloc((size_t)s->m * sizeof *s->z);
    s->fq = malloc((size_t)s->m * sizeof *s->fq);
    s->x = malloc((size_t)s->d * sizeof *s->x);
    if (!s->fk || !s->S || !s->z || !s->fq || !s->x) {
        ref_fa_release(s);
        return cb_fail(err, errlen, "ref favor_attention: out of memory");
    }
    *state = s;
    return 0;
}

/* e[l] = w_l . x - |x|^2 / 2 for the row r (d floats) scaled by c = d^(-1/4);
 * returns max_l e[l] (NaN entries never win the comparison, so a NaN input
 * stays NaN through exp instead of poisoning the maximum). */
static double exponents(const ref_fa *s, const float *w, const float *r, double c, double *e)
{
    double half_norm = 0;
    for (int64_t a = 0; a < s->d; a++) {
        s->x[a] = c * r[a];
        half_norm += s->x[a] * s->x[a];
    }
    half_norm /= 2;
    double mx = -INFINITY;
    for (int64_t l = 0; l < s->m; l++) {
        double t = 0;
        for (int64_t a = 0; a < s->d; a++)
            t += (double)w[l * s->d + a] * s->x[a];
        e[l] = t - half_norm;
        if (e[l] > mx) mx = e[l];
    }
    return mx;
}

static int ref_fa_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)p;
    ref_fa *s = state;
    const int64_t N = s->N, d = s->d, dv = s->dv, m = s->m;
    const double c = pow((double)d, -0.25), inv_sqrt_m = 1 / sqrt((double)m);
    const float *w = in[3].data;
    for (int64_t h = 0; h < s->H; h++) {
        const float *q = in[0].data + h * N * d, *k = in[1].data + h * N * d;
        const float *v = in[2].data + h * N * dv;
        float *o = out[0].data + h * N * dv;
        /* keys: all exponents, their maximum, then phi(K), S and z */
        double mk = -INFINITY;
        for (int64_t j = 0; j < N; j++) {
            double mj = exponents(s, w, k + j * d, c, s->fk + j * m);
            if (mj > mk) mk = mj;
        }
        memset(s->S, 0, (size_t)(m * dv) * sizeof *s->S);
        memset(s->z, 0, (size_t)m * sizeof *s->z);
        for (int64_t j = 0; j < N; j++) {
            double *f = s->fk + j * m;
            for (int64_t l = 0; l < m; l++) {
                f[l] = exp(f[l] - mk) * inv_sqrt_m;
                s->z[l] += f[l];
                for (int64_t e = 0; e < dv; e++)
                    s->S[l * dv + e] += f[l] * v[j * dv + e];
            }
        }
        /* queries: phi(x_i) with its own row maximum, then o_i */
        for (int64_t i = 0; i < N; i++) {
            double mq = exponents(s, w, q + i * d, c, s->fq);
            double den = 0;
            for (int64_t l = 0; l < m; l++) {
                s->fq[l] = exp(s->fq[l] - mq) * inv_sqrt_m;
                den += s->fq[l] * s->z[l];
            }
            for (int64_t e = 0; e < dv; e++) {
                double num = 0;
                for (int64_t l = 0; l < m; l++)
                    num += s->fq[l] * s->S[l * dv + e];
                o[i * dv + e] = (float)(num / den);
            }
        }
    }
    return 0;
}

const cb_impl cb_impl_ref_favor_attention = {
    .kernel = "favor_attention",
    .backend = "ref",
    .how = "double: key exponents, global max, phi(K), S and z, then each query row",
    .prepare = ref_fa_prepare,
    .run = ref_fa_run,
    .release = ref_fa_release,
};
