/* decode_cuda.h — lesson11's decode as CUDA kernels: split-KV (Flash-Decoding) over a contiguous KV cache, grouped-
 * query heads, fp16 or bf16, d = 64 or 128, and a counting twin whose per-tensor counts equal decode.h's ledger.
 *
 * Kernel 1, one thread block per (split s, KV head h, sequence b): its G = Hq/Hkv query rows (Qg) go to shared memory
 * once; cache rows ⌊sN/S⌋ .. ⌊(s+1)N/S⌋−1 of K and V stream through a pipeline of shared-memory tiles (cp.async, 16
 * bytes a copy, several tiles in flight); each warp takes 16 rows of a tile: S = Qg K^T and O += P~ V on the tensor
 * cores (mma.sync m16n8k16, fp32 accumulators, the G heads padded to the instruction's 16 rows), online softmax in
 * registers. The 4 warps' states are merged in shared memory; the block writes o (S = 1) or its partial O and
 * log-sum-exp (fp32). Then (S > 1) lesson02's merge of the S partials, one warp per (sequence, query head): either
 * kernel 2, or fused (merge = FL_DEC_MERGE_FUSED) into kernel 1, where the last of the S blocks of each (sequence, KV
 * head) to finish merges its G rows — it knows it is last from a completion count in the work buffer (an atomic).
 *
 *   fl_decode_args a = {.dtype = DTYPE_FP16, .B = 1, .Hq = 32, .Hkv = 8, .N = 4096, .d = 128, .q = q, .k = k, ...};
 *   fl_decode_plan(&a, sms);                                // splits, variant, merge (or set them yourself)
 *   fl_decode(&a, stream, err, sizeof err);                 // 0, or -1 with one line in err (nothing launched)
 *
 * Layouts: q and o are (B, Hq, d), contiguous; K and V have element strides k_sb, k_sh, k_sn (batch, KV head, row)
 * and d contiguous, so SDPA's (B, Hkv, N, d) and flash_attn's (B, N, Hkv, d) both work; every stride a multiple of
 * 8 elements (16-byte copies). Paged caches are the simulator's only (lesson11 --page-size).
 */
#ifndef FLASHLAB_DECODE_CUDA_H
#define FLASHLAB_DECODE_CUDA_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Counters of the counting twin, in elements: [2t] read and [2t+1] written for tensor t, in decode.h's names. */
enum { FL_DEC_Q, FL_DEC_K, FL_DEC_V, FL_DEC_O_SPLIT, FL_DEC_L_SPLIT, FL_DEC_O, FL_DEC_NTENSORS };
#define FL_DEC_NCOUNT (2 * FL_DEC_NTENSORS)
#define FL_DEC_MAX_G 16         /* query heads per KV head: the mma's 16 rows */
#define FL_DEC_MAX_SPLITS 2048  /* the merge keeps 4 rows' S weights in 48 KiB of shared memory */
enum { FL_DEC_MERGE_KERNEL, FL_DEC_MERGE_FUSED };   /* how the S partials are merged: a second kernel, or fused */
/* fl_decode_plan's rule: decode.h's decode_plan_splits (one wave of (sequence, KV head, split) pieces, splits of at
 * least 64 rows) with the tiles and merge below. Measured on an H100, 2026-12-07 16:10 UTC (decode_bench.py with this
 * rule's S and 64x2, 64x3, t64x3 beside SDPA in the same 5 rounds; docs/gpu-runs/run_H100_2026-12-07_1534.md): t64x3
 * at or ahead of 64x3 on every shape whose splits pass 256 rows. Before: S doubled where the splits stayed long, with
 * 64x2 there, 64x3 to 4096 rows and 128x3 (then t64x3) beyond (sweeps of 2026-12-06; run_H100_2026-12-07_1418.md). */
#define FL_DEC_VARIANT 1        /* 64x2 for splits of at most FL_DEC_ROWS_MAX rows */
#define FL_DEC_ROWS_MAX 256     /* longer splits take FL_DEC_VARIANT_LONG; 0: no limit */
#define FL_DEC_VARIANT_LONG 11  /* t64x3: TMA boxes, two tiles of 64 rows in flight; its splits are whole tiles, and
                                   splits of more than 256 rows mean S < N/64 */
