/* lab_attn.h — one attention algorithm run the way every lesson runs it: blocks chosen for the options, a fresh
 * memory model (--sram, --count-only), the inputs uploaded, the pass, the outputs downloaded, and the counted ledger
 * held to the closed form derived from the pseudocode (attn_io_closed_form).
 *
 *   lab_attn r = lab_attn_plan(cfg, ATTN_FLASH2, false, NULL);   // blocks by flash2's own rule (big Br)
 *   lab_attn_open(&L, &r, &in);          // model, tensors, upload; the trace follows a forward run from here
 *   lab_attn_walk(&r, TILEWALK_BRIEF, NULL, NULL);                // observers of r.m go here
 *   lab_attn_run(&L, &r);                // the pass; r.closed_ok, r.o and r.lse (or r.g) when computed
 *   lab_attn_free(&r);
 *
 * A backward run (backward = true) runs the forward first, keeps its HBM peak, zeroes the ledger and then runs the
 * backward alone: its ledger, closed form, trace and map are the backward's.
 */
#ifndef FLASHLAB_LAB_ATTN_H
#define FLASHLAB_LAB_ATTN_H

#include "attention.h"  // defines: attn_params, attn_tensors, attn_io, block_rule
#include "flash_api.h"  // defines: flash_attn_func, flash_attn_backward
#include "lab.h"
#include "tilemap.h"    // defines: tilemap

typedef struct {
    attn_params p;          /* algorithm, shape (B, N, H, d), causal, blocks Br x Bc, threads */
    block_choice bc;        /* how the blocks were chosen; bc.rule is one sentence for people */
    size_t Tr, Tc;          /* ⌈N/Br⌉ query blocks, ⌈N/Bc⌉ key blocks */
    bool backward;
    bool api;               /* flash2 only: run through flash_attn_func / flash_attn_backward (flash_api.h), as a
                             * learner calls FlashAttention; the same passes, blocks and counts */
    cli_cfg cfg;            /* the options it was planned with (a lesson may plan other shapes than its own) */
    mem_t *m;               /* the run's own memory model: M = --sram, count-only = --count-only */
    attn_tensors t;
    tilemap *map;           /* set before lab_attn_run to have the pass paint its Tr x Tc tiles (NULL: none) */
    const lab_inputs *in;   /* what lab_attn_open uploaded (an api backward run uploads dO after the forward) */
    tilewalk *walk;         /* lab_attn_walk's; lab_attn_run closes it, its map becomes r->map unless one is set */
    attn_io io;             /* closed form of the counted pass (the backward's, for a backward run) */
    bool closed_ok;         /* the counted ledger equals io, every tensor of it and the totals */
    uint64_t fwd_hbm_peak;  /* backward runs: the most HBM bytes the forward allocated */
    float *o, *lse;         /* forward: out (B, N, H, d), and lse (B, H, N) where the algorithm writes it */
    float *g[3];            /* backward: dQ, dK, dV (B, N, H, d). All NULL under --count-only */
} lab_attn;

/* Blocks of algorithm a for cfg's shape, M and dtype (--block-rows/--block-cols kept): its own rule
 * (attn_block_rule) when rule is NULL, else *rule. On no fit: one line "<algo>[ backward]: <why>" and exit 2. */
lab_attn lab_attn_plan(const cli_cfg *cfg, attn_algo a, bool backward, const block_rule *rule);
/* Whether algorithm a's SRAM plan fits M with blocks Br x Bc exactly (cfg's shape and dtype): no message, no exit. */
bool lab_attn_fits(const cli_cfg *cfg, attn_algo a, bool backward, size_t Br, size_t Bc);
/* A fresh model for r (M, count-only from r's options), r's tensors allocated and in uploaded (in may be NULL or
 * hold NULLs: nothing uploaded). A forward run is traced from its allocations on; L NULL: the run is not traced. */
void lab_attn_open(lab_t *L, lab_attn *r, const lab_inputs *in);
/* The first step of lab_attn_open alone: r's fresh model, traced (forward runs), before its tensors exist, for a
 * mem_note or prose that belongs before them. lab_attn_open then uses it. */
mem_t *lab_attn_model(lab_t *L, lab_attn *r);
/* The pass, with r->map painted; then r->closed_ok, and the outputs downloaded unless --count-only. */
void lab_attn_run(lab_t *L, lab_attn *r);
/* A Tr x Tc map for r to paint (r->map), when L shows tables and the grid has at most LAB_MAP_MAX_TILES; else NULL. */
tilemap *lab_attn_map(const lab_t *L, const lab_attn *r);
/* Draw r's tiles on stdout while it runs (between lab_attn_open and lab_attn_run): TILEWALK_FULL the map beside
 * every event, after_tile(ctx) after each tile (--step); TILEWALK_BRIEF one line per tile. */
void lab_attn_walk(lab_attn *r, tilewalk_view view, tilewalk_fn after_tile, void *ctx);
/* lab_attn_open + lab_attn_run, for runs nobody watches in between. */
void lab_attn_go(lab_t *L, lab_attn *r, const lab_inputs *in);
void lab_attn_free(lab_attn *r);   /* the model, its tensors, its map and the downloaded outputs */
/* The summary's start for run r: summary_begin with r's options and blocks (algo: its name there), then its ledger. */
void lab_sum_begin(summary_t *s, const lab_attn *r, const char *algo);
/* Summary keys of a run under a prefix: prefix_Br, prefix_Bc, then lab_sum_ledger's keys (LAB_KEY_*). */
void lab_sum_run(summary_t *s, const char *prefix, const lab_attn *r, unsigned keys);

/* ---- comparisons of counted ledgers ----------------------------------------------------------------------------- */
/* Every tensor io names, and the totals, counted exactly as io says (elements); FLOPs and exps too. */
bool lab_ledger_matches(const mem_t *m, const attn_io *io);
/* io's row for tensor (zeros when io does not name it). */
attn_io_row lab_io_row(const attn_io *io, const char *tensor);
/* Two runs of one algorithm agree: the same counts, and (when computed) bitwise the same outputs. *counts (may be
 * NULL) gets the counts' verdict alone. */
bool lab_attn_identical(const lab_attn *a, const lab_attn *b, bool *counts);
/* NaNs in r's downloaded outputs (o and lse, or the gradients); 0 when nothing was computed. */
uint64_t lab_attn_nans(const lab_attn *r);
/* Causal runs: (query row, tile) pairs where a visited tile masks the row entirely: every key after the query, or
 * (a window W) every key at or before query - W; *before_window (may be NULL) gets the pairs of the second kind, where
 * the row has seen no key yet and its running max is still -inf. */
uint64_t lab_masked_rows(const attn_params *p, uint64_t *before_window);
/* The same counts in both models: every tensor's reads and writes (elements and bytes), FLOPs, exps, SRAM peak. */
bool lab_same_counts(const mem_t *a, const mem_t *b);

#endif
