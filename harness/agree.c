/* agree.c — every backend against the ref oracle, on the spec's agreement sizes.
 *
 * The inputs are the seeded ones every backend sees (inputs.h); ref runs
 * first, then each other backend on the same tensors, and every output is
 * compared point by point. The tolerances come from the spec (its prose says
 * why): a point passes when its absolute error is within max_abs or its
 * relative error within max_rel, and the whole output must also have a
 * normalized L2 error within nl2. Any NaN or Inf in a candidate fails, since
 * no kernel here may produce one from finite inputs. A size whose reference
 * output is constant (every element the same, e.g. all zero) fails too: a
 * backend that writes that constant would pass it without computing
 * anything, so such a size tests nothing and the spec must pick another.
 *
 * Each comparison (one backend, one size) runs in a child process
 * (isolate.h): the parent validates the size, starts `claimbench bench
 * __agree`, and turns the statistics it sends back into TAP lines and rows.
 * The child builds the inputs, runs ref and the backend, and compares; if it
 * crashes, hangs past the time limit or exits badly, that comparison fails
 * with the signal or the limit as its reason and the next one runs.
 */
#define _POSIX_C_SOURCE 200809L
#include "agree.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inputs.h"
#include "isolate.h"

void cb_errstats_compute(const float *x, const float *y, int64_t n, cb_errstats *st)
{
    double num = 0, den = 0;
    memset(st, 0, sizeof *st);
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(x[i])) {
            st->nonfinite++;
            continue;
        }
        double d = fabs((double)x[i] - (double)y[i]);
        double a = fabs((double)y[i]);
        if (d > st->max_abs) st->max_abs = d;
        if (a > 0 && d / a > st->max_rel) st->max_rel = d / a;
        num += d * d;
        den += a * a;
    }
    st->nl2 = den > 0 ? sqrt(num / den) : sqrt(num);
}

int64_t cb_count_out_of_tolerance(const float *x, const float *y, int64_t n, double tol_abs, double tol_rel)
{
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(x[i])) {
            bad++;
            continue;
        }
        double d = fabs((double)x[i] - (double)y[i]);
        double a = fabs((double)y[i]);
        if (d > tol_abs && !(a > 0 && d / a <= tol_rel))
            bad++;
    }
    return bad;
}

/* 1 when y[0..n) holds one value at least twice over and nothing else: an
 * output that cannot tell a computing backend from one that fills a constant. */
static int is_constant(const float *y, int64_t n)
{
    if (n < 2) return 0;
    for (int64_t i = 1; i < n; i++)
        if (!(y[i] == y[0])) return 0;
    return 1;
}

/* Run one implementation on prepared inputs into out. */
static int run_impl(const cb_impl *im, const cb_params *p, const cb_tensor *in, cb_tensor *out,
                    char *err, size_t errlen)
{
    void *state = NULL;
    if (im->prepare && im->prepare(&state, p, in, out, err, errlen) != 0)
        return -1;
    int rc = im->run(state, p, in, out);
    if (im->release) im->release(state);
    if (rc != 0)
        return cb_fail(err, errlen, "%s/%s: run failed", im->kernel, im->backend);
    return 0;
}

static void tap_line(FILE *tap, int *no, int pass, const char *fmt_desc)
{
    if (!tap) return;
    ++*no;
    fprintf(tap, "%s %d - %s\n", pass ? "ok" : "not ok", *no, fmt_desc);
}

/* The tolerances of an entry (abs, rel, nl2): its own, else the spec's. */
static void tolerances(const cb_spec *s, const cb_spec_kernel *ke, double tol[3])
{
    tol[0] = ke->tol_max_abs >= 0 ? ke->tol_max_abs : s->tol_max_abs;
    tol[1] = ke->tol_max_rel >= 0 ? ke->tol_max_rel : s->tol_max_rel;
    tol[2] = ke->tol_nl2 >= 0 ? ke->tol_nl2 : s->tol_nl2;
}

/* The parameters of agreement size j of entry ke: spec ⊕ entry ⊕ size. */
static int size_params(const cb_spec *s, const cb_spec_kernel *ke, int j, cb_params *p)
{
    *p = s->params;
    return cb_params_merge(p, &ke->params) != 0 || cb_params_merge(p, &s->agree[j]) != 0 ? -1 : 0;
}

/* ---- the child: one backend against ref at one size ------------------------ */

/* The child's reply, one tab-separated line each:
 *   out NAME MAX_ABS MAX_REL NL2 NONFINITE BAD N   per output, in order
 *   run MESSAGE       the backend's prepare or run failed
 *   inputs MESSAGE    the inputs could not be built
 *   ref MESSAGE       ref failed: a runtime error for the whole task
 *   error MESSAGE     the child could not do its work (spec, memory)
 */
