/* attn_common.h — what every attention algorithm file shares, and the shape of its row in the table of algorithms.
 * Not a public API: lessons and tests use include/model/attention.h (which draws how the files depend on each other).
 *
 * An algorithm is one file, sim/model/attn_<name>.c, that ends with its row:
 *
 *   const attn_algo_def attn_algo_flash2 = {
 *       .name = "flash2",
 *       .alloc_saved = flash2_alloc_saved,              // what its forward writes for the backward (L)
 *       .forward = {.run = flash2_forward, .plan = flash2_fwd_plan, .closed_form = flash2_fwd_io,
 *                   .rule = BLOCK_RULE_Q_OUTER, .code = FA2_ALG1},
 *       .backward = {...},
 *   };
 *
 * and a line ATTN_ALGO(FLASH2, flash2) in include/model/algos.def. attention.c builds its table from that list, so
 * an algorithm missing a file fails to link, and every field is required (attention.c checks them once).
 */
#ifndef FLASHLAB_ATTN_COMMON_H
#define FLASHLAB_ATTN_COMMON_H

#include <math.h>

#include "attention.h"
#include "tile_math.h"
#include "util.h"

/* ---- the table's row ------------------------------------------------------------------------------------------ */

/* One pass (forward or backward) of an algorithm. */
typedef struct {
    /* Runs the pass. attention.c has checked the shape, q, k, v, out (and dO, dQ, dK, dV for a backward pass) and
     * that the plan fits M; the pass checks the tensors its forward saved (attn_need). */
    void (*run)(mem_t *m, const attn_params *p, attn_tensors *t);
    /* The SRAM buffers it keeps resident at its peak with blocks Br x Bc (attn_sram_plan). */
    void (*plan)(size_t Br, size_t Bc, size_t d, dtype_t dt, sram_plan *out);
    /* A pass made of separate sweeps (kernels on a GPU): each sweep's plan in order, returns how many (at most
     * ATTN_MAX_SWEEPS); plan is then their largest. NULL for a pass that is one sweep (attn_sweep_plans: plan). */
    size_t (*sweeps)(size_t Br, size_t Bc, size_t d, dtype_t dt, sram_plan *out);
    /* One head's ledger, derived from the pseudocode as arithmetic (attention.c multiplies by B*H): rows, tiles,
     * skipped, softmax_passes. Use attn_io_add and attn_mul, which stop on 64-bit overflow. */
    void (*closed_form)(const attn_params *p, attn_io *head);
    block_rule rule;            /* which loop is resident, so which block is the big one (blocks.h) */
    attn_pseudocode code;       /* the paper's lines */
    bool window;                /* runs a sliding window (p->window): attention.c refuses one to a pass without it */
} attn_pass_def;

typedef struct {
    const char *name;           /* attn_algo_name; the row's name in algos.def */
    /* Allocates in t what the forward pass writes besides out (P; m and l; L), as attn_alloc's part for it. */
    void (*alloc_saved)(mem_t *m, const attn_params *p, dtype_t dt, attn_tensors *t);
    attn_pass_def forward, backward;
} attn_algo_def;

#define ATTN_ALGO(ID, name) extern const attn_algo_def attn_algo_##name;
#include "algos.def"
#undef ATTN_ALGO

/* ---- parameters and tensors ----------------------------------------------------------------------------------- */

/* Stops with exit 2 (fl_fatal) on a bad shape: a size of 0, counts (4*B*H*N^2*d) past 64 bits, blocks outside
 * 1..N, a negative or infinite scale, a window without causal; with exit 4 (fl_internal) on an algorithm outside
 * the table. */
void attn_check_params(const attn_params *p);
float attn_scale(const attn_params *p);          /* p->scale, or 1/sqrt(d) when it is 0 */
/* Stops with exit 4 when tensor x (named name) that algorithm `algo` needs is missing: the caller did not allocate it
 * with attn_alloc. */
void attn_need(const hbm_tensor *x, const char *name, const char *algo);

/* ---- SRAM plans ----------------------------------------------------------------------------------------------- */

/* Sets buffer k of the plan, rows x cols elements (k must be the next one: plans list buffers in allocation order,
 * and code takes them by the same index). Sizes saturate: a plan too large to count is SIZE_MAX bytes, which no M
 * holds. */
