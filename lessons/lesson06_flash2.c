/* lesson06_flash2.c — FlashAttention-2's forward pass (Dao 2023, Algorithm 1) beside FlashAttention-1.
 *
 * What it teaches (Dao 2023, Section 3.1), in five parts on the same inputs and M:
 *   1  the loop order: query blocks outside, so Qi is loaded once and Oi, Li written once: reads Nd + 2Nd·Tr,
 *      writes Nd + N per head. Qi is resident, so it is the big block: Br = ⌈M/4d⌉, Bc = min(Br, d).
 *   2  delayed rescaling, for one row: the simulator's own row update (attn_flash2_row_update, lines 9-10), block by
 *      block; Oi is divided by li once, and Li = mi + log li is what the backward pass needs (lesson07).
 *   3  which block is the big one: FA1 (big Bc), FA2 under FA1's rule (Br <= d) and FA2 under its own rule.
 *   4  causal masking: tiles after the diagonal are never loaded; rows fully masked in a tile give no NaN.
 *   5  parallelism: (batch, head, query block) triples are independent; counts and outputs match one thread's.
 *   6  (--window W) a sliding window: key k visible to query q iff q - W < k <= q; only the band of tiles is loaded.
 * Every ledger is checked against its closed form (✓/✗); a failed check exits 1. Algorithm lines: FA2 Alg.1 lines
 * 3-15 (sim/model/attn_flash2.c); FlashAttention-1's Alg.1 for comparison.
 * Run:  ./lesson06   (N=19, d=4, M=512 B: 4 x 5 tiles of 6 x 4)   ./lesson06 --causal   (part 1 masked too)
 *       ./lesson06 -N 4096 -d 64 -M 96K --threads 2 --count-only      the ledgers at scale
 *       ./lesson06 -N 64 --window 9        part 6 (the window implies the causal mask; --causal masks part 1 too)
 * Summary: algo=flash2 with part 1's ledger, max_abs_err, L_max_abs_err; fa1_* (FlashAttention-1), fa2_fa1_rule_*
 *   (FA2 under FA1's rule), causal_* (tiles, skipped, elements saved), threads_identical, closed_form_ok; window_*.
 */
#include <math.h>

#include "lab_attn.h"   // defines: lab_attn_plan, lab_attn_open, lab_attn_run, lab_attn_identical, lab_sum_run
#include "lab_check.h"  // defines: lab_ref_attention, lab_ref_attention_window, lab_fwd_check
#include "lab_show.h"   // defines: lab_listing_print, lab_flash2_row_walk, lab_attn_print_map, lab_flash2_ledger_report
#include "lab_table.h"  // defines: lab_table_runs
#include "lessons.h"
#include "report.h"     // defines: report_mark
#include "util.h"

#define SHOW_COLS 3          /* columns of O shown in the delayed-rescaling table */
#define PICK_ROWS 64         /* part 2's row: the one among the first 64 whose max grows most often */
#define L_RTOL 1e-5          /* L = m + log l is fp32 on chip in every dtype: ~100 fp32 ulps of the largest |L| */
#define FLOOR_ROUNDINGS 2.0  /* O: Tri Dao's bound plus two roundings of max |O| */

static const char DETAILS[] =
    "Runs FlashAttention-2 (query blocks outside), FlashAttention-1 (key blocks outside) and FlashAttention-2 under\n"
    "FlashAttention-1's block rule on the same inputs and M, then FlashAttention-2 with the causal mask, and again\n"
    "on one thread. Blocks follow each algorithm's rule (the big block is the resident one: Bc for FlashAttention-1,\n"
    "Br for FlashAttention-2), fitted to its SRAM plan; --block-rows/--block-cols set them for every run.";

const cli_spec lesson06_spec = {
    .name = "lesson06",
    .title = "FlashAttention-2: loop order, log-sum-exp, causal block skipping",
    .details = DETAILS,
    .defaults = {.N = 19, .d = 4, .B = 1, .H = 1, .M_bytes = 512, .dtype = DTYPE_FP32, .seed = 1},
    .extra = CLI_OPT_CAUSAL | CLI_OPT_THREADS | CLI_OPT_TRACE,
    .own = {{"window", "W", "part 6: a sliding window of W keys, q - W < k <= q (implies --causal)", 1, 1u << 24}},
};

