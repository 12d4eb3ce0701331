/* Hostile hw04: measures and predicts right, but "computes" the growth exponent by a threshold rule that knows
 * the answers are 1 and 2.
 * expect: NOT PASSING
 * expect-output: not chosen between 1 and 2
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
    uint64_t s = dtype_size(dt), n = N, qkvo = 4 * n * d * s;
    return algo == ATTN_STANDARD ? qkvo + 2 * n * n * s : algo == ATTN_FLASH1 ? qkvo + 2 * n * 4 : qkvo + n * 4;
}

double hw04_growth_exponent(size_t N1, uint64_t peak1, size_t N2, uint64_t peak2)
{
    double ratio = (double)peak2 / (double)peak1, nratio = (double)N2 / (double)N1;
    return ratio > 0.5 * nratio * nratio ? 2.0 : 1.0;
}
