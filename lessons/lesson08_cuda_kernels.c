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
 * Algorithm lines: Alg.0 (standard: S, softmax, PV phases), Alg.1 lines 1-13 (flash1), FA2 Alg.1 lines 4-15
 * (flash2), as comments in the kernels.
 *
 * Run:  ./lesson08                          flash2, N=2048, d=64, B=1, H=8, M = this GPU's shared memory per block
 *       ./lesson08 --algo standard -N 4096 --causal
 *       ./lesson08 --algo flash1 -M 48K     (smaller SRAM: smaller blocks, more tiles, same equality)
 * Without a GPU it says so in one line and shows the simulator's prediction for M = 227 KiB (an H100's or H200's
 * shared memory per block).
 *
 * Summary: the simulator's ledger (hbm_*), and gpu_rd_elems, gpu_wr_elems (the kernel's counters, "na" without a
 * GPU), counters_match, gpu_ms (median of repeats, CUDA events), max_abs_err (O against the reference), device.
 * Exit status (exitcode.h): 0 ok (or no GPU: the prediction only), 1 counters or outputs differ, 2 bad input or a
 * device too small for it, 4 a failing CUDA call.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_attn.h"
#include "exitcode.h"
#include "lessons.h"
#include "summary.h"
#include "util.h"

/* An H100's and an H200's shared memory per block (cudaDevAttrMaxSharedMemoryPerBlockOptin, 227 KiB): the M of the
 * prediction when there is no GPU to ask. */
#define HOPPER_SMEM 232448
/* Rows per head (and heads) compared with the double reference once a full check would be slow. */
#define CHECK_ROWS 64
#define CHECK_HEADS 4

static const char *const algos[] = {"standard", "flash1", "flash2", NULL};

const cli_spec lesson08_spec = {
    .name = "lesson08",
    .title = "The same algorithms as CUDA kernels, counters against the simulator",
    .details = "Runs the teaching kernel of --algo on the GPU: its counting twin (global loads and stores per\n"
               "tensor) beside the simulator's ledger, then the plain kernel against the double reference, timed.\n"
               "M defaults to the GPU's shared memory per block; -M chooses a smaller one. The kernels are fp32.",
    .defaults = {.N = 2048, .d = 64, .B = 1, .H = 8, .M_bytes = 0, .dtype = DTYPE_FP32, .seed = 42,
                 .algo = "flash2"},
    .extra = CLI_OPT_CAUSAL | CLI_OPT_ALGO | CLI_OPT_TRACE,
    .algos = algos,
};

/* One line on stderr for a runner error; its exit code back. */
static int runner_failed(int rc, const char *err)
{
    fprintf(stderr, "%s: error: %s\n", fl_progname(), err);
    return rc;
}

/* The GPU part: the counting twin, then the plain kernels, each checked against the reference; then timed. */
typedef struct {
    cuda_counts gpu;
    cuda_check_stats st[2];   /* [counting] */
    double ms;
    int reps;
    uint64_t dev_bytes;
} gpu_run;

static int run_on_gpu(const attn_params *p, const cuda_attn_plan *pl, uint64_t seed, gpu_run *g, char *err,
                      size_t errlen)
{
    size_t n = p->B * p->N * p->H * p->d, nl = p->B * p->H * p->N;
    float *q = xmalloc(n * sizeof *q), *k = xmalloc(n * sizeof *k), *v = xmalloc(n * sizeof *v);
    float *o = xmalloc(n * sizeof *o), *L = xmalloc(nl * sizeof *L);
    cuda_attn_inputs(p, seed, q, k, v);
    cuda_attn_session *s = NULL;
    int rc = cuda_attn_open(pl, q, k, v, &s, err, errlen);
    size_t rows = p->N * p->N * p->d <= ((size_t)1 << 24) ? 0 : CHECK_ROWS;   /* every row when cheap */
    g->dev_bytes = s ? cuda_attn_device_bytes(s) : 0;
    for (int counting = 1; !rc && counting >= 0; counting--) {   /* the counting twin, then the plain kernels */
        bool hasL;
        rc = cuda_attn_exec(s, counting, counting ? &g->gpu : NULL, err, errlen);
        if (!rc)
            rc = cuda_attn_download(s, o, L, &hasL, err, errlen);
        if (!rc)
            cuda_attn_check(p, q, k, v, o, hasL ? L : NULL, CHECK_HEADS, rows, &g->st[counting]);
    }
    g->reps = p->N >= 8192 ? 5 : 10;
    if (!rc)
        rc = cuda_attn_time_ms(s, 2, g->reps, &g->ms, err, errlen);
    char ignored[8];
    int rc_close = cuda_attn_close(s, rc ? ignored : err, rc ? sizeof ignored : errlen);
    free(q), free(k), free(v), free(o), free(L);
    return rc ? rc : rc_close;
}

