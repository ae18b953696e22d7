/* html.c — render the Markdown reports as standalone HTML pages (libcmark).
 *
 * One pass over the lines takes every pipe table out of the Markdown and
 * leaves in its place a paragraph holding a unique token; libcmark parses the
 * rest as one document (so lists, code blocks and reference links keep their
 * meaning across the tables), its link nodes are rewritten (.md → .html for
 * the sibling pages), and it renders with the safe defaults (raw HTML is
 * omitted, dangerous URLs dropped). Each token's paragraph is then replaced
 * by the table's HTML, built here with its cells rendered by libcmark as
 * inline Markdown. Fenced code blocks are copied through untouched, so a
 * table shown inside one stays text.
 */
#include "html.h"

#include <cmark.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel.h"
#include "results.h"
#include "sbuf.h"

#define MAX_COLS 64

/* ---- small text helpers ----------------------------------------------------- */

static void html_escape(cb_sbuf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n && s[i]; i++) {
        switch (s[i]) {
        case '&': cb_sb_printf(b, "&amp;"); break;
        case '<': cb_sb_printf(b, "&lt;"); break;
        case '>': cb_sb_printf(b, "&gt;"); break;
        case '"': cb_sb_printf(b, "&quot;"); break;
        default: cb_sb_printf(b, "%c", s[i]);
        }
    }
}

static int is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t') return 0;
    return 1;
}

/* Leading spaces of a line (a tab counts as 4, enough to disqualify). */
static size_t indent_of(const char *s, size_t n)
{
    size_t k = 0, i = 0;
    for (; i < n && (s[i] == ' ' || s[i] == '\t'); i++) k += s[i] == '\t' ? 4 : 1;
    return k;
}

/* ---- pipe tables -------------------------------------------------------------- */

typedef struct cell {
    char *text;                 /* unescaped cell Markdown, trimmed */
} cell;

typedef struct row {
    int n;
    cell c[MAX_COLS];
} row;

static void row_free(row *r)
{
    for (int i = 0; i < r->n; i++) free(r->c[i].text);
    r->n = 0;
}

/* Split a table line into cells: outer pipes dropped, "\|" is a pipe inside
 * a cell (GitHub's rule, code spans included). Returns 0, -1 on allocation
 * failure. */
static int split_row(const char *s, size_t n, row *r)
{
    r->n = 0;
    while (n > 0 && (*s == ' ' || *s == '\t')) s++, n--;
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) n--;
    if (n > 0 && *s == '|') s++, n--;
    if (n > 0 && s[n - 1] == '|' && !(n > 1 && s[n - 2] == '\\')) n--;
    size_t i = 0;
    for (;;) {
        size_t start = i;
        while (i < n && !(s[i] == '|' && !(i > 0 && s[i - 1] == '\\'))) i++;
        if (r->n == MAX_COLS) break;
        char *t = malloc(i - start + 1);
        if (!t) {
            row_free(r);
            return -1;
        }
        size_t k = 0;
        for (size_t j = start; j < i; j++) {
            if (s[j] == '\\' && j + 1 < i && s[j + 1] == '|') continue;
            t[k++] = s[j];
        }
        t[k] = '\0';
        /* trim */
        char *a = t;
        while (*a == ' ' || *a == '\t') a++;
        size_t len = strlen(a);
        while (len > 0 && (a[len - 1] == ' ' || a[len - 1] == '\t')) a[--len] = '\0';
        memmove(t, a, len + 1);
        r->c[r->n++].text = t;
        if (i >= n) break;
        i++;
    }
    return 0;
}

/* A delimiter row (| --- | :---: | ---: |): 1 with each column's alignment
 * ('l', 'c', 'r' or 0) in align, else 0. */
static int delimiter_row(const char *s, size_t n, char *align, int *cols)
{
    if (indent_of(s, n) > 3) return 0;
    row r;
    if (split_row(s, n, &r) != 0) return 0;
    int ok = r.n > 0;
    for (int i = 0; i < r.n && ok; i++) {
        const char *t = r.c[i].text;
        size_t len = strlen(t);
        int left = len > 0 && t[0] == ':', right = len > 0 && t[len - 1] == ':';
        size_t dashes = 0;
        for (size_t j = (size_t)left; j + (size_t)right < len; j++) {
            if (t[j] != '-') ok = 0;
            dashes++;
        }
        ok = ok && dashes > 0;
        align[i] = left && right ? 'c' : right ? 'r' : left ? 'l' : 0;
    }
    *cols = r.n;
    row_free(&r);
    /* One pipe at least, so a setext underline (---) is not a table. */
    return ok && memchr(s, '|', n) != NULL;
}

