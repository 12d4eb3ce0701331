/* check_window.c — FlashAttention-2's forward under a sliding window (attention.h: key j visible to query i iff
 * i - W < j <= i): on many random ragged shapes the counted ledger, tiles and work equal the closed form, which
 * equals a count of the tiles that hold a visible pair, pair by pair; W >= N is the causal run exactly; outputs
 * against the fp64 reference under the same mask; the tile map's band; every refusal (exit 2 or -1, one line). */
#define _XOPEN_SOURCE 700
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "check_util.h"
#include "flash_api.h"
#include "lab_attn.h"   // defines: lab_io_row, lab_same_counts
#include "proc.h"
#include "reference.h"
#include "rng.h"
#include "tilemap.h"
#include "util.h"
#include "verify.h"

/* fp32 against fp64: at most 80 keys of size ~1 summed in float, ~N ulps of outputs of size ~1. */
#define REF_TOL 1e-5
#define LEDGER_SHAPES 300   /* random shapes of the ledger test; count-only, ~1 ms each */

typedef struct {
    size_t B, H, N, d, Br, Bc, W;
} shape;

static attn_params params(const shape *s)
{
    return (attn_params){.algo = ATTN_FLASH2, .B = s->B, .N = s->N, .H = s->H, .d = s->d, .causal = true,
                         .window = s->W, .Br = s->Br, .Bc = s->Bc, .threads = 1};
}

/* Shape k of the random sweep: ragged N up to 80, blocks anywhere in 1..N, W among 1, 2, N-1, N, past N and between. */
static shape random_shape(rng_t *r)
{
    shape s = {.B = 1 + rng_below(r, 2), .H = 1 + rng_below(r, 3), .N = 1 + rng_below(r, 80), .d = 1 + rng_below(r, 9)};
    s.Br = 1 + rng_below(r, s.N);
    s.Bc = 1 + rng_below(r, s.N);
    size_t pick[] = {1, 2, s.N > 1 ? s.N - 1 : 1, s.N, s.N + 1 + rng_below(r, 5), 1 + rng_below(r, s.N),
                     1 + rng_below(r, s.N)};
    s.W = pick[rng_below(r, sizeof pick / sizeof pick[0])];
    return s;
}

/* Visited and skipped tiles, seen through mem_step. */
typedef struct {
    uint64_t visited, skipped;
} steps;

static void count_step(const mem_event *ev, void *ctx)
{
    steps *st = ctx;
    if (ev->kind == MEM_EV_STEP) {
        bool skip = ev->name && !strcmp(ev->name, ATTN_STEP_SKIP);
        st->skipped += skip;
        st->visited += !skip;
    }
}

/* One forward pass of p on a fresh model (inputs x = q, k, v one after the other, or count-only when x is NULL);
 * out, lse downloaded when asked. Returns the model, its ledger intact (the caller destroys it). */
static mem_t *run(const attn_params *p, const float *x, steps *st, float **out, float **lse)
{
    mem_t *m = mem_create(attn_sram_need(ATTN_FLASH2, false, p->Br, p->Bc, p->d, DTYPE_FP32), !x);
    attn_tensors t = attn_alloc(m, p, DTYPE_FP32, false);
    size_t n = hbm_numel(t.q);
    if (x)
        hbm_upload(t.q, x), hbm_upload(t.k, x + n), hbm_upload(t.v, x + 2 * n);
    if (st)
        mem_observe(m, count_step, st);
    attn_forward(m, p, &t);
    if (st)
        mem_unobserve(m, count_step, st);
    if (out) {
        *out = malloc(n * sizeof **out);
        hbm_download(t.out, *out);
    }
    if (lse) {
        *lse = malloc(hbm_numel(t.lse) * sizeof **lse);
        hbm_download(t.lse, *lse);
    }
    attn_free(m, &t);
    return m;
}

static float *inputs(const shape *s, uint64_t seed)
{
    size_t n = 3 * s->B * s->N * s->H * s->d;
    float *x = malloc(n * sizeof *x);
    rng_t r;
    rng_seed(&r, seed);
    rng_fill_normal(&r, x, n, 1.0f);
    return x;
}

/* ---- the tiles, pair by pair (the mask's definition, nothing from the code) ------------------------------------ */

