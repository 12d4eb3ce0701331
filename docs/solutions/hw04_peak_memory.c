/* Reference solution of hw04 (lessons/homework/hw04_peak_memory.c): measure the peak on a count-only memory model,
 * then predict it from what is allocated at the peak. */
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
    mem_t *m = mem_create(M_bytes, true);   /* count-only: allocations are counted, nothing is stored */
    attn_tensors t = attn_alloc(m, &p, dt, false);
    attn_forward(m, &p, &t);
    uint64_t peak = mem_hbm_peak(m);
    attn_free(m, &t);
    mem_destroy(m);
    return peak;
}

uint64_t hw04_predict_peak_bytes(attn_algo algo, size_t N, size_t d, dtype_t dt)
{
    uint64_t s = dtype_size(dt), n = N, qkvo = 4 * n * d * s;   /* Q, K, V, O: (1, N, 1, d) in dt */
    switch (algo) {
    case ATTN_STANDARD: return qkvo + 2 * n * n * s;          /* S and P, N x N in dt, alive together */
    case ATTN_FLASH1: return qkvo + 2 * n * 4;                /* m and l: N floats each */
    default: return qkvo + n * 4;                             /* L = m + log l: N floats */
    }
}

double hw04_growth_exponent(size_t N1, uint64_t peak1, size_t N2, uint64_t peak2)
{
    return log((double)peak2 / (double)peak1) / log((double)N2 / (double)N1);
}
