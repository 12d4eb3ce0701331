/* decode.h — decoding one new token per sequence against a KV cache, on the memory model: grouped-query heads,
 * split-KV (Flash-Decoding) and a paged cache, shaped like flash_attn_with_kvcache(q, k_cache, v_cache, ...).
 *
 * Shapes (elements; the cache and q, o in the storage dtype, the split results in fp32):
 *   q, o          (B, 1, Hq, d), held as a (B·Hq) x d matrix: with one query token the two are the same bytes
 *   K, V          contiguous: (B, N, Hkv, d); paged: a pool (pages, P, Hkv, d) found through block_table
 *   block_table   B x ⌈N/P⌉ page numbers (int32 in flash_attn; here 4-byte entries, fp32 holding small integers)
 *   O_split       S > 1: (S·B·Hq) x d fp32, each split's normalized partial output
 *   L_split       S > 1: (S·B·Hq) x 1 fp32, each split's log-sum-exp
 * Query head h reads KV head h / G, G = Hq / Hkv (MHA: G = 1; GQA; MQA: Hkv = 1).
 *
 *   decode_params p = {.B = 1, .N = 4096, .Hq = 32, .Hkv = 8, .d = 128, .splits = 4};
 *   decode_choose_block(&p, M, DTYPE_FP16, 0, err, sizeof err);     // sets p.Bc: cache rows per SRAM chunk
 *   decode_tensors t = decode_alloc(m, &p, DTYPE_FP16, NULL, 0);    // contiguous cache (no table)
 *   decode_upload(&t, &p, q, k, v);  decode_run(m, &p, &t);  hbm_download(t.o, o);  decode_free(m, &t);
 *
 * Kernel 1 (phase "kv"): one piece of work per (split s, sequence b, KV head g) loads the G query heads of g once,
 * streams rows ⌊sN/S⌋ .. ⌊(s+1)N/S⌋−1 of K and V through SRAM in chunks of Bc rows with the online softmax, and
 * writes o (S = 1) or its partial O and log-sum-exp (S > 1). Kernel 2 (phase "merge", S > 1 only): per (b, g), the
 * S partials combined with lesson02's (m, ℓ) merge. With grouped = false each query head is its own piece of work
 * (G = 1 per pass) and reads its KV head alone: the cost GQA removes.
 */
#ifndef FLASHLAB_DECODE_H
#define FLASHLAB_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mem.h"

#define DECODE_MAX_PAGES ((size_t)1 << 24)   /* page numbers stay exact in a 4-byte float entry */

typedef struct {
    size_t B, N, Hq, Hkv, d;   /* sequences, cache length, query heads, KV heads, head dimension */
    size_t splits;             /* S: parts of the cache per (sequence, KV head), 1 .. N */
    size_t page_size;          /* P: cache rows per page; 0: a contiguous cache */
    size_t Bc;                 /* cache rows per SRAM chunk (decode_choose_block) */
    bool grouped;              /* the G query heads of a KV head share one pass over it (true), or go alone */
    double scale;              /* 0: 1/sqrt(d) */
    int threads;               /* 0: OpenMP's default */
} decode_params;

/* 0, or -1 with one line in err: a size of 0, Hq not a multiple of Hkv, S outside 1..N, a page count past
 * DECODE_MAX_PAGES, counts past 64 bits. Bc is not checked here (decode_choose_block). */
int decode_check(const decode_params *p, char *err, size_t errlen);

size_t decode_group(const decode_params *p);      /* G = Hq / Hkv */
size_t decode_units(const decode_params *p);      /* KV passes per sequence: Hkv when grouped, Hq when not */
size_t decode_split_start(const decode_params *p, size_t s);   /* ⌊s·N/S⌋, s = 0 .. S */
size_t decode_pages_per_seq(const decode_params *p);           /* ⌈N/P⌉ (0 when contiguous) */

