/* t_spec.c — the task-spec loader: a complete spec loads with every field
 * right, and each kind of mistake is refused with the exact "file:line: field:"
 * it was made at. Fixtures live in tests/specs/; extra small cases are
 * written to a temporary folder. Run from the repository root (as prove does). */
#define _POSIX_C_SOURCE 200809L
#include "spec.h"
#include "tap.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FIX "tests/specs/"

static int starts_with(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

static int near(double a, double b) { return a == b || fabs(a - b) <= 1e-12 * fabs(b); }

/* Loading `path` must fail with a message starting with `prefix` (the
 * "file:line: field: " part) and containing `needle`. */
static void expect_err(cb_spec *s, const char *path, const char *prefix, const char *needle)
{
    char err[1024] = "";
    int rc = cb_spec_load(path, s, err, sizeof err);
    if (rc == 0)
        cb_spec_free(s);
    ok(rc == -1 && starts_with(err, prefix) && strstr(err, needle), "%s refused at %s", path, prefix);
    if (!(rc == -1 && starts_with(err, prefix) && strstr(err, needle)))
        diag("got rc %d: %s (wanted '%s' ... '%s')", rc, err, prefix, needle);
}

static int write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int bad = fputs(text, f) < 0;
    return fclose(f) != 0 || bad ? -1 : 0;
}

static void remove_file(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path);
}

/* ---- the complete spec ------------------------------------------------ */

