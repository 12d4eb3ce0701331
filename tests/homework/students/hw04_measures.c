/* Hostile hw04: the "prediction" is the measurement.
 * expect: NOT PASSING
 * expect-output: hw04_predict_peak_bytes measured instead of predicting: it called mem_create
 * expect-runtime: -
 */
#include <math.h>

#include "homework.h"
#include "util.h"

uint64_t hw04_peak_hbm_bytes(attn_algo algo, size_t N, size_t d, dtype_t dt, size_t M_bytes)
{
    attn_params p = {.algo = algo, .B = 1, .N = N, .H = 1, .d = d, .threads = 1};
    block_choice ch;
    char err[256];
    if (attn_choose_blocks(&p, false, M_bytes, dt, 0, 0, &ch, err, sizeof err))
        fl_fatal("%s", err);
    mem_t *m = mem_create(M_bytes, true);
    attn_tensors t = attn_alloc(m, &p, dt, false);
    attn_forward(m, &p, &t);
    uint64_t peak = mem_hbm_peak(m);
    attn_free(m, &t);
    mem_destroy(m);
    return peak;
}

uint64_t hw04_predict_peak_bytes(attn_algo algo, size_t N, size_t d, dtype_t dt)
{
    return hw04_peak_hbm_bytes(algo, N, d, dt, 192 * 1024);
}

double hw04_growth_exponent(size_t N1, uint64_t peak1, size_t N2, uint64_t peak2)
{
    return log((double)peak2 / (double)peak1) / log((double)N2 / (double)N1);
}
