/* catalog.c — `claimbench catalog`: tasks/README.md, the catalog of every paper.
 *
 * The hand-written part is tasks/catalog.tsv: one row per paper of the source
 * list, in its order (number, exact title, short name, claim, tier, task id,
 * what the check is or why there is none). What can go stale is generated:
 * which rows link an existing task spec, and each task's latest verdicts (read
 * from the reports snapshot, reports/verdicts.tsv, so a clean clone regenerates
 * the same page). `catalog --check` fails when the page is stale, when a spec
 * names a paper the catalog does not have, when a row's task and the spec
 * checking that paper disagree, or when the page links a task that does not
 * exist; `--papers FILE` also holds the rows to the paper list itself.
 */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "results.h"
#include "sbuf.h"
#include "spec.h"

#define CAT_FIELDS 7

typedef struct cat_row {
    int num;
    char *f[CAT_FIELDS];        /* num, title, short, claim, tier, task, note */
    int line;
} cat_row;

typedef struct catalog {
    int n, cap;
    cat_row *rows;
    char *text;                 /* the file, split in place */
} catalog;

enum { F_NUM, F_TITLE, F_SHORT, F_CLAIM, F_TIER, F_TASK, F_NOTE };

typedef struct verdict_count {
    char task[64];
    int c[3];                   /* reproduced, not reproduced, inconclusive */
} verdict_count;

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 1 >= cap) {
            cap = cap ? 2 * cap : 65536;
            char *nb = realloc(buf, cap);
            if (!nb) { free(buf); fclose(f); errno = ENOMEM; return NULL; }
            buf = nb;
        }
        size_t k = fread(buf + n, 1, cap - n - 1, f);
        n += k;
        if (k == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) { free(buf); errno = EIO; return NULL; }
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

static int is_id(const char *s)
{
    if (!*s) return 0;
    for (; *s; s++)
        if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '_')) return 0;
    return 1;
}

static void catalog_free(catalog *c)
{
    free(c->rows);
    free(c->text);
    memset(c, 0, sizeof *c);
}

/* Parse tasks/catalog.tsv. Errors name path:line: field. */
static int catalog_load(const char *path, catalog *c, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    c->text = slurp(path, NULL);
    if (!c->text) return cb_fail(err, errlen, "%s: %s", path, strerror(errno));
    char *line = c->text;
    int lineno = 0;
    while (*line) {
        lineno++;
        char *eol = strchr(line, '\n');
        char *next = eol ? eol + 1 : line + strlen(line);
        if (eol) *eol = '\0';
        if (eol && eol > line && eol[-1] == '\r') eol[-1] = '\0';
        if (line[0] == '\0' || line[0] == '#') { line = next; continue; }
        if (c->n == c->cap) {
            int cap = c->cap ? 2 * c->cap : 256;
            cat_row *r = realloc(c->rows, (size_t)cap * sizeof *r);
            if (!r) return cb_fail(err, errlen, "%s: out of memory", path);
            c->rows = r;
            c->cap = cap;
        }
        cat_row *r = &c->rows[c->n];
        memset(r, 0, sizeof *r);
        r->line = lineno;
        int k = 0;
        char *p = line;
        for (;;) {
            if (k == CAT_FIELDS)
                return cb_fail(err, errlen, "%s:%d: more than %d tab-separated fields", path, lineno, CAT_FIELDS);
            r->f[k++] = p;
            char *tab = strchr(p, '\t');
            if (!tab) break;
            *tab = '\0';
            p = tab + 1;
        }
        if (k != CAT_FIELDS)
            return cb_fail(err, errlen, "%s:%d: %d fields, expected %d (number, title, short name, claim, "
                           "tier, task, note)", path, lineno, k, CAT_FIELDS);
        static const char *names[CAT_FIELDS] = {"number", "title", "short name", "claim", "tier", "task", "note"};
        for (int i = 0; i < CAT_FIELDS; i++) {
            if (!r->f[i][0]) return cb_fail(err, errlen, "%s:%d: %s: empty", path, lineno, names[i]);
            if (strchr(r->f[i], '|'))
                return cb_fail(err, errlen, "%s:%d: %s: '|' would break the Markdown table", path, lineno, names[i]);
        }
        char *end;
        long num = strtol(r->f[F_NUM], &end, 10);
        if (*end || num != c->n + 1)
            return cb_fail(err, errlen, "%s:%d: number: '%s', expected %d (rows follow the paper list)",
                           path, lineno, r->f[F_NUM], c->n + 1);
        r->num = (int)num;
        const char *tier = r->f[F_TIER];
        if (strcmp(tier, "A") && strcmp(tier, "B") && strcmp(tier, "C"))
            return cb_fail(err, errlen, "%s:%d: tier: '%s', expected A, B or C", path, lineno, tier);
        if (tier[0] == 'C' && strcmp(r->f[F_TASK], "-") != 0)
            return cb_fail(err, errlen, "%s:%d: task: a tier C paper has no task ('-'), got '%s'", path, lineno,
                           r->f[F_TASK]);
        if (tier[0] != 'C' && !is_id(r->f[F_TASK]))
            return cb_fail(err, errlen, "%s:%d: task: tier %s needs a task id [a-z0-9_]+, got '%s'", path,
                           lineno, tier, r->f[F_TASK]);
        c->n++;
        line = next;
    }
    return 0;
}

