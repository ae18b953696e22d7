/* mkn_shapes.h — the shape contract shared by the two-operand product
 * kernels `matmul` and `pam_matmul`: inputs a [M, K] and b [K, N], output
 * c [M, N], parameters M K N (integers >= 1). Defined in mkn_shapes.c. */
#ifndef CB_MKN_SHAPES_H
#define CB_MKN_SHAPES_H

#include "kernel.h"

/* Validate M, K, N (named in the message with the kernel's name) and derive
 * in[0] = [M, K], in[1] = [K, N], out[0] = [M, N]. Returns 0 or -1 + err. */
int cb_mkn_shapes(const char *kernel, cb_params *p, cb_shape *in, cb_shape *out, char *err,
                  size_t errlen);

/* For `run`: M, K from a, N from b; b's first dimension must equal K. */
int cb_mkn_infer(const char *kernel, cb_params *p, const cb_shape *in, char *err, size_t errlen);

#endif