void attn_plan_add(sram_plan *pl, size_t k, const char *name, size_t rows, size_t cols, dtype_t dt);
/* A plan as a table, buffer k in entry k (designated by the enum the code takes the buffers by): its name, its shape
 * as two letters (r: Br, c: Bc, d: d, 1: one) and its type, fp32 (computed on chip) or the storage dtype (a copy of
 * HBM). *pl = those n buffers, in order:
 *   static const attn_buf bufs[B_NBUF] = {[B_Kj] = {"Kj", 'c', 'd', ATTN_STORED},
 *                                         [B_Di] = {"Di", 'r', '1', ATTN_FP32}};
 *   attn_plan_table(out, bufs, B_NBUF, Br, Bc, d, dt); */
#define ATTN_FP32 true
#define ATTN_STORED false
typedef struct {
    const char *name;
    char rows, cols;
    bool fp32;
} attn_buf;
void attn_plan_table(sram_plan *pl, const attn_buf *bufs, size_t n, size_t Br, size_t Bc, size_t d, dtype_t dt);
/* *out = x if x needs more bytes than *out, or *out is empty: the peak of passes run one after the other. */
void attn_plan_max(sram_plan *out, const sram_plan *x);
/* Allocate buf[k] for every buffer of the plan in m's SRAM, in order; free them in reverse order. */
void attn_plan_alloc(mem_t *m, const sram_plan *pl, float **buf);
void attn_plan_free(mem_t *m, const sram_plan *pl, float **buf);

/* ---- running -------------------------------------------------------------------------------------------------- */

/* Run fn(w, p, t, buf, item) for item = 0 .. nitems-1. With a plan, buf[k] is plan->buf[k] allocated in w's SRAM
 * once for all items; with plan NULL, buf is NULL and fn allocates what it needs itself. On m itself, in order,
 * when an observer is attached or one thread is asked for; otherwise on OpenMP workers, each with its own SRAM
 * (capacity M) and ledger (mem_fork), joined exactly (mem_join). Items must not share outputs, so results do not
 * depend on the thread count. Items over heads: b = item / H, h = item % H. */
typedef void (*attn_item_fn)(mem_t *m, const attn_params *p, attn_tensors *t, float *const *buf, size_t item);
void attn_run(mem_t *m, const attn_params *p, attn_tensors *t, const sram_plan *plan, size_t nitems,
              attn_item_fn fn);

/* ---- the backward of FlashAttention and FlashAttention-2 ------------------------------------------------------
 * Both sweep key blocks outside and query blocks inside (FA1 Alg.4 lines 6-9 and 24, FA2 Alg.2 lines 5-8 and 18):
 * for each key block j, Kj and Vj are loaded once, dKj and dVj start from 0 on chip and are written once; in between,
 * every query block i the causal mask leaves gets the algorithm's own lines for tile (i, j). */

/* What the algorithm's lines see of one tile. */
typedef struct {
    mem_t *m;
    const attn_params *p;
    attn_tensors *t;
    size_t b, h;           /* the head */
    float *const *buf;     /* the algorithm's backward plan, allocated */
    float scale;
    bool real;             /* false under --count-only: the ledger is counted, nothing computed */
    size_t i, r0, nr;      /* query block i: rows r0 .. r0+nr-1 */
    size_t j, c0, nc;      /* key block j: rows c0 .. c0+nc-1 */
} attn_tile;

/* The key block's buffers, the first four of every plan the sweep runs (FA1 Alg.4 lines 7-8, FA2 Alg.2 lines 6-7):
 *   enum { B_Kj, B_Vj, B_dKj, B_dVj, B_Qi, ... };
 *   static const attn_buf bwd_bufs[B_NBUF] = {ATTN_BWD_KV_BUFS, [B_Qi] = {"Qi", 'r', 'd', ATTN_STORED}, ...}; */
#define ATTN_BWD_KV_BUFS                                                                                              \
    {"Kj", 'c', 'd', ATTN_STORED}, {"Vj", 'c', 'd', ATTN_STORED}, {"dKj", 'c', 'd', ATTN_FP32},                       \
        {"dVj", 'c', 'd', ATTN_FP32}

