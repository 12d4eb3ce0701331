/* mem.h — the counting memory model: a fake HBM of named tensors, a fake SRAM of hard capacity M, and a ledger.
 *
 * Every byte an algorithm moves between HBM and SRAM goes through hbm_load_* / hbm_store_* and is counted, per
 * tensor and per phase, in elements and in bytes of the tensor's dtype. SRAM buffers are plain float arrays you do
 * arithmetic on in ordinary C; sram_alloc charges their bytes against M and stops the program, naming what is
 * resident, when a tile would not fit. Counts are exact uint64 and never depend on timing or thread count.
 *
 *   mem_t *m = mem_create(64 * 1024, false);                      // M = 64 KiB, real arithmetic
 *   hbm_tensor *K = hbm_alloc_mat(m, "K", DTYPE_FP16, N, d);
 *   float *Kj = sram_alloc(m, Bc * d, DTYPE_FP16, "Kj");
 *   hbm_load_rows(m, Kj, hbm_whole(K), j * Bc, rows, "Kj");       // counts rows*d reads of K, 2 bytes each
 *   mem_compute(m, "Sij = Qi Kj^T", 2 * Br * rows * d, 0);        // counts FLOPs (and exp() calls)
 *
 * In count-only mode (mem_create(M, true)) tensors get no storage and loads/stores copy nothing, so an algorithm
 * can run its loops at N = 65536 in milliseconds; algorithms skip their arithmetic when mem_count_only() is true.
 *
 * Parallel work: mem_fork() gives a worker its own SRAM (same M) and an empty ledger over the same HBM;
 * mem_join() adds the worker's counts back. Integer sums do not depend on order, so counts are thread-invariant.
 */
#ifndef FLASHLAB_MEM_H
#define FLASHLAB_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dtype.h"

#define MEM_MAX_TENSORS 32   /* distinct tensor names in one model */
#define MEM_MAX_PHASES 16    /* distinct phase names in one model */
#define MEM_MAX_TILES 32     /* SRAM buffers resident at once */
#define MEM_NAME_LEN 24

typedef struct mem mem_t;
typedef struct hbm_tensor hbm_tensor;

/* How a tensor's elements are laid out; hbm_head() uses it to find one (batch, head) slice. */
typedef enum {
    LAYOUT_MAT,   /* rows x cols, row-major: lessons 01–03's plain vectors and matrices */
    LAYOUT_BNHD,  /* (batch, seqlen, nheads, headdim), flash_attn_func's q, k, v, out */
    LAYOUT_BHN,   /* (batch, nheads, seqlen): softmax statistics m, l, L (flash_attn's softmax_lse), D */
    LAYOUT_BHNN   /* (batch, nheads, seqlen, seqlen): the materialized S, P, dP, dS of standard attention */
} hbm_layout;

/* A 2-D window into a tensor: element (r, c) lives at off + r*ld + c. b, h name the head for traces. */
typedef struct {
    hbm_tensor *t;
    size_t off, rows, cols, ld;
    size_t b, h;
} hbm_mat;

/* Counted traffic of one tensor (or a total): HBM->SRAM reads and SRAM->HBM writes. */
typedef struct {
    uint64_t rd_elems, wr_elems, rd_bytes, wr_bytes;
} io_count;

/* ---- the model ---------------------------------------------------------------------------------------------- */
mem_t *mem_create(size_t sram_capacity_bytes, bool count_only);
void mem_destroy(mem_t *m);                   /* frees every tensor and buffer */
bool mem_count_only(const mem_t *m);
size_t mem_sram_capacity(const mem_t *m);     /* M, bytes */

/* ---- HBM tensors (allocation is not traffic: it is not counted as reads or writes) --------------------------- */
hbm_tensor *hbm_alloc_mat(mem_t *m, const char *name, dtype_t dt, size_t rows, size_t cols);
hbm_tensor *hbm_alloc_bnhd(mem_t *m, const char *name, dtype_t dt, size_t B, size_t N, size_t H, size_t d);
hbm_tensor *hbm_alloc_bhn(mem_t *m, const char *name, dtype_t dt, size_t B, size_t H, size_t N);
hbm_tensor *hbm_alloc_bhnn(mem_t *m, const char *name, dtype_t dt, size_t B, size_t H, size_t N);
void hbm_free(mem_t *m, hbm_tensor *t);       /* releases storage; the tensor's counts stay in the ledger */

