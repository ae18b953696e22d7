/* plot.c — drive gnuplot: one script with inline data, SVG and PNG out.
 *
 * The script is written to a hidden temporary file beside the figures and
 * gnuplot runs on it as a child process (posix_spawnp, no shell), with its
 * standard error captured so a failure can be reported with gnuplot's own
 * words. gnuplot writes both images under temporary names; they are synced
 * and renamed into place only after it exited with status 0.
 */
#include "plot.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kernel.h"

extern char **environ;

void cb_plot_init(cb_plot *p, const char *title, const char *xlabel, const char *ylabel,
                  int logx, int logy)
{
    memset(p, 0, sizeof *p);
    snprintf(p->title, sizeof p->title, "%s", title ? title : "");
    snprintf(p->xlabel, sizeof p->xlabel, "%s", xlabel ? xlabel : "");
    snprintf(p->ylabel, sizeof p->ylabel, "%s", ylabel ? ylabel : "");
    p->logx = logx;
    p->logy = logy;
}

static double *copy_doubles(const double *v, int n)
{
    double *c = malloc((size_t)(n > 0 ? n : 1) * sizeof *c);
    if (c && n > 0) memcpy(c, v, (size_t)n * sizeof *c);
    return c;
}

int cb_plot_add(cb_plot *p, const char *label, int n, const double *x, const double *y,
                const double *ylo, const double *yhi)
{
    if (p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 8;
        cb_plot_series *s = realloc(p->s, (size_t)cap * sizeof *s);
        if (!s) return -1;
        p->s = s;
        p->cap = cap;
    }
    cb_plot_series *s = &p->s[p->n];
    memset(s, 0, sizeof *s);
    snprintf(s->label, sizeof s->label, "%s", label);
    s->n = n;
    s->x = copy_doubles(x, n);
    s->y = copy_doubles(y, n);
    int bars = ylo && yhi;
    if (bars) {
        s->ylo = copy_doubles(ylo, n);
        s->yhi = copy_doubles(yhi, n);
    }
    if (!s->x || !s->y || (bars && (!s->ylo || !s->yhi))) {
        free(s->x);
        free(s->y);
        free(s->ylo);
        free(s->yhi);
        return -1;
    }
    p->n++;
    return 0;
}

void cb_plot_free(cb_plot *p)
{
    for (int i = 0; i < p->n; i++) {
        free(p->s[i].x);
        free(p->s[i].y);
        free(p->s[i].ylo);
        free(p->s[i].yhi);
    }
    free(p->s);
    p->s = NULL;
    p->n = p->cap = 0;
}

int cb_plot_xtic(cb_plot *p, double at, const char *label)
{
    if (p->n_xtics >= CB_PLOT_MAX_XTICS) return -1;
    p->xtic_at[p->n_xtics] = at;
    snprintf(p->xtic_label[p->n_xtics], sizeof p->xtic_label[0], "%s", label);
    p->n_xtics++;
    return 0;
}

int cb_loglog_slope(const double *x, const double *y, int n, double *slope)
{
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (!(x[i] > 0) || !(y[i] > 0) || !isfinite(x[i]) || !isfinite(y[i])) continue;
        double lx = log(x[i]), ly = log(y[i]);
        sx += lx;
        sy += ly;
        sxx += lx * lx;
        sxy += lx * ly;
        m++;
    }
    if (m < 2) return -1;
    double den = m * sxx - sx * sx;
    /* All x equal (up to rounding): no slope. */
    if (!(fabs(den) > 1e-12 * (m * sxx + 1e-300))) return -1;
    *slope = (m * sxy - sx * sy) / den;
    return 0;
}

/* ---- script text -------------------------------------------------------- */

/* A gnuplot double-quoted string: backslash and quote escaped, control
 * characters dropped. */
static void put_dq(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', f);
        if ((unsigned char)*s >= 0x20) fputc(*s, f);
    }
    fputc('"', f);
}

/* A gnuplot single-quoted string (file names): only '' needs doubling. */
static void put_sq(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'') fputc('\'', f);
        fputc(*s, f);
    }
    fputc('\'', f);
}

static int point_ok(const cb_plot *p, const cb_plot_series *s, int i)
{
    if (!isfinite(s->x[i]) || !isfinite(s->y[i])) return 0;
    if (p->logx && !(s->x[i] > 0)) return 0;
    if (p->logy && !(s->y[i] > 0)) return 0;
    if (s->ylo && (!isfinite(s->ylo[i]) || !isfinite(s->yhi[i]) || (p->logy && !(s->ylo[i] > 0))))
        return 0;
    return 1;
}

