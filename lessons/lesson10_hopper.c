/* lesson10_hopper.c — a FlashAttention-3-style forward kernel on Hopper, checked, counted and timed.
 *
 * What it teaches (FlashAttention-3, Shah et al. 2024, Sections 3.1-3.2, on top of FA2's Algorithm 1): the same
 * algorithm and the same traffic as lesson09, on the instructions Hopper adds — warpgroup products (wgmma) from
 * shared-memory descriptors, TMA loads completing on mbarriers, a producer warp feeding consumer warpgroups
 * (setmaxnreg), ping-pong, softmax overlapped with P V, a persistent grid. Each step is one row of
 * cuda/hopper/hopper.def; docs/lesson10.md has the climb as measured against SDPA's flash and cuDNN backends.
 *   1  the same traffic: the counting twin's global loads and stores per tensor equal the simulator's flash2 ledger
 *      for the kernel's blocks, and its closed form, exactly (✓/✗).
 *   2  the same function: O and L against fp64 on sampled rows, Tri Dao's criterion (at most 2x the error of the
 *      materialized computation in the same precision), every element written, no NaN.
 *   3  the speed: median time of repeated launches and TFLOP/s (4 B H N^2 d, halved when causal).
 * Run:  ./lesson10                                  d=128, N=4096, B=4, H=16, fp16, the fastest version per d
 *       ./lesson10 --causal -d 64 --dtype bf16      another case
 *       ./lesson10 --algo v15_warpspec              any version of cuda/hopper/hopper.def (default: final)
 * Needs an sm_90 GPU (H100, H200): without one it says so in one line and exits 2.
 * Exit status (exitcode.h): 0 ok, 1 a check or the counters failed, 2 bad input or no H100/H200, 4 a failing CUDA
 *   call.
 * Summary: the simulator's flash2 ledger (hbm_*, per tensor) for the version's blocks; version; kernel_counts_match;
 *   max_abs_err (O), ref_err (the low-precision reference's), L_max_abs_err, unwritten, check_ok; time_ms, tflops;
 *   gpu (the device).
 */
#include <stdio.h>

#include "cuda_check.h"   // defines: cuda_device_count
#include "exitcode.h"
#include "gpu.h"          // defines: cuda_device_get
#include "hopper.h"       // defines: hp_versions, hp_find
#include "hopper_host.h"  // defines: hp_case, hp_report, hp_run_case, tc_count_name, ORACLE_TRIDAO_FACTOR, TC_L_ATOL
#include "lab_attn.h"     // defines: lab_attn_plan, lab_attn_go, lab_attn_free
#include "lessons.h"
#include "summary.h"
#include "util.h"

#define SAMPLE_ROWS 256   /* rows checked against fp64: each costs 4 N d flops on the CPU */
#define WARMUP 3
#define REPS 20
#define MAX_D 256         /* the largest head dimension any version has blocks for (hopper.def) */

static const char *const versions[] = {
#define HP_VERSION(name, fn, change) #name,
#include "hopper.def"
#undef HP_VERSION
    NULL};

static const char DETAILS[] =
    "--algo picks a kernel version (cuda/hopper/hopper.def); -M is only the SRAM the simulator is given for its\n"
    "ledger. Needs fp16 or bf16, d = 32, 64, 96, 128 or 256 (as the version supports), and an H100 or H200.";

const cli_spec lesson10_spec = {
    .name = "lesson10",
    .title = "Hopper: a FlashAttention-3-style kernel (wgmma, TMA, warp specialization) against cuDNN",
    .details = DETAILS,
    .defaults = {.N = 4096, .d = 128, .B = 4, .H = 16, .M_bytes = 228 * 1024, .dtype = DTYPE_FP16, .seed = 10,
                 .algo = "final"},
    .extra = CLI_OPT_CAUSAL | CLI_OPT_ALGO,
    .algos = versions,
};

/* One line and exit 2 unless device 0 is an sm_90 GPU: the kernels are built for sm_90a alone. */
static void need_hopper(cuda_device *dev)
{
    char err[256];
    if (cuda_device_count() == 0)
        fl_fatal("no CUDA device: the Hopper kernels need an H100 or H200 (docs/lesson10.md has a measured run)");
    if (cuda_device_get(dev, err, sizeof err))
        fl_fatal("%s", err);
    if (dev->cc_major != 9)
        fl_fatal("the Hopper kernels are built for sm_90a; device 0 is %s (sm_%d%d)", dev->name, dev->cc_major,
                 dev->cc_minor);
}

