/* run_homework.c — the homework grader, and the test process it starts. One source, two roles:
 *
 *   grade_hwNN --binary BIN [--object OBJ] [--dir DIR] [--expect-fail] [--no-symbol-check]
 *     THE GRADER. It is linked without the student's code (hw_traps.c stands in), so nothing of the student's runs
 *     in it: no constructor, no atexit hook. First it inspects the student's object OBJ (compiled without
 *     sanitizers): the functions it calls must be on the exercise's list (homework_allowed), it may not run code
 *     before main or at exit (.init_array, .fini_array), execute system calls directly, or keep more than
 *     HW_MAX_STATIC_BYTES of writable static data. Then it runs every iteration of every test in a fresh process of
 *     the student's binary BIN (in DIR), in a process group of its own, stdout and stderr captured, under a limit
 *     of HW_TIMEOUT_S; the first timeout stops the exercise. A test passes only if its process sends back, on a pipe
 *     only the harness writes, the random token the grader handed it — which the harness reads only after the
 *     test body returned — with Check's verdict. exit(0), _exit, quick_exit, abort, a crash, a constructor: no
 *     token, and the grader names what happened. When a test ends, the grader kills its process group and every
 *     process it left behind (the grader is a child subreaper, so setsid daemons come back to it too), and a test
 *     that left any is failed.
 *     --expect-fail (CI, against the untouched stubs): success only if every test fails.
 *     --no-symbol-check (CI's hostile solutions): skip the inspection, to show what the run-time defences do alone.
 *     CK_RUN_CASE=name runs one behaviour.
 *
 *   hwNN --child I K
 *     THE TEST PROCESS: runs iteration K of test I with Check in this process (no fork: the grader's process is
 *     the sandbox), reads the token from fd 4 and writes "R<token>\n<P|F>\n<message>" to fd 3.
 *   hwNN --run NAME K
 *     the same by hand, in a debugger: iteration K (1-based, as the grader prints it) of the test NAME, verdict
 *     printed. gdb --args build/rel/homework/hw02 --run correct_on_shapes 3
 */
#define _GNU_SOURCE
#include <check.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hw_check.h"

#define HW_SHOW_FAILURES 3      /* failures of one behaviour spelled out; the rest get their progress line only */
#define HW_OUT_KEEP 1500        /* bytes of a failed test's own output shown */
#define HW_RESULT_MAX 8192      /* bytes of a result message */
#define HW_REAP_ROUNDS 2000     /* 1 ms rounds to end every process a test left (each round kills all found) */
#define FD_RESULT 3
#define FD_TOKEN 4

extern char **environ;

/* ---- the test process ------------------------------------------------------------------------------------------- */

static void write_all(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        s += w, n -= (size_t)w;
    }
}

/* Iteration k of test i, in this process. Run by the grader (--child), the verdict goes to the result pipe with the
 * token; run by hand (--run, for a debugger), it is printed. */
static int child_main(size_t i, int k, bool by_hand)
{
    size_t ntests;
    const hw_test *tests = homework_tests(&ntests);
    if (i >= ntests || k < 0 || k >= tests[i].n) {
        fprintf(stderr, "%s: no such test or iteration\n", homework_name);
        _exit(2);
    }
    if (!by_hand)
        write_all(FD_RESULT, "S", 1);                 /* started: the code before main is over */
    const hw_test *t = &tests[i];
    Suite *s = suite_create(homework_name);
    TCase *tc = tcase_create(t->name);
    tcase_add_loop_test(tc, t->test, k, k + 1);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_SILENT);
    /* The test body returned (or an assertion jumped out of it): only now is the token read. */
    TestResult **res = srunner_results(sr);
    bool pass = srunner_ntests_run(sr) == 1 && tr_rtype(res[0]) == CK_PASS;
    const char *msg = srunner_ntests_run(sr) == 1 ? tr_msg(res[0]) : "internal: the test did not run";
    if (by_hand) {
        printf("%s %s %d of %d%s%s\n", pass ? "PASS" : "FAIL", t->name, k + 1, t->n, pass ? "" : ": ",
               pass ? "" : msg);
        free(res);
        srunner_free(sr);
        return pass ? 0 : 1;
    }
    char token[65] = "";
    size_t n = 0;
    for (ssize_t r; n < sizeof token - 1 && ((r = read(FD_TOKEN, token + n, sizeof token - 1 - n)) > 0 ||
                                             (r < 0 && errno == EINTR));)
        n += r > 0 ? (size_t)r : 0;
    token[n] = 0;
    fflush(stdout);
    fflush(stderr);
    char head[100];
    int h = snprintf(head, sizeof head, "R%s\n%c\n", token, pass ? 'P' : 'F');
    write_all(FD_RESULT, head, (size_t)h);
    write_all(FD_RESULT, msg ? msg : "", msg ? strlen(msg) : 0);
    /* No atexit hooks, no destructors: what the student's code registered never runs after the verdict. */
    _exit(0);
}