/* One head of the sweep (item: b = item / H, h = item % H): the plan allocated (it must start with
 * ATTN_BWD_KV_BUFS), then per key block its loads, 0s and stores around tile(x) for each query block left
 * (mem_step names each tile, ATTN_STEP_SKIP a skipped one), the plan freed. */
void attn_bwd_sweep(mem_t *m, const attn_params *p, attn_tensors *t, size_t item, const sram_plan *pl,
                    void (*tile)(const attn_tile *x));

/* ---- arithmetic on SRAM tiles (row-major, dense) ------------------------------------------------------------
 * The products and row pieces are tile_math.h's blocked, vectorised kernels (tile_qkt, tile_pv_acc, tile_ab_acc,
 * tile_atb_acc, tile_rowdot, tile_dsoftmax, tile_exp...): sums in float, in blocked order, FMA where the CPU has it. */

/* The subtrahend of exp(x - m): m itself, or 0 when m = -inf (a row with nothing unmasked yet), so that
 * e^(-inf - (-inf)) is never evaluated and no NaN appears. */
static inline float attn_sub(float m) { return m == -INFINITY ? 0.0f : m; }

/* Sij (qr x kc) = scale Qi Kj^T for query rows q0.. and key rows k0..; with causal, key k0+c > query q0+r is -inf. */
void attn_scores(float *Sij, const float *Qi, const float *Kj, size_t qr, size_t kc, size_t d, float scale,
                 bool causal, size_t q0, size_t k0);
/* A sliding window's lower edge on the same tile: key k0+c <= query q0+r - W is -inf (nothing when W is 0). */
void attn_mask_window(float *Sij, size_t qr, size_t kc, size_t W, size_t q0, size_t k0);

/* ---- closed forms --------------------------------------------------------------------------------------------- */

/* a * b, stopping with exit 2 when the ledger would overflow 64 bits (N, B or H too large). */
uint64_t attn_mul(uint64_t a, uint64_t b);
/* Add rd, wr to tensor's row of io (a new row the first time the tensor is named), overflow-checked. */
void attn_io_add(attn_io *io, const char *tensor, uint64_t rd, uint64_t wr);
/* Σ_{x=0}^{n-1} ⌊(a*x + b)/c⌋, c > 0, in O(log) steps. */
uint64_t attn_floor_sum(uint64_t n, uint64_t c, uint64_t a, uint64_t b);
/* A sweep with key blocks j outside and query blocks i inside (flash1's forward, both flash backward passes), one
 * head: *tiles visited and *rows, the query rows those tiles hold (Σ over visited tiles of the block's rows). Without
 * a mask every tile: Tr*Tc and Tc*N. Causal, column j visits query blocks ⌊j*Bc/Br⌋ .. Tr-1 (the last block always:
 * its last row N-1 >= j*Bc), that is Tr - ⌊j*Bc/Br⌋ tiles holding N - Br*⌊j*Bc/Br⌋ rows; over all j, with
 * F = Σ_{j<Tc} ⌊j*Bc/Br⌋: tiles = Tc*Tr - F, rows = Tc*N - Br*F. */
void attn_kv_sweep(const attn_params *p, uint64_t *tiles, uint64_t *rows);
/* io->tiles and io->skipped of such a sweep, and R, C, E: the query rows, key rows and scores (entries) of its
 * visited tiles (attn_kv_sweep, attn_kv_sums): what flash1's forward and both backward closed forms are built on. */
void attn_kv_io(const attn_params *p, attn_io *io, uint64_t *R, uint64_t *C, uint64_t *E);
/* The same sweep's *keys = Σ over visited tiles of their key rows kc, and *entries = Σ of their scores qr·kc (the
 * work of everything done per score). Column j holds Bc keys (the last one kc_L = N - (Tc-1)Bc) and visits t_j tiles
 * holding R_j rows, so keys = Bc·(tiles - t_L) + kc_L·t_L and entries = Bc·(rows - R_L) + kc_L·R_L. Without a mask
 * keys = Tr·N and entries = N². */
void attn_kv_sums(const attn_params *p, uint64_t *keys, uint64_t *entries);

#endif
