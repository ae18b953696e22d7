/* int4_level.h — the INT4 level of a float carrier, clamp(rint(v), -7, 7)
 * with NaN -> 0, as the optimized int4_gemm backends compute it (blas into
 * float, dnnl into int8). Branch-free selects so `omp simd` loops vectorize;
 * both compares are false for NaN, which the last select maps to 0. The ref
 * oracle (impls/ref/int4_gemm.c) keeps its own double form on purpose. */
#ifndef CB_COMMON_INT4_LEVEL_H
#define CB_COMMON_INT4_LEVEL_H

#include <math.h>

static inline float cb_int4_level(float v)
{
    float r = rintf(v);
    r = r > 7.0f ? 7.0f : r;
    r = r < -7.0f ? -7.0f : r;
    return r == r ? r : 0.0f;
}

#endif
