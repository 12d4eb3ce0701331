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
 *       ./lesson04 --step                  pause after each tile (in a terminal)
 *       ./lesson04 --causal                skip the tiles above the diagonal
 *       ./lesson04 -N 1024 -d 64 -M 64K --dtype fp16        bigger; --count-only for N in the tens of thousands
 *       ./lesson04 --trace text            every load, store and computation of both algorithms
 * Summary: algo=flash1 with its ledger and max_abs_err; std_* keys for standard attention; closed_form_ok and
 *   std_closed_form_ok (1 when every counted tensor equals its closed form).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"  // defines: attn_params, attn_choose_blocks, attn_alloc, attn_forward, attn_io_closed_form
#include "lessons.h"
#include "reference.h"  // defines: ref_attention_bnhd
#include "rng.h"
#include "summary.h"
#include "report.h"
#include "tilemap.h"    // defines: tilewalk_open, tilewalk_close, tilemap_print
#include "util.h"
#include "verify.h"

#define WALK_MAX_TILES 16             /* the tile-by-tile walk for grids up to 4 x 4 (one head) */
#define MAP_MAX_TILES 1024            /* the final map of visited and skipped tiles */
#define MAX_TILES ((uint64_t)1 << 27) /* a loop over more tiles takes minutes even in count-only mode */
#define MAX_FLOPS 2e10                /* real arithmetic beyond this takes minutes: use --count-only */
/* Tri Dao's tolerance method: flash1 in dt may err at most ERR_FACTOR x what standard attention in dt errs (it is
 * the materialized low-precision reference), plus two roundings of the largest output; and, in fp16/bf16, one
 * rounding of |O| <= max|V| per key block, because Alg.1 line 12 stores Oi in dt after every block. */
#define ERR_FACTOR 2.0
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
    .extra = CLI_OPT_CAUSAL | CLI_OPT_STEP | CLI_OPT_TRACE,
};

static void pause_after_tile(void *cfg) { cli_pause(cfg, "  next tile"); }


/* The closed form's value for one tensor (0 if absent). */
static attn_io_row io_of(const attn_io *io, const char *tensor)
{
    for (size_t k = 0; k < io->n; k++)
        if (!strcmp(io->row[k].tensor, tensor))
            return io->row[k];
    return (attn_io_row){tensor, 0, 0};
}

/* Every tensor the closed form names, and nothing else, moved exactly as derived. */
static bool ledger_equals(const mem_t *m, const attn_io *io)
{
    io_count tot = mem_io(m, NULL, NULL);
    bool ok = tot.rd_elems == io->rd && tot.wr_elems == io->wr;
    for (size_t k = 0; k < io->n; k++) {
        io_count c = mem_io(m, io->row[k].tensor, NULL);
        ok = ok && c.rd_elems == io->row[k].rd && c.wr_elems == io->row[k].wr;
    }
    return ok;
}

static void print_phases(const mem_t *m)
{
    static const char *const names[] = {"Q", "K", "S", "P", "V", "O"};
    printf("    %-8s %-6s %12s %12s\n", "phase", "tensor", "reads", "writes");
    for (int ph = 0; ph < ATTN_STANDARD_PHASES; ph++)
        for (size_t t = 0, first = 1; t < sizeof names / sizeof names[0]; t++) {
            const char *name = names[t];
            io_count c = mem_io(m, name, attn_standard_phase[ph]);
            if (!c.rd_elems && !c.wr_elems)
                continue;
            printf("    %-8s %-6s %12llu %12llu\n", first ? attn_standard_phase[ph] : "", name,
                   (unsigned long long)c.rd_elems, (unsigned long long)c.wr_elems);
            first = 0;
        }
}

