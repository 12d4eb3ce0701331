/* softmax.h — softmax of each row of an R x N matrix in HBM, streamed through SRAM one Br x Bc tile at a time.
 *
 *   naive   y = e^x / Σ e^x as three elementwise kernels (exp, sum, divide); e = e^x is stored in HBM in x's dtype,
 *           so it overflows: e^100 is inf in fp32 (ln FLT_MAX = 88.72), e^12 is inf in fp16 (ln 65504 = 11.09)
 *   safe    three passes over x: m = max x; ℓ = Σ e^(x−m); y = e^(x−m)/ℓ.        3 reads + 1 write of R·N
 *   online  two passes (Milakov & Gimelshein 2018): m and ℓ together, block by block; then y.  2 reads + 1 write
 *
 * SRAM holds one tile Xij (Br rows x Bc columns, x's dtype) and, per row of the tile, the statistics mi and li
 * (fp32); softmax_sram_need is exactly what each algorithm allocates. Rows must hold at least one finite value.
 * ℓ is summed block by block (a block's terms, then into ℓ), as a kernel reduces a tile, so its fp32 rounding error
 * grows like Bc + Tc ulps rather than N.
 *
 *   hbm_tensor *x = hbm_alloc_mat(m, "x", DTYPE_FP32, R, N), *y = hbm_alloc_mat(m, "y", DTYPE_FP32, R, N);
 *   softmax_run(m, SOFTMAX_SAFE, x, y, Br, Bc, NULL, NULL);        // counts 3RN reads of x, RN writes of y
 *
 * FLOPs follow the one convention of mem.h (mem_compute): an add, subtract, multiply, divide or max is one FLOP, a
 * max over n values is n; exp() calls are counted apart.
 */
#ifndef FLASHLAB_SOFTMAX_H
#define FLASHLAB_SOFTMAX_H

#include <stddef.h>
#include <stdint.h>

#include "mem.h"

typedef enum { SOFTMAX_NAIVE, SOFTMAX_SAFE, SOFTMAX_ONLINE } softmax_algo;
const char *softmax_algo_name(softmax_algo a);          /* "naive", "safe", "online" */

/* ---- the online-softmax state: pure functions, no memory model ---------------------------------------------- */

/* Running max m and running sum ℓ = Σ e^(x_k − m) over the values seen so far. Nothing seen: {−inf, 0}. */
typedef struct {
    float m, l;
} softmax_state;

softmax_state softmax_state_empty(void);                 /* {−inf, 0} */

/* Fold n more values x[0..n) of one row into s (one block of the online pass):
 *   m_block = max_k x_k,   m_new = max(s.m, m_block),
 *   ℓ_new   = s.l · e^(s.m − m_new) + Σ_k e^(x_k − m_new)
 * Work: 3n + 3 FLOPs and n + 1 exps (the +1 is the rescale e^(m_old − m_new)). n = 0 returns s. */
softmax_state softmax_online_update(softmax_state s, const float *x, size_t n);

/* Combine the states of two disjoint parts of one row, e.g. its two halves computed by two workers:
 *   m = max(a.m, b.m),   ℓ = a.l · e^(a.m − m) + b.l · e^(b.m − m)
 * Work: 6 FLOPs and 2 exps. Merging with softmax_state_empty() changes nothing. */
softmax_state softmax_merge(softmax_state a, softmax_state b);

/* ---- softmax on the memory model ---------------------------------------------------------------------------- */

/* Bytes of SRAM algorithm a allocates for Br x Bc tiles of dtype dt: the tile plus fp32 statistics per row
 * (naive: li; safe and online: mi and li). */
size_t softmax_sram_need(softmax_algo a, size_t Br, size_t Bc, dtype_t dt);

/* Blocks for R rows of N from M. Rows go in parallel: Br is as many rows as fit beside their statistics with one
 * column each (at most R), then Bc the widest tile those rows allow (at most N); a requested Br or Bc is kept and
 * the other fitted. 0, or −1 with one line in err (a block larger than R or N, an SRAM too small for the tile). */
typedef struct {
    size_t Br, Bc, need_bytes;
    char rule[192];            /* one sentence for people: how the blocks were chosen */
} softmax_blocks;
int softmax_choose_blocks(softmax_algo a, size_t M_bytes, size_t R, size_t N, dtype_t dt, size_t Br_req,
                          size_t Bc_req, softmax_blocks *out, char *err, size_t errlen);

/* Called after each row's update in the online pass 1 (never in count-only mode): row r, column block j, the state
 * before and after, and the block's own max m_block. */
typedef void (*softmax_probe)(size_t r, size_t j, softmax_state before, softmax_state after, float m_block,
                              void *ctx);

/* y = softmax(x) row by row; x and y are R x N (LAYOUT_MAT), y may have another dtype. Phases name the passes
 * (naive: exp, sum, divide; safe: max, sum, normalize; online: max_sum, normalize) and end back at "main"; naive
 * allocates its intermediate e (x's dtype) in HBM and frees it. probe: online only (NULL: none). */
void softmax_run(mem_t *m, softmax_algo a, hbm_tensor *x, hbm_tensor *y, size_t Br, size_t Bc, softmax_probe probe,
                 void *ctx);

/* The ledger each algorithm must produce for R rows of N, derived from its passes, in elements. */
typedef struct {
    uint64_t rd_x, rd_e, wr_e, wr_y;   /* e: naive's intermediate */
    uint64_t rd, wr;                   /* totals */
    uint64_t flops, exps;
    uint64_t passes;                   /* passes over each row in HBM: naive 3, safe 3, online 2 */
    uint64_t tiles;                    /* (i, j) tiles per pass: ⌈R/Br⌉ · ⌈N/Bc⌉ */
} softmax_io;
void softmax_closed_form(softmax_algo a, size_t R, size_t N, size_t Br, size_t Bc, softmax_io *out);

#endif
