/* Hostile hw01: a right answer (the reference's loops), plus a daemon: a forked child that starts its own session
 * and sleeps, holding stdout. It must neither pass nor keep `make homework HW=01 | cat` waiting.
 * expect: your code calls fork
 * expect-runtime: left 1 process running
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <unistd.h>

#include "homework.h"

static float sub(float m) { return m == -INFINITY ? 0.0f : m; }

void hw01_online_softmax(mem_t *m, hbm_tensor *x, hbm_tensor *y, size_t Br, size_t Bc)
{
    static int started;
    if (!started++ && fork() == 0) {
        setsid();
        for (;;)
            sleep(600);
    }
    hbm_mat X = hbm_whole(x), Y = hbm_whole(y);
    size_t R = X.rows, N = X.cols;
    float *t = sram_alloc(m, Br * Bc, hbm_dtype(x), "Xij");
    float *mi = sram_alloc(m, Br, DTYPE_FP32, "mi"), *li = sram_alloc(m, Br, DTYPE_FP32, "li");
    for (size_t r0 = 0; r0 < R; r0 += Br) {
        size_t rows = R - r0 < Br ? R - r0 : Br;
        for (size_t r = 0; r < rows; r++)
            mi[r] = -INFINITY, li[r] = 0;
        for (size_t c0 = 0; c0 < N; c0 += Bc) {
            size_t cols = N - c0 < Bc ? N - c0 : Bc;
            hbm_load_tile(m, t, X, r0, rows, c0, cols, "Xij");
            for (size_t r = 0; r < rows; r++) {
                float mn = mi[r], s = 0;
                for (size_t c = 0; c < cols; c++)
                    mn = fmaxf(mn, t[r * cols + c]);
                for (size_t c = 0; c < cols; c++)
                    s += expf(t[r * cols + c] - sub(mn));
                li[r] = li[r] * expf(mi[r] - sub(mn)) + s;
                mi[r] = mn;
            }
        }
        for (size_t c0 = 0; c0 < N; c0 += Bc) {
            size_t cols = N - c0 < Bc ? N - c0 : Bc;
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
