/* bwd_ledger.h — what the tensor-core backward's counting twin must count (cuda/tc/attn_bwd.cu): the simulator's
 * flash2 backward ledger (Dao 2023, Algorithm 2) for the kernel's blocks, and its closed form, row by row beside the
 * kernel's counters. Plain C on the simulator alone (no CUDA), so the CPU tests check it.
 *
 *   tc_bwd_ledger lg;
 *   tc_bwd_ledger_fill(&(tc_bwd_shape){.B = 2, .N = 1000, .H = 3, .d = 64, .causal = true, .dt = DTYPE_FP16},
 *                      64, 128, kern, &lg);      // kern: TC_BWD_NCOUNT counters of the kernel, or NULL
 *   lg.ok: every row's kernel count equals its simulator count and its closed form
 *
 * How the kernel's dQ corresponds to the simulator's. The simulator does line 15 as the paper writes it: per visited
 * tile (i, j), load dQi, add, write it back, in the storage dtype: dQ reads R d and writes N d (line 3's zeros) +
 * R d, R = the query rows of the visited tiles. The kernel keeps dQ in an fp32 buffer and does the same
 * read-modify-write with one atomicAdd per element per visited tile (in L2, not in the SM): R d atomics, each a read
 * and a write of one element, plus N d zeros. So its "dQ read" row is the atomics and its "dQ write" row the zeros
 * plus the atomics — the same element counts, in 4-byte elements where the simulator's are 2-byte. The conversion
 * to the storage dtype (N d read of fp32, N d written) is a pass the simulator's schedule does not have: those two
 * rows hold the kernel against the closed form N d alone (sim = the closed form, marked no_sim).
 */
#ifndef FLASHLAB_TC_BWD_LEDGER_H
#define FLASHLAB_TC_BWD_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bwd.h"     // defines: TC_BWD_CNT_*, TC_BWD_NCOUNT
#include "dtype.h"
#include "mem.h"     // defines: mem_t

typedef struct {
    size_t B, N, H, d;
    bool causal;
    dtype_t dt;
} tc_bwd_shape;

typedef struct {
    const char *name;      /* "Q read", ..., "dQ read (atomics)", "dQ conversion read" */
    uint64_t kern, sim, closed;
    bool no_sim;           /* a pass outside the simulator's schedule: sim holds the closed form */
} tc_bwd_row;

#define TC_BWD_ROWS 14
typedef struct {
    size_t Br, Bc;         /* the blocks the simulator ran with: the kernel's, capped at N */
    tc_bwd_row row[TC_BWD_ROWS];
    uint64_t tiles;        /* visited (i, j) tiles */
    bool ok;               /* every row: kern == sim == closed (with kern given) */
} tc_bwd_ledger;

/* The simulator's flash2 backward alone (Alg.2, count-only: loops, no data) with blocks min(Br, N) x min(Bc, N), its
 * ledger for the caller to read (mem_io) and mem_destroy. */
mem_t *tc_bwd_sim(const tc_bwd_shape *s, size_t Br, size_t Bc);

/* The simulator's flash2 backward in count-only mode with blocks Br x Bc, its closed form, and kern's counters
 * (NULL: kern = 0 and ok = false) as rows. */
void tc_bwd_ledger_fill(const tc_bwd_shape *s, size_t Br, size_t Bc, const uint64_t *kern, tc_bwd_ledger *out);

/* Rows name, simulator, kernel, closed form, one a line, ✓ or ✗ each; measured = false (no GPU): kernel "na". */
void tc_bwd_ledger_print(const tc_bwd_ledger *lg, bool measured, FILE *f);

/* The kernel's schedule walked on the host, independently of the simulator: query blocks from floor(j Bc / Br)
 * (causal) or 0 to the end, for every key block j; the counters it implies, per TC_BWD_CNT_*. */
void tc_bwd_schedule_counts(const tc_bwd_shape *s, size_t Br, size_t Bc, uint64_t out[TC_BWD_NCOUNT]);

#endif
