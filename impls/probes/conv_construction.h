/* conv_construction.h — the comparison helpers of the conv_construction
 * probe (vit_conv_construction), shared with its test so that the test can
 * show a zeroed or constant output failing them. Defined in
 * impls/probes/conv_construction.c. */
#ifndef CB_CONV_CONSTRUCTION_H
#define CB_CONV_CONSTRUCTION_H

#include <stddef.h>

/* ||a - ref||_2 / ||ref||_2, with no floor: an all-zero ref gives inf (NaN
 * when a is zero too), and a NaN anywhere in a gives NaN; all fail a check. */
double cb_cc_rel_l2(const double *a, const double *ref, size_t n);
/* The non-triviality figure of an output y of n values: its standard
 * deviation over std(x) std(w) sqrt(Cin K^2), the value expected for
 * independent zero-mean x and w away from the border (about 0.98 on a 32 x 32
 * image with K = 3, whose border pixels see fewer taps). 0 for a constant or
 * all-zero y. */
double cb_cc_spread(const double *y, size_t n, const double *x, size_t nx, const double *w, size_t nw,
                    double Cin, double K);
/* The heads lower bound as numbers: the K^2 x (Cout Cin) matrix of kernel
 * slices, each row weighted by sqrt of the number of image pixels its shift
 * keeps, has singular values s_1 >= ... >= s_{K^2}. *rank = the count above
 * 1e-6 s_1; *floor = s_{K^2} / sqrt(sum s_i^2), the smallest relative
 * Frobenius error of any operator sum_{h < K^2} A_h (x) B_h (K^2 - 1 heads of
 * position-only attention, any A_h) against the convolution. Returns 0, or
 * -1 when out of memory. */
int cb_cc_heads_floor(const double *w, long Cin, long Cout, long K, long Hh, long Ww, int *rank, double *floor);

#endif
