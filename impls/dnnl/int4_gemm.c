/* int4_gemm.c (dnnl) — the INT4 product on oneDNN 2.6 matmul, the integer
 * path: run() writes the levels clamp(rint(v), -7, 7) of a and b as int8 (one
 * vectorized pass, O(MK + KN), timed: the inputs change from call to call),
 * then one s8 x s8 matmul that accumulates in int32 and stores the sums as
 * f32 (exact: |c| <= 49 K < 2^24). INT4 values are held in int8.
 *
 * Why fast: on AVX-512 VNNI oneDNN's brgemm runs vpdpbusd, 64 8-bit
 * multiply-adds per instruction into 16 int32 lanes (s8 sources get a +128
 * shift and a precomputed compensation), against 16 fp32 FMAs per
 * vfmadd231ps: 4x the operations per instruction. The float32 baseline on
 * the same library and ISA is the matmul kernel's dnnl backend.
 *
 * The primitive is created in prepare() over the caller's output and the
 * scratch level buffers (plain row-major layouts), so run() is the
 * conversion pass and one execute.
 */
#include "common/int4_level.h"
#include "kernel.h"
#include "dnnl/dnnl_util.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

typedef struct dnnl_ig {
    int64_t M, K, N;
    int8_t *qa, *qb;             /* the levels */
    cb_dnnl dn;
    dnnl_primitive_t mm;
    dnnl_memory_t a_m, b_m, c_m;
} dnnl_ig;

static void dnnl_ig_release(void *state)
{
    dnnl_ig *s = state;
    if (!s) return;
    if (s->mm) dnnl_primitive_destroy(s->mm);
    if (s->a_m) dnnl_memory_destroy(s->a_m);
    if (s->b_m) dnnl_memory_destroy(s->b_m);
    if (s->c_m) dnnl_memory_destroy(s->c_m);
    cb_dnnl_close(&s->dn);
    free(s->qa);
    free(s->qb);
    free(s);
}

static int dnnl_ig_build(dnnl_ig *s, cb_tensor *out, char *err, size_t errlen)
{
    const dnnl_data_type_t dt = dnnl_s8;
    const size_t esz = 1;
    /* calloc: zeroed, so pre-touched (no page fault inside run()) */
    s->qa = calloc((size_t)(s->M * s->K), esz);
    s->qb = calloc((size_t)(s->K * s->N), esz);
    if (!s->qa || !s->qb)
        return cb_fail(err, errlen, "dnnl int4_gemm: out of memory");
    if (cb_dnnl_open(&s->dn, err, errlen))
        return -1;
    dnnl_memory_desc_t a_md, b_md, c_md;
    const dnnl_dims_t ad = {s->M, s->K}, bd = {s->K, s->N}, cd = {s->M, s->N};
    CB_DNNL_TRY(dnnl_memory_desc_init_by_tag(&a_md, 2, ad, dt, dnnl_ab));
    CB_DNNL_TRY(dnnl_memory_desc_init_by_tag(&b_md, 2, bd, dt, dnnl_ab));
    CB_DNNL_TRY(dnnl_memory_desc_init_by_tag(&c_md, 2, cd, dnnl_f32, dnnl_ab));
    dnnl_matmul_desc_t md;
    CB_DNNL_TRY(dnnl_matmul_desc_init(&md, &a_md, &b_md, NULL, &c_md));
    dnnl_primitive_desc_t pd;
    CB_DNNL_TRY(dnnl_primitive_desc_create(&pd, &md, NULL, s->dn.eng, NULL));
    dnnl_status_t st = dnnl_primitive_create(&s->mm, pd);
    dnnl_primitive_desc_destroy(pd);
    CB_DNNL_TRY(st);
    CB_DNNL_TRY(dnnl_memory_create(&s->a_m, &a_md, s->dn.eng, s->qa));
    CB_DNNL_TRY(dnnl_memory_create(&s->b_m, &b_md, s->dn.eng, s->qb));
    CB_DNNL_TRY(dnnl_memory_create(&s->c_m, &c_md, s->dn.eng, out[0].data));
    return 0;
}

static int dnnl_ig_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out,
                           char *err, size_t errlen)
{
    (void)in;
    dnnl_ig *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "dnnl int4_gemm: out of memory");
    s->M = cb_params_int(p, "M", 0);
    s->K = cb_params_int(p, "K", 0);
    s->N = cb_params_int(p, "N", 0);
    if (dnnl_ig_build(s, out, err, errlen)) {
        dnnl_ig_release(s);
        return -1;
    }
    *state = s;
    return 0;
}

/* The levels (common/int4_level.h) of a and b in one parallel region (one
 * fork/join per call, not two). */
static void levels_s8(const float *restrict a, int8_t *restrict qa, int64_t na, const float *restrict b,
                      int8_t *restrict qb, int64_t nb)
{
#pragma omp parallel if (na + nb >= 65536)
    {
#pragma omp for simd schedule(static) nowait
        for (int64_t i = 0; i < na; i++) {
            qa[i] = (int8_t)cb_int4_level(a[i]);
        }
#pragma omp for simd schedule(static)
        for (int64_t i = 0; i < nb; i++) {
            qb[i] = (int8_t)cb_int4_level(b[i]);
        }
    }
}

static int dnnl_ig_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)p;
    (void)out;
    dnnl_ig *s = state;
    levels_s8(in[0].data, s->qa, s->M * s->K, in[1].data, s->qb, s->K * s->N);
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, s->a_m}, {DNNL_ARG_WEIGHTS, s->b_m}, {DNNL_ARG_DST, s->c_m}};
    if (dnnl_primitive_execute(s->mm, s->dn.st, 3, args) != dnnl_success)
        return -1;
    return dnnl_stream_wait(s->dn.st) == dnnl_success ? 0 : -1;
}

const cb_impl cb_impl_dnnl_int4_gemm = {
    .kernel = "int4_gemm",
    .backend = "dnnl",
    .how = "levels to int8, oneDNN s8 x s8 matmul, int32 accumulation, f32 store (VNNI)",
    .prepare = dnnl_ig_prepare,
    .run = dnnl_ig_run,
    .release = dnnl_ig_release,
};
