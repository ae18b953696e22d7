/* t_results.c — the run folder: begin/commit, `latest`, partial runs never
 * seen as complete, atomic writes that leave no temporary file, clean-up of
 * partial folders of dead processes. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "results.h"
#include "tap.h"

static int exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static int file_equals(const char *path, const char *want)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char buf[256];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strcmp(buf, want) == 0;
}

/* Entries of dir whose name contains `part`. */
static int count_named(const char *dir, const char *part)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strstr(e->d_name, part) != NULL;
    closedir(d);
    return n;
}

static int write_text(const char *path, const char *s)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(s, f);
    return fclose(f);
}

int main(void)
{
    tap_plan(27);
    char root[] = "/tmp/cb_t_results.XXXXXX";
    if (!mkdtemp(root)) {
        printf("Bail out! mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    char runs[512], err[1024], buf[1300], path[1300];
    snprintf(runs, sizeof runs, "%s/runs", root);   /* created by begin */

    /* A partial folder of a process that is gone, and one of a live one. */
    pid_t child = fork();
    if (child == 0)
        _exit(0);
    waitpid(child, NULL, 0);
    char dead[600], live[600];
    mkdir(runs, 0755);
    snprintf(dead, sizeof dead, "%s/.partial-%ld-1", runs, (long)child);
    snprintf(live, sizeof live, "%s/.partial-%ld-1", runs, (long)getppid());
    mkdir(dead, 0755);
    mkdir(live, 0755);
    snprintf(path, sizeof path, "%s/samples.tsv", dead);
    write_text(path, "x\n");

    /* ---- first run ---- */
    cb_run r1;
    ok(cb_results_begin(&r1, runs, "ab/c d", err, sizeof err) == 0, "begin");
    ok(!exists(dead), "partial folder of a dead process removed");
    ok(exists(live), "partial folder of a live process kept");
    ok(strncmp(r1.partial + strlen(runs) + 1, ".partial-", 9) == 0, "built under %s", r1.partial);
    ok(strstr(r1.name, "-ab_c_d") != NULL && strlen(r1.name) == 16 + 7 && r1.name[8] == 'T' &&
           r1.name[15] == 'Z',
       "final name <stamp>-<commit> sanitized: %s", r1.name);

    ok(cb_results_latest(runs, buf, sizeof buf, err, sizeof err) != 0,
       "no latest while the only run is partial");

    ok(cb_run_path(&r1, "gbench/t1/k.ref.N=16.json", path, sizeof path, err, sizeof err) == 0,
       "run path with folders");
    snprintf(buf, sizeof buf, "%s/gbench/t1", r1.partial);
    struct stat st;
    ok(stat(buf, &st) == 0 && S_ISDIR(st.st_mode), "parent folders created");
    ok(cb_write_atomic(path, "{\"benchmarks\": []}\n", 19, err, sizeof err) == 0 &&
           file_equals(path, "{\"benchmarks\": []}\n"),
       "atomic write");
    ok(cb_write_atomic(path, "second", 6, err, sizeof err) == 0 && file_equals(path, "second"),
       "atomic write replaces");
    ok(count_named(buf, ".tmp") == 0, "no temporary file left");
    char missing[1400];
    snprintf(missing, sizeof missing, "%s/no/such/dir/f.txt", root);
    ok(cb_write_atomic(missing, "x", 1, err, sizeof err) != 0 && strstr(err, missing),
       "atomic write into a missing folder fails: %s", err);
    ok(cb_run_path(&r1, "samples.tsv", path, sizeof path, err, sizeof err) == 0 &&
           cb_write_atomic(path, "time\n", 5, err, sizeof err) == 0,
       "samples.tsv written");

    ok(cb_results_commit(&r1, err, sizeof err) == 0, "commit");
    ok(!exists(r1.partial) && exists(r1.path), "partial renamed to %s", r1.path);
    char target[256] = "";
    snprintf(buf, sizeof buf, "%s/latest", runs);
    ssize_t n = readlink(buf, target, sizeof target - 1);
    if (n >= 0)
        target[n] = '\0';
    ok(strcmp(target, r1.name) == 0, "latest -> %s", target);
    ok(cb_results_latest(runs, buf, sizeof buf, err, sizeof err) == 0 &&
           strcmp(buf, r1.path) == 0,
       "latest resolves to the run: %s", buf);
    ok(cb_run_path(&r1, "x", path, sizeof path, err, sizeof err) != 0,
       "no paths into a committed run");

    /* ---- second run, interrupted (never committed) ---- */
    cb_run r2;
    ok(cb_results_begin(&r2, runs, "ab/c d", err, sizeof err) == 0, "second begin");
    cb_run_path(&r2, "samples.tsv", path, sizeof path, err, sizeof err);
    cb_write_atomic(path, "time\n", 5, err, sizeof err);
    ok(cb_results_latest(runs, buf, sizeof buf, err, sizeof err) == 0 &&
           strcmp(buf, r1.path) == 0,
       "a partial run is not latest");
    snprintf(buf, sizeof buf, "%s/latest", runs);
    unlink(buf);
    ok(cb_results_latest(runs, buf, sizeof buf, err, sizeof err) == 0 &&
           strcmp(buf, r1.path) == 0,
       "without the link, the scan skips the partial run too: %s", buf);

    /* ---- it completes: a new name even within the same second ---- */
    ok(cb_results_commit(&r2, err, sizeof err) == 0 && strcmp(r2.path, r1.path) != 0,
       "second commit: %s", r2.path);
    ok(cb_results_latest(runs, buf, sizeof buf, err, sizeof err) == 0 &&
           strcmp(buf, r2.path) == 0,
       "latest is the second run");
    ok(exists(r1.path), "first run kept");

    /* ---- abort removes the partial folder ---- */
    cb_run r3;
    cb_results_begin(&r3, runs, NULL, err, sizeof err);
    char p3[1200];
    snprintf(p3, sizeof p3, "%s", r3.partial);
    cb_run_path(&r3, "a/b.txt", path, sizeof path, err, sizeof err);
    write_text(path, "x");
    cb_results_abort(&r3);
    ok(!exists(p3), "abort removes the partial folder");

    /* ---- tree removal never follows a symlink ---- */
    char outside[600], tree[600], f[1300];
    snprintf(outside, sizeof outside, "%s/outside", root);
    snprintf(tree, sizeof tree, "%s/tree", root);
    mkdir(outside, 0755);
    mkdir(tree, 0755);
    snprintf(f, sizeof f, "%s/keep.txt", outside);
    write_text(f, "keep");
    snprintf(buf, sizeof buf, "%s/link", tree);
    if (symlink(outside, buf) != 0)
        diag("symlink: %s", strerror(errno));
    ok(cb_remove_tree(tree) == 0 && !exists(tree) && exists(f),
       "remove_tree removes the link, not its target");

    cb_remove_tree(root);
    ok(!exists(root), "clean up");
    if (tap_g.failed)
        diag("last error: %s", err);
    return tap_done();
}
