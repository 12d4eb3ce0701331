/* check_output.c — no output is lost in silence. Every lesson's stdout, a trace file and lesson05's .dat files are
 * sent to destinations that really fail (/dev/full, a path under a regular file, a file-size limit that stops a write
 * half-way, as a full disk would): exit status 3, exactly one line on stderr, and no partial or temporary file left
 * (a good file from an earlier run stays as it was). A trace estimated above --trace-limit is refused before the run
 * (exit 2), and one that reaches the limit while writing is stopped and removed. Echoed values are escaped, the
 * summary writes na for anything not measured, and count-only SRAM costs no host memory. */
#define _XOPEN_SOURCE 700
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "attention.h"
#include "lessons.h"
#include "outfile.h"
#include "proc.h"
#include "summary.h"
#include "trace.h"
#include "util.h"

#ifndef BIN_DIR
#define BIN_DIR "."
#endif

/* A census formats one event in TRACE_CENSUS_SAMPLE of each kind; events of one kind differ only in the digits of
 * their numbers and the length of their names, so its estimate lands within a few percent of the real size. */
#define CENSUS_TOLERANCE 0.05

/* ---- helpers ------------------------------------------------------------------------------------------------- */

/* Run a lesson with stdout sent to out (NULL: captured in p.out), in cwd (NULL: here), and with writes to regular
 * files limited to fsize bytes (0: no limit; past it a write fails with EFBIG, as on a full disk). */
static proc run_lesson(const char *lesson, const char *const *args, const char *out, long fsize, const char *cwd)
{
    char path[PATH_MAX];
    ck_assert_msg(bin_find(lesson, path, sizeof path), "%s/%s is not built", BIN_DIR, lesson);
    return run_bin_with(path, args, (proc_opts){.cwd = cwd, .out = out, .fsize = fsize});
}

/* The status, and exactly one line on stderr naming an error. */
static void expect_one_line(const proc *p, int status, const char *what)
{
    ck_assert_msg(!p->timed_out, "%s: hung", what);
    ck_assert_msg(p->status == status && count_lines(p->err) == 1 && p->err[strlen(p->err) - 1] == '\n' &&
                      strstr(p->err, "error"),
                  "%s: exit %d (want %d), stderr '%s'", what, p->status, status, p->err);
}

