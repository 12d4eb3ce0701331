/* lesson04_flash_forward.c — FlashAttention's forward pass (Algorithm 1) beside standard attention (Algorithm 0).
 *
 * What it teaches (Dao et al. 2022, Algorithms 0 and 1, Theorem 2; the seed course's "the algorithm" and "IO
 * complexity" chapters). Both algorithms run on the same inputs under the same SRAM capacity M:
 *   Algorithm 0  S = QK^T written to HBM, read back for softmax, P written and read back for PV: 4 N^2 elements of
 *                S and P traffic per head, and N^2 of S and of P allocated in HBM.
 *   Algorithm 1  K, V blocks outer, Q blocks inner; Sij and P~ij never leave SRAM. The price: Oi, li, mi are read
 *                and written once per key block. Ledger per head, derived from lines 2, 6, 8, 12, 13:
 *                  reads  = 2Nd + Tc (2Nd + 2N),   writes = (Nd + 2N) + Tc (Nd + 2N),   Tc = ⌈N/Bc⌉.
 * The lesson checks the counted ledger against those lines tensor by tensor and prints ✓ or ✗ for each; a ✗
 * makes it exit with status 1 (it is also a self-test). It also shows the errors of both algorithms against the
 * double-precision reference: in fp16/bf16 FlashAttention-1 rounds Oi to the storage type after every key block.
 * Algorithm lines: Alg.1 lines 1-13 (sim/model/attn_flash1.c), Alg.0 lines 1-3 (sim/model/attn_standard.c).
 * Run:  ./lesson04                         N=11, d=4, M=512 B: 3 x 3 tiles, the last ones short, walked one by one
 *       ./lesson04 --step / --causal       pause after each tile (in a terminal) / skip the tiles above the diagonal
 *       ./lesson04 -N 4096 -d 64 --heads 16 -M 64K --count-only --l2 H100    what an H100's L2 passes on to DRAM
 *       ./lesson04 -N 1024 -d 64 -M 64K --dtype fp16        bigger; --count-only for N in the tens of thousands
 *       ./lesson04 --trace text            every load, store and computation of both algorithms
 * Summary: algo=flash1 with its ledger and max_abs_err; std_* keys for standard attention; closed_form_ok and
 *   std_closed_form_ok (1 when every counted tensor equals its closed form).
 */
#include <math.h>

#include "lab_attn.h"   // defines: lab_attn_plan, lab_attn_open, lab_attn_walk, lab_attn_run, lab_io_row
#include "lab_check.h"  // defines: lab_ref_attention
#include "lab_l2.h"     // defines: lab_l2_show
#include "lab_show.h"   // defines: lab_listing_print, lab_attn_print_map
#include "lab_table.h"  // defines: lab_table_tensors, lab_table_total, lab_table_bytes
#include "lessons.h"
#include "report.h"     // defines: report_check, report_mark
#include "util.h"

/* Tri Dao's criterion with standard attention in the same dtype as the materialized implementation, plus two roundings
 * of the largest output and one rounding per key block (Alg.1 line 12 rescales and stores Oi after every block: of
 * |O| in fp32, whose arithmetic rounds there, and of |O| <= max|V| in fp16/bf16, whose store rounds there). */
#define FLOOR_ROUNDINGS 2.0

static const char DETAILS[] =
    "Runs standard attention (Algorithm 0) and FlashAttention (Algorithm 1) on the same inputs and SRAM size M,\n"
    "prints both ledgers side by side, and checks FlashAttention's ledger against the lines of Algorithm 1.\n"
    "--block-rows/--block-cols set Br/Bc for both; by default each follows the paper's rule, fitted to what it\n"
    "keeps in SRAM. Exits 1 if a counted ledger differs from its closed form or an error exceeds its tolerance.";

const cli_spec lesson04_spec = {
    .name = "lesson04",
    .title = "FlashAttention forward (Algorithm 1) beside standard attention (Algorithm 0)",
    .details = DETAILS,
    .defaults = {.N = 11, .d = 4, .B = 1, .H = 1, .M_bytes = 512, .dtype = DTYPE_FP32, .seed = 1},
    .extra = CLI_OPT_CAUSAL | CLI_OPT_STEP | CLI_OPT_TRACE | CLI_OPT_L2,
};

static void pause_after_tile(void *cfg) { cli_pause(cfg, "  next tile"); }

