/* outfile.c — all-or-nothing output files: a temporary name, every write checked, rename (see outfile.h). */
#define _POSIX_C_SOURCE 200809L
#include "outfile.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

struct outfile {
    char *path;
    char *tmp;          /* NULL: written in place (a device or FIFO) */
    FILE *f;
    pid_t owner;        /* a forked child never removes its parent's files */
    outfile *next;
};

static outfile *open_files;   /* not yet committed: removed if the program exits first */

static void remove_uncommitted(void)
{
    for (outfile *o = open_files; o; o = o->next)
        if (o->tmp && o->owner == getpid())
            unlink(o->tmp);
}

/* Killed while writing (Ctrl-C, a closed pipe, a file-size limit): the temporary files go too, then the signal does
 * what it would have done. Only unlink, which is async-signal-safe, runs in the handler. */
static const int FATAL_SIGNALS[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGXFSZ};

static void on_signal(int sig)
{
    remove_uncommitted();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void install_cleanup(void)
{
    atexit(remove_uncommitted);
    for (size_t i = 0; i < sizeof FATAL_SIGNALS / sizeof FATAL_SIGNALS[0]; i++) {
        struct sigaction old, sa = {.sa_handler = on_signal};
        sigemptyset(&sa.sa_mask);
        if (sigaction(FATAL_SIGNALS[i], NULL, &old) == 0 && old.sa_handler == SIG_DFL)   /* keep what nohup set */
            sigaction(FATAL_SIGNALS[i], &sa, NULL);
    }
}

void outfile_fail(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    va_start(ap, fmt);
    fl_vreport(fmt, ap);
    va_end(ap);
    remove_uncommitted();
    exit(FL_EXIT_IO);
}

void outfile_mkdirs(const char *dir)
{
    char *p = xmalloc(strlen(dir) + 1);
    strcpy(p, dir);
    for (char *s = p + (*p == '/'); *p; s++) {
        if (*s != '/' && *s)
            continue;
        char c = *s;
        *s = 0;
        struct stat st;
        if (mkdir(p, 0777) != 0) {
            int err = errno;
            bool exists = stat(p, &st) == 0;
            if (exists && !S_ISDIR(st.st_mode) && !strcmp(p, dir))
                outfile_fail("cannot create the directory '%s': a file of that name is in the way", dir);
            if (exists && !S_ISDIR(st.st_mode))
                outfile_fail("cannot create the directory '%s': '%s' is not a directory", dir, p);
            if (!exists)
                outfile_fail("cannot create the directory '%s': %s", dir, strerror(err));
        }
        *s = c;
        if (!c)
            break;
    }
    free(p);
}

static void unlist(outfile *o)
{
    for (outfile **pp = &open_files; *pp; pp = &(*pp)->next)
        if (*pp == o) {
            *pp = o->next;
            return;
        }
}

static void drop(outfile *o)
{
    unlist(o);
    free(o->path);
    free(o->tmp);
    free(o);
}

outfile *outfile_open(const char *path)
{
    static bool registered;
    if (!registered) {
        install_cleanup();
        registered = true;
    }
    if (!path || !*path)
        outfile_fail("an output file needs a name");
    outfile *o = xcalloc(1, sizeof *o);
    o->path = xmalloc(strlen(path) + 1);
    strcpy(o->path, path);
    o->owner = getpid();
    o->next = open_files;   /* listed from here on: its temporary file goes if anything below fails */
    open_files = o;

    struct stat st;
    bool exists = stat(path, &st) == 0;
    if (exists && S_ISDIR(st.st_mode))
        outfile_fail("cannot write '%s': it is a directory", path);
    if (exists && !S_ISREG(st.st_mode)) {   /* a device or a FIFO: nothing to rename or remove */
        if (!(o->f = fopen(path, "w")))
            outfile_fail("cannot write '%s': %s", path, strerror(errno));
        return o;
    }
    const char *slash = strrchr(path, '/');
    size_t dirlen = slash ? (size_t)(slash - path) : 0;
    if (dirlen) {
        char *dir = xmalloc(dirlen + 1);
        memcpy(dir, path, dirlen);
        dir[dirlen] = 0;
        outfile_mkdirs(dir);
        free(dir);
    }
    size_t n = strlen(path) + 16;
    char *tmp = xmalloc(n);
    snprintf(tmp, n, "%.*s.%s.XXXXXX", (int)(slash ? dirlen + 1 : 0), path, slash ? slash + 1 : path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int err = errno;
        free(tmp);
        outfile_fail("cannot write '%s': %s", path, strerror(err));
    }
    o->tmp = tmp;
    mode_t mask = umask(0);   /* mkstemp makes 0600; give the file what fopen would have: 0666 less the umask */
    umask(mask);
    if (fchmod(fd, 0666 & ~mask) != 0 || !(o->f = fdopen(fd, "w")))
        outfile_fail("cannot write '%s': %s", path, strerror(errno));
    return o;
}

void outfile_probe(const char *path)
{
    struct stat st;
    if (path && stat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
        return;
    outfile_abort(outfile_open(path));
}

FILE *outfile_stream(const outfile *o) { return o->f; }
const char *outfile_path(const outfile *o) { return o->path; }

void outfile_commit(outfile *o)
{
    bool failed_before = ferror(o->f);
    errno = 0;
    int err = fflush(o->f) != 0 ? errno : 0;
    if (fclose(o->f) != 0 && !err)
        err = errno;
    o->f = NULL;
    if (err || failed_before)
        outfile_fail("cannot write '%s': %s%s", o->path, err ? strerror(err) : "a write failed",
                     o->tmp ? "; the incomplete file is removed" : "");
    if (o->tmp && rename(o->tmp, o->path) != 0)
        outfile_fail("cannot write '%s': %s", o->path, strerror(errno));
    drop(o);
}

void outfile_abort(outfile *o)
{
    if (!o)
        return;
    if (o->f)
        fclose(o->f);
    if (o->tmp)
        unlink(o->tmp);
    drop(o);
}

void outfile_check_stdout(void)
{
    bool failed_before = ferror(stdout);
    errno = 0;
    int err = fflush(stdout) != 0 ? errno : 0;
    if (err || failed_before) {
        clearerr(stdout);
        outfile_fail("cannot write to standard output: %s", err ? strerror(err) : "a write failed, output is missing");
    }
}