static char *scratch(char *buf)
{
    strcpy(buf, "/tmp/flashlab_outp_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(buf));
    return buf;
}

/* A new scratch directory dir, and path = dir/name (not created). */
static void scratch_file(char *dir, char *path, size_t len, const char *name)
{
    snprintf(path, len, "%s/%s", scratch(dir), name);
}

static void remove_tree(const char *dir)
{
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Entries of dir other than . and .. (temporary files included: they start with a dot). */
static int entries(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "cannot open %s", dir);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

static char *read_file(const char *path)
{
    int fd = open(path, O_RDONLY);
    ck_assert_msg(fd >= 0, "cannot read %s", path);
    return slurp(fd);
}

/* ---- stdout --------------------------------------------------------------------------------------------------- */

static const char *const CPU_LESSONS[] = {"lesson01", "lesson02", "lesson03", "lesson04", "lesson05", "lesson06",
                                          "lesson07"};

/* stdout on a full device: every lesson says so in one line and exits 3 — its run, its --help. */
START_TEST(stdout_full)
{
    char dir[64];
    scratch(dir);
    for (size_t k = 0; k < sizeof CPU_LESSONS / sizeof CPU_LESSONS[0]; k++) {
        const char *quiet[] = {"--quiet", "--out-dir", dir, NULL}, *help[] = {"--help", NULL};
        if (strcmp(CPU_LESSONS[k], "lesson05"))
            quiet[1] = NULL;
        proc p = run_lesson(CPU_LESSONS[k], quiet, "/dev/full", 0, dir);
        expect_one_line(&p, FL_EXIT_IO, CPU_LESSONS[k]);
        ck_assert_msg(strstr(p.err, "standard output"), "%s: %s", CPU_LESSONS[k], p.err);
        proc_free(&p);
        p = run_lesson(CPU_LESSONS[k], help, "/dev/full", 0, dir);
        expect_one_line(&p, FL_EXIT_IO, CPU_LESSONS[k]);
        proc_free(&p);
        p = run_lesson(CPU_LESSONS[k], help, "/dev/null", 0, dir);   /* the same, somewhere that takes it */
        ck_assert_msg(p.status == 0 && !*p.err, "%s --help > /dev/null: exit %d, '%s'", CPU_LESSONS[k], p.status,
                      p.err);
        proc_free(&p);
    }
    const char *full[] = {NULL};   /* not --quiet: pages of tables, then the summary */
    proc p = run_lesson("lesson02", full, "/dev/full", 0, dir);
    expect_one_line(&p, FL_EXIT_IO, "lesson02 > /dev/full");
    proc_free(&p);
    remove_tree(dir);
}
END_TEST

/* ---- trace files ---------------------------------------------------------------------------------------------- */

START_TEST(trace_on_full_device)
{
    const char *file[] = {"--trace", "json", "--trace-file", "/dev/full", "--quiet", NULL};
    proc p = run_lesson("lesson03", file, NULL, 0, NULL);
    expect_one_line(&p, FL_EXIT_IO, "lesson03 --trace-file /dev/full");
    ck_assert_msg(strstr(p.err, "cannot write the trace to '/dev/full'"), "%s", p.err);
    proc_free(&p);
    const char *out[] = {"--trace", "text", NULL};
    p = run_lesson("lesson03", out, "/dev/full", 0, NULL);
    expect_one_line(&p, FL_EXIT_IO, "lesson03 --trace text > /dev/full");
    ck_assert_msg(strstr(p.err, "standard output"), "%s", p.err);
    proc_free(&p);
}
END_TEST

/* A trace file whose directory cannot exist (a regular file is in the way), or that is a directory: exit 3. */
START_TEST(trace_where_no_file_can_be)
{
    char dir[64], in_the_way[128], under[192];
    scratch_file(dir, in_the_way, sizeof in_the_way, "plain");
    write_file(in_the_way, "a regular file\n");
    snprintf(under, sizeof under, "%s/sub/t.csv", in_the_way);
    const char *args[] = {"--trace", "csv", "--trace-file", under, NULL};
    proc p = run_lesson("lesson03", args, NULL, 0, NULL);
    expect_one_line(&p, FL_EXIT_IO, "lesson03 --trace-file under a regular file");
    ck_assert_msg(strstr(p.err, "is not a directory"), "%s", p.err);
    ck_assert_msg(!*p.out, "the lesson ran although its trace could not be written: %.200s", p.out);
    proc_free(&p);
    args[3] = dir;
    p = run_lesson("lesson03", args, NULL, 0, NULL);
    expect_one_line(&p, FL_EXIT_IO, "lesson03 --trace-file a directory");
    proc_free(&p);
    ck_assert_int_eq(entries(dir), 1);
    remove_tree(dir);
}
END_TEST

/* The disk fills up half-way through the trace (a file-size limit makes write() fail as ENOSPC would): exit 3, and
 * nothing is left but what was there before: no truncated JSON, no temporary file, the old file untouched. */
START_TEST(trace_disk_full_half_way)
{
    char dir[64], path[128];
    scratch_file(dir, path, sizeof path, "t.json");
    const char *args[] = {"--trace", "json", "--trace-file", path, "--quiet", "-N", "32", NULL};
    proc p = run_lesson("lesson03", args, "/dev/null", 8192, NULL);
    expect_one_line(&p, FL_EXIT_IO, "lesson03 --trace json on a full disk");
    ck_assert_msg(strstr(p.err, "cannot write the trace"), "%s", p.err);
    ck_assert_int_eq(entries(dir), 0);
    proc_free(&p);

    write_file(path, "a good trace of an earlier run\n");
    p = run_lesson("lesson03", args, "/dev/null", 8192, NULL);
    expect_one_line(&p, FL_EXIT_IO, "lesson03 --trace json on a full disk, over an old file");
    char *kept = read_file(path);
    ck_assert_str_eq(kept, "a good trace of an earlier run\n");
    free(kept);
    ck_assert_int_eq(entries(dir), 1);
    proc_free(&p);
    remove_tree(dir);
}
END_TEST

/* Where everything works: the directories are made, the trace is complete, no temporary file stays, and the file
 * has the mode fopen would have given it. */
START_TEST(trace_written_whole)
{
    char dir[64], sub[96], path[128];
    scratch_file(dir, sub, sizeof sub, "a/b");
    snprintf(path, sizeof path, "%s/t.json", sub);
    const char *args[] = {"--trace", "json", "--trace-file", path, "--quiet", NULL};
    proc p = run_lesson("lesson03", args, NULL, 0, NULL);
    ck_assert_msg(p.status == 0 && !*p.err, "exit %d, stderr '%s'", p.status, p.err);
    proc_free(&p);
    char *json = read_file(path);
    size_t n = strlen(json);
    ck_assert_msg(n > 100 && json[0] == '{' && !strcmp(json + n - 4, "\n]}\n"), "incomplete JSON (%zu bytes)", n);
    free(json);
    ck_assert_int_eq(entries(sub), 1);
    struct stat st;
    mode_t mask = umask(0);
    umask(mask);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0666 & ~mask);
    remove_tree(dir);
}
END_TEST

/* ---- trace size ----------------------------------------------------------------------------------------------- */

/* The example: a trace of ~10 GiB is refused at once, with exit 2 and one line, and nothing is written. */
START_TEST(huge_trace_refused_at_once)
{
    char dir[64], path[128];
    scratch_file(dir, path, sizeof path, "t.json");
    const char *args[] = {"--count-only", "--trace", "json", "-N", "65536", "-d", "64", "-M", "64K", NULL};
    proc p = run_lesson("lesson04", args, NULL, 0, dir);
    expect_one_line(&p, FL_EXIT_USAGE, "lesson04 --trace json -N 65536");
    ck_assert_msg(strstr(p.err, "--trace-limit") && strstr(p.err, "GiB"), "%s", p.err);
    ck_assert_msg(!*p.out, "something was printed before the refusal: %.200s", p.out);
    proc_free(&p);
    const char *to_file[] = {"--count-only", "--trace", "json", "-N", "65536", "-d", "64", "-M", "64K",
                             "--trace-file", path, NULL};
    p = run_lesson("lesson04", to_file, NULL, 0, dir);
    expect_one_line(&p, FL_EXIT_USAGE, "lesson04 --trace json -N 65536 --trace-file");
    ck_assert_int_eq(entries(dir), 0);
    proc_free(&p);
    remove_tree(dir);
}
END_TEST

static long file_size(const char *path)
{
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    return (long)st.st_size;
}

/* --trace-limit decides by the estimate: a little below the real size is refused (with the estimate), a little above
 * is written, whole. */
START_TEST(trace_limit_follows_the_estimate)
{
    char dir[64], path[128], limit[32];
    scratch_file(dir, path, sizeof path, "t.csv");
    const char *args[] = {"--count-only", "--quiet", "--trace", "csv", "-N", "512", "-d", "16", "-M", "4K",
                          "--trace-file", path, "--trace-limit", limit, NULL};
    snprintf(limit, sizeof limit, "1G");
    proc p = run_lesson("lesson04", args, NULL, 0, NULL);
    ck_assert_msg(p.status == 0, "exit %d: %s", p.status, p.err);
    proc_free(&p);
    long size = file_size(path);
    ck_assert_int_gt(size, 100000);
    unlink(path);

    snprintf(limit, sizeof limit, "%ld", size * 8 / 10);
    p = run_lesson("lesson04", args, NULL, 0, NULL);
    expect_one_line(&p, FL_EXIT_USAGE, "a limit below the trace's size");
    ck_assert_msg(strstr(p.err, "would write about"), "%s", p.err);
    ck_assert_int_eq(entries(dir), 0);
    proc_free(&p);

    snprintf(limit, sizeof limit, "%ld", size * 12 / 10);
    p = run_lesson("lesson04", args, NULL, 0, NULL);
    ck_assert_msg(p.status == 0, "a limit above the trace's size: exit %d: %s", p.status, p.err);
    ck_assert_int_eq(file_size(path), size);
    proc_free(&p);
    remove_tree(dir);
}
END_TEST

/* Called without cli_main (so with no estimate first), a lesson whose trace reaches the limit is stopped while
 * writing: exit 2, one line, the partial file removed. */
START_TEST(trace_limit_holds_while_writing)
{
    char dir[64], path[128], err[] = "/tmp/flashlab_err_XXXXXX";
    scratch_file(dir, path, sizeof path, "t.csv");
    int fe = mkstemp(err);
    ck_assert_int_ge(fe, 0);
    unlink(err);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null < 0 || dup2(null, 1) < 0 || dup2(fe, 2) < 0)
            _exit(126);
        char *argv[] = {"lesson03", "--trace", "csv", "--trace-file", path, "--trace-limit", "2000", NULL};
        cli_cfg cfg;
        if (cli_parse(&lesson03_spec, 7, argv, &cfg) != CLI_OK)
            _exit(125);
        exit(lesson03_run(&cfg));
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    char *msg = slurp(fe);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == FL_EXIT_USAGE && count_lines(msg) == 1,
                  "status %d, stderr '%s'", st, msg);
    ck_assert_msg(strstr(msg, "reached --trace-limit"), "%s", msg);
    free(msg);
    ck_assert_int_eq(entries(dir), 0);
    remove_tree(dir);
}
END_TEST

