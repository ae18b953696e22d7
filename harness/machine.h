/* machine.h — what ran a benchmark and how fast this machine is.
 *
 * Two halves. The identity (cb_machine_info, instant): host, CPU, cores,
 * the BLAS and oneDNN actually loaded and the ISA they chose, thread counts,
 * the environment variables that change them (read, never set), compiler,
 * git commit, date. The figures (cb_machine_measure, about 2 s): the fp32 FMA
 * peak with one thread and with one thread per core, sgemm 2048³ throughput
 * through OpenBLAS and oneDNN, and the OpenMP fork/join time (median and
 * 90th percentile, µs: machine.tsv only), so every run's timings can be read
 * against what the hardware and the libraries can do here, and its smallest
 * multi-threaded calls against what the host's load let a barrier cost.
 *
 * Both are kept as ordered key/value pairs (machine.tsv in a run folder) and
 * the figures also as table rows of task "_machine".
 */
#ifndef CB_MACHINE_H
#define CB_MACHINE_H

#include <stddef.h>

#include "table.h"

#define CB_MACHINE_MAX_KV 64
#define CB_MACHINE_SGEMM_REPS 5
#define CB_MACHINE_SGEMM_N 2048

typedef struct cb_machine_kv {
    char key[48];
    char value[512];            /* no tabs or newlines */
} cb_machine_kv;

typedef struct cb_machine {
    int n;
    cb_machine_kv kv[CB_MACHINE_MAX_KV];
    /* Filled by cb_machine_measure (0 until then). */
    int measured;
    const char *fma_isa;        /* "avx512f", "avx2+fma" or "scalar" */
    int fma_threads;            /* threads of the all-cores measurement */
    double fma_gflops_1t, fma_gflops_all;
    double sgemm_blas[CB_MACHINE_SGEMM_REPS];   /* GFLOP/s per repetition */
    double sgemm_dnnl[CB_MACHINE_SGEMM_REPS];
} cb_machine;

/* Fill the identity pairs (m is reset first). Never fails: what cannot be
 * found is recorded as "unknown". */
void cb_machine_info(cb_machine *m);

/* Measure the figures and append them as pairs. Returns 0, or -1 with err
 * (out of memory, a oneDNN failure). */
int cb_machine_measure(cb_machine *m, char *err, size_t errlen);

/* The value of `key`, or NULL. */
const char *cb_machine_get(const cb_machine *m, const char *key);
/* Set (insert or overwrite) a pair; tabs and newlines in value become
 * spaces, an over-long value is cut. Returns 0, or -1 when full. */
int cb_machine_set(cb_machine *m, const char *key, const char *value);

/* "key\tvalue\n" lines, in order. Returns a malloc'ed string (the caller
 * frees it) with its length in *len, or NULL on allocation failure. */
char *cb_machine_tsv(const cb_machine *m, size_t *len);

/* Append the figures as rows: task "_machine", kernel "fma_peak" backend "-"
 * metrics "gflops_1t"/"gflops_all" (note: ISA and threads); kernel "sgemm"
 * backends "blas"/"dnnl" metric "gflops" with every repetition, params
 * {n: 2048}. Nothing is appended before cb_machine_measure. Returns 0 or -1. */
int cb_machine_rows(const cb_machine *m, cb_table *t);

/* "<short hash>[-dirty]" of the git work tree of the current folder, or
 * "unknown". */
void cb_machine_git_commit(char *buf, size_t len);

#endif