typedef struct {
    uint64_t tiles, key_rows, rows, scores;   /* one head: visited tiles, Σ their kc, Σ their qr, Σ their qr·kc */
} band;

/* Tile (ti, tj)'s pairs: *any visible, *all visible. */
static void tile_pairs(const shape *s, size_t ti, size_t tj, bool *any, bool *all)
{
    *any = false, *all = true;
    for (size_t i = ti * s->Br; i < min_size((ti + 1) * s->Br, s->N); i++)
        for (size_t j = tj * s->Bc; j < min_size((tj + 1) * s->Bc, s->N); j++) {
            bool vis = j <= i && j + s->W > i;
            *any |= vis, *all &= vis;
        }
}

static band count_band(const shape *s)
{
    band b = {0};
    for (size_t ti = 0; ti * s->Br < s->N; ti++)
        for (size_t tj = 0; tj * s->Bc < s->N; tj++) {
            bool any, all;
            tile_pairs(s, ti, tj, &any, &all);
            uint64_t qr = min_size(s->Br, s->N - ti * s->Br), kc = min_size(s->Bc, s->N - tj * s->Bc);
            if (any)
                b.tiles++, b.key_rows += kc, b.rows += qr, b.scores += qr * kc;
        }
    return b;
}

#define WHAT(s) "B=%zu H=%zu N=%zu d=%zu Br=%zu Bc=%zu W=%zu", (s)->B, (s)->H, (s)->N, (s)->d, (s)->Br, (s)->Bc, (s)->W

/* Random ragged shapes, count-only: the ledger is the closed form tensor by tensor; the closed form's tiles, K and V
 * reads and work are the pair-by-pair count's (work by flash2's convention: every score of a visited tile, masked or
 * not, as causal counts them); the steps the pass took agree; attn_tile_mask classifies each tile as its pairs do. */
START_TEST(ledger_is_closed_form)
{
    rng_t r;
    rng_seed(&r, 2026);
    for (int k = 0; k < LEDGER_SHAPES; k++) {
        shape s = random_shape(&r);
        attn_params p = params(&s);
        steps st = {0};
        mem_t *m = run(&p, NULL, &st, NULL, NULL);
        attn_io io;
        attn_io_closed_form(&p, false, &io);
        char what[160];
        snprintf(what, sizeof what, WHAT(&s));
        assert_ledger(m, &io, what);
        ck_assert_msg(mem_flops(m, NULL) == io.flops_mm + io.flops_ew && mem_exps(m, NULL) == io.exps,
                      "%s: work counted %llu FLOPs %llu exps, closed form %llu, %llu", what,
                      (unsigned long long)mem_flops(m, NULL), (unsigned long long)mem_exps(m, NULL),
                      (unsigned long long)(io.flops_mm + io.flops_ew), (unsigned long long)io.exps);
        band b = count_band(&s);
        uint64_t BH = s.B * s.H, N = s.N, d = s.d, Tr = ceil_div(s.N, s.Br), Tc = ceil_div(s.N, s.Bc);
        ck_assert_msg(io.tiles == BH * b.tiles && io.skipped == BH * (Tr * Tc - b.tiles) &&
                      st.visited == io.tiles && st.skipped == io.skipped,
                      "%s: tiles closed form %llu (skipped %llu), pairs %llu per head, steps %llu (%llu)", what,
                      (unsigned long long)io.tiles, (unsigned long long)io.skipped, (unsigned long long)b.tiles,
                      (unsigned long long)st.visited, (unsigned long long)st.skipped);
        ck_assert_msg(lab_io_row(&io, "K").rd == BH * b.key_rows * d, "%s: K reads %llu, pairs say %llu", what,
                      (unsigned long long)lab_io_row(&io, "K").rd, (unsigned long long)(BH * b.key_rows * d));
        uint64_t E = b.scores, R = b.rows;   /* FA2 lines 8-13 per visited tile and per row block */
        ck_assert_msg(io.flops_mm == BH * 4 * E * d && io.flops_ew == BH * (4 * E + 2 * R + R * d + N * d + N) &&
                      io.exps == BH * (E + R + N), "%s: work not flash2's per-tile convention", what);
        for (size_t ti = 0; ti < Tr; ti++)
            for (size_t tj = 0; tj < Tc; tj++) {
                bool any, all;
                tile_pairs(&s, ti, tj, &any, &all);
                attn_tile_kind want = !any ? ATTN_TILE_SKIPPED : all ? ATTN_TILE_FULL : ATTN_TILE_PARTIAL;
                ck_assert_msg(attn_tile_mask(&p, ti, tj) == want, "%s: tile (%zu, %zu) is %d, its pairs say %d", what,
                              ti, tj, (int)attn_tile_mask(&p, ti, tj), (int)want);
            }
        mem_destroy(m);
    }
}
END_TEST

