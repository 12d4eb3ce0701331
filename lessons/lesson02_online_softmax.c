/* lesson02_online_softmax.c — online softmax: the max and the sum in one pass, block by block.
 *
 * What it teaches (the seed course's online softmax; Milakov & Gimelshein 2018; FlashAttention Alg.1 lines 10-11):
 *   A running max m and a running sum ℓ = Σ e^(x − m) can be kept while the row streams by. When a block raises the
 *   max from m_old to m_new, the sum so far is rescaled: ℓ = ℓ · e^(m_old − m_new) + Σ_block e^(x − m_new). So the
 *   max pass of safe softmax disappears: 2 reads + 1 write of N per row instead of 3 + 1.
 *   Two partial states merge the same way (softmax_merge): the halves of a row can be done apart and combined, which
 *   is what FlashAttention's line 11 does with (m_i, ℓ_i) and the new block's (m~_ij, ℓ~_ij).
 * Algorithm: pass 1, for each block: m_new = max(m_old, max x), ℓ = ℓ e^(m_old − m_new) + Σ e^(x − m_new);
 *   pass 2: y = e^(x − m) / ℓ.
 * Run:  ./lesson02                  the seed's example: a batch of 4 rows x 6, rows in parallel, split in two halves
 *       ./lesson02 -N 1000 --batch 8 -M 1K     more rows and blocks (the trace table is shown when it is short)
 * Summary: algo=online, its ledger (hbm_read_elems = 2RN, hbm_write_elems = RN), max_abs_err against a
 *   double-precision softmax; safe_* keys: safe softmax on the same input and blocks; online_vs_safe_max_abs.
 */
#include <math.h>
#include <stdlib.h>

#include "lab.h"        // defines: lab_softmax_plan, lab_softmax, lab_softmax_err, lab_sum_f64
#include "lessons.h"
#include "rng.h"
#include "softmax.h"    // defines: softmax_online_update, softmax_merge, softmax_closed_form
#include "util.h"
#include "verify.h"     // defines: verify_close

#define LOGIT_STD 2.0f                  /* inputs ~ N(0, 2^2), rounded to one decimal so the tables read easily */
#define TABLE_MAX 32                    /* block-by-block table lines shown at most (rows x blocks) */
#define SHOW_MAX_ROWS 8                 /* the input and the merge shown for up to 8 rows ... */
#define SHOW_MAX_COLS 12                /* ... of up to 12 values */
/* Online vs safe: the same exponentials in fp32 with different subtrahends (a few ulps each, growing with |x − m|,
 * here at most ~20), and each row's ℓ summed in two levels, Bc terms a block then Tc blocks, so each ℓ may be off
 * by (Bc + Tc) ulps (Higham's bound for recursive summation), in either algorithm. */
#define EXP_RTOL 1e-5
/* A stored fp16/bf16 y may land one rounding step apart (2 eps) when the fp32 values straddle a midpoint; below
 * the normal range precision is absolute: one subnormal step (fp16 2^-24; fp32 and bf16 2^-126 is ample). */
static double rtol_for(dtype_t dt, size_t Bc, size_t Tc)
{
    return EXP_RTOL + 2.0 * (double)(Bc + Tc) * 0x1p-24 + (dt == DTYPE_FP32 ? 0 : 2 * dtype_eps(dt));
}
static double atol_for(dtype_t dt) { return dt == DTYPE_FP16 ? 0x1p-24 : 0x1p-126; }

static const char DETAILS[] =
    "The input is R = batch x heads rows of N values x ~ N(0, 2^2) rounded to 0.1. SRAM holds one tile of Br rows\n"
    "x Bc columns and the statistics m, l of its rows; --block-rows and --block-cols set Br and Bc, M chooses them\n"
    "otherwise (the default M = 80 bytes: 4 rows x 3 columns). -d is not used: softmax works on rows of length N.";

const cli_spec lesson02_spec = {
    .name = "lesson02",
    .title = "Block-wise online softmax: two passes instead of three",
    .details = DETAILS,
    .defaults = {.N = 6, .d = 1, .B = 4, .H = 1, .M_bytes = 80, .dtype = DTYPE_FP32, .seed = 1},
    .extra = CLI_OPT_TRACE,
};

/* Pass 1's block-by-block trace: one line per row and block, in the order the rows are updated. */
typedef struct {
    bool show;
    softmax_state *final;   /* each row's state after its last block */
} table_ctx;

static void table_line(size_t r, size_t j, softmax_state before, softmax_state after, float m_block, void *ctx)
{
    table_ctx *t = ctx;
    t->final[r] = after;
    if (!t->show)
        return;
    float rescale = expf(before.m - after.m);   /* for the table only; the update counted its own */
    printf("  %5zu %5zu %9.4g %9.4g %9.4g %14.4g %11.5g\n", r, j, (double)before.m, (double)m_block,
           (double)after.m, before.m == -INFINITY ? 0.0 : (double)rescale, (double)after.l);
}

