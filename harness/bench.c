/* bench.c — `claimbench bench`: agreement, probes and timings into a new run folder.
 *
 * For each selected task, in this order:
 *   1. agreement of every backend with ref (TAP into agreement.tap, rows);
 *   2. probes: deterministic experiments, one metric row per metric;
 *   3. timings: every kernel entry × backend × sweep value, one case at a
 *      time through Google Benchmark (gbench_shim.h), its JSON kept as
 *      gbench/<task>/<kernel>.<backend>.<params>.json and each repetition's
 *      seconds per call as one value of a "time" row.
 * A time budget per case keeps a sweep from running away: the time of the
 * next size is predicted from the sizes already measured, and a case that
 * would not fit is recorded as skipped instead of run.
 *
 * Each timed case runs in a child process (isolate.h): `claimbench bench
 * __case ...` builds the inputs, prepares, warms up, runs Google Benchmark
 * (which writes the case's JSON into the run folder, as before) and
 * releases, then sends its one row back through a pipe. A backend that
 * crashes or hangs costs that case only: it is recorded as failed, with the
 * signal or the time limit in its note, and the run goes on. Every
 * comparison of the agreement (agree.c) and the machine figures (`bench
 * __machine`) run the same way; the probes still run in this process.
 *
 * The folder is published only when complete (results.h), then appended to
 * the SQLite history. SIGINT or SIGTERM stops the run between two steps
 * (the running child is killed at once): the partial folder is removed, the
 * previous run and the history stay as they were, and bench exits 128 +
 * the signal (130 for SIGINT).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agree.h"
#include "cli.h"
#include "gbench_shim.h"
#include "history.h"
#include "inputs.h"
#include "isolate.h"
#include "kernel.h"
#include "machine.h"
#include "results.h"
#include "spec.h"
#include "table.h"

static const char usage_text[] =
    "usage: claimbench bench [TASK ...] [--quick] [--reps N] [--budget S] [--filter SUBSTR]\n"
    "                        [--case-timeout S]\n"
    "\n"
    "Runs, for each task (all by default): the agreement of every backend with\n"
    "ref, the probes, and the timings of every kernel x backend x sweep value\n"
    "(Google Benchmark, real time, 0.2 s warm-up). Writes a new run folder\n"
    "<runs>/<UTC time>-<commit>/ (machine.tsv, samples.tsv, agreement.tap,\n"
    "gbench/<task>/*.json), points <runs>/latest at it, prints its path and\n"
    "appends it to the history.\n"
    "\n"
    "  --quick        3 repetitions, min_time 0.01 s, budget 2 s, the first 3\n"
    "                 sweep values only (tests, CI)\n"
    "  --reps N       repetitions per case (default: the spec's timing)\n"
    "  --budget S     seconds allowed per case (default: the spec's timing); a\n"
    "                 case predicted to take longer is recorded as skipped, with\n"
    "                 the larger sizes of its series\n"
    "  --filter SUB   time only the cases whose name <task>/<kernel>/<backend>/\n"
    "                 <params> contains SUB (agreement and probes still run)\n"
    "  --case-timeout S\n"
    "                 seconds a timed case or an agreement comparison may run\n"
    "                 before it is killed and recorded as failed (default: a\n"
    "                 case max(60, 2 x (reps + 3) x max(budget, 2 x min_time)),\n"
    "                 a comparison 300)\n"
    "\n"
    "Every case and comparison runs in a child process: one that crashes\n"
    "(SIGSEGV, abort) or runs past its time limit is recorded as failed, with\n"
    "the signal or the limit, and the run goes on.\n"
    "\n"
    "exit: 0 done (cases may be skipped or failed: see samples.tsv), 2 bad usage\n"
    "or spec, 3 runtime failure (no run folder is published), 130 interrupted\n"
    "by SIGINT (143 by SIGTERM): the partial run folder is removed.\n";

#define WARMUP_SECONDS 0.2
#define QUICK_SWEEP 3

typedef struct bench_opts {
    int quick;
    int reps;               /* 0: the spec's */
    double budget;          /* 0: the spec's */
    const char *filter;
    double case_timeout;    /* 0: the default limits */
    int n_tasks;
    char **tasks;
} bench_opts;

/* One timed case, planned before any is run (so progress can say k/total). */
typedef struct bench_case {
    int task, entry, backend;
    int series;             /* cases of one entry × backend share a series id */
    int has_x;
    double x;               /* the sweep value */
    cb_params params;       /* spec ⊕ entry ⊕ {sweep: x}, defaults filled when valid */
    char label[512];        /* <task>/<kernel>/<backend>/<params> */
} bench_case;

/* What the timed body needs. */
typedef struct body_ctx {
    const cb_impl *impl;
    void *state;
    const cb_params *p;
    const cb_tensor *in;
    cb_tensor *out;
    double flops;
} body_ctx;

/* The repetitions reported back by Google Benchmark. */
typedef struct rep_acc {
    int n, cap;
    double *v;
    int oom;
} rep_acc;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median, min and max of n > 0 values. */
static void summary(const double *v, int n, double *med, double *lo, double *hi)
{
    double s[64], *w = s, *heap = NULL;
    if (n > 64 && (heap = malloc((size_t)n * sizeof *heap)))
        w = heap;
    int m = n > 64 && !heap ? 64 : n;
    memcpy(w, v, (size_t)m * sizeof *w);
    qsort(w, (size_t)m, sizeof *w, cmp_double);
    *med = m % 2 ? w[m / 2] : 0.5 * (w[m / 2 - 1] + w[m / 2]);
    *lo = w[0];
    *hi = w[m - 1];
    free(heap);
}

/* "1.23 ms" */
static void fmt_time(double s, char *buf, size_t len)
{
    if (s < 1e-6)
        snprintf(buf, len, "%.3g ns", s * 1e9);
    else if (s < 1e-3)
        snprintf(buf, len, "%.3g us", s * 1e6);
    else if (s < 1)
        snprintf(buf, len, "%.3g ms", s * 1e3);
    else
        snprintf(buf, len, "%.3g s", s);
}

/* ---- options -------------------------------------------------------------- */

