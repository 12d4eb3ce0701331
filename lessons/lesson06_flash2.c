/* lesson06_flash2.c — FlashAttention-2's forward pass (Dao 2023, Algorithm 1) beside FlashAttention-1.
 *
 * What it teaches (the seed course's FlashAttention-2 chapter; Dao 2023, Section 3.1 and Algorithm 1):
 *   1  the loop order: query blocks outside, key/value blocks inside; Qi is loaded once, and Oi, li, mi stay on chip
 *      for the whole row block, so Oi and the log-sum-exp Li are written to HBM once:
 *        reads = Nd + 2Nd·Tr, writes = Nd + N per head (FlashAttention-1 writes (Nd + 2N) + Tc(Nd + 2N)).
 *      Qi is the resident block, so it is the big one: the paper's rule transposed, Br = ⌈M/4d⌉, Bc = min(Br, d).
 *   2  delayed rescaling: Oi stays unnormalized, only multiplied by e^(m_old - m_new) per block, and is divided by
 *      li once at the end; Li = mi + log li is all the backward pass needs (lesson07). Shown for one row.
 *   3  which block is the big one: FA1 (paper's rule, big Bc), FA2 under FA1's rule (Br <= d) and FA2 under its own
 *      rule, same inputs and M: blocks, Tr and Tc, every tensor's reads and writes, each checked (✓) against its
 *      closed form. Under FA1's rule FA2 re-reads K and V N/d times; under its own about 4dN/M times.
 *   4  causal masking with block skipping: tiles after the diagonal are never loaded; the lesson counts them and
 *      the traffic saved, draws the map, and checks that rows fully masked inside a visited tile give no NaN.
 *   5  parallelism: no row block reads what another writes, so (batch, head, query block) triples run on any
 *      thread; each worker has its own SRAM and ledger; counts and outputs are identical for any thread count.
 * The lesson checks every counted ledger against its closed form (✓/✗) and exits 1 if one differs.
 * Algorithm lines: FA2 Alg.1 lines 3-15 (sim/model/attn_flash2.c); Alg.1 of FlashAttention-1 for comparison.
 * Run:  ./lesson06                      N=19, d=4, M=512 B: 4 x 5 tiles of 6 x 4, the last ones short
 *       ./lesson06 --causal             part 1 with the causal mask too
 *       ./lesson06 -N 4096 -d 64 -M 96K --threads 2 --count-only      the ledgers at scale
 * Summary: algo=flash2 with part 1's ledger and max_abs_err; L_max_abs_err; fa1_* keys (FlashAttention-1 under the
 *   paper's rule, its own blocks); fa2_fa1_rule_* keys (FlashAttention-2 under FA1's rule); causal_* keys (tiles,
 *   skipped, read elements saved); threads_identical; closed_form_ok.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"  // defines: attn_params, attn_alloc, attn_forward, attn_io_closed_form, attn_tile_skipped
#include "blocks.h"     // defines: BLOCK_RULE_KV_OUTER
#include "lessons.h"
#include "reference.h"  // defines: ref_attention_bnhd
#include "rng.h"
#include "summary.h"
#include "report.h"
#include "tilemap.h"    // defines: tilewalk_open, tilemap_print
#include "util.h"
#include "verify.h"

#define BRIEF_MAX_TILES 64            /* one line per tile up to this many (one head) */
#define MAP_MAX_TILES 1024            /* the map of visited and skipped tiles */
#define MAX_TILES ((uint64_t)1 << 27) /* a loop over more tiles takes minutes even in count-only mode */
#define MAX_FLOPS 2e10                /* real arithmetic beyond this takes minutes: use --count-only */
#define SHOW_COLS 3                   /* columns of O shown in the delayed-rescaling table */
/* L = m + log l is fp32 arithmetic on chip in every dtype: ~100 fp32 ulps of the largest |L| at most. */
#define L_RTOL 1e-5
/* O: Tri Dao's method, as in lesson04 and the tests: 2 x the materialized low-precision error + two roundings. */
#define ERR_FACTOR 2.0
#define FLOOR_ROUNDINGS 2.0

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
};

/* The blocks of one run: the rule given, fitted to the algorithm's SRAM plan, or one line and exit 2. */
static attn_params choose(const cli_cfg *cfg, attn_algo a, block_rule rule, block_choice *bc)
{
    attn_params p = {.algo = a, .B = cfg->B, .N = cfg->N, .H = cfg->H, .d = cfg->d, .causal = cfg->causal,
                     .threads = cfg->threads};
    char err[512];
    if (attn_choose_blocks_rule(&p, false, cfg->M_bytes, cfg->dtype, cfg->Br, cfg->Bc, rule, bc, err, sizeof err))
        fl_fatal("%s: %s", attn_algo_name(a), err);
    return p;
}