/* A census (a trace on no stream) estimates within CENSUS_TOLERANCE of what the real trace writes, each format. */
START_TEST(census_estimates_the_size)
{
    for (int f = TRACE_TEXT; f <= TRACE_JSON; f++) {
        uint64_t size[2], events[2];
        for (int census = 0; census < 2; census++) {
            char *buf = NULL;
            size_t len = 0;
            FILE *out = census ? NULL : open_memstream(&buf, &len);
            mem_t *m = mem_create(8 << 10, true);
            attn_params p = {.algo = ATTN_FLASH1, .B = 1, .N = 777, .H = 2, .d = 16, .Br = 16, .Bc = 32,
                             .causal = f == TRACE_CSV};
            trace_t *tr = trace_open(m, (trace_fmt)f, out);
            attn_tensors t = attn_alloc(m, &p, DTYPE_FP16, false);
            attn_forward(m, &p, &t);
            attn_free(m, &t);
            size[census] = trace_bytes(tr);
            events[census] = trace_events(tr);
            ck_assert_int_eq(trace_close(tr), 0);
            if (!census) {
                fclose(out);
                ck_assert_uint_eq(size[0] + (f == TRACE_JSON ? 4 : 0), len);   /* what it wrote, and the footer */
                free(buf);
            }
            mem_destroy(m);
        }
        ck_assert_uint_eq(events[0], events[1]);
        ck_assert_uint_gt(events[0], 10 * TRACE_CENSUS_SAMPLE);
        double rel = fabs((double)size[1] - (double)size[0]) / (double)size[0];
        ck_assert_msg(rel < CENSUS_TOLERANCE, "%s: census %llu bytes, real %llu", trace_fmt_name((trace_fmt)f),
                      (unsigned long long)size[1], (unsigned long long)size[0]);
    }
}
END_TEST