static int parse_number(const char *opt, const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v > 0)) {
        fprintf(stderr, "claimbench bench: %s needs a positive number, not '%s'\n", opt, s);
        return -1;
    }
    *out = v;
    return 0;
}

/* Returns -1 on a usage error (message printed), 1 for --help, else 0. */
static int parse_opts(int argc, char **argv, bench_opts *o)
{
    memset(o, 0, sizeof *o);
    o->tasks = argv + 1;
    for (int a = 1; a < argc; a++) {
        const char *s = argv[a];
        const char *val = NULL;
        double d;
        if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0)
            return 1;
        if (strcmp(s, "--quick") == 0) {
            o->quick = 1;
        } else if (strcmp(s, "--reps") == 0 || strcmp(s, "--budget") == 0 ||
                   strcmp(s, "--filter") == 0 || strcmp(s, "--case-timeout") == 0) {
            if (a + 1 >= argc) {
                fprintf(stderr, "claimbench bench: %s needs a value\n", s);
                return -1;
            }
            val = argv[++a];
            if (strcmp(s, "--filter") == 0) {
                o->filter = val;
            } else {
                if (parse_number(s, val, &d) != 0)
                    return -1;
                if (strcmp(s, "--reps") == 0) {
                    if (d != floor(d) || d > 100000) {
                        fprintf(stderr, "claimbench bench: --reps needs a whole number, not '%s'\n", val);
                        return -1;
                    }
                    o->reps = (int)d;
                } else if (strcmp(s, "--budget") == 0) {
                    o->budget = d;
                } else {
                    o->case_timeout = d;
                }
            }
        } else if (s[0] == '-') {
            fprintf(stderr, "claimbench bench: unknown option '%s' (see claimbench bench --help)\n", s);
            return -1;
        } else {
            o->tasks[o->n_tasks++] = argv[a];   /* compacts the names in place */
        }
    }
    return 0;
}

/* ---- the plan -------------------------------------------------------------- */

/* Build the list of timed cases of the selected tasks. Returns the count, or
 * -1 on allocation failure. */
static int plan_cases(const cb_spec *specs, int n, const int *keep, const bench_opts *o,
                      bench_case **out, int *n_series)
{
    int cap = 0, count = 0, series = 0;
    bench_case *cs = NULL;
    for (int ti = 0; ti < n; ti++) {
        if (!keep[ti])
            continue;
        const cb_spec *s = &specs[ti];
        for (int e = 0; e < s->n_kernels; e++) {
            const cb_spec_kernel *en = &s->kernels[e];
            const cb_kernel *k = cb_kernel_find(en->name);
            int nx = en->has_sweep ? en->n_sweep : s->n_sweep;
            const double *xs = en->has_sweep ? en->sweep : s->sweep;
            int has_x = s->sweep_param[0] && nx > 0;
            if (!has_x)
                nx = 1;
            if (o->quick && nx > QUICK_SWEEP)
                nx = QUICK_SWEEP;
            for (int b = 0; b < en->n_backends; b++, series++) {
                for (int xi = 0; xi < nx; xi++) {
                    if (count == cap) {
                        int nc = cap ? 2 * cap : 64;
                        bench_case *g = realloc(cs, (size_t)nc * sizeof *g);
                        if (!g) {
                            free(cs);
                            return -1;
                        }
                        cs = g;
                        cap = nc;
                    }
                    bench_case *c = &cs[count];
                    memset(c, 0, sizeof *c);
                    c->task = ti;
                    c->entry = e;
                    c->backend = b;
                    c->series = series;
                    c->has_x = has_x;
                    c->x = has_x ? xs[xi] : 0;
                    cb_params_merge(&c->params, &s->params);
                    cb_params_merge(&c->params, &en->params);
                    if (has_x)
                        cb_params_set(&c->params, s->sweep_param, c->x);
                    /* Fill the kernel's defaults, so labels, rows and file
                     * names carry the full parameters; an invalid case keeps
                     * its given ones and fails when run. */
                    if (k) {
                        cb_params full = c->params;
                        cb_shape ish[CB_MAX_TENSORS], osh[CB_MAX_TENSORS];
                        char msg[256];
                        if (k->shapes(&full, ish, osh, msg, sizeof msg) == 0)
                            c->params = full;
                    }
                    char pf[400];
                    cb_params_format(&c->params, pf, sizeof pf);
                    snprintf(c->label, sizeof c->label, "%s/%s/%s/%s", s->id, en->name,
                             en->backends[b], pf);
                    if (o->filter && !strstr(c->label, o->filter))
                        continue;
                    count++;
                }
            }
        }
    }
    *out = cs;
    *n_series = series;
    return count;
}

/* ---- the child: one timed case ------------------------------------------------ */

static void timed_body(gb_state *st, void *vctx)
{
    body_ctx *c = vctx;
    int failed = 0;
    while (gb_keep_running(st)) {
        if (c->impl->run(c->state, c->p, c->in, c->out) != 0) {
            gb_skip_with_error(st, "run() failed");
            failed = 1;
            break;
        }
    }
    if (!failed && c->flops > 0)
        gb_set_counter(st, "FLOPS", c->flops, GB_COUNTER_ITER_RATE);
}

static void collect_rep(const gb_result *r, void *user)
{
    rep_acc *acc = user;
    if (r->aggregate || r->error)
        return;
    if (acc->n == acc->cap) {
        int nc = acc->cap ? 2 * acc->cap : 16;
        double *g = realloc(acc->v, (size_t)nc * sizeof *g);
        if (!g) {
            acc->oom = 1;
            return;
        }
        acc->v = g;
        acc->cap = nc;
    }
    acc->v[acc->n++] = r->real_seconds;
}

/* The child's reply: one line, tab separated,
 *   KIND NOTE V1,V2,...
 * KIND is time, skip or fail (the row to record; a time row carries the
 * seconds per call of every repetition) or error (the harness itself failed:
 * the run stops); NOTE is "-" when empty. */
static void reply_row(FILE *f, const char *kind, const char *note, const double *v, int n)
{
    fprintf(f, "%s\t", kind);
    if (!note || !note[0])
        note = "-";
    for (const char *c = note; *c; c++)
        fputc(*c == '\t' || *c == '\n' || *c == '\r' ? ' ' : *c, f);
    fputc('\t', f);
    for (int i = 0; i < n; i++)
        fprintf(f, "%s%.17g", i ? "," : "", v[i]);
    fputc('\n', f);
}

