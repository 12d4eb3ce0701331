/* lesson03_tiled_qkv.c — tiling: Q, K, V cut into row blocks that fit in a fake SRAM, O built tile by tile.
 *
 * What it teaches (the seed course's tiling walk-through; Dao et al. 2022, Algorithm 1):
 *   Part 1  O = Q K^T V without softmax. Without softmax attention is linear, so O_i = Σ_j (Q_i K_j^T) V_j: each tile
 *           (i, j) adds one partial product into O_i (sim/model/tiled.c). Small integer inputs keep every partial sum exact,
 *           so the tiled O equals the plain product exactly.
 *   Part 2  the same loop with online softmax: Algorithm 1 itself (attn_forward, ATTN_FLASH1). What it adds to the
 *           traffic is the row statistics l_i, m_i, read and written beside O_i on every tile.
 * Algorithm lines: Alg.1 line 1 (blocks from M), 2 (O = 0 in HBM), 5-6 (load Kj, Vj), 7-8 (load Qi, Oi), 9 (Sij),
 *   12 (write Oi); part 2 adds 10-11 (online softmax) and 13 (write li, mi).
 * Run:  ./lesson03                       the demo: N=8, d=4, M=300 B, 3 x 3 tiles, the last ones 2 rows (ragged)
 *       ./lesson03 --step                pause after each tile (in a terminal)
 *       ./lesson03 -N 1000 -d 64 -M 64K --quiet        counts only; --trace text|csv|json shows every event
 * Summary: part 1's ledger (algo=tiled_qkv) and max_abs_err against the exact product; flash1_* keys: part 2's
 *   ledger and its max_abs_err against the double-precision attention reference.
 */
#include <stdlib.h>

#include "blocks.h"     // defines: blocks_choose
#include "lab_attn.h"   // defines: lab_attn_plan, lab_attn_model, lab_attn_open, lab_attn_walk, lab_attn_run
#include "lab_check.h"  // defines: lab_tiled_max_err, lab_ref_attention
#include "lab_table.h"  // defines: lab_table_head, lab_table_tensors, lab_table_total
#include "lessons.h"
#include "rng.h"
#include "tiled.h"      // defines: tiled_qkv, tiled_sram_need, tiled_closed_form
#include "util.h"

#define INPUT_MAX 2   /* inputs are integers in -2..2: every partial sum of part 1 is exact */
/* Part 2 against the double reference: fp32 arithmetic on O(1) values loses a few ulps per key block. A stored
 * fp16/bf16 O_i is rounded once per key block, each rounding at most eps * |O| <= eps * INPUT_MAX. */
#define PART2_ATOL_FP32 1e-5
static double part2_tol(dtype_t dt, size_t Tc)
{
    return PART2_ATOL_FP32 + (dt == DTYPE_FP32 ? 0.0 : (double)(Tc + 1) * dtype_eps(dt) * INPUT_MAX);
}

static const char DETAILS[] =
    "Part 1 computes O = Q K^T V with no softmax, tile by tile; part 2 runs FlashAttention (Algorithm 1) on the same\n"
    "inputs and blocks. --block-rows/--block-cols set Br/Bc; by default they follow the paper's rule, shrunk until\n"
    "part 1's tiles (Kj, Vj, Qi, Oi, Sij) fit in M. --batch/--heads run several heads (no tile map then).";

const cli_spec lesson03_spec = {
    .name = "lesson03",
    .title = "Tiled QK^T V in a fake SRAM: the tiling trace",
    .details = DETAILS,
    .defaults = {.N = 8, .d = 4, .B = 1, .H = 1, .M_bytes = 300, .dtype = DTYPE_FP32, .seed = 1},
    .extra = CLI_OPT_STEP | CLI_OPT_TRACE,
};

static void pause_after_tile(void *cfg) { cli_pause(cfg, "  next tile"); }