static int series_points(const cb_plot *p, const cb_plot_series *s)
{
    int k = 0;
    for (int i = 0; i < s->n; i++) k += point_ok(p, s, i);
    return k;
}

/* A palette that stays apart in colour and in grey (Okabe–Ito, with black). */
static const char *const palette[] = {"#0072b2", "#d55e00", "#009e73", "#cc79a7",
                                      "#e69f00", "#56b4e9", "#000000", "#f0e442"};
#define N_PALETTE ((int)(sizeof palette / sizeof palette[0]))
/* Point shapes paired with dash patterns, so variants differ in print too. */
static const int points[] = {7, 5, 9, 11, 13, 15};
#define N_POINTS ((int)(sizeof points / sizeof points[0]))

static void put_plot_command(FILE *f, const cb_plot *p)
{
    int first = 1, auto_color = 0;
    for (int j = 0; j < p->n; j++) {
        const cb_plot_series *s = &p->s[j];
        if (series_points(p, s) == 0) continue;
        fprintf(f, "%s", first ? "plot " : ", \\\n     ");
        first = 0;
        int c = s->color > 0 ? s->color - 1 : auto_color++;
        fprintf(f, "$d%d using %s with %s lw 1.5 lc rgb '%s' dt %d pt %d ps 0.7 title ", j,
                s->ylo ? "1:2:3:4" : "1:2", s->ylo ? "yerrorlines" : "linespoints",
                palette[c % N_PALETTE], s->dash > 0 ? s->dash + 1 : 1, points[s->dash % N_POINTS]);
        put_dq(f, s->label);
        fprintf(f, " noenhanced");
    }
    fprintf(f, "\n");
}

/* The whole script: datablocks, then the same plot once per terminal. */
static void put_script(FILE *f, const cb_plot *p, const char *svg_tmp, const char *png_tmp)
{
    fprintf(f, "# written by claimbench (harness/plot.c)\nset encoding utf8\n");
    for (int j = 0; j < p->n; j++) {
        const cb_plot_series *s = &p->s[j];
        if (series_points(p, s) == 0) continue;
        fprintf(f, "$d%d << EOD\n", j);
        for (int i = 0; i < s->n; i++) {
            if (!point_ok(p, s, i)) continue;
            fprintf(f, "%.10g %.10g", s->x[i], s->y[i]);
            if (s->ylo) fprintf(f, " %.10g %.10g", s->ylo[i], s->yhi[i]);
            fprintf(f, "\n");
        }
        fprintf(f, "EOD\n");
    }
    fprintf(f, "set title ");
    put_dq(f, p->title);
    fprintf(f, " noenhanced\nset xlabel ");
    put_dq(f, p->xlabel);
    fprintf(f, " noenhanced\nset ylabel ");
    put_dq(f, p->ylabel);
    fprintf(f, " noenhanced\n");
    if (p->logx) fprintf(f, "set logscale x %d\n", p->logx);
    if (p->logy) fprintf(f, "set logscale y %d\n", p->logy);
    /* Plain numbers on the axes ("1024", "0.5"), a light grid including the
     * minor ticks of log axes, and the legend below the plot area so that it
     * can never hide a curve. */
    fprintf(f, "set format x '%%g'\nset format y '%%g'\n"
               "set grid xtics ytics mxtics mytics lc rgb '#dddddd' lw 1 dt 1\n"
               "set key below left Left reverse maxrows 4 samplen 2.5\n"
               "set autoscale fix\n"
               "set offsets graph 0.03, graph 0.03, graph 0.06, graph 0.06\n"
               "set border lw 1\n");
    if (p->n_xtics > 0) {
        fprintf(f, "set xtics rotate by -35 noenhanced (");
        for (int i = 0; i < p->n_xtics; i++) {
            fprintf(f, "%s", i ? ", " : "");
            put_dq(f, p->xtic_label[i]);
            fprintf(f, " %.10g", p->xtic_at[i]);
        }
        fprintf(f, ")\n");
    }
    /* SVG first (the brief's terminal; a white background so the figure
     * also reads on a dark page), then the PNG of the same plot. */
    fprintf(f, "set terminal svg size 800,500 dynamic enhanced font 'DejaVu Sans,10' "
               "background rgb 'white'\nset output ");
    put_sq(f, svg_tmp);
    fprintf(f, "\n");
    put_plot_command(f, p);
    fprintf(f, "set output\nset terminal pngcairo size 800,500 enhanced font 'DejaVu Sans,10'\n"
               "set output ");
    put_sq(f, png_tmp);
    fprintf(f, "\n");
    put_plot_command(f, p);
    fprintf(f, "set output\n");
}

