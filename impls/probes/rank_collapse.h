/* rank_collapse.h — the exact (cancellation-free, unlimited-range) forward
 * pass of deep random self-attention stacks used by the rank_collapse probe
 * (impls/probes/rank_collapse.c), exposed so tests/t_attention_rank_collapse.c
 * can hold it against independent computations.
 *
 * A token matrix X [n, d] is held as X = 1 x^T + 2^e R~, with x the token
 * mean (d values), R~ the centered residual (columns sum to zero) scaled so
 * max |R~| is in [1/2, 1), and e an int64 exponent: the residual res(X) =
 * X - 1 x^T is 2^e R~ however small it gets (far below long double's 1e-4951).
 */
#ifndef CB_PROBE_RANK_COLLAPSE_H
#define CB_PROBE_RANK_COLLAPSE_H

#include <stdint.h>

enum { RC_SAN, RC_SKIP, RC_MLP, RC_SKIP_MLP, RC_N_ARCH };

/* One layer's weights, float32 values (the same numbers in every precision):
 * wq, wk, wv [d, d]; w1 [d, f]; w2 [f, d] (f = 4d). Row-major. */
typedef struct rc_layer {
    const float *wq, *wk, *wv, *w1, *w2;
} rc_layer;

typedef struct rc_state {
    int n, d;
    long double *x;             /* [d] the token mean */
    long double *R;             /* [n, d] the scaled, centered residual R~ */
    int64_t e;                  /* residual = 2^e R~ */
} rc_state;

/* Allocate a state of n tokens x d features (zeroed). 0 or -1. */
int rc_state_alloc(rc_state *s, int n, int d);
void rc_state_free(rc_state *s);
/* Split X [n, d] (long double) into (x, R~, e). */
void rc_state_set(rc_state *s, const long double *X);
/* log10 of the Frobenius norm of the residual, 2^e ||R~||_F (-inf if 0). */
double rc_state_log10_res(const rc_state *s);
/* log10 of ||res(X)||_F / ||X||_F. */
double rc_state_log10_rel(const rc_state *s);
/* Rebuild X = 1 x^T + 2^e R~ in long double (underflowing to X = 1 x^T
 * when 2^e R~ is below the long double range). */
void rc_state_get(const rc_state *s, long double *X);

/* One layer of architecture arch (RC_SAN: X <- SA(X); RC_SKIP: X <- X + SA(X);
 * RC_MLP: X <- MLP(SA(X)); RC_SKIP_MLP: X <- X + SA(X), then X <- X + MLP(X)),
 * SA(X) = softmax(X Wq (X Wk)^T / sqrt(d)) X Wv, MLP(X) = ReLU(X W1) W2,
 * propagated exactly on (x, R~, e). The softmax perturbation uses its Taylor
 * form (exact to long double rounding) once the scores' residual part,
 * 2^(2e) R~ A R~^T, is below 2^lin_below; pass -80 (the probe's value) or a
 * very negative number to force the closed form while it is representable
 * (tests). Returns 0, or -1 on allocation failure. */
int rc_fast_layer(rc_state *s, const rc_layer *w, int arch, int lin_below);

#endif
