/* check_io.c — lesson05's IO-complexity sweeps: every count it writes equals a fresh count-only run and the closed
 * form; its .dat files are what gnuplot and a reader expect (header comments, the command, 18 columns, one block
 * per algorithm); the whole default sweep (N = 128 ... 65536, five cases) runs inside the test's time limit. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attention.h"
#include "check_util.h"
#include "lessons.h"
#include "proc.h"

#define DAT_COLUMNS 18
#define MAX_ROWS 64

static const char *const DAT_FILES[] = {"lesson05_seqlen.dat", "lesson05_headdim.dat", "lesson05_sram.dat",
                                        "lesson05_blocksize.dat"};
#define NFILES (sizeof DAT_FILES / sizeof DAT_FILES[0])

/* One parsed .dat file: rows of 18 numbers, the algorithm of each row, the header lines seen. */
typedef struct {
    double v[MAX_ROWS * 4][DAT_COLUMNS];
    unsigned long long u[MAX_ROWS * 4][DAT_COLUMNS];   /* the integer columns, exactly */
    char algo[MAX_ROWS * 4][32];
    size_t nrows, nblocks, ncomment;
    bool has_command, has_columns;
} dat_file;

static char dir[64];

/* lesson05_run on a NULL-terminated argv, in a child (run_fn): its status is the lesson's. */
static void lesson05_child(void *argv)
{
    char **a = argv;
    int argc = 0;
    while (a[argc])
        argc++;
    cli_cfg cfg;
    if (cli_parse(&lesson05_spec, argc, a, &cfg) != CLI_OK)
        exit(99);
    exit(lesson05_run(&cfg));
}

/* The sweep up to N into a fresh directory; its summary line and stderr stay in the child's captured output. */
static void sweep(const char *N)
{
    strcpy(dir, "/tmp/flashlab_io_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char *argv[] = {"lesson05", "--quiet", "-N", (char *)N, "--out-dir", dir, NULL};
    proc p = run_fn(lesson05_child, argv);
    /* 0: no point's counted ledger differs from its closed form */
    ck_assert_msg(p.status == 0 && !*p.err, "lesson05 -N %s: exit %d, stderr '%s'", N, p.status, p.err);
    ck_assert_ptr_nonnull(strstr(p.out, "summary: lesson=lesson05"));
    proc_free(&p);
}

static void cleanup(void)
{
    char path[128];
    for (size_t i = 0; i < NFILES; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, DAT_FILES[i]);
        unlink(path);
    }
    rmdir(dir);
}

static void dat_read(const char *name, dat_file *f)
{
    char path[128], line[512], algo[32] = "";
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *in = fopen(path, "r");
    ck_assert_msg(in != NULL, "%s was not written", path);
    memset(f, 0, sizeof *f);
    while (fgets(line, sizeof line, in)) {
        if (line[0] == '#') {
            f->ncomment++;
            f->has_command |= !strncmp(line, "# command: ./lesson05 ", 22);
            f->has_columns |= !strncmp(line, "# 18 ratio", 10);
            if (!strncmp(line, "# algo: ", 8)) {
                sscanf(line + 8, "%31s", algo);
                f->nblocks++;
            }
            continue;
        }
        if (line[0] == '\n')
            continue;
        ck_assert_msg(f->nblocks > 0 && f->ncomment > DAT_COLUMNS, "%s: data before the header and '# algo:'", name);
        ck_assert_uint_lt(f->nrows, MAX_ROWS * 4);
        char *p = line;
        size_t k = 0;
        for (; k < DAT_COLUMNS; k++) {
            char *end;
            while (*p == ' ')
                p++;
            if (k == 14 && !strncmp(p, "na", 2) && (p[2] == ' ' || p[2] == '\n')) {   /* the bound, where it fails */
                f->v[f->nrows][k] = NAN;
                f->u[f->nrows][k] = 0;
                p += 2;
                continue;
            }
            f->v[f->nrows][k] = strtod(p, &end);
            ck_assert_msg(end != p, "%s row %zu: column %zu is not a number", name, f->nrows + 1, k + 1);
            ck_assert_msg(isfinite(f->v[f->nrows][k]), "%s row %zu: column %zu is %.3g, not a finite number (na is "
                          "written for what does not apply)", name, f->nrows + 1, k + 1, f->v[f->nrows][k]);
            f->u[f->nrows][k] = strtoull(p, NULL, 10);
            p = end;
        }
        while (*p == ' ')
            p++;
        ck_assert_msg(*p == '\n', "%s row %zu: more than %d columns", name, f->nrows + 1, DAT_COLUMNS);
        strcpy(f->algo[f->nrows++], algo);
    }
    fclose(in);
}