/* hwNN --run NAME K: iteration K (1-based, as the grader shows it) of the test called NAME, by hand. */
static int run_by_hand(const char *name, const char *sk)
{
    size_t ntests;
    const hw_test *tests = homework_tests(&ntests);
    for (size_t i = 0; i < ntests; i++)
        if (!strcmp(tests[i].name, name))
            return child_main(i, atoi(sk) - 1, true);
    fprintf(stderr, "%s: no test called %s; the tests are:", homework_name, name);
    for (size_t i = 0; i < ntests; i++)
        fprintf(stderr, " %s (1..%d)", tests[i].name, tests[i].n);
    fprintf(stderr, "\n");
    return 2;
}

/* ---- the grader: inspecting the student's object ---------------------------------------------------------------- */

static const char *const COMMON_ALLOWED[] = {HW_ALLOW_COMMON, NULL};

static bool listed(const char *const *list, const char *sym)
{
    for (; *list; list++)
        if (!strcmp(*list, sym))
            return true;
    return false;
}

static bool starts(const char *s, const char *prefix) { return !strncmp(s, prefix, strlen(prefix)); }

/* Why a symbol is not allowed, in words a student can act on; rank orders the reasons for the verdict line (0: the
 * process or the machine, 1: the exercise's answer or an uncounted read, 2: memory outside SRAM, 3: anything else). */
static const char *why_refused(const char *s, int *rank)
{
    static const struct { int rank; const char *prefix, *why; } WHY[] = {
        {0, "exit", "it ends the process: return from the function instead"},
        {0, "_exit", "it ends the process: return from the function instead"},
        {0, "_Exit", "it ends the process: return from the function instead"},
        {0, "quick_exit", "it ends the process: return from the function instead"},
        {0, "abort", "it ends the process: return from the function instead"},
        {0, "fl_fatal", "it ends the process: return from the function instead"},
        {0, "atexit", "it runs code when the process ends, after the tests: not part of a solution"},
        {0, "at_quick_exit", "it runs code when the process ends: not part of a solution"},
        {0, "__cxa_atexit", "it runs code when the process ends: not part of a solution"},
        {0, "on_exit", "it runs code when the process ends: not part of a solution"},
        {0, "fork", "it starts processes"}, {0, "vfork", "it starts processes"}, {0, "clone", "it starts processes"},
        {0, "setsid", "it starts a session (a daemon)"}, {0, "daemon", "it starts a daemon"},
        {0, "system", "it runs a command"}, {0, "popen", "it runs a command"}, {0, "exec", "it runs a program"},
        {0, "posix_spawn", "it runs a program"}, {0, "syscall", "a raw system call"},
        {0, "signal", "signals belong to the grader"}, {0, "sigaction", "signals belong to the grader"},
        {0, "raise", "signals belong to the grader"}, {0, "kill", "signals belong to the grader"},
        {0, "longjmp", "it jumps out of the test"}, {0, "setjmp", "it jumps out of the test"},
        {0, "_setjmp", "it jumps out of the test"}, {0, "siglongjmp", "it jumps out of the test"},
        {0, "dlopen", "it loads code"}, {0, "dlsym", "it loads code"},
        {0, "fopen", "it touches files"}, {0, "freopen", "it touches files"}, {0, "fdopen", "it touches files"},
        {0, "open", "it touches files"}, {0, "creat", "it touches files"}, {0, "remove", "it touches files"},
        {0, "unlink", "it touches files"}, {0, "rename", "it touches files"}, {0, "truncate", "it touches files"},
        {0, "ftruncate", "it touches files"}, {0, "mkdir", "it touches files"}, {0, "rmdir", "it touches files"},
        {0, "chdir", "it touches files"}, {0, "access", "it touches files"}, {0, "fwrite", "it writes to files"},
        {0, "write", "it writes to a file descriptor"}, {0, "read", "it reads a file descriptor"},
        {0, "dup", "it touches file descriptors"}, {0, "close", "it touches file descriptors"},
        {0, "pthread_", "threads are not part of these exercises"},
        {0, "GOMP_", "OpenMP threads are not part of these exercises"},
        {0, "omp_", "OpenMP is not part of these exercises"},
        {1, "hbm_download", "an uncounted copy of a whole HBM tensor to the host, which the ledger never sees: load "
                            "tiles with hbm_load_tile / hbm_load_rows"},
        {1, "hbm_upload", "an uncounted write of a whole HBM tensor, which the ledger never sees: store tiles with "
                          "hbm_store_tile / hbm_store_rows"},
        {1, "softmax_", "the library's own softmax (sim/model/softmax.c): the exercise is to write its loops"},
        {1, "attn_forward", "the library's own attention: the exercise is to write its loops"},
        {1, "attn_backward", "the library's own attention: the exercise is to write its loops"},
        {1, "attn_run", "the library's own attention runner: the exercise is to write its loops"},
        {1, "flash", "the library's own attention: the exercise is to write its loops"},
        {1, "standard_", "the library's own attention: the exercise is to write its loops"},
        {1, "bench_", "the library's own benchmark loop (sim/course/bench.c): the exercise is to write it"},
        {1, "ref_", "the double-precision reference the tests compare against"},
        {1, "tiled_", "the library's own tiled algorithms"},
        {1, "mem_hbm_peak", "it reads the measurement this function must predict"},
        {1, "hw_", "the grader's own functions"}, {1, "srunner_", "the test framework"},
        {1, "tcase_", "the test framework"}, {1, "suite_", "the test framework"}, {1, "_ck_", "the test framework"},
        {1, "tr_", "the test framework"},
        {2, "malloc", "memory outside SRAM's accounting: keep tiles in buffers from sram_alloc"},
        {2, "calloc", "memory outside SRAM's accounting: keep tiles in buffers from sram_alloc"},
        {2, "realloc", "memory outside SRAM's accounting: keep tiles in buffers from sram_alloc"},
        {2, "aligned_alloc", "memory outside SRAM's accounting: keep tiles in buffers from sram_alloc"},
        {2, "posix_memalign", "memory outside SRAM's accounting: keep tiles in buffers from sram_alloc"},
        {2, "free", "memory outside SRAM's accounting: keep tiles in buffers from sram_alloc"},
        {2, "fl_x", "memory outside SRAM's accounting: keep tiles in buffers from sram_alloc"},
        {2, "mmap", "memory outside SRAM's accounting"}, {2, "sbrk", "memory outside SRAM's accounting"},
        {2, "alloca", "memory outside SRAM's accounting"},
        {2, "mem_create", "a memory model of your own, outside the test's (and its SRAM limit)"},
        {2, "mem_fork", "a memory model of your own, outside the test's ledger"},
        {2, "mem_join", "it edits the test's ledger"}, {2, "mem_ledger_reset", "it erases the test's ledger"},
        {2, "mem_observe", "it changes who watches the memory model"},
        {2, "mem_unobserve", "it changes who watches the memory model"},
        {2, "mem_destroy", "it frees the test's memory model"},
        {2, "hbm_alloc", "HBM tensors of your own, outside the exercise's tensors"},
        {2, "hbm_free", "it frees the test's tensors"},
    };
    for (size_t i = 0; i < sizeof WHY / sizeof WHY[0]; i++)
        if (starts(s, WHY[i].prefix)) {
            *rank = WHY[i].rank;
            return WHY[i].why;
        }
    *rank = 3;
    return "it is not on this exercise's list of calls (homework_allowed in tests/homework/check_hwNN.c)";
}

