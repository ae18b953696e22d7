/* isolate.c — fork + exec this binary as a child under a time limit, read
 * its result from a pipe, and stop it when the parent is interrupted (see
 * isolate.h for why exec, and what the child may do before it).
 */
#define _POSIX_C_SOURCE 200809L
#include "isolate.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "kernel.h"   /* cb_fail */

/* The signal that asked this process to stop, or 0. The one mutable global
 * of claimbench: the SIGINT/SIGTERM handler sets it and does nothing else;
 * cb_isolate_run and the callers between cases read it. */
static volatile sig_atomic_t interrupted_by;

static void on_stop_signal(int sig)
{
    interrupted_by = sig;
}

/* How often a waiting parent looks at the flag: a signal delivered to
 * another thread (OpenBLAS and OpenMP keep some) does not interrupt poll()
 * in this one. */
#define POLL_SLICE_MS 100

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

const char *cb_signal_name(int sig, char *buf, size_t len)
{
    static const struct {
        int sig;
        const char *name;
    } names[] = {
        {SIGSEGV, "SIGSEGV"}, {SIGABRT, "SIGABRT"}, {SIGBUS, "SIGBUS"},   {SIGFPE, "SIGFPE"},
        {SIGILL, "SIGILL"},   {SIGKILL, "SIGKILL"}, {SIGTERM, "SIGTERM"}, {SIGINT, "SIGINT"},
        {SIGPIPE, "SIGPIPE"}, {SIGQUIT, "SIGQUIT"}, {SIGHUP, "SIGHUP"},   {SIGALRM, "SIGALRM"},
        {SIGUSR1, "SIGUSR1"}, {SIGUSR2, "SIGUSR2"},
#ifdef SIGTRAP
        {SIGTRAP, "SIGTRAP"},
#endif
#ifdef SIGSYS
        {SIGSYS, "SIGSYS"},
#endif
#ifdef SIGXCPU
        {SIGXCPU, "SIGXCPU"},
#endif
#ifdef SIGXFSZ
        {SIGXFSZ, "SIGXFSZ"},
#endif
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].sig == sig)
            return names[i].name;
    snprintf(buf, len, "signal %d", sig);
    return buf;
}

/* ---- the child, between fork and exec: async-signal-safe calls only ----- */

static void exec_child(char *const argv[], int wfd, pid_t parent)
{
    setpgid(0, 0);
#ifdef __linux__
    /* Die with the parent; if it is already gone, do not start at all. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
#else
    (void)parent;
#endif
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (wfd == CB_ISOLATE_FD) {
        if (fcntl(wfd, F_SETFD, 0) != 0)   /* keep it open across exec */
            _exit(127);
    } else if (dup2(wfd, CB_ISOLATE_FD) < 0) {   /* the copy is not close-on-exec */
        _exit(127);
    }
    dup2(STDERR_FILENO, STDOUT_FILENO);
    execv("/proc/self/exe", argv);
    _exit(127);
}

/* ---- the parent ------------------------------------------------------------ */

/* Kill the child's group (and the child, should it not lead one yet) and reap it. */
static void kill_and_reap(pid_t pid, int *status)
{
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    while (waitpid(pid, status, 0) < 0 && errno == EINTR)
        ;
}

/* Append what is readable on fd to r->out (beyond the cap: read and drop).
 * Returns 1 at end of file, 0 otherwise. */
static int drain(int fd, cb_isolate_result *r, size_t *cap)
{
    char chunk[4096];
    ssize_t got = read(fd, chunk, sizeof chunk);
    if (got == 0)
        return 1;
    if (got < 0)
        return errno == EINTR || errno == EAGAIN ? 0 : 1;
    size_t keep = (size_t)got;
    if (r->len + keep > CB_ISOLATE_MAX_OUT)
        keep = CB_ISOLATE_MAX_OUT - r->len;
    if (keep == 0)
        return 0;
    if (r->len + keep + 1 > *cap) {
        size_t nc = *cap;
        while (r->len + keep + 1 > nc)
            nc *= 2;
        char *g = realloc(r->out, nc);
        if (!g)
            return 0;   /* keep what fits; the caller's parser sees a cut result */
        r->out = g;
        *cap = nc;
    }
    memcpy(r->out + r->len, chunk, keep);
    r->len += keep;
    r->out[r->len] = '\0';
    return 0;
}