/* Standard | flash1, tensor by tensor, then totals, work and memory. */
static void print_side_by_side(const mem_t *ms, const mem_t *mf)
{
    static const char *const names[] = {"Q", "K", "V", "O", "S", "P", "m", "l"};
    char b1[32], b2[32];
    printf("    %-10s %12s %12s   %12s %12s\n", "", "standard", "", "flash1", "");
    printf("    %-10s %12s %12s   %12s %12s\n", "tensor", "reads", "writes", "reads", "writes");
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        io_count a = mem_io(ms, names[k], NULL), b = mem_io(mf, names[k], NULL);
        if (!a.rd_elems && !a.wr_elems && !b.rd_elems && !b.wr_elems)
            continue;
        printf("    %-10s %12llu %12llu   %12llu %12llu\n", names[k], (unsigned long long)a.rd_elems,
               (unsigned long long)a.wr_elems, (unsigned long long)b.rd_elems, (unsigned long long)b.wr_elems);
    }
    io_count a = mem_io(ms, NULL, NULL), b = mem_io(mf, NULL, NULL);
    printf("    %-10s %12llu %12llu   %12llu %12llu   elements\n", "total", (unsigned long long)a.rd_elems,
           (unsigned long long)a.wr_elems, (unsigned long long)b.rd_elems, (unsigned long long)b.wr_elems);
    char b3[32], b4[32];
    printf("    %-10s %12s %12s   %12s %12s   bytes\n", "", fmt_bytes(a.rd_bytes, b1, sizeof b1),
           fmt_bytes(a.wr_bytes, b2, sizeof b2), fmt_bytes(b.rd_bytes, b3, sizeof b3),
           fmt_bytes(b.wr_bytes, b4, sizeof b4));
    printf("    %-10s %25llu   %25llu\n", "FLOPs", (unsigned long long)mem_flops(ms, NULL),
           (unsigned long long)mem_flops(mf, NULL));
    printf("    %-10s %25llu   %25llu\n", "exp()", (unsigned long long)mem_exps(ms, NULL),
           (unsigned long long)mem_exps(mf, NULL));
    printf("    %-10s %25s   %25s\n", "SRAM peak", fmt_bytes(sram_peak(ms), b1, sizeof b1),
           fmt_bytes(sram_peak(mf), b2, sizeof b2));
    printf("    %-10s %25s   %25s   (Q, K, V, O and what each keeps)\n", "HBM peak",
           fmt_bytes(mem_hbm_peak(ms), b1, sizeof b1), fmt_bytes(mem_hbm_peak(mf), b2, sizeof b2));
}