/* The url of a link to a sibling .md page, rewritten to its .html, into buf;
 * 1 when rewritten, 0 when the link is left as it is. */
static int sibling_html(const char *url, const char *const *pages, int n_pages, char *buf, size_t cap)
{
    if (strncmp(url, "./", 2) == 0) url += 2;
    size_t path = strcspn(url, "#?");
    if (path < 4 || strncmp(url + path - 3, ".md", 3) != 0) return 0;
    if (memchr(url, '/', path) || memchr(url, ':', path)) return 0; /* another folder or a scheme */
    for (int i = 0; i < n_pages; i++) {
        size_t pl = strlen(pages[i]);
        if (pl == path - 3 && strncmp(url, pages[i], pl) == 0) {
            int w = snprintf(buf, cap, "%.*s.html%s", (int)pl, url, url + path);
            return w > 0 && (size_t)w < cap;
        }
    }
    return 0;
}

/* Rewrite the link nodes under root. Returns 0, -1 on allocation failure. */
static int rewrite_links(cmark_node *root, const char *const *pages, int n_pages)
{
    cmark_iter *it = cmark_iter_new(root);
    if (!it) return -1;
    int rc = 0;
    cmark_event_type ev;
    while (rc == 0 && (ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
        cmark_node *nd = cmark_iter_get_node(it);
        if (ev != CMARK_EVENT_ENTER || cmark_node_get_type(nd) != CMARK_NODE_LINK) continue;
        const char *url = cmark_node_get_url(nd);
        char buf[2048];
        if (url && sibling_html(url, pages, n_pages, buf, sizeof buf) && !cmark_node_set_url(nd, buf))
            rc = -1;
    }
    cmark_iter_free(it);
    return rc;
}

/* Parse and render Markdown (links rewritten) as HTML into b. */
static int render_md(cb_sbuf *b, const char *md, size_t len, const char *const *pages, int n_pages)
{
    cmark_node *doc = cmark_parse_document(md, len, CMARK_OPT_DEFAULT | CMARK_OPT_VALIDATE_UTF8);
    if (!doc) return -1;
    int rc = rewrite_links(doc, pages, n_pages);
    char *html = rc == 0 ? cmark_render_html(doc, CMARK_OPT_DEFAULT) : NULL;
    if (!html) rc = -1;
    else cb_sb_printf(b, "%s", html);
    cmark_get_default_mem_allocator()->free(html);
    cmark_node_free(doc);
    return rc;
}

/* Whether a one-line text would open a block rather than a paragraph: a
 * list item ("- x", "1. x"), a heading ("# x"), a quote, a thematic break
 * ("***") or a code fence. Returns the offset of the character to escape
 * with a backslash, or -1 when the text reads as a paragraph already. */
static int block_start(const char *t)
{
    char c = t[0];
    if (!c) return -1;
    if (c == '>') return 0;
    if (c == '-' || c == '+' || c == '*') {
        if (t[1] == '\0' || t[1] == ' ' || t[1] == '\t') return 0;
    }
    if (c == '-' || c == '*' || c == '_') { /* a thematic break: 3 or more, blanks between */
        int k = 0, only = 1;
        for (const char *p = t; *p && only; p++) {
            if (*p == c) k++;
            else only = *p == ' ' || *p == '\t';
        }
        if (only && k >= 3) return 0;
    }
    if (c == '#') {
        size_t k = strspn(t, "#");
        if (k <= 6 && (t[k] == '\0' || t[k] == ' ' || t[k] == '\t')) return 0;
    }
    if (c == '~' || c == '`') {
        size_t k = strspn(t, c == '~' ? "~" : "`");
        if (k >= 3 && (c == '~' || !strchr(t + k, '`'))) return 0;
    }
    size_t d = strspn(t, "0123456789");
    if (d > 0 && d <= 9 && (t[d] == '.' || t[d] == ')') &&
        (t[d + 1] == '\0' || t[d + 1] == ' ' || t[d + 1] == '\t'))
        return (int)d;
    return -1;
}

/* One cell as inline HTML: the cell is parsed as a paragraph (a first
 * character that would open a block is escaped first) and the <p> wrapper
 * dropped. */
static int render_cell(cb_sbuf *b, const char *text, const char *const *pages, int n_pages)
{
    cb_sbuf md = {0};
    int at = block_start(text);
    if (at >= 0) cb_sb_printf(&md, "%.*s\\%s", at, text, text + at);
    else cb_sb_printf(&md, "%s", text);
    cb_sbuf h = {0};
    int rc = md.oom ? -1 : render_md(&h, md.s ? md.s : "", md.len, pages, n_pages);
    if (rc == 0 && !h.oom && h.s) {
        const char *s = h.s;
        size_t n = h.len;
        while (n > 0 && s[n - 1] == '\n') n--;
        if (n >= 7 && strncmp(s, "<p>", 3) == 0 && strncmp(s + n - 4, "</p>", 4) == 0) {
            s += 3;
            n -= 7;
        }
        cb_sb_printf(b, "%.*s", (int)n, s);
    }
    if (h.oom) rc = -1;
    cb_sb_free(&md);
    cb_sb_free(&h);
    return rc;
}

static void open_cell(cb_sbuf *b, const char *tag, char align)
{
    if (align == 'r') cb_sb_printf(b, "<%s class=\"r\">", tag);
    else if (align == 'c') cb_sb_printf(b, "<%s class=\"c\">", tag);
    else cb_sb_printf(b, "<%s>", tag);
}

/* The HTML of one table from its lines (header, delimiter, body rows). */
static int render_table(cb_sbuf *b, const char *const *line, const size_t *len, int n_lines,
                        const char *const *pages, int n_pages)
{
    char align[MAX_COLS] = {0};
    int cols = 0;
    delimiter_row(line[1], len[1], align, &cols);
    row r;
    int rc = 0;
    cb_sb_printf(b, "<div class=\"table\"><table>\n<thead>\n<tr>");
    for (int l = 0; l < n_lines && rc == 0; l++) {
        if (l == 1) {
            cb_sb_printf(b, "</tr>\n</thead>\n<tbody>\n");
            continue;
        }
        if (split_row(line[l], len[l], &r) != 0) return -1;
        if (l > 1) cb_sb_printf(b, "<tr>");
        /* Every row gets the header's number of cells (GitHub's rule). */
        for (int c = 0; c < cols && rc == 0; c++) {
            const char *tag = l == 0 ? "th" : "td";
            open_cell(b, tag, align[c]);
            if (c < r.n) rc = render_cell(b, r.c[c].text, pages, n_pages);
            cb_sb_printf(b, "</%s>", tag);
        }
        if (l > 1) cb_sb_printf(b, "</tr>\n");
        row_free(&r);
    }
    if (n_lines == 2) cb_sb_printf(b, "</tr>\n</thead>\n<tbody>\n");
    cb_sb_printf(b, "</tbody>\n</table></div>\n");
    return rc;
}

/* ---- the page ------------------------------------------------------------------- */

static const char style[] =
    "body{font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1d1d1f;"
    "background:#fff;max-width:66rem;margin:0 auto;padding:1rem 1.25rem 3rem}"
    "nav,footer{font-size:.85rem;color:#555}nav{margin-bottom:1rem}footer{margin-top:3rem;"
    "border-top:1px solid #ddd;padding-top:.5rem}"
    "h1{font-size:1.6rem;line-height:1.25}h2{margin-top:2rem;border-bottom:1px solid #e5e5e5}"
    "a{color:#0b5cad}code{font-size:.9em;background:#f3f3f3;padding:0 .2em;border-radius:3px}"
    "pre{background:#f6f6f6;padding:.75rem;overflow-x:auto}pre code{background:none;padding:0}"
    ".table{overflow-x:auto;margin:.75rem 0}table{border-collapse:collapse;font-size:.85rem}"
    "th,td{border:1px solid #d0d0d0;padding:.2rem .45rem;vertical-align:top}"
    "th{background:#f2f2f2;text-align:left}.r{text-align:right}.c{text-align:center}"
    "tbody tr:nth-child(even){background:#fafafa}"
    "img{max-width:100%;height:auto;border:1px solid #eee}"
    "blockquote{margin-left:0;padding-left:1rem;border-left:3px solid #ddd;color:#444}";

/* The plain text of the first heading, for <title>. */
static void first_heading(cmark_node *root, cb_sbuf *title)
{
    cmark_iter *it = cmark_iter_new(root);
    if (!it) return;
    int inside = 0;
    cmark_event_type ev;
    while ((ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
        cmark_node *nd = cmark_iter_get_node(it);
        cmark_node_type t = cmark_node_get_type(nd);
        if (t == CMARK_NODE_HEADING) {
            if (ev == CMARK_EVENT_EXIT) break;
            inside = 1;
        } else if (inside && (t == CMARK_NODE_TEXT || t == CMARK_NODE_CODE)) {
            const char *s = cmark_node_get_literal(nd);
            if (s) html_escape(title, s, strlen(s));
        }
    }
    cmark_iter_free(it);
}

int cb_html_page(const char *md, size_t len, const char *source, const char *const *pages,
                 int n_pages, char **out, size_t *out_len, char *err, size_t errlen)
{
    *out = NULL;
    *out_len = 0;
    /* A token that the text does not contain: CBTABLE<nonce>X<k>X. */
    unsigned nonce = 0;
    char probe[48];
    for (;;) {
        snprintf(probe, sizeof probe, "CBTABLE%uX", nonce);
        size_t pl = strlen(probe);
        int found = 0;
        for (size_t i = 0; i + pl <= len && !found; i++) found = memcmp(md + i, probe, pl) == 0;
        if (!found) break;
        nonce++;
    }

    /* Pass 1: lines, tables out, tokens in. */
    size_t n_lines = 1;
    for (size_t i = 0; i < len; i++) n_lines += md[i] == '\n';
    const char **line = malloc(n_lines * sizeof *line);
    size_t *ll = malloc(n_lines * sizeof *ll);
    cb_sbuf text = {0}, tables = {0}, page = {0};
    size_t *tab_at = NULL, *tab_len = NULL; /* each table's HTML within `tables` */
    int n_tab = 0, rc = -1;
    if (!line || !ll) goto oom;
    size_t nl = 0;
    for (size_t i = 0; i <= len;) {
        const char *e = memchr(md + i, '\n', len - i);
        size_t l = e ? (size_t)(e - (md + i)) : len - i;
        line[nl] = md + i;
        ll[nl] = l > 0 && md[i + l - 1] == '\r' ? l - 1 : l;
        nl++;
        if (!e) break;
        i += l + 1;
    }
    tab_at = malloc((nl + 1) * sizeof *tab_at);
    tab_len = malloc((nl + 1) * sizeof *tab_len);
    if (!tab_at || !tab_len) goto oom;
    char fence = 0;
    size_t fence_n = 0;
    for (size_t i = 0; i < nl; i++) {
        const char *s = line[i];
        size_t n = ll[i], ind = indent_of(s, n);
        size_t skip = strspn(s, " \t");
        if (skip > n) skip = n;
        const char *t = s + skip;
        size_t tn = n - skip;
        /* Fences: ``` or ~~~ (3 or more), closed by the same mark, as long. */
        if (ind <= 3 && tn >= 3 && (t[0] == '`' || t[0] == '~')) {
            size_t k = 0;
            while (k < tn && t[k] == t[0]) k++;
            if (!fence && k >= 3) {
                fence = t[0];
                fence_n = k;
            } else if (fence && t[0] == fence && k >= fence_n && is_blank(t + k, tn - k)) {
                fence = 0;
            }
        }
        char align[MAX_COLS];
        int cols = 0;
        row hdr;
        hdr.n = 0;
        int is_table = !fence && ind <= 3 && i + 1 < nl && memchr(s, '|', n) &&
                       delimiter_row(line[i + 1], ll[i + 1], align, &cols);
        if (is_table) {
            if (split_row(s, n, &hdr) != 0) goto oom;
            is_table = hdr.n == cols;
            row_free(&hdr);
        }
        if (!is_table) {
            cb_sb_printf(&text, "%.*s\n", (int)n, s);
            continue;
        }
        size_t end = i + 2;
        while (end < nl && !is_blank(line[end], ll[end]) && memchr(line[end], '|', ll[end])) end++;
        tab_at[n_tab] = tables.len;
        if (render_table(&tables, line + i, ll + i, (int)(end - i), pages, n_pages) != 0) goto oom;
        tab_len[n_tab] = tables.len - tab_at[n_tab];
        cb_sb_printf(&text, "\n%.*s%s%dX\n\n", (int)(ind < 4 ? ind : 0), "    ", probe, n_tab);
        n_tab++;
        i = end - 1;
    }
    if (text.oom || tables.oom) goto oom;

    /* Pass 2: the document through libcmark. */
    cmark_node *doc = cmark_parse_document(text.s ? text.s : "", text.len,
                                           CMARK_OPT_DEFAULT | CMARK_OPT_VALIDATE_UTF8);
    if (!doc) goto oom;
    cb_sbuf title = {0};
    first_heading(doc, &title);
    char *body = rewrite_links(doc, pages, n_pages) == 0 ? cmark_render_html(doc, CMARK_OPT_DEFAULT) : NULL;
    cmark_node_free(doc);
    if (!body || title.oom) {
        cmark_get_default_mem_allocator()->free(body);
        cb_sb_free(&title);
        goto oom;
    }

    /* Pass 3: the page, each token's paragraph replaced by its table. */
    cb_sb_printf(&page, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                        "<title>%s</title>\n<style>%s</style>\n</head>\n<body>\n",
                 title.s ? title.s : "claimbench report", style);
    cb_sb_free(&title);
    int is_index = source && (strcmp(source, "index.md") == 0 ||
                              (strlen(source) > 9 && strcmp(source + strlen(source) - 9, "/index.md") == 0));
    if (!is_index) cb_sb_printf(&page, "<nav><a href=\"index.html\">← all claimbench reports</a></nav>\n");
    cb_sb_printf(&page, "<main>\n");
    const char *p = body;
    while (*p) {
        const char *hit = strstr(p, probe);
        if (!hit) {
            cb_sb_printf(&page, "%s", p);
            break;
        }
        char *after;
        long k = strtol(hit + strlen(probe), &after, 10);
        if (k < 0 || k >= n_tab || *after != 'X') { /* not ours after all: copy on */
            cb_sb_printf(&page, "%.*s", (int)(hit - p + 1), p);
            p = hit + 1;
            continue;
        }
        after++;
        /* Drop the <p> … </p> around the token when it is there. */
        const char *cut = hit;
        if (hit - p >= 3 && strncmp(hit - 3, "<p>", 3) == 0) cut = hit - 3;
        cb_sb_printf(&page, "%.*s", (int)(cut - p), p);
        cb_sb_printf(&page, "%.*s", (int)tab_len[k], tables.s + tab_at[k]);
        if (cut != hit && strncmp(after, "</p>\n", 5) == 0) after += 5;
        p = after;
    }
    cb_sb_printf(&page, "</main>\n");
    if (source) {
        const char *base = strrchr(source, '/');
        base = base ? base + 1 : source;
        cb_sb_printf(&page, "<footer>Rendered by <code>claimbench report</code> from <a href=\"");
        html_escape(&page, base, strlen(base));
        cb_sb_printf(&page, "\">");
        html_escape(&page, base, strlen(base));
        cb_sb_printf(&page, "</a>.</footer>\n");
    }
    cb_sb_printf(&page, "</body>\n</html>\n");
    cmark_get_default_mem_allocator()->free(body);
    if (page.oom) goto oom;
    *out = page.s;
    *out_len = page.len;
    page.s = NULL;
    rc = 0;
    goto done;
oom:
    cb_fail(err, errlen, "rendering HTML: out of memory");
done:
    free(line);
    free(ll);
    free(tab_at);
    free(tab_len);
    cb_sb_free(&text);
    cb_sb_free(&tables);
    cb_sb_free(&page);
    return rc;
}

/* ---- files ------------------------------------------------------------------------- */

static char *slurp(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        cb_fail(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    cb_sbuf b = {0};
    char chunk[65536];
    size_t k;
    while ((k = fread(chunk, 1, sizeof chunk, f)) > 0) cb_sb_printf(&b, "%.*s", (int)k, chunk);
    int bad = ferror(f);
    fclose(f);
    if (bad || b.oom) {
        cb_sb_free(&b);
        cb_fail(err, errlen, "%s: %s", path, bad ? "read error" : "out of memory");
        return NULL;
    }
    if (!b.s) cb_sb_printf(&b, "%s", "");
    if (b.oom) {
        cb_fail(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    *len = b.len;
    return b.s;
}

int cb_html_write_reports(const char *dir, const char *const *pages, int n_pages, char *err,
                          size_t errlen)
{
    for (int i = 0; i < n_pages; i++) {
        char src[1200], dst[1200], name[300];
        snprintf(src, sizeof src, "%s/%s.md", dir, pages[i]);
        snprintf(dst, sizeof dst, "%s/%s.html", dir, pages[i]);
        snprintf(name, sizeof name, "%s.md", pages[i]);
        size_t len = 0, out_len = 0;
        char *md = slurp(src, &len, err, errlen), *html = NULL;
        if (!md) return -1;
        char e[512];
        int rc = cb_html_page(md, len, name, pages, n_pages, &html, &out_len, e, sizeof e);
        free(md);
        if (rc != 0) return cb_fail(err, errlen, "%s: %s", dst, e);
        rc = cb_write_atomic(dst, html, out_len, err, errlen);
        free(html);
        if (rc != 0) return -1;
    }
    return 0;
}