static attn_algo algo_of(const char *label, bool *causal)
{
    *causal = strstr(label, "causal") != NULL;
    return !strcmp(label, "standard") ? ATTN_STANDARD : !strcmp(label, "flash1") ? ATTN_FLASH1 : ATTN_FLASH2;
}

/* Every row of every file: the counted reads + writes equal the closed form for its (algo, N, d, Br, Bc), and a
 * fresh count-only run of the same configuration counts the same reads, writes and peak. */
START_TEST(counts_equal_closed_forms)
{
    sweep("2048");
    static dat_file f;
    size_t checked = 0;
    for (size_t i = 0; i < NFILES; i++) {
        dat_read(DAT_FILES[i], &f);
        for (size_t r = 0; r < f.nrows; r++) {
            bool causal;
            attn_algo a = algo_of(f.algo[r], &causal);
            const unsigned long long *u = f.u[r];
            attn_params p = {.algo = a, .B = 1, .N = u[0], .H = 1, .d = u[1], .causal = causal, .Br = u[3],
                             .Bc = u[4], .threads = 1};
            attn_io cf;
            attn_io_closed_form(&p, false, &cf);
            ck_assert_msg(u[5] + u[6] == u[8] && u[8] == cf.rd + cf.wr, "%s row %zu (%s N=%llu d=%llu): counted "
                          "%llu + %llu, file's closed form %llu, attn_io_closed_form %llu", DAT_FILES[i], r + 1,
                          f.algo[r], u[0], u[1], u[5], u[6], u[8], (unsigned long long)(cf.rd + cf.wr));
            if (r % 3)
                continue;   /* a fresh run at every third point keeps the test short */
            mem_t *m = mem_create(u[2], true);
            attn_tensors t = attn_alloc(m, &p, DTYPE_FP16, false);
            attn_forward(m, &p, &t);
            attn_free(m, &t);
            io_count io = mem_io(m, NULL, NULL);
            ck_assert_uint_eq(io.rd_elems, u[5]);
            ck_assert_uint_eq(io.wr_elems, u[6]);
            ck_assert_uint_eq(io.rd_bytes + io.wr_bytes, u[7]);
            ck_assert_uint_eq(mem_hbm_peak(m), u[9]);
            mem_destroy(m);
            checked++;
        }
    }
    ck_assert_uint_gt(checked, 20);
    cleanup();
}
END_TEST

/* The shapes the paper gives, read back from the file: standard's counted/(Nd + N^2) and flash1's
 * counted/(N^2 d^2/M) settle to constants as N grows (consecutive ratios within 10% at the top of the sweep). */
START_TEST(ratios_settle)
{
    sweep("16384");
    static dat_file f;
    dat_read("lesson05_seqlen.dat", &f);
    double last_std = 0, last_f1 = 0, prev_std = 0, prev_f1 = 0;
    for (size_t r = 0; r < f.nrows; r++) {
        double ratio = f.v[r][17], counted = f.v[r][5] + f.v[r][6], N = f.v[r][0], d = f.v[r][1];
        double M_el = f.v[r][2] / 2;   /* fp16 */
        if (!strcmp(f.algo[r], "standard")) {
            ck_assert_double_eq_tol(ratio, counted / (N * d + N * N), 1e-4 * ratio);
            prev_std = last_std, last_std = ratio;
        } else if (!strcmp(f.algo[r], "flash1")) {
            ck_assert_double_eq_tol(ratio, counted / (N * N * d * d / M_el), 1e-4 * ratio);
            prev_f1 = last_f1, last_f1 = ratio;
        }
    }
    ck_assert_double_le(fabs(last_std / prev_std - 1), 0.1);
    ck_assert_double_le(fabs(last_f1 / prev_f1 - 1), 0.1);
    cleanup();
}
END_TEST

