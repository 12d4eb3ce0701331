/* tilemap.h — an ASCII map of a Tr x Tc grid of tiles (the blocks Sij of the N x N score matrix, say): which tile is
 * being computed, which are done, which are still to do and which are skipped (causal masking); a map may also tell
 * done tiles the mask cuts partly ([/]) from whole ones, the band of a sliding window. Plain ASCII, every line the
 * same width.
 *
 *   tilemap *t = tilemap_create(3, 3);
 *   tilemap_visit(t, 2, 0);               // (2, 0) is computed now; the tile visited before it is done
 *   tilemap_print(t, stdout, "  ");
 *
 *         j  0  1  2
 *     i  0  [x][ ][ ]
 *        1  [x][ ][ ]
 *        2  [#][ ][ ]
 *     [#] computing  [x] done  [ ] to do  [-] skipped
 *
 * Grids more than TILEMAP_WIDE_MAX tiles wide draw one character per tile: # x . - (and / for [/])
 *
 * tilewalk is an observer of a memory model: for each tile an algorithm visits (mem_step) it prints the map beside
 * that tile's loads, computations and stores, each with the running HBM totals. Events between a tile's last
 * computation or store and the next mem_step are the next tile's loads (Kj, Vj before the inner loop, say).
 */
#ifndef FLASHLAB_TILEMAP_H
#define FLASHLAB_TILEMAP_H

#include <stddef.h>
#include <stdio.h>

#include "attention.h"   // defines: attn_params, attn_tile_mask
#include "mem.h"

#define TILEMAP_WIDE_MAX 24   /* widest grid drawn with 3-character cells */

/* TILE_PARTIAL: done, and partly masked (tilemap_mark_masked) */
typedef enum { TILE_PENDING, TILE_CURRENT, TILE_DONE, TILE_SKIPPED, TILE_PARTIAL } tile_state;

typedef struct tilemap tilemap;

tilemap *tilemap_create(size_t Tr, size_t Tc);       /* every tile pending; exits 2 if Tr*Tc would overflow */
void tilemap_free(tilemap *t);
size_t tilemap_rows(const tilemap *t);               /* Tr */
size_t tilemap_cols(const tilemap *t);               /* Tc */

void tilemap_set(tilemap *t, size_t i, size_t j, tile_state s);
tile_state tilemap_get(const tilemap *t, size_t i, size_t j);
/* (i, j) becomes current; the tile that was current becomes done (a skipped tile stays skipped). */
void tilemap_visit(tilemap *t, size_t i, size_t j);
void tilemap_finish(tilemap *t);                     /* the current tile becomes done */
size_t tilemap_count(const tilemap *t, tile_state s);

/* Drawing: tilemap_lines() lines (a column header, then one per tile row), each tilemap_width() characters. */
size_t tilemap_lines(const tilemap *t);
size_t tilemap_width(const tilemap *t);
void tilemap_line(const tilemap *t, size_t k, char *buf, size_t len);   /* line k, no newline, padded */
const char *tilemap_legend(const tilemap *t);
void tilemap_print(const tilemap *t, FILE *out, const char *indent);   /* every line, then the legend */

/* An observer (mem_observe(m, tilemap_paint_step, map)): each mem_step paints its tile done, or skipped when its label
 * is MEM_STEP_SKIP; a skipped tile stays skipped, so several heads painting one map agree. */
void tilemap_paint_step(const mem_event *ev, void *map);
/* After a run: its done tiles that p's mask cuts partly (attn_tile_mask) become TILE_PARTIAL, so the map shows the
 * band: [-] no visible pair (skipped), [/] some pairs masked, [x] every pair computed. The legend names [/] then. */
void tilemap_mark_masked(tilemap *t, const attn_params *p);

/* ---- the walk-through view ----------------------------------------------------------------------------------- */
typedef struct tilewalk tilewalk;
typedef void (*tilewalk_fn)(void *ctx);
/* FULL: the map beside every event of the tile. BRIEF: one line per tile (tiles loaded and stored, work, totals). */
typedef enum { TILEWALK_FULL, TILEWALK_BRIEF } tilewalk_view;

/* Observe m and draw a Tr x Tc map to out. after_tile (may be NULL) runs after each tile is printed: --step. */
tilewalk *tilewalk_open(mem_t *m, size_t Tr, size_t Tc, tilewalk_view view, FILE *out, tilewalk_fn after_tile,
                        void *ctx);
tilemap *tilewalk_map(tilewalk *w);                  /* mark skipped tiles here before the algorithm runs */
/* Print the last tile and any events after it, stop observing, free the walk. Returns its map (last tile done):
 * the caller prints it if it likes and frees it. */
tilemap *tilewalk_close(tilewalk *w);

#endif
