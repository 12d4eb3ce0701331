/* attention.h — attention on the memory model: standard (Algorithm 0), FlashAttention (Algorithm 1) and
 * FlashAttention-2, forward and backward, shaped like the seed's flash_attn_func(q, k, v, causal=...).
 *
 * Layout as in flash_attn: q, k, v, out are (batch, seqlen, nheads, headdim) = (B, N, H, d); row statistics are
 * (B, H, N) in fp32. S = scale * q k^T (scale 0 means 1/sqrt(d)); causal masks key j > query i (top-left, Nq = Nk);
 * a sliding window of W keys adds the lower edge: key j is visible to query i iff i - W < j <= i (flash2's forward).
 * Each algorithm writes to HBM exactly what its paper's pseudocode writes:
 *   standard  S and P (B, H, N, N, storage dtype) then out; P stays allocated for the backward pass
 *   flash1    out, and its running statistics m and l (Alg.1 lines 2, 12, 13) — no lse
 *   flash2    out and lse = m + log(l), once per query block
 *
 *   attn_params p = {.algo = ATTN_FLASH2, .B = 1, .N = N, .H = 1, .d = d, .causal = true};
 *   attn_choose_blocks(&p, false, M, dtype, 0, 0, &choice, err, sizeof err);   // sets p.Br, p.Bc (big Br here)
 *   attn_tensors t = attn_alloc(m, &p, dtype, false);                          // q, k, v, out, lse ...
 *   hbm_upload(t.q, q_host); ...
 *   attn_forward(m, &p, &t);
 *   attn_free(m, &t);
 *
 * OpenMP runs heads in parallel (and flash2's query blocks, which its loop order makes independent); each worker
 * has its own SRAM of capacity M and ledger, joined exactly. With a trace or observer attached, everything runs on
 * one thread in program order, so traces are deterministic.
 *
 * The algorithms are one table (include/model/algos.def: one row each). In sim/model the files depend on each other
 * in one direction only, with no circle:
 *
 *   attention.c         the public API below: the table of rows, dispatch, block choice, tensors, closed-form scaling
 *      |  uses the rows (attn_algo_<name>) of
 *      v
 *   attn_standard.c  attn_flash1.c  attn_flash2.c    one algorithm each: plans, forward, backward, closed forms,
 *      |  (none uses another, nor attention.c)      pseudocode, and the row that names them
 *      v
 *   attn_common.c (+ attn_common.h)   what they share: the row's type, the parallel runner, SRAM plans, tile
 *                                      arithmetic, closed-form helpers, parameter checks
 *
 * Adding an algorithm: one row in algos.def, one file sim/model/attn_<name>.c (see attn_common.h).
 */
#ifndef FLASHLAB_ATTENTION_H
#define FLASHLAB_ATTENTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blocks.h"
#include "mem.h"

typedef enum {
#define ATTN_ALGO(ID, name) ATTN_##ID,
#include "algos.def"
#undef ATTN_ALGO
    ATTN_NALGOS
} attn_algo;

const char *attn_algo_name(attn_algo a);                 /* "standard", "flash1", "flash2"; "unknown" outside */
int attn_algo_parse(const char *s, attn_algo *out);      /* 0 ok, -1 unknown */

/* The most tiles one call may walk: a count-only walk costs ~65 ns a tile on one core, so 2^27 tiles is ~10 s;
 * more is a wait, not a lesson. Lessons refuse shapes past it (a sweep of many runs takes a fraction of it). */
#define ATTN_MAX_TILES ((uint64_t)1 << 27)

typedef struct {
    attn_algo algo;
    size_t B, N, H, d;
    double scale;       /* 0: 1/sqrt(d) */
    bool causal;
    size_t window;      /* 0: none. W >= 1: a sliding window, key j visible to query i iff i - W < j <= i; it needs
                         * causal (the window is causal's upper bound plus a lower edge; W >= N is plain causal), and
                         * only flash2's forward pass runs it (any other pass stops with exit 2) */
    size_t Br, Bc;      /* query rows and key rows per block (attn_choose_blocks fills them) */
    int threads;        /* 0: OpenMP's default; 1 when a trace is attached */
} attn_params;

/* The HBM tensors of one call. attn_alloc allocates those the algorithm reads or writes; NULL fields are unused. */
typedef struct {
    hbm_tensor *q, *k, *v, *out;       /* (B, N, H, d), storage dtype */
    hbm_tensor *lse;                   /* (B, H, N) fp32: flash2 */
    hbm_tensor *m, *l;                 /* (B, H, N) fp32: flash1's running max and sum */
    hbm_tensor *P;                     /* (B, H, N, N) storage dtype: standard's probabilities, kept for backward */
    hbm_tensor *S;                     /* (B, H, N, N) standard's scores: live only inside attn_forward */
    hbm_tensor *dout, *dq, *dk, *dv;   /* backward: (B, N, H, d) */
    hbm_tensor *dP, *dS, *D;           /* backward intermediates, live only inside attn_backward: standard's dP, dS
                                        * (B, H, N, N); flash2's D = rowsum(dO o O) (B, H, N) */
} attn_tensors;

