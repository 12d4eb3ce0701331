/* Hostile hw01: calls nothing forbidden, but reads x's storage through a copy of the memory model's private struct
 * (sim/model/mem.c), computes y from it, and makes two passes of counted loads only for the ledger's sake. The symbol
 * check cannot see this; the guarded HBM can: outside counted loads, x's storage holds decoys.
 * expect: NOT PASSING
 * expect-output: DECOY
 * expect-runtime: NOT PASSING
 */
#include <math.h>

#include "homework.h"

struct peek {   /* sim/model/mem.c's struct hbm_tensor, copied */
    char name[MEM_NAME_LEN];
    int id;
    dtype_t dt;
    hbm_layout layout;
    size_t dim[4];
    size_t numel, bytes;
    void *data;
    bool live;
};

void hw01_online_softmax(mem_t *m, hbm_tensor *x, hbm_tensor *y, size_t Br, size_t Bc)
{
    hbm_mat X = hbm_whole(x), Y = hbm_whole(y);
    size_t R = X.rows, N = X.cols;
    const float *raw = ((const struct peek *)(const void *)x)->data;
    float *t = sram_alloc(m, Br * Bc, hbm_dtype(x), "Xij");
    float *mi = sram_alloc(m, Br, DTYPE_FP32, "mi"), *li = sram_alloc(m, Br, DTYPE_FP32, "li");
    for (size_t r0 = 0; r0 < R; r0 += Br) {
        size_t rows = R - r0 < Br ? R - r0 : Br;
        for (size_t r = 0; r < rows; r++) {   /* the row's max and sum, straight from storage: not counted */
            float mx = -INFINITY, sum = 0;
            for (size_t j = 0; j < N; j++)
                mx = fmaxf(mx, raw[(r0 + r) * N + j]);
            for (size_t j = 0; j < N; j++)
                sum += expf(raw[(r0 + r) * N + j] - mx);
            mi[r] = mx, li[r] = sum;
        }
        for (int pass = 0; pass < 2; pass++)
            for (size_t c0 = 0; c0 < N; c0 += Bc) {
                size_t cols = N - c0 < Bc ? N - c0 : Bc;
                hbm_load_tile(m, t, X, r0, rows, c0, cols, "Xij");   /* for the ledger only */
                if (pass == 1) {
                    for (size_t r = 0; r < rows; r++)
                        for (size_t c = 0; c < cols; c++)
                            t[r * cols + c] = expf(raw[(r0 + r) * N + c0 + c] - mi[r]) / li[r];
                    hbm_store_tile(m, Y, r0, rows, c0, cols, t, "Yij");
                }
            }
    }
    sram_free(m, li);
    sram_free(m, mi);
    sram_free(m, t);
}