/* --trace html: the simulator's count-only run of this configuration is the kernels' schedule; each kernel's launch
 * as a line the page reads, with how blockIdx.x maps to the tiles (cuda/attn_v0*.cu): one block per head and query
 * block, (b*H + h)*Tr + i (v01 scores and PV, v03), one per head, b*H + h (v02), one per query row (v01 softmax). */
static void trace_kernels(trace_t *tr, const cuda_attn_plan *pl)
{
    static const char *const phase[] = {"S", "softmax", "PV"};
    for (int k = 0; k < pl->nkernels; k++) {
        const cuda_kernel_plan *kp = &pl->k[k];
        bool std = pl->p.algo == ATTN_STANDARD;
        char line[256];
        snprintf(line, sizeof line, "kernel=%s phase=%s grid=%s blocks=%llu threads=%u smem=%zu H=%zu Tr=%zu",
                 kp->name, std ? phase[k] : "forward", pl->p.algo == ATTN_FLASH1 ? "head" : std && k == 1 ? "row" :
                 "qblock", (unsigned long long)kp->blocks, kp->threads, kp->dyn_bytes + kp->static_bytes, pl->p.H,
                 ceil_div(pl->p.N, pl->p.Br));
        trace_meta(tr, "cuda_kernel", line);
    }
}

static void print_ledgers(const cuda_counts *sim, const cuda_counts *gpu, bool have)
{
    printf("\n  %-6s %16s %16s   %16s %16s   %s\n", "tensor", "simulator reads", "writes", "kernel reads", "writes",
           "match");
    for (int t = 0; t < CT_NTENSORS; t++) {
        if (!sim->rd[t] && !sim->wr[t] && (!have || (!gpu->rd[t] && !gpu->wr[t])))
            continue;
        printf("  %-6s %16llu %16llu   ", cuda_tensor_name(t), (unsigned long long)sim->rd[t],
               (unsigned long long)sim->wr[t]);
        if (have)
            printf("%16llu %16llu   %s\n", (unsigned long long)gpu->rd[t], (unsigned long long)gpu->wr[t],
                   gpu->rd[t] == sim->rd[t] && gpu->wr[t] == sim->wr[t] ? "✓" : "✗");
        else
            printf("%16s %16s   %s\n", "-", "-", "-");
    }
    printf("  (elements; bytes = elements x 4, fp32)\n");
}

