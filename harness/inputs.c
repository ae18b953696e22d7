/* inputs.c — allocate a kernel's tensors and fill its inputs from the seeded
 * counter-based generator, one stream per input name (see inputs.h). */
#include "inputs.h"

#include <errno.h>
#include <string.h>

#include "rng.h"

/* The distribution the spec gives for input `name`, or NULL (standard normal). */
static const cb_input_spec *find_dist(const cb_spec *dist, const char *name)
{
    if (!dist) return NULL;
    for (int i = 0; i < dist->n_inputs; i++)
        if (strcmp(dist->inputs[i].name, name) == 0)
            return &dist->inputs[i];
    return NULL;
}

void cb_inputs_free(const cb_kernel *k, cb_tensor *in, cb_tensor *out)
{
    for (int i = 0; i < k->n_in; i++) cb_tensor_free(&in[i]);
    for (int i = 0; i < k->n_out; i++) cb_tensor_free(&out[i]);
}

int cb_inputs_make(const cb_kernel *k, cb_params *p, const cb_spec *dist, uint64_t seed,
                   cb_tensor *in, cb_tensor *out, char *err, size_t errlen)
{
    /* Empty tensors first, so freeing after a failure part-way is safe. */
    memset(in, 0, (size_t)k->n_in * sizeof *in);
    memset(out, 0, (size_t)k->n_out * sizeof *out);

    cb_shape in_sh[CB_MAX_TENSORS], out_sh[CB_MAX_TENSORS];
    memset(in_sh, 0, sizeof in_sh);
    memset(out_sh, 0, sizeof out_sh);
    char msg[512] = "";
    if (k->shapes(p, in_sh, out_sh, msg, sizeof msg) != 0)
        return cb_fail(err, errlen, "%s: %s", k->name, msg[0] ? msg : "invalid parameters");

    for (int i = 0; i < k->n_in; i++) {
        char sh[128];
        cb_shape_format(&in_sh[i], sh, sizeof sh);
        if (cb_tensor_alloc(&in[i], k->in[i], &in_sh[i]) != 0) {
            int e = errno;
            cb_inputs_free(k, in, out);
            return cb_fail(err, errlen, "%s: cannot allocate input %s %s: %s", k->name,
                           k->in[i], sh, strerror(e));
        }
        size_t n = (size_t)cb_shape_numel(&in_sh[i]);
        uint64_t stream = cb_rng_stream(k->in[i]);
        const cb_input_spec *d = find_dist(dist, k->in[i]);
        if (d && d->uniform)
            cb_rng_fill_uniform(in[i].data, n, seed, stream, (float)d->lo, (float)d->hi);
        else
            cb_rng_normal(in[i].data, n, seed, stream, d ? (float)d->scale : 1.0f);
    }
    for (int i = 0; i < k->n_out; i++) {
        if (cb_tensor_alloc(&out[i], k->out[i], &out_sh[i]) != 0) {
            int e = errno;
            char sh[128];
            cb_shape_format(&out_sh[i], sh, sizeof sh);
            cb_inputs_free(k, in, out);
            return cb_fail(err, errlen, "%s: cannot allocate output %s %s: %s", k->name,
                           k->out[i], sh, strerror(e));
        }
    }
    return 0;
}
