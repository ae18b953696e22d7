/* spec.c — load and validate a task spec: the YAML front matter of tasks/<id>.md.
 *
 * The file is split into front matter (between the first line "---" and the
 * next line "---") and the Markdown body. The front matter is parsed with the
 * libyaml document API, then walked top-down against the fixed schema of
 * spec.h: every key must be known, every number a plain YAML scalar, every
 * kernel, backend and probe must exist in the registry, and every check must
 * name series the spec actually produces. The first problem found is returned
 * as "path:line: field: message", with the line counted in the .md file and
 * the field written as a path such as checks[2].a.backend.
 */
#include "spec.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#define MAX_FILE_BYTES (4 << 20)  /* a spec is a page of prose; refuse anything huge */
#define FIELD_MAX 192             /* longest field path we print */

/* ---- check types ------------------------------------------------------ */

static const char *const check_type_names[] = {
    [CB_CHECK_SCALING] = "scaling",   [CB_CHECK_CROSSOVER] = "crossover",
    [CB_CHECK_RATIO] = "ratio",       [CB_CHECK_TREND] = "trend",
    [CB_CHECK_ORDER] = "order",       [CB_CHECK_BOUND] = "bound",
    [CB_CHECK_EQUIVALENCE] = "equivalence",
};
#define N_CHECK_TYPES ((int)(sizeof check_type_names / sizeof check_type_names[0]))

const char *cb_check_type_name(cb_check_type t)
{
    if ((int)t < 0 || (int)t >= N_CHECK_TYPES)
        return "?";
    return check_type_names[t];
}

int cb_check_type_parse(const char *s, cb_check_type *t)
{
    for (int i = 0; i < N_CHECK_TYPES; i++)
        if (strcmp(s, check_type_names[i]) == 0) {
            *t = (cb_check_type)i;
            return 0;
        }
    return -1;
}

/* ---- the state of one load and its error reporting -------------------- */

typedef struct loader {
    const char *path;
    yaml_document_t *doc;
    char *err;
    size_t errlen;
} loader;

/* libyaml marks count lines from 0 within the front matter, which begins on
 * line 2 of the file (line 1 is the opening "---"). */
static int line_of(const yaml_node_t *n) { return (int)n->start_mark.line + 2; }

__attribute__((format(printf, 4, 5)))
static int fail(loader *L, int line, const char *field, const char *fmt, ...)
{
    if (!L->err || !L->errlen)
        return -1;
    int k = snprintf(L->err, L->errlen, "%s:%d: %s: ", L->path, line, field);
    if (k >= 0 && (size_t)k < L->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(L->err + k, L->errlen - (size_t)k, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Field paths: "prefix.key" (or "key" at the top) and "prefix[i]". A path
 * longer than FIELD_MAX is cut and ends in "..."; its prefix still locates
 * the field. */
static const char *mark_cut(char *buf, int n)
{
    if (n < 0 || n >= FIELD_MAX)
        memcpy(buf + FIELD_MAX - 4, "...", 4);
    return buf;
}

static const char *fkey(char *buf, const char *prefix, const char *key)
{
    if (prefix[0])
        return mark_cut(buf, snprintf(buf, FIELD_MAX, "%s.%s", prefix, key));
    return mark_cut(buf, snprintf(buf, FIELD_MAX, "%s", key));
}

static const char *fidx(char *buf, const char *prefix, int i)
{
    return mark_cut(buf, snprintf(buf, FIELD_MAX, "%s[%d]", prefix, i));
}

/* ---- node access ------------------------------------------------------ */

static yaml_node_t *node_at(loader *L, int id) { return yaml_document_get_node(L->doc, id); }

static const char *sval(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

static int is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    const char *v = sval(n);
    return !strcmp(v, "") || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
           !strcmp(v, "NULL");
}

static const char *kind_name(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_MAPPING_NODE: return "a mapping";
    case YAML_SEQUENCE_NODE: return "a list";
    case YAML_SCALAR_NODE: return is_null(n) ? "nothing" : "a scalar";
    default: return "nothing";
    }
}

static int need_map(loader *L, yaml_node_t *n, const char *field)
{
    if (n->type != YAML_MAPPING_NODE)
        return fail(L, line_of(n), field, "expected a mapping, got %s", kind_name(n));
    return 0;
}

static int need_seq(loader *L, yaml_node_t *n, const char *field)
{
    if (n->type != YAML_SEQUENCE_NODE)
        return fail(L, line_of(n), field, "expected a list, got %s", kind_name(n));
    return 0;
}

static int seq_len(const yaml_node_t *n)
{
    return (int)(n->data.sequence.items.top - n->data.sequence.items.start);
}

static yaml_node_t *seq_item(loader *L, const yaml_node_t *n, int i)
{
    return node_at(L, n->data.sequence.items.start[i]);
}

static int map_len(const yaml_node_t *n)
{
    return (int)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
}

/* Value of `key` in mapping m, or NULL. Keys were checked by check_keys. */
static yaml_node_t *map_get(loader *L, const yaml_node_t *m, const char *key)
{
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node_at(L, p->key);
        if (k && k->type == YAML_SCALAR_NODE && strcmp(sval(k), key) == 0)
            return node_at(L, p->value);
    }
    return NULL;
}

/* Mapping m must have scalar keys, each once. With `allowed` (NULL-ended),
 * every key must be one of them: a misspelt key is an error, never ignored. */
static int check_keys(loader *L, yaml_node_t *m, const char *at, const char *const *allowed)
{
    char f[FIELD_MAX];
    if (need_map(L, m, at[0] ? at : "front matter") != 0)
        return -1;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node_at(L, p->key);
        if (!k || k->type != YAML_SCALAR_NODE || is_null(k))
            return fail(L, k ? line_of(k) : 1, at[0] ? at : "front matter",
                        "every key must be a plain name");
        for (yaml_node_pair_t *q = m->data.mapping.pairs.start; q < p; q++)
            if (strcmp(sval(node_at(L, q->key)), sval(k)) == 0)
                return fail(L, line_of(k), fkey(f, at, sval(k)), "duplicate key '%s'", sval(k));
        if (!allowed)
            continue;
        int known = 0;
        for (int i = 0; allowed[i]; i++)
            known |= strcmp(allowed[i], sval(k)) == 0;
        if (!known) {
            char list[256] = "";
            for (int i = 0; allowed[i]; i++) {
                size_t u = strlen(list);
                snprintf(list + u, sizeof list - u, "%s%s", i ? ", " : "", allowed[i]);
            }
            return fail(L, line_of(k), fkey(f, at, sval(k)), "unknown key '%s' (expected one of %s)",
                        sval(k), list);
        }
    }
    return 0;
}

