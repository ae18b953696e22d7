/* results.c — the run folder, built aside and published atomically (results.h).
 *
 * Every step that readers can observe is a single rename(): a file appears
 * complete or not at all (cb_write_atomic), a run folder appears complete or
 * not at all (.partial-* → final name), and `latest` switches from one
 * complete run to the next (temporary symlink renamed over it).
 */
#define _POSIX_C_SOURCE 200809L
#include "results.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "kernel.h"   /* cb_fail */

#define PARTIAL_PREFIX ".partial-"

/* ---- small file-system helpers ----------------------------------------- */

/* mkdir -p; 0 or -1 with errno. */
static int mkdir_p(const char *path)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return -1;
        buf[i] = c;
    }
    struct stat st;
    if (stat(path, &st) != 0)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

/* fsync a folder, so a rename inside it survives a crash. */
static int sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* The folder part of path ("." when there is none). */
static void parent_of(const char *path, char *buf, size_t len)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(buf, len, ".");
    else if (slash == path)
        snprintf(buf, len, "/");
    else
        snprintf(buf, len, "%.*s", (int)(slash - path), path);
}

int cb_remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode))
        return unlink(path);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int rc = 0;
    struct dirent *e;
    size_t plen = strlen(path);
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        size_t need = plen + strlen(e->d_name) + 2;
        char *child = malloc(need);
        if (!child) {
            rc = -1;
            errno = ENOMEM;
            break;
        }
        snprintf(child, need, "%s/%s", path, e->d_name);
        if (cb_remove_tree(child) != 0)
            rc = -1;
        free(child);
    }
    int e_saved = errno;
    closedir(d);
    if (rc != 0) {
        errno = e_saved;
        return -1;
    }
    return rmdir(path);
}

int cb_write_atomic(const char *path, const void *data, size_t len, char *err, size_t errlen)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= (int)sizeof tmp)
        return cb_fail(err, errlen, "%s: path too long", path);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return cb_fail(err, errlen, "%s: cannot create a temporary file: %s", path,
                       strerror(errno));
    /* mkstemp creates the file 0600; results are for everyone to read. */
    int bad = fchmod(fd, 0644) != 0;
    const char *p = data;
    size_t left = len;
    while (!bad && left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            bad = 1;
            break;
        }
        p += w;
        left -= (size_t)w;
    }
    if (!bad && fsync(fd) != 0)
        bad = 1;
    int e = errno;
    if (close(fd) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    if (!bad && rename(tmp, path) != 0) {
        bad = 1;
        e = errno;
    }
    if (bad) {
        unlink(tmp);
        return cb_fail(err, errlen, "%s: write failed: %s", path, strerror(e));
    }
    char dir[4096];
    parent_of(path, dir, sizeof dir);
    if (sync_dir(dir) != 0)
        return cb_fail(err, errlen, "%s: written, but fsync of %s failed: %s", path, dir,
                       strerror(errno));
    return 0;
}

/* ---- begin ----------------------------------------------------------------- */

/* Remove the .partial folders whose process is gone (killed, crashed). A
 * live process (or a recycled pid) keeps its folder: it may still be
 * building it, and a leftover costs only disk space. */
static void remove_dead_partials(const char *runs)
{
    DIR *d = opendir(runs);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, PARTIAL_PREFIX, strlen(PARTIAL_PREFIX)) != 0)
            continue;
        char *end;
        long pid = strtol(e->d_name + strlen(PARTIAL_PREFIX), &end, 10);
        if (end == e->d_name + strlen(PARTIAL_PREFIX) || *end != '-' || pid <= 0)
            continue;
        if (pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        char path[4096];
        if (snprintf(path, sizeof path, "%s/%s", runs, e->d_name) < (int)sizeof path)
            cb_remove_tree(path);
    }
    closedir(d);
}

int cb_results_begin(cb_run *r, const char *runs, const char *commit, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    if (snprintf(r->runs, sizeof r->runs, "%s", runs) >= (int)sizeof r->runs)
        return cb_fail(err, errlen, "%s: path too long", runs);
    if (mkdir_p(runs) != 0)
        return cb_fail(err, errlen, "%s: cannot create: %s", runs, strerror(errno));
    remove_dead_partials(runs);

    time_t now = time(NULL);
    struct tm tm;
    char stamp[32];
    if (!gmtime_r(&now, &tm) || strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm) == 0)
        return cb_fail(err, errlen, "cannot format the current time");

    char c[64];
    snprintf(c, sizeof c, "%s", commit && commit[0] ? commit : "unknown");
    for (char *p = c; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '-'))
            *p = '_';
    snprintf(r->name, sizeof r->name, "%s-%s", stamp, c);

    for (int k = 0;; k++) {
        int w = k == 0 ? snprintf(r->partial, sizeof r->partial, "%s/" PARTIAL_PREFIX "%ld-%ld",
                                  runs, (long)getpid(), (long)now)
                       : snprintf(r->partial, sizeof r->partial,
                                  "%s/" PARTIAL_PREFIX "%ld-%ld-%d", runs, (long)getpid(),
                                  (long)now, k);
        if (w >= (int)sizeof r->partial)
            return cb_fail(err, errlen, "%s: path too long", runs);
        if (mkdir(r->partial, 0755) == 0)
            return 0;
        if (errno != EEXIST || k > 100)
            return cb_fail(err, errlen, "%s: cannot create: %s", r->partial, strerror(errno));
    }
}