/* Run argv, collecting stdout into a growing buffer (NULL and a message in err when it fails). */
static char *capture(char *const argv[], char *err, size_t errlen)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC)) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return NULL;
    }
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[1], 1);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(p[1]);
    size_t n = 0, cap = 1 << 16;
    char *buf = malloc(cap);
    for (ssize_t r; buf && (r = read(p[0], buf + n, cap - n - 1)) != 0;) {
        if (r < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        n += (size_t)r;
        if (cap - n < 4096) {
            char *bigger = realloc(buf, cap *= 2);
            if (!bigger)
                free(buf);
            buf = bigger;
        }
    }
    close(p[0]);
    int st = 0;
    while (pid > 0 && waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (pid < 0 || !buf || !WIFEXITED(st) || WEXITSTATUS(st)) {
        snprintf(err, errlen, "%s failed (%s)", argv[0], pid < 0 ? strerror(errno) : !buf ? "out of memory"
                 : WIFEXITED(st) && WEXITSTATUS(st) == 127 ? "not found: install binutils" : "exit status");
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    return buf;
}

/* Inspect the object; print one line per problem; true if it may be tested. verdict gets the gravest problem
 * (ranked as why_refused ranks them; code outside main and system calls first). */
static bool inspect_object(const char *obj, char *verdict, size_t vlen)
{
    char err[256];
    int problems = 0, best = 99;
#define REFUSE(rank, ...)                                                                                             \
    do {                                                                                                              \
        char line_[512];                                                                                              \
        snprintf(line_, sizeof line_, __VA_ARGS__);                                                                   \
        printf("  REFUSED %s\n", line_);                                                                              \
        problems++;                                                                                                   \
        if ((rank) < best) {                                                                                          \
            best = (rank);                                                                                            \
            snprintf(verdict, vlen, "%s", line_);                                                                     \
        }                                                                                                             \
    } while (0)

    char *und = capture((char *[]){"nm", "-P", "-u", (char *)obj, NULL}, err, sizeof err);
    char *def = und ? capture((char *[]){"nm", "-P", "-S", "--defined-only", (char *)obj, NULL}, err, sizeof err) : 0;
    char *sec = def ? capture((char *[]){"readelf", "-SW", (char *)obj, NULL}, err, sizeof err) : NULL;
    char *dis = sec ? capture((char *[]){"objdump", "-d", "--no-show-raw-insn", (char *)obj, NULL}, err, sizeof err)
                    : NULL;
    if (!dis) {
        REFUSE(-1, "cannot inspect %s: %s", obj, err);
        goto done;
    }
    for (char *line = strtok(sec, "\n"); line; line = strtok(NULL, "\n")) {
        static const char *const RUNS_OUTSIDE[] = {".init_array", ".fini_array", ".preinit_array", ".ctors",
                                                   ".dtors", NULL};
        for (const char *const *s = RUNS_OUTSIDE; *s; s++) {
            const char *at = strstr(line, *s);
            if (at && at > line && at[-1] == ' ' && !strstr(line, ".rela")) {
                REFUSE(-1, "your code has a %s (%s): code that runs before main or after exit, outside every test",
                       strstr(*s, "fini") || strstr(*s, "dtors") ? "destructor" : "constructor", *s);
                break;
            }
        }
    }
    for (char *line = strtok(dis, "\n"); line; line = strtok(NULL, "\n")) {
        char *tab = strchr(line, '\t');
        char insn[32];
        if (tab && sscanf(tab, "%31s", insn) == 1 &&
            (!strcmp(insn, "syscall") || !strcmp(insn, "sysenter") || !strcmp(insn, "svc") ||
             (!strcmp(insn, "int") && strstr(tab, "$0x80")))) {
            REFUSE(-1, "your code executes a system call instruction (%s) directly: the operating system is the "
                   "grader's, not the solution's", insn);
            break;
        }
    }
    for (char *line = strtok(und, "\n"); line; line = strtok(NULL, "\n")) {
        char sym[256];
        if (sscanf(line, "%255s", sym) != 1)
            continue;
        char *at = strchr(sym, '@');   /* versioned: memcpy@GLIBC_2.14 */
        if (at)
            *at = 0;
        int rank;
        if (!listed(COMMON_ALLOWED, sym) && !listed(homework_allowed, sym)) {
            const char *why = why_refused(sym, &rank);
            REFUSE(rank, "your code calls %s: %s", sym, why);
        }
    }
    for (char *line = strtok(def, "\n"); line; line = strtok(NULL, "\n")) {
        char sym[256], type;
        unsigned long long value, size;
        if (sscanf(line, "%255s %c %llx %llx", sym, &type, &value, &size) == 4 && strchr("bBdDgGsSC", type) &&
            size > HW_MAX_STATIC_BYTES)
            REFUSE(2, "your code keeps %llu bytes in the static variable %s: memory outside SRAM's accounting (at "
                   "most %d bytes of writable static data) — keep tiles in buffers from sram_alloc", size, sym,
                   HW_MAX_STATIC_BYTES);
    }
done:
    free(und), free(def), free(sec), free(dis);
    return problems == 0;
#undef REFUSE
}

/* ---- the grader: running one test ------------------------------------------------------------------------------- */

typedef enum { T_PASS, T_FAIL, T_TIMEOUT, T_EXITED, T_SIGNALED, T_FORGED, T_NOSTART, T_INTERNAL } outcome;

typedef struct {
    outcome what;
    int code;                     /* exit status or signal */
    bool started;                 /* the harness got to main */
    int leftovers;                /* processes the test left running, all killed */
    double ms;
    char msg[HW_RESULT_MAX];      /* Check's message, or why there is none */
    char out[HW_OUT_KEEP + 1];    /* the start of what the test process wrote to stdout and stderr */
    size_t out_n, out_dropped;
} result;

static volatile sig_atomic_t interrupted;   /* ^C or a kill: end the running test, its descendants, and stop */

static void on_signal(int sig)
{
    interrupted = sig;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static void make_token(char *hex, size_t len)
{
    unsigned char raw[16];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    ssize_t got = fd >= 0 ? read(fd, raw, sizeof raw) : -1;
    if (fd >= 0)
        close(fd);
    if (got != (ssize_t)sizeof raw) {   /* no urandom: still different per test, though guessable */
        uint64_t x = (uint64_t)now_ms() * 6364136223846793005ull ^ (uint64_t)getpid();
        for (size_t i = 0; i < sizeof raw; i++, x = x * 6364136223846793005ull + 1442695040888963407ull)
            raw[i] = (unsigned char)(x >> 56);
    }
    for (size_t i = 0; i < sizeof raw && 2 * i + 2 < len; i++)
        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
}

/* Our children now (after the test process died, whatever it started has been re-parented to us). */
static size_t our_children(pid_t *kids, size_t max)
{
    size_t n = 0;
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
    FILE *f = fopen(path, "re");
    if (f) {
        long pid;
        while (n < max && fscanf(f, "%ld", &pid) == 1)
            kids[n++] = (pid_t)pid;
        fclose(f);
        return n;
    }
    DIR *d = opendir("/proc");   /* no children file: scan every process's parent */
    for (struct dirent *e; d && n < max && (e = readdir(d));) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        char stat[512];
        snprintf(path, sizeof path, "/proc/%.20s/stat", e->d_name);
        FILE *s = fopen(path, "re");
        if (!s)
            continue;
        size_t got = fread(stat, 1, sizeof stat - 1, s);
        fclose(s);
        stat[got] = 0;
        char *close_paren = strrchr(stat, ')'), state;
        int ppid;
        if (close_paren && sscanf(close_paren + 1, " %c %d", &state, &ppid) == 2 && ppid == getpid())
            kids[n++] = (pid_t)atol(e->d_name);
    }
    if (d)
        closedir(d);
    return n;
}

/* Kill and reap every process left; returns how many there were (-1: some would not go away). Only our own
 * children are signalled, and a child's pid cannot be reused before we reap it, so no other process is hit. */
static int reap_everything(void)
{
    int count = 0;
    for (int round = 0; round < HW_REAP_ROUNDS; round++) {
        pid_t kids[256];
        size_t n = our_children(kids, 256);
        for (size_t i = 0; i < n; i++)
            kill(kids[i], SIGKILL);
        pid_t p;
        while ((p = waitpid(-1, NULL, WNOHANG)) > 0)
            count++;
        if (p < 0 && errno == ECHILD)
            return count;
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    return -1;
}

static void drain(int *fd, char *buf, size_t cap, size_t *n, size_t *dropped)
{
    char tmp[4096];
    for (;;) {
        ssize_t r = read(*fd, tmp, sizeof tmp);
        if (r > 0) {
            size_t keep = cap - *n < (size_t)r ? cap - *n : (size_t)r;
            memcpy(buf + *n, tmp, keep);
            *n += keep;
            if (dropped)
                *dropped += (size_t)r - keep;
            continue;
        }
        if (r == 0 || (errno != EINTR && errno != EAGAIN)) {   /* end of file, or an error: stop polling it */
            close(*fd);
            *fd = -1;
        }
        if (r < 0 && errno == EINTR)
            continue;
        return;
    }
}

static char **child_env(void)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 1, sizeof *env);
    size_t k = 0;
    for (size_t i = 0; env && i < n; i++)
        if (strncmp(environ[i], "CK_", 3))   /* Check's switches (CK_FORK, CK_RUN_CASE, ...) are the grader's */
            env[k++] = environ[i];
    return env;
}

static void run_test(const char *bin, const char *dir, size_t ti, int k, result *res)
{
    memset(res, 0, sizeof *res);
    int rp[2], tp[2], op[2], ep[2];   /* result, token, output; ep tells an exec that failed (close-on-exec) */
    if (pipe2(rp, O_CLOEXEC) || pipe2(tp, O_CLOEXEC) || pipe2(op, O_CLOEXEC) || pipe2(ep, O_CLOEXEC)) {
        res->what = T_INTERNAL;
        snprintf(res->msg, sizeof res->msg, "internal: pipe: %s", strerror(errno));
        return;
    }
    char token[40] = "", si[24], sk[24];
    make_token(token, sizeof token);
    snprintf(si, sizeof si, "%zu", ti);
    snprintf(sk, sizeof sk, "%d", k);
    char **env = child_env();
    double t0 = now_ms();
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);   /* the grader gone (killed): the test goes too */
        signal(SIGPIPE, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        int null = open("/dev/null", O_RDONLY), err = fcntl(ep[1], F_DUPFD_CLOEXEC, 64);
        if (null < 0 || err < 0 || dup2(null, 0) < 0 || dup2(op[1], 1) < 0 || dup2(op[1], 2) < 0 ||
            dup2(rp[1], FD_RESULT) < 0 || dup2(tp[0], FD_TOKEN) < 0)
            _exit(126);
        for (int fd = FD_TOKEN + 1; fd < 1024; fd++)   /* nothing else of the grader's (make's jobserver, ...) */
            if (fd != err)
                close(fd);
        struct rlimit none = {0, 0};
        setrlimit(RLIMIT_CORE, &none);
        if (dir && chdir(dir))
            write_all(err, "chdir", 5);
        else
            execve(bin, (char *[]){(char *)bin, "--child", si, sk, NULL}, env);
        write_all(err, strerror(errno), strlen(strerror(errno)));
        _exit(127);
    }
    close(ep[1]);
    free(env);
    if (pid < 0) {
        res->what = T_INTERNAL;
        snprintf(res->msg, sizeof res->msg, "internal: fork: %s", strerror(errno));
        close(rp[0]), close(rp[1]), close(tp[0]), close(tp[1]), close(op[0]), close(op[1]), close(ep[0]);
        return;
    }
    setpgid(pid, pid);
    close(rp[1]), close(tp[0]), close(op[1]);
    write_all(tp[1], token, strlen(token));           /* waits in the pipe until the harness reads it */
    close(tp[1]);
    fcntl(rp[0], F_SETFL, O_NONBLOCK);
    fcntl(op[0], F_SETFL, O_NONBLOCK);
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);   /* readable when the process ends; -1: poll every 5 ms */

    char rbuf[HW_RESULT_MAX + 128];
    size_t rn = 0;
    int rfd = rp[0], ofd = op[0], status = 0;
    bool ended = false;
    double deadline = t0 + 1e3 * HW_TIMEOUT_S;
    for (;;) {
        struct pollfd pf[3] = {{ofd, POLLIN, 0}, {rfd, POLLIN, 0}, {pidfd, POLLIN, 0}};
        double left = deadline - now_ms();
        poll(pf, 3, pidfd >= 0 ? (int)(left > 0 ? left + 1 : 0) : 5);
        if (ofd >= 0)
            drain(&ofd, res->out, HW_OUT_KEEP, &res->out_n, &res->out_dropped);
        if (rfd >= 0)
            drain(&rfd, rbuf, sizeof rbuf - 1, &rn, NULL);
        /* Ended? Look without reaping: until we reap it, its pid (its group's id) cannot be reused. */
        siginfo_t si_ = {0};
        if (waitid(P_PID, (id_t)pid, &si_, WEXITED | WNOHANG | WNOWAIT) == 0 && si_.si_pid == pid) {
            ended = true;
            break;
        }
        if (interrupted || now_ms() >= deadline)
            break;
    }
    res->ms = now_ms() - t0;
    kill(-pid, SIGKILL);                              /* the test's process group, whatever state it is in */
    kill(pid, SIGKILL);                               /* and the test process, should it have left its group */
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (pidfd >= 0)
        close(pidfd);
    res->leftovers = reap_everything();
    if (ofd >= 0)
        drain(&ofd, res->out, HW_OUT_KEEP, &res->out_n, &res->out_dropped);
    if (rfd >= 0)
        drain(&rfd, rbuf, sizeof rbuf - 1, &rn, NULL);
    if (ofd >= 0)
        close(ofd);
    if (rfd >= 0)
        close(rfd);
    res->out[res->out_n] = 0;
    rbuf[rn] = 0;

    char exec_err[200] = "";
    ssize_t en = read(ep[0], exec_err, sizeof exec_err - 1);   /* the child has ended: no blocking */
    close(ep[0]);
    if (en > 0) {
        exec_err[en] = 0;
        res->what = T_INTERNAL;
        snprintf(res->msg, sizeof res->msg, "internal: cannot run %s in %s: %s", bin, dir ? dir : ".", exec_err);
        return;
    }
    res->started = rbuf[0] == 'S';
    const char *r = res->started ? rbuf + 1 : rbuf;
    if (!ended) {
        res->what = T_TIMEOUT;
        return;
    }
    if (r[0] == 'R') {
        size_t tl = strlen(token);
        if (strncmp(r + 1, token, tl) || r[1 + tl] != '\n' || (r[2 + tl] != 'P' && r[2 + tl] != 'F') ||
            r[3 + tl] != '\n') {
            res->what = T_FORGED;
            return;
        }
        res->what = r[2 + tl] == 'P' ? T_PASS : T_FAIL;
        snprintf(res->msg, sizeof res->msg, "%s", r + 4 + tl);
        return;
    }
    if (WIFSIGNALED(status)) {
        res->what = T_SIGNALED;
        res->code = WTERMSIG(status);
    } else {
        res->what = res->started ? T_EXITED : T_NOSTART;
        res->code = WEXITSTATUS(status);
    }
}