/* ---- scalars ---------------------------------------------------------- */

/* A YAML number: an integer or decimal float (strtod, whole string), or one
 * of YAML's special forms .inf, -.inf, +.inf, .nan (any of its spellings).
 * Words strtod would take but YAML would not (inf, nan, hex) are refused.
 * Returns 0, -1 when s is not a number, -2 when it overflows a double. */
static int parse_number(const char *s, double *v)
{
    static const char *const infs[] = {".inf", ".Inf", ".INF", NULL};
    static const char *const nans[] = {".nan", ".NaN", ".NAN", NULL};
    const char *body = s + (s[0] == '+' || s[0] == '-');
    for (int i = 0; infs[i]; i++)
        if (strcmp(body, infs[i]) == 0) {
            *v = s[0] == '-' ? -INFINITY : INFINITY;
            return 0;
        }
    for (int i = 0; nans[i]; i++)
        if (strcmp(s, nans[i]) == 0) {
            *v = NAN;
            return 0;
        }
    if (!s[0] || strspn(s, "0123456789+-.eE") != strlen(s))
        return -1;
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (end == s || *end != '\0')
        return -1;
    if (errno == ERANGE && fabs(x) > 1)
        return -2;  /* overflow (underflow to a tiny value or 0 is harmless) */
    *v = x;
    return 0;
}

enum { NUM_FINITE = 0, NUM_INF = 1 };  /* whether ±inf is meaningful for a field */

static int get_number(loader *L, yaml_node_t *n, const char *field, double *v, int allow_inf)
{
    if (n->type != YAML_SCALAR_NODE || is_null(n))
        return fail(L, line_of(n), field, "expected a number, got %s", kind_name(n));
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return fail(L, line_of(n), field, "expected a number, got the quoted string \"%s\"", sval(n));
    int rc = parse_number(sval(n), v);
    if (rc == -2)
        return fail(L, line_of(n), field, "'%s' is out of range for a double (write .inf for infinity)",
                    sval(n));
    if (rc != 0)
        return fail(L, line_of(n), field, "expected a number, got '%s'", sval(n));
    if (isnan(*v))
        return fail(L, line_of(n), field, "NaN is not allowed here");
    if (isinf(*v) && !allow_inf)
        return fail(L, line_of(n), field, "must be finite, got '%s'", sval(n));
    return 0;
}

static int get_int(loader *L, yaml_node_t *n, const char *field, int lo, int hi, int *out)
{
    double v;
    if (get_number(L, n, field, &v, NUM_FINITE) != 0)
        return -1;
    if (v != floor(v) || v < lo || v > hi)
        return fail(L, line_of(n), field, "expected an integer in [%d, %d], got '%s'", lo, hi, sval(n));
    *out = (int)v;
    return 0;
}

/* A non-empty string scalar that fits in buf (size bytes with the NUL). */
static int get_string(loader *L, yaml_node_t *n, const char *field, char *buf, size_t size)
{
    if (n->type != YAML_SCALAR_NODE)
        return fail(L, line_of(n), field, "expected text, got %s", kind_name(n));
    size_t len = n->data.scalar.length;
    if (is_null(n) || len == 0)
        return fail(L, line_of(n), field, "empty value");
    if (len >= size)
        return fail(L, line_of(n), field, "too long (%zu characters, at most %zu)", len, size - 1);
    if (strlen(sval(n)) != len)
        return fail(L, line_of(n), field, "contains a NUL character");
    memcpy(buf, sval(n), len + 1);
    return 0;
}

/* Names used as ids and keys: lower-case ([a-z0-9_]+, for ids and check
 * names) or identifiers ([A-Za-z0-9_]+, for parameters and metrics, which
 * must survive the "H=8,N=1024" and TSV forms of table.h). */
static int is_name(const char *s, int lower_only)
{
    if (!*s)
        return 0;
    for (; *s; s++) {
        int c = (unsigned char)*s;
        int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
                 (!lower_only && c >= 'A' && c <= 'Z');
        if (!ok)
            return 0;
    }
    return 1;
}

static int get_name(loader *L, yaml_node_t *n, const char *field, char *buf, size_t size, int lower_only)
{
    if (get_string(L, n, field, buf, size) != 0)
        return -1;
    if (!is_name(buf, lower_only))
        return fail(L, line_of(n), field, "'%s' is not a valid name (%s)", buf,
                    lower_only ? "[a-z0-9_]+" : "[A-Za-z0-9_]+");
    return 0;
}

/* The value of a required key: its node, or an error at the mapping's line. */
static yaml_node_t *need(loader *L, yaml_node_t *m, const char *at, const char *key)
{
    char f[FIELD_MAX];
    yaml_node_t *v = map_get(L, m, key);
    if (!v)
        fail(L, line_of(m), fkey(f, at, key), "missing required field");
    return v;
}

/* ---- composite values ------------------------------------------------- */

/* A mapping of parameter name → number, set into p (over what p holds). */
static int get_params(loader *L, yaml_node_t *n, const char *at, cb_params *p)
{
    char f[FIELD_MAX];
    if (check_keys(L, n, at, NULL) != 0)
        return -1;
    for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < n->data.mapping.pairs.top; q++) {
        yaml_node_t *k = node_at(L, q->key), *v = node_at(L, q->value);
        const char *name = sval(k);
        double x;
        fkey(f, at, name);
        if (!is_name(name, 0) || strlen(name) >= CB_NAME_MAX)
            return fail(L, line_of(k), f, "'%s' is not a valid parameter name ([A-Za-z0-9_]+, "
                        "at most %d characters)", name, CB_NAME_MAX - 1);
        if (get_number(L, v, f, &x, NUM_INF) != 0)
            return -1;
        if (cb_params_set(p, name, x) != 0)
            return fail(L, line_of(k), f, "too many parameters (at most %d, counting those "
                        "merged from the spec's params)", CB_MAX_PARAMS);
    }
    return 0;
}

/* A list of 1..cap finite numbers. */
static int get_number_list(loader *L, yaml_node_t *n, const char *at, double *v, int cap, int *count)
{
    char f[FIELD_MAX];
    if (need_seq(L, n, at) != 0)
        return -1;
    int len = seq_len(n);
    if (len < 1)
        return fail(L, line_of(n), at, "needs at least one value");
    if (len > cap)
        return fail(L, line_of(n), at, "too many values (%d, at most %d)", len, cap);
    for (int i = 0; i < len; i++)
        if (get_number(L, seq_item(L, n, i), fidx(f, at, i), &v[i], NUM_FINITE) != 0)
            return -1;
    *count = len;
    return 0;
}

