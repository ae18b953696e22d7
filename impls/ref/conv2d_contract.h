/* conv2d_contract.h — shapes shared by the conv2d and mhsa_conv contracts
 * (vit_conv_construction task): an image x [Cin, Hh, Ww] and a kernel
 * w [Cout, Cin, K, K] give y [Cout, Hh, Ww] (stride 1, "same" zero padding,
 * K odd). Defined in impls/ref/conv2d.c. */
#ifndef CB_CONV2D_CONTRACT_H
#define CB_CONV2D_CONTRACT_H

#include "kernel.h"

/* Fill defaults (K = 3, Ww = Hh), validate Cin, Cout, K, Hh, Ww (kernel
 * names the kernel in messages) and derive the shapes. Returns 0 or -1. */
int cb_conv_shapes(const char *kernel, cb_params *p, cb_shape *in, cb_shape *out, char *err,
                   size_t errlen);
/* Set Cin, Cout, K, Hh, Ww from x [Cin, Hh, Ww] and w [Cout, Cin, K, K]. */
int cb_conv_infer(const char *kernel, cb_params *p, const cb_shape *in, char *err, size_t errlen);

#endif

/* ---- double-precision forms, for the probe and the ref kernels ---------- */

/* y = conv2d(x, w) in double (x [Cin,Hh,Ww], w [Cout,Cin,K,K], y [Cout,Hh,Ww]). */
void cb_conv2d_d(const double *x, const double *w, int64_t Cin, int64_t Cout, int64_t K, int64_t Hh, int64_t Ww,
                 double *y);

/* The constructed attention (see impls/ref/mhsa_conv.c) in double: K^2 heads
 * over the zero-padded grid of (Hh + K - 1)(Ww + K - 1) pixel tokens, head h
 * with logits -alpha ||delta - Delta_h||^2; alpha = INFINITY gives one-hot
 * (hard) attention. Returns 0, or -1 when out of memory. */
int cb_mhsa_conv_d(const double *x, const double *w, int64_t Cin, int64_t Cout, int64_t K, int64_t Hh, int64_t Ww,
                   double alpha, double *y);