/* ---- echoed values, summaries ------------------------------------------------------------------------------- */

START_TEST(echo_is_escaped)
{
    static const struct { const char *in, *out; } cases[] = {
        {"16\n", "16\\n"}, {"a\tb\r", "a\\tb\\r"}, {"back\\slash", "back\\\\slash"}, {"\x1b[2J", "\\x1B[2J"},
        {"del\x7f", "del\\x7F"}, {"\xff\xfe", "\\xFF\\xFE"}, {"\xc3\xa9t\xc3\xa9 \xe4\xb8\xad \xc2\xb7", "été 中 ·"},
        {"\xc2\x85", "\\xC2\\x85"},            /* U+0085, a C1 control */
        {"\xc0\xaf", "\\xC0\\xAF"},            /* an overlong '/' */
        {"\xed\xa0\x80", "\\xED\\xA0\\x80"},   /* a UTF-16 surrogate */
        {"\xf4\x90\x80\x80", "\\xF4\\x90\\x80\\x80"}, /* past U+10FFFF */
        {"\xe4\xb8", "\\xE4\\xB8"},            /* cut short */
        {"", ""}};
    char buf[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ck_assert_str_eq(fl_escape(cases[i].in, buf, sizeof buf), cases[i].out);
    ck_assert_str_eq(fl_escape("abc\n", buf, 5), "abc");   /* cut between escapes, never inside one */

    const char *nl[] = {"-N", "16\n", NULL}, *raw[] = {"--dtype", "fp\xff\x1b", NULL};
    proc p = run_lesson("lesson03", nl, NULL, 0, NULL);
    expect_one_line(&p, FL_EXIT_USAGE, "lesson03 -N $'16\\n'");
    ck_assert_msg(strstr(p.err, "'16\\n'"), "%s", p.err);
    proc_free(&p);
    p = run_lesson("lesson03", raw, NULL, 0, NULL);
    expect_one_line(&p, FL_EXIT_USAGE, "lesson03 --dtype $'fp\\xff\\x1b'");
    ck_assert_msg(strstr(p.err, "'fp\\xFF\\x1B'"), "%s", p.err);
    proc_free(&p);
}
END_TEST

START_TEST(summary_writes_na)
{
    summary_t s = {.len = 0};
    summary_f64(&s, "a", NAN);
    summary_f64(&s, "b", INFINITY);
    summary_f64(&s, "c", -INFINITY);
    summary_f64(&s, "d", 0.25);
    ck_assert_str_eq(s.buf, " a=na b=na c=na d=0.25");

    const char *args[] = {"-N", "1", NULL};   /* one column: no block merges to measure */
    proc p = run_lesson("lesson02", args, NULL, 0, NULL);
    ck_assert_msg(p.status == 0, "lesson02 -N 1: exit %d, %s", p.status, p.err);
    const char *last = strstr(p.out, "summary: ");
    ck_assert_ptr_nonnull(last);
    char v[32];
    ck_assert(summary_get(last, "merge_max_rel", v, sizeof v));
    ck_assert_str_eq(v, "na");
    ck_assert_msg(!strstr(last, "=nan") && !strstr(last, "=inf") && !strstr(last, "=-inf"), "%s", last);
    proc_free(&p);
}
END_TEST

/* ---- .dat files and the outfile API ------------------------------------------------------------------------- */

START_TEST(dat_files_all_or_nothing)
{
    char dir[64], in_the_way[96], bad[128], out[128], data[160];
    scratch_file(dir, in_the_way, sizeof in_the_way, "plain");
    write_file(in_the_way, "x\n");
    snprintf(bad, sizeof bad, "%s/sub", in_the_way);
    const char *args[] = {"--quiet", "-N", "256", "--out-dir", bad, NULL};
    proc p = run_lesson("lesson05", args, NULL, 0, NULL);
    expect_one_line(&p, FL_EXIT_IO, "lesson05 --out-dir under a regular file");
    proc_free(&p);

    /* the disk fills up while the first .dat file is written: no file at all, not even an empty one */
    snprintf(out, sizeof out, "%s/out", dir);
    args[4] = out;
    p = run_lesson("lesson05", args, "/dev/null", 2048, NULL);
    expect_one_line(&p, FL_EXIT_IO, "lesson05 on a full disk");
    ck_assert_int_eq(entries(out), 0);
    proc_free(&p);

    /* the default directory is made, parents too, wherever the lesson runs */
    const char *deflt[] = {"--quiet", "-N", "256", NULL};
    p = run_lesson("lesson05", deflt, NULL, 0, dir);
    ck_assert_msg(p.status == 0, "lesson05 in %s: exit %d, %s", dir, p.status, p.err);
    proc_free(&p);
    snprintf(data, sizeof data, "%s/plots/out/data", dir);
    ck_assert_int_eq(entries(data), 4);
    remove_tree(dir);
}
END_TEST

START_TEST(outfile_commits_and_aborts)
{
    char dir[64], path[128], keep[128];
    scratch_file(dir, path, sizeof path, "x/y/z.dat");
    outfile *o = outfile_open(path);
    fprintf(outfile_stream(o), "1 2 3\n");
    ck_assert_int_eq(access(path, F_OK), -1);   /* not there until committed */
    outfile_commit(o);
    char *text = read_file(path);
    ck_assert_str_eq(text, "1 2 3\n");
    free(text);

    snprintf(keep, sizeof keep, "%s/keep.dat", dir);
    write_file(keep, "old\n");
    o = outfile_open(keep);
    fprintf(outfile_stream(o), "new, but given up\n");
    outfile_abort(o);
    text = read_file(keep);
    ck_assert_str_eq(text, "old\n");
    free(text);
    char sub[96];
    snprintf(sub, sizeof sub, "%s/x/y", dir);
    ck_assert_int_eq(entries(sub), 1);
    ck_assert_int_eq(entries(dir), 2);
    remove_tree(dir);
}
END_TEST

static void open_under_a_file(void *unused)
{
    (void)unused;
    outfile_open("/etc/passwd/flashlab.dat");
}

START_TEST(outfile_under_a_file_exits_3)
{
    proc p = run_fn(open_under_a_file, NULL);
    assert_one_error(&p, FL_EXIT_IO, "cannot create the directory '/etc/passwd': a file of that name is in the way");
    proc_free(&p);
}
END_TEST

static void fill_dev_full(void *unused)
{
    (void)unused;
    outfile *o = outfile_open("/dev/full");
    for (int i = 0; i < 10000; i++)
        fprintf(outfile_stream(o), "row %d\n", i);
    outfile_commit(o);
}

START_TEST(outfile_on_full_device_exits_3)
{
    proc p = run_fn(fill_dev_full, NULL);
    assert_one_error(&p, FL_EXIT_IO, "cannot write '/dev/full': No space left on device");
    proc_free(&p);
}
END_TEST

/* ---- count-only runs cost no host memory ---------------------------------------------------------------------- */

static long max_rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

START_TEST(count_only_sram_is_not_memory)
{
    const char *args[] = {"--count-only", "-N", "16777216", "-M", "64GiB", "--batch", "65536", "--quiet", NULL};
    proc p = run_lesson("lesson01", args, NULL, 0, NULL);
    ck_assert_msg(p.status == 0, "exit %d: %s", p.status, p.err);
    char v[32];
    ck_assert(summary_get(p.out, "sram_peak_bytes", v, sizeof v));
    ck_assert_str_eq(v, "68719476736");
    proc_free(&p);

    long before = max_rss_kib();
    mem_t *m = mem_create(((size_t)64 << 30) + 1024, true);
    float *x = sram_alloc(m, (size_t)16 << 30, DTYPE_FP32, "X"), *y = sram_alloc(m, 1, DTYPE_FP32, "y");
    ck_assert_ptr_nonnull(x);
    ck_assert_ptr_ne(x, y);   /* distinct addresses: sram_free finds each */
    ck_assert_uint_eq(sram_used(m), ((size_t)64 << 30) + 4);
    sram_free(m, x);
    ck_assert_uint_eq(sram_used(m), 4);
    mem_destroy(m);
    ck_assert_int_lt(max_rss_kib() - before, 64 * 1024);
}
END_TEST

/* An algorithm that forgot to skip its arithmetic in count-only mode is stopped, not left to pass unseen. */
START_TEST(count_only_sram_faults_when_touched)
{
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 2);   /* the sanitizers' report of the fault */
        mem_t *m = mem_create(1 << 12, true);
        volatile float *x = sram_alloc(m, 16, DTYPE_FP32, "X");
        x[3] = 1.0f;
        _exit(0);
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFSIGNALED(st) || (WIFEXITED(st) && WEXITSTATUS(st) != 0), "a write to count-only SRAM passed");
}
END_TEST