/* W >= N keeps every key of the causal mask: the same ledger, closed form, steps and bitwise the same O and L. */
START_TEST(wide_window_is_causal)
{
    static const shape S[] = {{1, 1, 19, 4, 6, 4, 19}, {2, 3, 37, 5, 7, 3, 38}, {1, 2, 64, 8, 16, 16, 1u << 24},
                              {1, 1, 1, 1, 1, 1, 1},   {1, 1, 50, 3, 50, 1, 50}};
    const shape *s = &S[_i];
    attn_params pw = params(s), pc = pw;
    pc.window = 0;
    float *x = inputs(s, 7 + (uint64_t)_i), *ow, *oc, *lw, *lc;
    steps sw = {0}, sc = {0};
    mem_t *mw = run(&pw, x, &sw, &ow, &lw), *mc = run(&pc, x, &sc, &oc, &lc);
    attn_io iw, ic;
    attn_io_closed_form(&pw, false, &iw);
    attn_io_closed_form(&pc, false, &ic);
    size_t n = s->B * s->N * s->H * s->d, nl = s->B * s->H * s->N;
    ck_assert_msg(lab_same_counts(mw, mc) && sw.visited == sc.visited && sw.skipped == sc.skipped, WHAT(s));
    ck_assert_msg(!memcmp(&iw, &ic, sizeof iw), WHAT(s));
    ck_assert_msg(!memcmp(ow, oc, n * sizeof *ow) && !memcmp(lw, lc, nl * sizeof *lw), WHAT(s));
    free(x), free(ow), free(oc), free(lw), free(lc);
    mem_destroy(mw), mem_destroy(mc);
}
END_TEST

/* O and L against the fp64 reference under the same window; fp32 to REF_TOL, fp16 by Tri Dao's criterion (twice a
 * materialized fp16 implementation's error under the same mask, plus two roundings of max |O|). No NaN anywhere,
 * though rows meet visited tiles before their window starts (m = -inf there). */
START_TEST(outputs_match_reference)
{
    static const shape S[] = {{1, 1, 19, 4, 6, 4, 5}, {2, 2, 45, 8, 8, 5, 3}, {1, 3, 64, 16, 16, 8, 17},
                              {1, 1, 70, 6, 9, 13, 2}, {2, 1, 33, 5, 4, 7, 32}};
    const shape *s = &S[_i % 5];
    dtype_t dt = _i < 5 ? DTYPE_FP32 : DTYPE_FP16;
    attn_params p = params(s);
    size_t n = s->B * s->N * s->H * s->d, nl = s->B * s->H * s->N;
    float *x = inputs(s, 100 + (uint64_t)_i), *o, *lse;
    for (size_t k = 0; k < 3 * n; k++)
        x[k] = dtype_round(dt, x[k]);   /* what HBM holds, so the reference sees the same values */
    mem_t *m = mem_create(attn_sram_need(ATTN_FLASH2, false, p.Br, p.Bc, p.d, dt), false);
    attn_tensors t = attn_alloc(m, &p, dt, false);
    hbm_upload(t.q, x), hbm_upload(t.k, x + n), hbm_upload(t.v, x + 2 * n);
    attn_forward(m, &p, &t);
    o = malloc(n * sizeof *o), lse = malloc(nl * sizeof *lse);
    hbm_download(t.out, o), hbm_download(t.lse, lse);
    double *ro = malloc(n * sizeof *ro), *rl = malloc(nl * sizeof *rl), *low = malloc(n * sizeof *low);
    double scale = 1.0 / sqrt((double)s->d);
    ref_attention_window_bnhd(x, x + n, x + 2 * n, s->B, s->N, s->H, s->d, scale, s->W, ro, rl);
    double err = verify_max_abs(ro, o, n), err_l = verify_max_abs(rl, lse, nl), tol = REF_TOL, omax = 0, lowerr = 0;
    if (dt != DTYPE_FP32) {
        ref_attention_lowp_window_bnhd(x, x + n, x + 2 * n, s->B, s->N, s->H, s->d, scale, s->W, dt, low);
        for (size_t k = 0; k < n; k++)
            omax = fmax(omax, fabs(ro[k])), lowerr = fmax(lowerr, fabs(low[k] - ro[k]));
        tol = verify_tridao_bound(lowerr, 2 * dtype_eps(dt) * omax);
    }
    ck_assert_msg(err <= tol && err_l <= REF_TOL * 10, "%s %s: max |O - ref| %g (allowed %g), |L - ref| %g",
                  dtype_name(dt), "window", err, tol, err_l);
    free(x), free(o), free(lse), free(ro), free(rl), free(low);
    attn_free(m, &t);
    mem_destroy(m);
}
END_TEST