static const cat_row *row_by_title(const catalog *c, const char *title)
{
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->rows[i].f[F_TITLE], title) == 0) return &c->rows[i];
    return NULL;
}

static const cb_spec *spec_by_id(const cb_spec *s, int n, const char *id)
{
    for (int i = 0; i < n; i++)
        if (strcmp(s[i].id, id) == 0) return &s[i];
    return NULL;
}

/* Count verdicts per task from a verdicts.tsv (task, check, type, verdict, ...).
 * A missing file is no verdicts. */
static int load_verdicts(const char *path, verdict_count **out, int *n, char *err, size_t errlen)
{
    *out = NULL;
    *n = 0;
    char *text = slurp(path, NULL);
    if (!text) return errno == ENOENT ? 0 : cb_fail(err, errlen, "%s: %s", path, strerror(errno));
    int cap = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char *task = line, *t1 = strchr(line, '\t');
        if (!t1) continue;
        *t1 = '\0';
        char *t2 = strchr(t1 + 1, '\t');
        char *t3 = t2 ? strchr(t2 + 1, '\t') : NULL;
        char *t4 = t3 ? strchr(t3 + 1, '\t') : NULL;
        if (!t4) continue;
        *t4 = '\0';
        const char *verdict = t3 + 1;
        int v = strcmp(verdict, "reproduced") == 0 ? 0 : strcmp(verdict, "not reproduced") == 0 ? 1 : 2;
        int i;
        for (i = 0; i < *n; i++)
            if (strcmp((*out)[i].task, task) == 0) break;
        if (i == *n) {
            if (*n == cap) {
                cap = cap ? 2 * cap : 32;
                verdict_count *nv = realloc(*out, (size_t)cap * sizeof *nv);
                if (!nv) { free(text); return cb_fail(err, errlen, "out of memory"); }
                *out = nv;
            }
            memset(&(*out)[i], 0, sizeof **out);
            snprintf((*out)[i].task, sizeof (*out)[i].task, "%s", task);
            (*n)++;
        }
        (*out)[i].c[v]++;
    }
    free(text);
    return 0;
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* The page, from the catalog, the specs that exist and the verdicts. */
static void generate(cb_sbuf *b, const catalog *c, const char *tasks_dir, const verdict_count *vc, int nvc)
{
    int tier[3] = {0, 0, 0}, linked = 0, planned = 0, vtot[3] = {0, 0, 0};
    for (int i = 0; i < c->n; i++) {
        const cat_row *r = &c->rows[i];
        tier[r->f[F_TIER][0] - 'A']++;
        if (r->f[F_TIER][0] == 'C') continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s.md", tasks_dir, r->f[F_TASK]);
        if (file_exists(path)) linked++;
        else planned++;
    }
    for (int i = 0; i < nvc; i++)
        for (int k = 0; k < 3; k++) vtot[k] += vc[i].c[k];

    cb_sb_printf(b, "# The catalog: every paper, its claim, and where it stands\n\n");
    cb_sb_printf(b, "<!-- Generated by `claimbench catalog` from tasks/catalog.tsv, the task specs and\n"
          "     reports/verdicts.tsv. Edit tasks/catalog.tsv, then run `claimbench catalog`;\n"
          "     `claimbench catalog --check` (run by the tests) fails when this page is stale. -->\n\n");
    cb_sb_printf(b, "claimbench is built from a list of %d papers on transformers and neural operators. Every "
          "one of them has a row here: its central checkable claim in one line, its tier, and either "
          "the task that checks it (linked, with the verdicts of the reference run in "
          "[reports/](../reports/index.md)) or why it cannot be checked on a 2-core CPU with "
          "synthetic data.\n\n", c->n);
    cb_sb_printf(b, "| | count |\n| --- | --- |\n");
    cb_sb_printf(b, "| papers | %d |\n", c->n);
    cb_sb_printf(b, "| tier A: a kernel-level or exact numerical claim, checkable here | %d |\n", tier[0]);
    cb_sb_printf(b, "| tier B: checkable in a scaled-down form (the row says which, and what it cannot show) | %d |\n",
      tier[1]);
    cb_sb_printf(b, "| tier C: not reproducible on such a machine (the row says why) | %d |\n", tier[2]);
    cb_sb_printf(b, "| tasks implemented (linked) | %d |\n", linked);
    cb_sb_printf(b, "| tasks planned (tier A or B, not written yet) | %d |\n", planned);
    cb_sb_printf(b, "| checks reproduced in the reference run | %d |\n", vtot[0]);
    cb_sb_printf(b, "| checks not reproduced | %d |\n", vtot[1]);
    cb_sb_printf(b, "| checks inconclusive | %d |\n\n", vtot[2]);
    cb_sb_printf(b, "Verdicts read *reproduced / not reproduced / inconclusive* and link to the task's "
          "report. A task spec is `tasks/<id>.md`: YAML front matter (kernels, backends, sweep, "
          "agreement sizes and tolerances, checks of the types `scaling`, `crossover`, `ratio`, "
          "`trend`, `order`, `bound`, `equivalence`) and a literate body; the project "
          "[README](../README.md) says how to add one.\n\n");
    cb_sb_printf(b, "| # | paper | claim | tier | task | verdicts | check, or why not |\n");
    cb_sb_printf(b, "| --- | --- | --- | --- | --- | --- | --- |\n");
    for (int i = 0; i < c->n; i++) {
        const cat_row *r = &c->rows[i];
        char task[256], verd[256];
        snprintf(verd, sizeof verd, "—");
        if (r->f[F_TIER][0] == 'C') {
            snprintf(task, sizeof task, "—");
        } else {
            char path[1024];
            snprintf(path, sizeof path, "%s/%s.md", tasks_dir, r->f[F_TASK]);
            if (file_exists(path)) {
                snprintf(task, sizeof task, "[`%s`](%s.md)", r->f[F_TASK], r->f[F_TASK]);
                snprintf(verd, sizeof verd, "not run yet");
                for (int k = 0; k < nvc; k++)
                    if (strcmp(vc[k].task, r->f[F_TASK]) == 0)
                        snprintf(verd, sizeof verd, "[%d / %d / %d](../reports/%s.md)", vc[k].c[0], vc[k].c[1],
                                 vc[k].c[2], r->f[F_TASK]);
            } else {
                snprintf(task, sizeof task, "planned: `%s`", r->f[F_TASK]);
            }
        }
        cb_sb_printf(b, "| %d | %s | %s | %s | %s | %s | %s |\n", r->num, r->f[F_TITLE], r->f[F_CLAIM], r->f[F_TIER],
           task, verd, r->f[F_NOTE]);
    }
}