int lesson08_run(const cli_cfg *cfg)
{
    attn_algo algo;
    char err[512];
    if (attn_algo_parse(cfg->algo, &algo))
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

    /* Alg.1 line 1: the blocks, from M, exactly as the simulator chooses them. */
    attn_params p = {.algo = algo, .B = cfg->B, .N = cfg->N, .H = cfg->H, .d = cfg->d, .causal = cfg->causal};
    block_choice ch;
    if (attn_choose_blocks(&p, false, M, DTYPE_FP32, cfg->Br, cfg->Bc, &ch, err, sizeof err))
        fl_fatal("%s", err);
    cuda_attn_plan pl;
    if (cuda_attn_plan_make(&p, M, &pl, err, sizeof err))
        fl_fatal("%s", err);

    /* The simulator's prediction: the same algorithm in count-only mode. */
    mem_t *m = mem_create(M, true);
    trace_t *tr = cli_trace_open(cfg, m);
    trace_kernels(tr, &pl);
    attn_tensors t = attn_alloc(m, &p, DTYPE_FP32, false);
    attn_forward(m, &p, &t);
    cuda_counts sim;
    gpu_run g;
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
        printf("lesson08: %s on %s\n", attn_algo_name(algo), have ? dev.name : "no GPU (prediction only)");
        printf("  B=%zu N=%zu H=%zu d=%zu%s, M = %zu bytes of shared memory per block\n", p.B, p.N, p.H, p.d,
               p.causal ? " causal" : "", M);
        printf("  blocks: %s\n", ch.rule);
        for (int k = 0; k < pl.nkernels; k++) {
            const cuda_kernel_plan *kp = &pl.k[k];
            printf("  kernel %-12s %llu blocks x %u threads, %zu bytes of shared memory:", kp->name,
                   (unsigned long long)kp->blocks, kp->threads, kp->dyn_bytes + kp->static_bytes);
            for (size_t b = 0; b < kp->plan.n; b++)
                printf(" %s@%zu", kp->plan.buf[b].name, kp->off[b]);
            printf(kp->static_bytes ? " (+%zu B reduction scratch)\n" : "\n", kp->static_bytes);
        }
    }

    double max_err = NAN, ms = NAN;
    bool match = false, ok = false;
    uint64_t dev_bytes = 0;
    const cuda_counts *gpu = &g.gpu;
    if (have) {
        if ((rc = run_on_gpu(&p, &pl, cfg->seed, &g, err, sizeof err))) {
            attn_free(m, &t);
            mem_destroy(m);
            return runner_failed(rc, err);
        }
        const cuda_check_stats *st = g.st;
        match = cuda_counts_equal(&sim, gpu);
        ok = st[0].ok && st[1].ok;
        max_err = fmax(st[0].max_abs_O, st[1].max_abs_O);
        ms = g.ms, dev_bytes = g.dev_bytes;
        int reps = g.reps;
        if (!cfg->quiet) {
            print_ledgers(&sim, gpu, true);
            printf("  counters %s the simulator's ledger\n", match ? "EQUAL" : "DIFFER FROM");
            printf("  O vs the double reference (%zu rows): max |err| %.3g (counting kernels %.3g)", st[0].rows,
                   st[0].max_abs_O, st[1].max_abs_O);
            if (algo != ATTN_STANDARD)   /* standard attention writes no log-sum-exp */
                printf(", L %.3g", st[0].max_abs_L);
            printf(" -> %s (atol %g, rtol %g)\n", ok ? "OK" : "FAIL", CUDA_ATOL, CUDA_RTOL);
            double flops = 4.0 * p.B * p.H * (double)p.N * p.N * p.d * (p.causal ? 0.5 : 1.0);
            char b1[32];
            printf("  time: %.3f ms (median of %d after 2 warm-ups, CUDA events), %.2f TFLOP/s; device memory %s\n",
                   ms, reps, flops / ms / 1e9, fmt_bytes(dev_bytes, b1, sizeof b1));
        }
    } else if (!cfg->quiet) {
        print_ledgers(&sim, gpu, false);
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
    summary_begin(&sm, &used, attn_algo_name(algo), p.Br, p.Bc);
    summary_ledger(&sm, m);
    uint64_t grd = 0, gwr = 0;
    for (int x = 0; x < CT_NTENSORS; x++)
        grd += gpu->rd[x], gwr += gpu->wr[x];
    if (have) {
        summary_u64(&sm, "gpu_rd_elems", grd);
        summary_u64(&sm, "gpu_wr_elems", gwr);
        summary_u64(&sm, "counters_match", match);
        summary_f64(&sm, "gpu_ms", ms);
        summary_u64(&sm, "gpu_bytes", dev_bytes);
    } else {
        summary_str(&sm, "gpu_rd_elems", "na");
        summary_str(&sm, "gpu_wr_elems", "na");
        summary_str(&sm, "counters_match", "na");
        summary_str(&sm, "gpu_ms", "na");
    }
    if (have)
        summary_f64(&sm, "max_abs_err", max_err);
    else
        summary_str(&sm, "max_abs_err", "na");
    summary_str(&sm, "device", have ? dev.name : "none");
    summary_print(&sm, stdout);
    attn_free(m, &t);
    mem_destroy(m);
    return !have || (match && ok) ? FL_EXIT_OK : FL_EXIT_CHECK;
}

LESSON_MAIN(lesson08_spec, lesson08_run)