dtype_t hbm_dtype(const hbm_tensor *t);
size_t hbm_numel(const hbm_tensor *t);
/* Its layout, and its sizes in dim: MAT rows, cols; BNHD B, N, H, d; BHN B, H, N; BHNN B, H, N, N (unused: 1). */
hbm_layout hbm_shape(const hbm_tensor *t, size_t dim[4]);
hbm_mat hbm_whole(hbm_tensor *t);                       /* LAYOUT_MAT: the whole rows x cols matrix */
hbm_mat hbm_head(hbm_tensor *t, size_t b, size_t h);    /* one head: N x d (BNHD), N x 1 (BHN), N x N (BHNN) */

/* Host access, outside the algorithm (like cudaMemcpy before and after a kernel): not counted, not traced.
 * Upload rounds to the tensor's dtype; in count-only mode both do nothing. */
void hbm_upload(hbm_tensor *t, const float *src);       /* src holds hbm_numel(t) floats in the tensor's layout */
void hbm_download(const hbm_tensor *t, float *dst);

/* ---- counted transfers (dst/src are dense tiles: row r of the tile at dst + r*ncols) ------------------------- */
void hbm_load_tile(mem_t *m, float *dst, hbm_mat src, size_t r0, size_t nrows, size_t c0, size_t ncols,
                   const char *tile);
void hbm_store_tile(mem_t *m, hbm_mat dst, size_t r0, size_t nrows, size_t c0, size_t ncols, const float *src,
                    const char *tile);
/* Whole rows r0 .. r0+nrows-1, all columns: the common case (Qi, Kj, Vj, Oi, li, mi). */
void hbm_load_rows(mem_t *m, float *dst, hbm_mat src, size_t r0, size_t nrows, const char *tile);
void hbm_store_rows(mem_t *m, hbm_mat dst, size_t r0, size_t nrows, const float *src, const char *tile);
/* Write one value into rows r0 .. r0+nrows-1 (Alg.1 line 2: O = 0, l = 0, m = -inf): counted as writes. */
void hbm_fill_rows(mem_t *m, hbm_mat dst, size_t r0, size_t nrows, float value, const char *what);

/* ---- SRAM ---------------------------------------------------------------------------------------------------- */
/* A buffer of elems floats, charged elems * dtype_size(dt) bytes against M. If that would exceed M, stops the
 * program (exit 2) with a message naming the tile, its size, every resident buffer and M. Contents start at 0.
 * Count-only mode: the buffer is charged the same but is an address with no memory behind it (any access faults),
 * so a count-only run costs no host RAM whatever M is; algorithms must not touch it then. */
float *sram_alloc(mem_t *m, size_t elems, dtype_t dt, const char *name);
void sram_free(mem_t *m, float *buf);
size_t sram_used(const mem_t *m);             /* bytes resident now */
size_t sram_peak(const mem_t *m);             /* the most bytes ever resident at once */

/* ---- compute and annotations --------------------------------------------------------------------------------- */
/* Count work done on SRAM tiles. The one FLOP convention, for every lesson, algorithm and closed form:
 *   - a matrix product (m x k)(k x n) is 2mnk FLOPs, a multiply and an add per term; adding it into an accumulator
 *     (C += AB) is included. These are the matmul FLOPs, the tensor cores' work;
 *   - every other add, subtract, multiply, divide and max (or min) of two values is one FLOP: the non-matmul FLOPs
 *     (softmax's max, subtract, sum, divide; the scale; rescaling O; dS = P o (dP - D)). A max over n values is n;
 *     a factor shared by a row (e^(m_old - m_new)) is computed once per row;
 *   - exp() and log() are not FLOPs: they are counted apart, as exps (the special-function units' work);
 *   - masking by position, filling with 0 or -inf, and copying are not counted.
 * GPU TFLOP/s (lessons 08-09 and the papers) divide the matmul FLOPs alone, 4·B·H·N²·d per forward, by the time. */