/* Every "](<name>.md)" link of the page must name an existing file. */
static int check_links(const char *page, const char *tasks_dir, char *err, size_t errlen)
{
    for (const char *p = strstr(page, "]("); p; p = strstr(p + 2, "](")) {
        const char *start = p + 2, *end = strchr(start, ')');
        if (!end || end - start > 900) continue;
        if (strncmp(start, "http", 4) == 0 || strncmp(start, "../", 3) == 0) continue;
        char name[1024], path[2048];
        snprintf(name, sizeof name, "%.*s", (int)(end - start), start);
        snprintf(path, sizeof path, "%s/%s", tasks_dir, name);
        if (!file_exists(path))
            return cb_fail(err, errlen, "%s/README.md links %s, which does not exist", tasks_dir, name);
    }
    return 0;
}

/* The catalog's titles against the paper list (title line, abstract line). */
static int check_papers(const catalog *c, const char *papers, char *err, size_t errlen)
{
    char *text = slurp(papers, NULL);
    if (!text) return cb_fail(err, errlen, "%s: %s", papers, strerror(errno));
    int k = 0, rc = 0;
    char *save = NULL;
    int lineno = 0;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (lineno++ % 2) continue;           /* abstracts */
        if (k >= c->n) {
            rc = cb_fail(err, errlen, "%s lists more papers than the catalog's %d (next: '%s')", papers, c->n, line);
            break;
        }
        if (strcmp(c->rows[k].f[F_TITLE], line) != 0) {
            rc = cb_fail(err, errlen, "catalog row %d has title '%s' but paper %d of %s is '%s'", k + 1,
                         c->rows[k].f[F_TITLE], k + 1, papers, line);
            break;
        }
        k++;
    }
    if (rc == 0 && k != c->n)
        rc = cb_fail(err, errlen, "the catalog has %d rows but %s lists %d papers", c->n, papers, k);
    free(text);
    return rc;
}

