/* npy.h — NumPy .npy files in and out, for `claimbench run`.
 *
 * Only what a kernel takes: dtype '<f4' (little-endian float32), C order,
 * rank 0..CB_MAX_RANK. Reading accepts format versions 1.0, 2.0 and 3.0;
 * writing produces version 1.0 with the header NumPy itself writes
 * (np.save of a float32 C-order array gives the same bytes), so a file
 * round-trips through NumPy unchanged. Errors start with the file's path and
 * say what was found and what is needed, e.g.
 *   q.npy: dtype '<f8' (float64); claimbench kernels take float32 ('<f4'):
 *   convert with x.astype(np.float32)
 */
#ifndef CB_NPY_H
#define CB_NPY_H

#include <stddef.h>

#include "kernel.h"

/* Read `path` into *t (allocated with cb_tensor_alloc, named `name`, or the
 * path when name is NULL). Returns 0, or -1 with err set and nothing
 * allocated. */
int cb_npy_read(const char *path, cb_tensor *t, const char *name, char *err, size_t errlen);

/* Write *t to `path` atomically: a temporary file in the same folder is
 * written, fsync'ed and renamed over `path`, so `path` holds either its old
 * content or the whole new file, never a part. Returns 0, or -1 with err set
 * (and `path` untouched). */
int cb_npy_write(const char *path, const cb_tensor *t, char *err, size_t errlen);

/* The header NumPy writes for a float32 C-order array of shape s (magic,
 * version 1.0, length, dictionary, padding, newline) into buf. Returns its
 * length (a multiple of 64), or -1 if it does not fit in len bytes. */
int cb_npy_header(const cb_shape *s, char *buf, size_t len);

#endif