/* {max_abs, max_rel, nl2}: each >= 0 (inf allowed: "not checked"). Missing
 * keys are an error when `all` is set, else left as -1 ("spec default"). */
static int get_tolerance(loader *L, yaml_node_t *n, const char *at, int all, double *abs_,
                         double *rel, double *nl2)
{
    static const char *const keys[] = {"max_abs", "max_rel", "nl2", NULL};
    double *dst[] = {abs_, rel, nl2};
    char f[FIELD_MAX];
    if (check_keys(L, n, at, keys) != 0)
        return -1;
    for (int i = 0; keys[i]; i++) {
        yaml_node_t *v = map_get(L, n, keys[i]);
        *dst[i] = -1;
        if (!v) {
            if (all)
                return fail(L, line_of(n), fkey(f, at, keys[i]), "missing required field");
            continue;
        }
        if (get_number(L, v, fkey(f, at, keys[i]), dst[i], NUM_INF) != 0)
            return -1;
        if (*dst[i] < 0)
            return fail(L, line_of(v), f, "must be >= 0");
    }
    return 0;
}

/* ---- the sections of the front matter ---------------------------------- */

static int load_sweep(loader *L, yaml_node_t *n, cb_spec *s)
{
    char f[FIELD_MAX];
    if (check_keys(L, n, "sweep", NULL) != 0)
        return -1;
    if (map_len(n) != 1)
        return fail(L, line_of(n), "sweep", "needs exactly one parameter with a list of values, "
                    "e.g. {N: [256, 512, 1024]}");
    yaml_node_t *k = node_at(L, n->data.mapping.pairs.start[0].key);
    yaml_node_t *v = node_at(L, n->data.mapping.pairs.start[0].value);
    fkey(f, "sweep", sval(k));
    if (!is_name(sval(k), 0) || strlen(sval(k)) >= CB_NAME_MAX)
        return fail(L, line_of(k), f, "'%s' is not a valid parameter name", sval(k));
    strcpy(s->sweep_param, sval(k));
    return get_number_list(L, v, f, s->sweep, CB_SPEC_MAX_SWEEP, &s->n_sweep);
}

static int load_timing(loader *L, yaml_node_t *n, cb_spec *s)
{
    static const char *const keys[] = {"repetitions", "min_time", "budget", NULL};
    yaml_node_t *v;
    if (check_keys(L, n, "timing", keys) != 0)
        return -1;
    if ((v = map_get(L, n, "repetitions")) &&
        get_int(L, v, "timing.repetitions", 1, 100000, &s->repetitions) != 0)
        return -1;
    if ((v = map_get(L, n, "min_time"))) {
        if (get_number(L, v, "timing.min_time", &s->min_time, NUM_FINITE) != 0)
            return -1;
        if (s->min_time <= 0)
            return fail(L, line_of(v), "timing.min_time", "must be > 0 seconds");
    }
    if ((v = map_get(L, n, "budget"))) {
        if (get_number(L, v, "timing.budget", &s->budget, NUM_INF) != 0)
            return -1;
        if (s->budget <= 0)
            return fail(L, line_of(v), "timing.budget", "must be > 0 seconds");
    }
    return 0;
}

/* Every backend name the registry has for `kernel`, comma separated. */
static void impl_list(const char *kernel, char *buf, size_t len)
{
    buf[0] = '\0';
    for (int i = 0; cb_impls[i]; i++)
        if (strcmp(cb_impls[i]->kernel, kernel) == 0) {
            size_t u = strlen(buf);
            snprintf(buf + u, len - u, "%s%s", u ? ", " : "", cb_impls[i]->backend);
        }
}

static int load_kernel(loader *L, yaml_node_t *n, int idx, cb_spec *s)
{
    static const char *const keys[] = {"name", "backends", "params", "sweep", "tolerance", NULL};
    char at[FIELD_MAX], f[FIELD_MAX], g[FIELD_MAX], list[512];
    cb_spec_kernel *k = &s->kernels[idx];
    yaml_node_t *v;

    fidx(at, "kernels", idx);
    if (check_keys(L, n, at, keys) != 0)
        return -1;
    k->line = line_of(n);
    if (!(v = need(L, n, at, "name")) || get_name(L, v, fkey(f, at, "name"), k->name, sizeof k->name, 0))
        return -1;
    if (!cb_kernel_find(k->name)) {
        list[0] = '\0';
        for (int i = 0; cb_kernels[i]; i++) {
            size_t u = strlen(list);
            snprintf(list + u, sizeof list - u, "%s%s", i ? ", " : "", cb_kernels[i]->name);
        }
        return fail(L, line_of(v), f, "unknown kernel '%s' (known: %s)", k->name, list);
    }

    if (!(v = need(L, n, at, "backends")) || need_seq(L, v, fkey(f, at, "backends")) != 0)
        return -1;
    k->n_backends = seq_len(v);
    if (k->n_backends < 1)
        return fail(L, line_of(v), f, "needs at least one backend");
    if (k->n_backends > CB_SPEC_MAX_BACKENDS)
        return fail(L, line_of(v), f, "too many backends (at most %d)", CB_SPEC_MAX_BACKENDS);
    for (int i = 0; i < k->n_backends; i++) {
        yaml_node_t *b = seq_item(L, v, i);
        fidx(g, f, i);
        if (get_name(L, b, g, k->backends[i], sizeof k->backends[i], 0) != 0)
            return -1;
        if (!cb_impl_find(k->name, k->backends[i])) {
            impl_list(k->name, list, sizeof list);
            return fail(L, line_of(b), g, "unknown backend '%s' for kernel '%s' (it has: %s)",
                        k->backends[i], k->name, list);
        }
        for (int j = 0; j < i; j++)
            if (strcmp(k->backends[j], k->backends[i]) == 0)
                return fail(L, line_of(b), g, "backend '%s' listed twice", k->backends[i]);
    }

    k->params = s->params;
    if ((v = map_get(L, n, "params")) && get_params(L, v, fkey(f, at, "params"), &k->params) != 0)
        return -1;
    if ((v = map_get(L, n, "sweep"))) {
        if (get_number_list(L, v, fkey(f, at, "sweep"), k->sweep, CB_SPEC_MAX_SWEEP, &k->n_sweep) != 0)
            return -1;
        k->has_sweep = 1;
    }
    k->tol_max_abs = k->tol_max_rel = k->tol_nl2 = -1;
    if ((v = map_get(L, n, "tolerance")) &&
        get_tolerance(L, v, fkey(f, at, "tolerance"), 0, &k->tol_max_abs, &k->tol_max_rel,
                      &k->tol_nl2) != 0)
        return -1;
    return 0;
}

