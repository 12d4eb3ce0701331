/* check_tiling.c — tiled Q K^T V (lesson03 part 1): exact against the plain product, ledger equal to the closed form
 * for many (N, d, Br, Bc) with ragged blocks and d not a power of two, SRAM equal to the need; the tile map and the
 * walk-through view. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blocks.h"
#include "check_util.h"
#include "reference.h"
#include "rng.h"
#include "tiled.h"
#include "tilemap.h"
#include "util.h"

typedef struct {
    size_t B, H, N, d, Br, Bc;
} shape;

static const shape SHAPES[] = {
    {1, 1, 1, 1, 1, 1},   {1, 1, 8, 4, 3, 3},    {1, 1, 7, 3, 2, 5},   {1, 1, 16, 16, 4, 4}, {2, 3, 13, 5, 4, 6},
    {1, 2, 33, 80, 8, 5}, {1, 1, 100, 7, 100, 1}, {2, 1, 31, 1, 31, 31}, {1, 1, 50, 12, 7, 16}, {3, 2, 9, 6, 9, 2}};
#define NSHAPES (sizeof SHAPES / sizeof SHAPES[0])

/* Tiled O on a fresh model with SRAM exactly the need; q, k, v are (B, N, H, d); o gets O. Returns the model. */
static mem_t *run(const shape *s, dtype_t dt, const float *q, const float *k, const float *v, float *o, bool co)
{
    mem_t *m = mem_create(tiled_sram_need(s->Br, s->Bc, s->d, dt), co);
    hbm_tensor *Q = hbm_alloc_bnhd(m, "Q", dt, s->B, s->N, s->H, s->d), *K = hbm_alloc_bnhd(m, "K", dt, s->B, s->N,
                                                                                          s->H, s->d),
               *V = hbm_alloc_bnhd(m, "V", dt, s->B, s->N, s->H, s->d), *O = hbm_alloc_bnhd(m, "O", dt, s->B, s->N,
                                                                                          s->H, s->d);
    hbm_upload(Q, q);
    hbm_upload(K, k);
    hbm_upload(V, v);
    for (size_t b = 0; b < s->B; b++)
        for (size_t h = 0; h < s->H; h++)
            tiled_qkv(m, hbm_head(Q, b, h), hbm_head(K, b, h), hbm_head(V, b, h), hbm_head(O, b, h), s->Br, s->Bc);
    hbm_download(O, o);
    return m;
}

/* Small integers: every product and partial sum is an exact fp32 (and fp16/bf16, below 256) integer. */
static void fill_ints(rng_t *r, float *x, size_t n, int lim)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)((int)rng_below(r, (uint64_t)(2 * lim + 1)) - lim);
}

START_TEST(tiled_equals_plain_product_exactly)
{
    rng_t r;
    rng_seed(&r, 7000 + (uint64_t)_i);
    for (size_t t = 0; t < NSHAPES; t++) {
        const shape *s = &SHAPES[t];
        size_t n = s->B * s->N * s->H * s->d, nd = s->N * s->d;
        float *q = malloc(n * sizeof *q), *k = malloc(n * sizeof *k), *v = malloc(n * sizeof *v),
              *o = malloc(n * sizeof *o);
        double *qd = malloc(nd * sizeof *qd), *kd = malloc(nd * sizeof *kd), *vd = malloc(nd * sizeof *vd),
               *od = malloc(nd * sizeof *od);
        fill_ints(&r, q, n, 3);
        fill_ints(&r, k, n, 3);
        fill_ints(&r, v, n, 3);
        mem_destroy(run(s, DTYPE_FP32, q, k, v, o, false));
        for (size_t b = 0; b < s->B; b++)
            for (size_t h = 0; h < s->H; h++) {
                ref_head_get(q, s->B, s->N, s->H, s->d, b, h, qd);
                ref_head_get(k, s->B, s->N, s->H, s->d, b, h, kd);
                ref_head_get(v, s->B, s->N, s->H, s->d, b, h, vd);
                tiled_reference(qd, kd, vd, s->N, s->d, od);
                for (size_t i = 0; i < s->N; i++)
                    for (size_t c = 0; c < s->d; c++)
                        ck_assert_msg(o[((b * s->N + i) * s->H + h) * s->d + c] == od[i * s->d + c],
                                      "N=%zu d=%zu Br=%zu Bc=%zu head (%zu,%zu) O[%zu][%zu] = %g, want %g", s->N,
                                      s->d, s->Br, s->Bc, b, h, i, c,
                                      (double)o[((b * s->N + i) * s->H + h) * s->d + c], od[i * s->d + c]);
            }
        free(q), free(k), free(v), free(o), free(qd), free(kd), free(vd), free(od);
    }
}
END_TEST