int cb_isolate_run(char *const argv[], double limit_s, cb_isolate_result *r, char *err,
                   size_t errlen)
{
    memset(r, 0, sizeof *r);
    r->limit = limit_s;
    size_t cap = 256;
    if (!(r->out = malloc(cap)))
        return cb_fail(err, errlen, "out of memory");
    r->out[0] = '\0';
    if (interrupted_by) {   /* asked to stop already: start nothing */
        r->end = CB_ISO_INTERRUPTED;
        r->code = interrupted_by;
        return 0;
    }

    int fd[2];
    if (pipe(fd) != 0) {
        int e = errno;
        cb_isolate_free(r);
        return cb_fail(err, errlen, "pipe: %s", strerror(e));
    }
    fcntl(fd[0], F_SETFD, FD_CLOEXEC);
    fcntl(fd[1], F_SETFD, FD_CLOEXEC);
    pid_t parent = getpid();
    double t0 = now_s(), deadline = t0 + limit_s;
    fflush(NULL);   /* what the parent printed so far comes before what the child prints */
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(fd[0]);
        close(fd[1]);
        cb_isolate_free(r);
        return cb_fail(err, errlen, "fork: %s", strerror(e));
    }
    if (pid == 0)
        exec_child(argv, fd[1], parent);
    close(fd[1]);
    setpgid(pid, pid);   /* as the child does: whichever runs first */
    r->pid = (long)pid;

    int status = 0, reaped = 0, eof = 0;
    for (;;) {
        if (interrupted_by) {
            r->end = CB_ISO_INTERRUPTED;
            r->code = interrupted_by;
            break;
        }
        double left = deadline - now_s();
        if (left <= 0) {
            r->end = CB_ISO_TIMEOUT;
            break;
        }
        int slice = left * 1000 < POLL_SLICE_MS ? (int)(left * 1000) + 1 : POLL_SLICE_MS;
        if (!eof) {
            struct pollfd p = {fd[0], POLLIN, 0};
            int n = poll(&p, 1, slice);
            if (n > 0)
                eof = drain(fd[0], r, &cap);
            continue;
        }
        /* The pipe is closed: the child is exiting (or has closed it and
         * goes on running, which the deadline still bounds). */
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) {
            reaped = 1;
            break;
        }
        struct timespec nap = {0, 2 * 1000 * 1000};
        nanosleep(&nap, NULL);
    }
    if (!reaped)
        kill_and_reap(pid, &status);
    else
        kill(-pid, SIGKILL);   /* anything it left behind in its group */
    close(fd[0]);
    r->seconds = now_s() - t0;
    if (reaped) {
        if (WIFSIGNALED(status)) {
            r->end = CB_ISO_SIGNALED;
            r->code = WTERMSIG(status);
        } else {
            r->end = CB_ISO_EXITED;
            r->code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        }
    }
    return 0;
}

void cb_isolate_free(cb_isolate_result *r)
{
    free(r->out);
    r->out = NULL;
    r->len = 0;
}

int cb_isolate_ok(const cb_isolate_result *r)
{
    return r->end == CB_ISO_EXITED && r->code == 0;
}

void cb_isolate_describe(const cb_isolate_result *r, int short_form, char *buf, size_t len)
{
    char sb[32];
    switch (r->end) {
    case CB_ISO_SIGNALED:
        snprintf(buf, len, "%s%s", short_form ? "" : "killed by ",
                 cb_signal_name(r->code, sb, sizeof sb));
        break;
    case CB_ISO_TIMEOUT:
        snprintf(buf, len, short_form ? "time limit %g s" : "time limit of %g s exceeded", r->limit);
        break;
    case CB_ISO_INTERRUPTED:
        snprintf(buf, len, "interrupted by %s", cb_signal_name(r->code, sb, sizeof sb));
        break;
    case CB_ISO_EXITED:
    default:
        if (r->code == 127)
            snprintf(buf, len, "%s", short_form ? "exit status 127" : "could not start (exit status 127)");
        else
            snprintf(buf, len, "%s %d", short_form ? "exit status" : "exited with status", r->code);
        break;
    }
}

FILE *cb_isolate_reply(char *err, size_t errlen)
{
    if (fcntl(CB_ISOLATE_FD, F_GETFD) < 0) {
        cb_fail(err, errlen, "file descriptor %d is not open: this subcommand is internal "
                "(bench runs it in a child process)", CB_ISOLATE_FD);
        return NULL;
    }
    FILE *f = fdopen(CB_ISOLATE_FD, "w");
    if (!f)
        cb_fail(err, errlen, "fdopen(%d): %s", CB_ISOLATE_FD, strerror(errno));
    return f;
}

/* ---- interruption ------------------------------------------------------------ */

int cb_isolate_catch(cb_isolate_signals *s)
{
    static const int sigs[2] = {SIGINT, SIGTERM};
    memset(s, 0, sizeof *s);
    interrupted_by = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;   /* no SA_RESTART: a waiting call returns at once */
    for (int i = 0; i < 2; i++) {
        struct sigaction cur;
        if (sigaction(sigs[i], NULL, &cur) != 0)
            return -1;
        if (cur.sa_handler == SIG_IGN)
            continue;
        if (sigaction(sigs[i], &sa, &s->old[i]) != 0)
            return -1;
        s->caught[i] = 1;
    }
    return 0;
}

void cb_isolate_release(cb_isolate_signals *s)
{
    static const int sigs[2] = {SIGINT, SIGTERM};
    for (int i = 0; i < 2; i++)
        if (s->caught[i]) {
            sigaction(sigs[i], &s->old[i], NULL);
            s->caught[i] = 0;
        }
}

int cb_isolate_interrupted(void)
{
    return (int)interrupted_by;
}