static int load_kernels(loader *L, yaml_node_t *n, cb_spec *s)
{
    if (need_seq(L, n, "kernels") != 0)
        return -1;
    if (seq_len(n) > CB_SPEC_MAX_KERNELS)
        return fail(L, line_of(n), "kernels", "too many entries (%d, at most %d)", seq_len(n),
                    CB_SPEC_MAX_KERNELS);
    for (int i = 0; i < seq_len(n); i++) {
        if (load_kernel(L, seq_item(L, n, i), i, s) != 0)
            return -1;
        s->n_kernels = i + 1;
    }
    return 0;
}

/* Whether some kernel of the spec takes an input tensor called `name`. */
static int spec_has_input(const cb_spec *s, const char *name)
{
    for (int i = 0; i < s->n_kernels; i++) {
        const cb_kernel *k = cb_kernel_find(s->kernels[i].name);
        for (int j = 0; k && j < k->n_in; j++)
            if (strcmp(k->in[j], name) == 0)
                return 1;
    }
    return 0;
}

static int load_inputs(loader *L, yaml_node_t *n, cb_spec *s)
{
    static const char *const keys[] = {"dist", "scale", "lo", "hi", NULL};
    char at[FIELD_MAX], f[FIELD_MAX], dist[16];
    if (check_keys(L, n, "inputs", NULL) != 0)
        return -1;
    if (map_len(n) > CB_SPEC_MAX_INPUTS)
        return fail(L, line_of(n), "inputs", "too many inputs (%d, at most %d)", map_len(n),
                    CB_SPEC_MAX_INPUTS);
    for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < n->data.mapping.pairs.top; q++) {
        yaml_node_t *k = node_at(L, q->key), *v = node_at(L, q->value), *x;
        cb_input_spec *in = &s->inputs[s->n_inputs];
        fkey(at, "inputs", sval(k));
        if (!is_name(sval(k), 0) || strlen(sval(k)) >= CB_NAME_MAX)
            return fail(L, line_of(k), at, "'%s' is not a valid input name", sval(k));
        if (!spec_has_input(s, sval(k)))
            return fail(L, line_of(k), at, "no kernel of this spec has an input named '%s'", sval(k));
        strcpy(in->name, sval(k));
        if (check_keys(L, v, at, keys) != 0)
            return -1;
        strcpy(dist, "normal");
        if ((x = map_get(L, v, "dist")) && get_string(L, x, fkey(f, at, "dist"), dist, sizeof dist) != 0)
            return -1;
        if (strcmp(dist, "normal") == 0) {
            in->uniform = 0;
            in->scale = 1.0;
            if ((x = map_get(L, v, "lo")) || (x = map_get(L, v, "hi")))
                return fail(L, line_of(x), at, "lo and hi belong to dist: uniform; normal takes scale");
            if ((x = map_get(L, v, "scale"))) {
                if (get_number(L, x, fkey(f, at, "scale"), &in->scale, NUM_FINITE) != 0)
                    return -1;
                if (in->scale <= 0)
                    return fail(L, line_of(x), f, "must be > 0");
            }
        } else if (strcmp(dist, "uniform") == 0) {
            in->uniform = 1;
            if ((x = map_get(L, v, "scale")))
                return fail(L, line_of(x), fkey(f, at, "scale"),
                            "scale belongs to dist: normal; uniform takes lo and hi");
            if (!(x = need(L, v, at, "lo")) || get_number(L, x, fkey(f, at, "lo"), &in->lo, NUM_FINITE))
                return -1;
            if (!(x = need(L, v, at, "hi")) || get_number(L, x, fkey(f, at, "hi"), &in->hi, NUM_FINITE))
                return -1;
            if (!(in->lo < in->hi))
                return fail(L, line_of(x), f, "needs lo < hi");
        } else {
            x = map_get(L, v, "dist");
            return fail(L, line_of(x), fkey(f, at, "dist"), "unknown distribution '%s' (normal or uniform)",
                        dist);
        }
        s->n_inputs++;
    }
    return 0;
}

static int load_probes(loader *L, yaml_node_t *n, cb_spec *s)
{
    static const char *const keys[] = {"name", "params", NULL};
    char at[FIELD_MAX], f[FIELD_MAX], list[512];
    if (need_seq(L, n, "probes") != 0)
        return -1;
    if (seq_len(n) > CB_SPEC_MAX_PROBES)
        return fail(L, line_of(n), "probes", "too many entries (%d, at most %d)", seq_len(n),
                    CB_SPEC_MAX_PROBES);
    for (int i = 0; i < seq_len(n); i++) {
        yaml_node_t *m = seq_item(L, n, i), *v;
        cb_spec_probe *p = &s->probes[i];
        fidx(at, "probes", i);
        if (check_keys(L, m, at, keys) != 0)
            return -1;
        p->line = line_of(m);
        if (!(v = need(L, m, at, "name")) || get_name(L, v, fkey(f, at, "name"), p->name, sizeof p->name, 0))
            return -1;
        if (!cb_probe_find(p->name)) {
            list[0] = '\0';
            for (int j = 0; cb_probes[j]; j++) {
                size_t u = strlen(list);
                snprintf(list + u, sizeof list - u, "%s%s", j ? ", " : "", cb_probes[j]->name);
            }
            return fail(L, line_of(v), f, "unknown probe '%s' (known: %s)", p->name, list);
        }
        p->params = s->params;
        if ((v = map_get(L, m, "params")) && get_params(L, v, fkey(f, at, "params"), &p->params) != 0)
            return -1;
        s->n_probes = i + 1;
    }
    return 0;
}

static int load_agreement(loader *L, yaml_node_t *n, cb_spec *s)
{
    static const char *const keys[] = {"sizes", "tolerance", NULL};
    char f[FIELD_MAX];
    yaml_node_t *v;
    if (check_keys(L, n, "agreement", keys) != 0)
        return -1;
    if (!(v = need(L, n, "agreement", "sizes")) || need_seq(L, v, "agreement.sizes") != 0)
        return -1;
    if (seq_len(v) < 1)
        return fail(L, line_of(v), "agreement.sizes", "needs at least one size");
    if (seq_len(v) > CB_SPEC_MAX_AGREE)
        return fail(L, line_of(v), "agreement.sizes", "too many sizes (%d, at most %d)", seq_len(v),
                    CB_SPEC_MAX_AGREE);
    for (int i = 0; i < seq_len(v); i++) {
        if (get_params(L, seq_item(L, v, i), fidx(f, "agreement.sizes", i), &s->agree[i]) != 0)
            return -1;
        s->n_agree = i + 1;
    }
    if (!(v = need(L, n, "agreement", "tolerance")))
        return -1;
    return get_tolerance(L, v, "agreement.tolerance", 1, &s->tol_max_abs, &s->tol_max_rel, &s->tol_nl2);
}

