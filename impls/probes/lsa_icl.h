/* lsa_icl.h — in-context linear regression and the linear self-attention
 * layer in double, shared by the lsa_gd and lsa_newton probes (and meant for
 * the other LSA tasks of the catalog): the seeded task generator, the
 * von Oswald et al. (2023) weight construction, and the LSA forward pass by
 * its definition. Defined in lsa_icl.c. */
#ifndef CB_LSA_ICL_H
#define CB_LSA_ICL_H

#include <stddef.h>
#include <stdint.h>

/* One regression task: N context pairs (x_j, y_j = W* x_j), x_j uniform in
 * [-1, 1]^dx (the paper's sampling), W* standard normal (dy x dx), a query
 * x_q, and a start W0 (dy x dx, standard normal times w0_scale; 0 gives the
 * paper's W0 = 0). Every value is rounded to float once (y after its
 * double product), so a float32 kernel and the double algebra see the same
 * numbers. All arrays row-major, owned by the task. */
typedef struct cb_icl_task {
    int N, dx, dy;
    double *x;     /* N x dx */
    double *y;     /* N x dy */
    double *xq;    /* dx */
    double *wstar; /* dy x dx */
    double *w0;    /* dy x dx */
} cb_icl_task;

/* Task number `index` of the stream named by `seed`. Returns 0 or -1 (out
 * of memory; the task is then empty and safe to free). */
int cb_icl_task_make(cb_icl_task *t, int N, int dx, int dy, double w0_scale, uint64_t seed, uint64_t index);
void cb_icl_task_free(cb_icl_task *t);

/* Tokens z [(N+1) x D], D = dx + dy: rows j < N are (x_j, y_j), row N is the
 * query (x_q, -W0 x_q) (the paper's query target, 0 when W0 = 0). */
void cb_icl_tokens(const cb_icl_task *t, double *z);

/* The construction of Prop. 1 (D = dx + dy, every matrix D x D):
 *   wk = wq = [[I_dx, 0], [0, 0]],  wv = [[0, 0], [W0, -I_dy]],  wp = eta I,
 * with the kernel's 1/N this is P = (eta/N) I. */
void cb_lsa_gd_weights(const cb_icl_task *t, double eta, double *wk, double *wq, double *wv, double *wp);

/* The layers of Iterative Newton (lsa_newton), D = 2d + 1, token layout
 * x [0, d), v [d, 2d), y at 2d; every matrix D x D, wp = scale I:
 *   kind 0, init:    key x_j, query x_i, value x_j into v:
 *                    v_i += scale (1/N) sum_j x_j (x_j . x_i) = scale S x_i
 *   kind 1, Newton:  key x_j, query v_i, value v_j into v:
 *                    v_i += scale (1/N) sum_j v_j (x_j . v_i)
 *   kind 2, readout: key x_j, query v_i, value y_j into y:
 *                    y_i += scale (1/N) sum_j y_j (x_j . v_i) */
void cb_lsa_newton_weights(int kind, double scale, int d, double *wk, double *wq, double *wv, double *wp);

/* One LSA layer in double, by the definition (quadratic in N):
 *   out_i = z_i + (1/N) sum_{j<N} (wp wv z_j) ((wk z_j) . (wq z_i)),
 * for every row i of z [(N+1) x D]. out must not alias z. Returns 0 or -1
 * (out of memory). */
int cb_lsa_forward_d(const double *z, int64_t N, int64_t D, const double *wk, const double *wq,
                     const double *wv, const double *wp, double *out);

/* The comparison every LSA check is made of: max |a - b| / max |b| over n
 * values, relative to the reference side b with no floor, so an all-zero
 * reference gives 0/0 = NaN (which fails every check) and an all-zero or
 * constant candidate a gives an error of order 1. NaN anywhere gives NaN. */
double cb_lsa_rel_err(const double *a, const double *b, size_t n);
double cb_lsa_rel_err_f(const float *a, const double *b, size_t n);
/* Non-triviality: max |out - in| / max |in| over n values (0 when a layer
 * left its tokens unchanged; NaN propagates). */
double cb_lsa_change(const double *out, const double *in, size_t n);
double cb_lsa_change_f(const float *out, const float *in, size_t n);

#endif
