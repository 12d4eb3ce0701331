/* tiled.h — O = Q K^T V tile by tile, without softmax: FlashAttention's loop (Algorithm 1) with the softmax taken out,
 * the seed's worked example of tiling (lesson03, part 1).
 *
 * Q, K, V, O are N x d (one head). Q is cut into Tr = ⌈N/Br⌉ row blocks Qi, K and V into Tc = ⌈N/Bc⌉ row blocks Kj,
 * Vj; the last blocks may be shorter (ragged). Without softmax attention is linear, so
 *     O_i = Σ_j (Q_i K_j^T) V_j
 * and each tile (i, j) adds one partial product into O_i. The loop order is Algorithm 1's:
 *     O = 0 in HBM;  for j: load Kj, Vj;  for i: load Qi, Oi;  Sij = Qi Kj^T;  Oi += Sij Vj;  store Oi
 * With small integer inputs every partial sum is an exact integer in fp32, so the result equals Q K^T V exactly.
 *
 *   tiled_qkv(m, hbm_whole(Q), hbm_whole(K), hbm_whole(V), hbm_whole(O), Br, Bc);
 *
 * SRAM, exactly what tiled_qkv allocates (tiled_sram_need, a blocks.h sram_need_fn): Kj, Vj (Bc x d each) and
 * Qi, Oi (Br x d each) in the storage dtype, and Sij (Br x Bc) in fp32.
 *
 * Ledger of one head, in elements (tiled_closed_form), Tc = ⌈N/Bc⌉, ragged blocks included:
 *     reads   K: Nd   V: Nd   Q: Tc·Nd   O: Tc·Nd                 total 2Nd + 2·Tc·Nd
 *     writes  O: Nd (O = 0, Alg.1 line 2) + Tc·Nd (line 12)      total (1 + Tc)·Nd
 *     FLOPs   4·N²·d: a multiply-add is 2 FLOPs, in Sij = Qi Kj^T and in Oi += Sij Vj; no exp(); Tr·Tc tiles
 */
#ifndef FLASHLAB_TILED_H
#define FLASHLAB_TILED_H

#include <stddef.h>
#include <stdint.h>

#include "dtype.h"
#include "mem.h"

/* SRAM bytes for blocks Br x Bc, head dimension d, Q/K/V/O stored as dt: 2·Bc·d + 2·Br·d elements of dt, Br·Bc fp32. */
size_t tiled_sram_need(size_t Br, size_t Bc, size_t d, dtype_t dt);

/* O = Q K^T V for one head; Q, K, V, O are N x d windows (hbm_whole or hbm_head). One mem_step per tile. */
void tiled_qkv(mem_t *m, hbm_mat Q, hbm_mat K, hbm_mat V, hbm_mat O, size_t Br, size_t Bc);

/* The truth for tiled_qkv: the plain product O = (Q K^T) V of dense row-major N x d arrays in double, no tiling. */
void tiled_reference(const double *Q, const double *K, const double *V, size_t N, size_t d, double *O);

/* The ledger tiled_qkv must produce over `heads` heads of N x d. */
typedef struct {
    uint64_t rd_Q, rd_K, rd_V, rd_O, wr_O;
    uint64_t rd, wr, flops, tiles;
} tiled_io;
void tiled_closed_form(size_t N, size_t d, size_t Br, size_t Bc, size_t heads, tiled_io *out);

#endif