/* ---- checks ----------------------------------------------------------- */

/* A series: {kernel, backend[, metric]} naming one of the spec's kernel
 * entries and backends, or {probe, metric} naming one of its probes. */
static int load_series(loader *L, yaml_node_t *n, const char *at, const cb_spec *s, cb_series_ref *r)
{
    static const char *const keys[] = {"kernel", "backend", "probe", "metric", NULL};
    char f[FIELD_MAX];
    yaml_node_t *kn, *bn, *pn, *mn;
    if (check_keys(L, n, at, keys) != 0)
        return -1;
    kn = map_get(L, n, "kernel");
    bn = map_get(L, n, "backend");
    pn = map_get(L, n, "probe");
    mn = map_get(L, n, "metric");
    if (!kn == !pn)
        return fail(L, line_of(n), at, "needs exactly one of kernel or probe");
    if (pn) {
        if (bn)
            return fail(L, line_of(bn), fkey(f, at, "backend"), "a probe has no backend");
        if (get_name(L, pn, fkey(f, at, "probe"), r->kernel, sizeof r->kernel, 0) != 0)
            return -1;
        int found = 0;
        for (int i = 0; i < s->n_probes; i++)
            found |= strcmp(s->probes[i].name, r->kernel) == 0;
        if (!found)
            return fail(L, line_of(pn), f, "probe '%s' is not among this spec's probes", r->kernel);
        strcpy(r->backend, "-");
        if (!mn)
            return fail(L, line_of(n), fkey(f, at, "metric"), "missing required field (a probe "
                        "series names one of its metrics)");
    } else {
        if (get_name(L, kn, fkey(f, at, "kernel"), r->kernel, sizeof r->kernel, 0) != 0)
            return -1;
        int found = 0, has_backend = 0;
        for (int i = 0; i < s->n_kernels; i++)
            found |= strcmp(s->kernels[i].name, r->kernel) == 0;
        if (!found)
            return fail(L, line_of(kn), f, "kernel '%s' is not among this spec's kernels", r->kernel);
        if (!bn)
            return fail(L, line_of(n), fkey(f, at, "backend"), "missing required field");
        if (get_name(L, bn, fkey(f, at, "backend"), r->backend, sizeof r->backend, 0) != 0)
            return -1;
        for (int i = 0; i < s->n_kernels; i++)
            for (int j = 0; j < s->kernels[i].n_backends; j++)
                has_backend |= strcmp(s->kernels[i].name, r->kernel) == 0 &&
                               strcmp(s->kernels[i].backends[j], r->backend) == 0;
        if (!has_backend)
            return fail(L, line_of(bn), f, "backend '%s' is not listed for kernel '%s' in this spec",
                        r->backend, r->kernel);
    }
    strcpy(r->metric, "time");
    if (mn && get_name(L, mn, fkey(f, at, "metric"), r->metric, sizeof r->metric, 0) != 0)
        return -1;
    return 0;
}

/* expect: [lo, hi], {min: x}, {max: y} or {min: x, max: y}; equivalence
 * takes {max: y} only. */
static int load_expect(loader *L, yaml_node_t *n, const char *at, cb_check *c)
{
    static const char *const keys[] = {"min", "max", NULL};
    char f[FIELD_MAX];
    yaml_node_t *v;
    int equiv = c->type == CB_CHECK_EQUIVALENCE;
    c->lo = -INFINITY;
    c->hi = INFINITY;
    if (n->type == YAML_SEQUENCE_NODE && !equiv) {
        if (seq_len(n) != 2)
            return fail(L, line_of(n), at, "a range needs two values [lo, hi], got %d", seq_len(n));
        if (get_number(L, seq_item(L, n, 0), fidx(f, at, 0), &c->lo, NUM_INF) != 0 ||
            get_number(L, seq_item(L, n, 1), fidx(f, at, 1), &c->hi, NUM_INF) != 0)
            return -1;
    } else if (n->type == YAML_MAPPING_NODE) {
        if (check_keys(L, n, at, keys) != 0)
            return -1;
        if (map_len(n) == 0)
            return fail(L, line_of(n), at, "needs min, max or both");
        if ((v = map_get(L, n, "min"))) {
            fkey(f, at, "min");
            if (equiv)
                return fail(L, line_of(v), f, "an equivalence takes only {max: y}");
            if (get_number(L, v, f, &c->lo, NUM_INF) != 0)
                return -1;
        }
        if ((v = map_get(L, n, "max")) && get_number(L, v, fkey(f, at, "max"), &c->hi, NUM_INF) != 0)
            return -1;
        if (equiv && !v)
            return fail(L, line_of(n), fkey(f, at, "max"), "missing required field");
    } else if (equiv) {
        return fail(L, line_of(n), at, "an equivalence takes only {max: y}");
    } else {
        return fail(L, line_of(n), at, "expected [lo, hi], {min: x}, {max: y} or {min: x, max: y}");
    }
    if (c->lo > c->hi)
        return fail(L, line_of(n), at, "empty range: lo %g > hi %g", c->lo, c->hi);
    return 0;
}

