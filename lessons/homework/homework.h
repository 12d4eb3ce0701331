/* homework.h — the homework's exercises, one signature each: the five that end the seed course's FlashAttention
 * chapter, and hw06 on lesson11's decode.
 *
 * Your code goes in lessons/homework/hwNN_*.c (each file's header says what to do). The tests in
 * tests/homework/check_hwNN.c are built against your file; `make homework HW=NN` builds and runs them and says
 * what passes and why something fails. The same tests pass against the reference solutions (docs/solutions/),
 * and fail against the untouched files — `make homework-ci` checks both.
 *
 *   hw01  online softmax on the memory model: two passes over x, not three
 *   hw02  FlashAttention's tiling (Algorithm 1) on the memory model, within the paper's IO ledger
 *   hw03  a benchmark: standard attention vs FlashAttention-2 on long sequences (warm-up, median of repeats)
 *   hw04  peak HBM memory of standard attention and FlashAttention: measure it, then predict it with a formula
 *   hw05  FlashAttention-2 (Dao 2023, Algorithm 1): query blocks outside, O and L written exactly once, causal
 *   hw06  the split-KV merge (lesson11's Flash-Decoding kernel 2): S partial outputs into one, each read once
 */
#ifndef FLASHLAB_HOMEWORK_H
#define FLASHLAB_HOMEWORK_H

#include <stddef.h>
#include <stdint.h>

#include "attention.h"   // defines: attn_params, attn_tensors, attn_forward, attn_alloc, attn_choose_blocks, ...
#include "mem.h"         // defines: mem_t, hbm_load_rows, hbm_load_tile, hbm_store_rows, sram_alloc, mem_compute, ...

/* ---- hw01: online softmax ---------------------------------------------------------------------------------------
 * y = softmax(x) of each row of x (R x N, LAYOUT_MAT), streaming x through SRAM in tiles of Br rows x Bc columns:
 * pass 1 keeps a running max mi and sum li per row (online), pass 2 writes y. Reads of x: exactly 2·R·N.
 * SRAM: one tile Xij (Br*Bc elements of x's dtype) and mi, li (Br floats each, fp32) — M holds exactly these. */
void hw01_online_softmax(mem_t *m, hbm_tensor *x, hbm_tensor *y, size_t Br, size_t Bc);

/* ---- hw02: FlashAttention forward (Dao et al. 2022, Algorithm 1) -------------------------------------------------
 * For every head (b, h): O = softmax(scale · Q K^T) V with blocks p->Br x p->Bc, outer loop over key blocks j,
 * inner loop over query blocks i, O, l, m kept in HBM between visits (t->out, t->l, t->m). p->causal is false.
 * SRAM: M is exactly attn_sram_plan(ATTN_FLASH1, false, Br, Bc, d, dtype)'s buffers. HBM traffic: at most the
 * closed form attn_io_closed_form(p) gives, in reads and in writes. */
void hw02_flash1_forward(mem_t *m, const attn_params *p, attn_tensors *t);

/* ---- hw03: speed test -------------------------------------------------------------------------------------------- */
#define HW03_MAX_REPS 32

typedef void (*hw03_fn)(void *ctx);

typedef struct {
    int warmup, reps;              /* untimed calls made first, then timed calls */
    double ms[HW03_MAX_REPS];      /* each timed call, milliseconds, in call order */
    double median_ms;              /* the median of ms[0 .. reps-1] */
} hw03_timing;

/* Call fn(ctx) warmup times without timing, then reps times (1 <= reps <= HW03_MAX_REPS), timing each call alone
 * with a monotonic clock; fill every field of out. */
void hw03_benchmark(hw03_fn fn, void *ctx, int warmup, int reps, hw03_timing *out);

typedef struct {
    size_t N;                      /* the sequence length of this row */
    hw03_timing standard, flash;   /* attn_forward with ATTN_STANDARD and with ATTN_FLASH2 */
    double speedup;                /* standard.median_ms / flash.median_ms */
} hw03_row;