/* A smaller case by hand: the seed's point that O = Q K^T V is the sum of its tiles' partial products. */
START_TEST(hand_example)
{
    /* N = 2, d = 1: Q = [1, 2], K = [3, 4], V = [5, 6]; S = Q K^T = [[3, 4], [6, 8]]; O = S V = [39, 78]. */
    shape s = {1, 1, 2, 1, 1, 1};
    float q[2] = {1, 2}, k[2] = {3, 4}, v[2] = {5, 6}, o[2];
    mem_t *m = run(&s, DTYPE_FP32, q, k, v, o, false);
    ck_assert(o[0] == 39.0f && o[1] == 78.0f);
    ck_assert_uint_eq(mem_io(m, "O", NULL).wr_elems, 2 + 2 * 2);   /* O = 0, then once per key block */
    mem_destroy(m);
}
END_TEST

/* The counted ledger equals the closed form in every tensor, for every shape and dtype, real and count-only. */
START_TEST(ledger_equals_closed_form)
{
    for (int dt = 0; dt < 3; dt++)
        for (size_t t = 0; t < NSHAPES; t++) {
            const shape *s = &SHAPES[t];
            size_t n = s->B * s->N * s->H * s->d;
            tiled_io cf;
            tiled_closed_form(s->N, s->d, s->Br, s->Bc, s->B * s->H, &cf);
            for (int co = 0; co < 2; co++) {
                float *z = calloc(n, sizeof *z), *o = calloc(n, sizeof *o);
                mem_t *m = run(s, (dtype_t)dt, z, z, z, o, co);
                ck_assert_uint_eq(mem_io(m, "Q", NULL).rd_elems, cf.rd_Q);
                ck_assert_uint_eq(mem_io(m, "K", NULL).rd_elems, cf.rd_K);
                ck_assert_uint_eq(mem_io(m, "V", NULL).rd_elems, cf.rd_V);
                ck_assert_uint_eq(mem_io(m, "O", NULL).rd_elems, cf.rd_O);
                ck_assert_uint_eq(mem_io(m, "O", NULL).wr_elems, cf.wr_O);
                io_count tot = mem_io(m, NULL, NULL);
                ck_assert_uint_eq(tot.rd_elems, cf.rd);
                ck_assert_uint_eq(tot.wr_elems, cf.wr);
                ck_assert_uint_eq(tot.wr_bytes, cf.wr * dtype_size((dtype_t)dt));
                ck_assert_uint_eq(mem_flops(m, NULL), cf.flops);
                ck_assert_uint_eq(mem_exps(m, NULL), 0);
                ck_assert_uint_eq(sram_peak(m), tiled_sram_need(s->Br, s->Bc, s->d, (dtype_t)dt));
                /* the same numbers written out, as the header derives them */
                uint64_t Nd = (uint64_t)s->N * s->d * s->B * s->H, Tc = ceil_div(s->N, s->Bc);
                ck_assert_uint_eq(cf.rd, 2 * Nd + 2 * Tc * Nd);
                ck_assert_uint_eq(cf.wr, (1 + Tc) * Nd);
                mem_destroy(m);
                free(z);
                free(o);
            }
        }
}
END_TEST

