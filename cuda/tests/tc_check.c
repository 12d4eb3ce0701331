/* tc_check.c — every tensor-core version of cuda/tc/attn_tc.def checked before any is timed (make bench-gpu runs it
 * first): O and L against fp64 with Tri Dao's criterion, every element written, and the counting build's global
 * loads and stores against the simulator's flash2 ledger and its closed form, per tensor, exactly.
 *
 *   ./build/rel/cuda/tc_check            small shapes (every row), benchmark shapes (sampled rows), counters
 *   ./build/rel/cuda/tc_check --quick    small shapes and counters only
 *
 * One line per check, then "tc_check: X of Y checks passed" last; exit status 1 if any failed, 2 without a GPU,
 * 3 when the report cannot be written, 4 on a failing CUDA call (which ends the run: the device may be unusable
 * after it).
 */
#include <stdio.h>
#include <string.h>

#include "gpu.h"        // defines: cuda_device_get
#include "gpu_main.h"   // defines: gpu_or_exit
#include "tc_host.h"
#include "util.h"
#include "outfile.h"   // defines: outfile_check_stdout

#define SEED 20261122u
#define BIG_ROWS 64   /* rows checked per benchmark-sized shape: a fp64 row costs 4 N d flops */

static int checks, passed;

/* A version that cannot run this case fails the check; a failing CUDA call ends the program. */
static void failed_run(int rc, const char *name, const char *what, const char *err)
{
    if (rc != FL_EXIT_USAGE)
        gpu_or_exit(rc, err);
    printf("%-13s %s FAIL (%s)\n", name, what, err);
}

static void check_shape(const tc_shape *s, size_t max_rows)
{
    tc_problem *p;
    char err[256];
    gpu_or_exit(tc_problem_new(s, SEED + s->N * 31 + s->d, &p, err, sizeof err), err);
    for (int causal = 0; causal <= 1; causal++) {
        tc_ref *ref = tc_ref_new(p, causal, max_rows, SEED + 7);
        for (int v = 0; v < tc_nversions; v++) {
            tc_result r;
            checks++;
            int rc = tc_check_version(p, ref, v, &r, err, sizeof err);
            if (rc) {
                failed_run(rc, tc_versions[v].name, dtype_name(s->dt), err);
                continue;
            }
            passed += r.ok;
            fwd_print_check(tc_versions[v].name, s, causal, &r);
        }
        tc_ref_free(ref);
    }
    gpu_or_exit(tc_problem_free(p, err, sizeof err), err);
}

static void check_counts(const tc_shape *s)
{
    tc_problem *p;
    char err[256];
    gpu_or_exit(tc_problem_new(s, SEED, &p, err, sizeof err), err);
    for (int causal = 0; causal <= 1; causal++)
        for (int v = 0; v < tc_nversions; v++) {
            tc_counts c;
            checks++;
            int rc = tc_count_version(p, causal, v, &c, err, sizeof err);
            if (rc) {
                failed_run(rc, tc_versions[v].name, "counters", err);
                continue;
            }
            passed += c.ok;
            fwd_print_counts(tc_versions[v].name, s, causal, &c);
        }
    gpu_or_exit(tc_problem_free(p, err, sizeof err), err);
}

static int check_main(int argc, char **argv)
{
    fl_set_progname("tc_check");
    bool quick = argc > 1 && !strcmp(argv[1], "--quick");
    if (argc > 2 || (argc == 2 && !quick))
        fl_fatal("usage: tc_check [--quick]");
    cuda_device dev;
    char err[256];
    gpu_or_exit(cuda_device_get(&dev, err, sizeof err), err);
    printf("tc_check: %s, %d SMs; %d versions\n", dev.name, dev.sms, tc_nversions);

    /* Small shapes, every row: N = 1, ragged blocks, N below and above the blocks, B and H > 1. */
    static const size_t small[][3] = {{1, 1, 1}, {2, 17, 3}, {1, 200, 2}, {2, 333, 1}, {1, 1000, 1}};
    for (int d = 64; d <= 128; d *= 2)
        for (int dt = DTYPE_FP16; dt <= DTYPE_BF16; dt++)
            for (size_t x = 0; x < sizeof small / sizeof small[0]; x++)
                check_shape(&(tc_shape){small[x][0], small[x][1], small[x][2], (size_t)d, (dtype_t)dt}, SIZE_MAX);
    /* The benchmark's shapes (hidden 2048, B*N = 16384), sampled rows. */
    if (!quick) {
        static const size_t big[][4] = {{4, 4096, 32, 64}, {1, 16384, 32, 64}, {4, 4096, 16, 128}, {1, 16384, 16, 128}};
        for (size_t x = 0; x < sizeof big / sizeof big[0]; x++)
            check_shape(&(tc_shape){big[x][0], big[x][1], big[x][2], big[x][3], DTYPE_FP16}, BIG_ROWS);
        check_shape(&(tc_shape){2, 8192, 16, 128, DTYPE_BF16}, BIG_ROWS);
    }
    /* Counters: ragged and exact blocks, N below a block, causal and not. */
    static const size_t cnt[][3] = {{1, 17, 1}, {2, 1000, 3}, {1, 4096, 2}};
    for (int d = 64; d <= 128; d *= 2)
        for (size_t x = 0; x < sizeof cnt / sizeof cnt[0]; x++)
            check_counts(&(tc_shape){cnt[x][0], cnt[x][1], cnt[x][2], (size_t)d, DTYPE_FP16});

    printf("tc_check: %d of %d checks passed\n", passed, checks);
    return passed == checks ? FL_EXIT_OK : FL_EXIT_CHECK;
}

int main(int argc, char **argv)
{
    const int rc = check_main(argc, argv);
    outfile_check_stdout();   /* the report is what the checks are for: lost on the way out, exit 3 */
    return rc;
}