void mem_compute(mem_t *m, const char *what, uint64_t flops, uint64_t exps);
void mem_phase(mem_t *m, const char *name);   /* later counts go to this phase (standard attention: S, softmax, PV) */
void mem_step(mem_t *m, long i, long j, const char *what); /* "now on tile (i, j)": lessons draw maps, --step waits */
#define MEM_STEP_SKIP "skip"  /* the mem_step label of a tile the algorithm skips (causal masking): no traffic */
void mem_note(mem_t *m, const char *fmt, ...) __attribute__((format(printf, 2, 3))); /* "Alg.1 line 8: ..." */
/* The running softmax statistics of the rows in SRAM after an update: row r0 + r of head (b, h) has max m[r] and sum
 * l[r] (m may be NULL: naive softmax keeps no max). Only for observers (the HTML replay shows them): not traffic, not
 * counted, no sequence number of its own; nothing happens in count-only mode or when nobody observes. */
void mem_rows(mem_t *m, size_t b, size_t h, size_t r0, size_t nrows, const float *mi, const float *li);

/* ---- the ledger ---------------------------------------------------------------------------------------------- */
/* Counts of one tensor (NULL: all tensors) in one phase (NULL: all phases). An unknown name gives zeros. */
io_count mem_io(const mem_t *m, const char *tensor, const char *phase);
uint64_t mem_flops(const mem_t *m, const char *phase);
uint64_t mem_exps(const mem_t *m, const char *phase);
uint64_t mem_hbm_peak(const mem_t *m);        /* most bytes of HBM tensors allocated at once */
size_t mem_ntensors(const mem_t *m);          /* tensor i's name: mem_tensor_name(m, i), in allocation order */
const char *mem_tensor_name(const mem_t *m, size_t i);
size_t mem_nphases(const mem_t *m);
const char *mem_phase_name(const mem_t *m, size_t i);
void mem_ledger_reset(mem_t *m);              /* zero every count and peak; tensors stay */
/* A fixed-width table: one row per tensor (read/write elements and bytes), then totals, FLOPs, exps, peaks. */
void mem_ledger_print(const mem_t *m, const char *phase, FILE *out);

/* ---- parallel workers ---------------------------------------------------------------------------------------- */
mem_t *mem_fork(mem_t *m);                    /* own SRAM (same M), zero ledger, same HBM, no observers */
void mem_join(mem_t *m, mem_t *worker);       /* add the worker's counts into m, keep the larger SRAM peak, free it */

/* ---- events (traces, ASCII maps and --step are observers) ---------------------------------------------------- */
typedef enum {
    MEM_EV_LOAD, MEM_EV_STORE, MEM_EV_ALLOC, MEM_EV_FREE, MEM_EV_COMPUTE, MEM_EV_NOTE, MEM_EV_PHASE, MEM_EV_STEP,
    MEM_EV_HBM_ALLOC, MEM_EV_HBM_FREE,
    MEM_EV_ROWS              /* mem_rows: shares the seq of the event before it; text, CSV, JSON traces skip it */
} mem_ev_kind;

typedef struct {
    mem_ev_kind kind;
    uint64_t seq;            /* 1, 2, 3, ... per model */
    const char *tensor;      /* LOAD, STORE, HBM_*: the tensor's name */
    const char *name;        /* the tile (LOAD, STORE, ALLOC, FREE), what (COMPUTE, STEP), text (NOTE), phase */
    size_t b, h;             /* LOAD, STORE, ROWS: the head */
    size_t r0, nrows, c0, ncols; /* LOAD, STORE: the window within the head */
    uint64_t off;            /* LOAD, STORE: element (r0, c0)'s index in the whole tensor (its address / element) */
    size_t ld;               /* LOAD, STORE: elements from one row of the window to the next in the tensor */
    long i, j;               /* STEP: tile indices */
    uint64_t elems, bytes;   /* LOAD, STORE, ALLOC, FREE, HBM_* */
    uint64_t flops, exps;    /* COMPUTE */
    const float *mv, *lv;    /* ROWS: nrows values of m (NULL: none) and l, valid during the call; b, h, r0, nrows */
    const mem_t *mem;        /* for running totals (mem_io) and SRAM state (sram_used) */
} mem_event;

typedef void (*mem_observer)(const mem_event *ev, void *ctx);
void mem_observe(mem_t *m, mem_observer fn, void *ctx);   /* up to 4 observers, called in order per event */
void mem_unobserve(mem_t *m, mem_observer fn, void *ctx);
bool mem_observed(const mem_t *m);                         /* anyone listening? (skip formatting work if not) */

#endif