/* What one case needs, as the parent passed it. */
typedef struct case_args {
    const cb_spec *s;
    const cb_spec_kernel *en;
    const char *backend;
    cb_params params;
    int reps;
    double min_time, budget;
    const char *json;
    int n_ctx;
    char **ctx;             /* "key=value" for Google Benchmark's JSON context */
} case_args;

/* Inputs, prepare, the untimed calls, Google Benchmark, release: the body
 * of one case, as it ran in the harness before isolation. Writes the reply. */
static void measure_case(const case_args *a, uint64_t seed, FILE *reply)
{
    const cb_spec *s = a->s;
    const cb_spec_kernel *en = a->en;
    const char *backend = a->backend;
    const cb_kernel *kern = cb_kernel_find(en->name);
    const cb_impl *impl = cb_impl_find(en->name, backend);
    double budget = a->budget;
    cb_params params = a->params;
    char pf[400], note[256], why[512] = "";
    cb_params_format(&params, pf, sizeof pf);
    if (!kern || !impl) {
        snprintf(note, sizeof note, "no implementation of %s for backend %s", en->name, backend);
        reply_row(reply, "fail", note, NULL, 0);
        return;
    }

    cb_tensor in[CB_MAX_TENSORS], out[CB_MAX_TENSORS];
    void *state = NULL;
    int prepared = 0, made = 0, gb_on = 0;
    if (cb_inputs_make(kern, &params, s, seed, in, out, why, sizeof why) != 0)
        goto failed;
    made = 1;
    if (impl->prepare && impl->prepare(&state, &params, in, out, why, sizeof why) != 0)
        goto failed;
    prepared = 1;

    /* One untimed call: the first warm-up, and every output page touched.
     * If it alone exceeds the budget, a second one tells one-time costs
     * (oneDNN's JIT, first-touch page faults) from a case that is too slow. */
    double first = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        double t0 = now_s();
        if (impl->run(state, &params, in, out) != 0) {
            snprintf(why, sizeof why, "run() failed");
            goto failed;
        }
        first = now_s() - t0;
        if (first <= budget)
            break;
    }
    if (first > budget) {
        char fs[32], bs[32];
        fmt_time(first, fs, sizeof fs);
        fmt_time(budget, bs, sizeof bs);
        snprintf(note, sizeof note, "an untimed call took %s > budget %s", fs, bs);
        reply_row(reply, "skip", note, NULL, 0);
        goto release;
    }

    /* A literal: Google Benchmark keeps argv[0] for the life of the process. */
    char *gb_argv[] = {(char *)"claimbench", NULL};
    int gb_argc = 1;
    gb_initialize(&gb_argc, gb_argv);
    gb_on = 1;
    int ctx_oom = 0;
    for (int i = 0; i < a->n_ctx; i++) {
        char key[64];
        const char *eq = strchr(a->ctx[i], '=');
        if (!eq || (size_t)(eq - a->ctx[i]) >= sizeof key)
            continue;
        snprintf(key, sizeof key, "%.*s", (int)(eq - a->ctx[i]), a->ctx[i]);
        ctx_oom |= gb_add_context(key, eq + 1) != 0;
    }
    ctx_oom |= gb_add_context("task", s->id) != 0;
    ctx_oom |= gb_add_context("kernel", en->name) != 0;
    ctx_oom |= gb_add_context("backend", backend) != 0;
    ctx_oom |= gb_add_context("params", pf) != 0;
    ctx_oom |= gb_add_context("impl", impl->how ? impl->how : "") != 0;
    if (ctx_oom) {
        reply_row(reply, "error", "out of memory", NULL, 0);
        goto release;
    }

    char name[1024];
    snprintf(name, sizeof name, "%s/%s/%s/%s", s->id, en->name, backend, pf);
    double flops = kern->flops ? kern->flops(&params) : 0;
    body_ctx bc = {impl, state, &params, in, out, flops};
    gb_case_opts go = {a->reps, a->min_time, WARMUP_SECONDS, 0};
    rep_acc acc = {0, 0, NULL, 0};
    int rc = gb_run_case(name, timed_body, &bc, &go, a->json, collect_rep, &acc, why, sizeof why);
    if (rc < 0 || acc.oom) {
        free(acc.v);
        snprintf(note, sizeof note, "%s", acc.oom ? "out of memory" : why);
        reply_row(reply, "error", note, NULL, 0);
        goto release;
    }
    if (rc > 0 || acc.n == 0) {
        free(acc.v);
        if (!why[0])
            snprintf(why, sizeof why, "no repetition was reported");
        goto failed;
    }
    double med, lo, hi;
    summary(acc.v, acc.n, &med, &lo, &hi);
    note[0] = '\0';
    if (flops > 0 && med > 0)
        snprintf(note, sizeof note, "%.1f GFLOP/s", flops / med * 1e-9);
    reply_row(reply, "time", note, acc.v, acc.n);
    free(acc.v);
    goto release;

failed:
    reply_row(reply, "fail", why[0] ? why : "failed", NULL, 0);
release:
    if (gb_on)
        gb_shutdown();
    if (impl->release && prepared)
        impl->release(state);
    if (made)
        cb_inputs_free(kern, in, out);
}

