/* int4_quant_error.h — the two error measures of the int4_quant_error
 * probe, exposed so the tests can feed them degenerate outputs. */
#ifndef CB_PROBES_INT4_QUANT_ERROR_H
#define CB_PROBES_INT4_QUANT_ERROR_H

#include <stddef.h>

/* sum (xhat - x)^2 / sum x^2 in double: the relative quantization MSE. No
 * floor: x all zero gives 0/0 = NaN; a NaN in xhat gives NaN. */
double cb_int4_rel_sq_err(const float *xhat, const float *x, size_t n);
/* sqrt(sum (y - ref)^2 / sum ref^2): the relative Frobenius error of a GEMM
 * output; NaN as above. */
double cb_int4_rel_fro_err(const double *y, const double *ref, size_t n);

#endif
