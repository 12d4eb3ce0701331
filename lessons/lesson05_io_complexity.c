/* lesson05 — IO complexity: counted HBM accesses against the paper's bounds.
 *
 * What it teaches. FlashAttention's claim is about memory traffic: standard attention moves Θ(Nd + N²) elements
 * between HBM and SRAM, FlashAttention Θ(N²d²/M) (Theorem 2), and no exact algorithm does better for every M in
 * [d, Nd] (Proposition 3). Every algorithm runs count-only (loops and ledger, no arithmetic: N = 65536 takes
 * milliseconds) beside those formulas; counted / formula is the constant the Θ hides. Sweeps at one SRAM size M:
 * 1. N = 128 ... 65536 for standard, flash1, flash2, causal flash2 and flash2 under flash1's block rule; 2. peak HBM
 * bytes vs N; 3. d; 4. M (the 1/M law); 5. block sizes inside M at N = 1024 (Figure 2, middle; a runtime MODELLED on
 * an A100's roofline: it falls with the traffic until the arithmetic decides, and b = 512 does not fit). The big
 * block belongs to the resident loop: flash1 keeps Kj, Vj (big Bc), flash2 keeps Qi (big Br); under flash1's rule
 * flash2 re-reads K, V N/d times, Θ(N²). Every count is checked against attn_io_closed_form.
 * Run:   ./lesson05    ./lesson05 -N 8192 -M 64K    ./lesson05 --quiet --out-dir /tmp/io    ./lesson05 --l2 H100
 * Files: lesson05_{seqlen,headdim,sram,blocksize}.dat, gnuplot-ready; their comment lines name every column.
 * Summary: flash1's ledger at the largest N (Theorem 2's algorithm), the others' totals and ratios there, flash2's
 *          blocks under both rules, points swept, mismatches (must be 0). --trace follows that one run of flash1.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <unistd.h>

#include "lab_l2.h"      // defines: lab_l2_sweep
#include "lab_sweep.h"   // defines: lab_case, lab_point, lab_sweep_axis, lab_sweep_write
#include "lessons.h"
#include "util.h"

/* The five curves: standard, flash1, flash2, flash2 with the causal mask, flash2 under flash1's block rule. */
static const lab_case CASES[] = {
    {ATTN_STANDARD, false, false, "standard"},     {ATTN_FLASH1, false, false, "flash1"},
    {ATTN_FLASH2, false, false, "flash2"},         {ATTN_FLASH2, true, false, "flash2_causal"},
    {ATTN_FLASH2, false, true, "flash2_fa1_rule"},
};
#define NCASES (sizeof CASES / sizeof CASES[0])
static const lab_case *const ALL[NCASES] = {&CASES[0], &CASES[1], &CASES[2], &CASES[3], &CASES[4]};
static const lab_case *const BLK[] = {&CASES[1], &CASES[2]};   /* the block-size sweep */
static const size_t DS[] = {16, 32, 48, 64, 80, 96, 128, 160, 192, 256};
static const size_t BLOCKS[] = {16, 32, 64, 128, 256, 512};
#define NDS (sizeof DS / sizeof DS[0])
#define NBLOCKS (sizeof BLOCKS / sizeof BLOCKS[0])
/* Tables 3 and 4: standard's count, then flash1, flash2 and flash2 under flash1's rule with ratio and blocks. */
static const size_t SHOW[] = {1, 2, 4};
static const char *const SHOW_NAMES[] = {"flash1", "flash2", "flash2 FA1 rule"};

