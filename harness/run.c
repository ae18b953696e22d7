/* run.c — `claimbench run`: one kernel implementation on the user's own
 * float32 .npy tensors, so anyone can hold a kernel against NumPy or PyTorch.
 *
 *   claimbench run KERNEL --backend B [--set NAME=VALUE ...]
 *                  --in NAME=FILE.npy ... --out NAME=FILE.npy ...
 *
 * The shape parameters come from the input files (the kernel's infer()),
 * --set adds the others; the kernel's shapes() then checks that everything
 * agrees. Nothing runs until every input is read and every shape checked, and
 * no output is written unless the kernel ran to completion.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kernel.h"
#include "npy.h"

#define RUN_MAX_ARGS 32     /* --in / --out / --set options of one call */

/* ---- a kernel's shapes in terms of its parameters ------------------------ */

/* The parameter names of params_doc ("H N M(=N) d dv(=d) causal(=0) ..."):
 * each word up to its '(' . Returns how many. */
static int doc_names(const cb_kernel *k, char names[CB_MAX_PARAMS][CB_NAME_MAX])
{
    int n = 0;
    const char *s = k->params_doc ? k->params_doc : "";
    while (*s && n < CB_MAX_PARAMS) {
        while (*s == ' ' || *s == ',') s++;
        size_t len = 0;
        while (s[len] && s[len] != ' ' && s[len] != ',' && s[len] != '(') len++;
        if (len > 0 && len < CB_NAME_MAX) {
            memcpy(names[n], s, len);
            names[n++][len] = '\0';
        }
        s += len;
        if (*s == '(') {                       /* skip "(=default)" */
            int depth = 0;
            for (; *s; s++) {
                if (*s == '(') depth++;
                if (*s == ')' && --depth == 0) {
                    s++;
                    break;
                }
            }
        }
    }
    return n;
}

static int doc_has(char names[CB_MAX_PARAMS][CB_NAME_MAX], int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0) return 1;
    return 0;
}

/* Shapes as text in parameter names, e.g. "[H, N, d]", found by asking the
 * kernel itself: start from parameters it accepts (all 1, then 0 where it
 * still accepts that, e.g. causal=0), then give each parameter in turn a
 * distinct prime (or, refused, a distinct power of two) and keep it whenever
 * shapes() still accepts; a dimension equal to a parameter's mark is that
 * parameter (dim_text names a few derived ones too). A kernel that accepts none
 * of this gets ok = 0 and plain names in the messages. */
typedef struct symbolic {
    int ok;
    cb_shape in[CB_MAX_TENSORS], out[CB_MAX_TENSORS];
    char in_txt[CB_MAX_TENSORS][128], out_txt[CB_MAX_TENSORS][128];
} symbolic;

static int accepts(const cb_kernel *k, const cb_params *p, cb_shape *in, cb_shape *out)
{
    cb_params q = *p;
    char err[256];
    return k->shapes(&q, in, out, err, sizeof err) == 0;
}

/* A dimension in parameter names: the parameter whose mark it is, or, for the
 * large marks (>= 101, where coincidences cannot happen), a mark plus one
 * ("N + 1": lsa_layer's context plus query row) or a small multiple ("3D":
 * hyena_operator's three projections); else the number. */
static void dim_text(int64_t v, const cb_params *p, const int64_t *prime, char *buf, size_t len)
{
    for (int j = 0; j < p->n; j++)
        if (prime[j] && v == prime[j]) {
            snprintf(buf, len, "%s", p->name[j]);
            return;
        }
    for (int j = 0; j < p->n; j++) {
        if (prime[j] < 101) continue;
        if (v == prime[j] + 1) {
            snprintf(buf, len, "%s + 1", p->name[j]);
            return;
        }
        if (v % prime[j] == 0 && v / prime[j] >= 2 && v / prime[j] <= 8) {
            snprintf(buf, len, "%lld%s", (long long)(v / prime[j]), p->name[j]);
            return;
        }
    }
    snprintf(buf, len, "%lld", (long long)v);
}