static int parse_count(const char *str, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(str, &end, 10);
    if (errno || end == str || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* `claimbench bench __case SPEC ENTRY BACKEND PARAMS REPS MIN_TIME BUDGET
 * JSON [KEY=VALUE ...]` (argv[0] is "__case"), run by time_case in a child:
 * kernel entry ENTRY of the spec file SPEC with BACKEND at PARAMS (the
 * cb_params_format form, defaults filled). Replies on CB_ISOLATE_FD. */
static int case_child(const cb_cli *cli, int argc, char **argv)
{
    char err[1024] = "";
    FILE *reply = cb_isolate_reply(err, sizeof err);
    if (!reply) {
        fprintf(stderr, "claimbench bench __case: %s\n", err);
        return CB_EXIT_USAGE;
    }
    int rc = CB_EXIT_OK;
    cb_spec *s = calloc(1, sizeof *s);
    case_args a;
    memset(&a, 0, sizeof a);
    long entry = 0, reps = 0;
    char *e1, *e2;
    if (argc < 9) {
        reply_row(reply, "error", "usage: bench __case SPEC ENTRY BACKEND PARAMS REPS MIN_TIME BUDGET JSON", NULL, 0);
        rc = CB_EXIT_USAGE;
    } else if (!s) {
        reply_row(reply, "error", "out of memory", NULL, 0);
        rc = CB_EXIT_ERROR;
    } else if (cb_spec_load(argv[1], s, err, sizeof err) != 0) {
        reply_row(reply, "error", err, NULL, 0);
        rc = CB_EXIT_ERROR;
    } else {
        a.min_time = strtod(argv[6], &e1);
        a.budget = strtod(argv[7], &e2);
        if (parse_count(argv[2], 0, s->n_kernels - 1, &entry) != 0 ||
            parse_count(argv[5], 1, 100000, &reps) != 0 || *e1 || *e2 ||
            cb_params_parse(&a.params, argv[4]) != 0) {
            reply_row(reply, "error", "bad arguments to bench __case", NULL, 0);
            rc = CB_EXIT_USAGE;
        } else {
            a.s = s;
            a.en = &s->kernels[entry];
            a.backend = argv[3];
            a.reps = (int)reps;
            a.json = argv[8];
            a.n_ctx = argc - 9;
            a.ctx = argv + 9;
            measure_case(&a, cli->seed, reply);
        }
        cb_spec_free(s);
    }
    free(s);
    if (fclose(reply) != 0 && rc == CB_EXIT_OK)
        rc = CB_EXIT_ERROR;
    return rc;
}

/* ---- the parent: one timed case ------------------------------------------------- */

/* Per series: the points measured so far, for the budget prediction. */
typedef struct series_state {
    int n;
    double x[2], t[2];      /* the last two measured (x, median time) */
    int stopped;            /* a smaller size was over budget */
} series_state;

/* Predicted seconds per call at x, or 0 when there is nothing to go on:
 * t_last · (x / x_last)^e with e = max(2, the slope of the last two
 * points): at least quadratic, so the prediction errs on the long side. */
static double predict(const series_state *ss, double x)
{
    if (ss->n == 0 || !(x > 0))
        return 0;
    int l = ss->n >= 2 ? 1 : 0;
    double xl = ss->x[l], tl = ss->t[l];
    if (!(xl > 0) || !(tl > 0))
        return 0;
    double e = 2;
    if (ss->n >= 2 && ss->x[0] > 0 && ss->t[0] > 0 && ss->x[1] != ss->x[0]) {
        double slope = log(ss->t[1] / ss->t[0]) / log(ss->x[1] / ss->x[0]);
        if (isfinite(slope) && slope > e)
            e = slope;
    }
    return tl * pow(x / xl, e);
}

static void series_add(series_state *ss, double x, double t)
{
    if (ss->n == 2) {
        ss->x[0] = ss->x[1];
        ss->t[0] = ss->t[1];
        ss->n = 1;
    }
    ss->x[ss->n] = x;
    ss->t[ss->n] = t;
    ss->n++;
}

#define MAX_CTX 16

typedef struct run_env {
    const cb_cli *cli;
    const bench_opts *o;
    cb_run *run;
    cb_table *t;
    int n_ctx;
    char *ctx[MAX_CTX];     /* "key=value" pairs every case's JSON context carries */
} run_env;

/* The time limit of one case, seconds. Twice the longest it may take
 * legitimately: (reps + 3) calls (two untimed, one warm-up, one per
 * repetition), each at most the budget (a larger first call is skipped
 * after at most two) or, for calls shorter than min_time, about 2 x
 * min_time of Google Benchmark's iterations. Never under 60 s, so input
 * generation, oneDNN's JIT and a loaded shared 2-core machine do not turn
 * a slow start into a failure; a hang costs this much once. */
static double case_limit(const bench_opts *o, int reps, double min_time, double budget)
{
    if (o->case_timeout > 0)
        return o->case_timeout;
    double per_call = budget > 2 * min_time ? budget : 2 * min_time;
    double t = 2.0 * (reps + 3) * per_call;
    return t > 60 ? t : 60;
}

/* Remove what a case that failed in its child left of its JSON: the
 * temporary file Google Benchmark's writer was filling (gbench_shim.cc
 * names it <json>.tmp.<pid>) and the file itself, so a JSON exists only
 * beside a time row. */
static void discard_json(const char *json, long pid)
{
    char tmp[2100];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", json, pid);
    unlink(tmp);
    unlink(json);
}

/* Run one case in a child (see case_child). Returns 0 with r filled, or -1. */
static int run_case_child(const run_env *env, const cb_spec *s, const bench_case *c,
                          const char *pf, int reps, double min_time, double budget,
                          const char *json, double limit, cb_isolate_result *r, char *err,
                          size_t errlen)
{
    char a_seed[32], a_entry[16], a_reps[16], a_min[40], a_budget[40];
    snprintf(a_seed, sizeof a_seed, "%llu", (unsigned long long)env->cli->seed);
    snprintf(a_entry, sizeof a_entry, "%d", c->entry);
    snprintf(a_reps, sizeof a_reps, "%d", reps);
    snprintf(a_min, sizeof a_min, "%.17g", min_time);
    snprintf(a_budget, sizeof a_budget, "%.17g", budget);
    char *argv[14 + MAX_CTX + 1];
    int n = 0;
    argv[n++] = "claimbench";
    argv[n++] = "--quiet";
    argv[n++] = "--seed";
    argv[n++] = a_seed;
    argv[n++] = "bench";
    argv[n++] = "__case";
    argv[n++] = (char *)s->path;
    argv[n++] = a_entry;
    argv[n++] = (char *)s->kernels[c->entry].backends[c->backend];
    argv[n++] = (char *)pf;
    argv[n++] = a_reps;
    argv[n++] = a_min;
    argv[n++] = a_budget;
    argv[n++] = (char *)json;
    for (int i = 0; i < env->n_ctx; i++)
        argv[n++] = env->ctx[i];
    argv[n] = NULL;
    return cb_isolate_run(argv, limit, r, err, errlen);
}

/* Time one case in a child process. Returns 0 (the case is recorded: time,
 * skip or fail row; nothing when the run was interrupted, which the caller
 * asks cb_isolate_interrupted about), or -1 on a runtime failure of the
 * harness itself (err set). */
static int time_case(const run_env *env, const cb_spec *s, const bench_case *c, int k, int total,
                     series_state *ss, char *err, size_t errlen)
{
    const cb_cli *cli = env->cli;
    const cb_spec_kernel *en = &s->kernels[c->entry];
    const char *backend = en->backends[c->backend];
    const cb_kernel *kern = cb_kernel_find(en->name);
    const cb_impl *impl = cb_impl_find(en->name, backend);
    int reps = env->o->reps ? env->o->reps : env->o->quick ? 3 : s->repetitions;
    double min_time = env->o->quick ? 0.01 : s->min_time;
    double budget = env->o->budget ? env->o->budget : env->o->quick ? 2 : s->budget;
    char pf[400], note[256];
    cb_params_format(&c->params, pf, sizeof pf);

    if (!cli->quiet)
        fprintf(stderr, "[%d/%d] %s %s %s %s ... ", k, total, s->id, en->name, backend, pf);

#define ADD_ROW(kind, vals, nv, nt)                                                        \
    do {                                                                                   \
        if (cb_table_add(env->t, kind, s->id, en->name, backend, "time", &params, vals, nv, \
                         nt) != 0)                                                         \
            return cb_fail(err, errlen, "out of memory");                                  \
    } while (0)

    cb_params params = c->params;
    double pred = c->has_x ? predict(ss, c->x) : 0;
    if (ss->stopped || pred * (reps + 2) > budget) {
        char ts[32], ps[32], bs[32];
        fmt_time(pred, ts, sizeof ts);
        fmt_time(pred * (reps + 2), ps, sizeof ps);
        fmt_time(budget, bs, sizeof bs);
        if (ss->stopped)
            snprintf(note, sizeof note, "a smaller size of this series was over the budget of %s", bs);
        else
            snprintf(note, sizeof note, "predicted %s per call x (%d repetitions + 2) = %s > budget %s",
                     ts, reps, ps, bs);
        ss->stopped = 1;
        ADD_ROW(CB_ROW_SKIP, NULL, 0, note);
        if (!cli->quiet) {
            if (pred > 0 && pred * (reps + 2) > budget)
                fprintf(stderr, "skipped (predicted %s > budget %s)\n", ps, bs);
            else
                fprintf(stderr, "skipped (a smaller size was over budget)\n");
        }
        return 0;
    }
    if (!kern || !impl) {
        snprintf(note, sizeof note, "no implementation of %s for backend %s", en->name, backend);
        ADD_ROW(CB_ROW_FAIL, NULL, 0, note);
        if (!cli->quiet)
            fprintf(stderr, "FAILED: %s\n", note);
        return 0;
    }

    char rel[1024], json[2048];
    snprintf(rel, sizeof rel, "gbench/%s/%s.%s.%s.json", s->id, en->name, backend, pf);
    if (cb_run_path(env->run, rel, json, sizeof json, err, errlen) != 0)
        return -1;
    cb_isolate_result r;
    if (run_case_child(env, s, c, pf, reps, min_time, budget, json,
                       case_limit(env->o, reps, min_time, budget), &r, err, errlen) != 0)
        return -1;
    if (r.end == CB_ISO_INTERRUPTED) {
        discard_json(json, r.pid);
        cb_isolate_free(&r);
        if (!cli->quiet)
            fprintf(stderr, "interrupted\n");
        return 0;
    }

    /* The reply: KIND NOTE VALUES (reply_row). */
    char *f[3] = {r.out, NULL, NULL};
    char *nl = strchr(r.out, '\n');
    if (nl)
        *nl = '\0';
    int nf = 1;
    for (char *p = r.out; *p && nf < 3; p++)
        if (*p == '\t') {
            *p = '\0';
            f[nf++] = p + 1;
        }
    cb_row_kind kind = CB_ROW_FAIL;
    int known = nf == 3 && (strcmp(f[0], "error") == 0 || cb_row_kind_parse(f[0], &kind) == 0);
    if (!cb_isolate_ok(&r) || !known) {
        /* Crashed, hung, or exited without a result: this case failed. */
        char why[200], brief[100];
        if (cb_isolate_ok(&r)) {
            snprintf(why, sizeof why, "the case reported no result");
            snprintf(brief, sizeof brief, "no result");
        } else {
            cb_isolate_describe(&r, 0, why, sizeof why);
            cb_isolate_describe(&r, 1, brief, sizeof brief);
        }
        discard_json(json, r.pid);
        cb_isolate_free(&r);
        ADD_ROW(CB_ROW_FAIL, NULL, 0, why);
        if (!cli->quiet)
            fprintf(stderr, "FAILED (%s)\n", brief);
        return 0;
    }
    snprintf(note, sizeof note, "%s", strcmp(f[1], "-") == 0 ? "" : f[1]);
    if (strcmp(f[0], "error") == 0) {
        cb_isolate_free(&r);
        return cb_fail(err, errlen, "%s/%s/%s/%s: %s", s->id, en->name, backend, pf, note);
    }
    if (kind != CB_ROW_TIME) {
        cb_isolate_free(&r);
        if (kind == CB_ROW_SKIP)
            ss->stopped = 1;   /* an untimed call alone was over the budget */
        ADD_ROW(kind, NULL, 0, note[0] ? note : "failed");
        if (!cli->quiet) {
            if (kind == CB_ROW_SKIP)
                fprintf(stderr, "skipped (%s)\n", note);
            else
                fprintf(stderr, "FAILED: %s\n", note[0] ? note : "failed");
        }
        return 0;
    }

    /* A time row: every repetition's seconds per call. */
    int nv = 1;
    for (const char *p = f[2]; *p; p++)
        nv += *p == ',';
    double *v = malloc((size_t)nv * sizeof *v);
    if (!v) {
        cb_isolate_free(&r);
        return cb_fail(err, errlen, "out of memory");
    }
    int got = 0;
    char *save = NULL;
    for (char *tok = strtok_r(f[2], ",", &save); tok && got < nv; tok = strtok_r(NULL, ",", &save)) {
        char *end;
        double x = strtod(tok, &end);
        if (end != tok && !*end)
            v[got++] = x;
    }
    cb_isolate_free(&r);
    if (got == 0) {
        free(v);
        ADD_ROW(CB_ROW_FAIL, NULL, 0, "the case reported no repetition");
        if (!cli->quiet)
            fprintf(stderr, "FAILED (no repetition)\n");
        return 0;
    }
    if (cb_table_add(env->t, CB_ROW_TIME, s->id, en->name, backend, "time", &params, v, got,
                     note) != 0) {
        free(v);
        return cb_fail(err, errlen, "out of memory");
    }
    double med, lo, hi;
    summary(v, got, &med, &lo, &hi);
    free(v);
    if (c->has_x)
        series_add(ss, c->x, med);
    if (!cli->quiet) {
        char ms[32], hs[32];
        fmt_time(med, ms, sizeof ms);
        fmt_time(0.5 * (hi - lo), hs, sizeof hs);
        fprintf(stderr, "%s ± %s%s%s\n", ms, hs, note[0] ? "  " : "", note);
    }
    return 0;
#undef ADD_ROW
}

/* ---- probes ------------------------------------------------------------------- */

static int run_probes(const run_env *env, const cb_spec *s, char *err, size_t errlen)
{
    for (int i = 0; i < s->n_probes; i++) {
        const cb_spec_probe *sp = &s->probes[i];
        const cb_probe *pr = cb_probe_find(sp->name);
        cb_params p = {0};
        cb_params_merge(&p, &s->params);
        cb_params_merge(&p, &sp->params);
        if (!env->cli->quiet)
            fprintf(stderr, "[probe] %s %s ... ", s->id, sp->name);
        cb_metrics ms = {0};
        char why[512] = "";
        int rc = pr ? pr->run(&p, env->cli->seed, &ms, why, sizeof why) : -1;
        if (!pr)
            snprintf(why, sizeof why, "no probe named %s", sp->name);
        if (rc != 0) {
            cb_metrics_free(&ms);
            if (cb_table_add(env->t, CB_ROW_FAIL, s->id, sp->name, "-", "probe", &p, NULL, 0,
                             why[0] ? why : "failed") != 0)
                return cb_fail(err, errlen, "out of memory");
            if (!env->cli->quiet)
                fprintf(stderr, "FAILED: %s\n", why);
            continue;
        }
        for (int m = 0; m < ms.n; m++)
            if (cb_table_add(env->t, CB_ROW_METRIC, s->id, sp->name, "-", ms.m[m].name,
                             &ms.m[m].at, &ms.m[m].value, 1, NULL) != 0) {
                cb_metrics_free(&ms);
                return cb_fail(err, errlen, "out of memory");
            }
        if (!env->cli->quiet)
            fprintf(stderr, "%d metrics\n", ms.n);
        cb_metrics_free(&ms);
    }
    return 0;
}

/* ---- the machine figures, measured in a child -------------------------------- */

/* Seconds the figures may take (about 2 s on an idle 2-core machine). */
#define MACHINE_TIME_LIMIT 300.0

/* `claimbench bench __machine`: cb_machine_measure, replied as
 *   fields ISA THREADS GFLOPS_1T GFLOPS_ALL BLAS1..BLASn DNNL1..DNNLn
 *   kv KEY VALUE          one per pair it added
 * or "error MESSAGE". */
static int machine_child(void)
{
    char err[512] = "";
    FILE *reply = cb_isolate_reply(err, sizeof err);
    if (!reply) {
        fprintf(stderr, "claimbench bench __machine: %s\n", err);
        return CB_EXIT_USAGE;
    }
    int rc = CB_EXIT_OK;
    cb_machine *m = calloc(1, sizeof *m);
    if (!m) {
        reply_row(reply, "error", "out of memory", NULL, 0);
        rc = CB_EXIT_ERROR;
    } else if (cb_machine_measure(m, err, sizeof err) != 0) {
        reply_row(reply, "error", err, NULL, 0);
        rc = CB_EXIT_ERROR;
    } else {
        fprintf(reply, "fields\t%s\t%d\t%.17g\t%.17g", m->fma_isa, m->fma_threads, m->fma_gflops_1t,
                m->fma_gflops_all);
        for (int i = 0; i < CB_MACHINE_SGEMM_REPS; i++)
            fprintf(reply, "\t%.17g", m->sgemm_blas[i]);
        for (int i = 0; i < CB_MACHINE_SGEMM_REPS; i++)
            fprintf(reply, "\t%.17g", m->sgemm_dnnl[i]);
        fputc('\n', reply);
        for (int i = 0; i < m->n; i++)
            fprintf(reply, "kv\t%s\t%s\n", m->kv[i].key, m->kv[i].value);
    }
    free(m);
    if (fclose(reply) != 0 && rc == CB_EXIT_OK)
        rc = CB_EXIT_ERROR;
    return rc;
}

/* Measure the figures in a child and add them to m, as cb_machine_measure
 * would: in a child so that SIGINT stops them at once (the child is
 * killed) and a library failing there costs the figures only. Returns 0, or
 * -1 with err saying why the figures are missing. */
static int measure_machine(cb_machine *m, char *err, size_t errlen)
{
    static const char *const isas[] = {"avx512f", "avx2+fma", "scalar"};
    char *argv[] = {"claimbench", "--quiet", "bench", "__machine", NULL};
    cb_isolate_result r;
    if (cb_isolate_run(argv, MACHINE_TIME_LIMIT, &r, err, errlen) != 0)
        return -1;
    if (!cb_isolate_ok(&r) && !(r.end == CB_ISO_EXITED && strncmp(r.out, "error\t", 6) == 0)) {
        cb_isolate_describe(&r, 0, err, errlen);
        cb_isolate_free(&r);
        return -1;
    }
    int fields = 0, rc = 0;
    char *save = NULL;
    for (char *line = strtok_r(r.out, "\n", &save); line && rc == 0;
         line = strtok_r(NULL, "\n", &save)) {
        char *f[5 + 2 * CB_MACHINE_SGEMM_REPS];
        int nf = 0, max = (int)(sizeof f / sizeof f[0]);
        f[nf++] = line;
        for (char *c = line; *c && nf < max; c++)
            if (*c == '\t') {
                *c = '\0';
                f[nf++] = c + 1;
            }
        if (strcmp(f[0], "error") == 0 && nf >= 2) {
            rc = cb_fail(err, errlen, "%s", f[1]);
        } else if (strcmp(f[0], "kv") == 0 && nf == 3) {
            if (cb_machine_set(m, f[1], f[2]) != 0)
                rc = cb_fail(err, errlen, "too many machine facts");
        } else if (strcmp(f[0], "fields") == 0 && nf == max) {
            m->fma_isa = "unknown";
            for (size_t i = 0; i < sizeof isas / sizeof isas[0]; i++)
                if (strcmp(f[1], isas[i]) == 0)
                    m->fma_isa = isas[i];
            m->fma_threads = atoi(f[2]);
            m->fma_gflops_1t = strtod(f[3], NULL);
            m->fma_gflops_all = strtod(f[4], NULL);
            for (int i = 0; i < CB_MACHINE_SGEMM_REPS; i++) {
                m->sgemm_blas[i] = strtod(f[5 + i], NULL);
                m->sgemm_dnnl[i] = strtod(f[5 + CB_MACHINE_SGEMM_REPS + i], NULL);
            }
            fields = 1;
        }
    }
    cb_isolate_free(&r);
    if (rc == 0 && !fields)
        rc = cb_fail(err, errlen, "the measurement reported no figures");
    m->measured = rc == 0;
    return rc;
}

/* ---- the command ------------------------------------------------------------------ */

int cb_cmd_bench(const cb_cli *cli, int argc, char **argv)
{
    /* The hidden subcommands a child process runs (isolate.h). */
    if (argc > 1 && strcmp(argv[1], "__case") == 0)
        return case_child(cli, argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "__agree") == 0)
        return cb_agree_child(argc - 1, argv + 1, cli->seed);
    if (argc == 2 && strcmp(argv[1], "__machine") == 0)
        return machine_child();

    bench_opts o;
    int pr = parse_opts(argc, argv, &o);
    if (pr > 0) {
        fputs(usage_text, stdout);
        return CB_EXIT_OK;
    }
    if (pr < 0)
        return CB_EXIT_USAGE;

    char err[1024] = "";
    cb_spec *specs = NULL;
    int n = 0;
    if (cb_spec_load_dir(cli->tasks_dir, &specs, &n, err, sizeof err) != 0) {
        fprintf(stderr, "claimbench: %s\n", err);
        return CB_EXIT_USAGE;
    }
    int *keep = calloc((size_t)n + 1, sizeof *keep);
    if (!keep) {
        cb_spec_free_all(specs, n);
        fprintf(stderr, "claimbench bench: out of memory\n");
        return CB_EXIT_ERROR;
    }
    for (int i = 0; i < n; i++)
        keep[i] = o.n_tasks == 0;
    for (int a = 0; a < o.n_tasks; a++) {
        int found = 0;
        for (int i = 0; i < n; i++)
            if (strcmp(specs[i].id, o.tasks[a]) == 0)
                keep[i] = found = 1;
        if (!found) {
            fprintf(stderr, "claimbench bench: unknown task '%s'; known:", o.tasks[a]);
            for (int i = 0; i < n; i++)
                fprintf(stderr, " %s", specs[i].id);
            fprintf(stderr, "\n");
            free(keep);
            cb_spec_free_all(specs, n);
            return CB_EXIT_USAGE;
        }
    }

    int rc = CB_EXIT_ERROR;
    bench_case *cases = NULL;
    series_state *series = NULL;
    cb_table t = {0};
    cb_run run;
    int begun = 0, stop_sig = 0;
    char *tap = NULL, *mtsv = NULL;
    char ctx[MAX_CTX][600];
    run_env env;
    memset(&env, 0, sizeof env);
    size_t tap_len = 0, mtsv_len = 0;
    FILE *tapf = NULL;
    cb_machine *m = malloc(sizeof *m);
    cb_isolate_signals sigs;
    /* From here on SIGINT/SIGTERM only set a flag, looked at between steps. */
    if (cb_isolate_catch(&sigs) != 0) {
        snprintf(err, sizeof err, "cannot install the SIGINT handler: %s", strerror(errno));
        goto done;
    }
#define STOP_IF_INTERRUPTED()                                                              \
    do {                                                                                   \
        if ((stop_sig = cb_isolate_interrupted()) != 0)                                    \
            goto done;                                                                     \
    } while (0)

    int n_series = 0;
    int total = plan_cases(specs, n, keep, &o, &cases, &n_series);
    if (!m || total < 0) {
        snprintf(err, sizeof err, "out of memory");
        goto done;
    }
    series = calloc((size_t)n_series + 1, sizeof *series);
    if (!series) {
        snprintf(err, sizeof err, "out of memory");
        goto done;
    }

    /* What runs this, then where the results go. */
    cb_machine_info(m);
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)cli->seed);
    cb_machine_set(m, "seed", seed);
    STOP_IF_INTERRUPTED();
    if (cb_results_begin(&run, cli->runs_dir, cb_machine_get(m, "commit"), err, sizeof err) != 0)
        goto done;
    begun = 1;
    if (!cli->quiet)
        fprintf(stderr, "claimbench bench: building %s\nmachine: measuring the FMA peak and sgemm %d^3 ... ",
                run.partial, CB_MACHINE_SGEMM_N);
    char merr[512];
    if (measure_machine(m, merr, sizeof merr) != 0) {
        STOP_IF_INTERRUPTED();
        /* The figures are context for the timings, not the timings: record
         * why they are missing and go on. */
        cb_machine_set(m, "figures_error", merr);
        if (!cli->quiet)
            fprintf(stderr, "failed: %s\n", merr);
    } else if (!cli->quiet) {
        const char *fj = cb_machine_get(m, "omp_fork_join_us_median");
        fprintf(stderr, "FMA %.0f GFLOP/s (1 thread), %.0f (%d threads); sgemm %s (blas), %s (dnnl); "
                        "OpenMP fork/join %s us\n",
                m->fma_gflops_1t, m->fma_gflops_all, m->fma_threads,
                cb_machine_get(m, "sgemm_blas_gflops_median"),
                cb_machine_get(m, "sgemm_dnnl_gflops_median"), fj ? fj : "?");
    }
    char path[2048];
    if (!(mtsv = cb_machine_tsv(m, &mtsv_len))) {
        snprintf(err, sizeof err, "out of memory");
        goto done;
    }
    if (cb_run_path(&run, "machine.tsv", path, sizeof path, err, sizeof err) != 0 ||
        cb_write_atomic(path, mtsv, mtsv_len, err, sizeof err) != 0)
        goto done;
    if (cb_machine_rows(m, &t) != 0) {
        snprintf(err, sizeof err, "out of memory");
        goto done;
    }
    STOP_IF_INTERRUPTED();

    /* Recorded in every Google Benchmark JSON (by the case's child): what ran. */
    static const char *const ctx_keys[] = {"openblas_corename", "openblas_config",
                                           "openblas_threads", "dnnl_version", "dnnl_isa",
                                           "omp_threads", "commit", "seed"};
    env.cli = cli;
    env.o = &o;
    env.run = &run;
    env.t = &t;
    for (size_t i = 0; i < sizeof ctx_keys / sizeof ctx_keys[0]; i++) {
        const char *v = cb_machine_get(m, ctx_keys[i]);
        snprintf(ctx[env.n_ctx], sizeof ctx[0], "%s=%s", ctx_keys[i], v ? v : "unknown");
        env.ctx[env.n_ctx] = ctx[env.n_ctx];
        env.n_ctx++;
    }
    snprintf(ctx[env.n_ctx], sizeof ctx[0], "run=%s", run.name);
    env.ctx[env.n_ctx] = ctx[env.n_ctx];
    env.n_ctx++;

    tapf = open_memstream(&tap, &tap_len);
    if (!tapf) {
        snprintf(err, sizeof err, "out of memory");
        goto done;
    }
    int test_no = 0, agree_failed = 0, k = 0;
    double agree_limit = o.case_timeout > 0 ? o.case_timeout : CB_AGREE_TIME_LIMIT;
    for (int i = 0; i < n; i++) {
        if (!keep[i])
            continue;
        const cb_spec *s = &specs[i];

        /* 1. agreement */
        STOP_IF_INTERRUPTED();
        fprintf(tapf, "# task %s\n", s->id);
        int before = test_no;
        char why[1024] = "";
        int f = cb_agree_task_limit(s, cli->seed, agree_limit, tapf, &test_no, &t, why, sizeof why);
        STOP_IF_INTERRUPTED();
        if (f < 0) {
            /* A kernel that cannot run at agreement sizes is a result for
             * this task, not the end of the run. */
            fprintf(tapf, "not ok %d - %s: agreement could not run: %s\n", ++test_no, s->id, why);
            agree_failed++;
            if (cb_table_add(&t, CB_ROW_FAIL, s->id, "agreement", "-", "agree_pass", NULL, NULL,
                             0, why) != 0) {
                snprintf(err, sizeof err, "out of memory");
                goto done;
            }
        } else {
            agree_failed += f;
        }
        if (!cli->quiet)
            fprintf(stderr, "[agree] %s: %d comparisons, %s\n", s->id, test_no - before,
                    f < 0 ? "could not run" : f ? "SOME FAILED (see agreement.tap)" : "all agree");

        /* 2. probes */
        if (run_probes(&env, s, err, sizeof err) != 0)
            goto done;

        /* 3. timings */
        for (int c = 0; c < total; c++) {
            if (cases[c].task != i)
                continue;
            STOP_IF_INTERRUPTED();
            series_state *ss = &series[cases[c].series];
            if (time_case(&env, s, &cases[c], ++k, total, ss, err, sizeof err) != 0)
                goto done;
        }
    }
    STOP_IF_INTERRUPTED();
    fprintf(tapf, "1..%d\n", test_no);
    if (agree_failed)
        fprintf(tapf, "# %d of %d comparisons failed\n", agree_failed, test_no);
    if (fclose(tapf) != 0) {
        tapf = NULL;
        snprintf(err, sizeof err, "agreement.tap: out of memory");
        goto done;
    }
    tapf = NULL;
    if (cb_run_path(&run, "agreement.tap", path, sizeof path, err, sizeof err) != 0 ||
        cb_write_atomic(path, tap, tap_len, err, sizeof err) != 0)
        goto done;
    if (cb_run_path(&run, "samples.tsv", path, sizeof path, err, sizeof err) != 0 ||
        cb_table_write(&t, path, err, sizeof err) != 0)
        goto done;
    /* The last point where an interruption discards the run; once it is
     * published, it is complete and is appended to the history too. */
    STOP_IF_INTERRUPTED();
    if (cb_results_commit(&run, err, sizeof err) != 0)
        goto done;
    printf("%s\n", run.path);
    fflush(stdout);
    if (agree_failed && !cli->quiet)
        fprintf(stderr, "claimbench bench: %d agreement comparisons failed (see %s/agreement.tap)\n",
                agree_failed, run.path);

    if (cli->history && cli->history[0]) {
        char herr[1024];
        if (cb_history_append(cli->history, run.path, &t, herr, sizeof herr) != 0)
            fprintf(stderr, "claimbench bench: warning: history not updated: %s\n", herr);
    }
    rc = CB_EXIT_OK;

done:
#undef STOP_IF_INTERRUPTED
    if (stop_sig) {
        char sb[32];
        rc = 128 + stop_sig;
        if (begun && !run.committed)
            cb_results_abort(&run);
        fprintf(stderr, "\nclaimbench bench: interrupted by %s; %s\n", cb_signal_name(stop_sig, sb, sizeof sb),
                begun && !run.committed ? "the partial run folder was removed" : "no run folder was written");
    } else if (rc != CB_EXIT_OK) {
        fprintf(stderr, "claimbench bench: %s\n", err[0] ? err : "failed");
        if (begun && !run.committed)
            cb_results_abort(&run);
    }
    cb_isolate_release(&sigs);
    if (tapf)
        fclose(tapf);
    free(tap);
    free(mtsv);
    cb_table_free(&t);
    free(series);
    free(cases);
    free(m);
    free(keep);
    cb_spec_free_all(specs, n);
    return rc;
}