/* For each Ns[k]: time one forward pass of standard attention and of FlashAttention-2 (B = H = 1, head dim d, fp32,
 * real arithmetic, one thread, M = HW03_M_BYTES, blocks from attn_choose_blocks) with hw03_benchmark, both on the
 * same random inputs in the same run. rows[k] gets the results. */
#define HW03_M_BYTES (192u * 1024u)
void hw03_speed_test(const size_t *Ns, size_t n, size_t d, int warmup, int reps, hw03_row *rows);

/* ---- hw04: peak memory ------------------------------------------------------------------------------------------- */
/* The most HBM bytes allocated at once (mem_hbm_peak) during attn_alloc + attn_forward of algo at (B = H = 1, N, d),
 * storage dt, SRAM M_bytes with blocks from attn_choose_blocks. Count-only mode is enough: allocation is counted
 * without storage, so N = 65536 costs nothing. */
uint64_t hw04_peak_hbm_bytes(attn_algo algo, size_t N, size_t d, dtype_t dt, size_t M_bytes);
/* The same number from a formula in N, d and dtype_size(dt): which tensors are alive at the peak? */
uint64_t hw04_predict_peak_bytes(attn_algo algo, size_t N, size_t d, dtype_t dt);
/* How the peak grows: the exponent e in peak ∝ N^e between two measurements, log(peak2/peak1) / log(N2/N1). */
double hw04_growth_exponent(size_t N1, uint64_t peak1, size_t N2, uint64_t peak2);

/* ---- hw05: FlashAttention-2 forward (Dao 2023, Algorithm 1) ------------------------------------------------------
 * For every head: outer loop over query blocks i, inner loop over key blocks j; Oi, li, mi stay in SRAM; Oi is
 * divided by li once at the end; Oi and Li = mi + log(li) written once (t->out, t->lse). With p->causal, key j > query
 * row i is masked, and key blocks entirely after the query block are skipped (no loads).
 * SRAM: M is exactly attn_sram_plan(ATTN_FLASH2, false, Br, Bc, d, dtype)'s buffers. HBM: O written exactly
 * B·H·N·d elements, L exactly B·H·N; reads at most attn_io_closed_form(p)'s. */
void hw05_flash2_forward(mem_t *m, const attn_params *p, attn_tensors *t);

/* ---- hw06: the split-KV merge (lesson11, Flash-Decoding's kernel 2) ----------------------------------------------
 * R = B·Hq rows (one query token per sequence and head), each attended by S splits of the KV cache. o_split is
 * (S·R) x d fp32 and l_split (S·R) x 1 fp32, both LAYOUT_MAT: row s·R + r holds split s's normalized partial output
 * of row r and its log-sum-exp (L = -inf, O = 0: the split saw no key). Write o (R x d, LAYOUT_MAT, its own dtype)
 * and, unless lse is NULL, lse (R x 1 fp32):  L = log Σ_s e^(L_s),  O = Σ_s e^(L_s - L) O_s.  Rows go in blocks of
 * Br; every partial is read exactly once (o_split S·R·d elements, l_split S·R), o written R·d, lse R.
 * SRAM: M is exactly HW06_SRAM_BYTES(Br, d): Os (Br·d), Ls (Br), Oi (Br·d), mi, li (Br), all fp32 — decode's merge
 * plan. Returns 0, or -1 with no traffic at all when the shapes disagree: Br = 0, o_split's rows not a multiple of
 * o's, o_split's columns not o's, l_split not (rows of o_split) x 1, lse (when given) not R x 1. */
#define HW06_SRAM_BYTES(Br, d) ((size_t)(Br) * (2 * (size_t)(d) + 3) * sizeof(float))
int hw06_split_merge(mem_t *m, hbm_tensor *o_split, hbm_tensor *l_split, hbm_tensor *o, hbm_tensor *lse, size_t Br);

#endif
