/* kernel.c — the small value types of kernel.h: parameters, tensors, metrics. */
#define _POSIX_C_SOURCE 200809L
#include "kernel.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cb_fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* ---- parameters ------------------------------------------------------- */

int cb_params_find(const cb_params *p, const char *name)
{
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->name[i], name) == 0)
            return i;
    return -1;
}

int cb_params_has(const cb_params *p, const char *name) { return cb_params_find(p, name) >= 0; }

double cb_params_get(const cb_params *p, const char *name, double dflt)
{
    int i = cb_params_find(p, name);
    return i < 0 ? dflt : p->value[i];
}

int64_t cb_params_int(const cb_params *p, const char *name, int64_t dflt)
{
    int i = cb_params_find(p, name);
    return i < 0 ? dflt : (int64_t)llround(p->value[i]);
}

int cb_params_set(cb_params *p, const char *name, double value)
{
    int i = cb_params_find(p, name);
    if (i >= 0) {
        p->value[i] = value;
        return 0;
    }
    if (p->n >= CB_MAX_PARAMS || strlen(name) >= CB_NAME_MAX || name[0] == '\0')
        return -1;
    strcpy(p->name[p->n], name);
    p->value[p->n++] = value;
    return 0;
}

int cb_params_default(cb_params *p, const char *name, double value)
{
    return cb_params_has(p, name) ? 0 : cb_params_set(p, name, value);
}

int cb_params_merge(cb_params *dst, const cb_params *src)
{
    for (int i = 0; i < src->n; i++)
        if (cb_params_set(dst, src->name[i], src->value[i]) != 0)
            return -1;
    return 0;
}

static int is_integral(double v) { return isfinite(v) && fabs(v) < 9e15 && v == floor(v); }

int cb_params_format(const cb_params *p, char *buf, size_t len)
{
    size_t used = 0;
    int total = 0;
    if (len) buf[0] = '\0';
    for (int i = 0; i < p->n; i++) {
        char one[96];
        int k = is_integral(p->value[i])
                    ? snprintf(one, sizeof one, "%s%s=%lld", i ? "," : "", p->name[i], (long long)p->value[i])
                    : snprintf(one, sizeof one, "%s%s=%.17g", i ? "," : "", p->name[i], p->value[i]);
        total += k;
        if (used + (size_t)k < len) {
            memcpy(buf + used, one, (size_t)k + 1);
            used += (size_t)k;
        }
    }
    return total;
}

int cb_params_parse(cb_params *p, const char *s)
{
    p->n = 0;
    if (strcmp(s, "-") == 0 || s[0] == '\0')
        return 0;
    const char *cur = s;
    while (*cur) {
        const char *eq = strchr(cur, '=');
        if (!eq || eq == cur || (size_t)(eq - cur) >= CB_NAME_MAX)
            return -1;
        char name[CB_NAME_MAX];
        memcpy(name, cur, (size_t)(eq - cur));
        name[eq - cur] = '\0';
        char *end;
        errno = 0;
        double v = strtod(eq + 1, &end);
        if (end == eq + 1 || errno == ERANGE || (*end != ',' && *end != '\0'))
            return -1;
        if (cb_params_set(p, name, v) != 0)
            return -1;
        cur = *end == ',' ? end + 1 : end;
    }
    return 0;
}

int cb_params_subset(const cb_params *sub, const cb_params *p)
{
    if (!sub) return 1;
    for (int i = 0; i < sub->n; i++) {
        int j = cb_params_find(p, sub->name[i]);
        if (j < 0 || p->value[j] != sub->value[i])
            return 0;
    }
    return 1;
}

/* ---- tensors ---------------------------------------------------------- */

int64_t cb_shape_numel(const cb_shape *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++)
        n *= s->dim[i];
    return n;
}

int cb_shape_format(const cb_shape *s, char *buf, size_t len)
{
    int k = snprintf(buf, len, "[");
    for (int i = 0; i < s->rank; i++)
        k += snprintf(buf + ((size_t)k < len ? (size_t)k : len), (size_t)k < len ? len - (size_t)k : 0,
                      "%s%lld", i ? ", " : "", (long long)s->dim[i]);
    k += snprintf(buf + ((size_t)k < len ? (size_t)k : len), (size_t)k < len ? len - (size_t)k : 0, "]");
    return k;
}

int cb_tensor_alloc(cb_tensor *t, const char *name, const cb_shape *s)
{
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->shape = *s;
    int64_t n = cb_shape_numel(s);
    if (n < 0 || (uint64_t)n > SIZE_MAX / sizeof(float)) {
        errno = EOVERFLOW;
        return -1;
    }
    /* pre-touched: first-touch page faults are costly on these machines */
    t->data = cb_alloc_floats((size_t)n);
    if (!t->data)
        return -1;
    return 0;
}

