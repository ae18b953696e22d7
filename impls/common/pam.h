/* pam.h — piecewise-affine multiplication (PAM) of two float32 values, the
 * one definition every PAM kernel, probe and test uses (header-only).
 *
 * Mogami (2020) and Kosson & Jaggi (2023, "Multiplication-Free Transformer
 * Training via Piecewise Affine Operations") replace a*b by one integer
 * addition of the IEEE-754 bit patterns. For a = 2^ea (1 + x) and
 * b = 2^eb (1 + y), x, y in [0, 1), the bits of |a| read as an integer are
 * 2^23 (ea + 127 + x), so
 *
 *   bits(|a|) + bits(|b|) - 0x3F800000  =  2^23 (ea + eb + 127 + x + y),
 *
 * the bit pattern of 2^(ea+eb) (1 + x + y) when x + y < 1, and of
 * 2^(ea+eb+1) (1 + (x + y - 1)) = 2^(ea+eb) * 2 (x + y) when the mantissa
 * sum carries into the exponent. That is the reference code's
 * pa_exp2(pa_log2|a| + pa_log2|b|) with pa_log2(2^e (1 + m)) = e + m and
 * pa_exp2(t) = 2^floor(t) (1 + t - floor(t)) (epfml/pam, pam/native.py).
 * Against the exact (1 + x)(1 + y) = 1 + x + y + xy it never overestimates,
 * is exact when x = 0 or y = 0, and is worst at x = y = 1/2 (2 for 2.25, an
 * underestimate of 1/9); tasks/piecewise_affine_mult.md derives it.
 *
 * The rules for the cases the integer add alone gets wrong, each tested in
 * tests/t_piecewise_affine_mult.c:
 *   sign       the sign bits are XORed (in the add, the two sign bits sum
 *              modulo 2 when no carry reaches bit 31, which the range rules
 *              below guarantee).
 *   NaN, Inf   an Inf or NaN operand gives NaN (quiet, 0x7FC00000). The
 *              paper's CUDA kernel (pam/cuda_kernels.cu) returns NaN whenever
 *              the true product is Inf or NaN or |a b| >= 1e37, so 0 * Inf is
 *              NaN there too.
 *   zero and   an operand whose exponent field is 0 (zero or subnormal) is
 *   subnormal  flushed: the result is a zero with the XORed sign. The CUDA
 *              kernel flushes every result whose true product is below 1e-37
 *              to zero; we decide from the exponent fields instead, since
 *              its range test spends the float multiplication PAM replaces.
 *   underflow  a sum below the smallest normal (result exponent field <= 0,
 *              i.e. bits(|a|) + bits(|b|) < 0x40000000) is flushed to a
 *              signed zero (the kernel: |a b| < 1e-37, about 2^-122.9).
 *   overflow   a result exponent field >= 255 (bits(|a|) + bits(|b|) >=
 *              0xBF000000) saturates to a signed infinity, as IEEE
 *              multiplication overflows. Here we differ from the CUDA kernel,
 *              which returns NaN from |a b| >= 1e37 on (about 2^122.9); the
 *              reference's torch path (native.py) gives +-Inf, as we do.
 * Every other pair is the plain add: bits(a) + bits(b) - 0x3F800000 modulo
 * 2^32 (the "fast path" of impls/avx512/pam_matmul.c).
 */
#ifndef CB_PAM_H
#define CB_PAM_H

#include <stdint.h>
#include <string.h>

#define CB_PAM_BIAS 0x3F800000u        /* bits of 1.0f: the exponent bias << 23 */
#define CB_PAM_SIGN 0x80000000u
#define CB_PAM_EXP 0x7F800000u
#define CB_PAM_QNAN 0x7FC00000u
#define CB_PAM_UNDER 0x40000000u       /* |a|+|b| bits below: result below 2^-126 */
#define CB_PAM_OVER 0xBF000000u        /* |a|+|b| bits from: result exponent 255 */

static inline uint32_t cb_f32_bits(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static inline float cb_bits_f32(uint32_t u)
{
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* PAM(a, b) on bit patterns. */
static inline uint32_t cb_pam_bits(uint32_t ua, uint32_t ub)
{
    const uint32_t sign = (ua ^ ub) & CB_PAM_SIGN;
    const uint32_t ma = ua & ~CB_PAM_SIGN, mb = ub & ~CB_PAM_SIGN;
    const uint32_t ea = ma & CB_PAM_EXP, eb = mb & CB_PAM_EXP;
    if (ea == CB_PAM_EXP || eb == CB_PAM_EXP)
        return CB_PAM_QNAN;                 /* NaN or Inf operand */
    if (ea == 0 || eb == 0)
        return sign;                        /* zero or subnormal operand */
    const uint32_t s = ma + mb;             /* <= 0xFEFFFFFE: no wrap */
    if (s < CB_PAM_UNDER)
        return sign;                        /* underflow: signed zero */
    if (s >= CB_PAM_OVER)
        return sign | CB_PAM_EXP;           /* overflow: signed infinity */
    return sign | (s - CB_PAM_BIAS);
}

/* PAM(a, b) on floats. */
static inline float cb_pam_f32(float a, float b)
{
    return cb_bits_f32(cb_pam_bits(cb_f32_bits(a), cb_f32_bits(b)));
}

#ifdef __AVX512F__
#include <immintrin.h>

/* Sixteen PAMs at once, the same rules as cb_pam_bits, in AVX-512F integer
 * operations and masks: one vpaddd for the products, compares and masked
 * moves for the special cases. Bit-exact against cb_pam_bits (the probe
 * pam_error and the tests count mismatches over the mantissa grid). */
static inline __m512i cb_pam_bits_x16(__m512i ua, __m512i ub)
{
    const __m512i vsign = _mm512_set1_epi32((int)CB_PAM_SIGN), vexp = _mm512_set1_epi32((int)CB_PAM_EXP);
    const __m512i sign = _mm512_and_si512(_mm512_xor_si512(ua, ub), vsign);
    const __m512i ma = _mm512_andnot_si512(vsign, ua), mb = _mm512_andnot_si512(vsign, ub);
    const __m512i ea = _mm512_and_si512(ma, vexp), eb = _mm512_and_si512(mb, vexp);
    const __mmask16 nonfinite = _mm512_cmpeq_epi32_mask(ea, vexp) | _mm512_cmpeq_epi32_mask(eb, vexp);
    const __m512i zero = _mm512_setzero_si512();
    const __mmask16 flushed = _mm512_cmpeq_epi32_mask(ea, zero) | _mm512_cmpeq_epi32_mask(eb, zero);
    const __m512i s = _mm512_add_epi32(ma, mb);
    const __mmask16 under = _mm512_cmplt_epu32_mask(s, _mm512_set1_epi32((int)CB_PAM_UNDER));
    const __mmask16 over = _mm512_cmpge_epu32_mask(s, _mm512_set1_epi32((int)CB_PAM_OVER));
    __m512i r = _mm512_sub_epi32(s, _mm512_set1_epi32((int)CB_PAM_BIAS));
    r = _mm512_mask_mov_epi32(r, over, vexp);
    r = _mm512_mask_mov_epi32(r, (__mmask16)(under | flushed), zero);
    r = _mm512_or_si512(r, sign);
    return _mm512_mask_mov_epi32(r, nonfinite, _mm512_set1_epi32((int)CB_PAM_QNAN));
}
#endif

#endif