int lesson10_run(const cli_cfg *cfg)
{
    int v = hp_find(cfg->algo);
    if (v < 0)
        fl_fatal("unknown kernel version '%s'", cfg->algo);
    if (cfg->dtype != DTYPE_FP16 && cfg->dtype != DTYPE_BF16)
        fl_fatal("the Hopper kernels take fp16 or bf16 (--dtype), not %s", dtype_name(cfg->dtype));
    int Br = 0, Bc = 0;
    if (cfg->d <= MAX_D)
        hp_versions[v].blocks((int)cfg->d, cfg->causal, cfg->N, &Br, &Bc);
    if (!Br)
        fl_fatal("%s has no blocks for d = %zu", hp_versions[v].name, cfg->d);
    size_t n;
    if (!size_mul4_ok(cfg->B, cfg->N, cfg->H, cfg->d, &n))
        fl_fatal("B*N*H*d overflows (B=%zu N=%zu H=%zu d=%zu)", cfg->B, cfg->N, cfg->H, cfg->d);
    if (n > LAB_MAX_ELEMS)   /* q, k, v are drawn on the host, whatever --count-only says */
        fl_fatal("B*N*H*d = %zu values per tensor, more than %zu: the host would need gigabytes for the inputs",
                 n, (size_t)LAB_MAX_ELEMS);
    cuda_device dev;
    need_hopper(&dev);

    /* 1: the simulator's flash2, count-only, with the kernel's blocks (a block larger than N holds N rows) */
    lab_t L = lab_begin(cfg);
    cli_cfg sim = *cfg;
    sim.Br = min_size((size_t)Br, cfg->N);
    sim.Bc = min_size((size_t)Bc, cfg->N);
    sim.count_only = true;
    sim.M_bytes = max_size(cfg->M_bytes, attn_sram_need(ATTN_FLASH2, false, sim.Br, sim.Bc, cfg->d, cfg->dtype));
    lab_attn f = lab_attn_plan(&sim, ATTN_FLASH2, false, NULL);
    lab_guard_tiles((uint64_t)f.Tr * f.Tc * cfg->B * cfg->H, "the simulator's flash2 ledger");
    lab_attn_go(&L, &f, NULL);

    lab_say(&L, "lesson10 — %s\n\nkernel %s: %s\n", lesson10_spec.title, hp_versions[v].name, hp_versions[v].change);
    lab_say(&L, "shape B=%zu N=%zu H=%zu d=%zu %s%s; blocks Br=%d Bc=%d (FA2 Alg.1: Tr=%zu query blocks per head)\n\n",
            cfg->B, cfg->N, cfg->H, cfg->d, dtype_name(cfg->dtype), cfg->causal ? " causal" : "", Br, Bc, f.Tr);

    /* 1-3 on the GPU: O and L against fp64, the counting twin, the time (hopper_host.h) */
    hp_case c = {.version = v, .B = cfg->B, .N = cfg->N, .H = cfg->H, .d = cfg->d, .causal = cfg->causal,
                 .dt = cfg->dtype, .seed = cfg->seed, .check_rows = SAMPLE_ROWS, .count = true, .warmup = WARMUP,
                 .reps = REPS};
    hp_report r;
    char err[256];
    if (hp_run_case(&c, &r, err, sizeof err)) {
        lab_attn_free(&f);
        lab_end(&L, false);
        fprintf(stderr, "lesson10: error: %s\n", err);
        return FL_EXIT_INTERNAL;
    }
    const tc_result *ck = &r.check;
    const tc_counts *cn = &r.counts;
    lab_say(&L, "global traffic, elements    simulator       kernel  closed form\n");
    for (int x = 0; x < TC_NCOUNT; x++)
        lab_say(&L, "  %-10s %20llu %12llu %12llu  %s\n", tc_count_name(x), (unsigned long long)cn->sim[x],
                (unsigned long long)cn->kern[x], (unsigned long long)cn->closed[x],
                cn->sim[x] == cn->kern[x] && cn->kern[x] == cn->closed[x] ? "✓" : "✗");
    lab_say(&L, "the simulator's whole ledger equals its closed form: %s\n", f.closed_ok ? "✓" : "✗");
    lab_say(&L, "\nO vs fp64 on %zu rows: max |err| %.3g, the %s materialized reference's %.3g (allowed %.3g) %s\n",
            ck->rows, ck->err_o, dtype_name(cfg->dtype), ck->ref_err_o, ORACLE_TRIDAO_FACTOR * ck->ref_err_o,
            verify_tridao(ck->err_o, ck->ref_err_o) ? "✓" : "✗");
    lab_say(&L, "L vs fp64: max |err| %.3g (allowed %.3g) %s; elements not written: %zu %s\n", ck->err_l, TC_L_ATOL,
            ck->err_l <= TC_L_ATOL ? "✓" : "✗", ck->unwritten, ck->unwritten ? "✗" : "✓");
    lab_say(&L, "time on %s: %.3f ms (median of %d after %d warm-up) = %.1f TFLOP/s\n", dev.name, r.ms, REPS, WARMUP,
            r.tflops);

    summary_t s;
    summary_begin(&s, cfg, "flash2", (size_t)Br, (size_t)Bc);
    summary_ledger(&s, f.m);
    summary_str(&s, "version", hp_versions[v].name);
    for (char *x = dev.name; *x; x++)
        *x = *x == ' ' ? '_' : *x;
    summary_str(&s, "gpu", dev.name);
    summary_u64(&s, "kernel_counts_match", cn->ok);
    summary_f64(&s, "max_abs_err", ck->err_o);
    summary_f64(&s, "ref_err", ck->ref_err_o);
    summary_f64(&s, "L_max_abs_err", ck->err_l);
    summary_u64(&s, "unwritten", ck->unwritten);
    summary_u64(&s, "check_ok", ck->ok);
    summary_f64(&s, "time_ms", r.ms);
    summary_f64(&s, "tflops", r.tflops);
    summary_print(&s, stdout);
    bool ok = ck->ok && cn->ok && f.closed_ok;
    lab_attn_free(&f);
    return lab_end(&L, ok);
}

LESSON_MAIN(lesson10_spec, lesson10_run)