/* ---- the grader: telling the student ---------------------------------------------------------------------------- */

/* The first line of the test's output that starts with "error:" or contains ": error:" (the memory model's). */
static const char *error_line(const result *r, char *buf, size_t len)
{
    for (const char *l = r->out; *l;) {
        const char *e = strchr(l, '\n');
        size_t n = e ? (size_t)(e - l) : strlen(l);
        if (!strncmp(l, "error:", 6) || memmem(l, n, ": error:", 8)) {
            snprintf(buf, len, "%.*s", (int)n, l);
            return buf;
        }
        l += n + (e != NULL);
    }
    return NULL;
}

/* One line (or a few) saying what happened when there is no Check verdict. */
static void explain(const result *r, const char *bin, const char *test, int k, char *buf, size_t len)
{
    char el[400];
    switch (r->what) {
    case T_TIMEOUT:
        snprintf(buf, len, "did not finish in %d s: an endless loop? (a loop variable that never advances, a bound "
                 "that grows; the reference takes milliseconds)", HW_TIMEOUT_S);
        break;
    case T_NOSTART:
        snprintf(buf, len, "the test never started: code of yours ran before main (a constructor?) and ended the "
                 "process with exit status %d", r->code);
        break;
    case T_EXITED:
        if (r->code == FL_EXIT_USAGE && error_line(r, el, sizeof el))
            snprintf(buf, len, "the memory model stopped your code (exit status 2): %s%s", el,
                     strstr(el, "SRAM too small") ? " — M in the tests holds exactly the buffers your file's header "
                                                    "lists: allocate only those, each at most its size"
                     : strstr(el, "outside") ? " — a load or store past the end of the tensor: the last block is "
                                               "ragged, rows = min(B, N - start)"
                                             : "");
        else
            snprintf(buf, len, "your code ended the test process with exit status %d before the test finished "
                     "(exit, _exit, quick_exit, or an atexit hook): the test never ran to its end — return from the "
                     "function instead", r->code);
        break;
    case T_SIGNALED:
        snprintf(buf, len, "the test process was killed by signal %d (%s)%s", r->code, strsignal(r->code),
                 r->code == SIGSEGV || r->code == SIGBUS ? ": an index outside an array or tile?"
                 : r->code == SIGABRT ? ": abort() or a failed assert" : r->code == SIGFPE ? ": an integer division "
                 "by zero?" : "");
        if (r->code == SIGSEGV || r->code == SIGBUS || r->code == SIGFPE) {
            size_t n = strlen(buf);
            snprintf(buf + n, len - n, " To run this test alone in a debugger: gdb --args %s --run %s %d", bin, test,
                     k + 1);
        }
        break;
    case T_FORGED:
        snprintf(buf, len, "the test process sent back a result without the grader's token: a forged verdict");
        break;
    case T_INTERNAL:
        snprintf(buf, len, "%s", r->msg);
        break;
    default:
        snprintf(buf, len, "%s", r->msg);
    }
}