int cb_cmd_catalog(const cb_cli *cli, int argc, char **argv)
{
    int check = 0;
    const char *papers = NULL;
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--check") == 0) {
            check = 1;
        } else if (strcmp(argv[a], "--papers") == 0 && a + 1 < argc) {
            papers = argv[++a];
        } else if (strcmp(argv[a], "--help") == 0 || strcmp(argv[a], "-h") == 0) {
            printf("usage: claimbench catalog [--check] [--papers FILE]\n\n"
                   "Writes <tasks>/README.md, the catalog of every paper, from <tasks>/catalog.tsv,\n"
                   "the task specs and <reports>/verdicts.tsv. With --check nothing is written:\n"
                   "exit 1 if a spec names a paper not in the catalog, a row and the spec for\n"
                   "its paper name different tasks, the page links a missing task, or the page\n"
                   "is stale. --papers FILE also holds the rows to the paper list (title line,\n"
                   "abstract line per paper), in order.\n");
            return CB_EXIT_OK;
        } else {
            fprintf(stderr, "claimbench catalog: unknown argument '%s'\n", argv[a]);
            return CB_EXIT_USAGE;
        }
    }
    char err[2048], path[1024];
    catalog c;
    snprintf(path, sizeof path, "%s/catalog.tsv", cli->tasks_dir);
    if (catalog_load(path, &c, err, sizeof err) != 0) {
        fprintf(stderr, "claimbench catalog: %s\n", err);
        catalog_free(&c);
        return CB_EXIT_USAGE;
    }
    cb_spec *specs = NULL;
    int n = 0;
    if (cb_spec_load_dir(cli->tasks_dir, &specs, &n, err, sizeof err) != 0) {
        fprintf(stderr, "claimbench: %s\n", err);
        catalog_free(&c);
        return CB_EXIT_USAGE;
    }
    int rc = CB_EXIT_OK;
    verdict_count *vc = NULL;
    int nvc = 0;
    cb_sbuf page = {0};
    char *old = NULL;

    /* Specs and rows must agree both ways. */
    for (int i = 0; i < n && rc == CB_EXIT_OK; i++) {
        const cat_row *r = row_by_title(&c, specs[i].paper);
        if (!r) {
            fprintf(stderr, "claimbench catalog: %s: paper '%s' is not in the catalog (%s)\n", specs[i].path,
                    specs[i].paper, path);
            rc = CB_EXIT_FAIL;
        } else if (strcmp(r->f[F_TASK], specs[i].id) != 0 && !spec_by_id(specs, n, r->f[F_TASK])) {
            fprintf(stderr, "claimbench catalog: %s:%d: row %d names task '%s', but %s checks that paper\n", path,
                    r->line, r->num, r->f[F_TASK], specs[i].path);
            rc = CB_EXIT_FAIL;
        }
    }
    if (papers && rc == CB_EXIT_OK && check_papers(&c, papers, err, sizeof err) != 0) {
        fprintf(stderr, "claimbench catalog: %s\n", err);
        rc = CB_EXIT_FAIL;
    }
    if (rc != CB_EXIT_OK) goto done;

    snprintf(path, sizeof path, "%s/verdicts.tsv", cli->reports_dir);
    if (load_verdicts(path, &vc, &nvc, err, sizeof err) != 0) {
        fprintf(stderr, "claimbench catalog: %s\n", err);
        rc = CB_EXIT_ERROR;
        goto done;
    }
    generate(&page, &c, cli->tasks_dir, vc, nvc);
    if (page.oom) {
        fprintf(stderr, "claimbench catalog: out of memory\n");
        rc = CB_EXIT_ERROR;
        goto done;
    }
    snprintf(path, sizeof path, "%s/README.md", cli->tasks_dir);
    if (check) {
        old = slurp(path, NULL);
        if (!old) {
            fprintf(stderr, "claimbench catalog: %s: %s\n", path, strerror(errno));
            rc = CB_EXIT_FAIL;
        } else if (check_links(old, cli->tasks_dir, err, sizeof err) != 0) {
            fprintf(stderr, "claimbench catalog: %s\n", err);
            rc = CB_EXIT_FAIL;
        } else if (strcmp(old, page.s) != 0) {
            fprintf(stderr, "claimbench catalog: %s is stale: run claimbench catalog\n", path);
            rc = CB_EXIT_FAIL;
        } else if (!cli->quiet) {
            printf("catalog: %d papers, %s up to date\n", c.n, path);
        }
    } else if (cb_write_atomic(path, page.s, page.len, err, sizeof err) != 0) {
        fprintf(stderr, "claimbench catalog: %s\n", err);
        rc = CB_EXIT_ERROR;
    } else if (!cli->quiet) {
        printf("catalog: wrote %s (%d papers)\n", path, c.n);
    }
done:
    free(old);
    cb_sb_free(&page);
    free(vc);
    cb_spec_free_all(specs, n);
    catalog_free(&c);
    return rc;
}
