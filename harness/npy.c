/* npy.c — read and write NumPy .npy files of float32 tensors (see npy.h).
 *
 * The format (numpy.lib.format): 6 magic bytes "\x93NUMPY", a major and a
 * minor version byte, the header length (2 bytes little-endian in version
 * 1.0, 4 bytes in 2.0 and 3.0), then the header: a Python dict literal with
 * the keys 'descr', 'fortran_order' and 'shape', padded with spaces and
 * ended by '\n' so that the data starts at a multiple of 64 bytes. The data
 * follows: the elements in C order, nothing after them.
 */
#include "npy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The data is written and read as the machine's floats: a little-endian
 * host makes them '<f4' bytes without conversion. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "npy.c assumes a little-endian host"
#endif

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_ALIGN 64
/* NumPy leaves room in the header for the first axis to grow to this many
 * digits (numpy.lib.format GROWTH_AXIS_MAX_DIGITS, NumPy >= 1.24), so a file
 * can be appended to in place; we write the same spaces to match its bytes. */
#define NPY_GROWTH_DIGITS 21
/* No float32 tensor header of rank <= 4 comes near this; a larger length is
 * a corrupt or hostile file, refused before allocating for it. */
#define NPY_MAX_HEADER (1u << 20)

/* ---- the header ---------------------------------------------------------- */

int cb_npy_header(const cb_shape *s, char *buf, size_t len)
{
    char dict[256];
    int n = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    for (int i = 0; i < s->rank; i++)
        n += snprintf(dict + n, sizeof dict - (size_t)n, "%s%lld", i ? ", " : "", (long long)s->dim[i]);
    /* Python's repr of a 1-tuple keeps its comma: (5,) */
    n += snprintf(dict + n, sizeof dict - (size_t)n, "%s), }", s->rank == 1 ? "," : "");
    if (s->rank > 0) {
        int digits = snprintf(NULL, 0, "%lld", (long long)s->dim[0]);
        for (int i = digits; i < NPY_GROWTH_DIGITS; i++) dict[n++] = ' ';
    }
    /* Exactly NumPy's padding: pad = 64 - (10 + n + 1) % 64 spaces, then
     * '\n' (a full 64 spaces when the sum is already aligned). */
    size_t pad = NPY_ALIGN - (10 + (size_t)n + 1) % NPY_ALIGN;
    size_t hlen = (size_t)n + pad + 1;
    size_t total = 10 + hlen;
    if (total > len || hlen > 0xffff) return -1;
    memcpy(buf, NPY_MAGIC, NPY_MAGIC_LEN);
    buf[6] = 1;                                 /* version 1.0 */
    buf[7] = 0;
    buf[8] = (char)(hlen & 0xff);               /* header length, little-endian */
    buf[9] = (char)(hlen >> 8);
    memcpy(buf + 10, dict, (size_t)n);
    memset(buf + 10 + n, ' ', pad);
    buf[total - 1] = '\n';
    return (int)total;
}

/* ---- parsing the header dictionary --------------------------------------- */

typedef struct hdr {
    const char *s;          /* the header text, NUL-terminated */
    size_t i;               /* cursor */
    char descr[64];
    int has_descr, has_fortran, has_shape;
    int fortran;
    int rank;
    int64_t dim[CB_MAX_RANK];
} hdr;

static void skip_ws(hdr *h)
{
    while (h->s[h->i] == ' ' || h->s[h->i] == '\t' || h->s[h->i] == '\n' || h->s[h->i] == '\r')
        h->i++;
}

/* A quoted string ('...' or "...") into out. Returns 0 or -1. */
static int parse_str(hdr *h, char *out, size_t cap)
{
    char q = h->s[h->i];
    if (q != '\'' && q != '"') return -1;
    size_t start = ++h->i;
    while (h->s[h->i] && h->s[h->i] != q) h->i++;
    if (h->s[h->i] != q || h->i - start >= cap) return -1;
    memcpy(out, h->s + start, h->i - start);
    out[h->i - start] = '\0';
    h->i++;
    return 0;
}

/* A shape tuple: (), (5,), (2, 3) — Python's repr, with optional spaces,
 * trailing comma and Python-2 'L' suffixes. Returns 0, or -1 with msg. */