static void test_good(cb_spec *s)
{
    char err[1024] = "";
    int rc = cb_spec_load(FIX "good.md", s, err, sizeof err);
    if (!ok(rc == 0, "good.md loads")) {
        diag("%s", err);
        return;
    }
    ok(strcmp(s->path, FIX "good.md") == 0 && strcmp(s->id, "good") == 0, "path and id");
    ok(strcmp(s->paper, "Transformers are RNNs: Fast Autoregressive Transformers with Linear Attention") == 0,
       "paper");
    ok(s->claim && strcmp(s->claim, "Linear attention runs in linear time.") == 0, "claim folded, no trailing newline");

    ok(s->params.n == 4 && cb_params_get(&s->params, "H", 0) == 8 && cb_params_get(&s->params, "dv", 0) == 32 &&
       isinf(cb_params_get(&s->params, "window", 0)), "params (with .inf)");
    ok(strcmp(s->sweep_param, "N") == 0 && s->n_sweep == 3 && s->sweep[0] == 256 && s->sweep[2] == 1024, "sweep");
    ok(s->repetitions == 7 && near(s->min_time, 0.01) && isinf(s->budget), "timing");

    ok(s->n_inputs == 2 && strcmp(s->inputs[0].name, "q") == 0 && !s->inputs[0].uniform &&
       s->inputs[0].scale == 0.5, "input q normal(0, 0.5)");
    ok(strcmp(s->inputs[1].name, "v") == 0 && s->inputs[1].uniform && s->inputs[1].lo == -1 &&
       s->inputs[1].hi == 1.5, "input v uniform[-1, 1.5)");

    ok(s->n_kernels == 2, "two kernel entries");
    const cb_spec_kernel *k0 = &s->kernels[0], *k1 = &s->kernels[1];
    ok(strcmp(k0->name, "softmax_attention") == 0 && k0->n_backends == 3 &&
       strcmp(k0->backends[0], "ref") == 0 && strcmp(k0->backends[2], "dnnl") == 0 && k0->line == 15,
       "kernels[0] name, backends, line %d", k0->line);
    ok(k0->params.n == 5 && cb_params_get(&k0->params, "H", 0) == 8 && cb_params_get(&k0->params, "dv", 0) == 64 &&
       cb_params_get(&k0->params, "causal", 0) == 1, "kernels[0] params merged over the spec's");
    ok(k0->has_sweep && k0->n_sweep == 2 && k0->sweep[1] == 512, "kernels[0] own sweep");
    ok(near(k0->tol_max_abs, 1e-5) && near(k0->tol_max_rel, 1e-4) && near(k0->tol_nl2, 2e-5), "kernels[0] tolerance");
    ok(strcmp(k1->name, "linear_attention") == 0 && k1->n_backends == 2 && !k1->has_sweep && k1->tol_max_abs < 0 &&
       k1->tol_max_rel < 0 && k1->tol_nl2 < 0 && k1->params.n == 4 && k1->line == 20,
       "kernels[1] defaults, line %d", k1->line);

    ok(s->n_probes == 1 && strcmp(s->probes[0].name, "causal_forms") == 0 &&
       cb_params_get(&s->probes[0].params, "N", 0) == 1024 && cb_params_get(&s->probes[0].params, "H", 0) == 8 &&
       s->probes[0].line == 23, "probe merged params, line %d", s->probes[0].line);

    ok(s->n_agree == 2 && s->agree[1].n == 4 && cb_params_get(&s->agree[1], "N", 0) == 67 &&
       !cb_params_has(&s->agree[1], "window"), "agreement sizes stored as given");
    ok(near(s->tol_max_abs, 1e-6) && near(s->tol_max_rel, 1e-4) && near(s->tol_nl2, 1e-5), "agreement tolerance");

    ok(s->n_checks == 5, "five checks");
    const cb_check *c = s->checks;
    ok(c[0].line == 31 && c[1].line == 37 && c[2].line == 45 && c[3].line == 50 && c[4].line == 57,
       "check lines %d %d %d %d %d", c[0].line, c[1].line, c[2].line, c[3].line, c[4].line);
    ok(strcmp(c[0].name, "linear_time_slope") == 0 && c[0].type == CB_CHECK_SCALING &&
       strcmp(c[0].a.kernel, "linear_attention") == 0 && strcmp(c[0].a.backend, "blas") == 0 &&
       strcmp(c[0].a.metric, "time") == 0 && strcmp(c[0].param, "N") == 0 && c[0].lo == 0.85 && c[0].hi == 1.2 &&
       strcmp(c[0].paper, "O(N) (paper §3.2)") == 0 && c[0].where.n == 0, "scaling check");
    ok(c[1].type == CB_CHECK_CROSSOVER && strcmp(c[1].b.kernel, "softmax_attention") == 0 &&
       strcmp(c[1].b.metric, "time") == 0 && cb_params_get(&c[1].where, "causal", 0) == 1 && isinf(c[1].lo) &&
       c[1].lo < 0 && c[1].hi == 2048, "crossover check: b, where, {max}");
    ok(c[2].type == CB_CHECK_EQUIVALENCE && strcmp(c[2].a.kernel, "causal_forms") == 0 &&
       strcmp(c[2].a.backend, "-") == 0 && strcmp(c[2].a.metric, "err64_recurrent_vs_parallel") == 0 &&
       near(c[2].hi, 1e-10), "equivalence check on a probe metric");
    ok(c[3].type == CB_CHECK_RATIO && c[3].lo == 10 && isinf(c[3].hi) && c[3].hi > 0 &&
       cb_params_get(&c[3].where, "N", 0) == 512, "ratio check {min}");
    ok(c[4].type == CB_CHECK_ORDER && strcmp(c[4].a.metric, "agree_nl2") == 0 &&
       strcmp(c[4].b.backend, "dnnl") == 0, "order check with metrics");
    ok(s->body_line == 63 && s->body && starts_with(s->body, "# Good\n") &&
       strstr(s->body, "line 63.\n"), "body and its first line (%d)", s->body_line);
    cb_spec_free(s);
}

/* ---- one fixture per kind of mistake ----------------------------------- */