static void show_output(const result *r)
{
    if (!r->out_n)
        return;
    printf("          your code printed:\n");
    for (const char *l = r->out; *l;) {
        const char *e = strchr(l, '\n');
        int n = e ? (int)(e - l) : (int)strlen(l);
        printf("          | %.*s\n", n, l);
        l += n + (e != NULL);
    }
    if (r->out_dropped)
        printf("          | ... and %zu more bytes\n", r->out_dropped);
}

static const char *case_filter(void)
{
    const char *c = getenv("CK_RUN_CASE");
    return c && *c ? c : NULL;
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "--child"))
        return child_main((size_t)strtoul(argv[2], NULL, 10), atoi(argv[3]), false);
    if (argc == 4 && !strcmp(argv[1], "--run"))
        return run_by_hand(argv[2], argv[3]);

    const char *bin = NULL, *obj = NULL, *dir = NULL;
    bool expect_fail = false, symbol_check = true;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--binary") && i + 1 < argc)
            bin = argv[++i];
        else if (!strcmp(argv[i], "--object") && i + 1 < argc)
            obj = argv[++i];
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--expect-fail"))
            expect_fail = true;
        else if (!strcmp(argv[i], "--no-symbol-check"))
            symbol_check = false;
        else
            bin = NULL, argc = 0;
    }
    if (!bin) {
        fprintf(stderr, "usage: %s --binary BIN [--object OBJ] [--dir DIR] [--expect-fail] [--no-symbol-check]\n",
                argv[0]);
        return 2;
    }
    static char abs_bin[PATH_MAX];   /* the tests run in --dir */
    if (!realpath(bin, abs_bin)) {
        fprintf(stderr, "%s: %s: %s\n", argv[0], bin, strerror(errno));
        return 2;
    }
    bin = abs_bin;
    if (prctl(PR_SET_CHILD_SUBREAPER, 1))
        fprintf(stderr, "%s: warning: not a child subreaper (%s): a daemon a test starts may escape\n",
                homework_name, strerror(errno));
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);

    printf("== %s — %s\n", homework_name, homework_title);
    if (symbol_check && !obj) {
        fprintf(stderr, "%s: --object is needed for the symbol check (or --no-symbol-check)\n", argv[0]);
        return 2;
    }
    char verdict[HW_RESULT_MAX + 600] = "";   /* the one line that says why the exercise does not pass */
    if (!symbol_check)
        printf("  (symbol check OFF: CI's test of the run-time defences alone)\n");
    else if (!inspect_object(obj, verdict, sizeof verdict)) {
        printf("%s: NOT PASSING — refused before testing: %s\n", homework_name, verdict);
        return 1;
    }
    fflush(stdout);

    const char *only = case_filter();
    size_t ntests, total = 0, passed = 0, ran = 0;
    const hw_test *tests = homework_tests(&ntests);
    for (size_t i = 0; i < ntests; i++)
        if (!only || !strcmp(only, tests[i].name))
            total += (size_t)tests[i].n;
    if (!total) {
        printf("%s: no test is called '%s' (CK_RUN_CASE)\n", homework_name, only);
        return 2;
    }
    int width = total >= 100 ? 3 : total >= 10 ? 2 : 1;
    bool stop = false;
    for (size_t i = 0; i < ntests && !stop; i++) {
        const hw_test *t = &tests[i];
        if (only && strcmp(only, t->name))
            continue;
        int shown = 0;
        for (int k = 0; k < t->n && !stop; k++) {
            result r;
            run_test(bin, dir, i, k, &r);
            if (interrupted) {
                printf("\n%s: interrupted — every test process was ended\n", homework_name);
                return 130;
            }
            ran++;
            bool ok = r.what == T_PASS && r.leftovers == 0;
            passed += ok;
            char iter[32] = "";
            if (t->n > 1)
                snprintf(iter, sizeof iter, " %d of %d", k + 1, t->n);
            printf("  [%*zu/%zu] %s %s%s", width, ran, total, ok ? "PASS" : "FAIL", t->name, iter);
            if (ok || (expect_fail && r.what == T_FAIL && !r.leftovers)) {
                printf(" (%.0f ms)\n", r.ms);
                fflush(stdout);
                continue;
            }
            char why[HW_RESULT_MAX + 512];
            explain(&r, bin, t->name, k, why, sizeof why);
            size_t wl = strlen(why);
            if (r.what == T_PASS)   /* the assertions held, but it left processes behind */
                snprintf(why, sizeof why, "your code left %d process%s running after the test (fork, setsid, a "
                         "daemon): %s killed; a solution runs in the test's own process", r.leftovers,
                         r.leftovers == 1 ? "" : "es", r.leftovers == 1 ? "it was" : "they were");
            else if (r.leftovers > 0)
                snprintf(why + wl, sizeof why - wl, " (and it left %d process%s running: killed)", r.leftovers,
                         r.leftovers == 1 ? "" : "es");
            else if (r.leftovers < 0)
                snprintf(why + wl, sizeof why - wl, " (processes it started would not end)");
            bool ordinary = r.what == T_FAIL || r.what == T_PASS;   /* a verdict, not a process that ended early */
            if (!ordinary || shown++ < HW_SHOW_FAILURES) {
                printf("\n          %s\n", why);
                show_output(&r);
            } else {
                printf(" (failed like the ones above)\n");
            }
            fflush(stdout);
            /* The exercise's verdict names the first test that did not end the normal way (or left processes). */
            if (!verdict[0] && (r.what != T_FAIL || r.leftovers))
                snprintf(verdict, sizeof verdict, "test %s%s: %s", t->name, iter, why);
            /* The first timeout stops the exercise; code that ends the process before main fails every test. */
            stop = r.what == T_TIMEOUT || r.what == T_NOSTART || r.what == T_INTERNAL;
        }
    }
    size_t not_run = total - ran;

    if (expect_fail) {
        /* Against the untouched stub every test must fail: a test a stub passes checks nothing. */
        printf("%s: %zu of %zu tests fail against the stub%s\n", homework_name, total - passed, total,
               passed ? " — the tests marked PASS above are vacuous" : " (as they must)");
        return passed == 0 ? 0 : 1;
    }
    if (passed == total) {
        printf("%s: %zu of %zu tests pass — done!\n", homework_name, passed, total);
        return 0;
    }
    if (verdict[0])
        printf("%s: NOT PASSING — %s%s\n", homework_name, verdict,
               not_run ? " (the tests after it were not run)" : "");
    else
        printf("%s: NOT PASSING — %zu of %zu tests pass (the FAIL lines above say why)\n", homework_name, passed,
               total);
    return 1;
}