static int load_check(loader *L, yaml_node_t *n, int idx, const cb_spec *s, cb_check *c)
{
    static const char *const keys[] = {"name", "type", "a", "b", "param", "where", "expect", "paper", NULL};
    char at[FIELD_MAX], f[FIELD_MAX], type[32];
    yaml_node_t *v;

    fidx(at, "checks", idx);
    if (check_keys(L, n, at, keys) != 0)
        return -1;
    c->line = line_of(n);
    if (!(v = need(L, n, at, "name")) || get_name(L, v, fkey(f, at, "name"), c->name, sizeof c->name, 1))
        return -1;
    for (int i = 0; i < idx; i++)
        if (strcmp(s->checks[i].name, c->name) == 0)
            return fail(L, line_of(v), f, "duplicate check name '%s' (also checks[%d], line %d)", c->name,
                        i, s->checks[i].line);

    if (!(v = need(L, n, at, "type")) || get_string(L, v, fkey(f, at, "type"), type, sizeof type) != 0)
        return -1;
    if (cb_check_type_parse(type, &c->type) != 0)
        return fail(L, line_of(v), f, "unknown check type '%s' (one of scaling, crossover, ratio, "
                    "trend, order, bound, equivalence)", type);
    int two_sided = c->type == CB_CHECK_CROSSOVER || c->type == CB_CHECK_RATIO || c->type == CB_CHECK_ORDER;
    int swept = c->type == CB_CHECK_SCALING || c->type == CB_CHECK_CROSSOVER || c->type == CB_CHECK_TREND;

    if (!(v = need(L, n, at, "a")) || load_series(L, v, fkey(f, at, "a"), s, &c->a) != 0)
        return -1;
    v = map_get(L, n, "b");
    if (two_sided && !v)
        return fail(L, c->line, fkey(f, at, "b"), "missing required field (a %s check compares a with b)",
                    type);
    if (!two_sided && v)
        return fail(L, line_of(v), fkey(f, at, "b"), "a %s check takes no b (only crossover, ratio, "
                    "order do)", type);
    if (v && load_series(L, v, fkey(f, at, "b"), s, &c->b) != 0)
        return -1;

    v = map_get(L, n, "param");
    if (swept && !v)
        return fail(L, c->line, fkey(f, at, "param"), "missing required field (the parameter a %s "
                    "check runs over)", type);
    if (!swept && v)
        return fail(L, line_of(v), fkey(f, at, "param"), "a %s check takes no param (only scaling, "
                    "crossover, trend do)", type);
    if (v && get_name(L, v, fkey(f, at, "param"), c->param, sizeof c->param, 0) != 0)
        return -1;

    if ((v = map_get(L, n, "where")) && get_params(L, v, fkey(f, at, "where"), &c->where) != 0)
        return -1;

    v = map_get(L, n, "expect");
    if (c->type == CB_CHECK_ORDER) {
        if (v)
            return fail(L, line_of(v), fkey(f, at, "expect"), "an order check takes no expect (it "
                        "claims a < b)");
        c->lo = -INFINITY;
        c->hi = INFINITY;
    } else {
        if (!v)
            return fail(L, c->line, fkey(f, at, "expect"), "missing required field");
        if (load_expect(L, v, fkey(f, at, "expect"), c) != 0)
            return -1;
    }

    if (!(v = need(L, n, at, "paper")) || get_string(L, v, fkey(f, at, "paper"), c->paper, sizeof c->paper))
        return -1;
    return 0;
}

static int load_checks(loader *L, yaml_node_t *n, cb_spec *s)
{
    if (need_seq(L, n, "checks") != 0)
        return -1;
    if (seq_len(n) < 1)
        return fail(L, line_of(n), "checks", "needs at least one check");
    if (seq_len(n) > CB_SPEC_MAX_CHECKS)
        return fail(L, line_of(n), "checks", "too many checks (%d, at most %d)", seq_len(n),
                    CB_SPEC_MAX_CHECKS);
    for (int i = 0; i < seq_len(n); i++) {
        if (load_check(L, seq_item(L, n, i), i, s, &s->checks[i]) != 0)
            return -1;
        s->n_checks = i + 1;
    }
    return 0;
}

/* figures: [{title, probe, x, metrics: [..], where: {..}, ylabel, scale}];
 * scale is loglog, logx, logy, linear or auto (the default: a log axis
 * where every value is positive and they span more than a factor 10). */
static int load_figure(loader *L, yaml_node_t *n, int idx, const cb_spec *s, cb_spec_figure *g)
{
    static const char *const keys[] = {"title", "probe", "x", "metrics", "where", "ylabel", "scale", NULL};
    char at[FIELD_MAX], f[FIELD_MAX], scale[16];
    yaml_node_t *v;
    fidx(at, "figures", idx);
    if (check_keys(L, n, at, keys) != 0)
        return -1;
    g->line = line_of(n);
    if (!(v = need(L, n, at, "title")) || get_string(L, v, fkey(f, at, "title"), g->title, sizeof g->title))
        return -1;
    if (!(v = need(L, n, at, "probe")) || get_name(L, v, fkey(f, at, "probe"), g->probe, sizeof g->probe, 0))
        return -1;
    int found = 0;
    for (int i = 0; i < s->n_probes; i++)
        found |= strcmp(s->probes[i].name, g->probe) == 0;
    if (!found)
        return fail(L, line_of(v), f, "probe '%s' is not listed under probes in this spec", g->probe);
    if (!(v = need(L, n, at, "x")) || get_name(L, v, fkey(f, at, "x"), g->x, sizeof g->x, 0))
        return -1;
    if (!(v = need(L, n, at, "metrics")) || need_seq(L, v, fkey(f, at, "metrics")) != 0)
        return -1;
    if (seq_len(v) < 1 || seq_len(v) > CB_FIGURE_MAX_METRICS)
        return fail(L, line_of(v), f, "needs 1 to %d metrics, got %d", CB_FIGURE_MAX_METRICS, seq_len(v));
    char mf[FIELD_MAX];
    snprintf(mf, sizeof mf, "%s", f);
    for (int i = 0; i < seq_len(v); i++) {
        char g2[FIELD_MAX];
        if (get_name(L, seq_item(L, v, i), fidx(g2, mf, i), g->metrics[i], CB_NAME_MAX, 0) != 0)
            return -1;
        for (int j = 0; j < i; j++)
            if (strcmp(g->metrics[j], g->metrics[i]) == 0)
                return fail(L, line_of(seq_item(L, v, i)), g2, "metric '%s' is listed twice", g->metrics[i]);
        g->n_metrics = i + 1;
    }
    if ((v = map_get(L, n, "where")) && get_params(L, v, fkey(f, at, "where"), &g->where) != 0)
        return -1;
    if (v && !isnan(cb_params_get(&g->where, g->x, NAN)))
        return fail(L, line_of(v), f, "fixes '%s', the parameter on the x axis", g->x);
    strcpy(g->ylabel, "value");
    if ((v = map_get(L, n, "ylabel")) && get_string(L, v, fkey(f, at, "ylabel"), g->ylabel, sizeof g->ylabel))
        return -1;
    g->logx = g->logy = -1;
    if ((v = map_get(L, n, "scale"))) {
        if (get_string(L, v, fkey(f, at, "scale"), scale, sizeof scale) != 0)
            return -1;
        if (strcmp(scale, "loglog") == 0) g->logx = g->logy = 1;
        else if (strcmp(scale, "logx") == 0) g->logx = 1, g->logy = 0;
        else if (strcmp(scale, "logy") == 0) g->logx = 0, g->logy = 1;
        else if (strcmp(scale, "linear") == 0) g->logx = g->logy = 0;
        else if (strcmp(scale, "auto") != 0)
            return fail(L, line_of(v), f, "unknown scale '%s' (loglog, logx, logy, linear or auto)", scale);
    }
    return 0;
}

