/* lesson13 — the roofline and the paper's Figure 2: why attention is memory-bound, what fusion changes.
 *
 * What it teaches. A kernel's time is at least the larger of bytes / bandwidth and FLOPs / peak; its arithmetic
 * intensity I = FLOPs per HBM byte says which one decides: below the ridge point (peak / bandwidth: ~150-300 FLOP/B
 * on A100, H100, H200) the bytes do. Part 1: the ceilings, from the datasheets. Part 2: standard attention's kernels
 * (S = QK^T, the softmax, O = PV) and the fused forward passes, counted: FLOPs (mem.h's convention) and HBM bytes.
 * Part 3: what fusion changes, in one table. Part 4: the paper's Figure 2 (left), GPT-2 medium forward + backward,
 * beside the paper's numbers, and every difference shown by a count. Part 5: FlashAttention-2's cost argument, the
 * non-matmul FLOPs FA1 spends and FA2 does not, priced on an A100, and its warp partitioning (split-K vs split-Q)
 * counted one level down. Everything is count-only: loops and ledgers, no arithmetic.
 * Run:  ./lesson13     ./lesson13 -N 4096 -d 128      ./lesson13 --quiet --out-dir /tmp/roof
 * Files: lesson13_roofline.dat (the ceilings and the kernels, gnuplot-ready; plots/fig7_roofline.gp draws them).
 * Summary: flash2's fused forward (the usual keys), the kernels' FLOP/byte (ai_*), the ridges, gpt2_* (Figure 2:
 *   GB and GFLOPs counted, and each count behind a difference), fa1_/fa2_ non-matmul FLOPs and exps, split_k_/split_q_
 *   exchanged elements, closed_form_ok.
 */
#include <stdio.h>

#include "lab_attn.h"   // defines: lab_attn_plan, lab_attn_go, lab_sum_begin
#include "lab_roof.h"   // defines: LAB_GPU, lab_kernels, lab_kernel_time, lab_fwd_bwd, lab_warp_split
#include "lab_sweep.h"  // defines: lab_sweep_out_dir
#include "lessons.h"
#include "util.h"

/* The paper's Figure 2 (left): GPT-2 medium on an A100, forward + backward of attention (Dao et al. 2022). */
#define PAPER_STD_GB 40.3
#define PAPER_FLASH_GB 4.4
#define PAPER_STD_GFLOPS 66.6
#define PAPER_FLASH_GFLOPS 75.2
static const size_t GPT2[4] = {64, 1024, 16, 64};   /* B, N, H, d */
/* FlashAttention-1's CUDA kernels for d = 64, N >= 256 (fmha, 2022): 256 keys per block, 16 query rows per step. */
#define FA1_BR 16
#define FA1_BC 256
/* FlashAttention-2's forward kernel for d = 64 (Flash_fwd_kernel_traits<64, 128, 128, 4>): blocks and warps. */
#define FA2_BLOCK 128
#define FA2_WARPS 4

static double gb(uint64_t bytes) { return (double)bytes / 1e9; }
static double gflops(const lab_fb *f) { return (double)(f->flops_mm + f->flops_ew) / 1e9; }