/* The SRAM buffers an algorithm allocates, in order, at its peak: the simulator allocates exactly these, the CUDA
 * kernels lay out shared memory from the same list, and attn_sram_need is their sum. */
typedef struct {
    const char *name;    /* "Qi", "Kj", "Vj", "Sij", "Oi", "mi", "li", ... */
    size_t elems;
    dtype_t dt;
} sram_buf_spec;
typedef struct {
    sram_buf_spec buf[16];
    size_t n;
    size_t bytes;        /* sum of elems * dtype_size(dt) */
} sram_plan;
void attn_sram_plan(attn_algo a, bool backward, size_t Br, size_t Bc, size_t d, dtype_t dt, sram_plan *out);

/* Forward plans (fp32 unless marked dt, the storage dtype; every buffer is a dense row-major tile):
 *   flash1  Kj Bc*d dt, Vj Bc*d dt, Qi Br*d dt, Oi Br*d dt, li, mi, Sij Br*Bc (P~ij in place), m~ij, l~ij,
 *           mi_new, li_new (row statistics: Br each)
 *   flash2  Qi Br*d dt, Kj Bc*d dt, Vj Bc*d dt, Sij Br*Bc (P~ij in place), Oi Br*d (unnormalized accumulator),
 *           mi, li (Br each; mi holds Li = mi + log li before it is written)
 *   standard is three kernels, one per phase, each with its own buffers; its plan is the largest phase:
 *     phase 0 "S"        Qi Br*d dt, Kj Bc*d dt, Sij Br*Bc
 *     phase 1 "softmax"  Si Br*Bc: a row of S (or a chunk of one); a row fits when N <= Br*Bc
 *     phase 2 "PV"       Pij Br*Bc dt, Vj Bc*d dt, Oi Br*d (accumulator) */
#define ATTN_STANDARD_PHASES 3
void attn_standard_plan(int phase, size_t Br, size_t Bc, size_t d, dtype_t dt, sram_plan *out);
extern const char *const attn_standard_phase[ATTN_STANDARD_PHASES];   /* "S", "softmax", "PV" */

/* The plans of a pass's separate sweeps, in order, each its own kernel on a GPU: standard's backward is Algorithm 3's
 * five lines, flash2's backward D = rowsum(dO o O) and then the main loop; a pass that is one sweep has one plan,
 * attn_sram_plan's. Returns how many (at most ATTN_MAX_SWEEPS); attn_sram_plan is the largest of them. */
#define ATTN_MAX_SWEEPS 5
size_t attn_sweep_plans(attn_algo a, bool backward, size_t Br, size_t Bc, size_t d, dtype_t dt,
                        sram_plan out[ATTN_MAX_SWEEPS]);

/* SRAM bytes the algorithm keeps resident at its peak with blocks Br x Bc: the plan's total. */
size_t attn_sram_need(attn_algo a, bool backward, size_t Br, size_t Bc, size_t d, dtype_t dt);

/* Choose p->Br, p->Bc from M (blocks.h rules, this algorithm's footprint). 0, or -1 with a reason in err.
 * The big block goes to the loop that stays resident (attn_block_rule): flash2's forward walks query blocks
 * outside (Qi stays, K and V stream Tr times), so it takes the transposed rule Br = ⌈M/4d⌉, Bc = min(Br, d);
 * standard, flash1 and every backward pass (flash2's included: its outer loop walks key blocks j) take the
 * paper's Bc = ⌈M/4d⌉, Br = min(Bc, d). Requested blocks (Br_req, Bc_req; 0 = choose) are kept.
 * attn_choose_blocks_rule picks the rule by hand, e.g. flash2 under FlashAttention-1's rule (lesson05, lesson06). */
int attn_choose_blocks(attn_params *p, bool backward, size_t M_bytes, dtype_t dt, size_t Br_req, size_t Bc_req,
                       block_choice *out, char *err, size_t errlen);
int attn_choose_blocks_rule(attn_params *p, bool backward, size_t M_bytes, dtype_t dt, size_t Br_req, size_t Bc_req,
                            block_rule rule, block_choice *out, char *err, size_t errlen);
block_rule attn_block_rule(attn_algo a, bool backward);

attn_tensors attn_alloc(mem_t *m, const attn_params *p, dtype_t dt, bool backward);
void attn_free(mem_t *m, attn_tensors *t);

/* Forward: reads q, k, v; writes out (+ lse, or m and l, or P). Intermediates (standard's S) are allocated and
 * freed inside, so mem_hbm_peak shows each algorithm's real peak. */
void attn_forward(mem_t *m, const attn_params *p, attn_tensors *t);

