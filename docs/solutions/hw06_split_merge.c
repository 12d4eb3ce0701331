/* Reference solution of hw06 (lessons/homework/hw06_split_merge.c): the merge step of split-KV decoding
 * (Flash-Decoding's kernel 2, lesson11) on the memory model. For each block of rows, the S partials stream through
 * SRAM once, split by split, merged with lesson02's (m, ℓ) update where each partial is the state (L_s, 1):
 * m_new = max(m, L_s), ℓ = e^(m - m_new) ℓ + e^(L_s - m_new), O = e^(m - m_new) O + e^(L_s - m_new) O_s. At the end
 * O / ℓ is the answer and L = m + log ℓ. SRAM holds Os, Ls, Oi, mi, li: the plan of sim/model/decode.c's merge_rows,
 * which runs the same loop. */
#include <math.h>

#include "homework.h"

/* The subtrahend of e^(L - m): m, or 0 while m is still -inf (every split so far saw no key), so that
 * e^(-inf - (-inf)) = NaN is never evaluated. */
static float sub(float m) { return m == -INFINITY ? 0.0f : m; }

static size_t min_size(size_t a, size_t b) { return a < b ? a : b; }

int hw06_split_merge(mem_t *m, hbm_tensor *o_split, hbm_tensor *l_split, hbm_tensor *o, hbm_tensor *lse, size_t Br)
{
    hbm_mat OS = hbm_whole(o_split), LS = hbm_whole(l_split), O = hbm_whole(o);
    size_t R = O.rows, d = O.cols;
    if (!Br || !R || !OS.rows || OS.rows % R || OS.cols != d || LS.rows != OS.rows || LS.cols != 1)
        return -1;
    if (lse && (hbm_whole(lse).rows != R || hbm_whole(lse).cols != 1))
        return -1;
    size_t S = OS.rows / R;
    float *Os = sram_alloc(m, Br * d, DTYPE_FP32, "Os"), *Ls = sram_alloc(m, Br, DTYPE_FP32, "Ls");
    float *Oi = sram_alloc(m, Br * d, DTYPE_FP32, "Oi");
    float *mi = sram_alloc(m, Br, DTYPE_FP32, "mi"), *li = sram_alloc(m, Br, DTYPE_FP32, "li");

    for (size_t r0 = 0; r0 < R; r0 += Br) {
        size_t rows = min_size(Br, R - r0);   /* the last block may be ragged */
        for (size_t r = 0; r < rows; r++) {
            mi[r] = -INFINITY;
            li[r] = 0.0f;
            for (size_t x = 0; x < d; x++)
                Oi[r * d + x] = 0.0f;
        }
        for (size_t s = 0; s < S; s++) {
            /* FD kernel 2: load split s's partials Os and log-sum-exps Ls of these rows, once. */
            hbm_load_rows(m, Os, OS, s * R + r0, rows, "Os");
            hbm_load_rows(m, Ls, LS, s * R + r0, rows, "Ls");
            /* lesson02's merge with the state (Ls, 1). */
            for (size_t r = 0; r < rows; r++) {
                float m_new = fmaxf(mi[r], Ls[r]);
                float a = expf(mi[r] - sub(m_new)), c = expf(Ls[r] - sub(m_new));
                li[r] = a * li[r] + c;
                for (size_t x = 0; x < d; x++)
                    Oi[r * d + x] = a * Oi[r * d + x] + c * Os[r * d + x];
                mi[r] = m_new;
            }
            mem_compute(m, "merge: Oi = a Oi + c Os", (uint64_t)rows * (3 * d + 5), 2 * (uint64_t)rows);
        }
        /* The weights e^(Ls - m) / li sum to 1: O = Oi / li, and L = m + log li (in mi's buffer). */
        for (size_t r = 0; r < rows; r++) {
            for (size_t x = 0; x < d; x++)
                Oi[r * d + x] /= li[r];
            mi[r] += logf(li[r]);
        }
        mem_compute(m, "merge: O = Oi / li, L = m + log li", (uint64_t)rows * (d + 1), rows);
        hbm_store_rows(m, O, r0, rows, Oi, "Oi");
        if (lse)
            hbm_store_rows(m, hbm_whole(lse), r0, rows, mi, "Li");
    }
    sram_free(m, li);
    sram_free(m, mi);
    sram_free(m, Oi);
    sram_free(m, Ls);
    sram_free(m, Os);
    return 0;
}
