/* check_cli.c — the common command line: cli_parse on its own (sizes with suffixes, bad numbers, unknown flags, the
 * --opt=value and -N16 forms, options a lesson does not take), then every CPU lesson binary of lessons.def run with
 * hostile inputs (exit 2, exactly one line on stderr), --help, and a default run ending in a complete summary. */
#define _XOPEN_SOURCE 700
#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check_util.h"   // defines: TCASE, str_count
#include "cli.h"
#include "proc.h"
#include "summary.h"

#ifndef BIN_DIR
#define BIN_DIR "."
#endif

/* Weak: the runner links only the lessons whose sources exist; the others' specs are NULL. */
#define LESSON(num, stem, kind, title) extern const cli_spec lesson##num##_spec __attribute__((weak));
#include "lessons.def"
#undef LESSON

typedef struct {
    const char *num, *stem, *kind;
    const cli_spec *spec;
} lesson_row;

static const lesson_row LESSONS[] = {
#define LESSON(num, stem, kind, title) {#num, #stem, #kind, &lesson##num##_spec},
#include "lessons.def"
#undef LESSON
};
#define NLESSONS (sizeof LESSONS / sizeof LESSONS[0])

/* ---- cli_parse on its own ------------------------------------------------------------------------------------- */

static const cli_spec SPEC = {.name = "testprog", .title = "t", .defaults = {.N = 64, .d = 16, .B = 1, .H = 1,
                                                                              .M_bytes = 1024}};
static const char *const ALGOS[] = {"a1", "a2", NULL};
static const cli_spec SPEC_ALL = {.name = "testall", .title = "t", .defaults = {.N = 64, .d = 16, .B = 1, .H = 1,
                                                                                 .M_bytes = 1024},
                                  .extra = CLI_OPT_CAUSAL | CLI_OPT_ALGO | CLI_OPT_STEP | CLI_OPT_TRACE,
                                  .algos = ALGOS};

static char parse_err[1024];   /* what the last parse() wrote to stderr */

/* cli_parse with stderr captured: returns the status, *lines gets the number of lines written to stderr (and
 * parse_err their text). */
static int parse(const cli_spec *spec, cli_cfg *cfg, int *lines, int argc, const char *const *argv)
{
    char path[] = "/tmp/flashlab_cli_XXXXXX";
    int fd = mkstemp(path), saved = dup(2), saved_out = dup(1), null = open("/dev/null", O_WRONLY);
    ck_assert(fd >= 0 && saved >= 0 && saved_out >= 0 && null >= 0);
    fflush(NULL);
    dup2(fd, 2);
    dup2(null, 1);   /* --help and --version print to stdout */
    char *av[32] = {(char *)spec->name};
    for (int i = 0; i < argc; i++)
        av[i + 1] = (char *)argv[i];
    int rc = cli_parse(spec, argc + 1, av, cfg);
    fflush(NULL);
    dup2(saved, 2);
    dup2(saved_out, 1);
    close(saved);
    close(saved_out);
    close(null);
    FILE *f = fdopen(fd, "r");
    rewind(f);
    int c, n = 0;
    size_t len = 0;
    while ((c = fgetc(f)) != EOF) {
        n += c == '\n';
        if (len + 1 < sizeof parse_err)
            parse_err[len++] = (char)c;
    }
    parse_err[len] = 0;
    fclose(f);
    unlink(path);
    *lines = n;
    return rc;
}

#define PARSE(spec, cfg, lines, ...) \
    parse((spec), (cfg), (lines), (int)(sizeof((const char *[]){__VA_ARGS__}) / sizeof(const char *)), \
          (const char *[]){__VA_ARGS__})

START_TEST(byte_sizes)
{
    static const struct { const char *s; size_t v; } ok[] = {
        {"4096", 4096}, {"64K", 65536}, {"64KiB", 65536}, {"64KB", 65536}, {"1M", 1048576}, {"2MiB", 2097152},
        {"1G", 1073741824}, {"100B", 100}, {"0", 0}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        size_t v = 1;
        ck_assert_msg(cli_parse_bytes(ok[i].s, &v) && v == ok[i].v, "'%s' -> %zu", ok[i].s, v);
    }
    static const char *const bad[] = {"", "K", "-1", "12Q", "1.5K", " 64", "64 K", "0x10", "99999999999999999999999",
                                      "18014398509481984K", "64k B"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t v = 7;
        ck_assert_msg(!cli_parse_bytes(bad[i], &v) && v == 7, "'%s' accepted", bad[i]);
    }
}
END_TEST

