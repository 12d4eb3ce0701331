/* Hostile hw01: reads x whole with the uncounted hbm_download, computes softmax in malloc memory, then makes two
 * dummy passes of counted loads and stores y from its own copy — the ledger looks exactly right.
 * expect: your code calls hbm_download
 * expect-runtime: NOT PASSING
 */
#include <math.h>
#include <stdlib.h>

#include "homework.h"

void hw01_online_softmax(mem_t *m, hbm_tensor *x, hbm_tensor *y, size_t Br, size_t Bc)
{
    hbm_mat X = hbm_whole(x), Y = hbm_whole(y);
    size_t R = X.rows, N = X.cols;
    float *all = malloc(R * N * sizeof *all);
    hbm_download(x, all);
    for (size_t i = 0; i < R; i++) {
        float mx = -INFINITY, sum = 0;
        for (size_t j = 0; j < N; j++)
            mx = fmaxf(mx, all[i * N + j]);
        for (size_t j = 0; j < N; j++)
            sum += expf(all[i * N + j] - mx);
        for (size_t j = 0; j < N; j++)
            all[i * N + j] = expf(all[i * N + j] - mx) / sum;
    }
    float *t = sram_alloc(m, Br * Bc, hbm_dtype(x), "Xij");
    for (int pass = 0; pass < 2; pass++)
        for (size_t r0 = 0; r0 < R; r0 += Br)
            for (size_t c0 = 0; c0 < N; c0 += Bc) {
                size_t rows = R - r0 < Br ? R - r0 : Br, cols = N - c0 < Bc ? N - c0 : Bc;
                hbm_load_tile(m, t, X, r0, rows, c0, cols, "Xij");
                if (pass == 1) {
                    for (size_t r = 0; r < rows; r++)
                        for (size_t c = 0; c < cols; c++)
                            t[r * cols + c] = all[(r0 + r) * N + c0 + c];
                    hbm_store_tile(m, Y, r0, rows, c0, cols, t, "Yij");
                }
            }
    sram_free(m, t);
    free(all);
}