typedef struct {
    mem_t *m;
    attn_tensors t;
    float *o, *L;      /* downloaded outputs (NULL in count-only mode) */
} run_t;

/* One forward pass on a fresh model; observers (a walk, a map) come and go around it. */
static run_t run(const cli_cfg *cfg, const attn_params *p, const float *q, const float *k, const float *v,
                 trace_t *tr, tilewalk_view view, bool walk, tilemap *map)
{
    run_t r = {mem_create(cfg->M_bytes, cfg->count_only), {0}, NULL, NULL};
    if (tr)
        trace_follow(tr, r.m);
    r.t = attn_alloc(r.m, p, cfg->dtype, false);
    hbm_upload(r.t.q, q);
    hbm_upload(r.t.k, k);
    hbm_upload(r.t.v, v);
    size_t Tr = ceil_div(p->N, p->Br), Tc = ceil_div(p->N, p->Bc);
    tilewalk *w = walk ? tilewalk_open(r.m, Tr, Tc, view, stdout, NULL, NULL) : NULL;
    if (map)
        mem_observe(r.m, tilemap_paint_step, map);
    attn_forward(r.m, p, &r.t);
    if (map)
        mem_unobserve(r.m, tilemap_paint_step, map);
    if (w)
        tilemap_free(tilewalk_close(w));
    if (!cfg->count_only) {
        size_t n = hbm_numel(r.t.out), nl = p->B * p->H * p->N;
        r.o = xmalloc(n * sizeof *r.o);
        hbm_download(r.t.out, r.o);
        if (r.t.lse) {
            r.L = xmalloc(nl * sizeof *r.L);
            hbm_download(r.t.lse, r.L);
        }
    }
    return r;
}

static void run_free(run_t *r)
{
    attn_free(r->m, &r->t);
    mem_destroy(r->m);
    free(r->o), free(r->L);
}

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

static bool same_counts(const mem_t *a, const mem_t *b)
{
    bool ok = mem_flops(a, NULL) == mem_flops(b, NULL) && mem_exps(a, NULL) == mem_exps(b, NULL) &&
              sram_peak(a) == sram_peak(b);
    for (size_t x = 0; x < mem_ntensors(a); x++) {
        io_count ca = mem_io(a, mem_tensor_name(a, x), NULL), cb = mem_io(b, mem_tensor_name(a, x), NULL);
        ok = ok && !memcmp(&ca, &cb, sizeof ca);
    }
    return ok;
}

/* A row of head 0 whose running max grows after the first key block as often as possible (among the first
 * PICK_ROWS), so the table shows the rescaling at work. With the causal mask only row N-1 sees every key block. */
#define PICK_ROWS 64
static size_t pick_row(const attn_params *p, const float *q, const float *k)
{
    size_t N = p->N, d = p->d, H = p->H, best = N - 1, most = 0;
    if (p->causal)
        return best;
    for (size_t row = 0; row < min_size(N, PICK_ROWS); row++) {
        size_t grows = 0;
        double m = -INFINITY;
        for (size_t j0 = 0; j0 < N; j0 += p->Bc) {
            double mx = -INFINITY;
            for (size_t c = j0; c < min_size(j0 + p->Bc, N); c++) {
                double s = 0;
                for (size_t x = 0; x < d; x++)
                    s += (double)q[row * H * d + x] * k[c * H * d + x];
                mx = fmax(mx, s);
            }
            grows += j0 > 0 && mx > m;
            m = fmax(m, mx);
        }
        if (grows > most) {
            most = grows;
            best = row;
        }
    }
    return best;
}

/* Part 2: FA2's recurrence for one row of head 0 that sees every key, block by block, with the simulator's
 * arithmetic: the same fp32 operations in the same order, so the result must equal its row bitwise. */