int lesson05_run(const cli_cfg *cfg)
{
    lab_sweep_out_dir(cfg);
    lab_sweep s = {.cfg = cfg, .progress = isatty(STDERR_FILENO) && !cfg->quiet};
    lab_t L = lab_begin(cfg);   /* --trace follows the summary's run only, not the hundreds of sweep points */
    FILE *o = L.show ? stdout : NULL;
    size_t M = cfg->M_bytes, d = cfg->d;
    char b1[32], b2[32];

    /* N = 128, 256, ... N (and N itself); d and M at N = min(N, 4096); square blocks b <= min(N, 1024). */
    size_t Ns[32], nN = 0, Ms[16], nM = 0, nb = 0, Nfix = min_size(cfg->N, 4096), Nblk = min_size(cfg->N, 1024);
    for (size_t v = cfg->N < 128 ? cfg->N : 128; v <= cfg->N && nN < 32; v *= 2)
        Ns[nN++] = v;
    if (nN < 32 && Ns[nN - 1] != cfg->N)
        Ns[nN++] = cfg->N;
    for (size_t v = 16 * 1024; v <= ((size_t)4 << 20) && nM < 16; v *= 2)
        Ms[nM++] = v;
    while (nb < NBLOCKS && BLOCKS[nb] <= Nblk)
        nb++;
    s.total = NCASES * nN + NCASES * NDS + NCASES * nM + 2 * NBLOCKS;
    static lab_point pts[NCASES][32], pd[NCASES][16], pm[NCASES][16], pb[2][NBLOCKS];
    for (int plan = 1; plan >= 0; plan--) {   /* every point's blocks first: a bad configuration stops before work */
        lab_sweep_axis(&s, ALL, NCASES, LAB_AXIS_N, Ns, nN, 0, d, M, cfg->Br, cfg->Bc, plan ? NULL : pts[0], 32);
        lab_sweep_axis(&s, ALL, NCASES, LAB_AXIS_D, DS, NDS, Nfix, 0, M, 0, 0, plan ? NULL : pd[0], 16);
        lab_sweep_axis(&s, ALL, NCASES, LAB_AXIS_M, Ms, nM, Nfix, d, 0, 0, 0, plan ? NULL : pm[0], 16);
        lab_sweep_axis(&s, BLK, 2, LAB_AXIS_BLOCK, BLOCKS, nb, Nblk, d, M, 0, 0, plan ? NULL : pb[0], NBLOCKS);
    }
    lab_sweep_done(&s);
    lab_sweep_write(&s, "lesson05_seqlen.dat", "HBM accesses vs sequence length N (Theorem 2, Proposition 3)", ALL,
                    NCASES, pts[0], 32, nN);
    lab_sweep_write(&s, "lesson05_headdim.dat", "HBM accesses vs head dimension d at fixed N and M", ALL, NCASES, pd[0],
                    16, NDS);
    lab_sweep_write(&s, "lesson05_sram.dat", "HBM accesses vs SRAM size M at fixed N and d (the 1/M law)", ALL, NCASES,
                    pm[0], 16, nM);
    lab_sweep_write(&s, "lesson05_blocksize.dat", "HBM accesses and MODELLED runtime vs block size (paper Fig. 2, "
                    "middle) within M; the resident block b (flash1's Bc, flash2's Br), the other min(b, d); blocks "
                    "that do not fit M are left out", BLK, 2, pb[0], NBLOCKS, nb);
    if (o) {
        fprintf(o, "lesson05 — IO complexity: HBM accesses counted by the memory model, beside the paper's bounds\n"
                "d = %zu, M = %s = %zu %s elements, B = %zu, H = %zu; count-only: loops and ledger, no arithmetic.\n"
                "Every count is checked against the closed form attn_io_closed_form ('=' below).\n"
                "Blocks from M, fitted until each algorithm's SRAM plan fits. The big block is the resident one:\n"
                "  standard, flash1: the paper's rule Bc = ceil(M/4d), Br = min(Bc, d) (flash1 keeps Kj, Vj; Q, O "
                "stream past)\n  flash2:           the rule transposed, Br = ceil(M/4d), Bc = min(Br, d) (Qi stays; K, "
                "V stream past)\n  flash2 FA1 rule:  flash2 under flash1's rule, Br <= d: what happens when the wrong "
                "block is the big one\n\n", d, fmt_bytes(M, b1, sizeof b1), M / dtype_size(cfg->dtype),
                dtype_name(cfg->dtype), cfg->B, cfg->H);

        /* 1-2. Sequence length: Theorem 2 (flash), Θ(Nd + N²) (standard), Proposition 3 (any exact algorithm). */
        fprintf(o, "1. HBM accesses (elements read + written) vs N.  ratio = counted / the paper's shape with "
                   "constant 1:\n   standard / (Nd + N^2);  flash / (N^2 d^2 / M).  '*': M > Nd, outside Theorem 2's "
                   "range (all of K, V fit)\n");
        static const char *const head[NCASES] = {"standard", "flash1", "flash2", "flash2 causal", "flash2 FA1 rule"};
        static const int width[NCASES] = {12, 11, 11, 13, 15};
        fprintf(o, "%6s", "N");
        for (size_t a = 0; a < NCASES; a++)
            fprintf(o, "  %*s %6s", width[a], head[a], "ratio");
        fprintf(o, "  %s\n", "closed form");
        for (size_t k = 0; k < nN; k++) {
            bool all = true;
            fprintf(o, "%6zu", Ns[k]);
            for (size_t a = 0; a < NCASES; a++) {
                const lab_point *p = &pts[a][k];
                all = all && lab_point_exact(p);
                fprintf(o, "  %*llu %6.2f%s", width[a], (unsigned long long)lab_point_elems(p),
                        lab_point_ratio(&CASES[a], p), a && !p->in_range ? "*" : " ");
            }
            fprintf(o, " %s\n", all ? "= all five" : "MISMATCH");
        }
        const lab_point *p1 = &pts[1][nN - 1], *p2 = &pts[2][nN - 1], *p2r = &pts[4][nN - 1], *pc = &pts[3][nN - 1];
        fprintf(o, "   blocks at N = %zu (Br x Bc):", Ns[nN - 1]);
        for (size_t a = 0; a < NCASES; a++)
            fprintf(o, "  %s %zux%zu", CASES[a].label, pts[a][nN - 1].Br, pts[a][nN - 1].Bc);
        fprintf(o, "\n   The big block belongs to the resident one: flash1 keeps Kj, Vj (Bc = %zu) and re-reads Q, O "
                   "Tc = %zu times;\n   flash2 keeps Qi (Br = %zu) and re-reads K, V Tr = %zu times: %.2f x flash1's "
                   "bytes. Under flash1's rule\n   (Br = %zu <= d) flash2 re-reads K, V Tr = %zu times: %.2f x "
                   "flash1's bytes, Θ(N²), whatever M is.\n", p1->Bc, ceil_div(p1->N, p1->Bc), p2->Br,
                ceil_div(p2->N, p2->Br), (double)lab_point_bytes(p2) / (double)lab_point_bytes(p1), p2r->Br,
                ceil_div(p2r->N, p2r->Br), (double)lab_point_bytes(p2r) / (double)lab_point_bytes(p1));
        fprintf(o, "   causal flash2 skips %llu of %llu tiles at N = %zu.  Proposition 3 (lower bound, constant 1) "
                   "at N = %zu: %.4g elements.\n\n", (unsigned long long)pc->skipped,
                (unsigned long long)(pc->tiles + pc->skipped), Ns[nN - 1], Ns[nN - 1], pc->theta_flash);
        fprintf(o, "2. Peak HBM allocated (Q, K, V, O, statistics, and standard's S and P) vs N:\n"
                "%8s  %12s %12s %12s %12s\n", "N", "standard", "flash1", "flash2", "flash2 causal");
        for (size_t k = 0; k < nN; k++) {
            fprintf(o, "%8zu ", Ns[k]);
            for (size_t a = 0; a < 4; a++)   /* flash2 under flash1's rule allocates what flash2 does */
                fprintf(o, " %12s", fmt_bytes(pts[a][k].hbm_peak, b1, sizeof b1));
            fputc('\n', o);
        }

        /* 3. Head dimension at fixed N: flash's accesses grow as d², standard's barely move. */
        fprintf(o, "\n3. HBM accesses vs head dimension d at N = %zu, M = %s (blocks chosen from M for each d):\n",
                Nfix, fmt_bytes(M, b1, sizeof b1));
        lab_sweep_table_head(o, "d", 4, "standard", SHOW_NAMES, 3);
        for (size_t k = 0; k < NDS; k++)
            lab_sweep_table_row(o, (snprintf(b1, sizeof b1, "%zu", DS[k]), b1), 4, ALL, NCASES, pd[0], 16, k, SHOW, 3);

        /* 4. SRAM size at fixed N, d: the 1/M law, until M reaches Nd and K, V fit whole. */
        fprintf(o, "\n4. HBM accesses vs SRAM size M at N = %zu, d = %zu (Nd = %zu elements):\n", Nfix, d, Nfix * d);
        lab_sweep_table_head(o, "M", 10, "standard", SHOW_NAMES, 3);
        for (size_t k = 0; k < nM; k++)
            lab_sweep_table_row(o, fmt_bytes(Ms[k], b1, sizeof b1), 10, ALL, NCASES, pm[0], 16, k, SHOW, 3);

        /* 5. Block size (the paper's Figure 2, middle): the resident block b inside the one SRAM of M bytes. */
        fprintf(o, "\n5. Block size at N = %zu, d = %zu, M = %s (the paper's Figure 2, middle: blocks inside the SRAM).\n"
                   "   b is the resident block, flash1's Bc and flash2's Br; the other is min(b, d). Runtime is MODELLED "
                   "on an\n   A100's roofline (lesson13): max(bytes / 1.555 TB/s, matmul / 312 T + other FLOPs / 19.5 T + "
                   "exp / 2.44 T per s).\n%6s  %10s %10s %10s %9s %7s %3s  %10s %10s %10s %9s %7s %3s\n", Nblk, d,
                fmt_bytes(M, b1, sizeof b1), "b", "flash1", "SRAM", "HBM bytes", "model us", "bound", "cf", "flash2",
                "SRAM", "HBM bytes", "model us", "bound", "cf");
        for (size_t k = 0; k < nb; k++) {
            fprintf(o, "%6zu ", BLOCKS[k]);
            for (size_t a = 0; a < 2; a++) {
                const lab_point *p = &pb[a][k];
                bool mem;
                double us = lab_point_model_us(p, &mem);
                snprintf(b1, sizeof b1, "%zux%zu", p->Br, p->Bc);
                fmt_bytes(p->fits ? attn_sram_need(BLK[a]->algo, false, p->Br, p->Bc, d, cfg->dtype) : p->M_bytes, b2,
                          sizeof b2);
                if (p->fits)
                    fprintf(o, " %10s %10s %10llu %9.3f %7s %3s", b1, b2, (unsigned long long)lab_point_bytes(p), us,
                            mem ? "memory" : "compute", lab_point_exact(p) ? "=" : "MIS");
                else
                    fprintf(o, a ? " %10s %10s %s" : " %10s %10s %-31s", b1, b2, "  > M: does not fit");
            }
            fputc('\n', o);
        }
        lab_l2_sweep(&L, Ns, nN);   /* --l2: what DRAM would see of table 1's bytes */
        fprintf(o, "\nwrote lesson05_seqlen.dat, lesson05_headdim.dat, lesson05_sram.dat and lesson05_blocksize.dat "
                   "to %s/ (make plots draws them)\n", cfg->out_dir);
        if (s.mismatches)
            fprintf(o, "%zu of %zu points: counted ledger != closed form — a bug in an algorithm or its closed form\n",
                    s.mismatches, s.done);
    }

    /* Summary: flash1 (Theorem 2's algorithm) at the largest N, the other algorithms' totals beside it. */
    cli_cfg at = *cfg;
    at.N = Ns[nN - 1];
    at.count_only = true;
    s.watch = &L;
    mem_t *last = lab_sweep_model(&s, &CASES[1], Ns[nN - 1], d, M, cfg->Br, cfg->Bc);
    lab_unwatch(&L);
    summary_t sm;
    summary_begin(&sm, &at, "flash1", pts[1][nN - 1].Br, pts[1][nN - 1].Bc);
    summary_ledger(&sm, last);
    summary_str(&sm, "max_abs_err", "na");
    lab_sum_kv(&sm, {"points", s.done}, {"mismatches", s.mismatches});
    for (size_t a = 0; a < NCASES; a++) {
        lab_sum_u64_prefixed(&sm, "hbm_elems", CASES[a].label, lab_point_elems(&pts[a][nN - 1]));
        lab_sum_f64_prefixed(&sm, "ratio", CASES[a].label, true, lab_point_ratio(&CASES[a], &pts[a][nN - 1]));
    }
    lab_sum_kv(&sm, {"Br_flash2", pts[2][nN - 1].Br}, {"Bc_flash2", pts[2][nN - 1].Bc},
               {"Br_flash2_fa1_rule", pts[4][nN - 1].Br}, {"Bc_flash2_fa1_rule", pts[4][nN - 1].Bc});
    summary_f64(&sm, "lower_bound_elems", pts[1][nN - 1].theta_flash);
    summary_print(&sm, stdout);
    mem_destroy(last);
    return s.mismatches ? FL_EXIT_CHECK : FL_EXIT_OK;
}

