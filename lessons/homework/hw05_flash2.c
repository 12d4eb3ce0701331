/* hw05 — FlashAttention-2 (the seed course, homework 5: "read the FlashAttention-2 paper and understand its further
 * optimizations"). Write its forward pass, and the optimizations become things you can count.
 *
 * What to implement
 *   Algorithm 1 of Dao 2023 (FlashAttention-2), forward, on the memory model, for every head (b, h):
 *     line 3:  for i = 0 .. Tr-1:          (query blocks OUTSIDE: each row block is independent — parallel on a GPU)
 *     line 4:    load Qi (Br x d)
 *     line 5:    on chip: Oi = 0 (Br x d, fp32), li = 0, mi = -inf (Br)
 *     line 6:    for j = 0 .. Tc-1:  load Kj, Vj                                                    (line 7)
 *                  Sij = scale · Qi Kj^T                                                             (line 8)
 *                  mi_new = max(mi, rowmax(Sij)), P~ij = exp(Sij - mi_new),
 *                  li = e^(mi - mi_new) li + rowsum(P~ij)                                            (line 9)
 *                  Oi = diag(e^(mi - mi_new)) Oi + P~ij Vj     (NOT divided by li: delayed rescaling)  (line 10)
 *     line 12:   Oi = diag(li)^-1 Oi         (once)
 *     line 13:   Li = mi + log(li)            (the log-sum-exp the backward pass needs)
 *     lines 14-15: write Oi and Li to HBM    (once per row block)
 *   Causal (p->causal): score (row r, key c) is -inf when c > r; key blocks starting after the block's last row are
 *   entirely masked: skip them (no loads). With Br > Bc a tile can hold rows with no unmasked key yet.
 *
 * Signature (lessons/homework/homework.h)
 *   void hw05_flash2_forward(mem_t *m, const attn_params *p, attn_tensors *t);
 *   p: B, N, H, d, Br, Bc, scale (0: 1/sqrt(d)), causal. t: q, k, v, out (B, N, H, d), lse (B, H, N) fp32.
 *
 * The API you call next. In PyTorch: out = flash_attn_func(q, k, v, dropout_p=0.0, softmax_scale=None, causal=False)
 *   (flash-attn 2.x; include/model/flash_api.h has it on the memory model, docs/lesson06.md maps it to PyTorch's
 *   scaled_dot_product_attention). Your function is what it runs: q, k, v, out are (B, N, H, d) = (batch, seqlen,
 *   nheads, headdim) like t's; softmax_scale is p->scale (None is 0 here: 1/sqrt(d)); causal is p->causal; its
 *   softmax_lse is your t->lse. The test matches_flash_attn_func calls flash_attn_func on your inputs, with and
 *   without softmax_scale, and holds your O and L to what it returns.
 *
 * Rules the tests check
 *   - t->out and t->lse match a double-precision reference (ragged N, d not a power of two, causal and not, Br < Bc
 *     and Br > Bc, B = 2 and H = 3, logits in the thousands, a given scale) and what flash_attn_func returns. NaN
 *     is always wrong.
 *   - O is written exactly B·H·N·d elements and never read; L exactly B·H·N; Q read exactly once; K and V at most
 *     attn_io_closed_form(p)'s reads (with causal: only the key blocks a query block needs).
 *   - SRAM M is exactly attn_sram_plan(ATTN_FLASH2, false, Br, Bc, d, DTYPE_FP32)'s buffers: Qi, Kj, Vj, Sij
 *     (P~ij in place), Oi (fp32), mi, li (Li can go in mi's buffer). More stops the program ("SRAM too small").
 *   - Only counted loads see Q, K, V: HBM holds decoys everywhere else. Your file may call the memory model,
 *     <math.h> and printf — not malloc or attn_forward (docs/homework.md).
 *
 * Hints
 *   - When mi_new is -inf (a row that has seen only masked keys), use 0 in its place in the exponents:
 *     exp(-inf - 0) = 0 as it should be, and exp(-inf - (-inf)) = NaN never happens.
 *   - Compare your ledger with hw02's: which tensor does FlashAttention-2 stop re-reading and re-writing?
 *
 * Test:  make homework HW=05      (reference: docs/solutions/hw05_flash2.c; lesson06 walks FlashAttention-2)
 */
#include "homework.h"

void hw05_flash2_forward(mem_t *m, const attn_params *p, attn_tensors *t)
{
    /* TODO: for each head, for each query block: lines 4-15. */
    (void)m, (void)p, (void)t;
}