static bool rescaling_table(const cli_cfg *cfg, const attn_params *p, const float *q, const float *k, const float *v,
                            const run_t *r)
{
    size_t N = p->N, d = p->d, H = p->H, Bc = p->Bc, Tc = ceil_div(N, Bc), row = pick_row(p, q, k);
    size_t show = min_size(d, SHOW_COLS);
    float scale = (float)(1.0 / sqrt((double)d)), m = -INFINITY, l = 0;
    float *O = xcalloc(d, sizeof *O), *s = xmalloc(Bc * sizeof *s);
    const float *qr = q + row * H * d;   /* head (0, 0): rows are H*d apart in (B, N, H, d) */
    printf("  row %zu of head 0, key block by key block (FA2 lines 8-10, then 12-13):\n", row);
    printf("    %3s %11s %11s %11s %13s %11s   O (unnormalized, first %zu columns)\n", "j", "m_old", "rowmax S",
           "m_new", "e^(m_old-m_new)", "l", show);
    for (size_t j = 0; j < Tc; j++) {
        size_t k0 = j * Bc, kc = min_size(Bc, N - k0);
        float rowmax = -INFINITY, sum = 0;
        for (size_t c = 0; c < kc; c++) {   /* line 8: S = scale q K_j^T */
            float acc = 0;
            for (size_t x = 0; x < d; x++)
                acc += qr[x] * k[(k0 + c) * H * d + x];
            s[c] = scale * acc;
            rowmax = fmaxf(rowmax, s[c]);
        }
        float m_new = fmaxf(m, rowmax), alpha = expf(m - m_new);   /* line 9; m_new is finite: key 0 is unmasked */
        for (size_t c = 0; c < kc; c++)   /* line 9: P~ = exp(S - m_new), l = alpha l + rowsum P~ */
            sum += (s[c] = expf(s[c] - m_new));
        float l_new = alpha * l + sum;
        for (size_t x = 0; x < d; x++) {  /* line 10: O = alpha O + P~ V_j; no division */
            float pv = 0;
            for (size_t c = 0; c < kc; c++)
                pv += s[c] * v[(k0 + c) * H * d + x];
            O[x] = alpha * O[x] + pv;
        }
        printf("    %3zu %11.5g %11.5g %11.5g %13.5g %11.5g  ", j, m, rowmax, m_new, alpha, l_new);
        for (size_t x = 0; x < show; x++)
            printf(" %10.5g", O[x]);
        putchar('\n');
        m = m_new;
        l = l_new;
    }
    bool same = true;
    printf("    line 12: O = O / l =");
    for (size_t x = 0; x < d; x++) {
        float o = dtype_round(cfg->dtype, O[x] / l);
        same = same && o == r->o[row * H * d + x];
        if (x < show)
            printf(" %10.5g", o);
    }
    float L = m + logf(l);
    same = same && L == r->L[row];
    printf("%s\n    line 13: L = m + log l = %.7g\n", d > show ? " ..." : "", L);
    printf("    the simulator's row %zu of O and its L: %s\n", row,
           same ? "the same, bit for bit ✓" : "DIFFERENT ✗");
    free(O), free(s);
    return same;
}