static int parse_shape(hdr *h, char *msg, size_t cap)
{
    if (h->s[h->i] != '(') return cb_fail(msg, cap, "'shape' is not a tuple");
    h->i++;
    int n = 0, commas = 0;
    for (;;) {
        skip_ws(h);
        if (h->s[h->i] == ')') {
            h->i++;
            break;
        }
        if (h->s[h->i] < '0' || h->s[h->i] > '9')
            return cb_fail(msg, cap, "'shape' holds something other than non-negative integers");
        int64_t v = 0;
        while (h->s[h->i] >= '0' && h->s[h->i] <= '9') {
            int d = h->s[h->i++] - '0';
            if (v > (INT64_MAX - d) / 10) return cb_fail(msg, cap, "a 'shape' entry overflows 64 bits");
            v = v * 10 + d;
        }
        if (h->s[h->i] == 'L') h->i++;
        if (n < CB_MAX_RANK) h->dim[n] = v;   /* count the rest for the message */
        n++;
        skip_ws(h);
        if (h->s[h->i] == ',') {
            h->i++;
            commas++;
        } else if (h->s[h->i] != ')') {
            return cb_fail(msg, cap, "malformed 'shape' tuple");
        }
    }
    if (n == 1 && commas == 0)
        return cb_fail(msg, cap, "'shape' (%lld) is not a tuple (a 1-D shape is written (%lld,))",
                       (long long)h->dim[0], (long long)h->dim[0]);
    if (n > CB_MAX_RANK)
        return cb_fail(msg, cap, "rank %d arrays are not supported (claimbench kernels take rank 0 to %d)",
                       n, CB_MAX_RANK);
    h->rank = n;
    return 0;
}

/* The whole dictionary. Returns 0, or -1 with msg (without the path). */
static int parse_header(hdr *h, char *msg, size_t cap)
{
    skip_ws(h);
    if (h->s[h->i] != '{') return cb_fail(msg, cap, "header is not a dictionary");
    h->i++;
    for (;;) {
        skip_ws(h);
        if (h->s[h->i] == '}') break;
        char key[32];
        if (parse_str(h, key, sizeof key) != 0) return cb_fail(msg, cap, "malformed header dictionary");
        skip_ws(h);
        if (h->s[h->i] != ':') return cb_fail(msg, cap, "malformed header dictionary (no ':' after '%s')", key);
        h->i++;
        skip_ws(h);
        if (strcmp(key, "descr") == 0) {
            if (h->has_descr) return cb_fail(msg, cap, "'descr' appears twice");
            if (h->s[h->i] == '[')
                return cb_fail(msg, cap, "dtype is a structured type; claimbench kernels take float32 ('<f4')");
            if (parse_str(h, h->descr, sizeof h->descr) != 0) return cb_fail(msg, cap, "malformed 'descr'");
            h->has_descr = 1;
        } else if (strcmp(key, "fortran_order") == 0) {
            if (h->has_fortran) return cb_fail(msg, cap, "'fortran_order' appears twice");
            if (strncmp(h->s + h->i, "True", 4) == 0) h->fortran = 1, h->i += 4;
            else if (strncmp(h->s + h->i, "False", 5) == 0) h->fortran = 0, h->i += 5;
            else return cb_fail(msg, cap, "'fortran_order' is neither True nor False");
            h->has_fortran = 1;
        } else if (strcmp(key, "shape") == 0) {
            if (h->has_shape) return cb_fail(msg, cap, "'shape' appears twice");
            if (parse_shape(h, msg, cap) != 0) return -1;
            h->has_shape = 1;
        } else {
            return cb_fail(msg, cap, "unexpected key '%s' in the header", key);
        }
        skip_ws(h);
        if (h->s[h->i] == ',') h->i++;
        else if (h->s[h->i] != '}') return cb_fail(msg, cap, "malformed header dictionary");
    }
    h->i++;
    skip_ws(h);
    if (h->s[h->i] != '\0') return cb_fail(msg, cap, "unexpected text after the header dictionary");
    if (!h->has_descr) return cb_fail(msg, cap, "header lacks 'descr'");
    if (!h->has_fortran) return cb_fail(msg, cap, "header lacks 'fortran_order'");
    if (!h->has_shape) return cb_fail(msg, cap, "header lacks 'shape'");
    return 0;
}

