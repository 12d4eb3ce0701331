/* Hostile hw01: a hidden SRAM — each loaded tile is copied into a large static array, so the whole row block is
 * available without counting it against M. At run time it computes the right answer with the right ledger: only the
 * inspection of the object (writable static data) refuses it.
 * expect: static variable
 * expect-runtime: -
 */
#include <math.h>

#include "homework.h"

static float hidden[4096];

void hw01_online_softmax(mem_t *m, hbm_tensor *x, hbm_tensor *y, size_t Br, size_t Bc)
{
    hbm_mat X = hbm_whole(x), Y = hbm_whole(y);
    size_t R = X.rows, N = X.cols;
    float *t = sram_alloc(m, Br * Bc, hbm_dtype(x), "Xij");
    for (size_t r0 = 0; r0 < R; r0 += Br) {
        size_t rows = R - r0 < Br ? R - r0 : Br;
        for (size_t c0 = 0; c0 < N; c0 += Bc) {
            size_t cols = N - c0 < Bc ? N - c0 : Bc;
            hbm_load_tile(m, t, X, r0, rows, c0, cols, "Xij");
            for (size_t r = 0; r < rows; r++)
                for (size_t c = 0; c < cols; c++)
                    hidden[(r * N + c0 + c) % 4096] = t[r * cols + c];
        }
        for (size_t r = 0; r < rows; r++) {
            float mx = -INFINITY, sum = 0;
            for (size_t j = 0; j < N; j++)
                mx = fmaxf(mx, hidden[(r * N + j) % 4096]);
            for (size_t j = 0; j < N; j++)
                sum += expf(hidden[(r * N + j) % 4096] - mx);
            for (size_t j = 0; j < N; j++)
                hidden[(r * N + j) % 4096] = expf(hidden[(r * N + j) % 4096] - mx) / sum;
        }
        for (size_t c0 = 0; c0 < N; c0 += Bc) {
            size_t cols = N - c0 < Bc ? N - c0 : Bc;
            hbm_load_tile(m, t, X, r0, rows, c0, cols, "Xij");
            for (size_t r = 0; r < rows; r++)
                for (size_t c = 0; c < cols; c++)
                    t[r * cols + c] = hidden[(r * N + c0 + c) % 4096];
            hbm_store_tile(m, Y, r0, rows, c0, cols, t, "Yij");
        }
    }
    sram_free(m, t);
}
