/* machine.c — what ran a benchmark and how fast this machine is (machine.h).
 *
 * The identity is read from the libraries actually loaded (OpenBLAS picks its
 * kernel at load time from OPENBLAS_CORETYPE; oneDNN picks its ISA at run
 * time), never from what the build expected. The figures are measured:
 *   - fp32 FMA peak: independent FMA chains, enough of them to cover the FMA
 *     latency on every FMA port, so the loop is limited by FMA throughput;
 *   - sgemm 2048³ through OpenBLAS and oneDNN with the threads they would
 *     use in a benchmark, after a time-based warm-up (oneDNN JITs lazily);
 *   - the OpenMP fork/join time, the floor of every small multi-threaded
 *     call, which on a shared VM moves with the host's load.
 */
#define _POSIX_C_SOURCE 200809L
#include "machine.h"

#include <cblas.h>
#include <errno.h>
#include <fftw3.h>
#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- key/value pairs ---------------------------------------------------- */

int cb_machine_set(cb_machine *m, const char *key, const char *value)
{
    int i = 0;
    while (i < m->n && strcmp(m->kv[i].key, key) != 0)
        i++;
    if (i == m->n) {
        if (m->n == CB_MACHINE_MAX_KV)
            return -1;
        m->n++;
        snprintf(m->kv[i].key, sizeof m->kv[i].key, "%s", key);
    }
    char *v = m->kv[i].value;
    snprintf(v, sizeof m->kv[i].value, "%s", value ? value : "unknown");
    for (char *c = v; *c; c++)
        if (*c == '\t' || *c == '\n' || *c == '\r')
            *c = ' ';
    return 0;
}

__attribute__((format(printf, 3, 4)))
static int set_fmt(cb_machine *m, const char *key, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return cb_machine_set(m, key, buf);
}

const char *cb_machine_get(const cb_machine *m, const char *key)
{
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->kv[i].key, key) == 0)
            return m->kv[i].value;
    return NULL;
}

char *cb_machine_tsv(const cb_machine *m, size_t *len)
{
    size_t cap = 1;
    for (int i = 0; i < m->n; i++)
        cap += strlen(m->kv[i].key) + strlen(m->kv[i].value) + 2;
    char *s = malloc(cap);
    if (!s)
        return NULL;
    size_t at = 0;
    for (int i = 0; i < m->n; i++)
        at += (size_t)snprintf(s + at, cap - at, "%s\t%s\n", m->kv[i].key, m->kv[i].value);
    s[at] = '\0';
    *len = at;
    return s;
}

/* ---- identity ----------------------------------------------------------- */

/* First line of a command's output, trimmed; 0 if it ran and printed one. */
static int first_line_of(const char *cmd, char *buf, size_t len, int *nonempty)
{
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    buf[0] = '\0';
    if (!fgets(buf, (int)len, p))
        buf[0] = '\0';
    *nonempty = buf[0] != '\0';
    /* Drain the rest so the child is not killed by SIGPIPE mid-write. */
    char sink[256];
    while (fgets(sink, sizeof sink, p))
        ;
    int st = pclose(p);
    buf[strcspn(buf, "\r\n")] = '\0';
    return st == 0 ? 0 : -1;
}

void cb_machine_git_commit(char *buf, size_t len)
{
    char hash[128];
    int got;
    if (first_line_of("git rev-parse --short HEAD 2>/dev/null", hash, sizeof hash, &got) != 0 ||
        !got) {
        snprintf(buf, len, "unknown");
        return;
    }
    /* --no-optional-locks: a status query must not refresh (write) the
     * index while someone else may be committing. */
    char line[512];
    int dirty = 0;
    if (first_line_of("git --no-optional-locks status --porcelain 2>/dev/null", line, sizeof line,
                      &dirty) != 0)
        dirty = 0;
    snprintf(buf, len, "%s%s", hash, dirty ? "-dirty" : "");
}

static void cpu_model(char *buf, size_t len)
{
    snprintf(buf, len, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *colon = strchr(line, ':');
            if (colon) {
                colon++;
                while (*colon == ' ')
                    colon++;
                colon[strcspn(colon, "\n")] = '\0';
                snprintf(buf, len, "%s", colon);
            }
            break;
        }
    }
    fclose(f);
}

