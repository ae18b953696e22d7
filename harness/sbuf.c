/* sbuf.c — the growing string of sbuf.h. */
#include "sbuf.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void cb_sb_printf(cb_sbuf *b, const char *fmt, ...)
{
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->oom = 1;
            return;
        }
        if (b->s && b->len + (size_t)k < b->cap) {
            b->len += (size_t)k;
            return;
        }
        size_t cap = b->cap ? b->cap : 4096;
        while (cap <= b->len + (size_t)k) cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->oom = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
}

void cb_sb_json_str(cb_sbuf *b, const char *s)
{
    cb_sb_printf(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') cb_sb_printf(b, "\\%c", *p);
        else if (*p == '\n') cb_sb_printf(b, "\\n");
        else if (*p == '\t') cb_sb_printf(b, "\\t");
        else if (*p < 0x20) cb_sb_printf(b, "\\u%04x", *p);
        else cb_sb_printf(b, "%c", *p);
    }
    cb_sb_printf(b, "\"");
}

void cb_sb_json_num(cb_sbuf *b, double v)
{
    if (isfinite(v)) cb_sb_printf(b, "%.6g", v);
    else cb_sb_printf(b, "null");
}

void cb_sb_free(cb_sbuf *b)
{
    free(b->s);
    b->s = NULL;
    b->len = b->cap = 0;
}