int lesson06_run(const cli_cfg *cfg)
{
    size_t N = cfg->N, d = cfg->d, heads = cfg->B * cfg->H, W = cfg->own[0];   /* W: --window, 0 when not given */
    dtype_t dt = cfg->dtype;
    bool count_only = cfg->count_only, causal = cfg->causal;
    lab_t L = lab_begin(cfg);

    /* Each algorithm's own rule (the resident block is the big one), and flash2 under flash1's rule (part 3). */
    block_rule fa1_rule = BLOCK_RULE_KV_OUTER;
    lab_attn r2 = lab_attn_plan(cfg, ATTN_FLASH2, false, NULL), r1 = lab_attn_plan(cfg, ATTN_FLASH1, false, NULL);
    lab_attn rr = lab_attn_plan(cfg, ATTN_FLASH2, false, &fa1_rule), rc = r2, rn = r2, rt = r2, rw = r2;
    rc.p.causal = true, rn.p.causal = false, rt.p.threads = 1, r2.api = true;   /* r2: through flash_attn_func */
    rw.p.causal = true, rw.p.window = W, rw.api = true;                       /* window_size = (W - 1, 0) */
    size_t Tr = r2.Tr, Tc = r2.Tc;
    lab_guard_tiles(heads * max_size(r2.Tr * r2.Tc, max_size(r1.Tr * r1.Tc, rr.Tr * rr.Tc)), "flash2");
    lab_guard_flops(cfg, 14.0 * (double)N * (double)N * (double)d * (double)heads, "six passes, two references");
    lab_inputs in = lab_inputs_normal(cfg, 3);

    /* ---- part 1: the loop order ------------------------------------------------------------------------------- */
    lab_say(&L, "lesson06 — %s\n\nQ, K, V: %zu x %zu head%s of N=%zu rows x d=%zu, %s, in HBM%s.  "
            "SRAM: M = %zu bytes.\nBlocks for FlashAttention-2 (its SRAM plan must fit M; part 3 shows FlashAttention-1's):\n",
            lesson06_spec.title, cfg->B, cfg->H, heads > 1 ? "s" : "", N, d, dtype_name(dt),
            causal ? "; causal mask" : "", cfg->M_bytes);
    lab_say_wrapped(&L, "  ", r2.bc.rule);
    lab_say(&L, "  Tr = %zu query blocks, Tc = %zu key blocks.\n\nPart 1 — FlashAttention-2, Algorithm 1 (Dao 2023): the "
            "loops swapped. Called as in PyTorch (flash_api.h):\n  out = flash_attn_func(q, k, v, dropout_p=0.0, "
            "softmax_scale=None, causal=%s)   # q, k, v: (B, N, H, d)\n", Tr, Tc, causal ? "True" : "False");
    lab_listing_print(&L, LAB_FA2_ALG1);
    lab_say(&L, "  SRAM: Qi, Kj, Vj in %s; Sij, Oi (fp32, unnormalized), mi, li: %zu bytes.\n\n", dtype_name(dt),
            attn_sram_need(ATTN_FLASH2, false, r2.p.Br, r2.p.Bc, d, dt));
    bool brief = L.show && !causal && heads == 1 && Tr * Tc <= LAB_BRIEF_MAX_TILES;
    r2.map = causal ? lab_attn_map(&L, &r2) : NULL;
    lab_attn_go_shown(&L, &r2, &in, brief, "  one line per tile: Qi is loaded once per row, Oi and Li stored "
                      "once, at the row's last tile\n");
    io_count t2 = mem_io(r2.m, NULL, NULL);
    bool ok2 = lab_flash2_ledger_report(&L, &r2);
    lab_ref ref = lab_ref_attention(cfg, &in, causal, true);   /* O by Tri Dao's criterion, L to L_RTOL */
    lab_fwd_err e2 = lab_fwd_check(&L, &ref, &r2, FLOOR_ROUNDINGS, L_RTOL);
    bool ok = ok2 && e2.ok;

    /* ---- part 2: delayed rescaling and the log-sum-exp --------------------------------------------------------- */
    lab_say(&L, "\nPart 2 — delayed rescaling: Oi is divided by li once, after the last key block\n"
            "  FlashAttention-1 divides by li_new on every tile (line 12) and must store mi, li to undo it next\n"
            "  time. FlashAttention-2 keeps Oi unnormalized in fp32: each block only multiplies it by\n"
            "  e^(m_old - m_new) <= 1 when the running max grows. Li = mi + log li, one number per row, is what\n"
            "  the backward pass needs to rebuild P = exp(S - L) (lesson07).\n");
    size_t row = count_only ? 0 : lab_row_most_rescaled(&r2.p, in.x[0], in.x[1], PICK_ROWS);
    if (L.show && !count_only)   /* one row through the simulator's own row update (lines 9-10) */
        ok = lab_flash2_row_walk(&r2, &in, row, SHOW_COLS) && ok;

    /* ---- part 3: which block is the big one ------------------------------------------------------------------ */
    lab_attn_go(&L, &r1, &in), lab_attn_go(&L, &rr, &in);
    io_count t1 = mem_io(r1.m, NULL, NULL), tr = mem_io(rr.m, NULL, NULL);
    double err_o1 = lab_max_abs(ref.o, r1.o, in.n), err_or = lab_max_abs(ref.o, rr.o, in.n);
    ok = ok && r1.closed_ok && rr.closed_ok && (count_only || lab_within(err_or, e2.tol_o));   /* part 1's tol */
    lab_say(&L, "\nPart 3 — which block is the big one: the loop order decides (same inputs, same M%s)\n"
            "  The outer loop's block stays in SRAM; the inner loop's blocks stream past it once per outer block:\n"
            "    FlashAttention-1 keeps Kj, Vj and streams Q, O:  reads 2Nd + Tc(2Nd + 2N)  - a big Bc pays\n"
            "    FlashAttention-2 keeps Qi and streams K, V:      reads Nd + 2Nd·Tr         - a big Br pays\n"
            "  The paper's rule (Bc = ceil(M/4d), Br = min(Bc, d)) was made for the first; FlashAttention-2 takes\n"
            "  it transposed. Each run's blocks, fitted to its own SRAM plan:\n  flash1, the paper's rule:\n",
            heads > 1 ? "; elements, all heads" : "; elements");
    lab_say_wrapped(&L, "    ", r1.bc.rule);
    lab_say(&L, "  flash2 under flash1's rule:\n");
    lab_say_wrapped(&L, "    ", rr.bc.rule);
    lab_say(&L, "  flash2, its own rule: Br=%zu, Bc=%zu (part 1)\n\n", r2.p.Br, r2.p.Bc);
    lab_table t = {.indent = "    ", .label_w = 12, .cell_w = 11, .first = " ", .sep = "   "};
    if (L.say)
        lab_table_runs(&t, (const lab_attn *[]){&r1, &rr, &r2}, 3,
                       (const char *[]){"flash1", "flash2, flash1's rule", "flash2, its own rule"},
                       (const char *[]){"Q", "K", "V", "O", "m", "l", "L", NULL});
    double byt1 = (double)(t1.rd_bytes + t1.wr_bytes);
    lab_say(&L, "  FlashAttention-1 writes Oi, li, mi after every visited tile: %.3g x FlashAttention-2's writes.\n"
            "  FlashAttention-2 reads K and V once per query block: Tr = %zu times under flash1's rule (Br = %zu),\n"
            "  %zu under its own (Br = %zu). Its bytes, against FlashAttention-1's: %.3g x under flash1's rule,\n"
            "  %.3g x under its own.\n", (double)t1.wr_elems / (double)t2.wr_elems, rr.Tr, rr.p.Br, Tr, r2.p.Br,
            (double)(tr.rd_bytes + tr.wr_bytes) / byt1, (double)(t2.rd_bytes + t2.wr_bytes) / byt1);
    if (!count_only)
        lab_say(&L, "  errors against the double reference: flash1 %.3g, flash2 under flash1's rule %.3g, flash2 %.3g"
                "%s\n", err_o1, err_or, e2.err_o, dt == DTYPE_FP32 ? "" : "\n  (flash1 rounds Oi to the storage type "
                "after every key block)");

    /* ---- part 4: causal masking with block skipping ------------------------------------------------------------ */
    attn_io_closed_form(&rn.p, false, &rn.io);
    rc.map = lab_attn_map(&L, &rc), lab_attn_go(&L, &rc, &in);
    if (W)   /* part 6's run, traced with the others */
        rw.map = lab_attn_map(&L, &rw), lab_attn_go(&L, &rw, &in);
    lab_unwatch(&L);
    lab_ref refc = lab_ref_attention(cfg, &in, true, false);
    double err_c = lab_max_abs(refc.o, rc.o, in.n);
    uint64_t masked_rows = lab_masked_rows(&rc.p, NULL), nans = lab_attn_nans(&rc), all = rn.io.rd + rn.io.wr;
    uint64_t saved = all - rc.io.rd - rc.io.wr;
    ok = ok && rc.closed_ok && (count_only || (!nans && !isnan(err_c)));
    lab_say(&L, "\nPart 4 — causal masking: key k > query q is masked; a tile whose first key comes after its last\n"
            "  query is skipped: no Kj, Vj loads, no work. (Standard attention computes and reads all N² anyway.)\n");
    lab_attn_print_map(&L, &rc, " under the causal mask", false);
    lab_say(&L, "  tiles visited %llu, skipped %llu of %llu (closed form: Tc + (Tr-1) + Σ_i ⌊(i·Br + Br-1)/Bc⌋ per "
            "head)\n  K and V reads: %llu instead of %llu; traffic saved: %llu of %llu elements (%.1f%%)  ledger %s\n"
            "  rows fully masked inside a visited tile: %llu (row, tile) pairs. Their scores are all -inf there,\n"
            "  so P~ = 0 and the factor e^(m_old - m_new) = 1 (every row's own key 0 sits in the first block, so\n"
            "  m is finite from then on; the code still subtracts 0 instead of -inf, never -inf - -inf).\n",
            (unsigned long long)rc.io.tiles, (unsigned long long)rc.io.skipped,
            (unsigned long long)(rc.io.tiles + rc.io.skipped), (unsigned long long)(2 * rc.io.row[1].rd),
            (unsigned long long)(2 * rn.io.row[1].rd), (unsigned long long)saved, (unsigned long long)all,
            100.0 * (double)saved / (double)all, report_mark(rc.closed_ok), (unsigned long long)masked_rows);
    if (!count_only)
        lab_say(&L, "  NaN in O and L: %llu %s; max |O - O_ref| (causal) = %.3g\n", (unsigned long long)nans,
                report_mark(!nans), err_c);

    /* ---- part 5: parallelism over query blocks ---------------------------------------------------------------- */
    lab_attn_go(NULL, &rt, &in);
    bool same_counts, same = lab_attn_identical(&rt, &r2, &same_counts);
    lab_say(&L, "\nPart 5 — parallel query blocks\n"
            "  FA2's iterations of the outer loop share nothing: block i reads Qi, K, V and writes only Oi, Li.\n"
            "  So B·H·Tr = %zu (batch, head, query block) triples are independent work (FA1 has B·H = %zu: its\n"
            "  j loop passes Oi from one key block to the next through HBM). Each OpenMP worker gets its own SRAM\n"
            "  of M bytes and its own ledger, added up exactly at the end; no floating-point sum crosses threads.\n",
            heads * Tr, heads);
    if (rr.p.Br < r2.p.Br)
        lab_say(&L, "  The big query block costs parallelism: %zu triples here, %zu under flash1's rule (Br = %zu).\n"
                "  Real kernels pick Br, Bc from {64, 128} (Dao 2023) and fill a GPU with B·H·Tr blocks.\n",
                heads * Tr, heads * rr.Tr, rr.p.Br);
    lab_say(&L, "  this run (--threads %d%s) against one thread: counts %s, O and L %s\n\n", cfg->threads,
            cfg->threads ? "" : ": OpenMP's default", same_counts ? "identical ✓" : "DIFFER ✗",
            count_only ? "not computed" : same ? "bitwise identical ✓" : "DIFFER ✗");

    summary_t s;
    lab_sum_begin(&s, &r2, "flash2");
    lab_sum_f64(&s, "max_abs_err", !count_only, e2.err_o), lab_sum_f64(&s, "L_max_abs_err", !count_only, e2.err_L);
    lab_sum_kv(&s, {"Tr", Tr}, {"Tc", Tc}, {"tiles", r2.io.tiles}, {"skipped", r2.io.skipped});
    lab_sum_run(&s, "fa1", &r1, LAB_KEY_ELEMS | LAB_KEY_BYTES | LAB_KEY_SRAM);
    lab_sum_f64(&s, "fa1_max_abs_err", !count_only, err_o1);
    lab_sum_run(&s, "fa2_fa1_rule", &rr, LAB_KEY_ELEMS | LAB_KEY_BYTES);
    lab_sum_f64(&s, "fa2_fa1_rule_max_abs_err", !count_only, err_or);
    lab_sum_kv(&s, {"causal_tiles", rc.io.tiles}, {"causal_skipped", rc.io.skipped});
    lab_sum_ledger(&s, "causal", rc.m, LAB_KEY_ELEMS);
    lab_sum_kv(&s, {"causal_saved_elems", saved}, {"causal_masked_rows", masked_rows}, {"threads_identical", same});

    /* ---- part 6: a sliding window (--window W) ---------------------------------------------------------------- */
    bool okw = true;
    if (W) {
        lab_say(&L, "Part 6 — a sliding window of W = %zu keys: key k is visible to query q iff q - W < k <= q\n"
                "  out = flash_attn_func(q, k, v, causal=True, window_size=(%zu, 0))   # flash-attn >= 2.3\n"
                "  Causal's mask with a lower edge: a tile is skipped when its first key comes after its last query\n"
                "  or its last key is W or more before its first query. The visited tiles form a band:\n", W, W - 1);
        lab_attn_print_map(&L, &rw, " under the window", false);
        okw = lab_flash2_ledger_report(&L, &rw);
        lab_ref refw = lab_ref_attention_window(cfg, &in, W, true);
        lab_fwd_err ew = lab_fwd_check(&L, &refw, &rw, FLOOR_ROUNDINGS, L_RTOL);
        uint64_t early, rows = lab_masked_rows(&rw.p, &early), kv = 2 * lab_io_row(&rw.io, "K").rd;
        lab_say(&L, "  tiles visited %llu, skipped %llu (closed form: causal's less Σ_i ⌊max(0, i·Br + 1 - W)/Bc⌋)\n"
                "  K and V reads %llu, causal's %llu: a query block reads only its band, at most (Br + W - 2)/Bc + 2\n"
                "  key blocks, about 2·(N/Br)·(W + Br + Bc)·d in all: linear in N (causal: about N²·d/Br).\n"
                "  rows masked whole in a visited tile before their window starts: %llu (m = -inf: 0 subtracted)\n\n",
                (unsigned long long)rw.io.tiles, (unsigned long long)rw.io.skipped, (unsigned long long)kv,
                (unsigned long long)(2 * rc.io.row[1].rd), (unsigned long long)early);
        ok = ok && okw && ew.ok;
        lab_sum_kv(&s, {"window", W}, {"window_tiles", rw.io.tiles}, {"window_skipped", rw.io.skipped},
                   {"window_masked_rows", rows}, {"window_rows_before_window", early});
        lab_sum_ledger(&s, "window", rw.m, LAB_KEY_ELEMS), lab_sum_f64(&s, "window_max_abs_err", !count_only, ew.err_o);
        lab_ref_free(&refw);
    }
    lab_sum_kv(&s, {"closed_form_ok", ok2 && r1.closed_ok && rr.closed_ok && rc.closed_ok && okw});
    summary_print(&s, stdout);

    lab_attn_free(&r2), lab_attn_free(&r1), lab_attn_free(&rr), lab_attn_free(&rc), lab_attn_free(&rt);
    lab_attn_free(&rw), lab_ref_free(&ref), lab_ref_free(&refc), lab_inputs_free(&in);
    return lab_end(&L, ok && same);
}

LESSON_MAIN(lesson06_spec, lesson06_run)