/* Random (N, d, Br, Bc) beyond the table: ragged everywhere, d not a power of two; count-only for speed. */
START_TEST(ledger_random_shapes)
{
    rng_t r;
    rng_seed(&r, 8000 + (uint64_t)_i);
    for (int t = 0; t < 200; t++) {
        shape s = {1, 1, 1 + rng_below(&r, 300), 1 + rng_below(&r, 130), 0, 0};
        s.Br = 1 + rng_below(&r, s.N);
        s.Bc = 1 + rng_below(&r, s.N);
        tiled_io cf;
        tiled_closed_form(s.N, s.d, s.Br, s.Bc, 1, &cf);
        mem_t *m = run(&s, DTYPE_BF16, NULL, NULL, NULL, NULL, true);
        io_count tot = mem_io(m, NULL, NULL);
        ck_assert_uint_eq(tot.rd_elems, cf.rd);
        ck_assert_uint_eq(tot.wr_elems, cf.wr);
        ck_assert_uint_eq(mem_io(m, "Q", NULL).rd_elems, cf.rd_Q);
        ck_assert_uint_eq(mem_flops(m, NULL), cf.flops);
        mem_destroy(m);
    }
}
END_TEST

/* Each (i, j) tile is visited once, key blocks outside, query blocks inside (Algorithm 1's order). */
typedef struct {
    long i, j;
    uint64_t n;
    bool ordered;
} steps;

static void on_step(const mem_event *ev, void *ctx)
{
    steps *s = ctx;
    if (ev->kind != MEM_EV_STEP)
        return;
    if (s->n == 0 ? ev->i != 0 || ev->j != 0
                  : !((ev->j == s->j + 1 && ev->i == 0) || (ev->j == s->j && ev->i == s->i + 1)))
        s->ordered = false;
    s->i = ev->i;
    s->j = ev->j;
    s->n++;
}

START_TEST(steps_follow_algorithm_1)
{
    for (size_t t = 0; t < NSHAPES; t++) {
        shape s = SHAPES[t];
        s.B = s.H = 1;
        mem_t *m = mem_create(tiled_sram_need(s.Br, s.Bc, s.d, DTYPE_FP32), true);
        hbm_tensor *X = hbm_alloc_mat(m, "X", DTYPE_FP32, s.N, s.d), *O = hbm_alloc_mat(m, "O", DTYPE_FP32, s.N, s.d);
        steps st = {-1, 0, 0, true};
        mem_observe(m, on_step, &st);
        tiled_qkv(m, hbm_whole(X), hbm_whole(X), hbm_whole(X), hbm_whole(O), s.Br, s.Bc);
        ck_assert_uint_eq(st.n, ceil_div(s.N, s.Br) * ceil_div(s.N, s.Bc));
        ck_assert(st.ordered);
        ck_assert_int_eq(st.i, (long)ceil_div(s.N, s.Br) - 1);
        ck_assert_int_eq(st.j, (long)ceil_div(s.N, s.Bc) - 1);
        mem_destroy(m);
    }
}
END_TEST

/* blocks_choose with tiled's footprint: what it picks fits, and tiled_qkv runs in exactly that SRAM. */
START_TEST(chosen_blocks_fit)
{
    rng_t r;
    rng_seed(&r, 9000 + (uint64_t)_i);
    for (int t = 0; t < 100; t++) {
        size_t N = 1 + rng_below(&r, 200), d = 1 + rng_below(&r, 100), M = 64 + rng_below(&r, 1 << 16);
        dtype_t dt = (dtype_t)rng_below(&r, 3);
        block_choice bc;
        char err[512];
        if (blocks_choose(M, N, d, dt, 0, 0, tiled_sram_need, &bc, err, sizeof err)) {
            ck_assert(tiled_sram_need(1, 1, d, dt) > M);
            continue;
        }
        ck_assert(bc.need_bytes <= M && bc.need_bytes == tiled_sram_need(bc.Br, bc.Bc, d, dt));
        mem_t *m = mem_create(M, true);
        hbm_tensor *X = hbm_alloc_mat(m, "X", dt, N, d), *O = hbm_alloc_mat(m, "O", dt, N, d);
        tiled_qkv(m, hbm_whole(X), hbm_whole(X), hbm_whole(X), hbm_whole(O), bc.Br, bc.Bc);
        ck_assert_uint_eq(sram_peak(m), bc.need_bytes);
        mem_destroy(m);
    }
}
END_TEST

