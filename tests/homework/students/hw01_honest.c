/* A student's honest hw01, written differently from the reference: the row statistics are merged block by block
 * with a helper, an assert guards the tile size, and debug lines are printed (printing and assert are allowed; the
 * grader shows what was printed when a test fails).
 * expect: pass
 * expect-runtime: pass
 */
#include <assert.h>
#include <math.h>
#include <stdio.h>

#include "homework.h"

/* Merge a block's max and sum (taken against the block's own max) into the row's running (m, l). */
static void merge(float *m, float *l, float bm, float bl)
{
    if (bm == -INFINITY)
        return;
    if (*m == -INFINITY || bm > *m) {
        *l = *m == -INFINITY ? bl : *l * expf(*m - bm) + bl;
        *m = bm;
    } else {
        *l += bl * expf(bm - *m);
    }
}

void hw01_online_softmax(mem_t *m, hbm_tensor *x, hbm_tensor *y, size_t Br, size_t Bc)
{
    hbm_mat X = hbm_whole(x), Y = hbm_whole(y);
    float *t = sram_alloc(m, Br * Bc, hbm_dtype(x), "Xij");
    float *mi = sram_alloc(m, Br, DTYPE_FP32, "mi"), *li = sram_alloc(m, Br, DTYPE_FP32, "li");
    assert(Br > 0 && Bc > 0);
    printf("hw01: %zu x %zu in %zu x %zu tiles\n", X.rows, X.cols, Br, Bc);
    fprintf(stderr, "hw01: debugging\n");
    for (size_t r0 = 0; r0 < X.rows; r0 += Br) {
        size_t rows = X.rows - r0 < Br ? X.rows - r0 : Br;
        for (size_t r = 0; r < rows; r++)
            mi[r] = -INFINITY, li[r] = 0;
        for (size_t c0 = 0; c0 < X.cols; c0 += Bc) {
            size_t cols = X.cols - c0 < Bc ? X.cols - c0 : Bc;
            hbm_load_tile(m, t, X, r0, rows, c0, cols, "Xij");
            for (size_t r = 0; r < rows; r++) {
                float bm = -INFINITY, bl = 0;
                for (size_t c = 0; c < cols; c++)
                    bm = fmaxf(bm, t[r * cols + c]);
                for (size_t c = 0; bm != -INFINITY && c < cols; c++)
                    bl += expf(t[r * cols + c] - bm);
                merge(&mi[r], &li[r], bm, bl);
            }
        }
        for (size_t c0 = 0; c0 < X.cols; c0 += Bc) {
            size_t cols = X.cols - c0 < Bc ? X.cols - c0 : Bc;
            hbm_load_tile(m, t, X, r0, rows, c0, cols, "Xij");
            for (size_t k = 0; k < rows * cols; k++)
                t[k] = expf(t[k] - mi[k / cols]) / li[k / cols];
            hbm_store_tile(m, Y, r0, rows, c0, cols, t, "Yij");
        }
    }
    sram_free(m, li);
    sram_free(m, mi);
    sram_free(m, t);
}
