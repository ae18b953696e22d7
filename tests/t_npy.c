/* t_npy.c — .npy reading and writing (npy.c): round trips, the exact bytes
 * NumPy writes, other NumPy versions' headers, and one specific error per
 * malformed file. Files live in a fresh temporary folder, removed at the end. */
#include <dirent.h>
#include <math.h>
#include <float.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernel.h"
#include "npy.h"
#include "tap.h"

typedef struct buf { char b[1024]; size_t n; } buf;

static void put(buf *b, const void *p, size_t n) { memcpy(b->b + b->n, p, n); b->n += n; }
static void puts_(buf *b, const char *s) { put(b, s, strlen(s)); }
static void spaces(buf *b, int k) { memset(b->b + b->n, ' ', (size_t)k); b->n += (size_t)k; }

static int write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(p, 1, n, f);
    return (fclose(f) == 0 && w == n) ? 0 : -1;
}

static long read_file(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t n = fread(out, 1, cap, f);
    fclose(f);
    return (long)n;
}

/* A version-`major` file whose header is `dict` (padded to 64 with spaces and
 * '\n'), followed by `ndata` bytes of `data`. */
static buf make_npy(int major, const char *dict, const void *data, size_t ndata)
{
    buf b = {.n = 0};
    size_t lenbytes = major == 1 ? 2 : 4;
    size_t n = strlen(dict);
    size_t pad = 63 - (6 + 2 + lenbytes + n) % 64;      /* then one '\n' */
    size_t hlen = n + pad + 1;
    unsigned char pre[12] = {0x93, 'N', 'U', 'M', 'P', 'Y', (unsigned char)major, 0,
                             (unsigned char)(hlen & 0xff), (unsigned char)(hlen >> 8), 0, 0};
    put(&b, pre, 8 + lenbytes);
    puts_(&b, dict);
    spaces(&b, (int)pad);
    puts_(&b, "\n");
    put(&b, data, ndata);
    return b;
}

/* ---- round trips ---------------------------------------------------------- */

static void test_round_trips(const char *dir)
{
    static const cb_shape shapes[] = {
        {0, {0}}, {1, {7}}, {2, {2, 3}}, {3, {2, 0, 3}}, {4, {2, 3, 1, 5}},
    };
    for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++) {
        cb_tensor t, r;
        char path[512], err[512] = "", sh[64];
        snprintf(path, sizeof path, "%s/rt%zu.npy", dir, c);
        cb_shape_format(&shapes[c], sh, sizeof sh);
        if (cb_tensor_alloc(&t, "x", &shapes[c]) != 0) {
            ok(0, "alloc");
            continue;
        }
        int64_t n = cb_shape_numel(&shapes[c]);
        /* Special values must survive bit for bit. */
        const float special[] = {-0.0f, INFINITY, -INFINITY, NAN, 1e-45f, FLT_MAX, -1.5f};
        for (int64_t i = 0; i < n; i++)
            t.data[i] = i < 7 ? special[i] : (float)i * 0.25f - 3.0f;
        int rc = cb_npy_write(path, &t, err, sizeof err);
        int rr = rc == 0 ? cb_npy_read(path, &r, "y", err, sizeof err) : -1;
        int same = rr == 0 && r.shape.rank == t.shape.rank && strcmp(r.name, "y") == 0 &&
                   memcmp(r.shape.dim, t.shape.dim, (size_t)t.shape.rank * sizeof(int64_t)) == 0 &&
                   memcmp(r.data, t.data, (size_t)n * sizeof(float)) == 0;
        ok(same, "round trip of rank %d shape %s (%lld elements) %s", shapes[c].rank, sh, (long long)n, err);
        cb_tensor_free(&t);
        if (rr == 0) cb_tensor_free(&r);
    }
}

/* ---- the bytes NumPy writes ------------------------------------------------ */