int lesson03_run(const cli_cfg *cfg)
{
    size_t N = cfg->N, d = cfg->d, heads = cfg->B * cfg->H;
    dtype_t dt = cfg->dtype;
    bool count_only = cfg->count_only;
    lab_t L = lab_begin(cfg);
    char err[512];

    /* Alg.1 line 1: blocks from M, fitted to what part 1 really keeps in SRAM (Kj, Vj, Qi, Oi and Sij). */
    block_choice bc;
    if (blocks_choose(cfg->M_bytes, N, d, dt, cfg->Br, cfg->Bc, tiled_sram_need, &bc, err, sizeof err))
        fl_fatal("%s", err);
    size_t Br = bc.Br, Bc = bc.Bc, Tr = ceil_div(N, Br), Tc = ceil_div(N, Bc);
    /* Part 2 keeps six row statistics more per block; it takes the same blocks when they fit. */
    cli_cfg same = *cfg;
    same.Br = Br, same.Bc = Bc;
    bool same_blocks = lab_attn_fits(cfg, ATTN_FLASH1, false, Br, Bc);
    lab_attn r2 = lab_attn_plan(same_blocks ? &same : cfg, ATTN_FLASH1, false, NULL);
    uint64_t tiles = (uint64_t)Tr * Tc * heads, tiles2 = (uint64_t)r2.Tr * r2.Tc * heads;
    lab_guard_tiles(max_size(tiles, tiles2), "tiled_qkv");
    lab_guard_flops(cfg, 4.0 * (double)N * (double)N * (double)d * (double)heads, "4·N²·d·heads");
    bool walk = L.show && heads == 1 && Tr * Tc <= LAB_WALK_MAX_TILES;
    bool brief = L.show && tiles <= LAB_BRIEF_MAX_TILES && tiles2 <= LAB_BRIEF_MAX_TILES;
    lab_say(&L, "lesson03 — %s\n\nQ, K, V: N=%zu rows x d=%zu, %s, in HBM%s.  SRAM: M = %zu bytes.\n"
            "Alg.1 line 1, the blocks Br (query rows) and Bc (key rows):\n", lesson03_spec.title, N, d,
            dtype_name(dt), heads > 1 ? " (every head)" : "", cfg->M_bytes);
    lab_say_wrapped(&L, "  ", bc.rule);
    lab_say(&L, "  Tr = ceil(N/Br) = %zu query blocks Qi and Tc = ceil(N/Bc) = %zu key blocks Kj, Vj.\n", Tr, Tc);
    if (N % Br)
        lab_say(&L, "  N = %zu is not a multiple of Br = %zu: the last query block holds %zu row%s (ragged).\n", N, Br,
                N % Br, N % Br > 1 ? "s" : "");
    if (N % Bc)
        lab_say(&L, "  N = %zu is not a multiple of Bc = %zu: the last key block holds %zu row%s (ragged).\n", N, Bc,
                N % Bc, N % Bc > 1 ? "s" : "");
    lab_say(&L, "  SRAM holds Kj, Vj (%zu x %zu), Qi, Oi (%zu x %zu) in %s and Sij (%zu x %zu) in fp32: %zu of %zu "
            "bytes.\n\n", Bc, d, Br, d, dtype_name(dt), Br, Bc, tiled_sram_need(Br, Bc, d, dt), cfg->M_bytes);

    /* Integer inputs: every partial product and partial sum of part 1 is an exact fp32 integer. */
    lab_inputs in = {.n = cfg->B * N * cfg->H * d};
    rng_t r;
    rng_seed(&r, cfg->seed);
    for (int x = 0; x < 3 && !count_only; x++)   /* the guard above keeps n = B·N·H·d within reach */
        in.x[x] = xmalloc(in.n * sizeof(float));
    for (size_t i = 0; !count_only && i < in.n; i++)
        for (int x = 0; x < 3; x++)
            in.x[x][i] = (float)((int)rng_below(&r, 2 * INPUT_MAX + 1) - INPUT_MAX);

    /* ---- part 1: O = Q K^T V without softmax ------------------------------------------------------------------ */
    lab_say(&L, "Part 1 — O = Q K^T V, tile by tile, no softmax yet\n  Without softmax attention is linear: O_i = sum over "
            "j of (Q_i K_j^T) V_j. For each key block j\n  (Kj, Vj stay in SRAM), for each query block i: load Qi and "
            "Oi, add the partial product, store Oi.\n\n");
    mem_t *m1 = mem_create(cfg->M_bytes, count_only);
    lab_watch(&L, m1);
    hbm_tensor *T[4];
    for (int x = 0; x < 4; x++)
        T[x] = hbm_alloc_bnhd(m1, (const char *[]){"Q", "K", "V", "O"}[x], dt, cfg->B, N, cfg->H, d);
    for (int x = 0; x < 3; x++)
        hbm_upload(T[x], in.x[x]);
    tilewalk *w = walk || brief ? tilewalk_open(m1, Tr, Tc, walk ? TILEWALK_FULL : TILEWALK_BRIEF, stdout,
                                                pause_after_tile, (void *)cfg) : NULL;
    if (w && walk)
        printf("  map of the score tiles S_ij = Q_i K_j^T: %s\n\n", tilemap_legend(tilewalk_map(w)));
    for (size_t b = 0; b < cfg->B; b++)
        for (size_t h = 0; h < cfg->H; h++)
            tiled_qkv(m1, hbm_head(T[0], b, h), hbm_head(T[1], b, h), hbm_head(T[2], b, h), hbm_head(T[3], b, h), Br, Bc);
    if (w) {
        tilemap *map = tilewalk_close(w);
        if (walk) {
            printf("  all %zu tiles done:\n", Tr * Tc);
            tilemap_print(map, stdout, "  ");
            putchar('\n');
        }
        tilemap_free(map);
    }

    /* The truth: the plain product in double. With integer inputs fp32 gets it exactly. */
    float *o = count_only ? NULL : xmalloc(in.n * sizeof *o);
    hbm_download(T[3], o);
    double err1 = lab_tiled_max_err(cfg, &in, o);
    tiled_io cf;
    tiled_closed_form(N, d, Br, Bc, heads, &cf);
    io_count c1 = mem_io(m1, NULL, NULL);
    bool ok1 = c1.rd_elems == cf.rd && c1.wr_elems == cf.wr && mem_io(m1, "Q", NULL).rd_elems == cf.rd_Q &&
               mem_io(m1, "K", NULL).rd_elems == cf.rd_K && mem_io(m1, "V", NULL).rd_elems == cf.rd_V &&
               mem_io(m1, "O", NULL).rd_elems == cf.rd_O && mem_flops(m1, NULL) == cf.flops;
    lab_say(&L, "  ledger (every tensor is %zu elements%s):\n", N * d, heads > 1 ? " per head" : "");
    if (L.say)
        mem_ledger_print(m1, NULL, stdout);
    lab_say(&L, "  closed form (tiled.h): reads 2Nd + 2·Tc·Nd = %llu, writes (1 + Tc)·Nd = %llu, FLOPs 4·N²·d = %llu%s: "
            "counted %s\n", (unsigned long long)cf.rd, (unsigned long long)cf.wr, (unsigned long long)cf.flops,
            heads > 1 ? " (all heads)" : "", ok1 ? "equal" : "DIFFERENT");
    if (count_only)
        lab_say(&L, "  result: not computed (--count-only)\n\n");
    else if (err1 == 0)
        lab_say(&L, "  result: the tiled O equals the plain product Q K^T V exactly (max |error| = 0)\n\n");
    else
        lab_say(&L, "  result: max |O - Q K^T V| = %.3g (%s storage rounds O after every key block)\n\n", err1,
                dtype_name(dt));

    /* ---- part 2: the same loop with online softmax — FlashAttention, Algorithm 1 ------------------------------ */
    mem_note(lab_attn_model(&L, &r2), "part 2: FlashAttention forward (Alg.1) on the same inputs, a new ledger");
    lab_say(&L, "Part 2 — the same loop with online softmax: FlashAttention (Algorithm 1)\n  O = softmax(Q K^T / sqrt(d)) "
            "V. Each tile also loads l_i, m_i (the running softmax statistics of\n  lesson02), rescales O_i by them "
            "(Alg.1 lines 10-12) and writes l_i, m_i back (line 13).\n");
    if (same_blocks)
        lab_say(&L, "  Same blocks Br=%zu, Bc=%zu: the six row statistics fit too (%zu of %zu bytes).\n\n", r2.p.Br,
                r2.p.Bc, r2.bc.need_bytes, cfg->M_bytes);
    else
        lab_say(&L, "  Part 1's blocks leave no room for the row statistics; FlashAttention chooses its own:\n");
    if (!same_blocks)
        lab_say_wrapped(&L, "  ", r2.bc.rule), lab_say(&L, "\n");
    lab_attn_open(&L, &r2, &in);
    if (brief)
        lab_attn_walk(&r2, TILEWALK_BRIEF, NULL, NULL);
    lab_attn_run(&L, &r2);
    if (brief)
        putchar('\n');
    lab_unwatch(&L);

    lab_ref ref = lab_ref_attention(cfg, &in, false, false);
    double err2 = lab_max_abs(ref.o, r2.o, in.n), tol2 = part2_tol(dt, r2.Tc);
    bool ok2 = r2.closed_ok, ok_err = count_only || lab_within(err2, tol2);
    lab_say(&L, "  ledgers side by side (elements; FLOPs: 2 per multiply-add of a product, 1 per other operation):\n");
    if (L.say) {
        lab_table t = {.indent = "  ", .label_w = 8, .cell_w = 10, .first = " ", .sep = "   "};
        const mem_t *ms[2] = {m1, r2.m};
        lab_table_head(&t, "", (const char *[]){"part 1: no softmax", "part 2: FlashAttention"}, 2);
        lab_table_pair(&t, "tensor", (const char *[]){"reads", "writes", "reads", "writes"}, 2, NULL);
        lab_table_tensors(&t, ms, 2, NULL, LAB_ROWS_ALL);
        lab_table_total(&t, ms, 2, "   elements");
        lab_table_u64(&t, "FLOPs", (uint64_t[]){mem_flops(m1, NULL), mem_flops(r2.m, NULL)}, 2, false, NULL);
        lab_table_u64(&t, "exp()", (uint64_t[]){mem_exps(m1, NULL), mem_exps(r2.m, NULL)}, 2, false, NULL);
        lab_table_u64(&t, "SRAM peak", (uint64_t[]){sram_peak(m1), sram_peak(r2.m)}, 2, false, "   bytes");
    }
    lab_say(&L, "  part 2 closed form (attention.h): reads %llu, writes %llu: counted %s\n"
            "  The extra traffic is l and m: each is read once per key block, Tc·N = %zu, and written once more,\n"
            "  (1 + Tc)·N = %zu with its initialization (Alg.1 line 2).\n", (unsigned long long)r2.io.rd,
            (unsigned long long)r2.io.wr, ok2 ? "equal" : "DIFFERENT", r2.Tc * N * heads, (1 + r2.Tc) * N * heads);
    if (count_only)
        lab_say(&L, "  result: not computed (--count-only)\n\n");
    else
        lab_say(&L, "  result: max |O - O_ref| = %.3g against the double-precision reference (tolerance %.3g: %s)\n\n",
                err2, tol2, ok_err ? "ok" : "EXCEEDED");

    summary_t s;
    summary_begin(&s, cfg, "tiled_qkv", Br, Bc);
    summary_ledger(&s, m1);
    lab_sum_f64(&s, "max_abs_err", !count_only, err1);
    lab_sum_kv(&s, {"Tr", Tr}, {"Tc", Tc}, {"tiles", tiles}, {"closed_form_ok", ok1}, {"flash1_Br", r2.p.Br},
               {"flash1_Bc", r2.p.Bc});
    lab_sum_ledger(&s, "flash1", r2.m, LAB_KEY_ELEMS);
    lab_sum_ledger(&s, "flash1", r2.m, LAB_KEY_WORK);
    lab_sum_ledger(&s, "flash1", r2.m, LAB_KEY_SRAM);
    lab_sum_kv(&s, {"flash1_closed_form_ok", ok2});
    lab_sum_f64(&s, "flash1_max_abs_err", !count_only, err2);
    summary_print(&s, stdout);

    lab_attn_free(&r2);
    lab_ref_free(&ref);
    mem_destroy(m1);
    lab_inputs_free(&in);
    free(o);
    /* a ledger that differs from its closed form is a bug; an error past its tolerance a failed check */
    return lab_end(&L, ok1 && ok2 && ok_err);
}

LESSON_MAIN(lesson03_spec, lesson03_run)