static const char *dnnl_isa_name(dnnl_cpu_isa_t isa)
{
    switch (isa) {
    case dnnl_cpu_isa_all: return "all";
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx512_mic: return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    }
    return "unknown";
}

static long cores_online(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? n : 1;
}

void cb_machine_info(cb_machine *m)
{
    memset(m, 0, sizeof *m);
    char buf[512];

    if (gethostname(buf, sizeof buf) != 0)
        snprintf(buf, sizeof buf, "unknown");
    buf[sizeof buf - 1] = '\0';
    cb_machine_set(m, "hostname", buf);
    cpu_model(buf, sizeof buf);
    cb_machine_set(m, "cpu", buf);
    set_fmt(m, "cores", "%ld", cores_online());

    cb_machine_set(m, "openblas_corename", openblas_get_corename());
    cb_machine_set(m, "openblas_config", openblas_get_config());
    set_fmt(m, "openblas_threads", "%d", openblas_get_num_threads());

    const dnnl_version_t *v = dnnl_version();
    set_fmt(m, "dnnl_version", "%d.%d.%d (%s)", v->major, v->minor, v->patch,
            v->hash ? v->hash : "?");
    cb_machine_set(m, "dnnl_isa", dnnl_isa_name(dnnl_get_effective_cpu_isa()));
    set_fmt(m, "omp_threads", "%d", omp_get_max_threads());
    cb_machine_set(m, "fftw_version", fftwf_version);

    /* Read only: these choose kernels and threads, and are recorded as found. */
    const char *env[] = {"OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS"};
    for (size_t i = 0; i < sizeof env / sizeof env[0]; i++) {
        const char *val = getenv(env[i]);
        char key[48];
        snprintf(key, sizeof key, "env_%s", env[i]);
        cb_machine_set(m, key, val ? val : "(unset)");
    }

    cb_machine_set(m, "compiler", "gcc " __VERSION__);
    cb_machine_git_commit(buf, sizeof buf);
    cb_machine_set(m, "commit", buf);

    time_t t = time(NULL);
    struct tm tm;
    if (gmtime_r(&t, &tm) && strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm) > 0)
        cb_machine_set(m, "date", buf);
    else
        cb_machine_set(m, "date", "unknown");
}

/* ---- fp32 FMA peak ------------------------------------------------------ */
/* Each loop runs `iters` rounds of independent chains x = x·mul + add. With
 * FMA latency 4 and two FMA ports, 8 chains in flight are needed to fill
 * the pipes; 16 (AVX-512: 32 registers) or 12 (AVX2: 16 registers, two
 * held by the constants) leave margin for a longer latency. mul < 1 keeps
 * every value finite and normal. Returns a value that depends on every
 * chain, so no chain can be dropped. */

#define CHAINS512 16
#define CHAINS256 12
#define CHAINS1 12

__attribute__((target("avx512f"), noinline))
static float fma_loop_avx512(long iters)
{
    const __m512 mul = _mm512_set1_ps(0.9999999f), add = _mm512_set1_ps(1e-7f);
    __m512 x0 = _mm512_set1_ps(0.0f), x1 = _mm512_set1_ps(0.1f), x2 = _mm512_set1_ps(0.2f),
           x3 = _mm512_set1_ps(0.3f), x4 = _mm512_set1_ps(0.4f), x5 = _mm512_set1_ps(0.5f),
           x6 = _mm512_set1_ps(0.6f), x7 = _mm512_set1_ps(0.7f), x8 = _mm512_set1_ps(0.8f),
           x9 = _mm512_set1_ps(0.9f), x10 = _mm512_set1_ps(1.0f), x11 = _mm512_set1_ps(1.1f),
           x12 = _mm512_set1_ps(1.2f), x13 = _mm512_set1_ps(1.3f), x14 = _mm512_set1_ps(1.4f),
           x15 = _mm512_set1_ps(1.5f);
    for (long i = 0; i < iters; i++) {
        x0 = _mm512_fmadd_ps(x0, mul, add); x1 = _mm512_fmadd_ps(x1, mul, add);
        x2 = _mm512_fmadd_ps(x2, mul, add); x3 = _mm512_fmadd_ps(x3, mul, add);
        x4 = _mm512_fmadd_ps(x4, mul, add); x5 = _mm512_fmadd_ps(x5, mul, add);
        x6 = _mm512_fmadd_ps(x6, mul, add); x7 = _mm512_fmadd_ps(x7, mul, add);
        x8 = _mm512_fmadd_ps(x8, mul, add); x9 = _mm512_fmadd_ps(x9, mul, add);
        x10 = _mm512_fmadd_ps(x10, mul, add); x11 = _mm512_fmadd_ps(x11, mul, add);
        x12 = _mm512_fmadd_ps(x12, mul, add); x13 = _mm512_fmadd_ps(x13, mul, add);
        x14 = _mm512_fmadd_ps(x14, mul, add); x15 = _mm512_fmadd_ps(x15, mul, add);
    }
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(x0, x1), _mm512_add_ps(x2, x3)),
                             _mm512_add_ps(_mm512_add_ps(x4, x5), _mm512_add_ps(x6, x7)));
    __m512 t = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(x8, x9), _mm512_add_ps(x10, x11)),
                             _mm512_add_ps(_mm512_add_ps(x12, x13), _mm512_add_ps(x14, x15)));
    return _mm512_reduce_add_ps(_mm512_add_ps(s, t));
}

