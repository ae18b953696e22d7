/* tap.h — the few TAP helpers the C tests share (header-only).
 *
 * Usage: tap_plan(n) or tap_no_plan(); ok(cond, "name %d", x); ...;
 * return tap_done(); Diagnostics go to stdout as "# ..." lines. */
#ifndef CB_TAP_H
#define CB_TAP_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>

typedef struct tap_state { int planned, run, failed; } tap_state;
static tap_state tap_g; /* test-process bookkeeping, the one global a TAP producer needs */

static inline void tap_plan(int n) { tap_g.planned = n; printf("1..%d\n", n); fflush(stdout); }
static inline void tap_no_plan(void) { tap_g.planned = -1; }

__attribute__((format(printf, 2, 3)))
static inline int ok(int cond, const char *fmt, ...)
{
    va_list ap;
    tap_g.run++;
    if (!cond) tap_g.failed++;
    printf("%s %d - ", cond ? "ok" : "not ok", tap_g.run);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    return cond;
}

__attribute__((format(printf, 1, 2)))
static inline void diag(const char *fmt, ...)
{
    va_list ap;
    printf("# ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

static inline int tap_done(void)
{
    if (tap_g.planned < 0) printf("1..%d\n", tap_g.run);
    else if (tap_g.planned != tap_g.run) {
        printf("# planned %d tests but ran %d\n", tap_g.planned, tap_g.run);
        return 1;
    }
    return tap_g.failed ? 1 : 0;
}

#endif