static void test_fixtures(cb_spec *s)
{
    expect_err(s, FIX "bad_missing.md", FIX "bad_missing.md:2: paper: ", "missing required field");
    expect_err(s, FIX "bad_type.md", FIX "bad_type.md:6: params.d: ", "expected a number");
    expect_err(s, FIX "bad_kernel.md", FIX "bad_kernel.md:7: kernels[0].name: ", "unknown kernel 'softmax_atention'");
    expect_err(s, FIX "bad_backend.md", FIX "bad_backend.md:8: kernels[0].backends[1]: ", "unknown backend 'blsa'");
    expect_err(s, FIX "bad_checktype.md", FIX "bad_checktype.md:13: checks[1].type: ",
               "unknown check type 'slopes' (one of scaling, crossover, ratio, trend, order, bound, equivalence)");
    expect_err(s, FIX "bad_key.md", FIX "bad_key.md:9: kernels[0].tolerence: ", "unknown key 'tolerence'");
    expect_err(s, FIX "bad_expect.md", FIX "bad_expect.md:10: checks[0].expect: ", "lo 1.2 > hi 0.85");
    expect_err(s, FIX "bad_notinspec.md", FIX "bad_notinspec.md:13: checks[0].a.kernel: ",
               "'softmax_attention' is not among this spec's kernels");
    expect_err(s, FIX "bad_nob.md", FIX "bad_nob.md:11: checks[0].b: ", "missing required field");
    expect_err(s, FIX "bad_dupcheck.md", FIX "bad_dupcheck.md:9: checks[2].name: ", "duplicate check name 'same'");
    expect_err(s, FIX "bad_yaml.md", FIX "bad_yaml.md:6: yaml: ", "did not find expected ',' or ']'");
    expect_err(s, FIX "bad_indent.md", FIX "bad_indent.md:7: yaml: ", "did not find expected '-' indicator");
    expect_err(s, FIX "bad_nofm.md", FIX "bad_nofm.md:1: front matter: ", "must start with a line '---'");
    expect_err(s, FIX "bad_unterminated.md", FIX "bad_unterminated.md:6: front matter: ", "no closing '---'");
    expect_err(s, FIX "bad_id.md", FIX "bad_id.md:2: id: ", "'some_other_id' differs from the file name 'bad_id.md'");
    expect_err(s, FIX "bad_figure.md", FIX "bad_figure.md:10: figures[1].probe: ",
               "probe 'favor_estimators' is not listed under probes in this spec");
    expect_err(s, FIX "bad_figure_scale.md", FIX "bad_figure_scale.md:13: figures[0].where: ",
               "fixes 'm', the parameter on the x axis");
    expect_err(s, FIX "does_not_exist.md", FIX "does_not_exist.md: cannot open", "No such file");
}

/* ---- small cases written on the fly ----------------------------------- */

/* Front matter lines 1-5; the case's text starts on line 6. */
#define PRE "---\nid: t\npaper: P\nclaim: C.\nprobes: [{name: causal_forms}]\n"
#define CHECK "checks:\n  - {name: c, type: bound, a: {probe: causal_forms, metric: m}, expect: [0, 1], paper: p}\n"
#define CHK(body) "checks:\n  - {name: c, " body ", paper: p}\n"
#define KERN "sweep: {N: [4]}\nkernels: [{name: linear_attention, backends: [ref]}]\n"
#define AGREE "agreement: {sizes: [{N: 4}], tolerance: {max_abs: 0, max_rel: 0, nl2: 0}}\n"

/* Each text gets a closing "---" line appended unless it is raw (1). */
typedef struct gen_case { const char *text, *where, *needle; int raw; } gen_case;