static void reply_msg(FILE *f, const char *kind, const char *msg)
{
    fprintf(f, "%s\t", kind);
    for (const char *c = msg; *c; c++)
        fputc(*c == '\t' || *c == '\n' || *c == '\r' ? ' ' : *c, f);
    fputc('\n', f);
}

static void compare_child(const cb_spec *s, const cb_spec_kernel *ke, int j, const char *be,
                          uint64_t seed, FILE *reply)
{
    const cb_kernel *k = cb_kernel_find(ke->name);
    const cb_impl *ref = cb_impl_find(ke->name, "ref"), *im = cb_impl_find(ke->name, be);
    char msg[512] = "";
    cb_params p;
    if (!k || !ref || !im) {
        reply_msg(reply, "error", "no such kernel, ref or backend in this binary");
        return;
    }
    if (size_params(s, ke, j, &p) != 0) {
        reply_msg(reply, "error", "too many parameters");
        return;
    }
    double tol[3];
    tolerances(s, ke, tol);
    cb_tensor in[CB_MAX_TENSORS], ref_out[CB_MAX_TENSORS], out[CB_MAX_TENSORS];
    if (cb_inputs_make(k, &p, s, seed, in, ref_out, msg, sizeof msg) != 0) {
        reply_msg(reply, "inputs", msg);
        return;
    }
    if (run_impl(ref, &p, in, ref_out, msg, sizeof msg) != 0) {
        reply_msg(reply, "ref", msg);
        cb_inputs_free(k, in, ref_out);
        return;
    }
    int n_alloc = 0;
    while (n_alloc < k->n_out &&
           cb_tensor_alloc(&out[n_alloc], ref_out[n_alloc].name, &ref_out[n_alloc].shape) == 0)
        n_alloc++;
    if (n_alloc < k->n_out) {
        reply_msg(reply, "error", "out of memory for the outputs");
    } else if (run_impl(im, &p, in, out, msg, sizeof msg) != 0) {
        reply_msg(reply, "run", msg);
    } else {
        for (int o = 0; o < k->n_out; o++) {
            int64_t n = cb_shape_numel(&ref_out[o].shape);
            cb_errstats st;
            cb_errstats_compute(out[o].data, ref_out[o].data, n, &st);
            int64_t bad = cb_count_out_of_tolerance(out[o].data, ref_out[o].data, n, tol[0], tol[1]);
            fprintf(reply, "out\t%s\t%.17g\t%.17g\t%.17g\t%lld\t%lld\t%lld\t%d\n", k->out[o],
                    st.max_abs, st.max_rel, st.nl2, (long long)st.nonfinite, (long long)bad,
                    (long long)n, is_constant(ref_out[o].data, n));
        }
    }
    for (int o = 0; o < n_alloc; o++) cb_tensor_free(&out[o]);
    cb_inputs_free(k, in, ref_out);
}

static int parse_index(const char *str, int n, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(str, &end, 10);
    if (errno || end == str || *end || v < 0 || v >= n)
        return -1;
    *out = (int)v;
    return 0;
}

int cb_agree_child(int argc, char **argv, uint64_t seed)
{
    char err[1024] = "";
    FILE *reply = cb_isolate_reply(err, sizeof err);
    if (!reply) {
        fprintf(stderr, "claimbench bench __agree: %s\n", err);
        return 2;
    }
    cb_spec *s = calloc(1, sizeof *s);
    int e, j, rc = 0;
    if (argc != 5) {
        reply_msg(reply, "error", "usage: bench __agree SPEC ENTRY SIZE BACKEND");
        rc = 2;
    } else if (!s) {
        reply_msg(reply, "error", "out of memory");
        rc = 3;
    } else if (cb_spec_load(argv[1], s, err, sizeof err) != 0) {
        reply_msg(reply, "error", err);
        rc = 3;
    } else {
        if (parse_index(argv[2], s->n_kernels, &e) != 0 || parse_index(argv[3], s->n_agree, &j) != 0) {
            reply_msg(reply, "error", "no such kernel entry or agreement size in the spec");
            rc = 2;
        } else {
            compare_child(s, &s->kernels[e], j, argv[4], seed, reply);
        }
        cb_spec_free(s);
    }
    free(s);
    if (fclose(reply) != 0 && rc == 0)
        rc = 3;
    return rc;
}

/* ---- the parent: one comparison per child ---------------------------------- */

/* Split line at tabs in place into at most max fields; returns the count. */
static int split_tabs(char *line, char **f, int max)
{
    int n = 0;
    f[n++] = line;
    for (char *c = line; *c && n < max; c++)
        if (*c == '\t') {
            *c = '\0';
            f[n++] = c + 1;
        }
    return n;
}