int cb_run_path(const cb_run *r, const char *rel, char *buf, size_t len, char *err, size_t errlen)
{
    if (r->committed)
        return cb_fail(err, errlen, "%s: the run is committed already", rel);
    if (snprintf(buf, len, "%s/%s", r->partial, rel) >= (int)len)
        return cb_fail(err, errlen, "%s/%s: path too long", r->partial, rel);
    char dir[4096];
    parent_of(buf, dir, sizeof dir);
    if (mkdir_p(dir) != 0)
        return cb_fail(err, errlen, "%s: cannot create: %s", dir, strerror(errno));
    return 0;
}

/* ---- commit ------------------------------------------------------------------ */

int cb_results_commit(cb_run *r, char *err, size_t errlen)
{
    if (r->committed)
        return cb_fail(err, errlen, "%s: committed already", r->path);
    if (sync_dir(r->partial) != 0)
        return cb_fail(err, errlen, "%s: fsync failed: %s", r->partial, strerror(errno));
    /* rename() replaces an empty folder and fails on a non-empty one; every
     * complete run is non-empty, so an existing name is never overwritten. */
    char base[160];
    snprintf(base, sizeof base, "%s", r->name);
    for (int k = 1;; k++) {
        if (k > 1)
            snprintf(r->name, sizeof r->name, "%.140s-%d", base, k);
        if (snprintf(r->path, sizeof r->path, "%s/%s", r->runs, r->name) >= (int)sizeof r->path)
            return cb_fail(err, errlen, "%s/%s: path too long", r->runs, r->name);
        if (rename(r->partial, r->path) == 0)
            break;
        if ((errno != EEXIST && errno != ENOTEMPTY) || k > 100)
            return cb_fail(err, errlen, "rename %s to %s: %s", r->partial, r->path,
                           strerror(errno));
    }
    r->committed = 1;

    char tmp[1300], link[1200];
    snprintf(tmp, sizeof tmp, "%s/.latest.tmp-%ld", r->runs, (long)getpid());
    snprintf(link, sizeof link, "%s/latest", r->runs);
    unlink(tmp);
    if (symlink(r->name, tmp) != 0)
        return cb_fail(err, errlen, "%s: cannot create symlink: %s", tmp, strerror(errno));
    if (rename(tmp, link) != 0) {
        int e = errno;
        unlink(tmp);
        return cb_fail(err, errlen, "%s: cannot replace: %s", link, strerror(e));
    }
    if (sync_dir(r->runs) != 0)
        return cb_fail(err, errlen, "%s: fsync failed: %s", r->runs, strerror(errno));
    return 0;
}

void cb_results_abort(cb_run *r)
{
    if (!r->committed && r->partial[0])
        cb_remove_tree(r->partial);
    r->partial[0] = '\0';
}

/* ---- latest ------------------------------------------------------------------ */

/* A name a complete run can have: not hidden (.partial-*, temporaries),
 * not the link itself, no path separator. */
static int is_run_name(const char *name)
{
    return name[0] && name[0] != '.' && strcmp(name, "latest") != 0 && !strchr(name, '/');
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int cb_results_latest(const char *runs, char *buf, size_t len, char *err, size_t errlen)
{
    char link[4096], target[1024], path[4096];
    snprintf(link, sizeof link, "%s/latest", runs);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n > 0) {
        target[n] = '\0';
        snprintf(path, sizeof path, "%s/%s", runs, target);
        if (is_run_name(target) && is_dir(path)) {
            if (snprintf(buf, len, "%s", path) >= (int)len)
                return cb_fail(err, errlen, "%s: path too long", path);
            return 0;
        }
    }
    /* No usable link: the complete run with the greatest name (names start
     * with a UTC time stamp, so that is the newest). A complete run always
     * holds samples.tsv. */
    DIR *d = opendir(runs);
    if (!d)
        return cb_fail(err, errlen, "%s: no runs: %s", runs, strerror(errno));
    char best[1024] = "";
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!is_run_name(e->d_name) || strlen(e->d_name) >= sizeof best)
            continue;
        snprintf(path, sizeof path, "%s/%s/samples.tsv", runs, e->d_name);
        if (access(path, R_OK) != 0)
            continue;
        if (strcmp(e->d_name, best) > 0)
            snprintf(best, sizeof best, "%s", e->d_name);
    }
    closedir(d);
    if (!best[0])
        return cb_fail(err, errlen, "%s: no complete run", runs);
    if (snprintf(buf, len, "%s/%s", runs, best) >= (int)len)
        return cb_fail(err, errlen, "%s/%s: path too long", runs, best);
    return 0;
}