float *cb_alloc_floats(size_t n)
{
    if (n > (SIZE_MAX - 63) / sizeof(float)) return NULL;
    size_t bytes = (n * sizeof(float) + 63) & ~(size_t)63;
    if (bytes == 0) bytes = 64;
    float *x = aligned_alloc(64, bytes);
    if (x) memset(x, 0, bytes);
    return x;
}

void cb_tensor_free(cb_tensor *t)
{
    free(t->data);
    t->data = NULL;
}

/* ---- metrics ---------------------------------------------------------- */

int cb_metrics_add(cb_metrics *ms, const char *name, const cb_params *at, double value)
{
    if (ms->n == ms->cap) {
        int cap = ms->cap ? 2 * ms->cap : 16;
        cb_metric *m = realloc(ms->m, (size_t)cap * sizeof *m);
        if (!m) return -1;
        ms->m = m;
        ms->cap = cap;
    }
    cb_metric *m = &ms->m[ms->n];
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "%s", name);
    if (at) m->at = *at;
    m->value = value;
    ms->n++;
    return 0;
}

void cb_metrics_free(cb_metrics *ms)
{
    free(ms->m);
    ms->m = NULL;
    ms->n = ms->cap = 0;
}

/* ---- one call outside the timed path ------------------------------------ */

/* The body of cb_impl_run_arrays and cb_impl_run_arrays_twice: same = NULL
 * runs once. */
static int run_arrays(const cb_kernel *k, const cb_impl *im, cb_params *p, const float *const *in,
                      float **out, int64_t *n, int *same, char *err, size_t errlen)
{
    cb_shape ish[CB_MAX_TENSORS], osh[CB_MAX_TENSORS];
    *out = NULL;
    if (same)
        *same = 0;
    if (k->shapes(p, ish, osh, err, errlen))
        return -1;
    cb_tensor ti[CB_MAX_TENSORS], to[CB_MAX_TENSORS];
    memset(ti, 0, sizeof ti);
    memset(to, 0, sizeof to);
    int rc = -1;
    void *state = NULL;
    for (int t = 0; t < k->n_in; t++) {
        if (cb_tensor_alloc(&ti[t], k->in[t], &ish[t])) {
            cb_fail(err, errlen, "%s/%s: out of memory", im->kernel, im->backend);
            goto done;
        }
        memcpy(ti[t].data, in[t], (size_t)cb_shape_numel(&ish[t]) * sizeof(float));
    }
    for (int t = 0; t < k->n_out; t++)
        if (cb_tensor_alloc(&to[t], k->out[t], &osh[t])) {
            cb_fail(err, errlen, "%s/%s: out of memory", im->kernel, im->backend);
            goto done;
        }
    if (im->prepare && im->prepare(&state, p, ti, to, err, errlen))
        goto done;
    if (im->run(state, p, ti, to)) {
        cb_fail(err, errlen, "%s/%s: run failed", im->kernel, im->backend);
        goto done;
    }
    *n = cb_shape_numel(&osh[0]);
    const size_t bytes = (size_t)*n * sizeof(float);
    *out = malloc(bytes > 0 ? bytes : sizeof(float));
    if (!*out) {
        cb_fail(err, errlen, "%s/%s: out of memory", im->kernel, im->backend);
        goto done;
    }
    memcpy(*out, to[0].data, bytes);
    if (same) {
        memset(to[0].data, 0, bytes);
        *same = im->run(state, p, ti, to) == 0 && memcmp(*out, to[0].data, bytes) == 0;
    }
    rc = 0;
done:
    if (state && im->release) im->release(state);
    for (int t = 0; t < k->n_in; t++) cb_tensor_free(&ti[t]);
    for (int t = 0; t < k->n_out; t++) cb_tensor_free(&to[t]);
    return rc;
}

int cb_impl_run_arrays(const cb_kernel *k, const cb_impl *im, cb_params *p,
                       const float *const *in, float **out, int64_t *n, char *err, size_t errlen)
{
    return run_arrays(k, im, p, in, out, n, NULL, err, errlen);
}

int cb_impl_run_arrays_twice(const cb_kernel *k, const cb_impl *im, cb_params *p,
                             const float *const *in, float **out, int64_t *n, int *same, char *err,
                             size_t errlen)
{
    return run_arrays(k, im, p, in, out, n, same, err, errlen);
}