/* What one child reported for one output. */
typedef struct out_report {
    int have;
    cb_errstats st;
    long long bad, n;
    int ref_constant;   /* the reference output is one value repeated */
} out_report;

/* Record the comparison of backend `be` as failed for every output, for
 * `why` (a crash, a time-out, a failed run): TAP not ok, agree_pass 0 and a
 * fail row naming the cause. Returns the number of failures, or -1. */
static int record_failed(const cb_spec *s, const cb_spec_kernel *ke, const cb_kernel *k,
                         const char *be, const cb_params *p, const char *pf, const char *why,
                         FILE *tap, int *test_no, cb_table *rows, char *err, size_t errlen)
{
    for (int o = 0; o < k->n_out; o++) {
        char desc[800], note[300];
        snprintf(desc, sizeof desc, "%s/%s %s %s: %s", ke->name, be, k->out[o], pf, why);
        tap_line(tap, test_no, 0, desc);
        snprintf(note, sizeof note, "%s: %s", k->out[o], why);
        double zero = 0;
        if (rows && (cb_table_add(rows, CB_ROW_METRIC, s->id, ke->name, be, "agree_pass", p, &zero, 1,
                                  k->out[o]) != 0 ||
                     cb_table_add(rows, CB_ROW_FAIL, s->id, ke->name, be, "agree", p, NULL, 0, note) != 0))
            return cb_fail(err, errlen, "out of memory");
    }
    return k->n_out;
}

/* Compare backend `be` of entry e with ref at agreement size j (parameters
 * p, formatted pf) in a child. Returns the number of failed outputs, or -1
 * on a runtime error (err set). */
