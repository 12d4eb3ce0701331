/* hw01 — online softmax (the seed course, homework 1: "implement online softmax and verify it").
 *
 * What to implement
 *   y = softmax(x) for each row of x (R x N, fp32 in the fake HBM), streaming x through SRAM in tiles of
 *   Br rows x Bc columns, in TWO passes over x instead of safe softmax's three:
 *     pass 1, for each row, block by block:   m_new = max(m, max of the block)
 *                                              l     = l * e^(m - m_new) + Σ e^(x - m_new)     m = m_new
 *     pass 2, block by block:                  y = e^(x - m) / l
 *   (Milakov & Gimelshein 2018; lesson02 shows it on the memory model.)
 *
 * Signature (lessons/homework/homework.h)
 *   void hw01_online_softmax(mem_t *m, hbm_tensor *x, hbm_tensor *y, size_t Br, size_t Bc);
 *
 * Rules the tests check
 *   - y matches a double-precision softmax (rows of 1 .. 1000 values, N not a multiple of Bc, values up to ±10^4,
 *     entries of -inf: masked; every row keeps at least one finite value). NaN is always wrong.
 *   - x is read from HBM exactly 2·R·N elements (two passes), y written exactly R·N, nothing else.
 *   - SRAM (capacity M) holds exactly: one tile Xij of Br*Bc floats (x's dtype), mi and li of Br floats each (fp32).
 *     Allocating more stops the program with "SRAM too small".
 *   - Only counted loads see x: while your function runs, HBM holds decoys everywhere else. Your file may call the
 *     memory model, <math.h> and printf — not malloc, hbm_download or the library's softmax_run (docs/homework.md).
 *
 * Tools (include/model/mem.h)
 *   hbm_mat X = hbm_whole(x), Y = hbm_whole(y);           R = X.rows, N = X.cols
 *   float *t = sram_alloc(m, Br * Bc, hbm_dtype(x), "Xij");
 *   hbm_load_tile(m, t, X, r0, rows, c0, cols, "Xij");    rows x cols values, row k of the tile at t + k*cols
 *   hbm_store_tile(m, Y, r0, rows, c0, cols, t, "Yij");
 *   mem_compute(m, "what", flops, exps);                  optional: count your arithmetic
 *   sram_free(m, t);
 * Hints
 *   - A block that is all -inf has max -inf: then m must not change, and e^(m - m_new) with both -inf is NaN.
 *   - The last tile of a row (and the last rows) may be smaller: rows = min(Br, R - r0), cols = min(Bc, N - c0).
 *
 * Test:  make homework HW=01      (the reference answer is docs/solutions/hw01_online_softmax.c — try first!)
 */
#include "homework.h"

void hw01_online_softmax(mem_t *m, hbm_tensor *x, hbm_tensor *y, size_t Br, size_t Bc)
{
    /* TODO: allocate Xij, mi, li in SRAM; pass 1 (mi, li per row); pass 2 (y); free the buffers. */
    (void)m, (void)x, (void)y, (void)Br, (void)Bc;
}
