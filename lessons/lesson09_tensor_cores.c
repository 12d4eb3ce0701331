/* lesson09_tensor_cores.c — a tensor-core FlashAttention-2 forward kernel, checked, counted and timed.
 *
 * What it teaches (the seed course's FlashAttention-2 chapter, from algorithm to hardware; Dao 2023, Section 3;
 * FlashAttention-3's ping-pong, Shah et al. 2024, Section 3.1): the loops of lesson06 on real tensor cores.
 *   1  the same algorithm: FA2 Alg.1 lines 4-15, one thread block per (query block, batch, head), one warp per 32
 *      query rows; Sij and P~ij never leave registers (mma.sync m16n8k16, P from the S accumulators).
 *   2  the same traffic: the counting build of the kernel counts its global loads and stores per tensor, and they
 *      equal the simulator's flash2 ledger for the kernel's blocks — and its closed form — exactly (✓/✗).
 *   3  the same function: O and L against fp64 on sampled rows, Tri Dao's criterion (at most 2x the error of the
 *      materialized computation in the same precision), every element written, no NaN.
 *   4  the speed: median time of repeated launches and TFLOP/s (4 B H N^2 d, halved when causal). `make bench-gpu`
 *      sets every version beside PyTorch's SDPA backends; docs/lesson09.md has the table and the worklog.
 * Run:  ./lesson09                                  d=64, N=4096, B=4, H=32, fp16 (the benchmark's shape)
 *       ./lesson09 --causal -d 128 --heads 16       another case
 *       ./lesson09 --algo v04_mma                   any version of cuda/tc/attn_tc.def (default: the fastest)
 *       ./lesson09 --backward --causal -N 1000      the backward, FA2 Alg.2 (--algo: a row of cuda/tc/bwd.def)
 * Without a GPU it says so in one line and shows the simulator's prediction of the traffic (exit 0).
 * Exit status (exitcode.h): 0 ok, 1 a check or the counters failed, 2 bad input, 4 a failing CUDA call.
 * Summary: the simulator's ledger (hbm_*, per tensor) for the version's blocks; kernel_counts_match; time_ms,
 *   tflops; max_abs_err (O), ref_err (the low-precision reference's), L_max_abs_err; gpu (no, or the device).
 */
#include <stdio.h>
#include <string.h>

#include "attention.h"  // defines: attn_params, attn_alloc, attn_forward, attn_io_closed_form
#include "bwd_host.h"   // defines: tc_bwd_report_run, tc_bwd_report_print, tc_bwd_report_summary
#include "cuda_check.h" // defines: cuda_device_count
#include "exitcode.h"
#include "gpu.h"        // defines: cuda_device_get
#include "lessons.h"
#include "summary.h"
#include "tc_host.h"    // defines: tc_problem_new, tc_ref_new, tc_check_version, tc_count_version, tc_time_ms
#include "util.h"

#define SAMPLE_HEADS 2    /* heads whose gradients are checked against fp64 (--backward): ~15 N^2 d flops each */
#define SAMPLE_ROWS 256   /* rows checked against fp64 when B*H*N is larger: each costs 4 N d flops on the CPU */
#define WARMUP 3
#define REPS 20
#define BEST "final"

static const char *const versions[] = {
#define TC_VERSION(name, fn, change) #name,
#include "attn_tc.def"
#undef TC_VERSION
#define TC_BWD_CONFIG(name, br64, br128, change) #name,
#include "bwd.def"
#undef TC_BWD_CONFIG
    NULL};

static const char DETAILS[] =
    "--algo picks a kernel version (cuda/tc/attn_tc.def); -M is only the SRAM the simulator is given for its ledger.\n"
    "Needs fp16 or bf16 and d = 64 or 128. --backward runs the backward pass (--algo: a cuda/tc/bwd.def name).";

const cli_spec lesson09_spec = {
    .name = "lesson09",
    .title = "A tensor-core FlashAttention-2 kernel against PyTorch",
    .details = DETAILS,
    .defaults = {.N = 4096, .d = 64, .B = 4, .H = 32, .M_bytes = 228 * 1024, .dtype = DTYPE_FP16, .seed = 9,
                 .algo = BEST},
    .extra = CLI_OPT_CAUSAL | CLI_OPT_ALGO,
    .algos = versions,
    .own = {{"backward", NULL, "the backward pass, FA2 Alg.2 (--algo: a cuda/tc/bwd.def name)", 0, 1}},
};

