/* linear_decode.c (dnnl) — token-by-token linear-attention decoding with
 * oneDNN 2.6 matmul primitives.
 *
 * The shapes are the same at every step, so two primitives built in
 * prepare() serve every token, each batched over the H heads:
 *   update:  S [H,d,dv] += phi(k_t) [H,d,1] x v_t [H,1,dv]   (sum post-op)
 *   readout: o_t [H,1,dv] = phi(q_t) [H,1,d] x S [H,d,dv]
 * v_t and o_t are strided views into v and o (head stride N*dv); their data
 * handles move to token t before each step. phi (vectorized C, elu1.c),
 * z += phi(k_t), the denominators phi(q_t).z and the division are C loops
 * over H*d numbers: a primitive for each would cost more in dispatch than
 * the arithmetic.
 *
 * Measured cost: for these shapes oneDNN 2.6.3 picks gemm:jit (not brgemm)
 * and an execution costs 8-12 us whatever the arithmetic (2 x 65 kFLOP per
 * token at H = 8, d = dv = 64), so this backend runs at about 24 us per
 * token with 2 threads (about 16 us with 1) where the blas one takes 5-8:
 * per-call overhead, not the O(H d dv) work, sets its speed.
 */
#include "kernel.h"
#include "dnnl/dnnl_util.h"
#include "common/elu1.h"

#include <stdlib.h>
#include <string.h>

typedef struct dnnl_ld {
    cb_dnnl dn;
    int64_t H, N, d, dv;
    float *S, *z, *fk, *fq, *den;
    dnnl_primitive_t upd, read;
    dnnl_memory_t m_fk, m_fq, m_v, m_o, m_S;
} dnnl_ld;

static void dnnl_ld_release(void *state)
{
    dnnl_ld *s = state;
    if (!s) return;
    if (s->upd) dnnl_primitive_destroy(s->upd);
    if (s->read) dnnl_primitive_destroy(s->read);
    dnnl_memory_t ms[] = {s->m_fk, s->m_fq, s->m_v, s->m_o, s->m_S};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
        if (ms[i]) dnnl_memory_destroy(ms[i]);
    cb_dnnl_close(&s->dn);
    free(s->S);
    free(s->z);
    free(s->fk);
    free(s->fq);
    free(s->den);
    free(s);
}

static int make_matmul(dnnl_primitive_t *prim, dnnl_engine_t eng, const dnnl_memory_desc_t *src,
                       const dnnl_memory_desc_t *wei, const dnnl_memory_desc_t *dst, int sum,
                       char *err, size_t errlen)
{
    return cb_dnnl_matmul(prim, eng, src, wei, dst, 1.0f, sum, NULL, NULL, err, errlen);
}

static int dnnl_ld_build(dnnl_ld *s, const cb_params *p, const cb_tensor *in, cb_tensor *out,
                         char *err, size_t errlen)
{
    s->H = cb_params_int(p, "H", 0);
    s->N = cb_params_int(p, "N", 0);
    s->d = cb_params_int(p, "d", 0);
    s->dv = cb_params_int(p, "dv", s->d);
    const int64_t H = s->H, N = s->N, d = s->d, dv = s->dv;
    s->S = calloc((size_t)(H * d * dv), sizeof(float));
    s->z = calloc((size_t)(H * d), sizeof(float));
    s->fk = calloc((size_t)(H * d), sizeof(float));
    s->fq = calloc((size_t)(H * d), sizeof(float));
    s->den = calloc((size_t)H, sizeof(float));
    if (!s->S || !s->z || !s->fk || !s->fq || !s->den)
        return cb_fail(err, errlen, "dnnl linear_decode: out of memory");
    if (cb_dnnl_open(&s->dn, err, errlen))
        return -1;
    dnnl_memory_desc_t md_fk, md_fq, md_v, md_o, md_S;
    const dnnl_dim_t fk_dims[3] = {H, d, 1}, fk_str[3] = {d, 1, 1};
    const dnnl_dim_t fq_dims[3] = {H, 1, d}, fq_str[3] = {d, d, 1};
    const dnnl_dim_t v_dims[3] = {H, 1, dv}, v_str[3] = {N * dv, dv, 1};   /* token t of every head */
    const dnnl_dim_t S_dims[3] = {H, d, dv}, S_str[3] = {d * dv, dv, 1};
    if (cb_dnnl_md_strided(&md_fk, 3, fk_dims, fk_str, err, errlen) ||
        cb_dnnl_md_strided(&md_fq, 3, fq_dims, fq_str, err, errlen) ||
        cb_dnnl_md_strided(&md_v, 3, v_dims, v_str, err, errlen) ||
        cb_dnnl_md_strided(&md_o, 3, v_dims, v_str, err, errlen) ||
        cb_dnnl_md_strided(&md_S, 3, S_dims, S_str, err, errlen))
        return -1;
    CB_DNNL_TRY(dnnl_memory_create(&s->m_fk, &md_fk, s->dn.eng, s->fk));
    CB_DNNL_TRY(dnnl_memory_create(&s->m_fq, &md_fq, s->dn.eng, s->fq));
    CB_DNNL_TRY(dnnl_memory_create(&s->m_v, &md_v, s->dn.eng, in[2].data));
    CB_DNNL_TRY(dnnl_memory_create(&s->m_o, &md_o, s->dn.eng, out[0].data));
    CB_DNNL_TRY(dnnl_memory_create(&s->m_S, &md_S, s->dn.eng, s->S));
    if (make_matmul(&s->upd, s->dn.eng, &md_fk, &md_v, &md_S, 1, err, errlen) ||
        make_matmul(&s->read, s->dn.eng, &md_fq, &md_S, &md_o, 0, err, errlen))
        return -1;
    return 0;
}

