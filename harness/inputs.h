/* inputs.h — seeded kernel inputs: the same bits for every backend.
 *
 * Input `name` of a kernel at parameters P is drawn from the counter-based
 * generator (rng.h) with stream id cb_rng_stream("<name>") and the run seed,
 * so it depends on the seed, the tensor name and its element index only:
 * never on the backend, the thread count or the order of the run.
 */
#ifndef CB_INPUTS_H
#define CB_INPUTS_H

#include "kernel.h"
#include "spec.h"

/* Allocate (pre-touched) and fill the kernel's inputs and allocate its
 * outputs for parameters p (defaults filled by the kernel's shapes()).
 * `dist` may be NULL (standard normal for every input). Returns 0, or -1
 * with err; on failure nothing stays allocated. */
int cb_inputs_make(const cb_kernel *k, cb_params *p, const cb_spec *dist, uint64_t seed,
                   cb_tensor *in, cb_tensor *out, char *err, size_t errlen);
void cb_inputs_free(const cb_kernel *k, cb_tensor *in, cb_tensor *out);

#endif
