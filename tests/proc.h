/* proc.h — run a program (or a function) from a test: arguments, working directory, stdin from /dev/null, stdout
 * and stderr captured (or stdout into a file, and file writes capped), and a time limit so that a hang fails the test
 * instead of blocking the suite. Header-only (static inline): tests/ compiles only check_*.c files. Define
 * _XOPEN_SOURCE 700 before the first include.
 *
 *   char bin[PATH_MAX];
 *   ck_assert_msg(bin_find("lesson12", bin, sizeof bin), "lesson12 is not built");
 *   proc p = run_bin(bin, (const char *[]){"--quiet", NULL}, "/tmp");
 *   ck_assert_msg(p.status == 0, "stderr '%s'", p.err);
 *   proc_free(&p); */
#ifndef FLASHLAB_TESTS_PROC_H
#define FLASHLAB_TESTS_PROC_H

#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RUN_TIMEOUT_S 120   /* a lesson's default run under ASan, with room */

#ifndef BIN_DIR
#define BIN_DIR "."   /* where the lesson binaries are (the Makefile passes it) */
#endif

typedef struct {
    int status;        /* exit status, or -1 when killed */
    bool timed_out;
    char *out, *err;   /* everything written to stdout and stderr */
} proc;

static inline char *slurp(int fd)
{
    off_t n = lseek(fd, 0, SEEK_END);
    char *buf = malloc((size_t)n + 1);
    lseek(fd, 0, SEEK_SET);
    ssize_t got = n > 0 ? read(fd, buf, (size_t)n) : 0;
    buf[got > 0 ? got : 0] = 0;
    close(fd);
    return buf;
}

/* The absolute path of BIN_DIR/name into path; false when it is not built (or not executable). */
static inline bool bin_find(const char *name, char *path, size_t len)
{
    char cwd[PATH_MAX] = "";   /* absolute, so that it still runs from another working directory */
    if (BIN_DIR[0] != '/' && !getcwd(cwd, sizeof cwd))
        return false;
    int n = snprintf(path, len, "%s%s%s/%s", cwd, *cwd ? "/" : "", BIN_DIR, name);
    return n > 0 && (size_t)n < len && access(path, X_OK) == 0;
}

typedef struct {
    const char *cwd;   /* run there (NULL: here) */
    const char *out;   /* stdout into this file, created or truncated (NULL: captured in proc.out) */
    long fsize;        /* writes to regular files capped at fsize bytes: past it write() fails with EFBIG, as on a
                        * full disk (0: no cap) */
} proc_opts;

/* The child's side of run_bin and run_fn: exec path with argv (path NULL: call fn(ctx) and exit 0 when it returns),
 * stdin from /dev/null, stdout and stderr into fo (or opt.out), fe; the parent's: wait (with a time limit) and read
 * them back. */
static inline proc run_child(const char *path, const char *const *argv, proc_opts opt, void (*fn)(void *),
                             void *ctx)
{
    char o[] = "/tmp/flashlab_out_XXXXXX", e[] = "/tmp/flashlab_err_XXXXXX";
    int fo = mkstemp(o), fe = mkstemp(e);
    ck_assert(fo >= 0 && fe >= 0);
    unlink(o);
    unlink(e);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY), to = opt.out ? open(opt.out, O_WRONLY | O_CREAT | O_TRUNC, 0666) : fo;
        if (in < 0 || to < 0 || dup2(in, 0) < 0 || dup2(to, 1) < 0 || dup2(fe, 2) < 0 || (opt.cwd && chdir(opt.cwd)))
            _exit(126);
        if (opt.fsize) {
            signal(SIGXFSZ, SIG_IGN);   /* past the cap write() fails with EFBIG instead of killing */
            struct rlimit rl = {(rlim_t)opt.fsize, (rlim_t)opt.fsize};
            if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
                _exit(126);
        }
        if (!path) {
            fn(ctx);
            exit(0);   /* exit, not _exit: stdio flushed and atexit handlers run, as after a program's main */
        }
        execv(path, (char *const *)argv);
        _exit(127);
    }
    proc p = {.status = -1};
    int st = 0;
    struct timespec tick = {0, 5 * 1000 * 1000};
    for (long waited = 0;; waited += 5) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid)
            break;
        if (waited >= RUN_TIMEOUT_S * 1000L) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            p.timed_out = true;
            break;
        }
        nanosleep(&tick, NULL);
    }
    if (!p.timed_out && WIFEXITED(st))
        p.status = WEXITSTATUS(st);
    p.out = slurp(fo);
    p.err = slurp(fe);
    return p;
}

/* Run path with args (NULL-terminated), stdin from /dev/null, with a time limit, as opt says. */
static inline proc run_bin_with(const char *path, const char *const *args, proc_opts opt)
{
    const char *argv[40] = {path};
    for (int i = 0; args[i] && i < 38; i++)
        argv[i + 1] = args[i];
    return run_child(path, argv, opt, NULL, NULL);
}

/* Run path with args (NULL-terminated) in directory cwd (NULL: here), stdout and stderr captured. */
static inline proc run_bin(const char *path, const char *const *args, const char *cwd)
{
    return run_bin_with(path, args, (proc_opts){.cwd = cwd});
}

/* Run fn(ctx) in a child process, its stdout and stderr captured: a test of code that ends the program (fl_fatal's
 * exit 2, fl_internal's 4) asserts on the status and the one line instead of letting the line reach the test log.
 * fn returning is status 0. */
static inline proc run_fn(void (*fn)(void *), void *ctx) { return run_child(NULL, NULL, (proc_opts){0}, fn, ctx); }

static inline size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* Did p end with status and exactly one line on stderr, which contains want? */
static inline bool proc_one_line(const proc *p, int status, const char *want)
{
    return !p->timed_out && p->status == status && count_lines(p->err) == 1 && strstr(p->err, want);
}

/* p ended with status and exactly one line on stderr, which contains want. */
static inline void assert_one_error(const proc *p, int status, const char *want)
{
    size_t lines = count_lines(p->err);
    ck_assert_msg(p->status == status && !p->timed_out, "exit %d (want %d), stderr '%s'", p->status, status, p->err);
    ck_assert_msg(lines == 1 && strstr(p->err, want), "want one line saying '%s' on stderr, got '%s'", want, p->err);
}

static inline void proc_free(proc *p)
{
    free(p->out);
    free(p->err);
}

#endif