START_TEST(need_counts_every_buffer)
{
    /* Kj, Vj: 2·Bc·d, Qi, Oi: 2·Br·d in the dtype; Sij: Br·Bc fp32. lesson03's default: 228 of 300 bytes. */
    ck_assert_uint_eq(tiled_sram_need(3, 3, 4, DTYPE_FP32), 2 * 3 * 4 * 4 + 2 * 3 * 4 * 4 + 3 * 3 * 4);
    ck_assert_uint_eq(tiled_sram_need(3, 3, 4, DTYPE_FP32), 228);
    ck_assert_uint_eq(tiled_sram_need(2, 5, 7, DTYPE_FP16), (2 * 5 * 7 + 2 * 2 * 7) * 2 + 2 * 5 * 4);
    ck_assert_uint_eq(tiled_sram_need((size_t)1 << 62, 4, 4, DTYPE_FP32), SIZE_MAX);   /* saturates */
}
END_TEST

/* ---- the tile map ------------------------------------------------------------------------------------------- */

START_TEST(map_states)
{
    tilemap *t = tilemap_create(3, 4);
    ck_assert_uint_eq(tilemap_count(t, TILE_PENDING), 12);
    tilemap_set(t, 0, 3, TILE_SKIPPED);
    tilemap_visit(t, 0, 0);
    tilemap_visit(t, 1, 0);
    ck_assert_int_eq(tilemap_get(t, 0, 0), TILE_DONE);
    ck_assert_int_eq(tilemap_get(t, 1, 0), TILE_CURRENT);
    tilemap_visit(t, 0, 3);   /* visiting a skipped tile makes it current: the map shows what the algorithm did */
    tilemap_finish(t);
    ck_assert_uint_eq(tilemap_count(t, TILE_DONE), 3);
    ck_assert_uint_eq(tilemap_count(t, TILE_CURRENT), 0);
    tilemap_finish(t);        /* no current tile: nothing happens */
    ck_assert_uint_eq(tilemap_count(t, TILE_DONE), 3);
    tilemap_free(t);
}
END_TEST

START_TEST(map_drawing)
{
    for (size_t Tc = 1; Tc <= 40; Tc += 13) {
        tilemap *t = tilemap_create(11, Tc);
        tilemap_visit(t, 10, Tc - 1);
        tilemap_set(t, 0, 0, TILE_SKIPPED);
        size_t w = tilemap_width(t);
        char *buf = malloc(w + 1);
        ck_assert_uint_eq(tilemap_lines(t), 12);
        for (size_t k = 0; k < tilemap_lines(t); k++) {
            tilemap_line(t, k, buf, w + 1);
            ck_assert_uint_eq(strlen(buf), w);   /* fixed width */
            for (size_t c = 0; c < w; c++)
                ck_assert((unsigned char)buf[c] >= 32 && (unsigned char)buf[c] < 127);   /* plain ASCII */
        }
        bool wide = Tc <= TILEMAP_WIDE_MAX;
        tilemap_line(t, 11, buf, w + 1);         /* the last row holds the current tile, last column */
        ck_assert_str_eq(buf + w - (wide ? 3 : 1), wide ? "[#]" : "#");
        tilemap_line(t, 1, buf, w + 1);
        ck_assert_ptr_nonnull(strstr(buf, wide ? "[-]" : "-"));
        ck_assert_ptr_nonnull(strstr(tilemap_legend(t), "skipped"));
        free(buf);
        tilemap_free(t);
    }
}
END_TEST