int lesson06_run(const cli_cfg *cfg)
{
    size_t N = cfg->N, d = cfg->d, heads = cfg->B * cfg->H, n = cfg->B * N * cfg->H * d, nl = heads * N;
    dtype_t dt = cfg->dtype;
    bool say = !cfg->quiet, count_only = cfg->count_only, causal = cfg->causal;
    bool trace_on_stdout = cfg->trace != TRACE_NONE && !cfg->trace_file;

    /* Each algorithm's own rule: the resident block is the big one. And flash2 under flash1's rule (part 3). */
    block_choice bc, bc1, bcr;
    attn_params p2 = choose(cfg, ATTN_FLASH2, attn_block_rule(ATTN_FLASH2, false), &bc);
    attn_params p1 = choose(cfg, ATTN_FLASH1, attn_block_rule(ATTN_FLASH1, false), &bc1);
    attn_params pr = choose(cfg, ATTN_FLASH2, BLOCK_RULE_KV_OUTER, &bcr);
    attn_params pc = p2, pn = p2;
    pc.causal = true;
    pn.causal = false;
    size_t Tr = ceil_div(N, p2.Br), Tc = ceil_div(N, p2.Bc);
    uint64_t most = 0;
    const attn_params *all[] = {&p2, &p1, &pr};
    for (size_t x = 0; x < 3; x++) {
        uint64_t t = (uint64_t)ceil_div(N, all[x]->Br) * ceil_div(N, all[x]->Bc) * heads;
        most = t > most ? t : most;
    }
    if (most > MAX_TILES)
        fl_fatal("%llu tiles are too many to walk one by one (at most %llu); use a larger M or a smaller N",
                 (unsigned long long)most, (unsigned long long)MAX_TILES);
    if (!count_only && 14.0 * (double)N * (double)N * (double)d * (double)heads > MAX_FLOPS)
        fl_fatal("14·N²·d·heads = %.3g FLOPs of real arithmetic (six passes and two references) would take "
                 "minutes; add --count-only or use a smaller N",
                 14.0 * (double)N * (double)N * (double)d * (double)heads);
    bool show = say && !trace_on_stdout;

    float *q = xmalloc(n * sizeof *q), *k = xmalloc(n * sizeof *k), *v = xmalloc(n * sizeof *v);
    rng_t rng;
    rng_seed(&rng, cfg->seed);
    rng_fill_normal(&rng, q, n, 1.0f);
    rng_fill_normal(&rng, k, n, 1.0f);
    rng_fill_normal(&rng, v, n, 1.0f);
    for (size_t x = 0; x < n; x++) {   /* what HBM holds: the reference sees the same rounded values */
        q[x] = dtype_round(dt, q[x]);
        k[x] = dtype_round(dt, k[x]);
        v[x] = dtype_round(dt, v[x]);
    }
    bool ok = true;

    /* ---- part 1: the loop order ------------------------------------------------------------------------------- */
    attn_io io2;
    attn_io_closed_form(&p2, false, &io2);
    if (say) {
        printf("lesson06 — %s\n\n", lesson06_spec.title);
        printf("Q, K, V: %zu x %zu head%s of N=%zu rows x d=%zu, %s, in HBM%s.  SRAM: M = %zu bytes.\n", cfg->B,
               cfg->H, heads > 1 ? "s" : "", N, d, dtype_name(dt), causal ? "; causal mask" : "", cfg->M_bytes);
        printf("Blocks for FlashAttention-2 (its SRAM plan must fit M; part 3 shows FlashAttention-1's):\n");
        fl_print_wrapped(stdout, "  ", bc.rule, 100);
        printf("  Tr = %zu query blocks, Tc = %zu key blocks.\n\n", Tr, Tc);
        printf("Part 1 — FlashAttention-2, Algorithm 1 (Dao 2023): the loops swapped\n");
        printf("   3  for 1 <= i <= Tr:\n");
        printf("   4    load Qi from HBM to on-chip SRAM\n");
        printf("   5    on chip, Oi = (0)Br x d, li = (0)Br, mi = (-inf)Br\n");
        printf("   6    for 1 <= j <= Tc:\n");
        printf("   7      load Kj, Vj from HBM to on-chip SRAM\n");
        printf("   8      on chip, Sij = Qi Kj^T\n");
        printf("   9      on chip, mi_new = max(mi, rowmax(Sij)), P~ij = exp(Sij - mi_new),\n"
               "          li = e^(mi - mi_new) li + rowsum(P~ij)\n");
        printf("  10      on chip, Oi = diag(e^(mi - mi_new)) Oi + P~ij Vj\n");
        printf("  12    on chip, Oi = diag(li)^-1 Oi\n");
        printf("  13    on chip, Li = mi + log(li)\n");
        printf("  14    write Oi to HBM\n");
        printf("  15    write Li to HBM\n");
        printf("  SRAM: Qi, Kj, Vj in %s; Sij, Oi (fp32, unnormalized), mi, li: %zu bytes.\n\n", dtype_name(dt),
               attn_sram_need(ATTN_FLASH2, false, p2.Br, p2.Bc, d, dt));
    }
    trace_t *tr = NULL;
    mem_t *mtr = NULL;
    if (cfg->trace != TRACE_NONE) {   /* one trace stream follows every model of the lesson */
        mtr = mem_create(cfg->M_bytes, true);
        tr = cli_trace_open(cfg, mtr);
    }
    bool brief = show && !causal && heads == 1 && Tr * Tc <= BRIEF_MAX_TILES;
    tilemap *map1 = show && causal && Tr * Tc <= MAP_MAX_TILES ? tilemap_create(Tr, Tc) : NULL;
    if (brief)
        printf("  one line per tile: Qi is loaded once per row, Oi and Li stored once, at the row's last tile\n");
    run_t r2 = run(cfg, &p2, q, k, v, tr, TILEWALK_BRIEF, brief, map1);
    if (map1) {
        printf("  the %zu x %zu tiles of head 0:\n", Tr, Tc);
        tilemap_print(map1, stdout, "  ");
        tilemap_free(map1);
        putchar('\n');
    }
    bool ok2 = ledger_equals(r2.m, &io2);
    io_count t2 = mem_io(r2.m, NULL, NULL);
    uint64_t BH = heads, Nd = (uint64_t)N * d;
    if (say)
        printf("\n  FlashAttention-2's ledger from its lines%s, against the count (elements):\n",
               heads > 1 ? " (per head, times B·H)" : "");
    const char *kv = causal ? "line 7: key rows visited·d" : "line 7: Tr·N·d";
    ok2 &= report_check(say, 14, "Q reads", "line 4: N·d, once", BH * Nd, mem_io(r2.m, "Q", NULL).rd_elems);
    ok2 &= report_check(say, 14, "K reads", kv, io2.row[1].rd, mem_io(r2.m, "K", NULL).rd_elems);
    ok2 &= report_check(say, 14, "V reads", kv, io2.row[2].rd, mem_io(r2.m, "V", NULL).rd_elems);
    ok2 &= report_check(say, 14, "O writes", "line 14: N·d, once", BH * Nd, mem_io(r2.m, "O", NULL).wr_elems);
    ok2 &= report_check(say, 14, "L writes", "line 15: N, once", BH * N, mem_io(r2.m, "L", NULL).wr_elems);
    if (!causal)
        ok2 &= report_check(say, 14, "total reads", "Nd + 2Nd·Tr", BH * (Nd + 2 * Nd * Tr), t2.rd_elems);
    ok2 &= report_check(say, 14, "total writes", "Nd + N", BH * (Nd + N), t2.wr_elems);
    ok = ok && ok2;

    /* errors against the double reference */
    double err_o = NAN, err_L = NAN, tol = NAN, tol_L = NAN;
    double *oref = NULL, *Lref = NULL;
    if (!count_only) {
        oref = xmalloc(n * sizeof *oref);
        Lref = xmalloc(nl * sizeof *Lref);
        double *olow = xmalloc(n * sizeof *olow), err_low = 0, omax = 0, lmax = 0;
        double scale = 1.0 / sqrt((double)d);
        ref_attention_bnhd(q, k, v, cfg->B, N, cfg->H, d, scale, causal, oref, Lref);
        ref_attention_lowp_bnhd(q, k, v, cfg->B, N, cfg->H, d, scale, causal, dt, olow);
        for (size_t x = 0; x < n; x++) {
            err_low = fmax(err_low, fabs(olow[x] - oref[x]));
            omax = fmax(omax, fabs(oref[x]));
        }
        for (size_t x = 0; x < nl; x++)
            lmax = fmax(lmax, fabs(Lref[x]));
        free(olow);
        err_o = verify_max_abs(oref, r2.o, n);
        err_L = verify_max_abs(Lref, r2.L, nl);
        tol = ERR_FACTOR * err_low + FLOOR_ROUNDINGS * dtype_eps(dt) * omax;
        tol_L = L_RTOL * (1 + lmax);
        bool ok_e = err_o <= tol && err_L <= tol_L;   /* NaN fails both */
        ok = ok && ok_e;
        if (say)
            printf("  max |O - O_ref| = %.3g (allowed %.3g: 2 x a materialized %s implementation's %.3g + 2u·max|O|) "
                   "%s\n  max |L - L_ref| = %.3g (allowed %.3g) %s\n", err_o, tol, dtype_name(dt), err_low,
                   report_mark(err_o <= tol), err_L, tol_L, report_mark(err_L <= tol_L));
    }

    /* ---- part 2: delayed rescaling and the log-sum-exp --------------------------------------------------------- */
    if (say) {
        printf("\nPart 2 — delayed rescaling: Oi is divided by li once, after the last key block\n");
        printf("  FlashAttention-1 divides by li_new on every tile (line 12) and must store mi, li to undo it next\n"
               "  time. FlashAttention-2 keeps Oi unnormalized in fp32: each block only multiplies it by\n"
               "  e^(m_old - m_new) <= 1 when the running max grows. Li = mi + log li, one number per row, is what\n"
               "  the backward pass needs to rebuild P = exp(S - L) (lesson07).\n");
    }
    if (say && !count_only && !trace_on_stdout)
        ok = rescaling_table(cfg, &p2, q, k, v, &r2) && ok;

    /* ---- part 3: which block is the big one ------------------------------------------------------------------ */
    attn_io io1, ior;
    attn_io_closed_form(&p1, false, &io1);
    attn_io_closed_form(&pr, false, &ior);
    run_t r1 = run(cfg, &p1, q, k, v, tr, TILEWALK_BRIEF, false, NULL);
    run_t rr = run(cfg, &pr, q, k, v, tr, TILEWALK_BRIEF, false, NULL);
    bool ok1 = ledger_equals(r1.m, &io1), okr = ledger_equals(rr.m, &ior);
    io_count t1 = mem_io(r1.m, NULL, NULL), tr_ = mem_io(rr.m, NULL, NULL);
    double err_o1 = count_only ? NAN : verify_max_abs(oref, r1.o, n);
    double err_or = count_only ? NAN : verify_max_abs(oref, rr.o, n);
    if (!count_only)   /* the same algorithm as part 1 on other blocks: the same tolerance (NaN fails) */
        ok = ok && err_or <= tol;
    ok = ok && ok1 && okr;
    if (say) {
        const run_t *rs[3] = {&r1, &rr, &r2};
        const attn_params *ps[3] = {&p1, &pr, &p2};
        const io_count *ts[3] = {&t1, &tr_, &t2};
        const bool oks[3] = {ok1, okr, ok2};
        printf("\nPart 3 — which block is the big one: the loop order decides (same inputs, same M%s)\n",
               heads > 1 ? "; elements, all heads" : "; elements");
        printf("  The outer loop's block stays in SRAM; the inner loop's blocks stream past it once per outer block:\n"
               "    FlashAttention-1 keeps Kj, Vj and streams Q, O:  reads 2Nd + Tc(2Nd + 2N)  - a big Bc pays\n"
               "    FlashAttention-2 keeps Qi and streams K, V:      reads Nd + 2Nd·Tr         - a big Br pays\n"
               "  The paper's rule (Bc = ceil(M/4d), Br = min(Bc, d)) was made for the first; FlashAttention-2 takes\n"
               "  it transposed. Each run's blocks, fitted to its own SRAM plan:\n");
        printf("  flash1, the paper's rule:\n");
        fl_print_wrapped(stdout, "    ", bc1.rule, 100);
        printf("  flash2 under flash1's rule:\n");
        fl_print_wrapped(stdout, "    ", bcr.rule, 100);
        printf("  flash2, its own rule: Br=%zu, Bc=%zu (part 1)\n\n", p2.Br, p2.Bc);
        printf("    %-12s %23s   %23s   %23s\n", "", "flash1", "flash2, flash1's rule", "flash2, its own rule");
        char b[3][32];
        for (size_t x = 0; x < 3; x++)
            snprintf(b[x], sizeof b[x], "%zu x %zu", ps[x]->Br, ps[x]->Bc);
        printf("    %-12s %23s   %23s   %23s\n", "Br x Bc", b[0], b[1], b[2]);
        for (size_t x = 0; x < 3; x++)
            snprintf(b[x], sizeof b[x], "%zu x %zu", ceil_div(N, ps[x]->Br), ceil_div(N, ps[x]->Bc));
        printf("    %-12s %23s   %23s   %23s\n", "Tr x Tc", b[0], b[1], b[2]);
        printf("    %-12s %11s %11s   %11s %11s   %11s %11s\n", "tensor", "reads", "writes", "reads", "writes",
               "reads", "writes");
        static const char *const names[] = {"Q", "K", "V", "O", "m", "l", "L"};
        for (size_t x = 0; x < sizeof names / sizeof names[0]; x++) {
            printf("    %-12s", names[x]);
            for (size_t y = 0; y < 3; y++) {
                io_count c = mem_io(rs[y]->m, names[x], NULL);
                printf(" %11llu %11llu%s", (unsigned long long)c.rd_elems, (unsigned long long)c.wr_elems,
                       y < 2 ? "  " : "\n");
            }
        }
        printf("    %-12s", "total");
        for (size_t y = 0; y < 3; y++)
            printf(" %11llu %11llu%s", (unsigned long long)ts[y]->rd_elems, (unsigned long long)ts[y]->wr_elems,
                   y < 2 ? "  " : "\n");
        printf("    %-12s", "bytes rd+wr");
        for (size_t y = 0; y < 3; y++)
            printf(" %23llu%s", (unsigned long long)(ts[y]->rd_bytes + ts[y]->wr_bytes), y < 2 ? "  " : "\n");
        printf("    %-12s", "closed form");
        for (size_t y = 0; y < 3; y++)
            printf(" %25s%s", report_mark(oks[y]), y < 2 ? "  " : "\n");   /* ✓ is 3 bytes, 1 column */
        double byt1 = (double)(t1.rd_bytes + t1.wr_bytes);
        printf("  FlashAttention-1 writes Oi, li, mi after every visited tile: %.3g x FlashAttention-2's writes.\n",
               (double)t1.wr_elems / (double)t2.wr_elems);
        printf("  FlashAttention-2 reads K and V once per query block: Tr = %zu times under flash1's rule (Br = %zu),\n"
               "  %zu under its own (Br = %zu). Its bytes, against FlashAttention-1's: %.3g x under flash1's rule,\n"
               "  %.3g x under its own.\n", ceil_div(N, pr.Br), pr.Br, Tr, p2.Br,
               (double)(tr_.rd_bytes + tr_.wr_bytes) / byt1, (double)(t2.rd_bytes + t2.wr_bytes) / byt1);
        if (!count_only)
            printf("  errors against the double reference: flash1 %.3g, flash2 under flash1's rule %.3g, "
                   "flash2 %.3g%s\n", err_o1, err_or, err_o,
                   dt == DTYPE_FP32 ? "" : "\n  (flash1 rounds Oi to the storage type after every key block)");
    }

    /* ---- part 4: causal masking with block skipping ------------------------------------------------------------ */
    attn_io ioc, ion;
    attn_io_closed_form(&pc, false, &ioc);
    attn_io_closed_form(&pn, false, &ion);
    tilemap *map = show && Tr * Tc <= MAP_MAX_TILES ? tilemap_create(Tr, Tc) : NULL;
    run_t rc = run(cfg, &pc, q, k, v, tr, TILEWALK_BRIEF, false, map);
    cli_trace_close(cfg, tr);
    mem_destroy(mtr);
    bool okc = ledger_equals(rc.m, &ioc);
    ok = ok && okc;
    io_count tc = mem_io(rc.m, NULL, NULL);
    /* rows fully masked inside a visited tile: queries q < j*Bc of tile (i, j) (every key of the tile is after them) */
    uint64_t masked_rows = 0, bad = 0;
    for (size_t i = 0; i < Tr; i++)
        for (size_t j = 0; j < Tc; j++)
            if (!attn_tile_skipped(&pc, i, j)) {
                size_t q0 = i * p2.Br, qr = min_size(p2.Br, N - q0), k0 = j * p2.Bc;
                masked_rows += k0 > q0 ? min_size(k0 - q0, qr) : 0;
            }
    double err_c = NAN;
    if (!count_only) {
        for (size_t x = 0; x < n; x++)
            bad += isnan(rc.o[x]);
        for (size_t x = 0; x < nl; x++)
            bad += isnan(rc.L[x]);
        double *oc = xmalloc(n * sizeof *oc);
        ref_attention_bnhd(q, k, v, cfg->B, N, cfg->H, d, 1.0 / sqrt((double)d), true, oc, NULL);
        err_c = verify_max_abs(oc, rc.o, n);
        free(oc);
        ok = ok && !bad && !isnan(err_c);
    }
    if (say) {
        printf("\nPart 4 — causal masking: key k > query q is masked; a tile whose first key comes after its last\n"
               "  query is skipped: no Kj, Vj loads, no work. (Standard attention computes and reads all N² anyway.)\n");
        if (map) {
            printf("  the %zu x %zu tiles of head 0 under the causal mask:\n", Tr, Tc);
            tilemap_print(map, stdout, "  ");
            tilemap_free(map);
        }
        printf("  tiles visited %llu, skipped %llu of %llu (closed form: Tc + (Tr-1) + Σ_i ⌊(i·Br + Br-1)/Bc⌋ per "
               "head)\n", (unsigned long long)ioc.tiles, (unsigned long long)ioc.skipped,
               (unsigned long long)(ioc.tiles + ioc.skipped));
        printf("  K and V reads: %llu instead of %llu; traffic saved: %llu of %llu elements (%.1f%%)  ledger %s\n",
               (unsigned long long)(2 * ioc.row[1].rd), (unsigned long long)(2 * ion.row[1].rd),
               (unsigned long long)(ion.rd + ion.wr - ioc.rd - ioc.wr), (unsigned long long)(ion.rd + ion.wr),
               100.0 * (double)(ion.rd + ion.wr - ioc.rd - ioc.wr) / (double)(ion.rd + ion.wr), report_mark(okc));
        printf("  rows fully masked inside a visited tile: %llu (row, tile) pairs. Their scores are all -inf there,\n"
               "  so P~ = 0 and the factor e^(m_old - m_new) = 1 (every row's own key 0 sits in the first block, so\n"
               "  m is finite from then on; the code still subtracts 0 instead of -inf, never -inf - -inf).\n",
               (unsigned long long)masked_rows);
        if (!count_only)
            printf("  NaN in O and L: %llu %s; max |O - O_ref| (causal) = %.3g\n", (unsigned long long)bad,
                   report_mark(!bad), err_c);
    }

    /* ---- part 5: parallelism over query blocks ---------------------------------------------------------------- */
    attn_params pt = p2;
    pt.threads = 1;
    run_t r_one = run(cfg, &pt, q, k, v, NULL, TILEWALK_BRIEF, false, NULL);
    bool same = same_counts(r_one.m, r2.m) &&
                (count_only || (!memcmp(r_one.o, r2.o, n * sizeof *r2.o) && !memcmp(r_one.L, r2.L, nl * sizeof *r2.L)));
    ok = ok && same;
    if (say) {
        printf("\nPart 5 — parallel query blocks\n");
        printf("  FA2's iterations of the outer loop share nothing: block i reads Qi, K, V and writes only Oi, Li.\n"
               "  So B·H·Tr = %zu (batch, head, query block) triples are independent work (FA1 has B·H = %zu: its\n"
               "  j loop passes Oi from one key block to the next through HBM). Each OpenMP worker gets its own SRAM\n"
               "  of M bytes and its own ledger, added up exactly at the end; no floating-point sum crosses threads.\n",
               heads * Tr, heads);
        if (pr.Br < p2.Br)
            printf("  The big query block costs parallelism: %zu triples here, %zu under flash1's rule (Br = %zu).\n"
                   "  Real kernels pick Br, Bc from {64, 128} (Dao 2023) and fill a GPU with B·H·Tr blocks.\n", heads * Tr,
                   heads * ceil_div(N, pr.Br), pr.Br);
        printf("  this run (--threads %d%s) against one thread: counts %s, O and L %s\n", cfg->threads,
               cfg->threads ? "" : ": OpenMP's default", same_counts(r_one.m, r2.m) ? "identical ✓" : "DIFFER ✗",
               count_only ? "not computed" : same ? "bitwise identical ✓" : "DIFFER ✗");
        putchar('\n');
    }

    summary_t s;
    summary_begin(&s, cfg, "flash2", p2.Br, p2.Bc);
    summary_ledger(&s, r2.m);
    if (count_only) {
        summary_str(&s, "max_abs_err", "na");
        summary_str(&s, "L_max_abs_err", "na");
    } else {
        summary_f64(&s, "max_abs_err", err_o);
        summary_f64(&s, "L_max_abs_err", err_L);
    }
    summary_u64(&s, "Tr", Tr);
    summary_u64(&s, "Tc", Tc);
    summary_u64(&s, "tiles", io2.tiles);
    summary_u64(&s, "skipped", io2.skipped);
    summary_u64(&s, "fa1_Br", p1.Br);
    summary_u64(&s, "fa1_Bc", p1.Bc);
    summary_u64(&s, "fa1_hbm_read_elems", t1.rd_elems);
    summary_u64(&s, "fa1_hbm_write_elems", t1.wr_elems);
    summary_u64(&s, "fa1_hbm_read_bytes", mem_io(r1.m, NULL, NULL).rd_bytes);
    summary_u64(&s, "fa1_hbm_write_bytes", mem_io(r1.m, NULL, NULL).wr_bytes);
    summary_u64(&s, "fa1_sram_peak_bytes", sram_peak(r1.m));
    if (count_only)
        summary_str(&s, "fa1_max_abs_err", "na");
    else
        summary_f64(&s, "fa1_max_abs_err", err_o1);
    summary_u64(&s, "fa2_fa1_rule_Br", pr.Br);
    summary_u64(&s, "fa2_fa1_rule_Bc", pr.Bc);
    summary_u64(&s, "fa2_fa1_rule_hbm_read_elems", tr_.rd_elems);
    summary_u64(&s, "fa2_fa1_rule_hbm_write_elems", tr_.wr_elems);
    summary_u64(&s, "fa2_fa1_rule_hbm_read_bytes", tr_.rd_bytes);
    summary_u64(&s, "fa2_fa1_rule_hbm_write_bytes", tr_.wr_bytes);
    if (count_only)
        summary_str(&s, "fa2_fa1_rule_max_abs_err", "na");
    else
        summary_f64(&s, "fa2_fa1_rule_max_abs_err", err_or);
    summary_u64(&s, "causal_tiles", ioc.tiles);
    summary_u64(&s, "causal_skipped", ioc.skipped);
    summary_u64(&s, "causal_hbm_read_elems", tc.rd_elems);
    summary_u64(&s, "causal_hbm_write_elems", tc.wr_elems);
    summary_u64(&s, "causal_saved_elems", ion.rd + ion.wr - ioc.rd - ioc.wr);
    summary_u64(&s, "causal_masked_rows", masked_rows);
    summary_u64(&s, "threads_identical", same);
    summary_u64(&s, "closed_form_ok", ok1 && ok2 && okr && okc);
    summary_print(&s, stdout);

    run_free(&r2);
    run_free(&r1);
    run_free(&rr);
    run_free(&rc);
    run_free(&r_one);
    free(oref), free(Lref);
    free(q), free(k), free(v);
    return ok ? 0 : 1;
}

LESSON_MAIN(lesson06_spec, lesson06_run)