/* A readable name for a NumPy type string, for the dtype error. */
static const char *dtype_name(const char *d)
{
    static const struct { const char *code, *name; } t[] = {
        {"f2", "float16"}, {"f4", "float32"}, {"f8", "float64"}, {"f16", "float128"},
        {"f12", "float96"}, {"i1", "int8"}, {"i2", "int16"}, {"i4", "int32"},
        {"i8", "int64"}, {"u1", "uint8"}, {"u2", "uint16"}, {"u4", "uint32"},
        {"u8", "uint64"}, {"b1", "bool"}, {"c8", "complex64"}, {"c16", "complex128"},
        {"O", "Python objects"}, {"O8", "Python objects"},
    };
    const char *code = (d[0] == '<' || d[0] == '>' || d[0] == '|' || d[0] == '=') ? d + 1 : d;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (strcmp(code, t[i].code) == 0) return t[i].name;
    switch (code[0]) {
    case 'U': return "unicode string";
    case 'S': return "byte string";
    case 'V': return "void";
    case 'M': return "datetime64";
    case 'm': return "timedelta64";
    default: return "unknown type";
    }
}

/* ---- reading ------------------------------------------------------------- */

int cb_npy_read(const char *path, cb_tensor *t, const char *name, char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    FILE *f = fopen(path, "rb");
    if (!f) return cb_fail(err, errlen, "%s: cannot open: %s", path, strerror(errno));

    char *text = NULL;
    int rc = -1;
    unsigned char pre[12];
    size_t got = fread(pre, 1, 8, f);
    if (got == 0) {
        cb_fail(err, errlen, "%s: empty file, not a .npy file", path);
        goto out;
    }
    if (got < NPY_MAGIC_LEN || memcmp(pre, NPY_MAGIC, NPY_MAGIC_LEN) != 0) {
        if (got < NPY_MAGIC_LEN && memcmp(pre, NPY_MAGIC, got) == 0)
            cb_fail(err, errlen, "%s: truncated header (%zu bytes)", path, got);
        else
            cb_fail(err, errlen, "%s: not a .npy file (bad magic: it does not start with \\x93NUMPY)", path);
        goto out;
    }
    if (got < 8) {
        cb_fail(err, errlen, "%s: truncated header (%zu bytes)", path, got);
        goto out;
    }
    int major = pre[6], minor = pre[7];
    size_t lenbytes = major == 1 ? 2 : 4;
    if ((major != 1 && major != 2 && major != 3) || minor != 0) {
        cb_fail(err, errlen, "%s: unsupported .npy format version %d.%d (claimbench reads 1.0, 2.0 and 3.0)",
                path, major, minor);
        goto out;
    }
    if (fread(pre + 8, 1, lenbytes, f) != lenbytes) {
        cb_fail(err, errlen, "%s: truncated header (no header length)", path);
        goto out;
    }
    uint32_t hlen = (uint32_t)pre[8] | (uint32_t)pre[9] << 8;
    if (lenbytes == 4) hlen |= (uint32_t)pre[10] << 16 | (uint32_t)pre[11] << 24;
    if (hlen > NPY_MAX_HEADER) {
        cb_fail(err, errlen, "%s: header length %u is implausibly large (corrupt file?)", path, hlen);
        goto out;
    }
    text = malloc((size_t)hlen + 1);
    if (!text) {
        cb_fail(err, errlen, "%s: out of memory", path);
        goto out;
    }
    got = fread(text, 1, hlen, f);
    if (got != hlen) {
        cb_fail(err, errlen, "%s: truncated header (%zu of %u bytes)", path, got, hlen);
        goto out;
    }
    text[hlen] = '\0';
    if (strlen(text) != hlen) {
        cb_fail(err, errlen, "%s: header contains a NUL byte (corrupt file?)", path);
        goto out;
    }

    hdr h;
    memset(&h, 0, sizeof h);
    h.s = text;
    char msg[256];
    if (parse_header(&h, msg, sizeof msg) != 0) {
        cb_fail(err, errlen, "%s: %s", path, msg);
        goto out;
    }
    if (strcmp(h.descr, "<f4") != 0) {
        const char *tn = dtype_name(h.descr);
        int big = h.descr[0] == '>';
        cb_fail(err, errlen, "%s: dtype '%s' (%s%s); claimbench kernels take float32 ('<f4'): convert with %s",
                path, h.descr, big ? "big-endian " : "", tn,
                big ? "x.astype('<f4')" : "x.astype(np.float32)");
        goto out;
    }

    cb_shape shape;
    memset(&shape, 0, sizeof shape);
    shape.rank = h.rank;
    int64_t numel = 1, over_one = 0;
    for (int i = 0; i < h.rank; i++) {
        shape.dim[i] = h.dim[i];
        over_one += h.dim[i] > 1;
        if (h.dim[i] != 0 && numel > INT64_MAX / 4 / h.dim[i]) {
            cb_fail(err, errlen, "%s: shape is too large", path);
            goto out;
        }
        numel *= h.dim[i];
    }
    char sh[128];
    cb_shape_format(&shape, sh, sizeof sh);
    /* Fortran order stores the same bytes as C order when at most one axis
     * is longer than 1; only then is it harmless. */
    if (h.fortran && over_one > 1) {
        cb_fail(err, errlen, "%s: fortran_order is True (shape %s); claimbench reads C-order arrays: "
                "save np.ascontiguousarray(x)", path, sh);
        goto out;
    }

    size_t need = (size_t)numel * sizeof(float);
    size_t data_at = 8 + lenbytes + hlen;
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size < data_at + need) {
        cb_fail(err, errlen, "%s: truncated data: shape %s needs %zu bytes of float32, the file has %llu",
                path, sh, need, (unsigned long long)(st.st_size - (off_t)data_at));
        goto out;
    }
    if (cb_tensor_alloc(t, name ? name : path, &shape) != 0) {
        cb_fail(err, errlen, "%s: cannot allocate %s: %s", path, sh, strerror(errno));
        goto out;
    }
    got = fread(t->data, 1, need, f);
    if (got != need) {
        cb_fail(err, errlen, "%s: truncated data: shape %s needs %zu bytes of float32, the file has %zu",
                path, sh, need, got);
        goto out;
    }
    /* Nothing may follow the data: extra bytes mean the header and the data
     * disagree, and guessing which one is right would hide the problem. */
    size_t extra = 0;
    char sink[4096];
    while ((got = fread(sink, 1, sizeof sink, f)) > 0) extra += got;
    if (ferror(f)) {
        cb_fail(err, errlen, "%s: read error: %s", path, strerror(errno));
        goto out;
    }
    if (extra) {
        cb_fail(err, errlen, "%s: %zu trailing bytes after the %zu bytes of data of shape %s", path,
                extra, need, sh);
        goto out;
    }
    rc = 0;