/* The walk-through prints one block per tile beside the map, or one line per tile. */
START_TEST(walk_views)
{
    shape s = {1, 1, 8, 4, 3, 3};
    for (int view = 0; view < 2; view++) {
        char *text = NULL;
        size_t len = 0;
        FILE *out = open_memstream(&text, &len);
        mem_t *m = mem_create(tiled_sram_need(3, 3, 4, DTYPE_FP32), true);
        hbm_tensor *X = hbm_alloc_mat(m, "X", DTYPE_FP32, 8, 4), *O = hbm_alloc_mat(m, "O", DTYPE_FP32, 8, 4);
        tilewalk *w = tilewalk_open(m, 3, 3, (tilewalk_view)view, out, NULL, NULL);
        tiled_qkv(m, hbm_whole(X), hbm_whole(X), hbm_whole(X), hbm_whole(O), s.Br, s.Bc);
        tilemap *map = tilewalk_close(w);
        fclose(out);
        ck_assert_uint_eq(tilemap_count(map, TILE_DONE), 9);
        size_t tiles = 0;
        for (const char *p = text; (p = strstr(p, view == TILEWALK_FULL ? "tile (i=" : "tile (")); p++)
            tiles++;
        ck_assert_uint_eq(tiles, 9);
        if (view == TILEWALK_FULL) {
            /* tile (1, 0) is drawn current with (0, 0) done above it, beside its own loads */
            ck_assert_ptr_nonnull(strstr(text, " i 0  [x][ ][ ]   load  X[3:6, 0:4]"));
            ck_assert_ptr_nonnull(strstr(text, "   1  [#][ ][ ]"));
            /* Kj, Vj of key block 1 are printed with tile (0, 1), not with tile (2, 0) */
            const char *t01 = strstr(text, "tile (i=0, j=1)"), *k1 = strstr(text, "load  X[3:6, 0:4]      -> Kj");
            ck_assert(t01 && k1 && k1 > t01);
        } else {
            ck_assert_ptr_nonnull(strstr(text, "tile (0, 1)      load Kj Vj Qi Oi"));
            const char *pre = strstr(text, "before the tiles");
            ck_assert(pre && strstr(pre, "store 0") && strstr(pre, "store 0") < strstr(pre, "tile (0, 0)"));
        }
        tilemap_free(map);
        mem_destroy(m);
        free(text);
    }
}
END_TEST

/* Steps labelled MEM_STEP_SKIP paint skipped tiles; a skipped tile stays skipped when another head paints it again;
 * the walk-through draws no tile block for a skipped step. */
START_TEST(skipped_steps)
{
    mem_t *m = mem_create(64, true);
    tilemap *map = tilemap_create(2, 2);
    mem_observe(m, tilemap_paint_step, map);
    for (int head = 0; head < 2; head++) {
        mem_step(m, 0, 0, "tile");
        mem_step(m, 0, 1, MEM_STEP_SKIP);
        mem_step(m, 1, 0, "tile");
        mem_step(m, 1, 1, "tile");
    }
    mem_unobserve(m, tilemap_paint_step, map);
    ck_assert_int_eq(tilemap_get(map, 0, 1), TILE_SKIPPED);
    ck_assert_int_eq(tilemap_get(map, 1, 1), TILE_DONE);
    ck_assert_uint_eq(tilemap_count(map, TILE_DONE), 3);
    tilemap_free(map);

    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    tilewalk *w = tilewalk_open(m, 2, 2, TILEWALK_FULL, out, NULL, NULL);
    mem_step(m, 0, 0, "tile");
    mem_step(m, 0, 1, MEM_STEP_SKIP);
    mem_step(m, 1, 0, "tile");
    mem_step(m, 1, 1, "tile");
    map = tilewalk_close(w);
    fclose(out);
    ck_assert_int_eq(tilemap_get(map, 0, 1), TILE_SKIPPED);
    ck_assert_uint_eq(tilemap_count(map, TILE_DONE), 3);
    ck_assert_ptr_null(strstr(text, "tile (i=0, j=1)"));
    ck_assert_ptr_nonnull(strstr(text, "tile (i=1, j=0)"));
    tilemap_free(map);
    free(text);
    mem_destroy(m);
}
END_TEST

Suite *tiling_suite(void)
{
    Suite *s = suite_create("tiling");
    TCASE(s, "Exact", 0, {tiled_equals_plain_product_exactly, .loops = 3}, {hand_example});
    TCASE(s, "Counting", 30, {ledger_equals_closed_form}, {ledger_random_shapes, .loops = 2},
          {steps_follow_algorithm_1}, {chosen_blocks_fit, .loops = 2}, {need_counts_every_buffer});
    TCASE(s, "Map", 0, {map_states}, {map_drawing}, {walk_views}, {skipped_steps});
    return s;
}