/* The files tell the block-rule story: at N >= 4096 flash2 (Br = ⌈M/4d⌉, fitted) moves fewer bytes than flash1, which
 * moves fewer than flash2 under flash1's rule (Br <= d); along M, flash2 keeps falling while flash2 under flash1's
 * rule stops once its Br reaches d. */
START_TEST(flash2_rules_in_files)
{
    sweep("8192");
    static dat_file f;
    dat_read("lesson05_seqlen.dat", &f);
    unsigned long long by[3][MAX_ROWS] = {{0}};
    size_t n[3] = {0}, checked = 0;
    for (size_t r = 0; r < f.nrows; r++) {
        int c = !strcmp(f.algo[r], "flash1") ? 0 : !strcmp(f.algo[r], "flash2") ? 1
              : !strcmp(f.algo[r], "flash2_fa1_rule") ? 2 : -1;
        if (c >= 0 && f.u[r][0] >= 4096)
            by[c][n[c]++] = f.u[r][7];
    }
    ck_assert(n[0] == n[1] && n[1] == n[2] && n[0] >= 2);
    for (size_t k = 0; k < n[0]; k++, checked++) {
        ck_assert_uint_lt(by[1][k], by[0][k]);
        ck_assert_uint_lt(by[0][k], by[2][k]);
    }
    dat_read("lesson05_sram.dat", &f);
    unsigned long long prev2 = 0, prevr = 0;
    for (size_t r = 0; r < f.nrows; r++) {
        const unsigned long long *u = f.u[r];
        if (!strcmp(f.algo[r], "flash2")) {
            ck_assert(!prev2 || u[7] < prev2);
            prev2 = u[7];
        } else if (!strcmp(f.algo[r], "flash2_fa1_rule") && u[3] == u[1]) {   /* Br = d */
            ck_assert(!prevr || u[7] == prevr);
            prevr = u[7], checked++;
        }
    }
    ck_assert_uint_gt(checked, 4);
    cleanup();
}
END_TEST

/* gnuplot-ready: a header naming the 18 columns and the command, one '# algo:' block per algorithm. */
START_TEST(dat_files_are_well_formed)
{
    sweep("1024");
    static dat_file f;
    static const size_t blocks[] = {5, 5, 5, 2};
    for (size_t i = 0; i < NFILES; i++) {
        dat_read(DAT_FILES[i], &f);
        ck_assert_msg(f.has_command && f.has_columns, "%s: header lacks the command or the column list",
                      DAT_FILES[i]);
        ck_assert_uint_eq(f.nblocks, blocks[i]);
        ck_assert_uint_gt(f.nrows, f.nblocks);
        for (size_t r = 0; r < f.nrows; r++)
            for (size_t k = 0; k < DAT_COLUMNS; k++)
                ck_assert_msg(k == 14 || isfinite(f.v[r][k]), "%s row %zu column %zu is not finite", DAT_FILES[i],
                              r + 1, k + 1);
    }
    /* The top of the N sweep is N itself: 1024 is reached by doubling 128, 1000 is added as a ragged last point. */
    dat_read("lesson05_seqlen.dat", &f);
    ck_assert_uint_eq(f.u[f.nrows - 1][0], 1024);
    cleanup();
    sweep("1000");
    dat_read("lesson05_seqlen.dat", &f);
    ck_assert_uint_eq(f.u[f.nrows - 1][0], 1000);
    cleanup();
}
END_TEST