static int load_figures(loader *L, yaml_node_t *n, cb_spec *s)
{
    if (need_seq(L, n, "figures") != 0)
        return -1;
    if (seq_len(n) > CB_SPEC_MAX_FIGURES)
        return fail(L, line_of(n), "figures", "too many figures (%d, at most %d)", seq_len(n),
                    CB_SPEC_MAX_FIGURES);
    for (int i = 0; i < seq_len(n); i++) {
        if (load_figure(L, seq_item(L, n, i), i, s, &s->figures[i]) != 0)
            return -1;
        s->n_figures = i + 1;
    }
    return 0;
}

/* The id must equal the file name without its directory and ".md". */
static void file_stem(const char *path, char *buf, size_t len)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    if (n > 3 && strcmp(base + n - 3, ".md") == 0)
        n -= 3;
    snprintf(buf, len, "%.*s", (int)n, base);
}

/* Walk the front matter's root mapping into s. */
static int load_root(loader *L, yaml_node_t *root, cb_spec *s, int check_id, int *id_line)
{
    static const char *const keys[] = {"id", "paper", "claim", "params", "sweep", "timing", "inputs",
                                       "kernels", "probes", "agreement", "checks", "figures", NULL};
    char stem[512];
    yaml_node_t *v;

    if (check_keys(L, root, "", keys) != 0)
        return -1;
    if (!(v = need(L, root, "", "id")) || get_name(L, v, "id", s->id, sizeof s->id, 1) != 0)
        return -1;
    *id_line = line_of(v);
    file_stem(s->path, stem, sizeof stem);
    if (check_id && strcmp(stem, s->id) != 0)
        return fail(L, line_of(v), "id", "'%s' differs from the file name '%s.md' (they must be equal)",
                    s->id, stem);
    if (!(v = need(L, root, "", "paper")) || get_string(L, v, "paper", s->paper, sizeof s->paper) != 0)
        return -1;

    if (!(v = need(L, root, "", "claim")))
        return -1;
    if (v->type != YAML_SCALAR_NODE || is_null(v))
        return fail(L, line_of(v), "claim", "expected a paragraph of text, got %s", kind_name(v));
    size_t len = strlen(sval(v));
    while (len && strchr(" \t\r\n", sval(v)[len - 1]))
        len--;  /* a folded block (>) ends in a newline; keep just the text */
    if (!(s->claim = malloc(len + 1)))
        return fail(L, line_of(v), "claim", "out of memory");
    memcpy(s->claim, sval(v), len);
    s->claim[len] = '\0';

    if ((v = map_get(L, root, "params")) && get_params(L, v, "params", &s->params) != 0)
        return -1;
    if ((v = map_get(L, root, "sweep")) && load_sweep(L, v, s) != 0)
        return -1;
    if ((v = map_get(L, root, "timing")) && load_timing(L, v, s) != 0)
        return -1;
    if ((v = map_get(L, root, "kernels")) && load_kernels(L, v, s) != 0)
        return -1;
    if (s->n_kernels > 0 && !s->sweep_param[0])
        return fail(L, line_of(root), "sweep", "missing required field (a spec with kernels times "
                    "them over a sweep)");
    if ((v = map_get(L, root, "inputs")) && load_inputs(L, v, s) != 0)
        return -1;
    if ((v = map_get(L, root, "probes")) && load_probes(L, v, s) != 0)
        return -1;
    if ((v = map_get(L, root, "agreement"))) {
        if (load_agreement(L, v, s) != 0)
            return -1;
    } else if (s->n_kernels > 0) {
        return fail(L, line_of(root), "agreement", "missing required field (a spec with kernels "
                    "checks them against ref)");
    }
    if (!(v = need(L, root, "", "checks")) || load_checks(L, v, s) != 0)
        return -1;
    if ((v = map_get(L, root, "figures")) && load_figures(L, v, s) != 0)
        return -1;
    return 0;
}

/* ---- the file: front matter and body ----------------------------------- */

static int read_file(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return cb_fail(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 >= cap) {
            char *nb = cap >= MAX_FILE_BYTES ? NULL : realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                fclose(f);
                return cb_fail(err, errlen, "%s: %s", path,
                               cap >= MAX_FILE_BYTES ? "file too large for a spec" : "out of memory");
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - 1 - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (!buf) {
        fclose(f);
        return cb_fail(err, errlen, "%s: out of memory", path);
    }
    int bad = ferror(f), e = errno;
    fclose(f);
    if (bad) {
        free(buf);
        return cb_fail(err, errlen, "%s: cannot read: %s", path, strerror(e));
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

/* A line that is exactly "---" (trailing blanks and a CR tolerated). */
static int is_delim(const char *line, size_t len)
{
    while (len > 3 && strchr(" \t\r", line[len - 1]))
        len--;
    return len == 3 && memcmp(line, "---", 3) == 0;
}

/* Parse the front matter text with libyaml and walk it. */
static int load_yaml(loader *L, const char *text, size_t len, cb_spec *s, int check_id, int *id_line)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    int rc = -1;

    if (!yaml_parser_initialize(&parser))
        return fail(L, 2, "yaml", "cannot initialize the parser");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {  /* on failure libyaml frees the partial document */
        const char *problem = parser.problem ? parser.problem : "malformed YAML";
        if (parser.context)
            fail(L, (int)parser.problem_mark.line + 2, "yaml", "%s (%s started at line %d)", problem,
                 parser.context, (int)parser.context_mark.line + 2);
        else
            fail(L, (int)parser.problem_mark.line + 2, "yaml", "%s", problem);
        yaml_parser_delete(&parser);
        return -1;
    }
    L->doc = &doc;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) {
        fail(L, 2, "front matter", "empty (it needs at least id, paper, claim and checks)");
    } else {
        /* One document only: anything after a "..." end marker is an error. */
        yaml_document_t more;
        if (!yaml_parser_load(&parser, &more)) {
            fail(L, (int)parser.problem_mark.line + 2, "yaml", "%s",
                 parser.problem ? parser.problem : "malformed YAML");
        } else {
            yaml_node_t *extra = yaml_document_get_root_node(&more);
            if (extra)
                fail(L, line_of(extra), "yaml", "a second YAML document in the front matter");
            else
                rc = load_root(L, root, s, check_id, id_line);
            yaml_document_delete(&more);
        }
    }
    L->doc = NULL;
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return rc;
}

static int load_one(const char *path, cb_spec *s, int check_id, int *id_line, char *err, size_t errlen)
{
    loader L = {.path = path, .doc = NULL, .err = err, .errlen = errlen};
    char *text = NULL;
    size_t len = 0;

    memset(s, 0, sizeof *s);
    s->repetitions = 5;
    s->min_time = 0.05;
    s->budget = 20;
    s->tol_max_abs = s->tol_max_rel = s->tol_nl2 = -1;
    if (strlen(path) >= sizeof s->path)
        return cb_fail(err, errlen, "%s: path too long", path);
    strcpy(s->path, path);
    if (read_file(path, &text, &len, err, errlen) != 0)
        return -1;

    /* Split into lines: line 1 must be "---"; the next "---" line closes. */
    size_t pos = 0, fm_start = 0, fm_end = 0;
    int line = 0, closed = 0, opened = 0;
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        pos = 3;  /* a UTF-8 byte-order mark before the first line */
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        size_t next = nl ? end + 1 : len;
        line++;
        if (line == 1) {
            if (!is_delim(text + pos, end - pos))
                break;
            opened = 1;
            fm_start = next;
        } else if (is_delim(text + pos, end - pos)) {
            closed = 1;
            fm_end = pos;
            pos = next;
            break;
        }
        pos = next;
    }
    int rc = -1;
    if (!opened) {
        fail(&L, 1, "front matter", "the file must start with a line '---' opening the YAML front matter");
    } else if (!closed) {
        fail(&L, line, "front matter", "no closing '---' line after the YAML front matter");
    } else if (memchr(text, '\0', len)) {
        fail(&L, 1, "front matter", "the file contains a NUL byte");
    } else if (load_yaml(&L, text + fm_start, fm_end - fm_start, s, check_id, id_line) == 0) {
        s->body_line = line + 1;
        if ((s->body = malloc(len - pos + 1))) {
            memcpy(s->body, text + pos, len - pos);
            s->body[len - pos] = '\0';
            rc = 0;
        } else {
            fail(&L, line + 1, "body", "out of memory");
        }
    }
    free(text);
    if (rc != 0)
        cb_spec_free(s);
    return rc;
}

