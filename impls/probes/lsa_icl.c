/* lsa_icl.c — in-context regression tasks, the GD weight construction and a
 * double LSA forward pass (see lsa_icl.h). */
#include "probes/lsa_icl.h"

#include "common/relerr.h"
#include "rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cb_icl_task_free(cb_icl_task *t)
{
    free(t->x);
    free(t->y);
    free(t->xq);
    free(t->wstar);
    free(t->w0);
    memset(t, 0, sizeof *t);
}

/* Stream id of one named part of task `index`. */
static uint64_t part_stream(const char *part, uint64_t index)
{
    char name[64];
    snprintf(name, sizeof name, "icl/%s/%llu", part, (unsigned long long)index);
    return cb_rng_stream(name);
}

int cb_icl_task_make(cb_icl_task *t, int N, int dx, int dy, double w0_scale, uint64_t seed, uint64_t index)
{
    memset(t, 0, sizeof *t);
    t->N = N;
    t->dx = dx;
    t->dy = dy;
    t->x = malloc((size_t)N * (size_t)dx * sizeof *t->x);
    t->y = malloc((size_t)N * (size_t)dy * sizeof *t->y);
    t->xq = malloc((size_t)dx * sizeof *t->xq);
    t->wstar = malloc((size_t)dy * (size_t)dx * sizeof *t->wstar);
    t->w0 = malloc((size_t)dy * (size_t)dx * sizeof *t->w0);
    float *f = malloc((size_t)(N + 1) * (size_t)dx * sizeof *f);
    float *g = malloc(2 * (size_t)dy * (size_t)dx * sizeof *g);
    if (!t->x || !t->y || !t->xq || !t->wstar || !t->w0 || !f || !g) {
        free(f);
        free(g);
        cb_icl_task_free(t);
        return -1;
    }
    const size_t nx = (size_t)N * (size_t)dx, nw = (size_t)dy * (size_t)dx;
    cb_rng_fill_uniform(f, nx + (size_t)dx, seed, part_stream("x", index), -1.0f, 1.0f);
    for (size_t i = 0; i < nx; i++) t->x[i] = f[i];
    for (int a = 0; a < dx; a++) t->xq[a] = f[nx + (size_t)a];
    cb_rng_normal(g, nw, seed, part_stream("wstar", index), 1.0f);
    cb_rng_normal(g + nw, nw, seed, part_stream("w0", index), 1.0f);
    for (size_t i = 0; i < nw; i++) {
        t->wstar[i] = g[i];
        t->w0[i] = (double)(float)(w0_scale * g[nw + i]);
    }
    for (int j = 0; j < N; j++)
        for (int b = 0; b < dy; b++) {
            double s = 0;
            for (int a = 0; a < dx; a++) s += t->wstar[b * dx + a] * t->x[(size_t)j * dx + a];
            t->y[(size_t)j * dy + b] = (double)(float)s;
        }
    free(f);
    free(g);
    return 0;
}

void cb_icl_tokens(const cb_icl_task *t, double *z)
{
    const int dx = t->dx, dy = t->dy, D = dx + dy;
    for (int j = 0; j < t->N; j++) {
        for (int a = 0; a < dx; a++) z[(size_t)j * D + a] = t->x[(size_t)j * dx + a];
        for (int b = 0; b < dy; b++) z[(size_t)j * D + dx + b] = t->y[(size_t)j * dy + b];
    }
    double *q = z + (size_t)t->N * D;
    for (int a = 0; a < dx; a++) q[a] = t->xq[a];
    for (int b = 0; b < dy; b++) {
        double s = 0;
        for (int a = 0; a < dx; a++) s += t->w0[b * dx + a] * t->xq[a];
        q[dx + b] = -s;
    }
}

void cb_lsa_gd_weights(const cb_icl_task *t, double eta, double *wk, double *wq, double *wv, double *wp)
{
    const int dx = t->dx, dy = t->dy, D = dx + dy;
    const size_t dd = (size_t)D * (size_t)D;
    memset(wk, 0, dd * sizeof *wk);
    memset(wq, 0, dd * sizeof *wq);
    memset(wv, 0, dd * sizeof *wv);
    memset(wp, 0, dd * sizeof *wp);
    for (int a = 0; a < dx; a++) wk[a * D + a] = wq[a * D + a] = 1;
    for (int b = 0; b < dy; b++) {
        for (int a = 0; a < dx; a++) wv[(dx + b) * D + a] = t->w0[b * dx + a];
        wv[(dx + b) * D + dx + b] = -1;
    }
    for (int a = 0; a < D; a++) wp[a * D + a] = eta;
}