/* The simulator's flash2 in count-only mode with the kernel's blocks: the ledger the kernel must reproduce. */
static mem_t *sim_ledger(const cli_cfg *cfg, int Br, int Bc, attn_io *io)
{
    attn_params p = {.algo = ATTN_FLASH2, .B = cfg->B, .N = cfg->N, .H = cfg->H, .d = cfg->d, .causal = cfg->causal,
                     .Br = min_size((size_t)Br, cfg->N), .Bc = min_size((size_t)Bc, cfg->N)};
    size_t need = attn_sram_need(ATTN_FLASH2, false, p.Br, p.Bc, p.d, cfg->dtype);
    mem_t *m = mem_create(max_size(need, cfg->M_bytes), true);
    attn_tensors t = attn_alloc(m, &p, cfg->dtype, false);
    attn_forward(m, &p, &t);   /* FA2 Alg.1, loops only: count-only mode moves no data */
    attn_free(m, &t);
    attn_io_closed_form(&p, false, io);
    return m;
}

/* FA2 Alg.2 on the tensor cores (attn_bwd.cu); the harness in bwd_host.h, dQ's atomics vs the ledger in bwd_ledger.h */
static int lesson09_backward(const cli_cfg *cfg, int c)
{
    tc_bwd_report r;
    char err[256];
    int rc = tc_bwd_report_run(&(tc_bwd_shape){cfg->B, cfg->N, cfg->H, cfg->d, cfg->causal, cfg->dtype}, c,
                               cfg->seed, SAMPLE_HEADS, WARMUP, REPS, &r, err, sizeof err);
    if (rc)
        fl_fatal_status(rc, "%s", err);
    if (!cfg->quiet)
        tc_bwd_report_print(&r, stdout);
    summary_t s;
    summary_begin(&s, cfg, tc_bwd_configs[c].name, r.lg.Br, r.lg.Bc);
    tc_bwd_report_summary(&r, &s);
    summary_print(&s, stdout);
    return !r.gpu || (r.lg.ok && r.r.ok) ? FL_EXIT_OK : FL_EXIT_CHECK;
}