/* ---- running gnuplot ---------------------------------------------------- */

/* First non-empty line of a file (gnuplot's error), into buf. */
static void first_line(const char *path, char *buf, size_t len)
{
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f) return;
    char line[512];
    /* gnuplot echoes the failing command, then a line with a caret, then
     * "file", line N: message"; keep the message line when there is one. */
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        const char *l = line + strspn(line, " \t^");
        if (!*l) continue;
        if (!buf[0] || strstr(l, "line ") || strstr(l, "rror")) snprintf(buf, len, "%s", l);
        if (strstr(l, "rror") || strstr(l, "\", line ")) break;
    }
    fclose(f);
}

static int sync_file(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* Run `gnuplot script` with stdout to /dev/null and stderr to errpath.
 * Returns the exit status (0 success), or -1 if it could not run (errno). */
static int run_gnuplot(const char *script, const char *errpath)
{
    posix_spawn_file_actions_t fa;
    if (posix_spawn_file_actions_init(&fa) != 0) return -1;
    int rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (rc == 0) rc = posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    if (rc == 0)
        rc = posix_spawn_file_actions_addopen(&fa, 2, errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid;
    char *argv[] = {"gnuplot", (char *)script, NULL};
    if (rc == 0) rc = posix_spawnp(&pid, "gnuplot", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return -1;
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

int cb_plot_render(const cb_plot *p, const char *dir, const char *stem, char *err, size_t errlen)
{
    int drawable = 0;
    for (int j = 0; j < p->n; j++) drawable += series_points(p, &p->s[j]) > 0;
    if (!drawable) return cb_fail(err, errlen, "figure %s: no data points to draw", stem);

    /* Temporary names carry the pid: two reports writing into the same
     * folder at once do not trample each other's files. */
    long pid = (long)getpid();
    char svg[1024], png[1024], svg_tmp[1100], png_tmp[1100], script[1100], errfile[1100];
    snprintf(svg, sizeof svg, "%s/%s.svg", dir, stem);
    snprintf(png, sizeof png, "%s/%s.png", dir, stem);
    snprintf(svg_tmp, sizeof svg_tmp, "%s/.%s.svg.%ld.tmp", dir, stem, pid);
    snprintf(png_tmp, sizeof png_tmp, "%s/.%s.png.%ld.tmp", dir, stem, pid);
    snprintf(script, sizeof script, "%s/.%s.%ld.gp", dir, stem, pid);
    snprintf(errfile, sizeof errfile, "%s/.%s.%ld.err", dir, stem, pid);

    FILE *f = fopen(script, "w");
    if (!f) return cb_fail(err, errlen, "figure %s: %s: %s", stem, script, strerror(errno));
    put_script(f, p, svg_tmp, png_tmp);
    int werr = ferror(f);
    if (fclose(f) != 0 || werr) {
        int e = errno;
        unlink(script);
        return cb_fail(err, errlen, "figure %s: writing %s: %s", stem, script, strerror(e));
    }

    int rc = 0;
    int st = run_gnuplot(script, errfile);
    if (st < 0) {
        rc = cb_fail(err, errlen, "figure %s: cannot run gnuplot: %s", stem, strerror(errno));
    } else if (st != 0) {
        char why[400];
        first_line(errfile, why, sizeof why);
        rc = cb_fail(err, errlen, "figure %s: gnuplot failed (exit %d)%s%s", stem, st,
                     why[0] ? ": " : "", why);
    } else if (file_size(svg_tmp) <= 0 || file_size(png_tmp) <= 0) {
        rc = cb_fail(err, errlen, "figure %s: gnuplot wrote no image", stem);
    } else if (sync_file(svg_tmp) != 0 || sync_file(png_tmp) != 0 || rename(svg_tmp, svg) != 0 ||
               rename(png_tmp, png) != 0) {
        rc = cb_fail(err, errlen, "figure %s: %s", stem, strerror(errno));
    }
    unlink(script);
    unlink(errfile);
    unlink(svg_tmp);   /* no-ops after a successful rename */
    unlink(png_tmp);
    return rc;
}