int lesson04_run(const cli_cfg *cfg)
{
    size_t N = cfg->N, d = cfg->d, heads = cfg->B * cfg->H, n = cfg->B * N * cfg->H * d;
    dtype_t dt = cfg->dtype;
    bool say = !cfg->quiet, count_only = cfg->count_only, causal = cfg->causal;
    bool trace_on_stdout = cfg->trace != TRACE_NONE && !cfg->trace_file;
    char err[512];

    /* Alg.1 line 1 (and Algorithm 0's tiling): blocks from M, fitted to what each algorithm keeps in SRAM. */
    attn_params ps = {.algo = ATTN_STANDARD, .B = cfg->B, .N = N, .H = cfg->H, .d = d, .causal = causal};
    attn_params pf = ps;
    pf.algo = ATTN_FLASH1;
    block_choice cs, cf;
    if (attn_choose_blocks(&ps, false, cfg->M_bytes, dt, cfg->Br, cfg->Bc, &cs, err, sizeof err))
        fl_fatal("standard attention: %s", err);
    if (attn_choose_blocks(&pf, false, cfg->M_bytes, dt, cfg->Br, cfg->Bc, &cf, err, sizeof err))
        fl_fatal("FlashAttention: %s", err);
    size_t Tr = ceil_div(N, pf.Br), Tc = ceil_div(N, pf.Bc);
    uint64_t tiles_std = (uint64_t)ceil_div(N, ps.Br) * ceil_div(N, ps.Bc) * heads;
    uint64_t tiles_f1 = (uint64_t)Tr * Tc * heads;
    if (tiles_f1 > MAX_TILES || tiles_std > MAX_TILES)
        fl_fatal("%llu tiles are too many to walk one by one (at most %llu); use a larger M or a smaller N",
                 (unsigned long long)(tiles_f1 > tiles_std ? tiles_f1 : tiles_std), (unsigned long long)MAX_TILES);
    if (!count_only && 6.0 * (double)N * (double)N * (double)d * (double)heads > MAX_FLOPS)
        fl_fatal("6·N²·d·heads = %.3g FLOPs of real arithmetic (two algorithms and the reference) would take "
                 "minutes; add --count-only or use a smaller N", 6.0 * (double)N * (double)N * (double)d * (double)heads);
    bool walk = say && !trace_on_stdout && heads == 1 && !causal && Tr * Tc <= WALK_MAX_TILES;
    bool map = say && !trace_on_stdout && !walk && Tr * Tc <= MAP_MAX_TILES;

    if (say) {
        printf("lesson04 — %s\n\n", lesson04_spec.title);
        printf("Q, K, V: %zu x %zu head%s of N=%zu rows x d=%zu, %s, in HBM%s.  SRAM: M = %zu bytes for both.\n\n",
               cfg->B, cfg->H, heads > 1 ? "s" : "", N, d, dtype_name(dt), causal ? "; causal mask" : "",
               cfg->M_bytes);
    }

    /* Inputs N(0, 1) from the seeded generator, the same for both algorithms. */
    float *q = xmalloc(n * sizeof *q), *k = xmalloc(n * sizeof *k), *v = xmalloc(n * sizeof *v),
          *o = xmalloc(n * sizeof *o);
    rng_t r;
    rng_seed(&r, cfg->seed);
    rng_fill_normal(&r, q, n, 1.0f);
    rng_fill_normal(&r, k, n, 1.0f);
    rng_fill_normal(&r, v, n, 1.0f);
    for (size_t x = 0; x < n; x++) {   /* what HBM holds: the reference sees the same rounded values */
        q[x] = dtype_round(dt, q[x]);
        k[x] = dtype_round(dt, k[x]);
        v[x] = dtype_round(dt, v[x]);
    }

    /* ---- Algorithm 0: standard attention ---------------------------------------------------------------------- */
    attn_io ios;
    attn_io_closed_form(&ps, false, &ios);
    if (say) {
        printf("Algorithm 0 — standard attention, three kernels that meet in HBM\n");
        printf("  1  load Q, K by blocks, compute S = QK^T, write S to HBM          (phase S)\n");
        printf("  2  read S, compute P = softmax(S), write P to HBM                 (phase softmax)\n");
        printf("  3  load P and V by blocks, compute O = PV, write O to HBM         (phase PV)\n");
        printf("  blocks:\n");
        fl_print_wrapped(stdout, "    ", cs.rule, 100);
        printf("  softmax: a row of S has N = %zu scores; its buffer holds Br·Bc = %zu, so it reads each row %s.\n",
               N, ps.Br * ps.Bc,
               ios.softmax_passes == 1 ? "once" : "three times (max, sum, normalize: the safe softmax of lesson01)");
        if (causal)
            printf("  causal: the mask is applied in the softmax; all N² scores are still computed, written, read.\n");
    }
    mem_t *ms = mem_create(cfg->M_bytes, count_only);
    trace_t *tr = cli_trace_open(cfg, ms);
    attn_tensors ts = attn_alloc(ms, &ps, dt, false);
    hbm_upload(ts.q, q);
    hbm_upload(ts.k, k);
    hbm_upload(ts.v, v);
    attn_forward(ms, &ps, &ts);
    bool ok_std = ledger_equals(ms, &ios);
    if (say) {
        printf("  ledger by phase (elements%s):\n", heads > 1 ? ", all heads" : "");
        print_phases(ms);
        io_count S = mem_io(ms, "S", NULL), P = mem_io(ms, "P", NULL);
        printf("  S and P moved %llu elements = (3 + %u passes)·N²%s: %s\n\n",
               (unsigned long long)(S.rd_elems + S.wr_elems + P.rd_elems + P.wr_elems), ios.softmax_passes,
               heads > 1 ? " per head x B·H" : "", ok_std ? "the closed form ✓" : "DIFFERS from the closed form ✗");
    }

    /* ---- Algorithm 1: FlashAttention -------------------------------------------------------------------------- */
    attn_io iof;
    attn_io_closed_form(&pf, false, &iof);
    if (say) {
        printf("Algorithm 1 — FlashAttention forward (Dao et al. 2022)\n");
        printf("   1  Bc = ⌈M/4d⌉, Br = min(⌈M/4d⌉, d)\n");
        printf("   2  initialize O = (0)Nxd, l = (0)N, m = (-inf)N in HBM\n");
        printf("   3  divide Q into Tr = ⌈N/Br⌉ blocks Qi (Br x d), K and V into Tc = ⌈N/Bc⌉ blocks Kj, Vj (Bc x d)\n");
        printf("   4  divide O into Tr blocks Oi, l into Tr blocks li, m into Tr blocks mi\n");
        printf("   5  for 1 <= j <= Tc:\n");
        printf("   6    load Kj, Vj from HBM to on-chip SRAM\n");
        printf("   7    for 1 <= i <= Tr:\n");
        printf("   8      load Qi, Oi, li, mi from HBM to on-chip SRAM\n");
        printf("   9      on chip, Sij = Qi Kj^T (Br x Bc)\n");
        printf("  10      on chip, m~ij = rowmax(Sij), P~ij = exp(Sij - m~ij), l~ij = rowsum(P~ij)\n");
        printf("  11      on chip, mi_new = max(mi, m~ij), li_new = e^(mi - mi_new) li + e^(m~ij - mi_new) l~ij\n");
        printf("  12      write Oi <- diag(li_new)^-1 (diag(li) e^(mi - mi_new) Oi + e^(m~ij - mi_new) P~ij Vj)\n");
        printf("  13      write li <- li_new, mi <- mi_new to HBM\n");
        printf("  blocks (line 1):\n");
        fl_print_wrapped(stdout, "    ", cf.rule, 100);
        printf("  Tr = %zu query blocks, Tc = %zu key blocks", Tr, Tc);
        if (N % pf.Br || N % pf.Bc)
            printf("; the last %s shorter (N is not a multiple of the block)",
                   N % pf.Br && N % pf.Bc ? "ones are" : N % pf.Br ? "query block is" : "key block is");
        printf(".\n  SRAM: Kj, Vj, Qi, Oi in %s; Sij, li, mi, m~ij, l~ij, mi_new, li_new in fp32: %zu of %zu bytes.\n",
               dtype_name(dt), cf.need_bytes, cfg->M_bytes);
        if (causal)
            printf("  causal: a tile whose first key comes after its last query is skipped: %llu of %llu tiles.\n",
                   (unsigned long long)iof.skipped, (unsigned long long)(iof.tiles + iof.skipped));
        putchar('\n');
    }
    mem_t *mf = mem_create(cfg->M_bytes, count_only);
    trace_follow(tr, mf);
    attn_tensors tf = attn_alloc(mf, &pf, dt, false);
    hbm_upload(tf.q, q);
    hbm_upload(tf.k, k);
    hbm_upload(tf.v, v);
    tilewalk *w = walk ? tilewalk_open(mf, Tr, Tc, TILEWALK_FULL, stdout, pause_after_tile, (void *)cfg) : NULL;
    tilemap *tm = map ? tilemap_create(Tr, Tc) : NULL;
    if (w)
        printf("  map of the score tiles Sij (they never leave SRAM): %s\n\n", tilemap_legend(tilewalk_map(w)));
    if (tm)
        mem_observe(mf, tilemap_paint_step, tm);
    attn_forward(mf, &pf, &tf);
    if (w)
        tm = tilewalk_close(w);
    else if (tm)
        mem_unobserve(mf, tilemap_paint_step, tm);
    cli_trace_close(cfg, tr);
    if (tm) {
        printf("  the %zu x %zu tiles of head 0 after the loops:\n", Tr, Tc);
        tilemap_print(tm, stdout, "  ");
        putchar('\n');
        tilemap_free(tm);
    }

    /* ---- the ledger, line by line ----------------------------------------------------------------------------- */
    bool ok_f1 = ledger_equals(mf, &iof);
    uint64_t BH = heads, Nd = (uint64_t)N * d, R = io_of(&iof, "m").rd / BH;   /* query rows of visited tiles */
    if (say) {
        printf("Algorithm 1's ledger from its lines%s, against the count (elements):\n",
               heads > 1 ? " (per head, times B·H)" : "");
        if (causal)
            printf("    R = rows of Qi over visited tiles = Tc·N - Br·Σ_j ⌊j·Bc/Br⌋ = %llu (Tc·N = %llu without the "
                   "mask)\n", (unsigned long long)R, (unsigned long long)Tc * N);
    }
    const char *rows = causal ? "R" : "Tc·N";
    char f[64];
    bool ok_lines = true;
    {
        snprintf(f, sizeof f, "line 8: %s·d", rows);
        ok_lines &= report_check(say, 20, "Q reads", f, io_of(&iof, "Q").rd, mem_io(mf, "Q", NULL).rd_elems);
        ok_lines &= report_check(say, 20, "K reads", "line 6: N·d", BH * Nd, mem_io(mf, "K", NULL).rd_elems);
        ok_lines &= report_check(say, 20, "V reads", "line 6: N·d", BH * Nd, mem_io(mf, "V", NULL).rd_elems);
        snprintf(f, sizeof f, "line 8: %s·d", rows);
        ok_lines &= report_check(say, 20, "O reads", f, io_of(&iof, "O").rd, mem_io(mf, "O", NULL).rd_elems);
        snprintf(f, sizeof f, "line 2 + 12: N·d + %s·d", rows);
        ok_lines &= report_check(say, 20, "O writes", f, io_of(&iof, "O").wr, mem_io(mf, "O", NULL).wr_elems);
        snprintf(f, sizeof f, "line 8: %s", rows);
        ok_lines &= report_check(say, 20, "l reads", f, io_of(&iof, "l").rd, mem_io(mf, "l", NULL).rd_elems);
        ok_lines &= report_check(say, 20, "m reads", f, io_of(&iof, "m").rd, mem_io(mf, "m", NULL).rd_elems);
        snprintf(f, sizeof f, "line 2 + 13: N + %s", rows);
        ok_lines &= report_check(say, 20, "l writes", f, io_of(&iof, "l").wr, mem_io(mf, "l", NULL).wr_elems);
        ok_lines &= report_check(say, 20, "m writes", f, io_of(&iof, "m").wr, mem_io(mf, "m", NULL).wr_elems);
        io_count tot = mem_io(mf, NULL, NULL);
        if (!causal) {   /* the issue's formulas, written out here independently of attn_io_closed_form */
            ok_lines &= report_check(say, 20, "total reads", "2Nd + Tc(2Nd + 2N)",
                                     BH * (2 * Nd + Tc * (2 * Nd + 2 * N)), tot.rd_elems);
            ok_lines &= report_check(say, 20, "total writes", "(Nd + 2N) + Tc(Nd + 2N)",
                                     BH * ((Nd + 2 * N) + Tc * (Nd + 2 * N)), tot.wr_elems);
        } else {
            ok_lines &= report_check(say, 20, "total reads", "2Nd + R(2d + 2)", iof.rd, tot.rd_elems);
            ok_lines &= report_check(say, 20, "total writes", "(Nd + 2N) + R(d + 2)", iof.wr, tot.wr_elems);
        }
        if (say)
            putchar('\n');
    }
    bool ok_ledgers = ok_std && ok_f1 && ok_lines;

    /* ---- side by side ----------------------------------------------------------------------------------------- */
    if (say) {
        printf("Side by side (same inputs, same M):\n");
        print_side_by_side(ms, mf);
        io_count a = mem_io(ms, NULL, NULL), b = mem_io(mf, NULL, NULL);
        printf("  FlashAttention moves %.3g x the HBM bytes of standard attention here (Theorem 2: Θ(N²d²/M) against\n"
               "  Θ(Nd + N²); the gap grows with N and with M).\n\n",
               (double)(b.rd_bytes + b.wr_bytes) / (double)(a.rd_bytes + a.wr_bytes));
    }

    /* ---- errors against the double-precision reference -------------------------------------------------------- */
    double err_std = NAN, err_f1 = NAN, tol = NAN;
    bool ok_err = true;
    if (!count_only) {
        double *oref = xmalloc(n * sizeof *oref), vmax = 0, omax = 0;
        ref_attention_bnhd(q, k, v, cfg->B, N, cfg->H, d, 1.0 / sqrt((double)d), causal, oref, NULL);
        hbm_download(ts.out, o);
        err_std = verify_max_abs(oref, o, n);
        hbm_download(tf.out, o);
        err_f1 = verify_max_abs(oref, o, n);
        for (size_t x = 0; x < n; x++) {
            vmax = fmax(vmax, fabs(v[x]));
            omax = fmax(omax, fabs(oref[x]));
        }
        double u = dtype_eps(dt);
        tol = ERR_FACTOR * err_std + FLOOR_ROUNDINGS * u * omax + (dt == DTYPE_FP32 ? 0 : (double)Tc * u * vmax);
        ok_err = !isnan(err_std) && err_f1 <= tol;   /* NaN compares false: it fails */
        free(oref);
        if (say) {
            printf("Errors against the double-precision reference (max |O - O_ref|):\n");
            printf("    standard  %.3g   (S and P stored in %s: the materialized %s implementation)\n", err_std,
                   dtype_name(dt), dtype_name(dt));
            printf("    flash1    %.3g   allowed %.3g = 2 x standard + 2u·max|O|%s  %s\n", err_f1, tol,
                   dt == DTYPE_FP32 ? "" : " + Tc·u·max|V|", report_mark(ok_err));
            if (dt != DTYPE_FP32)
                printf("    In %s, line 12 rounds Oi to %s each time it is written: %zu times per row here. That is\n"
                       "    FlashAttention-1's precision cost (FlashAttention-2 keeps Oi in fp32 on chip: lesson06).\n",
                       dtype_name(dt), dtype_name(dt), Tc);
            putchar('\n');
        }
    }

    summary_t s;
    summary_begin(&s, cfg, "flash1", pf.Br, pf.Bc);
    summary_ledger(&s, mf);
    if (count_only)
        summary_str(&s, "max_abs_err", "na");
    else
        summary_f64(&s, "max_abs_err", err_f1);
    summary_u64(&s, "Tr", Tr);
    summary_u64(&s, "Tc", Tc);
    summary_u64(&s, "tiles", iof.tiles);
    summary_u64(&s, "skipped", iof.skipped);
    summary_u64(&s, "closed_form_ok", ok_f1 && ok_lines);
    io_count a = mem_io(ms, NULL, NULL);
    summary_u64(&s, "std_Br", ps.Br);
    summary_u64(&s, "std_Bc", ps.Bc);
    summary_u64(&s, "std_hbm_read_elems", a.rd_elems);
    summary_u64(&s, "std_hbm_write_elems", a.wr_elems);
    summary_u64(&s, "std_hbm_read_bytes", a.rd_bytes);
    summary_u64(&s, "std_hbm_write_bytes", a.wr_bytes);
    summary_u64(&s, "std_sram_peak_bytes", sram_peak(ms));
    summary_u64(&s, "std_hbm_peak_bytes", mem_hbm_peak(ms));
    summary_u64(&s, "std_flops", mem_flops(ms, NULL));
    summary_u64(&s, "std_exps", mem_exps(ms, NULL));
    summary_u64(&s, "std_softmax_passes", ios.softmax_passes);
    summary_u64(&s, "std_closed_form_ok", ok_std);
    if (count_only)
        summary_str(&s, "std_max_abs_err", "na");
    else
        summary_f64(&s, "std_max_abs_err", err_std);
    summary_print(&s, stdout);

    attn_free(ms, &ts);
    attn_free(mf, &tf);
    mem_destroy(ms);
    mem_destroy(mf);
    free(q), free(k), free(v), free(o);
    return ok_ledgers && ok_err ? 0 : 1;
}

LESSON_MAIN(lesson04_spec, lesson04_run)
