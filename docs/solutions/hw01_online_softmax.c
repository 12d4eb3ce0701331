/* Reference solution of hw01 (lessons/homework/hw01_online_softmax.c): online softmax (Milakov & Gimelshein 2018)
 * on the memory model. Two passes over x, tile by tile: pass 1 keeps a running max mi and sum li per row, pass 2
 * writes y = e^(x - mi) / li. SRAM holds one tile Xij and mi, li — the plan softmax_sram_need(SOFTMAX_ONLINE)
 * charges. lesson02 walks the same loops (sim/model/softmax.c). */
#include <math.h>

#include "homework.h"

/* The subtrahend of e^(x - m): m, or 0 while m is still -inf (every value of the row so far masked), so that
 * e^(-inf - (-inf)) = NaN is never evaluated. */
static float sub(float m) { return m == -INFINITY ? 0.0f : m; }

static size_t min_size(size_t a, size_t b) { return a < b ? a : b; }

void hw01_online_softmax(mem_t *m, hbm_tensor *x, hbm_tensor *y, size_t Br, size_t Bc)
{
    hbm_mat X = hbm_whole(x), Y = hbm_whole(y);
    size_t R = X.rows, N = X.cols;
    float *Xij = sram_alloc(m, Br * Bc, hbm_dtype(x), "Xij");
    float *mi = sram_alloc(m, Br, DTYPE_FP32, "mi"), *li = sram_alloc(m, Br, DTYPE_FP32, "li");

    for (size_t r0 = 0; r0 < R; r0 += Br) {
        size_t rows = min_size(Br, R - r0);
        for (size_t r = 0; r < rows; r++) {
            mi[r] = -INFINITY;
            li[r] = 0.0f;
        }
        /* Pass 1: m_new = max(m, max of the block), l = l e^(m - m_new) + sum of e^(x - m_new), m = m_new. */
        for (size_t c0 = 0; c0 < N; c0 += Bc) {
            size_t cols = min_size(Bc, N - c0);
            hbm_load_tile(m, Xij, X, r0, rows, c0, cols, "Xij");
            for (size_t r = 0; r < rows; r++) {
                const float *xr = Xij + r * cols;
                float m_new = mi[r], sum = 0.0f;
                for (size_t c = 0; c < cols; c++)
                    m_new = fmaxf(m_new, xr[c]);
                for (size_t c = 0; c < cols; c++)
                    sum += expf(xr[c] - sub(m_new));
                li[r] = li[r] * expf(mi[r] - sub(m_new)) + sum;
                mi[r] = m_new;
            }
            mem_compute(m, "m, l = update(m, l, x)", rows * (3 * cols + 3), rows * (cols + 1));
        }
        /* Pass 2: y = e^(x - m) / l, with the row's final m and l. */
        for (size_t c0 = 0; c0 < N; c0 += Bc) {
            size_t cols = min_size(Bc, N - c0);
            hbm_load_tile(m, Xij, X, r0, rows, c0, cols, "Xij");
            for (size_t r = 0; r < rows; r++)
                for (size_t c = 0; c < cols; c++)
                    Xij[r * cols + c] = expf(Xij[r * cols + c] - mi[r]) / li[r];
            mem_compute(m, "y = e^(x - m) / l", 2 * rows * cols, rows * cols);
            hbm_store_tile(m, Y, r0, rows, c0, cols, Xij, "Yij");
        }
    }
    sram_free(m, li);
    sram_free(m, mi);
    sram_free(m, Xij);
}