/* Standard attention's ledger phase by phase (S, softmax, PV), tensor by tensor. */
static void print_phases(const mem_t *m)
{
    static const char *const names[] = {"Q", "K", "S", "P", "V", "O"};
    printf("    %-8s %-6s %12s %12s\n", "phase", "tensor", "reads", "writes");
    for (int ph = 0; ph < ATTN_STANDARD_PHASES; ph++)
        for (size_t t = 0, first = 1; t < sizeof names / sizeof names[0]; t++) {
            io_count c = mem_io(m, names[t], attn_standard_phase[ph]);
            if (c.rd_elems || c.wr_elems)
                printf("    %-8s %-6s %12llu %12llu\n", first ? attn_standard_phase[ph] : "", names[t],
                       (unsigned long long)c.rd_elems, (unsigned long long)c.wr_elems), first = 0;
        }
}

int lesson04_run(const cli_cfg *cfg)
{
    size_t N = cfg->N, d = cfg->d, heads = cfg->B * cfg->H;
    dtype_t dt = cfg->dtype;
    bool causal = cfg->causal;
    lab_t L = lab_begin(cfg);

    /* Alg.1 line 1 (and Algorithm 0's tiling): blocks from M, fitted to what each algorithm keeps in SRAM. */
    lab_attn rs = lab_attn_plan(cfg, ATTN_STANDARD, false, NULL), rf = lab_attn_plan(cfg, ATTN_FLASH1, false, NULL);
    size_t Tr = rf.Tr, Tc = rf.Tc;
    lab_guard_tiles(heads * max_size(rs.Tr * rs.Tc, Tr * Tc), "flash1");
    lab_guard_flops(cfg, 6.0 * (double)N * (double)N * (double)d * (double)heads, "two algorithms, the reference");
    bool walk = L.show && heads == 1 && !causal && Tr * Tc <= LAB_WALK_MAX_TILES;
    lab_say(&L, "lesson04 — %s\n\nQ, K, V: %zu x %zu head%s of N=%zu rows x d=%zu, %s, in HBM%s.  SRAM: M = %zu bytes "
            "for both.\n\n", lesson04_spec.title, cfg->B, cfg->H, heads > 1 ? "s" : "", N, d, dtype_name(dt),
            causal ? "; causal mask" : "", cfg->M_bytes);
    lab_inputs in = lab_inputs_normal(cfg, 3);   /* N(0, 1) from the seed, the same for both algorithms */

    /* ---- Algorithm 0: standard attention ---------------------------------------------------------------------- */
    attn_io_closed_form(&rs.p, false, &rs.io);
    lab_say(&L, "Algorithm 0 — standard attention, three kernels that meet in HBM\n");
    lab_listing_print(&L, LAB_ALG0);
    lab_say(&L, "  blocks:\n");
    lab_say_wrapped(&L, "    ", rs.bc.rule);
    lab_say(&L, "  softmax: a row of S has N = %zu scores; its buffer holds Br·Bc = %zu, so it reads each row %s.\n%s",
            N, rs.p.Br * rs.p.Bc, rs.io.softmax_passes == 1 ? "once" : "three times (max, sum, normalize: the safe "
            "softmax of lesson01)", causal ? "  causal: the mask is applied in the softmax; all N² scores are still "
            "computed, written, read.\n" : "");
    lab_attn_go(&L, &rs, &in);
    if (L.say) {
        printf("  ledger by phase (elements%s):\n", heads > 1 ? ", all heads" : "");
        print_phases(rs.m);
        io_count S = mem_io(rs.m, "S", NULL), P = mem_io(rs.m, "P", NULL);
        printf("  S and P moved %llu elements = (3 + %u passes)·N²%s: %s\n\n",
               (unsigned long long)(S.rd_elems + S.wr_elems + P.rd_elems + P.wr_elems), rs.io.softmax_passes,
               heads > 1 ? " per head x B·H" : "", rs.closed_ok ? "the closed form ✓" : "DIFFERS from the closed form ✗");
    }

    /* ---- Algorithm 1: FlashAttention -------------------------------------------------------------------------- */
    attn_io_closed_form(&rf.p, false, &rf.io);
    lab_say(&L, "Algorithm 1 — FlashAttention forward (Dao et al. 2022)\n");
    lab_listing_print(&L, LAB_FA1_ALG1);
    lab_say(&L, "  blocks (line 1):\n");
    lab_say_wrapped(&L, "    ", rf.bc.rule);
    lab_say(&L, "  Tr = %zu query blocks, Tc = %zu key blocks", Tr, Tc);
    if (N % rf.p.Br || N % rf.p.Bc)
        lab_say(&L, "; the last %s shorter (N is not a multiple of the block)",
                N % rf.p.Br && N % rf.p.Bc ? "ones are" : N % rf.p.Br ? "query block is" : "key block is");
    lab_say(&L, ".\n  SRAM: Kj, Vj, Qi, Oi in %s; Sij, li, mi, m~ij, l~ij, mi_new, li_new in fp32: %zu of %zu bytes.\n",
            dtype_name(dt), rf.bc.need_bytes, cfg->M_bytes);
    if (causal)
        lab_say(&L, "  causal: a tile whose first key comes after its last query is skipped: %llu of %llu tiles.\n",
                (unsigned long long)rf.io.skipped, (unsigned long long)(rf.io.tiles + rf.io.skipped));
    lab_say(&L, "\n");
    rf.map = L.show && !walk && Tr * Tc <= LAB_MAP_MAX_TILES ? tilemap_create(Tr, Tc) : NULL;
    lab_attn_open(&L, &rf, &in);
    if (walk) {
        lab_attn_walk(&rf, TILEWALK_FULL, pause_after_tile, (void *)cfg);
        printf("  map of the score tiles Sij (they never leave SRAM): %s\n\n", tilemap_legend(tilewalk_map(rf.walk)));
    }
    lab_attn_run(&L, &rf);
    lab_unwatch(&L);
    lab_attn_print_map(&L, &rf, " after the loops", true);

    /* ---- the ledger, line by line ----------------------------------------------------------------------------- */
    uint64_t Nd = (uint64_t)N * d, R = lab_io_row(&rf.io, "m").rd / heads;   /* query rows of visited tiles */
    lab_say(&L, "Algorithm 1's ledger from its lines%s, against the count (elements):\n",
            heads > 1 ? " (per head, times B·H)" : "");
    if (causal)
        lab_say(&L, "    R = rows of Qi over visited tiles = Tc·N - Br·Σ_j ⌊j·Bc/Br⌋ = %llu (Tc·N = %llu without the "
                "mask)\n", (unsigned long long)R, (unsigned long long)Tc * N);
    const char *rows = causal ? "R" : "Tc·N";
    char f[5][64];
    snprintf(f[0], 64, "line 8: %s·d", rows), snprintf(f[1], 64, "line 2 + 12: N·d + %s·d", rows);
    snprintf(f[2], 64, "line 8: %s", rows), snprintf(f[3], 64, "line 2 + 13: N + %s", rows);
    const mem_t *mf = rf.m;
    bool ok = rf.closed_ok;
    ok &= report_check(L.say, 20, "Q reads", f[0], lab_io_row(&rf.io, "Q").rd, mem_io(mf, "Q", NULL).rd_elems);
    ok &= report_check(L.say, 20, "K reads", "line 6: N·d", heads * Nd, mem_io(mf, "K", NULL).rd_elems);
    ok &= report_check(L.say, 20, "V reads", "line 6: N·d", heads * Nd, mem_io(mf, "V", NULL).rd_elems);
    ok &= report_check(L.say, 20, "O reads", f[0], lab_io_row(&rf.io, "O").rd, mem_io(mf, "O", NULL).rd_elems);
    ok &= report_check(L.say, 20, "O writes", f[1], lab_io_row(&rf.io, "O").wr, mem_io(mf, "O", NULL).wr_elems);
    ok &= report_check(L.say, 20, "l reads", f[2], lab_io_row(&rf.io, "l").rd, mem_io(mf, "l", NULL).rd_elems);
    ok &= report_check(L.say, 20, "m reads", f[2], lab_io_row(&rf.io, "m").rd, mem_io(mf, "m", NULL).rd_elems);
    ok &= report_check(L.say, 20, "l writes", f[3], lab_io_row(&rf.io, "l").wr, mem_io(mf, "l", NULL).wr_elems);
    ok &= report_check(L.say, 20, "m writes", f[3], lab_io_row(&rf.io, "m").wr, mem_io(mf, "m", NULL).wr_elems);
    io_count a = mem_io(rs.m, NULL, NULL), b = mem_io(mf, NULL, NULL);
    if (!causal) {   /* the formulas written out here, independently of attn_io_closed_form */
        ok &= report_check(L.say, 20, "total reads", "2Nd + Tc(2Nd + 2N)", heads * (2 * Nd + Tc * (2 * Nd + 2 * N)),
                           b.rd_elems);
        ok &= report_check(L.say, 20, "total writes", "(Nd + 2N) + Tc(Nd + 2N)",
                           heads * ((Nd + 2 * N) + Tc * (Nd + 2 * N)), b.wr_elems);
    } else {
        ok &= report_check(L.say, 20, "total reads", "2Nd + R(2d + 2)", rf.io.rd, b.rd_elems);
        ok &= report_check(L.say, 20, "total writes", "(Nd + 2N) + R(d + 2)", rf.io.wr, b.wr_elems);
    }

    /* ---- side by side ----------------------------------------------------------------------------------------- */
    lab_say(&L, "\nSide by side (same inputs, same M):\n");
    if (L.say) {
        lab_table t = {.indent = "    ", .label_w = 10, .cell_w = 12, .first = " ", .sep = "   "};
        const mem_t *ms[2] = {rs.m, mf};
        char c[4][32];
        lab_table_pair(&t, "", (const char *[]){"standard", NULL, "flash1", NULL}, 2, NULL);
        lab_table_pair(&t, "tensor", (const char *[]){"reads", "writes", "reads", "writes"}, 2, NULL);
        lab_table_tensors(&t, ms, 2, (const char *[]){"Q", "K", "V", "O", "S", "P", "m", "l", NULL}, LAB_ROWS_MOVED);
        lab_table_total(&t, ms, 2, "   elements");
        lab_table_bytes(&t, "", ms, 2, "   bytes");
        lab_table_u64(&t, "FLOPs", (uint64_t[]){mem_flops(rs.m, NULL), mem_flops(mf, NULL)}, 2, true, NULL);
        lab_table_u64(&t, "exp()", (uint64_t[]){mem_exps(rs.m, NULL), mem_exps(mf, NULL)}, 2, true, NULL);
        lab_table_span(&t, "SRAM peak", (const char *[]){fmt_bytes(sram_peak(rs.m), c[0], 32),
                       fmt_bytes(sram_peak(mf), c[1], 32)}, 2, NULL);
        lab_table_span(&t, "HBM peak", (const char *[]){fmt_bytes(mem_hbm_peak(rs.m), c[2], 32),
                       fmt_bytes(mem_hbm_peak(mf), c[3], 32)}, 2, "   (Q, K, V, O and what each keeps)");
    }
    lab_say(&L, "  FlashAttention moves %.3g x the HBM bytes of standard attention here (Theorem 2: Θ(N²d²/M) against\n"
            "  Θ(Nd + N²); the gap grows with N and with M).\n\n",
            (double)(b.rd_bytes + b.wr_bytes) / (double)(a.rd_bytes + a.wr_bytes));
    lab_l2_show(&L, (const lab_attn *[]){&rs, &rf}, 2);   /* --l2: what DRAM would see of those bytes */

    /* ---- errors against the double-precision reference -------------------------------------------------------- */
    lab_ref ref = lab_ref_attention(cfg, &in, causal, false);
    double u = dtype_eps(dt), err_std = lab_max_abs(ref.o, rs.o, in.n), err_f1 = lab_max_abs(ref.o, rf.o, in.n);
    double tol = verify_tridao_bound(err_std, FLOOR_ROUNDINGS * u * ref.o_max + Tc * u * (dt == DTYPE_FP32 ? ref.o_max : ref.v_max));
    bool ok_err = cfg->count_only || (!isnan(err_std) && lab_within(err_f1, tol));
    if (!cfg->count_only) {
        lab_say(&L, "Errors against the double-precision reference (max |O - O_ref|):\n    standard  %.3g   (S and P "
                "stored in %s: the materialized %s implementation)\n    flash1    %.3g   allowed %.3g = 2 x standard + "
                "2u·max|O|%s  %s\n", err_std, dtype_name(dt), dtype_name(dt), err_f1, tol,
                dt == DTYPE_FP32 ? " + Tc·u·max|O|" : " + Tc·u·max|V|", report_mark(ok_err));
        if (dt != DTYPE_FP32)
            lab_say(&L, "    In %s, line 12 rounds Oi to %s each time it is written: %zu times per row here. That is\n"
                    "    FlashAttention-1's precision cost (FlashAttention-2 keeps Oi in fp32 on chip: lesson06).\n",
                    dtype_name(dt), dtype_name(dt), Tc);
        lab_say(&L, "\n");
    }

    summary_t s;
    lab_sum_begin(&s, &rf, "flash1");
    lab_sum_f64(&s, "max_abs_err", !cfg->count_only, err_f1);
    lab_sum_kv(&s, {"Tr", Tr}, {"Tc", Tc}, {"tiles", rf.io.tiles}, {"skipped", rf.io.skipped}, {"closed_form_ok", ok});
    lab_sum_run(&s, "std", &rs, LAB_KEYS_ALL);
    lab_sum_kv(&s, {"std_softmax_passes", rs.io.softmax_passes}, {"std_closed_form_ok", rs.closed_ok});
    lab_sum_f64(&s, "std_max_abs_err", !cfg->count_only, err_std);
    summary_print(&s, stdout);

    lab_attn_free(&rs), lab_attn_free(&rf);
    lab_ref_free(&ref);
    lab_inputs_free(&in);
    return lab_end(&L, ok && rs.closed_ok && ok_err);
}

LESSON_MAIN(lesson04_spec, lesson04_run)
