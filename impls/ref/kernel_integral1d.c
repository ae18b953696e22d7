/* kernel_integral1d.c (ref) — the kernel_integral1d contract and its oracle.
 *
 * A neural-operator layer is a kernel integral (Kovachki, Li et al.),
 *   (K u)(x) = integral over [0, 1) of kappa(x, y) u(y) dy,
 * discretized on n points as the quadrature (1/n) sum_y kappa(x_x, x_y) u(y).
 * The Fourier layer is the case of a stationary, band-limited, periodic
 * kernel, kappa(x, y) = kappa(x - y), given by its Fourier coefficients W:
 *
 *   kappa_{o,i}(t) = sum_{k < k_max} c_k Re(W[k, i, o] e^{2 pi i k t})
 *   y[o, x] = (1/n) sum_{y < n} sum_i kappa_{o,i}((x - y)/n) u[i, y]
 *
 * (c_k as in spectral_conv1d.h). Expanding spectral_conv1d's irfft of
 * W . rfft(u) gives exactly this double sum (u is real, so Re(W U e) =
 * sum_y u Re(W e)); so this kernel computes the SAME function as
 * spectral_conv1d, at O(n^2 C_in C_out) cost instead of O(n log n) per
 * channel: the dense form the FNO's spectral parameterization avoids.
 * Same inputs, outputs and parameters as spectral_conv1d.
 *
 * This file computes it the obvious way, in double: the kernel table
 * K[s][i][o] = kappa_{o,i}(s/n)/n for every shift s < n, then the double sum.
 */
#include "kernel.h"
#include "ref/spectral_conv1d.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int ki_shapes(cb_params *p, cb_shape *in, cb_shape *out, char *err, size_t errlen)
{
    return cb_sc1d_shapes("kernel_integral1d", p, in, out, err, errlen);
}

static int ki_infer(cb_params *p, const cb_shape *in, char *err, size_t errlen)
{
    return cb_sc1d_infer("kernel_integral1d", p, in, err, errlen);
}

/* Nominal FLOPs: the double sum, 2 n^2 C_in C_out (the kernel table,
 * 4 n k_max C_in C_out, is not counted). */
static double ki_flops(const cb_params *p)
{
    double ci = cb_params_get(p, "C_in", 0), co = cb_params_get(p, "C_out", 0);
    double n = cb_params_get(p, "n", 0);
    return 2 * n * n * ci * co;
}

const cb_kernel cb_kernel_kernel_integral1d = {
    .name = "kernel_integral1d",
    .summary = "dense kernel integral (1/n) sum_y kappa(x - y) u(y), kappa band-limited by W: spectral_conv1d in O(n^2)",
    .params_doc = "C_in C_out n k_max",
    .n_in = 3,
    .in = {"u", "w_re", "w_im"},
    .n_out = 1,
    .out = {"y"},
    .shapes = ki_shapes,
    .infer = ki_infer,
    .flops = ki_flops,
};

typedef struct ref_ki {
    int64_t ci, co, n, km;
    double *K;      /* [n][C_in][C_out] */
} ref_ki;

static void ref_ki_release(void *state)
{
    ref_ki *s = state;
    if (!s) return;
    free(s->K);
    free(s);
}

static int ref_ki_prepare(void **state, const cb_params *p, const cb_tensor *in, cb_tensor *out,
                          char *err, size_t errlen)
{
    (void)in;
    (void)out;
    ref_ki *s = calloc(1, sizeof *s);
    if (!s) return cb_fail(err, errlen, "ref kernel_integral1d: out of memory");
    s->ci = cb_params_int(p, "C_in", 0);
    s->co = cb_params_int(p, "C_out", 0);
    s->n = cb_params_int(p, "n", 0);
    s->km = cb_params_int(p, "k_max", 0);
    s->K = malloc((size_t)(s->n * s->ci * s->co) * sizeof *s->K);
    if (!s->K) {
        ref_ki_release(s);
        return cb_fail(err, errlen, "ref kernel_integral1d: out of memory");
    }
    *state = s;
    return 0;
}

static int ref_ki_run(void *state, const cb_params *p, const cb_tensor *in, cb_tensor *out)
{
    (void)p;
    ref_ki *s = state;
    const int64_t ci = s->ci, co = s->co, n = s->n, km = s->km;
    const float *u = in[0].data, *wr = in[1].data, *wi = in[2].data;
    float *y = out[0].data;
    const double two_pi = 6.283185307179586476925286766559;
    /* K[s][i][o] = (1/n) sum_k c_k (Wre cos(2 pi k s/n) - Wim sin(2 pi k s/n)) */
    for (int64_t sh = 0; sh < n; sh++) {
        double *Ks = s->K + sh * ci * co;
        for (int64_t e = 0; e < ci * co; e++)
            Ks[e] = 0;
        for (int64_t k = 0; k < km; k++) {
            int64_t m = (k * sh) % n;
            double c = cos(two_pi * (double)m / (double)n), sn = sin(two_pi * (double)m / (double)n);
            if (2 * m == n) {   /* exact at the Nyquist point */
                c = -1;
                sn = 0;
            }
            double wgt = cb_sc1d_mode_weight(k, n) / (double)n;
            for (int64_t e = 0; e < ci * co; e++)
                Ks[e] += wgt * ((double)wr[k * ci * co + e] * c - (double)wi[k * ci * co + e] * sn);
        }
    }
    /* y[o, x] = sum_y sum_i K[(x - y) mod n][i][o] u[i, y] */
    for (int64_t o = 0; o < co; o++)
        for (int64_t x = 0; x < n; x++) {
            double acc = 0;
            for (int64_t yy = 0; yy < n; yy++) {
                const double *Ks = s->K + ((x - yy + n) % n) * ci * co;
                for (int64_t i = 0; i < ci; i++)
                    acc += Ks[i * co + o] * (double)u[i * n + yy];
            }
            y[o * n + x] = (float)acc;
        }
    return 0;
}

const cb_impl cb_impl_ref_kernel_integral1d = {
    .kernel = "kernel_integral1d",
    .backend = "ref",
    .how = "double: kernel table kappa(s/n)/n for every shift s, then the direct n x n double sum",
    .prepare = ref_ki_prepare,
    .run = ref_ki_run,
    .release = ref_ki_release,
};
