/* mkn_shapes.c — shapes and parameter checks of a [M, K] x [K, N] product
 * (the matmul and pam_matmul contracts). */
#include "mkn_shapes.h"

#include <math.h>

static int want_dim(const char *kernel, const cb_params *p, const char *name, int64_t *out, char *err,
                    size_t errlen)
{
    int i = cb_params_find(p, name);
    if (i < 0)
        return cb_fail(err, errlen, "%s: missing parameter %s", kernel, name);
    double v = p->value[i];
    if (!(v == floor(v)) || v < 1 || v > 1e9)
        return cb_fail(err, errlen, "%s: %s = %g must be an integer >= 1", kernel, name, v);
    *out = (int64_t)v;
    return 0;
}

int cb_mkn_shapes(const char *kernel, cb_params *p, cb_shape *in, cb_shape *out, char *err,
                  size_t errlen)
{
    int64_t M = 0, K = 0, N = 0;
    if (want_dim(kernel, p, "M", &M, err, errlen) || want_dim(kernel, p, "K", &K, err, errlen) ||
        want_dim(kernel, p, "N", &N, err, errlen))
        return -1;
    const int64_t lim = (int64_t)1 << 31;   /* every index fits an int (BLAS, oneDNN) */
    if (M * K > lim || K * N > lim || M * N > lim)
        return cb_fail(err, errlen, "%s: M=%lld K=%lld N=%lld: a tensor has more than 2^31 elements",
                       kernel, (long long)M, (long long)K, (long long)N);
    in[0] = (cb_shape){2, {M, K}};   /* a */
    in[1] = (cb_shape){2, {K, N}};   /* b */
    out[0] = (cb_shape){2, {M, N}};  /* c */
    return 0;
}

int cb_mkn_infer(const char *kernel, cb_params *p, const cb_shape *in, char *err, size_t errlen)
{
    if (in[0].rank != 2)
        return cb_fail(err, errlen, "%s: input a must be [M, K]", kernel);
    if (in[1].rank != 2)
        return cb_fail(err, errlen, "%s: input b must be [K, N]", kernel);
    if (in[1].dim[0] != in[0].dim[1])
        return cb_fail(err, errlen, "%s: b has %lld rows but a has K = %lld columns", kernel,
                       (long long)in[1].dim[0], (long long)in[0].dim[1]);
    if (cb_params_set(p, "M", (double)in[0].dim[0]) || cb_params_set(p, "K", (double)in[0].dim[1]) ||
        cb_params_set(p, "N", (double)in[1].dim[1]))
        return cb_fail(err, errlen, "%s: too many parameters", kernel);
    return 0;
}
