/* sbuf.h — a growing string for the text claimbench writes (JSON, TSV,
 * Markdown pages): printf-style appends, with JSON escaping. An allocation
 * failure sets `oom` and turns later appends into no-ops, so a writer checks
 * once at the end. */
#ifndef CB_SBUF_H
#define CB_SBUF_H

#include <stddef.h>

typedef struct cb_sbuf {
    char *s;            /* NUL-terminated once anything was appended */
    size_t len, cap;
    int oom;
} cb_sbuf;

void cb_sb_printf(cb_sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A JSON string literal, quotes included. */
void cb_sb_json_str(cb_sbuf *b, const char *s);
/* A JSON number (%.6g), or null when not finite. */
void cb_sb_json_num(cb_sbuf *b, double v);
void cb_sb_free(cb_sbuf *b);

#endif