__attribute__((target("avx2,fma"), noinline))
static float fma_loop_avx2(long iters)
{
    const __m256 mul = _mm256_set1_ps(0.9999999f), add = _mm256_set1_ps(1e-7f);
    __m256 x0 = _mm256_set1_ps(0.0f), x1 = _mm256_set1_ps(0.1f), x2 = _mm256_set1_ps(0.2f),
           x3 = _mm256_set1_ps(0.3f), x4 = _mm256_set1_ps(0.4f), x5 = _mm256_set1_ps(0.5f),
           x6 = _mm256_set1_ps(0.6f), x7 = _mm256_set1_ps(0.7f), x8 = _mm256_set1_ps(0.8f),
           x9 = _mm256_set1_ps(0.9f), x10 = _mm256_set1_ps(1.0f), x11 = _mm256_set1_ps(1.1f);
    for (long i = 0; i < iters; i++) {
        x0 = _mm256_fmadd_ps(x0, mul, add); x1 = _mm256_fmadd_ps(x1, mul, add);
        x2 = _mm256_fmadd_ps(x2, mul, add); x3 = _mm256_fmadd_ps(x3, mul, add);
        x4 = _mm256_fmadd_ps(x4, mul, add); x5 = _mm256_fmadd_ps(x5, mul, add);
        x6 = _mm256_fmadd_ps(x6, mul, add); x7 = _mm256_fmadd_ps(x7, mul, add);
        x8 = _mm256_fmadd_ps(x8, mul, add); x9 = _mm256_fmadd_ps(x9, mul, add);
        x10 = _mm256_fmadd_ps(x10, mul, add); x11 = _mm256_fmadd_ps(x11, mul, add);
    }
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(x0, x1), _mm256_add_ps(x2, x3)),
                             _mm256_add_ps(_mm256_add_ps(x4, x5), _mm256_add_ps(x6, x7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(x8, x9), _mm256_add_ps(x10, x11)));
    float lanes[8];
    _mm256_storeu_ps(lanes, s);
    float r = 0;
    for (int i = 0; i < 8; i++)
        r += lanes[i];
    return r;
}

__attribute__((noinline))
static float fma_loop_scalar(long iters)
{
    float x[CHAINS1];
    for (int c = 0; c < CHAINS1; c++)
        x[c] = 0.1f * (float)c;
    for (long i = 0; i < iters; i++)
        for (int c = 0; c < CHAINS1; c++)
            x[c] = x[c] * 0.9999999f + 1e-7f;
    float r = 0;
    for (int c = 0; c < CHAINS1; c++)
        r += x[c];
    return r;
}

typedef enum { ISA_AVX512, ISA_AVX2, ISA_SCALAR } fma_isa;

static float fma_loop(fma_isa isa, long iters)
{
    switch (isa) {
    case ISA_AVX512: return fma_loop_avx512(iters);
    case ISA_AVX2: return fma_loop_avx2(iters);
    default: return fma_loop_scalar(iters);
    }
}

/* Floating-point operations of one round (an FMA counts 2). */
static double fma_round_flops(fma_isa isa)
{
    switch (isa) {
    case ISA_AVX512: return CHAINS512 * 16 * 2.0;
    case ISA_AVX2: return CHAINS256 * 8 * 2.0;
    default: return CHAINS1 * 2.0;
    }
}

