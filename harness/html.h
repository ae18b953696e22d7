/* html.h — the reports as web pages: reports/<page>.html from <page>.md.
 *
 * Each Markdown report (index.md and one per task) is rendered with libcmark
 * (CommonMark, raw HTML in the source omitted: CMARK_OPT_UNSAFE is off) into
 * a standalone page with a small inline style sheet and no script. CommonMark
 * has no tables, so the pipe tables the reports are made of (GitHub's form:
 * a header row, a delimiter row such as | --- | ---: |, body rows) are found
 * here and written as HTML tables, their cells rendered as inline Markdown.
 * Links to another report page's .md become links to its .html; figures stay
 * where the Markdown points (figures/<stem>.svg). Every link is relative, so
 * the folder reads from disk (file://) or from any static server. Each page
 * is written atomically.
 */
#ifndef CB_HTML_H
#define CB_HTML_H

#include <stddef.h>

/* Render Markdown text md (len bytes) as a complete HTML page into *out
 * (malloc'd, NUL-terminated, *out_len bytes; free with free()). pages are the
 * names (no extension) of the pages rendered beside it: a link to "<name>.md"
 * (with an optional #fragment) for one of them becomes "<name>.html".
 * source names the .md file in the page's footer (may be NULL). Returns 0,
 * or -1 with err. */
int cb_html_page(const char *md, size_t len, const char *source, const char *const *pages,
                 int n_pages, char **out, size_t *out_len, char *err, size_t errlen);

/* Render <dir>/<page>.md into <dir>/<page>.html for every page of pages.
 * Returns 0, or -1 with err naming the file (pages already written stay). */
int cb_html_write_reports(const char *dir, const char *const *pages, int n_pages, char *err,
                          size_t errlen);

#endif