static void dims_text(const cb_shape *s, const cb_params *p, const int64_t *prime, char *buf, size_t len)
{
    size_t used = 0;
    used += (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < s->rank && used < len; i++) {
        char d[CB_NAME_MAX + 32];
        dim_text(s->dim[i], p, prime, d, sizeof d);
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "", d);
    }
    if (used < len) snprintf(buf + used, len - used, "]");
}

static void symbolic_shapes(const cb_kernel *k, symbolic *sy)
{
    static const int64_t primes[CB_MAX_PARAMS] = {1009, 1013, 1019, 1021, 1031, 1033, 1039, 1049,
                                                  1051, 1061, 1063, 1069, 1087, 1091, 1093, 1097};
    char names[CB_MAX_PARAMS][CB_NAME_MAX];
    int n = doc_names(k, names);
    cb_params p = {0};
    int64_t prime[CB_MAX_PARAMS] = {0};     /* by index in p */
    memset(sy, 0, sizeof *sy);
    for (int i = 0; i < n; i++) cb_params_set(&p, names[i], 1);
    if (!accepts(k, &p, sy->in, sy->out)) {
        p.n = 0;                             /* maybe the defaults alone work */
        if (!accepts(k, &p, sy->in, sy->out)) {
            for (int i = 0; i < k->n_in; i++) snprintf(sy->in_txt[i], sizeof sy->in_txt[i], "[...]");
            for (int i = 0; i < k->n_out; i++) snprintf(sy->out_txt[i], sizeof sy->out_txt[i], "[...]");
            return;
        }
    }
    for (int i = 0; i < p.n; i++) {
        cb_params t = p;
        t.value[i] = 0;
        if (accepts(k, &t, sy->in, sy->out)) p = t;
    }
    /* A large prime first; a parameter that must be a power of two (the
     * Hadamard length) gets a distinct one instead (2^12, 2^14, ...), and
     * one bounded by another (k_max <= n/2 + 1, Hh by Cin Hh Ww <= 2^28) a
     * small prime. Two passes, so a bound set by a later parameter can be
     * met. Last, in a third pass, a parameter with a small range of its own
     * (conv2d's odd K <= 31, which Cout Cin K^2 <= 2^28 bounds further) gets
     * the largest tiny odd prime it accepts that no other parameter has. */
    static const int64_t small[CB_MAX_PARAMS] = {101, 103, 107, 109, 113, 127, 131, 137,
                                                 139, 149, 151, 157, 163, 167, 173, 179};
    static const int64_t tiny[] = {31, 29, 23, 19, 17, 13, 11};
    for (int pass = 0; pass < 3; pass++)
        for (int i = 0; i < p.n; i++) {
            if (prime[i]) continue;
            const int64_t marks[3] = {primes[i], (int64_t)1 << (12 + 2 * i), small[i]};
            const int64_t *try = pass < 2 ? marks : tiny;
            const int n_try = pass < 2 ? 3 : (int)(sizeof tiny / sizeof tiny[0]);
            for (int m = 0; m < n_try; m++) {
                int taken = 0;
                for (int j = 0; j < p.n; j++) taken |= prime[j] == try[m];
                if (taken) continue;
                cb_params t = p;
                t.value[i] = (double)try[m];
                if (accepts(k, &t, sy->in, sy->out)) {
                    p = t;
                    prime[i] = try[m];
                    break;
                }
            }
        }
    accepts(k, &p, sy->in, sy->out);
    for (int i = 0; i < k->n_in; i++) dims_text(&sy->in[i], &p, prime, sy->in_txt[i], sizeof sy->in_txt[i]);
    for (int i = 0; i < k->n_out; i++) dims_text(&sy->out[i], &p, prime, sy->out_txt[i], sizeof sy->out_txt[i]);
    sy->ok = 1;
}

/* "q [H, N, d], k [H, M, d], v [H, M, dv]" */
static void tensor_list(char *buf, size_t len, int n, const char *const *names, char txt[][128])
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s %s", i ? ", " : "", names[i], txt[i]);
}