int lesson02_run(const cli_cfg *cfg)
{
    size_t N = cfg->N, R = cfg->B * cfg->H, n = R * N;
    dtype_t dt = cfg->dtype;
    bool data = !cfg->count_only;
    lab_t L = lab_begin(cfg);
    softmax_io cf, cs;
    softmax_blocks blk = lab_softmax_plan(cfg, SOFTMAX_ONLINE, "online softmax", &cf);
    size_t Br = blk.Br, Bc = blk.Bc, Tc = ceil_div(N, Bc);
    softmax_closed_form(SOFTMAX_SAFE, R, N, Br, Bc, &cs);

    float *x = data ? xmalloc(n * sizeof *x) : NULL, *y = data ? xmalloc(n * sizeof *y) : NULL,
          *ys = data ? xmalloc(n * sizeof *ys) : NULL;
    if (data) {
        rng_t r;
        rng_seed(&r, cfg->seed);
        rng_fill_normal(&r, x, n, LOGIT_STD);
        for (size_t i = 0; i < n; i++)
            x[i] = dtype_round(dt, roundf(10 * x[i]) / 10);   /* as stored in HBM */
    }
    lab_say(&L, "lesson02 — %s\n\nx: %zu row%s of N=%zu values, %s, in HBM. SRAM: M = %zu bytes.\n",
            lesson02_spec.title, R, R > 1 ? "s" : "", N, dtype_name(dt), cfg->M_bytes);
    lab_say_wrapped(&L, "  ", blk.rule);
    lab_say(&L, "  Each row is cut into Tc = ceil(N/Bc) = %zu block%s%s;", Tc, Tc > 1 ? "s" : "",
            Tc == 2 && N % 2 == 0 ? " (its two halves)" : "");
    if (Br > 1)
        lab_say(&L, " the %zu rows of a tile are updated together.\n", Br);
    else
        lab_say(&L, " one row at a time.\n");
    for (size_t i = 0; L.say && data && R <= SHOW_MAX_ROWS && N <= SHOW_MAX_COLS && i < R; i++) {
        printf("  x[%zu] =", i);
        for (size_t j = 0; j < N; j++)
            printf("%s%5.1f", j && j % Bc == 0 ? " |" : " ", (double)x[i * N + j]);
        putchar('\n');
    }
    lab_say(&L, "\n");

    /* Pass 1 and pass 2 of online softmax on the memory model; the probe prints pass 1's table. */
    softmax_state *final = xcalloc(R, sizeof *final);
    table_ctx tab = {L.say && data && R * Tc <= TABLE_MAX, final};
    if (tab.show)
        printf("Pass 1 — running max m and sum l, block by block: m_new = max(m_old, m_block),\n"
               "         l = l * e^(m_old - m_new) + sum over the block of e^(x - m_new)\n"
               "  %5s %5s %9s %9s %9s %14s %11s\n", "row", "block", "m_old", "m_block", "m_new", "e^(m_old-m_new)", "l");
    mem_t *mo = lab_softmax(&L, true, SOFTMAX_ONLINE, dt, cfg->M_bytes, R, N, Br, Bc, x, y, data ? table_line : NULL,
                            &tab);
    if (tab.show)
        lab_say(&L, "  (m_old = -inf before the first block: its rescale factor e^-inf is 0)\n");
    else if (data)
        lab_say(&L, "Pass 1 — running max m and sum l, block by block (%zu rows x %zu blocks: table not shown,\n"
                "         at most %d lines; try -N 6 --batch 4)\n", R, Tc, TABLE_MAX);
    lab_say(&L, "Pass 2 — y = e^(x - m) / l with each row's final m and l.\n\n");

    /* Safe softmax on the same input and blocks, for the comparison. */
    mem_t *ms = lab_softmax(&L, false, SOFTMAX_SAFE, dt, cfg->M_bytes, R, N, Br, Bc, x, ys, NULL, NULL);
    io_count io = mem_io(mo, NULL, NULL), is = mem_io(ms, NULL, NULL);
    bool ok = io.rd_elems == cf.rd && io.wr_elems == cf.wr && mem_flops(mo, NULL) == cf.flops &&
              mem_exps(mo, NULL) == cf.exps && is.rd_elems == cs.rd && is.wr_elems == cs.wr;
    lab_say(&L, "Online against safe softmax (lesson01), same input, same blocks:\n  %-22s %12s %12s\n"
            "  %-22s %12llu %12llu\n  %-22s %12llu %12llu   elements: %llu·R·N and %llu·R·N\n"
            "  %-22s %12llu %12llu\n  %-22s %12llu %12llu   online: one rescale per row and block more\n"
            "  %-22s %12llu %12llu\n  closed forms (softmax.h): counted %s\n", "", "online", "safe",
            "passes over x", (unsigned long long)cf.passes, (unsigned long long)cs.passes, "HBM reads",
            (unsigned long long)io.rd_elems, (unsigned long long)is.rd_elems, (unsigned long long)cf.passes,
            (unsigned long long)cs.passes, "HBM writes", (unsigned long long)io.wr_elems,
            (unsigned long long)is.wr_elems, "exp()", (unsigned long long)mem_exps(mo, NULL),
            (unsigned long long)mem_exps(ms, NULL), "FLOPs", (unsigned long long)mem_flops(mo, NULL),
            (unsigned long long)mem_flops(ms, NULL), ok ? "equal" : "DIFFERENT");

    double err = NAN, vs_safe = NAN;
    bool equal = true;
    if (data) {
        err = lab_softmax_err(x, y, R, N, dt);
        double *ysd = xmalloc(n * sizeof *ysd);
        for (size_t i = 0; i < n; i++)
            ysd[i] = ys[i];
        verify_stats st;
        equal = verify_close(ysd, y, n, atol_for(dt), rtol_for(dt, Bc, Tc), "y_online", &st, NULL);
        vs_safe = st.max_abs;
        free(ysd);
        lab_say(&L, "  result: max |y_online - y_safe| = %.3g: %s (tolerance %.3g + %.3g·|y|:\n"
                "  fp32 rounding of the same exponentials and sums%s);\n"
                "  max |y - y_ref| = %.3g against a double-precision softmax\n\n", vs_safe,
                equal ? "equal within tolerance" : "NOT EQUAL", atol_for(dt), rtol_for(dt, Bc, Tc),
                dt == DTYPE_FP32 ? "" : ", one rounding step of the stored y", err);
    } else {
        lab_say(&L, "  result: not computed (--count-only)\n\n");
    }

    /* The merge: each half of a row done on its own (two workers could), then combined. */
    double merge_err = NAN;
    if (data && N >= 2) {
        size_t h = ceil_div(N, 2);
        lab_say(&L, "The merge — each row's two halves (columns 0..%zu and %zu..%zu) reduced apart, then combined:\n"
                "  m = max(m1, m2),  l = l1 * e^(m1 - m) + l2 * e^(m2 - m)   (FlashAttention Alg.1 line 11)\n"
                "  %4s %17s %17s %17s %17s\n", h - 1, h, N - 1, "row", "left (m1, l1)", "right (m2, l2)",
                "merged (m, l)", "pass 1 (m, l)");
        merge_err = 0;
        for (size_t i = 0; i < R; i++) {
            const float *row = x + i * N;
            softmax_state a = softmax_online_update(softmax_state_empty(), row, h);
            softmax_state b = softmax_online_update(softmax_state_empty(), row + h, N - h);
            softmax_state c = softmax_merge(a, b);
            double e = fabs((double)c.l - (double)final[i].l) / (double)final[i].l + fabs(c.m - final[i].m);
            merge_err = e > merge_err || isnan(e) ? e : merge_err;
            if (i < SHOW_MAX_ROWS)
                lab_say(&L, "  %4zu  (%5.3g, %7.5g)  (%5.3g, %7.5g)  (%5.3g, %7.5g)  (%5.3g, %7.5g)\n", i,
                        (double)a.m, (double)a.l, (double)b.m, (double)b.l, (double)c.m, (double)c.l,
                        (double)final[i].m, (double)final[i].l);
        }
        lab_say(&L, "  %slargest relative difference of l between merged and pass 1: %.3g (the same sums, grouped\n"
                "  differently). Nothing in the merge needs the halves in order: that is what lets\n"
                "  FlashAttention-2 and split-K decoding hand blocks of one row to different workers.\n\n",
                R > SHOW_MAX_ROWS ? "(first 8 rows shown) " : "", merge_err);
    }

    summary_t s;
    summary_begin(&s, cfg, "online", Br, Bc);
    summary_ledger(&s, mo);
    lab_sum_f64(&s, "max_abs_err", data, err);
    lab_sum_kv(&s, {"R", R}, {"passes", cf.passes}, {"closed_form_ok", ok}, {"safe_hbm_read_elems", is.rd_elems},
               {"safe_hbm_write_elems", is.wr_elems}, {"safe_exps", mem_exps(ms, NULL)});
    lab_sum_f64(&s, "online_vs_safe_max_abs", data, vs_safe);
    if (data) {
        summary_u64(&s, "online_equals_safe", equal);
        summary_f64(&s, "merge_max_rel", merge_err);
    }
    summary_print(&s, stdout);

    mem_destroy(ms);
    mem_destroy(mo);
    free(final);
    free(x), free(y), free(ys);
    return lab_end(&L, ok && equal);
}

LESSON_MAIN(lesson02_spec, lesson02_run)