/* W = 1: each query sees its own key alone, so P = 1 and O is V row for row, exactly; L is the one score. */
START_TEST(window_of_one_copies_v)
{
    shape s = {2, 2, 29, 6, 5, 3, 1};
    attn_params p = params(&s);
    float *x = inputs(&s, 5), *o, *lse;
    mem_t *m = run(&p, x, NULL, &o, &lse);
    size_t n = s.B * s.N * s.H * s.d;
    ck_assert_msg(!memcmp(o, x + 2 * n, n * sizeof *o), "W = 1: O is not V");
    for (size_t b = 0; b < s.B; b++)
        for (size_t h = 0; h < s.H; h++)
            for (size_t i = 0; i < s.N; i++) {
                double sc = 0;
                for (size_t c = 0; c < s.d; c++) {
                    size_t at = ((b * s.N + i) * s.H + h) * s.d + c;
                    sc += (double)x[at] * x[n + at];
                }
                sc /= sqrt((double)s.d);
                ck_assert_msg(fabs(lse[(b * s.H + h) * s.N + i] - sc) <= REF_TOL, "L of row %zu", i);
            }
    free(x), free(o), free(lse);
    mem_destroy(m);
}
END_TEST

/* The tile map of a window run shows the band: painted by the pass's steps, then tilemap_mark_masked: skipped tiles
 * [-], partly masked [/], whole [x], as the pairs say; the legend names [/]. */
START_TEST(map_shows_band)
{
    shape s = {1, 1, 19, 4, 6, 4, 5};
    attn_params p = params(&s);
    size_t Tr = ceil_div(s.N, s.Br), Tc = ceil_div(s.N, s.Bc);
    tilemap *map = tilemap_create(Tr, Tc);
    mem_t *m = mem_create(attn_sram_need(ATTN_FLASH2, false, p.Br, p.Bc, p.d, DTYPE_FP32), true);
    attn_tensors t = attn_alloc(m, &p, DTYPE_FP32, false);
    mem_observe(m, tilemap_paint_step, map);
    attn_forward(m, &p, &t);
    mem_unobserve(m, tilemap_paint_step, map);
    ck_assert_uint_eq(tilemap_count(map, TILE_PARTIAL), 0);
    ck_assert_ptr_null(strstr(tilemap_legend(map), "[/]"));
    tilemap_mark_masked(map, &p);
    for (size_t i = 0; i < Tr; i++)
        for (size_t j = 0; j < Tc; j++) {
            bool any, all;
            tile_pairs(&s, i, j, &any, &all);
            tile_state want = !any ? TILE_SKIPPED : all ? TILE_DONE : TILE_PARTIAL;
            ck_assert_msg(tilemap_get(map, i, j) == want, "tile (%zu, %zu): %d, want %d", i, j,
                          (int)tilemap_get(map, i, j), (int)want);
        }
    ck_assert_uint_eq(tilemap_count(map, TILE_DONE), 1);       /* (3, 4): keys 16-18, query 18 sees 14-18 */
    ck_assert_uint_eq(tilemap_count(map, TILE_PARTIAL), 9);
    char line[128];
    tilemap_line(map, 4, line, sizeof line);                     /* i = 3 */
    ck_assert_str_eq(line, "   3  [-][-][-][/][x]");
    ck_assert_ptr_nonnull(strstr(tilemap_legend(map), "[/] done, partly masked"));
    tilemap_free(map);
    attn_free(m, &t);
    mem_destroy(m);
}
END_TEST