void cb_lsa_newton_weights(int kind, double scale, int d, double *wk, double *wq, double *wv, double *wp)
{
    const int D = 2 * d + 1;
    const size_t dd = (size_t)D * (size_t)D;
    memset(wk, 0, dd * sizeof *wk);
    memset(wq, 0, dd * sizeof *wq);
    memset(wv, 0, dd * sizeof *wv);
    memset(wp, 0, dd * sizeof *wp);
    for (int a = 0; a < d; a++) {
        wk[a * D + a] = 1;                          /* key: x_j */
        wq[a * D + (kind == 0 ? a : d + a)] = 1;    /* query: x_i (init) or v_i */
        if (kind == 0) wv[(d + a) * D + a] = 1;     /* value: x_j into the v-slot */
        if (kind == 1) wv[(d + a) * D + d + a] = 1; /* value: v_j into the v-slot */
    }
    if (kind == 2) wv[2 * d * D + 2 * d] = 1;       /* value: y_j into the y-slot */
    for (int a = 0; a < D; a++) wp[a * D + a] = scale;
}

int cb_lsa_forward_d(const double *z, int64_t N, int64_t D, const double *wk, const double *wq,
                     const double *wv, const double *wp, double *out)
{
    const int64_t T = N + 1;
    double *k = malloc((size_t)(N * D) * sizeof *k), *u = malloc((size_t)(N * D) * sizeof *u);
    double *v = malloc((size_t)D * sizeof *v), *q = malloc((size_t)D * sizeof *q);
    if (!k || !u || !v || !q) {
        free(k);
        free(u);
        free(v);
        free(q);
        return -1;
    }
    for (int64_t j = 0; j < N; j++) {
        const double *zj = z + j * D;
        for (int64_t a = 0; a < D; a++) {
            double sk = 0, sv = 0;
            for (int64_t b = 0; b < D; b++) {
                sk += wk[a * D + b] * zj[b];
                sv += wv[a * D + b] * zj[b];
            }
            k[j * D + a] = sk;
            v[a] = sv;
        }
        for (int64_t a = 0; a < D; a++) {
            double s = 0;
            for (int64_t b = 0; b < D; b++) s += wp[a * D + b] * v[b];
            u[j * D + a] = s;
        }
    }
    for (int64_t i = 0; i < T; i++) {
        const double *zi = z + i * D;
        for (int64_t a = 0; a < D; a++) {
            double s = 0;
            for (int64_t b = 0; b < D; b++) s += wq[a * D + b] * zi[b];
            q[a] = s;
        }
        double *oi = out + i * D;
        for (int64_t a = 0; a < D; a++) oi[a] = 0;
        for (int64_t j = 0; j < N; j++) {   /* the N context tokens only */
            double score = 0;
            for (int64_t a = 0; a < D; a++) score += k[j * D + a] * q[a];
            for (int64_t a = 0; a < D; a++) oi[a] += score * u[j * D + a];
        }
        for (int64_t a = 0; a < D; a++) oi[a] = zi[a] + oi[a] / (double)N;
    }
    free(k);
    free(u);
    free(v);
    free(q);
    return 0;
}

/* e = max |a - b|, m = max |b|, with NaN winning (!(x <= y) is true for NaN) */
double cb_lsa_rel_err(const double *a, const double *b, size_t n)
{
    return cb_rel_err_dd(a, b, n);
}

double cb_lsa_rel_err_f(const float *a, const double *b, size_t n)
{
    return cb_rel_err_fd(a, b, n);
}

double cb_lsa_change(const double *out, const double *in, size_t n)
{
    return cb_lsa_rel_err(out, in, n);
}

double cb_lsa_change_f(const float *out, const float *in, size_t n)
{
    return cb_rel_err_ff(out, in, n);
}