/* The whole default sweep: N = 128 ... 65536 for all five algorithm cases plus the d, M and block sweeps, in
 * count-only mode. This tcase's time limit (not a timer in the test) is what "finishes quickly" means here. */
START_TEST(default_sweep_finishes)
{
    sweep("65536");
    static dat_file f;
    dat_read("lesson05_seqlen.dat", &f);
    ck_assert_uint_eq(f.u[f.nrows - 1][0], 65536);
    ck_assert_uint_eq(f.nrows, 5 * 10);
    cleanup();
}
END_TEST

/* lesson05 traces the one run its summary reports (flash1 at the largest N), not the hundreds of sweep points: the
 * CSV trace's last running totals are the summary's. */
START_TEST(trace_follows_the_summary_run)
{
    char csv[] = "/tmp/flashlab_io_trace_XXXXXX", out[128];
    int fd = mkstemp(csv);
    ck_assert_int_ge(fd, 0);
    close(fd);
    strcpy(dir, "/tmp/flashlab_io_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char *argv[] = {"lesson05", "--quiet", "-N", "256", "--out-dir", dir, "--trace=csv", "--trace-file", csv, NULL};
    proc p = run_fn(lesson05_child, argv);
    ck_assert_msg(p.status == 0 && !*p.err, "exit %d, stderr '%s'", p.status, p.err);
    FILE *f = fopen(csv, "r");
    ck_assert_ptr_nonnull(f);
    char line[1024], last[1024] = "";
    size_t rows = 0;
    while (fgets(line, sizeof line, f))
        rows += (strcpy(last, line), 1);
    fclose(f);
    unlink(csv);
    ck_assert_uint_gt(rows, 10);
    /* the CSV's columns 15 and 16: hbm_read_elems, hbm_write_elems after the event */
    char *field[20], *c = last;
    int n = 0;
    for (char *tok = c; n < 20 && tok; n++) {
        field[n] = tok;
        tok = strchr(tok, ',');
        if (tok)
            *tok++ = 0;
    }
    ck_assert_int_ge(n, 17);
    snprintf(out, sizeof out, "hbm_read_elems=%s hbm_write_elems=%s ", field[14], field[15]);
    ck_assert_msg(strstr(p.out, out), "summary '%s' lacks '%s'", p.out, out);
    proc_free(&p);
    cleanup();
}
END_TEST

/* An output directory that cannot be made stops the lesson before the sweeps: output lost, exit 3. */
START_TEST(unwritable_out_dir_is_refused)
{
    char *argv[] = {"lesson05", "--quiet", "-N", "256", "--out-dir", "/proc/flashlab/no", NULL};
    proc p = run_fn(lesson05_child, argv);
    assert_one_error(&p, 3, "cannot create the directory '/proc/flashlab/no'");
    proc_free(&p);
}
END_TEST

/* A tiny SRAM at a long N would mean billions of tiles: refused with one line, never an endless sweep. */
START_TEST(too_many_tiles_is_refused)
{
    char *argv[] = {"lesson05", "--quiet", "-N", "65536", "-M", "1K", "--out-dir", "/tmp", NULL};
    proc p = run_fn(lesson05_child, argv);
    assert_one_error(&p, 2, "tiles to walk, more than this sweep's");
    proc_free(&p);
}
END_TEST

Suite *io_suite(void)
{
    Suite *s = suite_create("io");
    TCASE(s, "Counts", 0, {counts_equal_closed_forms}, {ratios_settle}, {flash2_rules_in_files});
    /* Files: two sweeps; a sanitizer build on a busy machine needs more than Check's 4 s */
    TCASE(s, "Files", 60, {dat_files_are_well_formed});
    TCASE(s, "Speed", 30, {default_sweep_finishes});
    TCASE(s, "Limits", 0, {trace_follows_the_summary_run}, {unwritable_out_dir_is_refused},
          {too_many_tiles_is_refused});
    return s;
}