static void test_numpy_bytes(const char *dir)
{
    /* np.save(f, np.array([[1, 2, -2], [0.5, 0, 3]], np.float32)) with
     * NumPy >= 1.24: the dict, 21 - len("2") = 20 growth spaces, then 38
     * spaces and '\n' so that 10 + 118 = 128 bytes precede the data. */
    buf want = {.n = 0};
    put(&want, "\x93NUMPY\x01\x00\x76\x00", 10);    /* magic, 1.0, 118 */
    puts_(&want, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }");
    spaces(&want, 20 + 38);
    puts_(&want, "\n");
    static const unsigned char data[] = {
        0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0xc0, /* 1, 2, -2 */
        0x00, 0x00, 0x00, 0x3f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x40, /* .5, 0, 3 */
    };
    put(&want, data, sizeof data);

    cb_tensor t;
    cb_shape s = {2, {2, 3}};
    char path[512], err[512] = "", got[1024];
    snprintf(path, sizeof path, "%s/small.npy", dir);
    if (cb_tensor_alloc(&t, "x", &s) != 0) {
        ok(0, "alloc");
        return;
    }
    const float v[6] = {1, 2, -2, 0.5f, 0, 3};
    memcpy(t.data, v, sizeof v);
    int rc = cb_npy_write(path, &t, err, sizeof err);
    long n = rc == 0 ? read_file(path, got, sizeof got) : -1;
    ok(want.n == 152 && n == (long)want.n && memcmp(got, want.b, want.n) == 0,
       "a (2, 3) float32 file has NumPy's exact bytes (%ld of %zu) %s", n, want.n, err);
    cb_tensor_free(&t);

    /* (5,) keeps the 1-tuple's comma: 57 + 20 growth + 40 + '\n' = 118. */
    buf w1 = {.n = 0};
    put(&w1, "\x93NUMPY\x01\x00\x76\x00", 10);
    puts_(&w1, "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }");
    spaces(&w1, 20 + 40);
    puts_(&w1, "\n");
    /* () has no growth room: 55 + 62 + '\n' = 118. */
    buf w0 = {.n = 0};
    put(&w0, "\x93NUMPY\x01\x00\x76\x00", 10);
    puts_(&w0, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }");
    spaces(&w0, 62);
    puts_(&w0, "\n");
    char h1[256], h0[256];
    int n1 = cb_npy_header(&(cb_shape){1, {5}}, h1, sizeof h1);
    int n0 = cb_npy_header(&(cb_shape){0, {0}}, h0, sizeof h0);
    ok(n1 == 128 && memcmp(h1, w1.b, 128) == 0 && n0 == 128 && memcmp(h0, w0.b, 128) == 0,
       "headers of shapes (5,) and () are NumPy's");
    /* When dict + growth + '\n' already ends on a 64-byte boundary NumPy still
     * pads 64 spaces: the dict of shape (1, 12-, 12- and 11-digit dims) is
     * 97 characters, plus 20 growth spaces, so 10 + 117 + 1 = 128. */
    char h4[512];
    int n4 = cb_npy_header(&(cb_shape){4, {1, 123456789012, 123456789012, 12345678901}}, h4, sizeof h4);
    int pad64 = n4 == 192 && h4[191] == '\n' && h4[10 + 96] == '}';
    for (int i = 10 + 97; pad64 && i < 191; i++) pad64 = h4[i] == ' ';
    ok(pad64, "an already aligned header gets NumPy's full 64 spaces (%d bytes)", n4);
}

/* ---- headers of other writers ---------------------------------------------- */