int lesson09_run(const cli_cfg *cfg)
{
    int bw = tc_bwd_find(cfg->algo);   /* a backward configuration's name implies --backward */
    if (cfg->own[0] || bw >= 0)   /* --backward */
        return lesson09_backward(cfg, bw < 0 ? 0 : bw);
    int v = tc_find(cfg->algo);
    if (v < 0)
        fl_fatal("unknown kernel version '%s'", cfg->algo);
    if (cfg->dtype == DTYPE_FP32)
        fl_fatal("the tensor-core kernels take fp16 or bf16 (--dtype), not fp32");
    int Br, Bc;
    tc_versions[v].blocks((int)cfg->d, cfg->causal, cfg->N, &Br, &Bc);
    if (!Br)
        fl_fatal("%s supports d = 64 and 128, not d = %zu", tc_versions[v].name, cfg->d);
    attn_io io;
    mem_t *m = sim_ledger(cfg, Br, Bc, &io);
    tc_shape sh = {cfg->B, cfg->N, cfg->H, cfg->d, cfg->dtype};
    bool gpu = cuda_device_count() > 0;

    if (!cfg->quiet) {
        printf("lesson09 — %s\n\n", lesson09_spec.title);
        printf("kernel %s: %s\n", tc_versions[v].name, tc_versions[v].change);
        printf("shape B=%zu N=%zu H=%zu d=%zu %s%s; blocks Br=%d Bc=%d (FA2 Alg.1: Tr=%zu query blocks per head)\n\n",
               cfg->B, cfg->N, cfg->H, cfg->d, dtype_name(cfg->dtype), cfg->causal ? " causal" : "", Br, Bc,
               ceil_div(cfg->N, (size_t)Br));
    }
    summary_t s;
    summary_begin(&s, cfg, tc_versions[v].name, (size_t)Br, (size_t)Bc);
    summary_ledger(&s, m);
    if (!gpu) {
        if (!cfg->quiet) {
            printf("lesson09: no CUDA device: showing the simulator's prediction only\n");
            printf("  FA2 with Br=%d, Bc=%d reads %llu and writes %llu elements (%llu tiles, %llu skipped)\n", Br, Bc,
                   (unsigned long long)io.rd, (unsigned long long)io.wr, (unsigned long long)io.tiles,
                   (unsigned long long)io.skipped);
            mem_ledger_print(m, NULL, stdout);
        }
        summary_str(&s, "gpu", "no");
        summary_str(&s, "kernel_counts_match", "na");
        summary_str(&s, "max_abs_err", "na");
        summary_str(&s, "time_ms", "na");
        summary_print(&s, stdout);
        mem_destroy(m);
        return FL_EXIT_OK;
    }

    char err[256];
    tc_problem *pr = NULL;
    tc_ref *ref = NULL;
    tc_counts c;
    tc_result r;
    double ms = 0;
    cuda_device dev;
    /* 2: counters of the counting build against the simulator and the closed form; 3: O and L against fp64;
     * 4: the time */
    int rc = tc_problem_new(&sh, cfg->seed, &pr, err, sizeof err);
    if (!rc)
        rc = tc_count_version(pr, cfg->causal, v, &c, err, sizeof err);
    if (!rc) {
        ref = tc_ref_new(pr, cfg->causal, SAMPLE_ROWS, cfg->seed + 1);
        rc = tc_check_version(pr, ref, v, &r, err, sizeof err);
    }
    if (!rc)
        rc = tc_time_ms(pr, cfg->causal, v, WARMUP, REPS, &ms, err, sizeof err);
    if (!rc)
        rc = cuda_device_get(&dev, err, sizeof err);
    if (rc) {
        fprintf(stderr, "lesson09: error: %s\n", err);
        tc_ref_free(ref);
        tc_problem_free(pr, err, sizeof err);
        mem_destroy(m);
        return rc;
    }
    if (!cfg->quiet) {
        printf("global traffic, elements    simulator       kernel  closed form\n");
        for (int x = 0; x < TC_NCOUNT; x++)
            printf("  %-10s %20llu %12llu %12llu  %s\n", tc_count_name(x), (unsigned long long)c.sim[x],
                   (unsigned long long)c.kern[x], (unsigned long long)c.closed[x],
                   c.sim[x] == c.kern[x] && c.kern[x] == c.closed[x] ? "✓" : "✗");
    }
    double tflops = tc_flops(&sh, cfg->causal) / ms / 1e9;
    if (!cfg->quiet) {
        printf("\nO vs fp64 on %zu rows: max |err| %.3g, the %s materialized reference's %.3g (allowed %.3g) %s\n",
               r.rows, r.err_o, dtype_name(cfg->dtype), r.ref_err_o,
               ORACLE_TRIDAO_FACTOR * r.ref_err_o, verify_tridao(r.err_o, r.ref_err_o) ? "✓" : "✗");
        printf("L vs fp64: max |err| %.3g (allowed %.3g) %s; elements not written: %zu %s\n", r.err_l, TC_L_ATOL,
               r.err_l <= TC_L_ATOL ? "✓" : "✗", r.unwritten, r.unwritten ? "✗" : "✓");
        printf("time on %s: %.3f ms (median of %d after %d warm-up) = %.1f TFLOP/s\n", dev.name, ms, REPS, WARMUP,
               tflops);
    }
    char gpu_name[sizeof dev.name];
    snprintf(gpu_name, sizeof gpu_name, "%s", dev.name);
    for (char *x = gpu_name; *x; x++)
        *x = *x == ' ' ? '_' : *x;
    summary_str(&s, "gpu", gpu_name);
    summary_u64(&s, "kernel_counts_match", c.ok);
    summary_f64(&s, "max_abs_err", r.err_o);
    summary_f64(&s, "ref_err", r.ref_err_o);
    summary_f64(&s, "L_max_abs_err", r.err_l);
    summary_u64(&s, "unwritten", r.unwritten);
    summary_u64(&s, "check_ok", r.ok);
    summary_f64(&s, "time_ms", ms);
    summary_f64(&s, "tflops", tflops);
    summary_print(&s, stdout);
    tc_ref_free(ref);
    rc = tc_problem_free(pr, err, sizeof err);
    mem_destroy(m);
    if (rc) {
        fprintf(stderr, "lesson09: error: %s\n", err);
        return rc;
    }
    return r.ok && c.ok ? FL_EXIT_OK : FL_EXIT_CHECK;
}

#ifndef FLASHLAB_NO_MAIN
int main(int argc, char **argv)
{
    return cli_main(&lesson09_spec, argc, argv, lesson09_run);
}
#endif