static int agree_backend(const cb_spec *s, int e, int j, const char *be, const cb_params *p,
                         const char *pf, uint64_t seed, double limit, FILE *tap, int *test_no,
                         cb_table *rows, char *err, size_t errlen)
{
    const cb_spec_kernel *ke = &s->kernels[e];
    const cb_kernel *k = cb_kernel_find(ke->name);
    double tol[3];
    tolerances(s, ke, tol);
    char a_seed[32], a_e[16], a_j[16];
    snprintf(a_seed, sizeof a_seed, "%llu", (unsigned long long)seed);
    snprintf(a_e, sizeof a_e, "%d", e);
    snprintf(a_j, sizeof a_j, "%d", j);
    char *argv[] = {"claimbench", "--quiet", "--seed", a_seed, "bench", "__agree",
                    (char *)s->path, a_e, a_j, (char *)be, NULL};
    cb_isolate_result r;
    if (cb_isolate_run(argv, limit, &r, err, errlen) != 0)
        return -1;
    if (r.end == CB_ISO_INTERRUPTED) {
        cb_isolate_free(&r);
        return cb_fail(err, errlen, "interrupted");
    }

    out_report rep[CB_MAX_TENSORS];
    memset(rep, 0, sizeof rep);
    char why[600] = "";
    if (!cb_isolate_ok(&r)) {
        cb_isolate_describe(&r, 0, why, sizeof why);
    } else {
        char *save = NULL;
        for (char *line = strtok_r(r.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            char *f[9];
            int nf = split_tabs(line, f, 9);
            if (strcmp(f[0], "out") == 0 && nf == 9) {
                for (int o = 0; o < k->n_out; o++)
                    if (strcmp(f[1], k->out[o]) == 0) {
                        rep[o].have = 1;
                        rep[o].st.max_abs = strtod(f[2], NULL);
                        rep[o].st.max_rel = strtod(f[3], NULL);
                        rep[o].st.nl2 = strtod(f[4], NULL);
                        rep[o].st.nonfinite = strtoll(f[5], NULL, 10);
                        rep[o].bad = strtoll(f[6], NULL, 10);
                        rep[o].n = strtoll(f[7], NULL, 10);
                        rep[o].ref_constant = atoi(f[8]);
                    }
            } else if (nf >= 2 && (strcmp(f[0], "ref") == 0 || strcmp(f[0], "error") == 0)) {
                cb_fail(err, errlen, "%s/%s %s: %s", ke->name, strcmp(f[0], "ref") ? be : "ref", pf, f[1]);
                cb_isolate_free(&r);
                return -1;
            } else if (nf >= 2 && strcmp(f[0], "run") == 0) {
                snprintf(why, sizeof why, "%s", f[1]);
            } else if (nf >= 2 && strcmp(f[0], "inputs") == 0) {
                snprintf(why, sizeof why, "cannot build inputs: %s", f[1]);
            }
        }
        for (int o = 0; o < k->n_out && !why[0]; o++)
            if (!rep[o].have)
                snprintf(why, sizeof why, "the comparison reported no result for %s", k->out[o]);
    }
    cb_isolate_free(&r);
    if (why[0])
        return record_failed(s, ke, k, be, p, pf, why, tap, test_no, rows, err, errlen);

    int failures = 0;
    for (int o = 0; o < k->n_out; o++) {
        const cb_errstats *st = &rep[o].st;
        long long bad = rep[o].bad;
        int pass = st->nonfinite == 0 && bad == 0 && st->nl2 <= tol[2] && !rep[o].ref_constant;
        char desc[800];
        snprintf(desc, sizeof desc,
                 "%s/%s %s %s: max_abs %.3g max_rel %.3g nl2 %.3g%s (tol abs %.3g | rel %.3g, nl2 %.3g)%s%s",
                 ke->name, be, k->out[o], pf, st->max_abs, st->max_rel, st->nl2,
                 st->nonfinite ? " NONFINITE" : "", tol[0], tol[1], tol[2],
                 bad ? " points out of tolerance" : "",
                 rep[o].ref_constant ? " REFERENCE CONSTANT (this size cannot tell a backend that"
                                       " computes from one that fills a constant)" : "");
        if (tap && bad)
            fprintf(tap, "# %lld of %lld points out of tolerance\n", bad, rep[o].n);
        tap_line(tap, test_no, pass, desc);
        if (!pass) failures++;
        if (rows) {
            double vals[4] = {st->max_abs, st->max_rel, st->nl2, pass ? 1.0 : 0.0};
            const char *names[4] = {"agree_max_abs", "agree_max_rel", "agree_nl2", "agree_pass"};
            for (int m = 0; m < 4; m++)
                if (cb_table_add(rows, CB_ROW_METRIC, s->id, ke->name, be, names[m], p, &vals[m], 1,
                                 k->out[o]) != 0)
                    return cb_fail(err, errlen, "out of memory");
        }
    }
    return failures;
}

/* Compare one (kernel entry, size): ref against every other backend. */
static int agree_one(const cb_spec *s, int e, int j, uint64_t seed, double limit, FILE *tap,
                     int *test_no, cb_table *rows, char *err, size_t errlen)
{
    const cb_spec_kernel *ke = &s->kernels[e];
    const cb_kernel *k = cb_kernel_find(ke->name);
    const cb_impl *ref = cb_impl_find(ke->name, "ref");
    if (!k || !ref)
        return cb_fail(err, errlen, "%s: kernel '%s' has no ref implementation", s->path, ke->name);

    cb_params p;
    if (size_params(s, ke, j, &p) != 0)
        return cb_fail(err, errlen, "%s: too many parameters", s->path);

    /* A size that this kernel's contract rejects (e.g. causal with M != N)
     * is a spec error, reported here as one failed comparison. */
    cb_params full = p;
    cb_shape ish[CB_MAX_TENSORS], osh[CB_MAX_TENSORS];
    char perr[256] = "";
    if (k->shapes(&full, ish, osh, perr, sizeof perr) != 0) {
        char pf[256], desc[700];
        cb_params_format(&p, pf, sizeof pf);
        snprintf(desc, sizeof desc, "%s %s: cannot build inputs: %s: %s", ke->name, pf, k->name,
                 perr[0] ? perr : "invalid parameters");
        tap_line(tap, test_no, 0, desc);
        return 1;
    }
    char pf[256];
    cb_params_format(&full, pf, sizeof pf);

    int failures = 0;
    for (int b = 0; b < ke->n_backends; b++) {
        const char *be = ke->backends[b];
        if (strcmp(be, "ref") == 0) continue;
        if (!cb_impl_find(ke->name, be)) continue; /* the spec loader already refused this */
        int r = agree_backend(s, e, j, be, &full, pf, seed, limit, tap, test_no, rows, err, errlen);
        if (r < 0) return -1;
        failures += r;
    }
    return failures;
}

int cb_agree_task_limit(const cb_spec *s, uint64_t seed, double limit_s, FILE *tap, int *test_no,
                        cb_table *rows, char *err, size_t errlen)
{
    int failures = 0;
    for (int i = 0; i < s->n_kernels; i++)
        for (int j = 0; j < s->n_agree; j++) {
            int r = agree_one(s, i, j, seed, limit_s, tap, test_no, rows, err, errlen);
            if (r < 0) return -1;
            failures += r;
        }
    return failures;
}

int cb_agree_task(const cb_spec *s, uint64_t seed, FILE *tap, int *test_no,
                  cb_table *rows, char *err, size_t errlen)
{
    return cb_agree_task_limit(s, seed, CB_AGREE_TIME_LIMIT, tap, test_no, rows, err, errlen);
}