static void test_other_headers(const char *dir)
{
    const float v[3] = {1.0f, -2.0f, 0.25f};
    char path[512], err[512];
    struct { int major; const char *dict, *what; } cases[] = {
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", "version 1.0 without growth room (NumPy < 1.24)"},
        {2, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", "version 2.0 (4-byte header length)"},
        {3, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", "version 3.0"},
        {1, "{\"shape\": (3L,), \"fortran_order\": False, \"descr\": \"<f4\"}", "other key order, double quotes, Python 2 'L'"},
        {1, "{'descr': '<f4', 'fortran_order': True, 'shape': (1, 3), }", "fortran_order True with one axis > 1 (same bytes)"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        snprintf(path, sizeof path, "%s/other%zu.npy", dir, c);
        buf b = make_npy(cases[c].major, cases[c].dict, v, sizeof v);
        cb_tensor t;
        err[0] = '\0';
        int rc = write_file(path, b.b, b.n) == 0 ? cb_npy_read(path, &t, NULL, err, sizeof err) : -2;
        ok(rc == 0 && cb_shape_numel(&t.shape) == 3 && memcmp(t.data, v, sizeof v) == 0 &&
               strcmp(t.name, path) == 0,
           "reads %s %s", cases[c].what, err);
        if (rc == 0) cb_tensor_free(&t);
    }
}

/* ---- malformed files: one specific error each ------------------------------- */

static void expect_error(const char *dir, const char *file, const void *bytes, size_t n,
                         const char *needle, const char *what)
{
    char path[512], err[512] = "";
    snprintf(path, sizeof path, "%s/%s", dir, file);
    cb_tensor t;
    memset(&t, 0xab, sizeof t);
    int rc = write_file(path, bytes, n) == 0 ? cb_npy_read(path, &t, "x", err, sizeof err) : -2;
    ok(rc == -1 && strncmp(err, path, strlen(path)) == 0 && strstr(err, needle) && t.data == NULL,
       "%s: %s", what, err);
}

static void test_errors(const char *dir)
{
    float v[6] = {0};
    buf b;

    expect_error(dir, "empty.npy", "", 0, "empty file", "empty file");
    expect_error(dir, "magic.npy", "\x93NUMPZ\x01\x00\x10\x00{}", 12, "bad magic", "bad magic");
    expect_error(dir, "short.npy", "\x93NUM", 4, "truncated header", "file shorter than the magic");

    b = make_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", v, 12);
    b.b[6] = 4;
    expect_error(dir, "v4.npy", b.b, b.n, "unsupported .npy format version 4.0", "version 4.0");

    b = make_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", v, 12);
    expect_error(dir, "cut.npy", b.b, 40, "truncated header (30 of 118 bytes)", "file cut inside the header");
    expect_error(dir, "cutlen.npy", b.b, 9, "truncated header", "file cut inside the header length");

    b = make_npy(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", v, 24);
    char want[512];
    snprintf(want, sizeof want,
             "%s/f8.npy: dtype '<f8' (float64); claimbench kernels take float32 ('<f4'): "
             "convert with x.astype(np.float32)", dir);
    expect_error(dir, "f8.npy", b.b, b.n, want, "float64 gives the exact advice");

    b = make_npy(1, "{'descr': '>f4', 'fortran_order': False, 'shape': (3,), }", v, 12);
    expect_error(dir, "be.npy", b.b, b.n, "dtype '>f4' (big-endian float32)", "big-endian float32");
    b = make_npy(1, "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }", v, 24);
    expect_error(dir, "i8.npy", b.b, b.n, "dtype '<i8' (int64)", "int64");
    b = make_npy(1, "{'descr': [('a', '<f4'), ('b', '<f4')], 'fortran_order': False, 'shape': (3,), }", v, 24);
    expect_error(dir, "rec.npy", b.b, b.n, "structured type", "structured dtype");

    b = make_npy(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", v, 24);
    expect_error(dir, "fortran.npy", b.b, b.n, "fortran_order is True (shape [2, 3])", "Fortran order");
    b = make_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 2, 1, 3), }", v, 24);
    expect_error(dir, "rank5.npy", b.b, b.n, "rank 5 arrays are not supported", "rank 5");

    b = make_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", v, 20);
    expect_error(dir, "short_data.npy", b.b, b.n, "truncated data: shape [2, 3] needs 24 bytes of float32, the file has 20",
                 "data shorter than the shape");
    b = make_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", v, 24);
    expect_error(dir, "long_data.npy", b.b, b.n, "8 trailing bytes after the 16 bytes", "bytes after the data");

    b = make_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'extra': 1, }", v, 12);
    expect_error(dir, "key.npy", b.b, b.n, "unexpected key 'extra'", "unknown key");
    b = make_npy(1, "{'descr': '<f4', 'fortran_order': False, }", v, 12);
    expect_error(dir, "noshape.npy", b.b, b.n, "header lacks 'shape'", "missing shape");
    b = make_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }", v, 24);
    expect_error(dir, "badshape.npy", b.b, b.n, "other than non-negative integers", "non-integer shape");
    b = make_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3), }", v, 12);
    expect_error(dir, "notuple.npy", b.b, b.n, "is not a tuple", "(3) is not a tuple");
    b = make_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), } junk", v, 12);
    expect_error(dir, "junk.npy", b.b, b.n, "unexpected text after the header", "text after the dict");

    char path[512], err[512] = "";
    cb_tensor t;
    snprintf(path, sizeof path, "%s/absent.npy", dir);
    int rc = cb_npy_read(path, &t, "x", err, sizeof err);
    ok(rc == -1 && strstr(err, "absent.npy: cannot open: No such file"), "missing file: %s", err);
}