typedef struct fma_job {
    fma_isa isa;
    long iters;
    atomic_int *go;             /* 0: wait, 1: start, -1: give up */
    double t0, t1;
    float sink;
} fma_job;

static void *fma_thread(void *arg)
{
    fma_job *j = arg;
    int g;
    /* A spin, not a barrier: it can be called off if a sibling thread fails
     * to start, and it releases every thread within nanoseconds. */
    while ((g = atomic_load_explicit(j->go, memory_order_acquire)) == 0)
        ;
    if (g < 0)
        return NULL;
    j->t0 = now_s();
    j->sink = fma_loop(j->isa, j->iters);
    j->t1 = now_s();
    return NULL;
}

/* GFLOP/s of `threads` threads running `iters` rounds each, from the first
 * start to the last finish. Returns < 0 when threads cannot be started. */
static double fma_run(fma_isa isa, long iters, int threads)
{
    fma_job *jobs = calloc((size_t)threads, sizeof *jobs);
    pthread_t *tid = calloc((size_t)threads, sizeof *tid);
    if (!jobs || !tid) {
        free(jobs);
        free(tid);
        return -1;
    }
    atomic_int go;
    atomic_init(&go, 0);
    for (int i = 0; i < threads; i++)
        jobs[i] = (fma_job){isa, iters, &go, 0, 0, 0};
    int started = 0;
    for (int i = 1; i < threads; i++) {
        if (pthread_create(&tid[i], NULL, fma_thread, &jobs[i]) != 0)
            break;
        started++;
    }
    int all = started == threads - 1;
    atomic_store_explicit(&go, all ? 1 : -1, memory_order_release);
    if (all)
        fma_thread(&jobs[0]);
    for (int i = 1; i <= started; i++)
        pthread_join(tid[i], NULL);
    double g = -1;
    if (all) {
        double t0 = jobs[0].t0, t1 = jobs[0].t1;
        float sink = 0;
        for (int i = 0; i < threads; i++) {
            if (jobs[i].t0 < t0) t0 = jobs[i].t0;
            if (jobs[i].t1 > t1) t1 = jobs[i].t1;
            sink += jobs[i].sink;
        }
        /* The sum keeps the loops alive; it is finite by construction. */
        if (isfinite(sink) && t1 > t0)
            g = (double)threads * (double)iters * fma_round_flops(isa) / (t1 - t0) * 1e-9;
    }
    free(jobs);
    free(tid);
    return g;
}

/* One ~0.2 s measurement after a calibration run sized from a short one. */
static double fma_peak(fma_isa isa, int threads)
{
    long iters = 1L << 16;
    double t;
    for (;;) {
        double t0 = now_s();
        volatile float s = fma_loop(isa, iters);
        (void)s;
        t = now_s() - t0;
        if (t > 0.02 || iters > (1L << 40))
            break;
        iters *= 4;
    }
    long target = (long)((double)iters * 0.2 / t);
    if (target < 1)
        target = 1;
    return fma_run(isa, target, threads);
}

/* ---- sgemm ------------------------------------------------------------- */

typedef struct sgemm_bufs {
    int n;
    float *a, *b, *c;
} sgemm_bufs;

static int run_blas(const sgemm_bufs *s)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->n, s->n, s->n, 1.0f, s->a, s->n,
                s->b, s->n, 0.0f, s->c, s->n);
    return 0;
}

static int run_dnnl(const sgemm_bufs *s)
{
    /* dnnl_sgemm is row-major, like cblas with CblasRowMajor. */
    return dnnl_sgemm('N', 'N', s->n, s->n, s->n, 1.0f, s->a, s->n, s->b, s->n, 0.0f, s->c,
                      s->n) == dnnl_success ? 0 : -1;
}

/* C = A·B spot-checked on a few entries against a double dot product, so a
 * broken library cannot report a fast figure. */
static int sgemm_spot_check(const sgemm_bufs *s)
{
    int n = s->n;
    for (int k = 0; k < 16; k++) {
        int i = (k * 977 + 13) % n, j = (k * 571 + 101) % n;
        double ref = 0, mag = 0;
        for (int p = 0; p < n; p++) {
            ref += (double)s->a[(size_t)i * n + p] * s->b[(size_t)p * n + j];
            mag += fabs((double)s->a[(size_t)i * n + p] * s->b[(size_t)p * n + j]);
        }
        if (!(fabs(s->c[(size_t)i * n + j] - ref) <= 1e-5 * mag + 1e-30))
            return -1;
    }
    return 0;
}