int cb_spec_load(const char *path, cb_spec *s, char *err, size_t errlen)
{
    int id_line;
    return load_one(path, s, 1, &id_line, err, errlen);
}

const cb_check *cb_spec_find_check(const cb_spec *s, const char *name)
{
    for (int i = 0; i < s->n_checks; i++)
        if (strcmp(s->checks[i].name, name) == 0)
            return &s->checks[i];
    return NULL;
}

void cb_spec_free(cb_spec *s)
{
    if (!s)
        return;
    free(s->claim);
    free(s->body);
    s->claim = s->body = NULL;
}

/* ---- a folder of specs ------------------------------------------------- */

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, int n)
{
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* Every regular, non-hidden *.md file in dir except README.md, sorted. */
static int list_specs(const char *dir, char ***out, int *count, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d)
        return cb_fail(err, errlen, "%s: cannot open folder: %s", dir, strerror(errno));
    char **names = NULL;
    int n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len <= 3 || strcmp(e->d_name + len - 3, ".md") != 0 ||
            strcmp(e->d_name, "README.md") == 0)
            continue;
        char full[4096];
        struct stat st;
        snprintf(full, sizeof full, "%s/%s", dir, e->d_name);
        if (stat(full, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (n == cap) {
            int nc = cap ? 2 * cap : 16;
            char **nn = realloc(names, (size_t)nc * sizeof *nn);
            if (!nn)
                goto oom;
            names = nn;
            cap = nc;
        }
        if (!(names[n] = strdup(e->d_name)))
            goto oom;
        n++;
    }
    closedir(d);
    if (n > 1)
        qsort(names, (size_t)n, sizeof *names, cmp_names);
    *out = names;
    *count = n;
    return 0;
oom:
    closedir(d);
    free_names(names, n);
    return cb_fail(err, errlen, "%s: out of memory", dir);
}

int cb_spec_load_dir(const char *dir, cb_spec **out, int *n, char *err, size_t errlen)
{
    char **names = NULL;
    int count = 0, loaded = 0, rc = -1;
    cb_spec *specs = NULL;
    int *id_lines = NULL;

    *out = NULL;
    *n = 0;
    if (list_specs(dir, &names, &count, err, errlen) != 0)
        return -1;
    if (count == 0) {
        free_names(names, count);
        return 0;
    }
    specs = calloc((size_t)count, sizeof *specs);
    id_lines = calloc((size_t)count, sizeof *id_lines);
    if (!specs || !id_lines) {
        cb_fail(err, errlen, "%s: out of memory", dir);
        goto done;
    }
    size_t dl = strlen(dir);
    int slash = dl > 0 && dir[dl - 1] == '/';
    for (int i = 0; i < count; i++) {
        char path[sizeof specs[i].path + 64], stem[512];
        if ((size_t)snprintf(path, sizeof path, "%s%s%s", dir, slash ? "" : "/", names[i]) >= sizeof path) {
            cb_fail(err, errlen, "%s/%s: path too long", dir, names[i]);
            goto done;
        }
        /* Load without the id = file name rule so that a duplicate id can be
         * reported naming both files; the rule is applied just after. */
        if (load_one(path, &specs[i], 0, &id_lines[i], err, errlen) != 0)
            goto done;
        loaded = i + 1;
        for (int j = 0; j < i; j++)
            if (strcmp(specs[j].id, specs[i].id) == 0) {
                cb_fail(err, errlen, "%s:%d: id: duplicate id '%s' (also in %s:%d)", specs[i].path,
                        id_lines[i], specs[i].id, specs[j].path, id_lines[j]);
                goto done;
            }
        file_stem(path, stem, sizeof stem);
        if (strcmp(stem, specs[i].id) != 0) {
            cb_fail(err, errlen, "%s:%d: id: '%s' differs from the file name '%s.md' (they must be equal)",
                    specs[i].path, id_lines[i], specs[i].id, stem);
            goto done;
        }
    }
    *out = specs;
    *n = count;
    specs = NULL;
    rc = 0;
done:
    if (specs)
        cb_spec_free_all(specs, loaded);
    free(id_lines);
    free_names(names, count);
    return rc;
}

void cb_spec_free_all(cb_spec *s, int n)
{
    if (!s)
        return;
    for (int i = 0; i < n; i++)
        cb_spec_free(&s[i]);
    free(s);
}