Suite *output_suite(void)
{
    Suite *s = suite_create("output");
    TCase *tc = tcase_create("Stdout");
    tcase_add_test(tc, stdout_full);
    tcase_set_timeout(tc, 300);
    suite_add_tcase(s, tc);
    tc = tcase_create("Trace");
    tcase_add_test(tc, trace_on_full_device);
    tcase_add_test(tc, trace_where_no_file_can_be);
    tcase_add_test(tc, trace_disk_full_half_way);
    tcase_add_test(tc, trace_written_whole);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    tc = tcase_create("TraceSize");
    tcase_add_test(tc, huge_trace_refused_at_once);
    tcase_add_test(tc, trace_limit_follows_the_estimate);
    tcase_add_test(tc, trace_limit_holds_while_writing);
    tcase_add_test(tc, census_estimates_the_size);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    tc = tcase_create("Echo");
    tcase_add_test(tc, echo_is_escaped);
    tcase_add_test(tc, summary_writes_na);
    suite_add_tcase(s, tc);
    tc = tcase_create("Files");
    tcase_add_test(tc, dat_files_all_or_nothing);
    tcase_add_test(tc, outfile_commits_and_aborts);
    tcase_add_test(tc, outfile_under_a_file_exits_3);
    tcase_add_test(tc, outfile_on_full_device_exits_3);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    tc = tcase_create("CountOnly");
    tcase_add_test(tc, count_only_sram_is_not_memory);
    tcase_add_test(tc, count_only_sram_faults_when_touched);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}
