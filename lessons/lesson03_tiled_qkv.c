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
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"  // defines: attn_params, attn_choose_blocks, attn_alloc, attn_forward, attn_io_closed_form
#include "blocks.h"     // defines: blocks_choose
#include "lessons.h"
#include "reference.h"  // defines: ref_head_get, ref_attention_bnhd
#include "rng.h"
#include "summary.h"
#include "tiled.h"      // defines: tiled_qkv, tiled_sram_need, tiled_closed_form, tiled_reference
#include "tilemap.h"    // defines: tilewalk_open, tilewalk_close, tilemap_print
#include "util.h"
#include "verify.h"

#define INPUT_MAX 2                     /* inputs are integers in -2..2: every partial sum of part 1 is exact */
#define WALK_MAX_TILES 16               /* the tile-by-tile view for grids up to 4 x 4 (one head) */
#define BRIEF_MAX_TILES 64              /* one line per tile up to this many tiles */
#define MAX_TILES ((uint64_t)1 << 26)   /* a loop over more tiles takes minutes even in count-only mode */
#define MAX_FLOPS 2e10                  /* real arithmetic beyond this takes minutes: use --count-only */
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

/* One row per tensor: part 1's and part 2's reads and writes, side by side. */
static void print_ledgers(const mem_t *m1, const mem_t *m2)
{
    printf("  %-8s %21s   %21s\n", "", "part 1: no softmax", "part 2: FlashAttention");
    printf("  %-8s %10s %10s   %10s %10s\n", "tensor", "reads", "writes", "reads", "writes");
    const mem_t *ms[2] = {m1, m2};
    const char *seen[2 * MEM_MAX_TENSORS];
    size_t nseen = 0;
    for (int k = 0; k < 2; k++)
        for (size_t t = 0; ms[k] && t < mem_ntensors(ms[k]); t++) {
            const char *name = mem_tensor_name(ms[k], t);
            bool dup = false;
            for (size_t s = 0; s < nseen; s++)
                dup = dup || !strcmp(seen[s], name);
            if (dup)
                continue;
            seen[nseen++] = name;
            io_count a = mem_io(m1, name, NULL), b = m2 ? mem_io(m2, name, NULL) : (io_count){0, 0, 0, 0};
            printf("  %-8s %10llu %10llu   %10llu %10llu\n", name, (unsigned long long)a.rd_elems,
                   (unsigned long long)a.wr_elems, (unsigned long long)b.rd_elems, (unsigned long long)b.wr_elems);
        }
    io_count a = mem_io(m1, NULL, NULL), b = m2 ? mem_io(m2, NULL, NULL) : (io_count){0, 0, 0, 0};
    printf("  %-8s %10llu %10llu   %10llu %10llu   elements\n", "total", (unsigned long long)a.rd_elems,
           (unsigned long long)a.wr_elems, (unsigned long long)b.rd_elems, (unsigned long long)b.wr_elems);
    printf("  %-8s %10llu %10s   %10llu\n", "FLOPs", (unsigned long long)mem_flops(m1, NULL), "",
           (unsigned long long)mem_flops(m2, NULL));
    printf("  %-8s %10llu %10s   %10llu\n", "exp()", (unsigned long long)mem_exps(m1, NULL), "",
           (unsigned long long)mem_exps(m2, NULL));
    printf("  %-8s %10zu %10s   %10zu   bytes\n", "SRAM peak", sram_peak(m1), "", sram_peak(m2));
}