static const gen_case gen_cases[] = {
    {PRE "params: {H: inf}\n" CHECK, "6: params.H: ", "got 'inf'", 0},
    {PRE "params: {H: 0x10}\n" CHECK, "6: params.H: ", "got '0x10'", 0},
    {PRE "params: {H: 8abc}\n" CHECK, "6: params.H: ", "got '8abc'", 0},
    {PRE "params: {H: 1e999}\n" CHECK, "6: params.H: ", "out of range", 0},
    {PRE "params: {H: 1e-999}\n" "sweep: {N: [1e99999]}\n" CHECK, "7: sweep.N[0]: ", "out of range", 0},
    {PRE "params: {H: .nan}\n" CHECK, "6: params.H: ", "NaN is not allowed", 0},
    {PRE "params: {H: [1, 2]}\n" CHECK, "6: params.H: ", "got a list", 0},
    {PRE "params: {H: }\n" CHECK, "6: params.H: ", "got nothing", 0},
    {PRE "params: {H: 1, H: 2}\n" CHECK, "6: params.H: ", "duplicate key 'H'", 0},
    {PRE "params: {H=1: 2}\n" CHECK, "6: params.H=1: ", "not a valid parameter name", 0},
    {PRE "timing: {repetitions: 2.5}\n" CHECK, "6: timing.repetitions: ", "integer", 0},
    {PRE "timing: {min_time: 0}\n" CHECK, "6: timing.min_time: ", "> 0", 0},
    {PRE "sweep: {N: [1], M: [2]}\n" CHECK, "6: sweep: ", "exactly one parameter", 0},
    {PRE "sweep: {N: []}\n" CHECK, "6: sweep.N: ", "at least one value", 0},
    {PRE "sweep: {N: [1, x]}\n" CHECK, "6: sweep.N[1]: ", "got 'x'", 0},
    {PRE "paperz: x\n" CHECK, "6: paperz: ", "unknown key 'paperz'", 0},
    {PRE "claim2: x\n" CHECK, "6: claim2: ", "unknown key", 0},
    {PRE "checks: []\n", "6: checks: ", "at least one check", 0},
    {PRE, "2: checks: ", "missing required field", 0},
    {PRE CHK("type: equivalence, a: {probe: causal_forms, metric: m}, expect: {min: 0, max: 1}"),
     "7: checks[0].expect.min: ", "only {max: y}", 0},
    {PRE CHK("type: equivalence, a: {probe: causal_forms, metric: m}, expect: [0, 1]"),
     "7: checks[0].expect: ", "only {max: y}", 0},
    {PRE CHK("type: order, a: {probe: causal_forms, metric: m}, b: {probe: causal_forms, metric: n}, expect: [0, 1]"),
     "7: checks[0].expect: ", "no expect", 0},
    {PRE CHK("type: bound, a: {probe: causal_forms, metric: m}, b: {probe: causal_forms, metric: m}, expect: [0, 1]"),
     "7: checks[0].b: ", "takes no b", 0},
    {PRE CHK("type: bound, a: {probe: causal_forms, metric: m}, param: N, expect: [0, 1]"),
     "7: checks[0].param: ", "takes no param", 0},
    {PRE CHK("type: trend, a: {probe: causal_forms, metric: m}, expect: [0, 1]"),
     "7: checks[0].param: ", "missing required field", 0},
    {PRE CHK("type: bound, a: {probe: causal_forms}, expect: [0, 1]"), "7: checks[0].a.metric: ", "missing", 0},
    {PRE CHK("type: bound, a: {probe: other_probe, metric: m}, expect: [0, 1]"),
     "7: checks[0].a.probe: ", "not among this spec's probes", 0},
    {PRE CHK("type: bound, a: {probe: causal_forms, kernel: linear_attention, metric: m}, expect: [0, 1]"),
     "7: checks[0].a: ", "exactly one of kernel or probe", 0},
    {PRE CHK("type: bound, a: {probe: causal_forms, metric: m}, expect: 5"), "7: checks[0].expect: ", "expected [lo, hi]", 0},
    {PRE CHK("type: bound, a: {probe: causal_forms, metric: m}, expect: [0, 1, 2]"), "7: checks[0].expect: ",
     "two values", 0},
    {PRE CHK("type: bound, a: {probe: causal_forms, metric: m}, expect: {}"), "7: checks[0].expect: ", "min, max", 0},
    {PRE CHK("type: bound, a: {probe: causal_forms, metric: m}, expect: {mn: 1}"), "7: checks[0].expect.mn: ",
     "unknown key", 0},
    {PRE CHK("type: bound, a: {probe: causal_forms, metric: m}"), "7: checks[0].expect: ", "missing required field", 0},
    {PRE "checks:\n  - {name: Bad, type: bound, a: {probe: causal_forms, metric: m}, expect: [0, 1], paper: p}\n",
     "7: checks[0].name: ", "not a valid name", 0},
    {PRE "checks:\n  - {name: c, type: bound, a: {probe: causal_forms, metric: m}, expect: [0, 1], paper: \"\"}\n",
     "7: checks[0].paper: ", "empty value", 0},
    {PRE "checks:\n  - {name: c, type: bound, a: {probe: causal_forms, metric: m}, expect: [0, 1]}\n",
     "7: checks[0].paper: ", "missing required field", 0},
    {PRE KERN CHECK, "2: agreement: ", "missing required field", 0},
    {PRE "kernels: [{name: linear_attention, backends: [ref]}]\n" AGREE CHECK, "2: sweep: ", "missing required field", 0},
    {PRE KERN "inputs: {z: {dist: normal}}\n" AGREE CHECK, "8: inputs.z: ", "no kernel of this spec has an input", 0},
    {PRE KERN "inputs: {q: {dist: gamma}}\n" AGREE CHECK, "8: inputs.q.dist: ", "unknown distribution 'gamma'", 0},
    {PRE KERN "inputs: {q: {dist: uniform, lo: 1, hi: 1}}\n" AGREE CHECK, "8: inputs.q.hi: ", "lo < hi", 0},
    {PRE KERN "inputs: {q: {dist: uniform, scale: 2}}\n" AGREE CHECK, "8: inputs.q.scale: ", "belongs to dist: normal", 0},
    {PRE KERN "agreement: {sizes: [{N: 4}], tolerance: {max_abs: 0, max_rel: 0}}\n" CHECK,
     "8: agreement.tolerance.nl2: ", "missing required field", 0},
    {PRE KERN "agreement: {sizes: [{N: 4}], tolerance: {max_abs: -1, max_rel: 0, nl2: 0}}\n" CHECK,
     "8: agreement.tolerance.max_abs: ", ">= 0", 0},
    {PRE KERN "agreement: {sizes: [], tolerance: {max_abs: 0, max_rel: 0, nl2: 0}}\n" CHECK,
     "8: agreement.sizes: ", "at least one", 0},
    {PRE "sweep: {N: [4]}\nkernels: [{name: linear_attention, backends: [ref, ref]}]\n" AGREE CHECK,
     "7: kernels[0].backends[1]: ", "listed twice", 0},
    {PRE "sweep: {N: [4]}\nkernels: [{name: linear_attention, backends: []}]\n" AGREE CHECK,
     "7: kernels[0].backends: ", "at least one", 0},
    {PRE "sweep: {N: [4]}\nkernels: [{backends: [ref]}]\n" AGREE CHECK, "7: kernels[0].name: ", "missing required", 0},
    {PRE "sweep: {N: [4]}\nkernels: [{name: linear_attention, backends: [ref], tolerance: {nl2: x}}]\n" AGREE CHECK,
     "7: kernels[0].tolerance.nl2: ", "got 'x'", 0},
    {PRE KERN AGREE "checks:\n  - {name: c, type: bound, a: {kernel: linear_attention}, expect: [0, 1], paper: p}\n",
     "10: checks[0].a.backend: ", "missing required field", 0},
    {PRE KERN AGREE "checks:\n  - {name: c, type: bound, a: {kernel: linear_attention, backend: blas}, expect: [0, 1], "
                    "paper: p}\n",
     "10: checks[0].a.backend: ", "'blas' is not listed for kernel 'linear_attention'", 0},
    {"---\nid: t\npaper: P\nclaim: [a, b]\n" CHECK, "4: claim: ", "got a list", 0},
    {"---\nid: T\n", "2: id: ", "not a valid name", 0},
    {"---\n- a\n- b\n---\n", "2: front matter: ", "expected a mapping", 1},
    {"---\n---\nbody\n", "2: front matter: ", "empty", 1},
    {"---\n# only a comment\n---\n", "2: front matter: ", "empty", 1},
    {PRE CHECK "...\nmore: 1\n---\n", "9: yaml: ", "did not find expected <document start>", 1},
    {PRE CHECK "...\n--- {more: 1}\n---\n", "9: yaml: ", "second YAML document", 1},
    {PRE "probes: [{name: causal_forms}]\n" CHECK, "6: probes: ", "duplicate key", 0},
    {"---\nid: t\n\tpaper: P\n---\n", "3: yaml: ", "", 1},
    {"", "1: front matter: ", "must start with", 1},
    {"---", "1: front matter: ", "no closing", 1},
};