/* ---- refusals: exit 2 and one line (the model's), -1 and one line (flash_api.h) ---------------------------------- */

typedef struct {
    attn_algo algo;
    bool causal, backward, closed_form;
} refusal;

static void refused_run(void *ctx)
{
    const refusal *c = ctx;
    attn_params p = {.algo = c->algo, .B = 1, .N = 16, .H = 1, .d = 4, .causal = c->causal, .window = 3, .Br = 4,
                     .Bc = 4, .threads = 1};
    if (c->closed_form) {
        attn_io io;
        attn_io_closed_form(&p, c->backward, &io);
        return;
    }
    mem_t *m = mem_create(1 << 20, true);
    attn_tensors t = attn_alloc(m, &p, DTYPE_FP32, c->backward);
    if (c->backward)
        attn_backward(m, &p, &t);
    else
        attn_forward(m, &p, &t);
}

/* Passes that run no window refuse one instead of attending to every earlier key; a window without causal too. */
START_TEST(passes_without_window_refuse)
{
    static const struct {
        refusal c;
        const char *want;
    } C[] = {{{ATTN_FLASH1, true, false, false}, "flash1 forward does not run a sliding window"},
             {{ATTN_STANDARD, true, false, false}, "standard forward does not run a sliding window"},
             {{ATTN_FLASH2, true, true, false}, "flash2 backward does not run a sliding window"},
             {{ATTN_FLASH2, true, true, true}, "flash2 backward does not run a sliding window"},
             {{ATTN_FLASH1, true, false, true}, "flash1 forward does not run a sliding window"},
             {{ATTN_FLASH2, false, false, false}, "set causal too"},
             {{ATTN_FLASH2, false, false, true}, "set causal too"}};
    proc pr = run_fn(refused_run, (void *)&C[_i].c);
    assert_one_error(&pr, 2, C[_i].want);
    proc_free(&pr);
}
END_TEST

/* flash_attn_func_window: (W - 1, 0) with causal (or without: right = 0 is causal) is attention.h's window W, the
 * same counts and bitwise the same O; (-1, 0) is causal; keys after the query are refused (-1, one line, nothing
 * allocated); the backward refuses a windowed forward. */
START_TEST(api_window_size)
{
    shape s = {2, 3, 37, 8, 37, 37, 6};
    size_t n = s.B * s.N * s.H * s.d;
    float *x = inputs(&s, 3);
    attn_params p = params(&s);
    char err[256];
    static const struct {
        bool causal;
        long left, right;
        size_t window;   /* what runs: attention.h's W, 0 plain causal; SIZE_MAX refused */
    } C[] = {{true, 5, 0, 6},     {false, 5, 0, 6},     {true, 5, -1, 6},         {true, 5, 3, 6},
             {false, -1, 0, 0},   {true, -1, -1, 0},    {true, 99, 0, 100},       {false, 5, 1, SIZE_MAX},
             {false, 5, -1, SIZE_MAX}, {false, -1, 2, SIZE_MAX}};
    for (size_t c = 0; c < sizeof C / sizeof C[0]; c++) {
        mem_t *m = mem_create(1 << 20, false);
        hbm_tensor *q = hbm_alloc_bnhd(m, "Q", DTYPE_FP32, s.B, s.N, s.H, s.d);
        hbm_tensor *k = hbm_alloc_bnhd(m, "K", DTYPE_FP32, s.B, s.N, s.H, s.d);
        hbm_tensor *v = hbm_alloc_bnhd(m, "V", DTYPE_FP32, s.B, s.N, s.H, s.d);
        hbm_upload(q, x), hbm_upload(k, x + n), hbm_upload(v, x + 2 * n);
        flash_attn fa = {.Br = s.Br, .Bc = s.Bc};
        int rc = flash_attn_func_window(m, q, k, v, 0.0, 0.0, C[c].causal, C[c].left, C[c].right, &fa, err,
                                        sizeof err);
        if (C[c].window == SIZE_MAX) {
            ck_assert_msg(rc == -1 && strstr(err, "keys after it") && !strchr(err, '\n'), "case %zu: %d '%s'", c, rc,
                          err);
            ck_assert_uint_eq(mem_io(m, NULL, NULL).rd_elems, 0);
            ck_assert_uint_eq(mem_ntensors(m), 3);
        } else {
            ck_assert_msg(rc == 0, "case %zu: '%s'", c, err);
            ck_assert_msg(fa.fwd.causal && fa.fwd.window == C[c].window, "case %zu: ran causal=%d window=%zu", c,
                          (int)fa.fwd.causal, fa.fwd.window);
            attn_params want = p;
            want.window = C[c].window;
            float *o = malloc(n * sizeof *o), *ref;
            hbm_download(fa.out, o);
            mem_t *mr = run(&want, x, NULL, &ref, NULL);
            ck_assert_msg(lab_same_counts(m, mr) && !memcmp(o, ref, n * sizeof *o), "case %zu", c);
            hbm_tensor *dout = hbm_alloc_bnhd(m, "dO", DTYPE_FP32, s.B, s.N, s.H, s.d);
            rc = flash_attn_backward(m, &fa, dout, err, sizeof err);
            ck_assert_msg(C[c].window ? rc == -1 && strstr(err, "sliding window") : rc == 0, "case %zu: %d '%s'", c,
                          rc, err);
            flash_attn_release(m, &fa);
            hbm_free(m, dout);
            free(o), free(ref);
            mem_destroy(mr);
        }
        hbm_free(m, q), hbm_free(m, k), hbm_free(m, v);
        mem_destroy(m);
    }
    free(x);
}
END_TEST