out:
    if (rc != 0) cb_tensor_free(t);
    free(text);
    fclose(f);
    return rc;
}

/* ---- writing ------------------------------------------------------------- */

static int write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Open a new temporary file beside `path` (same folder, so rename() is
 * atomic), named path.tmp.<pid>.<n>; O_EXCL guarantees it is ours. */
static int open_temp(const char *path, char *tmp, size_t cap)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    for (int attempt = 0; attempt < 100; attempt++) {
        int k = snprintf(tmp, cap, "%s.tmp.%ld.%ld", path, (long)getpid(), (long)ts.tv_nsec + attempt);
        if (k < 0 || (size_t)k >= cap) {
            errno = ENAMETOOLONG;
            return -1;
        }
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0666);
        if (fd >= 0 || errno != EEXIST) return fd;
    }
    return -1;
}

/* The folder of `path`, fsync'ed so the rename itself survives a crash.
 * Best effort: some file systems refuse fsync on a directory. */
static void sync_dir(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    int fd = open(dir, O_RDONLY);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

int cb_npy_write(const char *path, const cb_tensor *t, char *err, size_t errlen)
{
    const cb_shape *s = &t->shape;
    if (s->rank < 0 || s->rank > CB_MAX_RANK)
        return cb_fail(err, errlen, "%s: cannot write rank %d (claimbench writes rank 0 to %d)", path,
                       s->rank, CB_MAX_RANK);
    for (int i = 0; i < s->rank; i++)
        if (s->dim[i] < 0) return cb_fail(err, errlen, "%s: cannot write a negative dimension", path);
    int64_t numel = cb_shape_numel(s);
    if (numel > 0 && !t->data) return cb_fail(err, errlen, "%s: tensor '%s' has no data", path, t->name);

    char header[512];
    int hl = cb_npy_header(s, header, sizeof header);
    if (hl < 0) return cb_fail(err, errlen, "%s: header too long", path);

    char tmp[4200];
    int fd = open_temp(path, tmp, sizeof tmp);
    if (fd < 0) return cb_fail(err, errlen, "%s: cannot create a temporary file beside it: %s", path, strerror(errno));
    const char *step = "write";
    if (write_all(fd, header, (size_t)hl) != 0 ||
        (numel > 0 && write_all(fd, t->data, (size_t)numel * sizeof(float)) != 0))
        goto fail;
    step = "fsync";
    if (fsync(fd) != 0) goto fail;
    step = "close";
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    step = "rename";
    if (rename(tmp, path) != 0) goto fail;
    sync_dir(path);
    return 0;
fail:;
    int e = errno;
    if (fd >= 0) close(fd);
    unlink(tmp);
    return cb_fail(err, errlen, "%s: cannot write (%s): %s", path, step, strerror(e));
}