static const char DETAILS[] =
    "Runs standard, flash1, flash2, causal flash2 and flash2 under flash1's block rule in count-only mode over\n"
    "N = 128 ... N (doubling), over d and M at N = min(N, 4096), and over square block sizes at N = min(N, 1024),\n"
    "printing counted HBM accesses beside Theta(Nd + N^2), Theta(N^2 d^2 / M) (Theorem 2) and the lower bound of\n"
    "Proposition 3, and writing gnuplot-ready .dat files to --out-dir. --block-rows/--block-cols fix the blocks of\n"
    "the N sweep only.";

const cli_spec lesson05_spec = {
    .name = "lesson05",
    .title = "IO complexity: counted HBM accesses against the paper's bounds",
    .details = DETAILS,
    /* M = 192 KiB: the A100's on-chip SRAM per SM as the FlashAttention paper quotes it (Section 2.1). */
    .defaults = {.N = 65536, .d = 64, .B = 1, .H = 1, .M_bytes = 192 * 1024, .dtype = DTYPE_FP16, .seed = 42,
                 .count_only = true, .out_dir = "plots/out/data"},
    .extra = CLI_OPT_OUT_DIR | CLI_OPT_THREADS | CLI_OPT_TRACE | CLI_OPT_L2,
};

LESSON_MAIN(lesson05_spec, lesson05_run)
