/* lesson08_cuda_kernels.c — the same algorithms as CUDA kernels: their counters against the simulator's ledger.
 *
 * What it teaches: the algorithm you traced on the simulator (lessons 04 and 06) is what a GPU runs. Each teaching
 * kernel (cuda/teach/attn_v01_naive.cu = standard attention, attn_v02_flash1.cu = Algorithm 1, attn_v03_flash2.cu =
 * FlashAttention-2) takes its blocks Br x Bc from M = the GPU's shared memory per block exactly as the simulator
 * takes them from its SRAM, lays out shared memory from the simulator's plan, and runs the same loops. A twin of
 * each kernel, compiled with -DFL_COUNT, counts every element it loads from and stores to global memory (HBM).
 * The lesson runs the simulator in count-only mode, runs the counting kernel on the GPU, and prints both ledgers
 * side by side: they must be equal, number for number. Then the plain kernel (no counters) is checked against the
 * double-precision reference and timed. docs/lesson08.md explains why the DRAM traffic Nsight Compute measures is
 * much smaller than either (the L2 cache).
 *
 * The backward pass (lesson07 on a GPU): --algo standard-bwd runs Algorithm 3 as five kernels handing dP and dS
 * through HBM (cuda/teach/attn_v01_naive_bwd.cu), --algo flash2-bwd FA2's Algorithm 2, P recomputed from the saved
 * L, dK and dV on chip, dQ read-modify-written in HBM by the one block that owns the head (attn_v03_flash2_bwd.cu);
 * after a forward pass, the backward alone is counted, beside the simulator's backward ledger, and dQ, dK, dV are
 * checked against the fp64 reference.
 *
 * Algorithm lines: Alg.0 (standard: S, softmax, PV phases), Alg.1 lines 1-13 (flash1), FA2 Alg.1 lines 4-15
 * (flash2), Alg.3 lines 1-5 (standard-bwd), FA2 Alg.2 lines 3-18 (flash2-bwd), as comments in the kernels.
 *
 * Run:  ./lesson08                          flash2, N=2048, d=64, B=1, H=8, M = this GPU's shared memory per block
 *       ./lesson08 --algo standard -N 4096 --causal
 *       ./lesson08 --algo flash1 -M 48K     (smaller SRAM: smaller blocks, more tiles, same equality)
 *       ./lesson08 --algo flash2-bwd -N 1000 --causal
 * Without a GPU it says so in one line and shows the simulator's prediction for M = 227 KiB (an H100's or H200's
 * shared memory per block).
 *
 * Summary: the simulator's ledger (hbm_*), and gpu_rd_elems, gpu_wr_elems (the kernel's counters, "na" without a
 * GPU), counters_match, gpu_ms (median of repeats, CUDA events), max_abs_err (O, or dQ dK dV, against the
 * reference; na where not compared), device, pass (forward or backward).
 * Exit status (exitcode.h): 0 ok (or no GPU: the prediction only), 1 counters or outputs differ, 2 bad input or a
 * device too small for it, 4 a failing CUDA call.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_attn.h"
#include "cuda_run.h"   // defines: cuda_run_gpu, cuda_print_ledgers, cuda_summary_gpu
#include "exitcode.h"
#include "lab_l2.h"      // defines: lab_l2_lesson
#include "lessons.h"
#include "summary.h"
#include "util.h"

/* An H100's and an H200's shared memory per block (cudaDevAttrMaxSharedMemoryPerBlockOptin, 227 KiB): the M of the
 * prediction when there is no GPU to ask. */
#define HOPPER_SMEM 232448

static const char *const algos[] = {"standard", "flash1", "flash2", "standard-bwd", "flash2-bwd", NULL};

const cli_spec lesson08_spec = {
    .name = "lesson08",
    .title = "The same algorithms as CUDA kernels, counters against the simulator",
    .details = "Runs the teaching kernel of --algo on the GPU: its counting twin (global loads and stores per\n"
               "tensor) beside the simulator's ledger, then the plain kernel against the double reference, timed.\n"
               "standard-bwd and flash2-bwd run the backward pass (Alg.3, FA2 Alg.2) after a forward pass and\n"
               "count the backward alone. M defaults to the GPU's shared memory per block; -M chooses a smaller\n"
               "one. The kernels are fp32.",
    .defaults = {.N = 2048, .d = 64, .B = 1, .H = 8, .M_bytes = 0, .dtype = DTYPE_FP32, .seed = 42,
                 .algo = "flash2"},
    .extra = CLI_OPT_CAUSAL | CLI_OPT_ALGO | CLI_OPT_TRACE | CLI_OPT_L2,
    .algos = algos,
};

/* One line on stderr for a runner error; its exit code back. */
static int runner_failed(int rc, const char *err)
{
    fprintf(stderr, "%s: error: %s\n", fl_progname(), err);
    return rc;
}

