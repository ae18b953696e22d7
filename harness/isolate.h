/* isolate.h — run one piece of work in a child process, with a time limit.
 *
 * A backend that crashes (SIGSEGV, abort) or hangs must cost one case, not
 * the run. So every timed case (bench.c) and every agreement comparison
 * (agree.c) runs in a child process, and the parent only reads what the
 * child reports back through a pipe: a crash or a time-out becomes a failed
 * case whose note names the signal or the limit, and the run goes on.
 *
 * Why fork + exec of claimbench itself, and not a bare fork. By the time a
 * case runs the parent is multi-threaded: OpenBLAS (the pthreads build)
 * starts its thread pool when the library is loaded, libgomp keeps the
 * OpenMP team of oneDNN and of the machine measurement alive. After fork()
 * in a multi-threaded process the child may only make async-signal-safe
 * calls until it execs: its copies of those pools have lost their threads
 * (libgomp is known to hang in a forked child that enters a parallel
 * region) and a lock another thread held stays held for ever. Exec starts
 * the child as a fresh process that initializes its libraries itself, so a
 * case measures exactly what a standalone run would, and the parent may use
 * OpenBLAS and oneDNN freely (the machine figures are measured there). The
 * cost is one process start per case, about 40-100 ms on a 2-core VM, small
 * beside a case.
 *
 * The child is the running binary itself (/proc/self/exe, so a binary
 * rebuilt during a run cannot mix versions) with a hidden subcommand of
 * bench (`bench __case ...`, `bench __agree ...`: hidden there so that no
 * other file has to know about isolation). It writes its result to file
 * descriptor CB_ISOLATE_FD, the write end of a pipe the parent reads; its
 * stdout goes to the parent's stderr, so nothing a library prints can reach
 * the parent's stdout (a TAP stream, a run path). Between fork and exec the
 * child makes only async-signal-safe calls: it leads its own process group
 * (a time-out kills the whole group), asks the kernel to SIGKILL it when the
 * parent dies (Linux PR_SET_PDEATHSIG: a parent killed with SIGKILL leaves
 * no orphan running a hung case) and unblocks every signal.
 *
 * Interruption. cb_isolate_catch() installs a SIGINT/SIGTERM handler that
 * records the signal in one volatile sig_atomic_t (the only mutable global
 * of claimbench, in isolate.c); cb_isolate_run notices it while it waits,
 * kills the child and returns CB_ISO_INTERRUPTED, and the caller asks
 * cb_isolate_interrupted() between cases. A signal ignored when the process
 * started (nohup, a background job of a script) stays ignored.
 */
#ifndef CB_ISOLATE_H
#define CB_ISOLATE_H

#include <signal.h>
#include <stddef.h>
#include <stdio.h>

/* The child's result channel (stdin, stdout and stderr are 0-2). */
#define CB_ISOLATE_FD 3
/* More than this from a child is cut (results are a few lines). */
#define CB_ISOLATE_MAX_OUT (1 << 20)

typedef enum {
    CB_ISO_EXITED,          /* the child exited; code = its exit status */
    CB_ISO_SIGNALED,        /* a signal killed it; code = the signal */
    CB_ISO_TIMEOUT,         /* it ran past the limit and was killed */
    CB_ISO_INTERRUPTED,     /* this process was asked to stop (code = SIGINT/SIGTERM); the child was killed */
} cb_iso_end;

typedef struct cb_isolate_result {
    cb_iso_end end;
    int code;
    double seconds;         /* the child's wall time */
    double limit;           /* the time limit it ran under, seconds */
    long pid;               /* the child's pid (names its temporary files) */
    char *out;              /* what it wrote to CB_ISOLATE_FD, NUL-terminated (never NULL after success) */
    size_t len;
} cb_isolate_result;

/* Run argv (argv[0] is only the name the child sees; the program is this
 * binary) in a child, collect what it writes to CB_ISOLATE_FD, and wait for
 * it at most limit_s seconds (then kill its process group). Returns 0 with
 * r filled (free it with cb_isolate_free), or -1 with err when no child
 * could be started (pipe, fork, memory). */
int cb_isolate_run(char *const argv[], double limit_s, cb_isolate_result *r, char *err,
                   size_t errlen);
void cb_isolate_free(cb_isolate_result *r);

/* 1 when the child exited with status 0. */
int cb_isolate_ok(const cb_isolate_result *r);

/* Why a child did not succeed. Long form for notes and TAP ("killed by
 * SIGSEGV", "time limit of 60 s exceeded", "exited with status 3",
 * "interrupted by SIGINT"); short form for progress lines ("SIGSEGV",
 * "time limit 60 s", "exit status 3"). */
void cb_isolate_describe(const cb_isolate_result *r, int short_form, char *buf, size_t len);

/* "SIGSEGV", "SIGABRT", ...; "signal N" for one without a name here. The
 * result may be buf. */
const char *cb_signal_name(int sig, char *buf, size_t len);

/* In a child: the stream to write the result to (CB_ISOLATE_FD), or NULL
 * with err when the process was not started by cb_isolate_run. */
FILE *cb_isolate_reply(char *err, size_t errlen);

/* ---- interruption (SIGINT, SIGTERM) ----------------------------------- */

typedef struct cb_isolate_signals {
    int caught[2];                  /* SIGINT, SIGTERM: our handler installed */
    struct sigaction old[2];
} cb_isolate_signals;

/* Clear the flag and install the handler (unless the signal was ignored on
 * entry). Returns 0, or -1 (errno set). */
int cb_isolate_catch(cb_isolate_signals *s);
/* Put the previous handlers back. */
void cb_isolate_release(cb_isolate_signals *s);
/* The signal received since cb_isolate_catch, or 0. */
int cb_isolate_interrupted(void);

#endif