/* ---- atomic writes ---------------------------------------------------------- */

static int count_temp_files(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d));)
        if (strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}

static void test_atomic(const char *dir)
{
    char path[512], err[512] = "";
    snprintf(path, sizeof path, "%s/atomic.npy", dir);
    cb_tensor a, b, r;
    cb_shape s = {1, {4}};
    if (cb_tensor_alloc(&a, "a", &s) != 0 || cb_tensor_alloc(&b, "b", &s) != 0) {
        ok(0, "alloc");
        return;
    }
    for (int i = 0; i < 4; i++) a.data[i] = (float)i, b.data[i] = (float)(10 + i);
    int rc = cb_npy_write(path, &a, err, sizeof err) | cb_npy_write(path, &b, err, sizeof err);
    int rr = rc == 0 ? cb_npy_read(path, &r, "r", err, sizeof err) : -1;
    ok(rr == 0 && memcmp(r.data, b.data, sizeof(float) * 4) == 0, "a second write replaces the file %s", err);
    if (rr == 0) cb_tensor_free(&r);

    /* A write that fails leaves the old file as it was. */
    cb_tensor bad = b;
    bad.shape.rank = 5;
    rc = cb_npy_write(path, &bad, err, sizeof err);
    rr = cb_npy_read(path, &r, "r", err + 256, sizeof err - 256);
    ok(rc == -1 && strstr(err, "rank 5") && rr == 0 && memcmp(r.data, b.data, sizeof(float) * 4) == 0,
       "a refused write leaves the old file intact: %s", err);
    if (rr == 0) cb_tensor_free(&r);

    snprintf(path, sizeof path, "%s/no/such/dir/x.npy", dir);
    rc = cb_npy_write(path, &a, err, sizeof err);
    ok(rc == -1 && strstr(err, "cannot create a temporary file") && access(path, F_OK) != 0,
       "writing into a missing folder fails cleanly: %s", err);
    ok(count_temp_files(dir) == 0, "no temporary file is left behind");
    cb_tensor_free(&a);
    cb_tensor_free(&b);
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    char path[1024];
    for (struct dirent *e; (e = readdir(d));) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

int main(void)
{
    const char *base = getenv("TMPDIR");
    char dir[200];
    snprintf(dir, sizeof dir, "%s/t_npy.XXXXXX", base && base[0] ? base : "/tmp");
    if (!mkdtemp(dir)) {
        printf("1..0 # SKIP cannot create a temporary folder\n");
        return 0;
    }
    tap_plan(37);
    test_round_trips(dir);
    test_numpy_bytes(dir);
    test_other_headers(dir);
    test_errors(dir);
    test_atomic(dir);
    remove_dir(dir);
    return tap_done();
}