/* Files that must load, and what they must load as. */
static void test_generated_ok(cb_spec *s, const char *dir, const char *path)
{
    char err[1024] = "";
    /* YAML's number forms; CRLF line ends; no body; a literal claim. */
    write_file(dir, "t.md", "---\r\nid: t\r\npaper: 'P'\r\nclaim: |\r\n  two\r\n  lines\r\n"
                            "params: {a: -.inf, b: +.Inf, c: 1e3, d: -2, e: .5, f: 7.}\r\n"
                            "probes: [{name: causal_forms}]\r\n" CHK("type: bound, a: {probe: causal_forms, metric: m},"
                                                                     " expect: {min: -.inf, max: 3}") "---");
    int rc = cb_spec_load(path, s, err, sizeof err);
    ok(rc == 0, "CRLF spec without a body loads");
    if (rc != 0) {
        diag("%s", err);
        return;
    }
    const cb_params *p = &s->params;
    ok(isinf(cb_params_get(p, "a", 0)) && cb_params_get(p, "a", 0) < 0 && isinf(cb_params_get(p, "b", 0)) &&
       cb_params_get(p, "c", 0) == 1000 && cb_params_get(p, "d", 0) == -2 && cb_params_get(p, "e", 0) == 0.5 &&
       cb_params_get(p, "f", 0) == 7, "number forms -.inf +.Inf 1e3 -2 .5 7.");
    ok(strcmp(s->claim, "two\nlines") == 0, "literal claim keeps its inner newline");
    ok(s->body && s->body[0] == '\0' && s->body_line == 12, "empty body, body_line %d", s->body_line);
    ok(s->repetitions == 5 && s->min_time == 0.05 && s->budget == 20 && s->n_kernels == 0 && s->n_sweep == 0 &&
       s->tol_max_abs < 0, "defaults when timing, kernels, agreement are absent");
    ok(s->checks[0].line == 10 && isinf(s->checks[0].lo) && s->checks[0].hi == 3, "check line and {min: -.inf}");
    cb_spec_free(s);

    /* The limit on checks: CB_SPEC_MAX_CHECKS load, one more does not. */
    size_t cap = 64 + 120 * (CB_SPEC_MAX_CHECKS + 1);
    char *text = malloc(cap);
    if (!text) {
        ok(0, "malloc");
        return;
    }
    for (int extra = 0; extra <= 1; extra++) {
        size_t u = (size_t)snprintf(text, cap, "%s", PRE "checks:\n");
        for (int i = 0; i < CB_SPEC_MAX_CHECKS + extra; i++)
            u += (size_t)snprintf(text + u, cap - u, "  - {name: c%d, type: bound, a: {probe: causal_forms, "
                                  "metric: m}, expect: [0, 1], paper: p}\n", i);
        snprintf(text + u, cap - u, "---\n");
        write_file(dir, "t.md", text);
        rc = cb_spec_load(path, s, err, sizeof err);
        if (rc == 0)
            cb_spec_free(s);
        if (!extra)
            ok(rc == 0, "%d checks load", CB_SPEC_MAX_CHECKS);
        else
            ok(rc == -1 && strstr(err, ":7: checks: too many checks"), "%d checks refused: %s",
               CB_SPEC_MAX_CHECKS + 1, err);
    }
    free(text);
}