/* ---- help ------------------------------------------------------------------ */

static void print_kernel(FILE *f, const cb_kernel *k)
{
    symbolic sy;
    symbolic_shapes(k, &sy);
    fprintf(f, "  %s\n      %s\n      --in", k->name, k->summary);
    for (int i = 0; i < k->n_in; i++) fprintf(f, " %s=FILE %s", k->in[i], sy.in_txt[i]);
    fprintf(f, "\n      --out");
    for (int i = 0; i < k->n_out; i++) fprintf(f, " %s=FILE %s", k->out[i], sy.out_txt[i]);
    fprintf(f, "\n      params: %s\n      backends:", k->params_doc);
    for (int j = 0; cb_impls[j]; j++)
        if (strcmp(cb_impls[j]->kernel, k->name) == 0) fprintf(f, " %s", cb_impls[j]->backend);
    fprintf(f, "\n");
}

static void print_help(FILE *f, const cb_kernel *only)
{
    fprintf(f,
            "usage: claimbench run KERNEL --backend B [--set NAME=VALUE ...]\n"
            "                      --in NAME=FILE.npy ... --out NAME=FILE.npy ...\n"
            "\n"
            "Runs one implementation of one kernel on your own tensors: float32 ('<f4'),\n"
            "C-order NumPy .npy files of rank 0 to 4, as np.save(path, x.astype(np.float32))\n"
            "writes them. Every input is given exactly once with --in. The shape parameters\n"
            "come from the input files; --set gives the others (e.g. causal=1, scale=0.1)\n"
            "and must agree with the files. Each --out writes one output, atomically;\n"
            "outputs not asked for are not written.\n"
            "\n"
            "exit codes: 0 done, 2 bad usage or bad input (nothing run), 3 runtime\n"
            "failure (no output written).\n"
            "\n"
            "%s:\n", only ? "kernel" : "kernels");
    if (only) print_kernel(f, only);
    else
        for (int i = 0; cb_kernels[i]; i++) print_kernel(f, cb_kernels[i]);
    const cb_kernel *ex = only ? only : cb_kernels[0];
    if (ex) {
        fprintf(f, "\nexample:\n  claimbench run %s --backend ref", ex->name);
        for (int i = 0; i < ex->n_in; i++) fprintf(f, " --in %s=%s.npy", ex->in[i], ex->in[i]);
        for (int i = 0; i < ex->n_out; i++) fprintf(f, " --out %s=%s.npy", ex->out[i], ex->out[i]);
        fprintf(f, "\n");
    }
}

static void list_kernel_names(FILE *f)
{
    for (int i = 0; cb_kernels[i]; i++) fprintf(f, "%s%s", i ? ", " : "", cb_kernels[i]->name);
}

static void list_backends(FILE *f, const cb_kernel *k)
{
    int first = 1;
    for (int j = 0; cb_impls[j]; j++)
        if (strcmp(cb_impls[j]->kernel, k->name) == 0) {
            fprintf(f, "%s%s", first ? "" : ", ", cb_impls[j]->backend);
            first = 0;
        }
}

/* ---- the command ------------------------------------------------------------ */

typedef struct binding {
    char name[CB_NAME_MAX];
    const char *value;          /* file path (or number text for --set) */
} binding;

/* Split "NAME=VALUE". Returns 0, or -1 when there is no '=' or the name is
 * empty or too long. */
static int split_binding(const char *arg, binding *b)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg || (size_t)(eq - arg) >= CB_NAME_MAX) return -1;
    memcpy(b->name, arg, (size_t)(eq - arg));
    b->name[eq - arg] = '\0';
    b->value = eq + 1;
    return 0;
}

static int index_of(const char *const *names, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0) return i;
    return -1;
}

static int shapes_equal(const cb_shape *a, const cb_shape *b)
{
    if (a->rank != b->rank) return 0;
    for (int i = 0; i < a->rank; i++)
        if (a->dim[i] != b->dim[i]) return 0;
    return 1;
}