/* Backward after a forward of the same algorithm: reads q, k, v, out, dout and what the forward saved; writes
 * dq, dk, dv. standard: dV = P^T dO, dP, dS through HBM; flash1/flash2: recompute P from q, k and the saved
 * statistics, D = rowsum(dO o O), dQ accumulated in HBM across key blocks. */
void attn_backward(mem_t *m, const attn_params *p, attn_tensors *t);

/* The ledger each algorithm must produce, in elements over all B*H heads, derived line by line from its
 * pseudocode, independent of the code that runs it. Tests and lesson04/06/07 hold the counted ledger to it. */
typedef struct {
    const char *tensor;
    uint64_t rd, wr;
} attn_io_row;
typedef struct {
    attn_io_row row[16];
    size_t n;
    uint64_t rd, wr;        /* totals */
    uint64_t tiles, skipped; /* (i, j) tiles visited, and skipped by causal masking (and a sliding window) */
    unsigned softmax_passes; /* standard: reads of each row of S by its softmax (1 if a row fits, else 3) */
    unsigned ds_passes;      /* standard backward, Alg.3 line 3: passes over a row block's tiles of P and dP (1 when
                              * the row fits, Tc = 1: D and dS from the same loads; else 2: D first, then dS) */
    /* Work, by mem.h's FLOP convention: matmul FLOPs, non-matmul FLOPs (their sum is what mem_flops counts), and
     * exp()/log() calls (mem_exps). */
    uint64_t flops_mm, flops_ew, exps;
} attn_io;
void attn_io_closed_form(const attn_params *p, bool backward, attn_io *out);

/* FlashAttention-2's row update (FA2 Alg.1 lines 9-10) for one query row of a tile: the code attn_forward runs on
 * its tiles (tile_softmax_pv_update), on one row, so the row comes out bit for bit as the forward's does when its
 * scores are computed the forward's way too (tile_qkt):
 * s holds the row's kc scores (overwritten with P~ = exp(s - m_new)); Vj is kc x d; *mi, *li are the row's running
 * max and sum; oi is its d-vector accumulator (unnormalized). Does m_new = max(*mi, max s),
 * alpha = exp(*mi - m_new) (0 when both are -inf), *li = alpha (*li) + sum P~, oi = alpha oi + P~ Vj, *mi = m_new. */
void attn_flash2_row_update(float *s, size_t kc, const float *Vj, size_t d, float *mi, float *li, float *oi);

/* FlashAttention-2's forward (Alg.1 lines 3-15) on one head given as windows, on m itself: queries q (p->N x d)
 * against keys and values k, v (k.rows x d, any number of rows); writes out (p->N x d) and the log-sum-exp lse
 * (p->N x 1) once per query block, as attn_forward does. p gives d, Br, Bc (either may exceed the rows), the scale
 * and the mask: causal masks key row c > query row r of the windows (the diagonal block of a longer sequence, so
 * k.rows = p->N), a sliding window p->window key row c <= r - W too. Ring attention runs it on every device and step
 * (ring.h). */
void attn_flash2_forward_head(mem_t *m, const attn_params *p, hbm_mat q, hbm_mat k, hbm_mat v, hbm_mat out,
                              hbm_mat lse);

/* The paper's pseudocode of one pass, for lessons and traces to print beside what runs: line[k] is the paper's line
 * k + 1, the number the code's comments and its mem_note trace lines cite. */
typedef struct {
    const char *title;          /* "FlashAttention-2 forward (Dao 2023, Algorithm 1)" */
    const char *require;        /* its "Require:" line */
    const char *const *line;
    size_t n;
} attn_pseudocode;
const attn_pseudocode *attn_algo_pseudocode(attn_algo a, bool backward);

/* Causal block skipping: tile (i, j) holds queries i*Br .. min((i+1)*Br, N)-1 and keys j*Bc .. min((j+1)*Bc, N)-1;
 * it is skipped (no loads, no stores) when it holds no visible pair: its first key comes after its last query, or,
 * with a window W, its last key comes before its first query's window (last key <= first query - W). Standard
 * attention never skips. */
bool attn_tile_skipped(const attn_params *p, size_t i, size_t j);
/* What the mask does to tile (i, j): every pair visible (FULL: no mask, or a tile wholly inside the causal band),
 * some masked (PARTIAL), none visible (SKIPPED, attn_tile_skipped). */
typedef enum { ATTN_TILE_FULL, ATTN_TILE_PARTIAL, ATTN_TILE_SKIPPED } attn_tile_kind;
attn_tile_kind attn_tile_mask(const attn_params *p, size_t i, size_t j);
/* Every tile is one mem_step(m, i, j, label); a skipped tile's label is ATTN_STEP_SKIP, so maps paint it apart.
 * Mem phases: flash1/flash2 count under "forward", standard under "S", "softmax", "PV" (a step per tile in S and
 * in PV). */
#define ATTN_STEP_SKIP MEM_STEP_SKIP

#endif