/* SRAM bytes at the peak of each kernel with chunks of Bc rows (rows = G grouped, 1 alone; s = dtype bytes):
 *   kv     Qg rows·d·s, Kj Bc·d·s, Vj Bc·d·s, Sij rows·Bc fp32, Oi rows·d fp32, mi, li rows fp32, [bt 1 fp32 paged]
 *   merge  Os rows·d fp32, Ls rows fp32, Oi rows·d fp32, mi, li rows fp32          (S > 1 only) */
size_t decode_sram_need(const decode_params *p, dtype_t dt, size_t Bc);

/* Set p->Bc: Bc_req if given, else the most rows that fit M (at most the longest split, ⌈N/S⌉).
 * 0, or -1 with one line in err when even one row (or the merge) does not fit, or Bc_req does not. */
int decode_choose_block(decode_params *p, size_t M_bytes, dtype_t dt, size_t Bc_req, char *err, size_t errlen);

/* ---- the tensors --------------------------------------------------------------------------------------------- */
typedef struct {
    hbm_tensor *q, *k, *v, *o;
    hbm_tensor *o_split, *l_split;   /* S > 1 */
    hbm_tensor *block_table;         /* paged */
    size_t *table;                   /* paged: the host's copy of the block table, B x ⌈N/P⌉ */
    size_t npages;                   /* paged: pages in the pool */
} decode_tensors;

/* Allocate q, k, v, o and what the shape needs. Paged: table holds B x ⌈N/P⌉ page numbers < npages (NULL: sequence
 * b owns pages b·⌈N/P⌉ ...; npages 0: B·⌈N/P⌉), uploaded to block_table; two sequences may share a page (a common
 * prefix). Stops (exit 2) on a bad shape or table. */
decode_tensors decode_alloc(mem_t *m, const decode_params *p, dtype_t dt, const size_t *table, size_t npages);
void decode_free(mem_t *m, decode_tensors *t);

/* A block table (B x ⌈N/P⌉ into table) with pages handed out from the top of the pool down, where sequence 1 (B >= 2)
 * begins with sequence 0's first `shared` pages (a common prefix: a system prompt). Returns the pool's page count. */
size_t decode_table_shared(const decode_params *p, size_t shared, size_t *table);

/* Host side, not counted (the prefill wrote the cache): q is B·Hq·d floats, k and v are (B, N, Hkv, d) in logical
 * order; paged, row n of sequence b goes to row n % P of page table[b][n / P] (a page two sequences share is written
 * by each: their rows there must agree). Nothing happens in count-only mode. */
void decode_upload(decode_tensors *t, const decode_params *p, const float *q, const float *k, const float *v);

/* Decode: kernel 1 ("kv"), then kernel 2 ("merge") when S > 1; o holds the result. */
void decode_run(mem_t *m, const decode_params *p, decode_tensors *t);

/* ---- the closed form ----------------------------------------------------------------------------------------- */
/* The ledger decode_run must produce, in elements, derived from the two kernels (U = Hkv grouped, Hq alone):
 *   Q        rd  S·B·Hq·d               each split's pass loads its rows of q
 *   K, V     rd  B·U·N·d each           every cache row once per pass over a KV head
 *   block_table rd B·U·(⌈N/P⌉ + #{s in 1..S-1 : P does not divide ⌊sN/S⌋})   one entry per page a split touches
 *   O_split  wr  S·B·Hq·d, rd the same  (S > 1)   kernel 1 writes, kernel 2 reads
 *   L_split  wr  S·B·Hq,   rd the same  (S > 1)
 *   O        wr  B·Hq·d
 * FLOPs (mem.h's convention): the matmuls 4·B·Hq·N·d (Sij = Qg Kj^T, Oi += P~ Vj), plus 4·B·Hq·N (scale, max,
 * subtract, sum per score) + B·Hq·C·(d + 2) (per chunk and row: m_new, li, Oi's rescale) + S·B·Hq·d (Oi / li per
 * split) and, with S > 1, S·B·Hq (Li) + S·B·Hq·(3d + 5) + B·Hq·d (the merge); C = Σ_s ⌈len_s/Bc⌉ chunks a pass.
 * exps (exp and log): B·Hq·(N + C) (P~ and one rescale per chunk and row) + [S > 1] 3·S·B·Hq (Li's log, the merge's
 * two factors). */