int cb_cmd_run(const cb_cli *cli, int argc, char **argv)
{
    const char *kname = NULL, *backend = NULL;
    binding ins[RUN_MAX_ARGS], outs[RUN_MAX_ARGS], sets[RUN_MAX_ARGS];
    int n_ins = 0, n_outs = 0, n_sets = 0, help = 0;

    /* ---- the command line ---- */
    for (int a = 1; a < argc; a++) {
        const char *arg = argv[a];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            help = 1;
            continue;
        }
        static const char *const opts[] = {"--backend", "--set", "--in", "--out"};
        int opt = -1;
        const char *val = NULL;
        for (int o = 0; o < 4; o++) {
            size_t ol = strlen(opts[o]);
            if (strcmp(arg, opts[o]) == 0) {
                opt = o;
                if (a + 1 >= argc) {
                    fprintf(stderr, "claimbench run: %s needs a value\n", opts[o]);
                    return CB_EXIT_USAGE;
                }
                val = argv[++a];
            } else if (strncmp(arg, opts[o], ol) == 0 && arg[ol] == '=') {
                opt = o;
                val = arg + ol + 1;
            }
        }
        if (opt < 0 && arg[0] == '-' && arg[1] != '\0') {
            fprintf(stderr, "claimbench run: unknown option '%s' (see 'claimbench run --help')\n", arg);
            return CB_EXIT_USAGE;
        }
        if (opt < 0) {
            if (kname) {
                fprintf(stderr, "claimbench run: unexpected argument '%s' (the kernel is '%s')\n", arg, kname);
                return CB_EXIT_USAGE;
            }
            kname = arg;
            continue;
        }
        if (opt == 0) {
            backend = val;
            continue;
        }
        binding *list = opt == 1 ? sets : opt == 2 ? ins : outs;
        int *count = opt == 1 ? &n_sets : opt == 2 ? &n_ins : &n_outs;
        if (*count >= RUN_MAX_ARGS) {
            fprintf(stderr, "claimbench run: too many %s options (at most %d)\n", opts[opt], RUN_MAX_ARGS);
            return CB_EXIT_USAGE;
        }
        if (split_binding(val, &list[*count]) != 0 || list[*count].value[0] == '\0') {
            fprintf(stderr, "claimbench run: %s '%s' is not NAME=%s\n", opts[opt], val,
                    opt == 1 ? "VALUE" : "FILE.npy");
            return CB_EXIT_USAGE;
        }
        (*count)++;
    }

    const cb_kernel *k = kname ? cb_kernel_find(kname) : NULL;
    if (help) {
        print_help(stdout, k);
        return CB_EXIT_OK;
    }
    if (!kname) {
        fprintf(stderr, "claimbench run: which kernel? one of: ");
        list_kernel_names(stderr);
        fprintf(stderr, " (see 'claimbench run --help')\n");
        return CB_EXIT_USAGE;
    }
    if (!k) {
        fprintf(stderr, "claimbench run: unknown kernel '%s'; kernels: ", kname);
        list_kernel_names(stderr);
        fprintf(stderr, "\n");
        return CB_EXIT_USAGE;
    }
    if (!backend) {
        fprintf(stderr, "claimbench run: which backend? --backend one of: ");
        list_backends(stderr, k);
        fprintf(stderr, "\n");
        return CB_EXIT_USAGE;
    }
    const cb_impl *impl = cb_impl_find(k->name, backend);
    if (!impl) {
        fprintf(stderr, "claimbench run: kernel %s has no backend '%s'; backends: ", k->name, backend);
        list_backends(stderr, k);
        fprintf(stderr, "\n");
        return CB_EXIT_USAGE;
    }

    symbolic sy;
    symbolic_shapes(k, &sy);
    char expected_in[1024], expected_out[1024];
    tensor_list(expected_in, sizeof expected_in, k->n_in, k->in, sy.in_txt);
    tensor_list(expected_out, sizeof expected_out, k->n_out, k->out, sy.out_txt);

    /* ---- --set: parameters the files do not give ---- */
    char pnames[CB_MAX_PARAMS][CB_NAME_MAX];
    int n_pnames = doc_names(k, pnames);
    cb_params user = {0};
    for (int i = 0; i < n_sets; i++) {
        if (n_pnames > 0 && !doc_has(pnames, n_pnames, sets[i].name)) {
            fprintf(stderr, "claimbench run: %s has no parameter '%s'; parameters: %s\n", k->name,
                    sets[i].name, k->params_doc);
            return CB_EXIT_USAGE;
        }
        if (cb_params_has(&user, sets[i].name)) {
            fprintf(stderr, "claimbench run: --set %s given twice\n", sets[i].name);
            return CB_EXIT_USAGE;
        }
        char *end;
        errno = 0;
        double v = strtod(sets[i].value, &end);
        if (end == sets[i].value || *end != '\0' || errno == ERANGE) {
            fprintf(stderr, "claimbench run: --set %s=%s: '%s' is not a number\n", sets[i].name,
                    sets[i].value, sets[i].value);
            return CB_EXIT_USAGE;
        }
        if (cb_params_set(&user, sets[i].name, v) != 0) {
            fprintf(stderr, "claimbench run: too many parameters\n");
            return CB_EXIT_USAGE;
        }
    }

    /* ---- --in / --out: every input once, known outputs only ---- */
    const char *in_path[CB_MAX_TENSORS] = {0}, *out_path[CB_MAX_TENSORS] = {0};
    for (int i = 0; i < n_ins; i++) {
        int j = index_of(k->in, k->n_in, ins[i].name);
        if (j < 0) {
            fprintf(stderr, "claimbench run: %s has no input '%s'; its inputs: %s\n", k->name,
                    ins[i].name, expected_in);
            return CB_EXIT_USAGE;
        }
        if (in_path[j]) {
            fprintf(stderr, "claimbench run: input '%s' given twice (%s and %s)\n", ins[i].name,
                    in_path[j], ins[i].value);
            return CB_EXIT_USAGE;
        }
        in_path[j] = ins[i].value;
    }
    for (int i = 0; i < n_outs; i++) {
        int j = index_of(k->out, k->n_out, outs[i].name);
        if (j < 0) {
            fprintf(stderr, "claimbench run: %s has no output '%s'; its outputs: %s\n", k->name,
                    outs[i].name, expected_out);
            return CB_EXIT_USAGE;
        }
        if (out_path[j]) {
            fprintf(stderr, "claimbench run: output '%s' given twice (%s and %s)\n", outs[i].name,
                    out_path[j], outs[i].value);
            return CB_EXIT_USAGE;
        }
        out_path[j] = outs[i].value;
    }
    {
        char missing[256] = "";
        size_t used = 0;
        for (int j = 0; j < k->n_in; j++)
            if (!in_path[j] && used < sizeof missing)
                used += (size_t)snprintf(missing + used, sizeof missing - used, "%s%s", used ? ", " : "", k->in[j]);
        if (used) {
            fprintf(stderr, "claimbench run: missing --in for %s; %s takes --in NAME=FILE.npy for each of: %s\n",
                    missing, k->name, expected_in);
            return CB_EXIT_USAGE;
        }
    }

    /* ---- read the inputs and check their shapes ---- */
    int rc = CB_EXIT_USAGE;
    char err[1024];
    cb_tensor in[CB_MAX_TENSORS], out[CB_MAX_TENSORS];
    memset(in, 0, sizeof in);
    memset(out, 0, sizeof out);
    cb_shape file_sh[CB_MAX_TENSORS], in_sh[CB_MAX_TENSORS], out_sh[CB_MAX_TENSORS];
    memset(file_sh, 0, sizeof file_sh);
    memset(in_sh, 0, sizeof in_sh);
    memset(out_sh, 0, sizeof out_sh);
    void *state = NULL;
    int prepared = 0;
    cb_params p = user;

    for (int i = 0; i < k->n_in; i++) {
        if (cb_npy_read(in_path[i], &in[i], k->in[i], err, sizeof err) != 0) {
            fprintf(stderr, "claimbench run: input %s: %s\n", k->in[i], err);
            goto done;
        }
        file_sh[i] = in[i].shape;
        if (sy.ok && file_sh[i].rank != sy.in[i].rank) {
            char got[128];
            cb_shape_format(&file_sh[i], got, sizeof got);
            fprintf(stderr, "claimbench run: input %s (%s) has rank %d, shape %s; %s needs rank %d: %s %s\n",
                    k->in[i], in_path[i], file_sh[i].rank, got, k->name, sy.in[i].rank, k->in[i],
                    sy.in_txt[i]);
            goto done;
        }
    }
    if (k->infer && k->infer(&p, file_sh, err, sizeof err) != 0) {
        fprintf(stderr, "claimbench run: %s\n", err);
        goto done;
    }
    for (int i = 0; i < user.n; i++) {
        double from_files = cb_params_get(&p, user.name[i], user.value[i]);
        if (from_files != user.value[i]) {
            fprintf(stderr, "claimbench run: --set %s=%.17g contradicts the input files, which give %s=%.17g\n",
                    user.name[i], user.value[i], user.name[i], from_files);
            goto done;
        }
    }
    if (k->shapes(&p, in_sh, out_sh, err, sizeof err) != 0) {
        fprintf(stderr, "claimbench run: %s\n", err);
        goto done;
    }
    char pf[512];
    cb_params_format(&p, pf, sizeof pf);
    for (int i = 0; i < k->n_in; i++)
        if (!shapes_equal(&in_sh[i], &file_sh[i])) {
            char want[128], got[128];
            cb_shape_format(&in_sh[i], want, sizeof want);
            cb_shape_format(&file_sh[i], got, sizeof got);
            fprintf(stderr, "claimbench run: input %s (%s) has shape %s, but %s at %s needs %s %s = %s\n",
                    k->in[i], in_path[i], got, k->name, pf, k->in[i], sy.in_txt[i], want);
            goto done;
        }

    /* ---- run ---- */
    rc = CB_EXIT_ERROR;
    for (int i = 0; i < k->n_out; i++)
        if (cb_tensor_alloc(&out[i], k->out[i], &out_sh[i]) != 0) {
            char sh[128];
            cb_shape_format(&out_sh[i], sh, sizeof sh);
            fprintf(stderr, "claimbench run: cannot allocate output %s %s: %s\n", k->out[i], sh, strerror(errno));
            goto done;
        }
    err[0] = '\0';
    if (impl->prepare && impl->prepare(&state, &p, in, out, err, sizeof err) != 0) {
        fprintf(stderr, "claimbench run: %s/%s: prepare failed: %s\n", k->name, backend, err[0] ? err : "(no message)");
        goto done;
    }
    prepared = 1;
    if (impl->run(state, &p, in, out) != 0) {
        fprintf(stderr, "claimbench run: %s/%s at %s: the run failed; no output written\n", k->name, backend, pf);
        goto done;
    }
    if (impl->release) impl->release(state);
    prepared = 0;

    /* ---- write the outputs asked for ---- */
    for (int i = 0; i < k->n_out; i++) {
        if (!out_path[i]) continue;
        if (cb_npy_write(out_path[i], &out[i], err, sizeof err) != 0) {
            fprintf(stderr, "claimbench run: output %s: %s\n", k->out[i], err);
            goto done;
        }
        if (!cli->quiet) {
            char sh[128];
            cb_shape_format(&out[i].shape, sh, sizeof sh);
            fprintf(stderr, "claimbench run: %s/%s at %s: wrote %s %s to %s\n", k->name, backend, pf,
                    k->out[i], sh, out_path[i]);
        }
    }
    rc = CB_EXIT_OK;

done:
    if (prepared && impl->release) impl->release(state);
    for (int i = 0; i < k->n_in; i++) cb_tensor_free(&in[i]);
    for (int i = 0; i < k->n_out; i++) cb_tensor_free(&out[i]);
    return rc;
}