#define FL_DEC_MERGE FL_DEC_MERGE_FUSED   /* the last block of each (sequence, KV head) merges the S partials */

typedef struct {
    int dtype;                        /* DTYPE_FP16 or DTYPE_BF16 (dtype.h) */
    long long B, Hq, Hkv, N, d, splits;
    const void *q;                    /* (B, Hq, d) */
    const void *k, *v;                /* strides below, in elements */
    long long k_sb, k_sh, k_sn;       /* batch, KV head, cache row */
    void *o;                          /* (B, Hq, d) */
    float *work;                      /* S > 1: fl_decode_work_floats() floats: O_split (S, B, Hq, d), L_split
                                         (S, B, Hq), B·Hq completion counts; zeroed once when allocated (every
                                         call leaves the counts zero); one call at a time per buffer */
    float scale;                      /* 0: 1/sqrt(d) */
    int variant;                      /* tile rows and pipeline depth: 0 .. fl_decode_nvariants()-1 */
    unsigned long long *count;        /* device, FL_DEC_NCOUNT zeroed counters: run the counting twin; NULL: not */
    int merge;                        /* S > 1: FL_DEC_MERGE_KERNEL or FL_DEC_MERGE_FUSED */
} fl_decode_args;

/* 0, or -1 with one line in err (bad arguments: nothing launched; a CUDA error: its name). Asynchronous on stream. */
int fl_decode(const fl_decode_args *a, void *stream, char *err, size_t errlen);
/* fl_decode's argument checks alone (no CUDA call, no GPU needed): 0, or -1 with the line fl_decode would give. */
int fl_decode_check_args(const fl_decode_args *a, char *err, size_t errlen);

/* decode.h's rule with this GPU's SM count: S = ⌊DECODE_WAVES·sms/(B·Hkv)⌋, no split under DECODE_MIN_SPLIT_ROWS
 * rows. */
long long fl_decode_splits(long long B, long long Hkv, long long N, int sms);
/* The same rule with other constants (the benchmark's sweep): S = ⌊waves·sms/(B·Hkv)⌋, splits >= min_rows rows. */
long long fl_decode_splits_rule(long long B, long long Hkv, long long N, int sms, int waves, int min_rows);
/* What fl_decode is best called with, as measured: splits (decode_plan_splits), variant and merge into *a from a's
 * shape. */
void fl_decode_plan(fl_decode_args *a, int sms);
long long fl_decode_work_floats(long long B, long long Hq, long long d, long long splits);   /* S·B·Hq·(d+1) + B·Hq */

int fl_decode_nvariants(void);
/* "64x3": cache rows per tile x tiles in flight, through 16-byte cp.async; "64x3h": the same with L2 hints (256-byte
 * prefetch, evict first); "b64x3": one bulk copy (TMA, 1D) per cache row, into rows padded to d + 8; "t64x3": one
 * TMA box (tensor map, 64 columns x the tile's rows, swizzled) per 64 columns of a tile, issued by one thread; its
 * splits are whole tiles (rows ⌊sT/S⌋·rows .. of the T = ⌈N/rows⌉ tiles), so S <= T or fl_decode refuses; "t64x6a":
 * t64x6's six stages, two tiles in flight beyond the computed one for most of a split and five for its last
 * ntiles/32 + 8 tiles (the blocks that stream last take up the bandwidth of those already done) */
const char *fl_decode_variant_name(int variant);
/* The most splits a variant takes over N cache rows: N, or for the TMA variants ⌈N / rows⌉ (0: no such variant). */
long long fl_decode_max_splits(int variant, long long N);
int fl_decode_variant_rows(int variant);           /* cache rows per tile (the Bc of the tolerance) */

/* decode_ref.h's tolerance for this kernel (P~ rounded to the storage type): for callers without the simulator. */
void fl_decode_tolerance(int dtype, long long d, double smag, long long N, long long splits, int variant, double vmax,
                         double *atol, double *rtol);

#ifdef __cplusplus
}
#endif

#endif