int lesson08_run(const cli_cfg *cfg)
{
    attn_algo algo;
    char err[512], name[32];
    if (cfg->l2)   /* --l2 GPU: the L2 model against the recorded ncu tables; needs no GPU */
        return lab_l2_lesson(cfg);
    const bool bwd = strstr(cfg->algo, "-bwd") != NULL;   /* the backward pass of standard or flash2 */
    snprintf(name, sizeof name, "%.*s", (int)strcspn(cfg->algo, "-"), cfg->algo);
    if (attn_algo_parse(name, &algo))
        fl_fatal("unknown --algo %s", cfg->algo);
    if (cfg->dtype != DTYPE_FP32)
        fl_fatal("the teaching kernels compute in fp32; --dtype %s is for the tensor-core kernels (lesson09)",
                 dtype_name(cfg->dtype));
    cuda_device dev;
    int rc = cuda_attn_device(&dev, err, sizeof err);
    if (rc && rc != FL_EXIT_USAGE)   /* FL_EXIT_USAGE: no GPU, the prediction alone */
        return runner_failed(rc, err);
    bool have = rc == 0;
    size_t M = cfg->M_bytes ? cfg->M_bytes : have ? dev.smem_optin : HOPPER_SMEM;
    if (have && M > dev.smem_optin)
        fl_fatal("-M %zu is more shared memory than %s gives one block (%zu bytes)", M, dev.name, dev.smem_optin);
    bool count_only = have && cfg->count_only;   /* --count-only, and --trace's dry run: the prediction alone */
    have = have && !cfg->count_only;

    /* Alg.1 line 1: the blocks, from M, exactly as the simulator chooses them (the backward's for a backward run:
     * its forward runs on them too, as in lesson07). */
    attn_params p = {.algo = algo, .B = cfg->B, .N = cfg->N, .H = cfg->H, .d = cfg->d, .causal = cfg->causal};
    block_choice ch;
    if (attn_choose_blocks(&p, bwd, M, DTYPE_FP32, cfg->Br, cfg->Bc, &ch, err, sizeof err))
        fl_fatal("%s", err);
    cuda_attn_plan pl;
    if ((bwd ? cuda_attn_plan_make_backward : cuda_attn_plan_make)(&p, M, &pl, err, sizeof err))
        fl_fatal("%s", err);

    /* The simulator's prediction: the same algorithm in count-only mode (a backward after its forward, the ledger
     * zeroed in between, so that it counts the backward alone). */
    mem_t *m = mem_create(M, true);
    attn_tensors t = attn_alloc(m, &p, DTYPE_FP32, bwd);
    if (bwd) {
        attn_forward(m, &p, &t);
        mem_ledger_reset(m);
    }
    trace_t *tr = cli_trace_open(cfg, m);
    cuda_trace_kernels(tr, &pl, bwd);
    (bwd ? attn_backward : attn_forward)(m, &p, &t);
    cuda_counts sim;
    cuda_run g;
    memset(&g, 0, sizeof g);
    if ((rc = cuda_counts_from_ledger(m, &sim, err, sizeof err))) {
        attn_free(m, &t);
        mem_destroy(m);
        return runner_failed(rc, err);
    }

    if (!have)
        fprintf(stderr, "lesson08: %s: showing only the simulator's prediction for M = %zu bytes\n",
                count_only ? "--count-only" : "no CUDA device", M);
    if (!cfg->quiet) {
        printf("lesson08: %s%s on %s\n", attn_algo_name(algo), bwd ? " backward" : "",
               have ? dev.name : "no GPU (prediction only)");
        printf("  B=%zu N=%zu H=%zu d=%zu%s, M = %zu bytes of shared memory per block\n", p.B, p.N, p.H, p.d,
               p.causal ? " causal" : "", M);
        printf("  blocks: %s\n", ch.rule);
        cuda_print_plan(&pl, bwd);
    }

    bool match = false;
    if (have) {
        if ((rc = cuda_run_gpu(&p, &pl, bwd, cfg->seed, &g, err, sizeof err))) {
            attn_free(m, &t);
            mem_destroy(m);
            return runner_failed(rc, err);
        }
        match = cuda_counts_equal(&sim, &g.gpu);
    }
    if (!cfg->quiet) {
        cuda_print_ledgers(&sim, &g.gpu, have);
        if (have)
            cuda_print_run(&p, &g, match);
    }

    char said[400];
    snprintf(said, sizeof said, "the simulator's schedule for these kernels' configuration (%s); the kernels' "
             "counters %s", have ? dev.name : "no GPU was used: a prediction", !have ? "were not run" : match ?
             "EQUAL this ledger" : "DIFFER from this ledger");
    trace_meta(tr, "cuda", said);
    cli_trace_close(cfg, tr);

    summary_t sm;
    cli_cfg used = *cfg;
    used.M_bytes = M;
    summary_begin(&sm, &used, cfg->algo, p.Br, p.Bc);
    summary_ledger(&sm, m);
    summary_str(&sm, "pass", bwd ? "backward" : "forward");
    cuda_summary_gpu(&sm, &g, have, match, have ? dev.name : "none");
    summary_print(&sm, stdout);
    attn_free(m, &t);
    mem_destroy(m);
    return !have || (match && cuda_run_ok(&g)) ? FL_EXIT_OK : FL_EXIT_CHECK;
}

LESSON_MAIN(lesson08_spec, lesson08_run)