static int dnnl_ld_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out,
                           char *err, size_t errlen)
{
    dnnl_ld *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "dnnl linear_decode: out of memory");
    if (dnnl_ld_build(s, p, in, out, err, errlen)) {
        dnnl_ld_release(s);
        return -1;
    }
    *state = s;
    return 0;
}

static int dnnl_ld_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)p;
    dnnl_ld *s = state;
    const int64_t H = s->H, N = s->N, d = s->d, dv = s->dv;
    memset(s->S, 0, (size_t)(H * d * dv) * sizeof(float));
    memset(s->z, 0, (size_t)(H * d) * sizeof(float));
    dnnl_exec_arg_t upd[3] = {{DNNL_ARG_SRC, s->m_fk}, {DNNL_ARG_WEIGHTS, s->m_v}, {DNNL_ARG_DST, s->m_S}};
    dnnl_exec_arg_t read[3] = {{DNNL_ARG_SRC, s->m_fq}, {DNNL_ARG_WEIGHTS, s->m_S}, {DNNL_ARG_DST, s->m_o}};
    for (int64_t t = 0; t < N; t++) {
        float *o = out[0].data + t * dv;
        cb_elu1_rows_f32(in[1].data + t * d, (size_t)(N * d), s->fk, (size_t)H, (size_t)d);
        cb_elu1_rows_f32(in[0].data + t * d, (size_t)(N * d), s->fq, (size_t)H, (size_t)d);
        for (int64_t h = 0; h < H; h++) {      /* z += phi(k_t); den = phi(q_t).z */
            float *z = s->z + h * d, den = 0.0f;
            for (int64_t a = 0; a < d; a++) {
                z[a] += s->fk[h * d + a];
                den += s->fq[h * d + a] * z[a];
            }
            s->den[h] = den;
        }
        if (dnnl_memory_set_data_handle(s->m_v, in[2].data + t * dv) != dnnl_success ||
            dnnl_memory_set_data_handle(s->m_o, o) != dnnl_success ||
            dnnl_primitive_execute(s->upd, s->dn.st, 3, upd) != dnnl_success ||
            dnnl_primitive_execute(s->read, s->dn.st, 3, read) != dnnl_success ||
            dnnl_stream_wait(s->dn.st) != dnnl_success)
            return -1;
        for (int64_t h = 0; h < H; h++) {
            float inv = 1.0f / s->den[h];
            for (int64_t c = 0; c < dv; c++)
                o[h * N * dv + c] *= inv;
        }
    }
    return 0;
}

const cb_impl cb_impl_dnnl_linear_decode = {
    .kernel = "linear_decode",
    .backend = "dnnl",
    .how = "per token: batched matmul rank-1 update of S (sum post-op) and batched readout, handles moved per token",
    .prepare = dnnl_ld_prepare,
    .run = dnnl_ld_run,
    .release = dnnl_ld_release,
};
