/* fwht.c — in-place fast Walsh-Hadamard transform (Sylvester order), float
 * and double; see fwht.h.
 *
 * Why it is fast: the first stages, whose butterflies pair elements inside
 * one 512-bit vector (strides 1..8 for float, 1..4 for double), are done in
 * registers on each vector: per stage one permute (the partner lane i ^ h),
 * one add and one masked subtract, so each element is loaded and stored once
 * for all of them. The later stages go two at a time, as passes of
 * contiguous radix-4 butterflies that the compiler vectorizes (omp simd; -O3
 * for impls/common). A row of up to 2^16 floats (256 KiB) stays in the 1 MiB L2
 * across its passes, so the transform runs at L1/L2 bandwidth: O(n log n)
 * work against the O(n^2) of a dense matmul. Without AVX-512 the first
 * three stages run on 8-element blocks in scalar registers instead.
 */
#include "fwht.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

/* The contiguous stages h = h0, 2 h0, ..., n/2, two at a time: one pass of
 * radix-4 butterflies over (a, b, c, d) = x[j], x[j+h], x[j+2h], x[j+3h]
 * does stages h and 2h with one load and one store per element, halving
 * the passes over a row that lives in L2; a last single stage if the count
 * is odd. */
#define FWHT_PASSES(T, h0)                                                    \
    {                                                                         \
        size_t h = (h0);                                                      \
        for (; 4 * h <= n; h <<= 2)                                           \
            for (size_t i = 0; i < n; i += 4 * h) {                           \
                T *restrict a = x + i, *restrict b = a + h, *restrict c = b + h, \
                  *restrict d = c + h;                                        \
                _Pragma("omp simd")                                           \
                for (size_t j = 0; j < h; j++) {                              \
                    T s0 = a[j] + b[j], d0 = a[j] - b[j];                     \
                    T s1 = c[j] + d[j], d1 = c[j] - d[j];                     \
                    a[j] = s0 + s1;                                           \
                    b[j] = d0 + d1;                                           \
                    c[j] = s0 - s1;                                           \
                    d[j] = d0 - d1;                                           \
                }                                                             \
            }                                                                 \
        for (; h < n; h <<= 1)                                                \
            for (size_t i = 0; i < n; i += 2 * h) {                           \
                T *restrict a = x + i, *restrict b = x + i + h;               \
                _Pragma("omp simd")                                           \
                for (size_t j = 0; j < h; j++) {                              \
                    T u = a[j], v = b[j];                                     \
                    a[j] = u + v;                                             \
                    b[j] = u - v;                                             \
                }                                                             \
            }                                                                 \
    }

/* Strides 1, 2, 4 on blocks of 8 (n >= 8), in scalar registers. */
#define FWHT_RADIX8(T)                                                        \
    for (size_t i = 0; i < n; i += 8) {                                       \
        T *p = x + i;                                                         \
        T a0 = p[0] + p[1], a1 = p[0] - p[1], a2 = p[2] + p[3],               \
          a3 = p[2] - p[3], a4 = p[4] + p[5], a5 = p[4] - p[5],               \
          a6 = p[6] + p[7], a7 = p[6] - p[7];                                 \
        T b0 = a0 + a2, b1 = a1 + a3, b2 = a0 - a2, b3 = a1 - a3;             \
        T b4 = a4 + a6, b5 = a5 + a7, b6 = a4 - a6, b7 = a5 - a7;             \
        p[0] = b0 + b4; p[1] = b1 + b5; p[2] = b2 + b6; p[3] = b3 + b7;       \
        p[4] = b0 - b4; p[5] = b1 - b5; p[6] = b2 - b6; p[7] = b3 - b7;       \
    }

void cb_fwht_f(float *x, size_t n)
{
    if (n < 2)
        return;
    if (n < 8) {
        FWHT_PASSES(float, 1)
        return;
    }
#if defined(__AVX512F__)
    if (n >= 16) {
        /* lane i's partner at stride h is lane i ^ h; lanes with bit h set
         * take partner - self, the others self + partner */
        const __m512i p1 = _mm512_set_epi32(14, 15, 12, 13, 10, 11, 8, 9, 6, 7, 4, 5, 2, 3, 0, 1);
        const __m512i p2 = _mm512_set_epi32(13, 12, 15, 14, 9, 8, 11, 10, 5, 4, 7, 6, 1, 0, 3, 2);
        const __m512i p4 = _mm512_set_epi32(11, 10, 9, 8, 15, 14, 13, 12, 3, 2, 1, 0, 7, 6, 5, 4);
        const __m512i p8 = _mm512_set_epi32(7, 6, 5, 4, 3, 2, 1, 0, 15, 14, 13, 12, 11, 10, 9, 8);
        const __mmask16 m1 = 0xAAAA, m2 = 0xCCCC, m4 = 0xF0F0, m8 = 0xFF00;
        for (size_t i = 0; i < n; i += 16) {
            __m512 v = _mm512_loadu_ps(x + i), q;
            q = _mm512_permutexvar_ps(p1, v);
            v = _mm512_mask_sub_ps(_mm512_add_ps(v, q), m1, q, v);
            q = _mm512_permutexvar_ps(p2, v);
            v = _mm512_mask_sub_ps(_mm512_add_ps(v, q), m2, q, v);
            q = _mm512_permutexvar_ps(p4, v);
            v = _mm512_mask_sub_ps(_mm512_add_ps(v, q), m4, q, v);
            q = _mm512_permutexvar_ps(p8, v);
            v = _mm512_mask_sub_ps(_mm512_add_ps(v, q), m8, q, v);
            _mm512_storeu_ps(x + i, v);
        }
        FWHT_PASSES(float, 16)
        return;
    }
#endif
    FWHT_RADIX8(float)
    FWHT_PASSES(float, 8)
}

void cb_fwht_d(double *x, size_t n)
{
    if (n < 2)
        return;
    if (n < 8) {
        FWHT_PASSES(double, 1)
        return;
    }
#if defined(__AVX512F__)
    {
        const __m512i p1 = _mm512_set_epi64(6, 7, 4, 5, 2, 3, 0, 1);
        const __m512i p2 = _mm512_set_epi64(5, 4, 7, 6, 1, 0, 3, 2);
        const __m512i p4 = _mm512_set_epi64(3, 2, 1, 0, 7, 6, 5, 4);
        const __mmask8 m1 = 0xAA, m2 = 0xCC, m4 = 0xF0;
        for (size_t i = 0; i < n; i += 8) {
            __m512d v = _mm512_loadu_pd(x + i), q;
            q = _mm512_permutexvar_pd(p1, v);
            v = _mm512_mask_sub_pd(_mm512_add_pd(v, q), m1, q, v);
            q = _mm512_permutexvar_pd(p2, v);
            v = _mm512_mask_sub_pd(_mm512_add_pd(v, q), m2, q, v);
            q = _mm512_permutexvar_pd(p4, v);
            v = _mm512_mask_sub_pd(_mm512_add_pd(v, q), m4, q, v);
            _mm512_storeu_pd(x + i, v);
        }
    }
#else
    FWHT_RADIX8(double)
#endif
    FWHT_PASSES(double, 8)
}
