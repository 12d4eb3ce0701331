/* hw06 — the split-KV merge (lesson11: decoding with Flash-Decoding's split-KV). Write kernel 2.
 *
 * What to implement
 *   Decoding one token, a row r (a sequence and query head, R = B·Hq rows) attends its whole KV cache. Split-KV cuts
 *   the cache into S parts so that more pieces of work fill a GPU; split s ran the online softmax over its part and
 *   left, in HBM, its normalized partial output O_s (d values) and its log-sum-exp L_s. Merge them, per row:
 *     L = log Σ_s e^(L_s)                      (its log-sum-exp over the whole cache)
 *     O = Σ_s e^(L_s - L) O_s                  (each partial weighted by its share of the softmax's sum)
 *   A split that saw no key of a row has L_s = -inf and O_s = 0: it adds nothing (the merge's identity).
 *   In one pass over the splits, with lesson02's (m, ℓ) update, each partial being the state (L_s, 1):
 *     m_new = max(m, L_s),  a = e^(m - m_new),  c = e^(L_s - m_new),  ℓ = a ℓ + c,  Oi = a Oi + c O_s,  m = m_new
 *   then O = Oi / ℓ and L = m + log ℓ.
 *
 * Signature (lessons/homework/homework.h)
 *   int hw06_split_merge(mem_t *m, hbm_tensor *o_split, hbm_tensor *l_split, hbm_tensor *o, hbm_tensor *lse,
 *                        size_t Br);
 *   o_split (S·R) x d fp32, l_split (S·R) x 1 fp32: row s·R + r is split s's partial of row r (decode.h's O_split,
 *   L_split). o: R x d in its own dtype (fp32, fp16 or bf16: the store rounds). lse: R x 1 fp32, or NULL when L is
 *   not wanted. Rows go through SRAM in blocks of Br. S = (rows of o_split) / R.
 *   Returns 0; or -1, before any load or store, when the shapes disagree: Br = 0, o_split's rows not a multiple of
 *   o's, o_split's columns not o's, l_split not (rows of o_split) x 1, lse (when given) not R x 1.
 *
 * Rules the tests check
 *   - o and lse match a double-precision reference on seeded random inputs: S from 1 to 40, d not a power of two,
 *     ragged row blocks, rows where some or all but one of the splits saw no key, and log-sum-exps in the thousands
 *     (where e^(L_s) overflows fp32 and e^(-L_s) underflows). NaN is always wrong.
 *   - Every partial is read exactly once: o_split exactly S·R·d elements, l_split exactly S·R; o written exactly
 *     R·d and lse R (0 when NULL); nothing else read or written. In all: S·R·(d+1) read, R·d (+ R) written.
 *   - SRAM M is exactly HW06_SRAM_BYTES(Br, d): Os (Br·d), Ls (Br), Oi (Br·d), mi, li (Br each), all fp32 (L can go
 *     in mi's buffer). More stops the program ("SRAM too small").
 *   - Bad shapes return -1 and move nothing; good ones return 0.
 *   - Only counted loads see the partials: HBM holds decoys everywhere else. Your file may call the memory model,
 *     <math.h> and printf — not malloc or hbm_download (docs/homework.md).
 *
 * Tools (include/model/mem.h)
 *   hbm_mat OS = hbm_whole(o_split), O = hbm_whole(o);    R = O.rows, d = O.cols, S = OS.rows / R
 *   float *Os = sram_alloc(m, Br * d, DTYPE_FP32, "Os");
 *   hbm_load_rows(m, Os, OS, s * R + r0, rows, "Os");     rows x d values, row k at Os + k*d
 *   hbm_store_rows(m, O, r0, rows, Oi, "Oi");
 *   mem_compute(m, "what", flops, exps);                  optional: count your arithmetic
 * Hints
 *   - Never take e^(L_s) alone: with L_s = 1000 it is inf, with L_s = -1000 it is 0 — subtract the running max.
 *   - While m is still -inf (only empty splits so far), use 0 in its place in the exponents: e^(-inf - (-inf)) = NaN.
 *   - The weights are not equal: a split whose keys score higher carries more of the softmax (compare lesson02).
 *   - The last block of rows may be smaller: rows = min(Br, R - r0).
 *
 * Test:  make homework HW=06      (reference: docs/solutions/hw06_split_merge.c; lesson11 walks split-KV decode)
 */
#include "homework.h"

int hw06_split_merge(mem_t *m, hbm_tensor *o_split, hbm_tensor *l_split, hbm_tensor *o, hbm_tensor *lse, size_t Br)
{
    /* TODO: check the shapes; allocate Os, Ls, Oi, mi, li; per block of rows, merge the S partials; store o, lse. */
    (void)m, (void)o_split, (void)l_split, (void)o, (void)lse, (void)Br;
    return 0;
}
