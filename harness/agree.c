/* agree.c — every backend against the ref oracle, on the spec's agreement sizes.
 *
 * The inputs are the seeded ones every backend sees (inputs.h); ref runs
 * first, then each other backend on the same tensors, and every output is
 * compared point by point. The tolerances come from the spec (its prose says
 * why): a point passes when its absolute error is within max_abs or its
 * relative error within max_rel, and the whole output must also have a
 * normalized L2 error within nl2. Any NaN or Inf in a candidate fails, since
 * no kernel here may produce one from finite inputs.
 */
#include "agree.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "inputs.h"

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

/* Compare one (kernel entry, size): ref against every other backend. */
static int agree_one(const cb_spec *s, const cb_spec_kernel *ke, const cb_params *size,
                     uint64_t seed, FILE *tap, int *test_no, cb_table *rows, char *err, size_t errlen)
{
    const cb_kernel *k = cb_kernel_find(ke->name);
    const cb_impl *ref = cb_impl_find(ke->name, "ref");
    if (!k || !ref)
        return cb_fail(err, errlen, "%s: kernel '%s' has no ref implementation", s->path, ke->name);

    double tol_abs = ke->tol_max_abs >= 0 ? ke->tol_max_abs : s->tol_max_abs;
    double tol_rel = ke->tol_max_rel >= 0 ? ke->tol_max_rel : s->tol_max_rel;
    double tol_nl2 = ke->tol_nl2 >= 0 ? ke->tol_nl2 : s->tol_nl2;

    cb_params p = s->params;
    if (cb_params_merge(&p, &ke->params) != 0 || cb_params_merge(&p, size) != 0)
        return cb_fail(err, errlen, "%s: too many parameters", s->path);

    cb_tensor in[CB_MAX_TENSORS], ref_out[CB_MAX_TENSORS], out[CB_MAX_TENSORS];
    char perr[256];
    if (cb_inputs_make(k, &p, s, seed, in, ref_out, perr, sizeof perr) != 0) {
        /* A size that this kernel's contract rejects (e.g. causal with M != N)
         * is a spec error, reported as a failed comparison, not a crash. */
        char pf[256];
        cb_params_format(&p, pf, sizeof pf);
        char desc[700];
        snprintf(desc, sizeof desc, "%s %s: cannot build inputs: %s", ke->name, pf, perr);
        tap_line(tap, test_no, 0, desc);
        return 1;
    }
    int failures = 0;
    if (run_impl(ref, &p, in, ref_out, err, errlen) != 0) {
        cb_inputs_free(k, in, ref_out);
        return -1;
    }
    char pf[256];
    cb_params_format(&p, pf, sizeof pf);

    for (int b = 0; b < ke->n_backends; b++) {
        const char *be = ke->backends[b];
        if (strcmp(be, "ref") == 0) continue;
        const cb_impl *im = cb_impl_find(ke->name, be);
        if (!im) continue; /* the spec loader already refused this */
        int alloc_ok = 1;
        int n_alloc = 0;
        for (int o = 0; o < k->n_out; o++, n_alloc++)
            if (cb_tensor_alloc(&out[o], ref_out[o].name, &ref_out[o].shape) != 0) {
                alloc_ok = 0;
                break;
            }
        if (!alloc_ok) {
            for (int o = 0; o < n_alloc; o++) cb_tensor_free(&out[o]);
            cb_inputs_free(k, in, ref_out);
            return cb_fail(err, errlen, "out of memory for %s outputs", ke->name);
        }
        char rerr[256] = "";
        int rc = run_impl(im, &p, in, out, rerr, sizeof rerr);
        for (int o = 0; o < k->n_out; o++) {
            cb_errstats st = {0};
            int64_t n = cb_shape_numel(&ref_out[o].shape);
            int pass = 0;
            char desc[800];
            if (rc != 0) {
                snprintf(desc, sizeof desc, "%s/%s %s %s: %s", ke->name, be, k->out[o], pf, rerr);
            } else {
                cb_errstats_compute(out[o].data, ref_out[o].data, n, &st);
                int64_t bad = cb_count_out_of_tolerance(out[o].data, ref_out[o].data, n, tol_abs, tol_rel);
                pass = st.nonfinite == 0 && bad == 0 && st.nl2 <= tol_nl2;
                snprintf(desc, sizeof desc,
                         "%s/%s %s %s: max_abs %.3g max_rel %.3g nl2 %.3g%s (tol abs %.3g | rel %.3g, nl2 %.3g)%s",
                         ke->name, be, k->out[o], pf, st.max_abs, st.max_rel, st.nl2,
                         st.nonfinite ? " NONFINITE" : "", tol_abs, tol_rel, tol_nl2,
                         bad ? " points out of tolerance" : "");
                if (tap && bad)
                    fprintf(tap, "# %lld of %lld points out of tolerance\n", (long long)bad, (long long)n);
            }
            tap_line(tap, test_no, pass, desc);
            if (!pass) failures++;
            if (rows) {
                double vals[4] = {st.max_abs, st.max_rel, st.nl2, pass ? 1.0 : 0.0};
                const char *names[4] = {"agree_max_abs", "agree_max_rel", "agree_nl2", "agree_pass"};
                for (int m = 0; m < 4; m++)
                    if (cb_table_add(rows, CB_ROW_METRIC, s->id, ke->name, be, names[m], &p, &vals[m], 1,
                                     k->out[o]) != 0) {
                        for (int q = 0; q < k->n_out; q++) cb_tensor_free(&out[q]);
                        cb_inputs_free(k, in, ref_out);
                        return cb_fail(err, errlen, "out of memory");
                    }
            }
        }
        for (int o = 0; o < k->n_out; o++) cb_tensor_free(&out[o]);
    }
    cb_inputs_free(k, in, ref_out);
    return failures;
}

int cb_agree_task(const cb_spec *s, uint64_t seed, FILE *tap, int *test_no,
                  cb_table *rows, char *err, size_t errlen)
{
    int failures = 0;
    for (int i = 0; i < s->n_kernels; i++)
        for (int j = 0; j < s->n_agree; j++) {
            int r = agree_one(s, &s->kernels[i], &s->agree[j], seed, tap, test_no, rows, err, errlen);
            if (r < 0) return -1;
            failures += r;
        }
    return failures;
}