static void test_generated(cb_spec *s, const char *dir)
{
    char path[512], prefix[600];
    snprintf(path, sizeof path, "%s/t.md", dir);
    for (size_t i = 0; i < sizeof gen_cases / sizeof gen_cases[0]; i++) {
        char text[2048];
        snprintf(text, sizeof text, "%s%s", gen_cases[i].text, gen_cases[i].raw ? "" : "---\n");
        if (write_file(dir, "t.md", text) != 0) {
            ok(0, "write case %zu", i);
            continue;
        }
        snprintf(prefix, sizeof prefix, "%s:%s", path, gen_cases[i].where);
        expect_err(s, path, prefix, gen_cases[i].needle);
    }
    test_generated_ok(s, dir, path);
    remove_file(dir, "t.md");
}

/* ---- a folder of specs ------------------------------------------------ */

#define MINI(id) "---\nid: " id "\npaper: P\nclaim: C.\nprobes: [{name: causal_forms}]\n" CHECK "---\n"

static void test_dir(const char *dir)
{
    char err[1024] = "", sub[512], prefix[600];
    cb_spec *specs = NULL;
    int n = -1;

    write_file(dir, "b.md", MINI("b"));
    write_file(dir, "a.md", MINI("a"));
    write_file(dir, "README.md", "# Not a spec: skipped\n");
    write_file(dir, "notes.txt", "not a spec\n");
    snprintf(sub, sizeof sub, "%s/c.md", dir);
    mkdir(sub, 0700);  /* a folder named like a spec is not one */
    int rc = cb_spec_load_dir(dir, &specs, &n, err, sizeof err);
    ok(rc == 0 && n == 2 && strcmp(specs[0].id, "a") == 0 && strcmp(specs[1].id, "b") == 0,
       "load_dir: two specs, sorted, README.md and others skipped");
    if (rc != 0)
        diag("%s", err);
    else
        cb_spec_free_all(specs, n);

    write_file(dir, "d.md", MINI("a"));
    snprintf(prefix, sizeof prefix, "%s/d.md:2: id: duplicate id 'a' (also in %s/a.md:2)", dir, dir);
    rc = cb_spec_load_dir(dir, &specs, &n, err, sizeof err);
    ok(rc == -1 && strcmp(err, prefix) == 0 && specs == NULL && n == 0, "load_dir: duplicate id names both files");
    if (rc != -1 || strcmp(err, prefix) != 0)
        diag("got: %s", err);

    write_file(dir, "d.md", MINI("zz"));
    snprintf(prefix, sizeof prefix, "%s/d.md:2: id: 'zz' differs from the file name 'd.md'", dir);
    rc = cb_spec_load_dir(dir, &specs, &n, err, sizeof err);
    ok(rc == -1 && starts_with(err, prefix), "load_dir: id differing from the file name");
    if (rc != -1 || !starts_with(err, prefix))
        diag("got: %s", err);

    write_file(dir, "d.md", "---\nid: d\n");
    snprintf(prefix, sizeof prefix, "%s/d.md:2: front matter: ", dir);
    rc = cb_spec_load_dir(dir, &specs, &n, err, sizeof err);
    ok(rc == -1 && starts_with(err, prefix), "load_dir: a bad spec fails the folder: %s", err);

    remove_file(dir, "d.md");
    remove_file(dir, "a.md");
    remove_file(dir, "b.md");
    remove_file(dir, "README.md");
    remove_file(dir, "notes.txt");
    rmdir(sub);
    rc = cb_spec_load_dir(dir, &specs, &n, err, sizeof err);
    ok(rc == 0 && n == 0 && specs == NULL, "load_dir: an empty folder gives no specs");

    snprintf(sub, sizeof sub, "%s/missing", dir);
    rc = cb_spec_load_dir(sub, &specs, &n, err, sizeof err);
    ok(rc == -1 && strstr(err, "missing: cannot open folder"), "load_dir: a missing folder is an error");
}