/* lesson06 --window: bad values exit 2 with one line, as every size option; lesson07 (the backward) takes none. A
 * good one runs part 6 with its ledger checked; W = N is the causal run of part 4, element for element. */
START_TEST(lesson06_window_option)
{
    char l6[PATH_MAX], l7[PATH_MAX];
    ck_assert_msg(bin_find("lesson06", l6, sizeof l6) && bin_find("lesson07", l7, sizeof l7), "lessons not built");
    static const char *const bad[][3] = {{"--window", "0"}, {"--window", "-3"}, {"--window", "abc"},
                                         {"--window", "99999999999999999999999"}, {"--window", "16777217"},
                                         {"--window", ""}, {"--window=2x"}, {"--window"}};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        proc p = run_bin(l6, bad[k], "/tmp");
        assert_one_error(&p, 2, "--window");
        proc_free(&p);
    }
    proc p7 = run_bin(l7, (const char *[]){"--window", "4", NULL}, "/tmp");
    assert_one_error(&p7, 2, "unknown option '--window'");
    proc_free(&p7);
    static const char *const good[][6] = {{"--window", "5", "--quiet"}, {"--window=19", "--quiet"},
                                          {"--window", "3", "--causal", "-N", "40"}};
    for (size_t k = 0; k < sizeof good / sizeof good[0]; k++) {
        proc p = run_bin(l6, good[k], "/tmp");
        ck_assert_msg(p.status == 0 && strstr(p.out, " closed_form_ok=1"), "%s %s: exit %d, '%s'", good[k][0],
                      good[k][1], p.status, p.err);
        ck_assert_ptr_nonnull(strstr(p.out, k == 2 ? " window=3 " : k ? " window=19 " : " window=5 "));
        if (k == 1)   /* W = N = 19: the band is the causal triangle */
            ck_assert(strstr(p.out, "causal_hbm_read_elems=540 causal_hbm_write_elems=95 ") &&
                      strstr(p.out, "window_hbm_read_elems=540 window_hbm_write_elems=95 "));
        proc_free(&p);
    }
}
END_TEST

Suite *window_suite(void)
{
    Suite *s = suite_create("window");
    TCASE(s, "Ledger", 60, {ledger_is_closed_form}, {wide_window_is_causal, .loops = 5});
    TCASE(s, "Reference", 60, {outputs_match_reference, .loops = 10}, {window_of_one_copies_v}, {map_shows_band});
    TCASE(s, "Refusals", 60, {passes_without_window_refuse, .loops = 7}, {api_window_size},
          {lesson06_window_option});
    return s;
}