/* Warm up for ≥ 0.2 s, then time `reps` calls; GFLOP/s per call in g. */
static int sgemm_measure(const sgemm_bufs *s, int (*run)(const sgemm_bufs *), double *g, int reps)
{
    double flops = 2.0 * s->n * (double)s->n * s->n;
    double t0 = now_s();
    int calls = 0;
    while (now_s() - t0 < 0.2 || calls < 2) {
        if (run(s) != 0)
            return -1;
        calls++;
    }
    if (sgemm_spot_check(s) != 0)
        return -2;
    for (int r = 0; r < reps; r++) {
        double a = now_s();
        if (run(s) != 0)
            return -1;
        g[r] = flops / (now_s() - a) * 1e-9;
    }
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void summarize(cb_machine *m, const char *prefix, const double *g, int n)
{
    double s[CB_MACHINE_SGEMM_REPS];
    memcpy(s, g, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    double med = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    char key[48];
    snprintf(key, sizeof key, "%s_gflops_median", prefix);
    set_fmt(m, key, "%.1f", med);
    snprintf(key, sizeof key, "%s_gflops_min", prefix);
    set_fmt(m, key, "%.1f", s[0]);
    snprintf(key, sizeof key, "%s_gflops_max", prefix);
    set_fmt(m, key, "%.1f", s[n - 1]);
}

/* ---- OpenMP fork/join --------------------------------------------------- */

/* The cost of opening and joining an OpenMP parallel region on every
 * thread: the least fixed cost of any multi-threaded kernel call (a oneDNN
 * primitive, an OpenMP loop; most calls pay it several times). On a shared
 * VM it moves with the host's load, because a region ends in a barrier that
 * waits for a vCPU the host may have descheduled, and with it the time of
 * every small multi-threaded call. Recorded so that a run's small-size
 * timings, and the verdicts that lean on them, can be read against it.
 * Empty regions back to back, as a benchmark loop calls (the threads are
 * still spinning from the last one): median and 90th percentile of
 * FJ_REPS regions after FJ_WARM unrecorded ones, in microseconds. */
enum { FJ_WARM = 200, FJ_REPS = 2000 };

static int fork_join_us(double *median, double *p90)
{
    double *t = malloc(FJ_REPS * sizeof *t);
    if (!t) return -1;
    const int threads = omp_get_max_threads();
    volatile int sink = 0;
    for (int i = 0; i < FJ_WARM + FJ_REPS; i++) {
        double t0 = now_s();
#pragma omp parallel num_threads(threads)
        {
            if (omp_get_thread_num() == 0) sink = sink + 1;
        }
        double dt = now_s() - t0;
        if (i >= FJ_WARM) t[i - FJ_WARM] = dt * 1e6;
    }
    qsort(t, FJ_REPS, sizeof *t, cmp_double);
    *median = 0.5 * (t[FJ_REPS / 2 - 1] + t[FJ_REPS / 2]);
    *p90 = t[FJ_REPS * 9 / 10];
    free(t);
    return 0;
}

int cb_machine_measure(cb_machine *m, char *err, size_t errlen)
{
    /* FMA peak with the widest FMA the CPU has. */
    fma_isa isa = ISA_SCALAR;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        isa = ISA_AVX512;
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        isa = ISA_AVX2;
    m->fma_isa = isa == ISA_AVX512 ? "avx512f" : isa == ISA_AVX2 ? "avx2+fma" : "scalar";
    m->fma_threads = (int)cores_online();
    m->fma_gflops_1t = fma_peak(isa, 1);
    m->fma_gflops_all = fma_peak(isa, m->fma_threads);
    if (m->fma_gflops_1t < 0 || m->fma_gflops_all < 0)
        return cb_fail(err, errlen, "FMA peak: cannot start %d threads", m->fma_threads);
    cb_machine_set(m, "fma_isa", m->fma_isa);
    set_fmt(m, "fma_gflops_1t", "%.1f", m->fma_gflops_1t);
    set_fmt(m, "fma_threads", "%d", m->fma_threads);
    set_fmt(m, "fma_gflops_all", "%.1f", m->fma_gflops_all);

    /* sgemm 2048³, with the libraries' own thread counts (recorded above). */
    sgemm_bufs s = {CB_MACHINE_SGEMM_N, NULL, NULL, NULL};
    size_t bytes = (size_t)s.n * s.n * sizeof(float);
    s.a = aligned_alloc(64, bytes);
    s.b = aligned_alloc(64, bytes);
    s.c = aligned_alloc(64, bytes);
    if (!s.a || !s.b || !s.c) {
        free(s.a);
        free(s.b);
        free(s.c);
        return cb_fail(err, errlen, "sgemm: out of memory");
    }
    /* Small exact values (multiples of 1/8 in [-1, 1]); every page touched. */
    for (size_t i = 0; i < (size_t)s.n * s.n; i++) {
        s.a[i] = (float)((int)((i * 2654435761u) % 17) - 8) / 8.0f;
        s.b[i] = (float)((int)((i * 40503u + 7) % 17) - 8) / 8.0f;
        s.c[i] = 0.0f;
    }
    int rc_b = sgemm_measure(&s, run_blas, m->sgemm_blas, CB_MACHINE_SGEMM_REPS);
    int rc_d = rc_b == 0 ? sgemm_measure(&s, run_dnnl, m->sgemm_dnnl, CB_MACHINE_SGEMM_REPS) : 0;
    free(s.a);
    free(s.b);
    free(s.c);
    if (rc_b != 0)
        return cb_fail(err, errlen, "sgemm through OpenBLAS: %s",
                       rc_b == -2 ? "wrong result" : "failed");
    if (rc_d != 0)
        return cb_fail(err, errlen, "sgemm through oneDNN: %s",
                       rc_d == -2 ? "wrong result" : "dnnl_sgemm failed");
    set_fmt(m, "sgemm_n", "%d", CB_MACHINE_SGEMM_N);
    summarize(m, "sgemm_blas", m->sgemm_blas, CB_MACHINE_SGEMM_REPS);
    summarize(m, "sgemm_dnnl", m->sgemm_dnnl, CB_MACHINE_SGEMM_REPS);

    double fj_med, fj_p90;
    if (fork_join_us(&fj_med, &fj_p90) != 0)
        return cb_fail(err, errlen, "OpenMP fork/join: out of memory");
    set_fmt(m, "omp_fork_join_us_median", "%.2f", fj_med);
    set_fmt(m, "omp_fork_join_us_p90", "%.2f", fj_p90);
    m->measured = 1;
    return 0;
}

int cb_machine_rows(const cb_machine *m, cb_table *t)
{
    if (!m->measured)
        return 0;
    char note[128];
    cb_params p = {0};
    cb_params_set(&p, "threads", 1);
    snprintf(note, sizeof note, "%s, 1 thread", m->fma_isa);
    if (cb_table_add(t, CB_ROW_METRIC, "_machine", "fma_peak", "-", "gflops_1t", &p,
                     &m->fma_gflops_1t, 1, note) != 0)
        return -1;
    cb_params_set(&p, "threads", m->fma_threads);
    snprintf(note, sizeof note, "%s, %d threads", m->fma_isa, m->fma_threads);
    if (cb_table_add(t, CB_ROW_METRIC, "_machine", "fma_peak", "-", "gflops_all", &p,
                     &m->fma_gflops_all, 1, note) != 0)
        return -1;
    cb_params q = {0};
    cb_params_set(&q, "n", CB_MACHINE_SGEMM_N);
    const char *bc = cb_machine_get(m, "openblas_corename");
    const char *di = cb_machine_get(m, "dnnl_isa");
    snprintf(note, sizeof note, "cblas_sgemm, core %s, %s threads", bc ? bc : "?",
             cb_machine_get(m, "openblas_threads") ? cb_machine_get(m, "openblas_threads") : "?");
    if (cb_table_add(t, CB_ROW_METRIC, "_machine", "sgemm", "blas", "gflops", &q, m->sgemm_blas,
                     CB_MACHINE_SGEMM_REPS, note) != 0)
        return -1;
    snprintf(note, sizeof note, "dnnl_sgemm, isa %s, %s threads", di ? di : "?",
             cb_machine_get(m, "omp_threads") ? cb_machine_get(m, "omp_threads") : "?");
    if (cb_table_add(t, CB_ROW_METRIC, "_machine", "sgemm", "dnnl", "gflops", &q, m->sgemm_dnnl,
                     CB_MACHINE_SGEMM_REPS, note) != 0)
        return -1;
    return 0;
}