typedef struct {
    const char *tensor;
    uint64_t rd, wr;
    const char *rd_how, *wr_how;   /* the formulas, for people: "S·B·Hq·d" ("" where 0) */
} decode_io_row;
typedef struct {
    decode_io_row row[8];
    size_t n;
    uint64_t rd, wr, flops, exps;
    uint64_t chunks;          /* C: chunks of one pass over a KV head, all its splits (kernel 1 has B·U·C steps) */
} decode_io;
void decode_closed_form(const decode_params *p, decode_io *out);

/* ---- what the lesson reasons with ---------------------------------------------------------------------------- */
/* The rule's constants, measured: of the splits rules timed on an H100 (decode_bench.py --sweep, 2026-12-06,
 * docs/gpu-runs/decode_sweep_NVIDIA_H100_80GB_HBM3_2026-12-06.md), one wave of splits of at least 64 rows lost least
 * to SDPA over the anchors' shapes. The lesson suggests S with them and the CUDA kernel's fl_decode_plan runs them. */
#define DECODE_WAVES 1
#define DECODE_MIN_SPLIT_ROWS 64

/* Splits to cover a GPU: as many (b, KV head, split) pieces as fill `waves` a SM without passing it, S =
 * ⌊waves·sms/(B·Hkv)⌋ (a partial second wave would run at the end, alone), no split shorter than min_rows cache
 * rows (then S = ⌊N/min_rows⌋), and at least 1. Inline: the CUDA host code uses the same rule without the simulator. */
static inline size_t decode_suggest_splits(size_t sms, size_t B, size_t Hkv, size_t N, size_t waves, size_t min_rows)
{
    size_t pieces = B * Hkv > 0 ? B * Hkv : 1, S = waves * sms / pieces;
    size_t cap = N / (min_rows ? min_rows : 1);
    cap = cap ? cap : 1;
    S = S < cap ? S : cap;
    return S ? S : 1;
}

/* The CUDA kernel's splits (fl_decode_plan): decode_suggest_splits's S with the constants above. (From 2026-12-06 to
 * 12-07 the plan doubled S into two pieces an SM where B·Hkv <= sms and the splits kept >= 4096 rows: one sweep had it
 * 0.25-1.4 % ahead; on 2026-12-07 15:35 and 16:10 UTC, H100, one wave with TMA tiles was ahead on six of the seven
 * shapes it touched, and the doubled S was short of cuDNN at B = 16, L = 32768 in all five runs that timed it;
 * docs/gpu-runs/run_H100_2026-12-07_1534.md.) */
static inline size_t decode_plan_splits(size_t sms, size_t B, size_t Hkv, size_t N)
{
    return decode_suggest_splits(sms, B, Hkv, N, DECODE_WAVES, DECODE_MIN_SPLIT_ROWS);
}

/* A GPU's figures for the roofline: dense fp16/bf16 tensor-core peak, HBM bandwidth, SMs, and where they come from. */
typedef struct {
    const char *name;
    double tflops, tbps;
    unsigned sms;
    const char *source;
} decode_gpu;
extern const decode_gpu decode_gpus[];
extern const size_t decode_ngpus;

/* KV cache bytes (K and V) for B sequences of N tokens: reserved by a contiguous cache sized for n_max tokens a
 * sequence, by a paged one (⌈N/P⌉ pages a sequence), and by a paged one where sequences 0 and 1 (B >= 2) begin with
 * the same shared_rows tokens and hold its ⌊shared_rows/P⌋ full pages once; used is 2·B·N·Hkv·d·s. */
typedef struct {
    uint64_t used, contiguous, paged, paged_shared;
} decode_cache_bytes;
decode_cache_bytes decode_cache_size(size_t B, size_t N, size_t n_max, size_t P, size_t shared_rows, size_t Hkv,
                                     size_t d, dtype_t dt);

#endif