START_TEST(good_command_lines)
{
    cli_cfg c;
    int lines;
    ck_assert_int_eq(PARSE(&SPEC, &c, &lines, "-N16", "-d", "3", "--sram=64K", "--dtype=bf16"), CLI_OK);
    ck_assert(c.N == 16 && c.d == 3 && c.M_bytes == 65536 && c.dtype == DTYPE_BF16 && lines == 0);
    ck_assert_int_eq(PARSE(&SPEC, &c, &lines, "--seq-len", "10", "--block-rows=3", "--block-cols", "10", "--seed",
                           "18446744073709551615", "--quiet", "--count-only"),
                     CLI_OK);
    ck_assert(c.N == 10 && c.Br == 3 && c.Bc == 10 && c.seed == UINT64_MAX && c.quiet && c.count_only);
    ck_assert_int_eq(PARSE(&SPEC_ALL, &c, &lines, "--trace", "csv", "--trace-file", "x.csv", "--batch=2", "--heads=3"),
                     CLI_OK);
    ck_assert(c.trace == TRACE_CSV && !strcmp(c.trace_file, "x.csv") && c.B == 2 && c.H == 3);
    ck_assert_uint_eq(cli_trace_limit(&c), CLI_TRACE_LIMIT);   /* not given: the default */
    ck_assert_int_eq(PARSE(&SPEC_ALL, &c, &lines, "--trace", "json", "--trace-limit", "512M"), CLI_OK);
    ck_assert_uint_eq(cli_trace_limit(&c), (uint64_t)512 << 20);
    ck_assert_int_eq(PARSE(&SPEC_ALL, &c, &lines, "--trace-limit=3"), CLI_OK);
    ck_assert_uint_eq(c.trace_limit, 3);
    ck_assert_int_eq(PARSE(&SPEC, &c, &lines, "-M", "1MiB"), CLI_OK);
    ck_assert_uint_eq(c.M_bytes, 1 << 20);
    ck_assert_int_eq(PARSE(&SPEC_ALL, &c, &lines, "--causal", "--algo", "a2", "--step"), CLI_OK);
    ck_assert(c.causal && !strcmp(c.algo, "a2") && c.step);
    ck_assert_int_eq(PARSE(&SPEC, &c, &lines, "--version"), CLI_DONE);
}
END_TEST