int lesson03_run(const cli_cfg *cfg)
{
    size_t N = cfg->N, d = cfg->d, heads = cfg->B * cfg->H, n = cfg->B * N * cfg->H * d;
    dtype_t dt = cfg->dtype;
    bool say = !cfg->quiet, count_only = cfg->count_only;
    bool trace_on_stdout = cfg->trace != TRACE_NONE && !cfg->trace_file;
    char err[512];

    /* Alg.1 line 1: blocks from M, fitted to what part 1 really keeps in SRAM (Kj, Vj, Qi, Oi and Sij). */
    block_choice bc;
    if (blocks_choose(cfg->M_bytes, N, d, dt, cfg->Br, cfg->Bc, tiled_sram_need, &bc, err, sizeof err))
        fl_fatal("%s", err);
    size_t Br = bc.Br, Bc = bc.Bc, Tr = ceil_div(N, Br), Tc = ceil_div(N, Bc);
    /* Part 2 keeps six row statistics more per block; it takes the same blocks when they fit. */
    attn_params p = {.algo = ATTN_FLASH1, .B = cfg->B, .N = N, .H = cfg->H, .d = d};
    block_choice fc;
    bool same_blocks = attn_choose_blocks(&p, false, cfg->M_bytes, dt, Br, Bc, &fc, err, sizeof err) == 0;
    if (!same_blocks && attn_choose_blocks(&p, false, cfg->M_bytes, dt, cfg->Br, cfg->Bc, &fc, err, sizeof err))
        fl_fatal("part 2 (FlashAttention) does not fit: %s", err);
    uint64_t tiles = (uint64_t)Tr * Tc * heads, tiles2 = (uint64_t)ceil_div(N, p.Br) * ceil_div(N, p.Bc) * heads;
    if (tiles > MAX_TILES || tiles2 > MAX_TILES)
        fl_fatal("%llu tiles are too many to walk one by one (at most %llu); use larger blocks or a smaller N",
                 (unsigned long long)(tiles > tiles2 ? tiles : tiles2), (unsigned long long)MAX_TILES);
    if (!count_only && 4.0 * (double)N * (double)N * (double)d * (double)heads > MAX_FLOPS)
        fl_fatal("4·N²·d·heads = %.3g FLOPs of real arithmetic would take minutes; add --count-only or use a "
                 "smaller N", 4.0 * (double)N * (double)N * (double)d * (double)heads);

    bool walk = say && !trace_on_stdout && heads == 1 && Tr * Tc <= WALK_MAX_TILES;
    bool brief = say && !trace_on_stdout && tiles <= BRIEF_MAX_TILES && tiles2 <= BRIEF_MAX_TILES;
    if (say) {
        printf("lesson03 — %s\n\n", lesson03_spec.title);
        printf("Q, K, V: N=%zu rows x d=%zu, %s, in HBM%s.  SRAM: M = %zu bytes.\n", N, d, dtype_name(dt),
               heads > 1 ? " (every head)" : "", cfg->M_bytes);
        printf("Alg.1 line 1, the blocks Br (query rows) and Bc (key rows):\n");
        fl_print_wrapped(stdout, "  ", bc.rule, 100);
        printf("  Tr = ceil(N/Br) = %zu query blocks Qi and Tc = ceil(N/Bc) = %zu key blocks Kj, Vj.\n", Tr, Tc);
        if (N % Br)
            printf("  N = %zu is not a multiple of Br = %zu: the last query block holds %zu row%s (ragged).\n", N, Br,
                   N % Br, N % Br > 1 ? "s" : "");
        if (N % Bc)
            printf("  N = %zu is not a multiple of Bc = %zu: the last key block holds %zu row%s (ragged).\n", N, Bc,
                   N % Bc, N % Bc > 1 ? "s" : "");
        printf("  SRAM holds Kj, Vj (%zu x %zu), Qi, Oi (%zu x %zu) in %s and Sij (%zu x %zu) in fp32: %zu of %zu "
               "bytes.\n\n", Bc, d, Br, d, dtype_name(dt), Br, Bc, tiled_sram_need(Br, Bc, d, dt), cfg->M_bytes);
    }

    /* Integer inputs: every partial product and partial sum of part 1 is an exact fp32 integer. */
    float *q = NULL, *k = NULL, *v = NULL, *o = NULL;
    if (!count_only) {   /* the guard above keeps n = B·N·H·d <= 4·N²·d·heads within reach */
        q = xmalloc(n * sizeof *q), k = xmalloc(n * sizeof *k), v = xmalloc(n * sizeof *v), o = xmalloc(n * sizeof *o);
    }
    rng_t r;
    rng_seed(&r, cfg->seed);
    for (size_t x = 0; !count_only && x < n; x++) {
        q[x] = (float)((int)rng_below(&r, 2 * INPUT_MAX + 1) - INPUT_MAX);
        k[x] = (float)((int)rng_below(&r, 2 * INPUT_MAX + 1) - INPUT_MAX);
        v[x] = (float)((int)rng_below(&r, 2 * INPUT_MAX + 1) - INPUT_MAX);
    }

    /* ---- part 1: O = Q K^T V without softmax ------------------------------------------------------------------ */
    if (say) {
        printf("Part 1 — O = Q K^T V, tile by tile, no softmax yet\n");
        printf("  Without softmax attention is linear: O_i = sum over j of (Q_i K_j^T) V_j. For each key block j\n"
               "  (Kj, Vj stay in SRAM), for each query block i: load Qi and Oi, add the partial product, store Oi.\n\n");
    }
    mem_t *m1 = mem_create(cfg->M_bytes, count_only);
    trace_t *tr = cli_trace_open(cfg, m1);
    hbm_tensor *Q = hbm_alloc_bnhd(m1, "Q", dt, cfg->B, N, cfg->H, d), *K = hbm_alloc_bnhd(m1, "K", dt, cfg->B, N,
                                                                                          cfg->H, d),
               *V = hbm_alloc_bnhd(m1, "V", dt, cfg->B, N, cfg->H, d), *O = hbm_alloc_bnhd(m1, "O", dt, cfg->B, N,
                                                                                          cfg->H, d);
    hbm_upload(Q, q);
    hbm_upload(K, k);
    hbm_upload(V, v);
    tilewalk *w = walk || brief ? tilewalk_open(m1, Tr, Tc, walk ? TILEWALK_FULL : TILEWALK_BRIEF, stdout,
                                                pause_after_tile, (void *)cfg)
                                : NULL;
    if (w && walk)
        printf("  map of the score tiles S_ij = Q_i K_j^T: %s\n\n", tilemap_legend(tilewalk_map(w)));
    for (size_t b = 0; b < cfg->B; b++)
        for (size_t h = 0; h < cfg->H; h++)
            tiled_qkv(m1, hbm_head(Q, b, h), hbm_head(K, b, h), hbm_head(V, b, h), hbm_head(O, b, h), Br, Bc);
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
    double err1 = NAN;
    if (!count_only) {
        hbm_download(O, o);
        double *qd = xmalloc(N * d * sizeof *qd), *kd = xmalloc(N * d * sizeof *kd),
               *vd = xmalloc(N * d * sizeof *vd), *od = xmalloc(N * d * sizeof *od);
        float *oh = xmalloc(N * d * sizeof *oh);
        err1 = 0;
        for (size_t b = 0; b < cfg->B; b++)
            for (size_t h = 0; h < cfg->H; h++) {
                ref_head_get(q, cfg->B, N, cfg->H, d, b, h, qd);
                ref_head_get(k, cfg->B, N, cfg->H, d, b, h, kd);
                ref_head_get(v, cfg->B, N, cfg->H, d, b, h, vd);
                tiled_reference(qd, kd, vd, N, d, od);
                for (size_t x = 0; x < N; x++)
                    for (size_t c = 0; c < d; c++)
                        oh[x * d + c] = o[((b * N + x) * cfg->H + h) * d + c];
                double e = verify_max_abs(od, oh, N * d);
                err1 = isnan(e) || e > err1 ? e : err1;
            }
        free(qd), free(kd), free(vd), free(od), free(oh);
    }
    tiled_io cf;
    tiled_closed_form(N, d, Br, Bc, heads, &cf);
    io_count c1 = mem_io(m1, NULL, NULL);
    bool ok1 = c1.rd_elems == cf.rd && c1.wr_elems == cf.wr && mem_io(m1, "Q", NULL).rd_elems == cf.rd_Q &&
               mem_io(m1, "K", NULL).rd_elems == cf.rd_K && mem_io(m1, "V", NULL).rd_elems == cf.rd_V &&
               mem_io(m1, "O", NULL).rd_elems == cf.rd_O && mem_flops(m1, NULL) == cf.flops;
    if (say) {
        printf("  ledger (every tensor is %zu elements%s):\n", N * d, heads > 1 ? " per head" : "");
        mem_ledger_print(m1, NULL, stdout);
        printf("  closed form (tiled.h): reads 2Nd + 2·Tc·Nd = %llu, writes (1 + Tc)·Nd = %llu, FLOPs 4·N²·d = %llu"
               "%s: counted %s\n", (unsigned long long)cf.rd, (unsigned long long)cf.wr,
               (unsigned long long)cf.flops, heads > 1 ? " (all heads)" : "", ok1 ? "equal" : "DIFFERENT");
        if (count_only)
            printf("  result: not computed (--count-only)\n\n");
        else if (err1 == 0)
            printf("  result: the tiled O equals the plain product Q K^T V exactly (max |error| = 0)\n\n");
        else
            printf("  result: max |O - Q K^T V| = %.3g (%s storage rounds O after every key block)\n\n", err1,
                   dtype_name(dt));
    }

    /* ---- part 2: the same loop with online softmax — FlashAttention, Algorithm 1 ------------------------------ */
    mem_t *m2 = mem_create(cfg->M_bytes, count_only);
    trace_follow(tr, m2);
    mem_note(m2, "part 2: FlashAttention forward (Alg.1) on the same inputs, a new ledger");
    size_t Tr2 = ceil_div(N, p.Br), Tc2 = ceil_div(N, p.Bc);
    if (say) {
        printf("Part 2 — the same loop with online softmax: FlashAttention (Algorithm 1)\n");
        printf("  O = softmax(Q K^T / sqrt(d)) V. Each tile also loads l_i, m_i (the running softmax statistics of\n"
               "  lesson02), rescales O_i by them (Alg.1 lines 10-12) and writes l_i, m_i back (line 13).\n");
        if (same_blocks)
            printf("  Same blocks Br=%zu, Bc=%zu: the six row statistics fit too (%zu of %zu bytes).\n\n", p.Br,
                   p.Bc, fc.need_bytes, cfg->M_bytes);
        else
            printf("  Part 1's blocks leave no room for the row statistics; FlashAttention chooses its own:\n");
        if (!same_blocks) {
            fl_print_wrapped(stdout, "  ", fc.rule, 100);
            putchar('\n');
        }
    }
    attn_tensors t = attn_alloc(m2, &p, dt, false);
    hbm_upload(t.q, q);
    hbm_upload(t.k, k);
    hbm_upload(t.v, v);
    w = brief ? tilewalk_open(m2, Tr2, Tc2, TILEWALK_BRIEF, stdout, NULL, NULL) : NULL;
    attn_forward(m2, &p, &t);
    if (w) {
        tilemap_free(tilewalk_close(w));
        putchar('\n');
    }
    cli_trace_close(cfg, tr);

    double err2 = NAN;
    if (!count_only) {
        double *oref = xmalloc(n * sizeof *oref);
        ref_attention_bnhd(q, k, v, cfg->B, N, cfg->H, d, 1.0 / sqrt((double)d), false, oref, NULL);
        hbm_download(t.out, o);
        err2 = verify_max_abs(oref, o, n);
        free(oref);
    }
    attn_io io;
    attn_io_closed_form(&p, false, &io);
    io_count c2 = mem_io(m2, NULL, NULL);
    bool ok2 = c2.rd_elems == io.rd && c2.wr_elems == io.wr;
    for (size_t x = 0; x < io.n; x++) {
        io_count c = mem_io(m2, io.row[x].tensor, NULL);
        ok2 = ok2 && c.rd_elems == io.row[x].rd && c.wr_elems == io.row[x].wr;
    }
    if (say) {
        printf("  ledgers side by side (elements; FLOPs count matrix products, 2 per multiply-add):\n");
        print_ledgers(m1, m2);
        printf("  part 2 closed form (attention.h): reads %llu, writes %llu: counted %s\n",
               (unsigned long long)io.rd, (unsigned long long)io.wr, ok2 ? "equal" : "DIFFERENT");
        printf("  The extra traffic is l and m: each is read once per key block, Tc·N = %zu, and written once more,\n"
               "  (1 + Tc)·N = %zu with its initialization (Alg.1 line 2).\n", Tc2 * N * heads, (1 + Tc2) * N * heads);
        if (count_only)
            printf("  result: not computed (--count-only)\n\n");
        else
            printf("  result: max |O - O_ref| = %.3g against the double-precision reference (tolerance %.3g: %s)\n\n",
                   err2, part2_tol(dt, Tc2), err2 <= part2_tol(dt, Tc2) ? "ok" : "EXCEEDED");
    }

    summary_t s;
    summary_begin(&s, cfg, "tiled_qkv", Br, Bc);
    summary_ledger(&s, m1);
    if (count_only)
        summary_str(&s, "max_abs_err", "na");
    else
        summary_f64(&s, "max_abs_err", err1);
    summary_u64(&s, "Tr", Tr);
    summary_u64(&s, "Tc", Tc);
    summary_u64(&s, "tiles", tiles);
    summary_u64(&s, "closed_form_ok", ok1);
    summary_u64(&s, "flash1_Br", p.Br);
    summary_u64(&s, "flash1_Bc", p.Bc);
    summary_u64(&s, "flash1_hbm_read_elems", c2.rd_elems);
    summary_u64(&s, "flash1_hbm_write_elems", c2.wr_elems);
    summary_u64(&s, "flash1_flops", mem_flops(m2, NULL));
    summary_u64(&s, "flash1_exps", mem_exps(m2, NULL));
    summary_u64(&s, "flash1_sram_peak_bytes", sram_peak(m2));
    summary_u64(&s, "flash1_closed_form_ok", ok2);
    if (count_only)
        summary_str(&s, "flash1_max_abs_err", "na");
    else
        summary_f64(&s, "flash1_max_abs_err", err2);
    summary_print(&s, stdout);

    attn_free(m2, &t);
    mem_destroy(m2);
    mem_destroy(m1);
    free(q), free(k), free(v), free(o);
    return ok1 && ok2 ? 0 : 1;   /* a ledger that differs from its closed form is a bug */
}

LESSON_MAIN(lesson03_spec, lesson03_run)
