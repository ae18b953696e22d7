/* plot.h — line plots drawn by gnuplot, written as SVG and PNG.
 *
 * A cb_plot is data only: axes, scales and labelled series of (x, y) points
 * with optional error bars. cb_plot_render writes one gnuplot script with the
 * data inline (datablocks), runs `gnuplot` on it, and renames both images into
 * place only when gnuplot succeeded, so a figure is never half written.
 * Every label is drawn verbatim (no enhanced-text markup), so names such as
 * softmax_attention keep their underscores.
 */
#ifndef CB_PLOT_H
#define CB_PLOT_H

#include <stddef.h>

typedef struct cb_plot_series {
    char label[192];
    int n;
    double *x, *y;
    double *ylo, *yhi;          /* both NULL: no error bars */
    int color;                  /* 1, 2, ...: a colour of the palette; 0: next in turn */
    int dash;                   /* 0: solid, 1, 2, ...: dash patterns */
} cb_plot_series;

#define CB_PLOT_MAX_XTICS 64

typedef struct cb_plot {
    char title[256];
    char xlabel[128];
    char ylabel[128];
    int logx;                   /* 0: linear, else the log base (2 or 10) */
    int logy;                   /* 0: linear, else the log base */
    int n, cap;
    cb_plot_series *s;
    int n_xtics;                /* 0: gnuplot's own x ticks; else these labelled ones */
    double xtic_at[CB_PLOT_MAX_XTICS];
    char xtic_label[CB_PLOT_MAX_XTICS][24];
} cb_plot;

/* Start an empty plot (no allocation yet). */
void cb_plot_init(cb_plot *p, const char *title, const char *xlabel, const char *ylabel,
                  int logx, int logy);
/* Append a series, copying the arrays (ylo and yhi may be NULL together);
 * colour and dash start automatic (set them on p->s[p->n - 1] after).
 * Returns 0, or -1 on allocation failure. */
int cb_plot_add(cb_plot *p, const char *label, int n, const double *x, const double *y,
                const double *ylo, const double *yhi);
void cb_plot_free(cb_plot *p);
/* Label the x axis at `at` with `label` (such as a short commit), drawn
 * verbatim and slanted; labelled ticks replace the automatic ones. Returns 0,
 * or -1 when CB_PLOT_MAX_XTICS are set already. */
int cb_plot_xtic(cb_plot *p, double at, const char *label);

/* Least-squares slope of log(y) against log(x) over the points with x > 0
 * and y > 0. Returns 0 with *slope set, or -1 with fewer than two distinct x. */
int cb_loglog_slope(const double *x, const double *y, int n, double *slope);

/* Draw p into dir/stem.svg and dir/stem.png. Points that a log axis cannot
 * show (<= 0, or not finite) are left out, and so are series left empty.
 * Returns 0, or -1 with err naming the figure (and gnuplot's first error
 * line when gnuplot failed). */
int cb_plot_render(const cb_plot *p, const char *dir, const char *stem, char *err, size_t errlen);

#endif
