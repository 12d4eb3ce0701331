/* bwd_check.c — the tensor-core backward (cuda/tc/attn_bwd.cu), every configuration, checked: dQ, dK, dV against
 * fp64 by Tri Dao's criterion on ragged shapes, causal and not, fp16 and bf16, d = 64 and 128, every element
 * written; then the counting twin's global traffic against the simulator's flash2 backward ledger and its closed
 * form, per tensor, exactly (bwd_ledger.h says how the kernel's dQ atomics correspond to the simulator's dQ).
 *
 *   ./build/rel/cuda/bwd_check                       every shape, every configuration
 *   ./build/rel/cuda/bwd_check --quick               two small shapes, fp16 only (the sanitizers' run)
 *   ./build/rel/cuda/bwd_check --config bwd_wgmma    one configuration of bwd.def (repeatable; with or without --quick)
 * A gradient that fails gets a second line: how many entries break the bound, the first (head, row, column, value,
 * fp64 reference) and the rows and columns they span: enough to tell a layout error from a rounding one.
 *
 * One line per check, then "bwd_check: X of Y checks passed" last; exit status 1 if any failed, 2 without a GPU,
 * 3 when the report cannot be written (a full disk, a closed pipe), 4 on a failing CUDA call.
 */
#include <stdio.h>
#include <string.h>

#include "bwd_host.h"
#include "gpu.h"        // defines: cuda_device_get
#include "gpu_main.h"   // defines: gpu_or_exit
#include "verify.h"     // defines: ORACLE_TRIDAO_FACTOR
#include "util.h"
#include "outfile.h"   // defines: outfile_check_stdout

#define SEED 20261206u
#define MAX_HEADS 4   /* heads checked per shape: each costs ~15 N^2 d flops of fp64 and fp32 on the CPU */

static int checks, passed;
static bool some, want[TC_BWD_NCONFIGS];   /* --config (repeatable): the configurations checked; none: all */

/* Counts one check and says whether its run went through; a run that could not go (a shape a configuration does not
 * take) is a FAIL line, a failing CUDA call ends the program (the device may be unusable after it). */
static bool ran(int rc, const char *name, const char *what, const char *err)
{
    checks++;
    if (rc && rc != FL_EXIT_USAGE)
        gpu_or_exit(rc, err);
    if (rc)
        printf("%-10s %s FAIL (%s)\n", name, what, err);
    return !rc;
}

static void check_shape(const tc_bwd_shape *s, bool counters)
{
    tc_bwd_problem *p;
    char err[256];
    gpu_or_exit(tc_bwd_problem_new(s, SEED + s->N * 31 + s->d + s->causal, &p, err, sizeof err), err);
    for (int c = 0; c < TC_BWD_NCONFIGS; c++) {
        if (some && !want[c])
            continue;
        const char *name = tc_bwd_configs[c].name;
        tc_bwd_result r;
        if (!ran(tc_bwd_check(p, c, MAX_HEADS, &r, err, sizeof err), name, dtype_name(s->dt), err))
            continue;
        passed += r.ok;
        printf("%-10s d=%-3zu %s %-6s B=%zu N=%-5zu H=%zu heads=%zu", name, s->d, dtype_name(s->dt),
               s->causal ? "causal" : "full", s->B, s->N, s->H, r.heads);
        for (int x = 0; x < 3; x++)
            printf(" | d%c err %.2e (%gx ref %.2e) ratio %.2f", "QKV"[x], r.err[x], ORACLE_TRIDAO_FACTOR,
                   r.ref_err[x], r.ratio[x]);
        printf(" | unwritten %zu  %s\n", r.unwritten, r.ok ? "OK" : "FAIL");
        for (int x = 0; x < 3; x++)
            if (r.nbad[x])
                printf("%-10s   d%c: %zu entries past the bound; first head %zu row %zu col %zu got %.4g ref %.4g; "
                       "rows %zu..%zu cols %zu..%zu\n", name, "QKV"[x], r.nbad[x], r.bad_head[x], r.bad_row[x],
                       r.bad_col[x], r.bad_got[x], r.bad_ref[x], r.bad_rows[x][0], r.bad_rows[x][1], r.bad_cols[x][0],
                       r.bad_cols[x][1]);
        if (!counters)
            continue;
        tc_bwd_ledger lg;
        if (!ran(tc_bwd_count(p, c, &lg, err, sizeof err), name, "counters", err))
            continue;
        passed += lg.ok;
        printf("%-10s counters Br=%zu Bc=%zu tiles=%llu kernel/sim/closed:", name, lg.Br, lg.Bc,
               (unsigned long long)lg.tiles);
        for (int x = 0; x < TC_BWD_ROWS; x++)
            printf(" %s %llu/%llu%s/%llu;", lg.row[x].name, (unsigned long long)lg.row[x].kern,
                   (unsigned long long)lg.row[x].sim, lg.row[x].no_sim ? "(closed)" : "",
                   (unsigned long long)lg.row[x].closed);
        printf("  %s\n", lg.ok ? "OK" : "FAIL");
    }
    gpu_or_exit(tc_bwd_problem_free(p, err, sizeof err), err);
}