int main(void)
{
    tap_no_plan();

    /* check type names round-trip */
    int all = 1;
    for (int t = CB_CHECK_SCALING; t <= CB_CHECK_EQUIVALENCE; t++) {
        cb_check_type back;
        all &= cb_check_type_parse(cb_check_type_name((cb_check_type)t), &back) == 0 && (int)back == t;
    }
    cb_check_type tmp;
    ok(all && strcmp(cb_check_type_name(CB_CHECK_EQUIVALENCE), "equivalence") == 0 &&
       strcmp(cb_check_type_name(CB_CHECK_SCALING), "scaling") == 0, "check type names round-trip");
    ok(cb_check_type_parse("slopes", &tmp) == -1 && cb_check_type_parse("", &tmp) == -1 &&
       strcmp(cb_check_type_name((cb_check_type)99), "?") == 0, "unknown check type names refused");

    cb_spec *s = malloc(sizeof *s);  /* about 80 KB: keep it off the stack */
    if (!s) {
        ok(0, "malloc");
        return tap_done();
    }
    test_good(s);
    test_fixtures(s);

    char dir[] = "/tmp/t_spec.XXXXXX";
    if (!mkdtemp(dir)) {
        ok(0, "mkdtemp");
    } else {
        test_generated(s, dir);
        test_dir(dir);
        ok(rmdir(dir) == 0, "temporary folder removed");
    }
    free(s);
    return tap_done();
}