START_TEST(bad_command_lines)
{
    static const char *const bad[][4] = {
        {"-N", "0"}, {"-N", "-3"}, {"-N", "abc"}, {"-N", "12x"}, {"-N", "99999999999999999999999"},
        {"-N", "16777217"}, {"-d", "0"}, {"-d", "16385"}, {"--sram", "0"}, {"--sram", "12Q"}, {"--sram", "2T"},
        {"--bogus"}, {"-x"}, {"--seq-len"}, {"-N"}, {"--quiet=1"}, {"--dtype", "fp8"}, {"--trace", "xml"},
        {"--block-rows", "65"}, {"--block-cols", "0"}, {"--seed", "-1"}, {"--trace-file", "t.txt"},
        {"--causal"}, {"--algo", "a1"}, {"--step"}, {"--threads", "2"}, {"extra"}, {"-"}, {"--"},
        {"--seq-len-x=3"}, {"-Nx"}, {"--batch", "65537"}, {"--heads", "0"}, {"--trace", "csv"},
        {"--trace-limit", "1G"}, {"--trace", "html"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int argc = 0;
        while (argc < 4 && bad[i][argc])
            argc++;
        cli_cfg c;
        int lines = 0;
        int rc = parse(&SPEC, &c, &lines, argc, bad[i]);
        ck_assert_msg(rc == CLI_ERROR && lines == 1, "'%s %s': status %d, %d lines on stderr", bad[i][0],
                      bad[i][1] ? bad[i][1] : "", rc, lines);
    }
    cli_cfg c;
    int lines;
    ck_assert_int_eq(PARSE(&SPEC_ALL, &c, &lines, "--algo", "a3"), CLI_ERROR);
    ck_assert_int_eq(lines, 1);
    ck_assert_int_eq(PARSE(&SPEC_ALL, &c, &lines, "--trace", "html"), CLI_ERROR);   /* a page needs a file */
    ck_assert(lines == 1 && strstr(parse_err, "--trace-file"));
    ck_assert_int_eq(PARSE(&SPEC_ALL, &c, &lines, "--trace", "html", "--trace-file", "x.html"), CLI_OK);
    ck_assert(c.trace == TRACE_HTML && cli_trace_limit(&c) == TRACE_HTML_LIMIT);
    /* where the lesson traces: a limit must be a byte count of at least 1 */
    static const char *const bad_limit[] = {"0", "-1", "1X", "", "99999999999999999999G"};
    for (size_t i = 0; i < sizeof bad_limit / sizeof bad_limit[0]; i++) {
        ck_assert_int_eq(PARSE(&SPEC_ALL, &c, &lines, "--trace-limit", bad_limit[i]), CLI_ERROR);
        ck_assert_int_eq(lines, 1);
    }
}
END_TEST

/* A near miss gets the name it probably meant; a far one gets none, and never an option the lesson does not take. */
START_TEST(did_you_mean)
{
    static const struct { const cli_spec *spec; const char *a, *b, *hint; } cases[] = {
        {&SPEC, "--seqlen", "5", "did you mean --seq-len?"},
        {&SPEC, "--blockrows=3", NULL, "did you mean --block-rows?"},
        {&SPEC, "--hlep", NULL, "did you mean --help?"},
        {&SPEC_ALL, "--tracefile", "x", "did you mean --trace-file?"},
        {&SPEC_ALL, "--trace", "htm", "did you mean html?"},
        {&SPEC, "--dtype", "fp61", "did you mean fp16?"},
        {&SPEC_ALL, "--algo", "a3", "did you mean a1?"},
        {&SPEC, "--bogus", NULL, NULL},
        {&SPEC, "--causl", NULL, NULL},        /* SPEC takes no --causal: not suggested */
        {&SPEC, "--trace", "html", NULL},     /* nor --trace */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cli_cfg c;
        int lines;
        const char *argv[] = {cases[i].a, cases[i].b};
        ck_assert_int_eq(parse(cases[i].spec, &c, &lines, cases[i].b ? 2 : 1, argv), CLI_ERROR);
        ck_assert_int_eq(lines, 1);
        if (cases[i].hint)
            ck_assert_msg(strstr(parse_err, cases[i].hint), "'%s': '%s' lacks '%s'", cases[i].a, parse_err,
                          cases[i].hint);
        else
            ck_assert_msg(!strstr(parse_err, "did you mean"), "'%s': '%s' suggests something", cases[i].a,
                          parse_err);
    }
}
END_TEST

/* ---- the lesson binaries ------------------------------------------------------------------------------------- */

/* Absolute path of lesson k's binary, or false when it is not built (or not a CPU lesson). */
static bool lesson_bin(size_t k, char *path, size_t len)
{
    char rel[256];
    if (strcmp(LESSONS[k].kind, "cpu"))
        return false;
    snprintf(rel, sizeof rel, "%s/lesson%s", BIN_DIR, LESSONS[k].num);
    char *abs = realpath(rel, NULL);
    if (!abs)
        return false;
    snprintf(path, len, "%s", abs);
    free(abs);
    return access(path, X_OK) == 0;
}

/* Every CPU lesson of lessons.def has its source, its spec linked into this runner, and its binary. */
START_TEST(every_cpu_lesson_exists)
{
    for (size_t k = 0; k < NLESSONS; k++) {
        if (strcmp(LESSONS[k].kind, "cpu"))
            continue;
        char src[256], bin[PATH_MAX];
        snprintf(src, sizeof src, "lessons/lesson%s_%s.c", LESSONS[k].num, LESSONS[k].stem);
        ck_assert_msg(access(src, R_OK) == 0, "lessons.def lists %s, which does not exist", src);
        ck_assert_msg(LESSONS[k].spec != NULL, "lesson%s_spec is not linked into the test runner", LESSONS[k].num);
        ck_assert_msg(lesson_bin(k, bin, sizeof bin), "%s/lesson%s is not built", BIN_DIR, LESSONS[k].num);
    }
}
END_TEST

/* Bad input of every kind: exit status 2 and exactly one line on stderr, never a crash or a hang (a value with a
 * newline or raw bytes is echoed escaped, so it is still one line). Failing destinations, exit 3: check_output.c. */
START_TEST(hostile_inputs)
{
    static const char *const hostile[][6] = {
        {"-N", "0"}, {"-N", "-3"}, {"-N", "abc"}, {"-N", "99999999999999999999999"}, {"-d", "0"}, {"--sram", "0"},
        {"--sram", "12Q"}, {"--sram", "1"}, {"--bogus"}, {"-x"}, {"--dtype", "fp8"}, {"--trace", "xml"},
        {"--block-rows", "999999999"}, {"--block-cols", "0"}, {"--seed", "-1"}, {"--trace-file", "/tmp/t.txt"},
        {"--trace-limit", "0"}, {"extra"}, {"-N"}, {"--help=1"}, {"--batch", "0"}, {"--heads", "99999999"},
        {"-N", "16\n"}, {"--dtype", "fp\n16"}, {"--seq-len", "\xff\xfe\x1b[2J"}};
    char bin[PATH_MAX];
    size_t ran = 0;
    for (size_t k = 0; k < NLESSONS; k++) {
        if (!lesson_bin(k, bin, sizeof bin))
            continue;
        ran++;
        size_t n = sizeof hostile / sizeof hostile[0];
        for (size_t h = 0; h <= n; h++) {
            const char *causal[] = {"--causal", NULL};
            const char *const *args = h < n ? hostile[h] : causal;
            if (h == n && (!LESSONS[k].spec || (LESSONS[k].spec->extra & CLI_OPT_CAUSAL)))
                continue;   /* --causal is bad input only where the lesson does not take it */
            proc p = run_bin(bin, args, "/tmp");
            ck_assert_msg(!p.timed_out, "lesson%s %s %s: hung", LESSONS[k].num, args[0], args[1] ? args[1] : "");
            ck_assert_msg(p.status == 2 && count_lines(p.err) == 1 && p.err[strlen(p.err) - 1] == '\n',
                          "lesson%s %s %s: exit %d, stderr '%s'", LESSONS[k].num, args[0], args[1] ? args[1] : "",
                          p.status, p.err);
            ck_assert_msg(strstr(p.err, "error"), "lesson%s: stderr says no error: %s", LESSONS[k].num, p.err);
            proc_free(&p);
        }
    }
    ck_assert_uint_ge(ran, 3);   /* lessons 01-03 at least are built before the tests run */
}
END_TEST

/* An SRAM too small for one tile names the M that would do: following the hint (at most once per algorithm the
 * lesson runs) gets a run that exits 0, and every hint asks for more than the M before it. */
START_TEST(sram_error_names_the_m_that_fits)
{
    char bin[PATH_MAX];
    size_t tried = 0;
    for (size_t k = 0; k < NLESSONS; k++) {
        if (!lesson_bin(k, bin, sizeof bin) || !strcmp(LESSONS[k].num, "05") || !strcmp(LESSONS[k].num, "13"))
            continue;   /* lesson05 sweeps M itself; lesson13's Figure 2 runs GPT-2's fixed shape (1024 heads) at M */
        unsigned long M = 16;
        int runs = 0;
        for (;; runs++) {
            char m[32];
            snprintf(m, sizeof m, "%lu", M);
            /* N = 512 keeps the tile count of the smallest blocks under the walk limit in every lesson */
            const char *args[] = {"-M", m, "-N", "512", "--quiet", "--count-only", NULL};
            proc p = run_bin(bin, args, "/tmp");
            if (p.status == 0) {
                proc_free(&p);
                break;
            }
            const char *hint = strstr(p.err, "-M ");
            ck_assert_msg(p.status == 2 && strstr(p.err, "SRAM too small") && hint && runs < 4,
                          "lesson%s -M %lu: exit %d, '%s'", LESSONS[k].num, M, p.status, p.err);
            unsigned long next = strtoul(hint + 3, NULL, 10);
            ck_assert_msg(next > M, "lesson%s -M %lu: the hint asks for -M %lu", LESSONS[k].num, M, next);
            M = next;
            proc_free(&p);
        }
        tried += runs > 0;
    }
    ck_assert_uint_ge(tried, 3);
}
END_TEST

/* A lesson run with --step on a terminal (a pseudo-terminal here): "c" runs on without pausing, "q" stops at once
 * with status 0 and no summary, the end of input (Ctrl-D) too. */
static proc run_on_tty(const char *bin, const char *const *args, const char *answer)
{
    proc p = {.status = -1};
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    ck_assert_int_ge(master, 0);
    ck_assert(grantpt(master) == 0 && unlockpt(master) == 0);
    const char *slave = ptsname(master);
    ck_assert_ptr_nonnull(slave);
    const char *argv[16] = {bin};
    for (int i = 0; args[i] && i < 14; i++)
        argv[i + 1] = args[i];
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        setsid();
        int fd = open(slave, O_RDWR);   /* the session's controlling terminal */
        if (fd < 0 || dup2(fd, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
            _exit(126);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    size_t cap = 1 << 20, len = 0;
    char *out = calloc(cap, 1);
    bool answered = false;
    for (int waited = 0; waited < 60000;) {
        struct timespec tick = {0, 2 * 1000 * 1000};
        char buf[4096];
        int fl = fcntl(master, F_GETFL);
        fcntl(master, F_SETFL, fl | O_NONBLOCK);
        ssize_t n = read(master, buf, sizeof buf);
        if (n > 0) {
            size_t take = (size_t)n < cap - 1 - len ? (size_t)n : cap - 1 - len;
            memcpy(out + len, buf, take);
            len += take;
            if (!answered && strstr(out, "q: quit] ")) {
                ck_assert_int_eq(write(master, answer, strlen(answer)), (ssize_t)strlen(answer));
                answered = true;
            }
            continue;
        }
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {   /* read what is left, then stop */
            while ((n = read(master, buf, sizeof buf)) > 0 && len + (size_t)n < cap)
                memcpy(out + len, buf, (size_t)n), len += (size_t)n;
            p.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
            break;
        }
        nanosleep(&tick, NULL);
        waited += 2;
    }
    if (p.status == -1) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        p.timed_out = true;
    }
    close(master);
    p.out = out;
    p.err = calloc(1, 1);
    return p;
}

START_TEST(step_answers)
{
    char bin[PATH_MAX];
    size_t k = 0;
    while (k < NLESSONS && strcmp(LESSONS[k].num, "03"))
        k++;
    ck_assert_msg(k < NLESSONS && lesson_bin(k, bin, sizeof bin), "lesson03 is not built");
    const char *args[] = {"--step", NULL};
    proc q = run_on_tty(bin, args, "q\n");
    ck_assert_msg(q.status == 0 && strstr(q.out, "stopped at your request") && !strstr(q.out, "summary:"),
                  "q: exit %d, output '%.2000s'", q.status, q.out);
    ck_assert_uint_eq(str_count(q.out, "q: quit] "), 1);
    proc_free(&q);
    proc c = run_on_tty(bin, args, "c\n");
    ck_assert_msg(c.status == 0 && strstr(c.out, "summary: lesson=lesson03"), "c: exit %d, output '%.300s'",
                  c.status, c.out);
    ck_assert_uint_eq(str_count(c.out, "q: quit] "), 1);   /* no pause after "c" */
    proc_free(&c);
    proc d = run_on_tty(bin, args, "\x04");   /* Ctrl-D: the end of input */
    ck_assert_msg(d.status == 0 && strstr(d.out, "stopped at your request"), "Ctrl-D: exit %d", d.status);
    proc_free(&d);
}
END_TEST

START_TEST(help_and_version)
{
    char bin[PATH_MAX];
    for (size_t k = 0; k < NLESSONS; k++) {
        if (!lesson_bin(k, bin, sizeof bin))
            continue;
        for (int v = 0; v < 2; v++) {
            const char *args[] = {v ? "--version" : "--help", NULL};
            proc p = run_bin(bin, args, "/tmp");
            char want[32];
            snprintf(want, sizeof want, "lesson%s", LESSONS[k].num);
            ck_assert_msg(p.status == 0 && !*p.err && !strncmp(p.out, want, strlen(want)),
                          "lesson%s %s: exit %d, stdout '%.60s', stderr '%s'", LESSONS[k].num, args[0], p.status,
                          p.out, p.err);
            proc_free(&p);
        }
    }
}
END_TEST

/* The summary keys every lesson must print. */
static const char *const REQUIRED[] = {"lesson", "algo", "N", "d", "B", "H", "M_bytes", "Br", "Bc", "dtype",
                                       "hbm_read_elems", "hbm_write_elems", "hbm_read_bytes", "hbm_write_bytes",
                                       "sram_peak_bytes", "flops", "exps", "max_abs_err"};

/* The last line of out: a summary with every required key, counts as whole numbers, a finite error. */
static void check_summary(const char *out, const char *lesson)
{
    size_t len = strlen(out);
    ck_assert_msg(len > 0 && out[len - 1] == '\n', "%s: stdout does not end with a newline", lesson);
    const char *last = out + len - 1;
    while (last > out && last[-1] != '\n')
        last--;
    ck_assert_msg(!strncmp(last, "summary: ", 9), "%s: the last line is not a summary: %s", lesson, last);
    for (size_t i = 0; i < sizeof REQUIRED / sizeof REQUIRED[0]; i++) {
        char v[128];
        ck_assert_msg(summary_get(last, REQUIRED[i], v, sizeof v) && *v, "%s: summary lacks %s", lesson,
                      REQUIRED[i]);
        if (!strcmp(REQUIRED[i], "lesson"))
            ck_assert_str_eq(v, lesson);
        else if (!strcmp(REQUIRED[i], "max_abs_err")) {   /* a number; "na" only where nothing was computed */
            char *end, co[8] = "0";
            double e = strtod(v, &end);
            summary_get(last, "count_only", co, sizeof co);
            ck_assert_msg((!*end && e >= 0 && e < 1e30) || (!strcmp(v, "na") && !strcmp(co, "1")),
                          "%s: max_abs_err=%s (count_only=%s)", lesson, v, co);
        } else if (strcmp(REQUIRED[i], "algo") && strcmp(REQUIRED[i], "dtype")) {
            ck_assert_msg(strspn(v, "0123456789") == strlen(v), "%s: %s=%s is not a count", lesson, REQUIRED[i], v);
        }
    }
}

/* The default run ends with the summary; --quiet prints only it. It runs in a scratch directory, and lessons that
 * write data files write them there (--out-dir), not into the repository. */
START_TEST(default_run_ends_with_summary)
{
    char bin[PATH_MAX], dir[] = "/tmp/flashlab_run_XXXXXX", lesson[32];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    for (size_t k = 0; k < NLESSONS; k++) {
        if (!lesson_bin(k, bin, sizeof bin))
            continue;
        snprintf(lesson, sizeof lesson, "lesson%s", LESSONS[k].num);
        bool files = LESSONS[k].spec && (LESSONS[k].spec->extra & CLI_OPT_OUT_DIR);
        for (int quiet = 0; quiet < 2; quiet++) {
            const char *args[4] = {NULL}, **a = args;
            if (files)
                *a++ = "--out-dir", *a++ = dir;
            if (quiet)
                *a++ = "--quiet";
            proc p = run_bin(bin, args, dir);
            ck_assert_msg(p.status == 0, "%s%s: exit %d, stderr '%s'", lesson, quiet ? " --quiet" : "", p.status,
                          p.err);
            check_summary(p.out, lesson);
            if (quiet)
                ck_assert_msg(count_lines(p.out) == 1, "%s --quiet printed %zu lines", lesson, count_lines(p.out));
            proc_free(&p);
        }
    }
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

Suite *cli_suite(void)
{
    Suite *s = suite_create("cli");
    TCASE(s, "Parse", 0, {byte_sizes}, {good_command_lines}, {bad_command_lines}, {did_you_mean});
    TCASE(s, "Binaries", 600, {every_cpu_lesson_exists}, {hostile_inputs}, {help_and_version},
          {sram_error_names_the_m_that_fits}, {step_answers}, {default_run_ends_with_summary});
    return s;
}