static int check_main(int argc, char **argv)
{
    fl_set_progname("bwd_check");
    bool quick = false;
    for (int a = 1; a < argc; a++) {
        if (!strcmp(argv[a], "--quick"))
            quick = true;
        else if (!strcmp(argv[a], "--config") && a + 1 < argc && tc_bwd_find(argv[a + 1]) >= 0)
            some = want[tc_bwd_find(argv[++a])] = true;
        else
            fl_fatal("usage: bwd_check [--quick] [--config NAME] (NAME: a row of cuda/tc/bwd.def)");
    }
    cuda_device dev;
    char err[256];
    gpu_or_exit(cuda_device_get(&dev, err, sizeof err), err);
    printf("bwd_check: %s, %d SMs; %d configurations:", dev.name, dev.sms, TC_BWD_NCONFIGS);
    for (int c = 0; c < TC_BWD_NCONFIGS; c++)
        printf(" %s (%s)%s", tc_bwd_configs[c].name, tc_bwd_configs[c].change, c + 1 < TC_BWD_NCONFIGS ? ";" : "\n");
    /* one whole key block (a layout error shows plainly), N = 1, ragged blocks, N below, at and above the blocks,
     * B and H > 1 */
    static const size_t full[][3] = {{1, 128, 1}, {1, 1, 1}, {2, 17, 3}, {1, 200, 2}, {2, 333, 1}, {1, 700, 2}};
    static const size_t small[][3] = {{2, 77, 2}, {2, 200, 1}};   /* --quick: fp16 only */
    const size_t(*shapes)[3] = quick ? small : full;
    size_t ns = quick ? sizeof small / sizeof small[0] : sizeof full / sizeof full[0];
    for (int d = 64; d <= 128; d *= 2)
        for (int dt = DTYPE_FP16; dt <= (quick ? DTYPE_FP16 : DTYPE_BF16); dt++)
            for (int causal = 0; causal <= 1; causal++)
                for (size_t x = 0; x < ns; x++)
                    check_shape(&(tc_bwd_shape){shapes[x][0], shapes[x][1], shapes[x][2], (size_t)d, (bool)causal,
                                                (dtype_t)dt},
                                dt == DTYPE_FP16);
    /* a longer sequence: the loop over many query blocks, ragged at both ends of the sweep */
    if (!quick)
        for (int d = 64; d <= 128; d *= 2)
            for (int causal = 0; causal <= 1; causal++)
                check_shape(&(tc_bwd_shape){1, 1100, 2, (size_t)d, (bool)causal, DTYPE_FP16}, true);
    printf("bwd_check: %d of %d checks passed\n", passed, checks);
    return passed == checks ? FL_EXIT_OK : FL_EXIT_CHECK;
}

int main(int argc, char **argv)
{
    const int rc = check_main(argc, argv);
    outfile_check_stdout();   /* the report is what the checks are for: lost on the way out, exit 3 */
    return rc;
}
