/* hw02 — FlashAttention's tiling (the seed course, homework 2: "simulate FlashAttention's tiling").
 *
 * What to implement
 *   Algorithm 1 of Dao et al. 2022 (FlashAttention), forward, on the memory model, for every head (b, h):
 *     line 2:  O = 0 (N x d), l = 0 (N), m = -inf (N) in HBM
 *     line 5:  for j = 0 .. Tc-1:   load Kj, Vj (Bc x d)                                        (line 6)
 *     line 7:    for i = 0 .. Tr-1: load Qi, Oi (Br x d), li, mi (Br)                           (line 8)
 *                  Sij = scale · Qi Kj^T                                                          (line 9)
 *                  m~ij = rowmax(Sij), P~ij = exp(Sij - m~ij), l~ij = rowsum(P~ij)                (line 10)
 *                  mi_new = max(mi, m~ij), li_new = e^(mi - mi_new) li + e^(m~ij - mi_new) l~ij   (line 11)
 *                  Oi = diag(li_new)^-1 (diag(li) e^(mi - mi_new) Oi + e^(m~ij - mi_new) P~ij Vj)  (line 12)
 *                  write Oi, and li = li_new, mi = mi_new, to HBM                                (lines 12-13)
 *   Tr = ⌈N/Br⌉, Tc = ⌈N/Bc⌉; the last blocks may be ragged. scale = p->scale, or 1/sqrt(d) when it is 0.
 *
 * Signature (lessons/homework/homework.h)
 *   void hw02_flash1_forward(mem_t *m, const attn_params *p, attn_tensors *t);
 *   p: B, N, H, d, Br, Bc, scale (p->causal is false). t: q, k, v (B, N, H, d), out (same), m and l (B, H, N), fp32.
 *
 * Rules the tests check
 *   - t->out matches a double-precision reference: N from 1 to 257, d in {1, 3, 5, 7, 8, 16, 64, 80}, Br != Bc,
 *     B = 2 and H = 3, logits in the thousands. NaN is always wrong.
 *   - HBM traffic at most the closed form attn_io_closed_form(p): reads ≤ 2Nd + Tc·(2Nd + 2N) and writes ≤
 *     (Nd + 2N) + Tc·(Nd + 2N) per head (the paper's lines, initialization included); every Q, K, V read once.
 *   - SRAM M is exactly the buffers of attn_sram_plan(ATTN_FLASH1, false, Br, Bc, d, DTYPE_FP32, &plan): Kj, Vj, Qi,
 *     Oi, li, mi, Sij (P~ij in place), m~ij, l~ij, mi_new, li_new. More stops the program ("SRAM too small").
 *   - Only counted loads see Q, K, V (HBM holds decoys everywhere else), and HBM starts as garbage: line 2 matters.
 *     Your file may call the memory model, <math.h> and printf — not malloc or attn_forward (docs/homework.md).
 *
 * Tools (include/model/mem.h)
 *   hbm_mat Q = hbm_head(t->q, b, h);                 one head: N x d (O the same; t->m, t->l: N x 1)
 *   float *Kj = sram_alloc(m, Bc * d, hbm_dtype(t->k), "Kj");
 *   hbm_load_rows(m, Kj, K, j * Bc, rows, "Kj");      rows x d values, row r of the tile at Kj + r*d
 *   hbm_store_rows(m, O, i * Br, rows, Oi, "Oi");     hbm_fill_rows(m, O, 0, N, 0.0f, "O = 0") for line 2
 * Hints
 *   - Load only the rows that exist: rows = min(Bc, N - j*Bc).
 *   - Keep the per-row arithmetic in floats on the SRAM buffers; `expf`, `fmaxf` from <math.h>.
 *
 * Test:  make homework HW=02      (reference: docs/solutions/hw02_tiling.c; lesson04 walks Algorithm 1)
 */
#include "homework.h"

void hw02_flash1_forward(mem_t *m, const attn_params *p, attn_tensors *t)
{
    /* TODO: for each head: line 2, then the two loops of Algorithm 1. */
    (void)m, (void)p, (void)t;
}