int lesson13_run(const cli_cfg *cfg)
{
    lab_t L = lab_begin(cfg);
    lab_sweep_out_dir(cfg);
    char b1[32];
    lab_say(&L, "lesson13 — %s\n\nPart 1 — The ceilings. Time >= max(bytes / bandwidth, FLOPs / peak). A kernel's "
            "arithmetic intensity\nI = FLOPs / HBM bytes decides which: below the ridge point, peak / bandwidth, the "
            "bytes do.\n", lesson13_spec.title);
    lab_roof_print_gpus(&L);
    lab_say(&L, "  Matrix products run on the tensor cores (dense fp16/bf16); everything else - the softmax, the scale,\n"
            "  rescaling O - on the fp32 units, 16x slower on an A100 and 15x on an H100; exp() on the special-\n"
            "  function units, 128x (A100) and 254x (H100) slower than a matmul FLOP.\n\n");

    /* ---- part 2: the kernels of one forward, counted ------------------------------------------------------------ */
    lab_kernel k[LAB_NKERNELS];
    bool ok = lab_kernels(cfg, k);
    lab_say(&L, "Part 2 — The kernels of one attention forward: N=%zu, d=%zu, %s, M=%s, B=%zu, H=%zu (counted; FLOPs by\n"
            "mem.h: a product 2 per multiply-add, every other operation 1; exp() apart):\n", cfg->N, cfg->d,
            dtype_name(cfg->dtype), fmt_bytes(cfg->M_bytes, b1, sizeof b1), cfg->B, cfg->H);
    lab_roof_print_kernels(&L, k, LAB_NKERNELS);
    lab_say(&L, "  The softmax does %.1f FLOP per byte, %.1f%% of the A100's ridge. S = QK^T and O = PV spend 2d FLOPs on "
            "each\n  score of an N x N matrix they write or read (%zu bytes), and re-read K or V once per query block: "
            "%.0f\n  FLOP/B. Fused, the scores never reach HBM: I grows as M/d (lesson05's Θ(N²d²/M) bytes for Θ(N²d) "
            "FLOPs),\n  to %.0f here; an L2 that kept the re-reads would lift it to %.0f.\n\n",
            lab_kernel_ai(&k[LAB_K_SOFTMAX], false), 100 * lab_kernel_ai(&k[LAB_K_SOFTMAX], false) /
            lab_gpu_ridge(&LAB_GPU[LAB_A100_40]), dtype_size(cfg->dtype), lab_kernel_ai(&k[LAB_K_S], false),
            lab_kernel_ai(&k[LAB_K_FLASH2], false), lab_kernel_ai(&k[LAB_K_FLASH2], true));
    lab_roof_write(cfg, "lesson13_roofline.dat", k, LAB_NKERNELS);

    /* ---- part 3: what fusion changes ---------------------------------------------------------------------------- */
    const lab_kernel *s = &k[LAB_K_STANDARD], *f = &k[LAB_K_FLASH2];
    lab_say(&L, "Part 3 — What fusion changes (one table): standard attention's 3 kernels against FlashAttention-2's 1\n"
            "  %-34s %16s %16s\n  %-34s %16s %16s\n  %-34s %16llu %16llu\n  %-34s %16llu %16llu\n  %-34s %16llu %16llu\n"
            "  %-34s %16.1f %16.1f\n", "", "standard", "flash2", "N x N matrices through HBM", "S, P", "none",
            "HBM bytes", (unsigned long long)s->bytes, (unsigned long long)f->bytes, "FLOPs (matmul + other)",
            (unsigned long long)(s->flops_mm + s->flops_ew), (unsigned long long)(f->flops_mm + f->flops_ew), "exp()",
            (unsigned long long)s->exps, (unsigned long long)f->exps, "FLOP per HBM byte", lab_kernel_ai(s, false),
            lab_kernel_ai(f, false));
    for (int g = 0; g < LAB_NGPUS; g++) {
        bool ms, mf;
        double ts = lab_kernel_time(s, &LAB_GPU[g], false, &ms), tf = lab_kernel_time(f, &LAB_GPU[g], false, &mf);
        lab_say(&L, "  time on the %-10s roofline, µs  %9.2f %-6s %9.2f %-6s  %.1fx\n", LAB_GPU[g].name, ts * 1e6,
                ms ? "memory" : "compute", tf * 1e6, mf ? "memory" : "compute", ts / tf);
    }
    lab_say(&L, "  Same matrix products; fusion removes the N x N traffic, so the FLOPs per byte rise %.0fx.\n\n",
            lab_kernel_ai(f, false) / lab_kernel_ai(s, false));

    /* ---- part 4: the paper's Figure 2 (left) -------------------------------------------------------------------- */
    cli_cfg gpt = *cfg;
    gpt.B = GPT2[0], gpt.N = GPT2[1], gpt.H = GPT2[2], gpt.d = GPT2[3], gpt.Br = gpt.Bc = 0;
    lab_fb fs, ff, fp, fc;
    lab_fwd_bwd(&gpt, ATTN_STANDARD, false, 0, 0, &fs);
    lab_fwd_bwd(&gpt, ATTN_FLASH1, false, 0, 0, &ff);
    lab_fwd_bwd(&gpt, ATTN_FLASH1, false, FA1_BR, FA1_BC, &fp);
    lab_fwd_bwd(&gpt, ATTN_FLASH1, true, 0, 0, &fc);
    ok = ok && fs.closed_ok && ff.closed_ok && fp.closed_ok && fc.closed_ok;
    uint64_t BH = gpt.B * gpt.H, NN = (uint64_t)gpt.N * gpt.N, mm_fwd = 4 * BH * NN * gpt.d;
    uint64_t dq_chip = ff.bytes - ff.dq_bytes + ff.dq_size, mask = 2 * BH * NN;   /* 1 byte/score, written + read */
    lab_say(&L, "Part 4 — The paper's Figure 2 (left): GPT-2 medium's attention, forward + backward, B=%zu, H=%zu, N=%zu,"
            " d=%zu,\n  %s, M=%s; standard = Alg.0 + Alg.3, FlashAttention = Alg.1 + Alg.4, the paper's block rule "
            "(GB = 1e9 bytes):\n  %-22s %10s %10s   %10s %10s\n  %-22s %10.2f %10.2f   %10.1f %10.1f\n  %-22s %10.1f "
            "%10.1f   %10.1f %10.1f\n  flash / standard: bytes %.3f (paper %.3f), FLOPs %.3f (paper %.3f). Blocks: "
            "forward %zu x %zu, backward %zu x %zu.\n", gpt.B, gpt.H, gpt.N, gpt.d, dtype_name(gpt.dtype),
            fmt_bytes(gpt.M_bytes, b1, sizeof b1), "", "standard", "flash", "paper: std", "flash", "HBM R/W (GB)",
            gb(fs.bytes), gb(ff.bytes), PAPER_STD_GB, PAPER_FLASH_GB, "GFLOPs", gflops(&fs), gflops(&ff),
            PAPER_STD_GFLOPS, PAPER_FLASH_GFLOPS, (double)ff.bytes / (double)fs.bytes, PAPER_FLASH_GB / PAPER_STD_GB,
            gflops(&ff) / gflops(&fs), PAPER_FLASH_GFLOPS / PAPER_STD_GFLOPS, ff.Br[0], ff.Bc[0], ff.Br[1], ff.Bc[1]);
    lab_say(&L, "  Why they differ, each by a count:\n  a. FLOPs. The products alone are 4·B·H·N²·d = %.1f GFLOPs "
            "forward, 2x that backward for standard\n     and 2.5x for flash: %.1f and %.1f; other FLOPs add %.1f and "
            "%.1f. The paper's are %.1fx and %.1fx\n     smaller: no one factor. Its author: the FLOPs were off by some "
            "factor, the ratio holds\n     (flash-attention GitHub #741): products alone give %.3f, the paper %.3f.\n",
            (double)mm_fwd / 1e9, (double)fs.flops_mm / 1e9, (double)ff.flops_mm / 1e9, (double)fs.flops_ew / 1e9,
            (double)ff.flops_ew / 1e9, gflops(&fs) / PAPER_STD_GFLOPS, gflops(&ff) / PAPER_FLASH_GFLOPS,
            (double)ff.flops_mm / (double)fs.flops_mm, PAPER_FLASH_GFLOPS / PAPER_STD_GFLOPS);
    lab_say(&L, "  b. Blocks. The rule fits the backward's bigger plan with Bc = %zu: dQ is read and written Tc = %zu "
            "times.\n     FlashAttention's CUDA kernel took Br = %d, Bc = %d in both passes: %.2f GB.\n  c. dQ. Its "
            "read-modify-writes are %.2f of the %.2f GB; kept on chip, written once: %.2f GB.\n  d. DRAM, not accesses. "
            "The paper measured an A100, whose 40 MB L2 serves re-reads. Behind an ideal\n     L2 (each tensor read "
            "and written at most once per kernel): flash %.2f GB, standard %.2f GB. The\n     paper's 4.4 GB lies "
            "between %.2f and %.2f: its L2 served part of the re-reads.\n", ff.Bc[1], ceil_div(gpt.N, ff.Bc[1]),
            FA1_BR, FA1_BC, gb(fp.bytes), gb(ff.dq_bytes), gb(ff.bytes), gb(dq_chip), gb(ff.l2_bytes), gb(fs.l2_bytes),
            gb(ff.l2_bytes), gb(fp.bytes));
    lab_say(&L, "  e. Standard moves more in the paper (%.1f > %.2f GB): PyTorch runs more kernels than Algorithm 0.\n"
            "     One byte per score written forward and read backward, a stored dropout mask, is %.2f GB: %.2f GB.\n"
            "     (A count that lands on the paper's number, not a fact about its run.)\n  f. GPT-2 is causal. Skipping "
            "masked tiles, flash would move %.2f GB and do %.1f GFLOPs, fewer FLOPs than\n     standard's %.1f: the "
            "paper's flash column has more, so it is not a run that skipped them.\n\n", PAPER_STD_GB, gb(fs.bytes),
            gb(mask), gb(fs.bytes + mask), gb(fc.bytes), gflops(&fc), gflops(&fs));

    /* ---- part 5: FlashAttention-2's cost argument --------------------------------------------------------------- */
    attn_params p = {.algo = ATTN_FLASH1, .B = gpt.B, .N = gpt.N, .H = gpt.H, .d = gpt.d, .Br = FA2_BLOCK,
                     .Bc = FA2_BLOCK};
    attn_io io[2];
    attn_io_closed_form(&p, false, &io[0]);
    p.algo = ATTN_FLASH2;
    attn_io_closed_form(&p, false, &io[1]);
    const lab_gpu *a100 = &LAB_GPU[LAB_A100_40];
    lab_say(&L, "Part 5 — FlashAttention-2's cost argument (Dao 2023, 3.1), counted: one forward of the same layer, both "
            "on\n  FA2's blocks for d = 64 (%d x %d). A100 40GB time, µs: matmul at 312, other at 19.5 TFLOP/s, exp at "
            "2.4 T/s:\n  %-8s %14s %13s %12s %10s %9s %9s %9s\n", FA2_BLOCK, FA2_BLOCK, "", "matmul FLOPs",
            "other FLOPs", "exp()", "matmul", "other", "exp", "total");
    for (int a = 0; a < 2; a++) {
        double tm = (double)io[a].flops_mm / a100->mm, te = (double)io[a].flops_ew / a100->fp32;
        double tx = (double)io[a].exps / a100->exps;
        lab_say(&L, "  %-8s %14llu %13llu %12llu %10.0f %9.0f %9.0f %9.0f\n", a ? "flash2" : "flash1",
                (unsigned long long)io[a].flops_mm, (unsigned long long)io[a].flops_ew, (unsigned long long)io[a].exps,
                tm * 1e6, te * 1e6, tx * 1e6, (tm + te + tx) * 1e6);
    }
    uint64_t saved = io[0].flops_ew - io[1].flops_ew;
    double t1 = (double)io[0].flops_mm / a100->mm + (double)io[0].flops_ew / a100->fp32 + (double)io[0].exps / a100->exps;
    lab_say(&L, "  FA2 drops %llu other FLOPs (3·Tc·N·d + 5·Tc·N - N·d - N per head: rescaling both terms of Oi and\n"
            "  dividing by li_new on every tile): %.0f µs of fp32 time, the price of %.1f G matmul FLOPs (16x). The\n"
            "  exps barely move (%+lld: one e^(m_old - m_new) per row and tile instead of two, plus N logs). That is\n"
            "  %.0f%% of flash1's time here: most of FA2's 2x comes from parallel query blocks (lesson06, part 5) and\n"
            "  from how it splits a tile between warps:\n", (unsigned long long)saved, (double)saved / a100->fp32 * 1e6,
            (double)saved * a100->mm / a100->fp32 / 1e9, (long long)io[1].exps - (long long)io[0].exps,
            100 * (double)saved / a100->fp32 / t1);
    lab_split sk, sq;
    lab_warp_split(FA2_BLOCK, FA2_BLOCK, gpt.d, FA2_WARPS, false, &sk);
    lab_warp_split(FA2_BLOCK, FA2_BLOCK, gpt.d, FA2_WARPS, true, &sq);
    lab_say(&L, "  inside a thread block (%d warps, one %d x %d tile, d = %zu), counted one level down: shared memory "
            "as\n  HBM, a warp's registers as SRAM; elements moved per tile:\n  %-26s %10s %14s %24s %9s\n  %-26s %10llu "
            "%14llu %24llu %9u\n  %-26s %10llu %14llu %24llu %9u\n  Split-K's warps each hold a part of every row's "
            "sum and must add them through shared memory\n  after a barrier; split-Q's warps own whole rows. (FA3, "
            "lesson10: the same ideas on Hopper.)\n\n", FA2_WARPS, FA2_BLOCK, FA2_BLOCK, gpt.d, "", "Qi reads",
            "Kj, Vj reads", "partial O, m, l moved", "barriers", "split-K (FlashAttention)", (unsigned long long)sk.q,
            (unsigned long long)sk.kv, (unsigned long long)sk.exchange, sk.syncs, "split-Q (FlashAttention-2)",
            (unsigned long long)sq.q, (unsigned long long)sq.kv, (unsigned long long)sq.exchange, sq.syncs);
    lab_say(&L, "wrote lesson13_roofline.dat to %s/ (make plots draws it)\n", cfg->out_dir);

    /* ---- summary: flash2's fused forward, then the lesson's numbers ---------------------------------------------- */
    lab_attn r = lab_attn_plan(cfg, ATTN_FLASH2, false, NULL);
    lab_attn_go(NULL, &r, NULL);
    summary_t sm;
    lab_sum_begin(&sm, &r, "flash2");
    summary_str(&sm, "max_abs_err", "na");
    for (int x = 0; x < LAB_NKERNELS; x++)
        lab_sum_f64_prefixed(&sm, "ai", k[x].key, true, lab_kernel_ai(&k[x], false));
    lab_sum_fkv(&sm, {"ridge_a100_40gb", lab_gpu_ridge(&LAB_GPU[LAB_A100_40])},
                {"ridge_a100_80gb", lab_gpu_ridge(&LAB_GPU[LAB_A100_80])}, {"ridge_h100", lab_gpu_ridge(&LAB_GPU[LAB_H100])},
                {"ridge_h200", lab_gpu_ridge(&LAB_GPU[LAB_H200])}, {"gpt2_standard_gb", gb(fs.bytes)},
                {"gpt2_flash_gb", gb(ff.bytes)}, {"gpt2_standard_gflops", gflops(&fs)}, {"gpt2_flash_gflops", gflops(&ff)},
                {"gpt2_flash_paper_blocks_gb", gb(fp.bytes)}, {"gpt2_flash_dq_on_chip_gb", gb(dq_chip)},
                {"gpt2_standard_l2_gb", gb(fs.l2_bytes)}, {"gpt2_flash_l2_gb", gb(ff.l2_bytes)},
                {"gpt2_standard_dropout_mask_gb", gb(fs.bytes + mask)}, {"gpt2_flash_causal_gb", gb(fc.bytes)},
                {"gpt2_flash_causal_gflops", gflops(&fc)});
    lab_sum_kv(&sm, {"fa1_nonmatmul_flops", io[0].flops_ew}, {"fa2_nonmatmul_flops", io[1].flops_ew},
               {"fa1_exps", io[0].exps}, {"fa2_exps", io[1].exps}, {"split_k_exchange_elems", sk.exchange},
               {"split_q_exchange_elems", sq.exchange}, {"closed_form_ok", ok && r.closed_ok});
    summary_print(&sm, stdout);
    lab_attn_free(&r);
    return lab_end(&L, ok && r.closed_ok);
}

static const char DETAILS[] =
    "Counts (no arithmetic) standard attention's three kernels and the fused forward passes at -N, -d, -M, --dtype,\n"
    "--batch, --heads, and prints them against the rooflines of A100, H100 and H200; then GPT-2 medium's attention\n"
    "(B=64, H=16, N=1024, d=64, with -M and --dtype) forward + backward beside the FlashAttention paper's Figure 2\n"
    "(left); then FlashAttention-2's non-matmul FLOPs and warp partitioning. Writes lesson13_roofline.dat to --out-dir.";

const cli_spec lesson13_spec = {
    .name = "lesson13",
    .title = "The roofline and the paper's Figure 2: why attention is memory-bound, what fusion changes",
    .details = DETAILS,
    /* M = 192 KiB: the A100's SRAM per SM as the paper quotes it; fp16, the paper's Figure 2. */
    .defaults = {.N = 1024, .d = 64, .B = 1, .H = 1, .M_bytes = 192 * 1024, .dtype = DTYPE_FP16, .seed = 42,
                 .count_only = true, .out_dir = "plots/out/data"},
    .extra = CLI_OPT_OUT_DIR | CLI_OPT_THREADS,
};

LESSON_MAIN(lesson13_spec, lesson13_run)
