/* hw04 — peak memory (the seed course, homework 4: "measure the peak memory of both").
 *
 * What to implement
 *   1. hw04_peak_hbm_bytes: measure. Create a COUNT-ONLY memory model (mem_create(M_bytes, true): tensors are
 *      counted, never stored, so N = 65536 costs nothing), choose blocks (attn_choose_blocks), attn_alloc, run
 *      attn_forward, and return mem_hbm_peak: the most bytes of HBM tensors allocated at once. Free everything.
 *   2. hw04_predict_peak_bytes: explain. The same number from a formula in N, d and dtype_size(dt). Which tensors
 *      are alive at the peak, with which shapes and dtypes? (include/model/attention.h: attn_tensors lists them; standard
 *      attention materializes S and P, N x N each; FlashAttention keeps O(N) row statistics in fp32.)
 *   3. hw04_growth_exponent: the e in peak ∝ N^e between two measurements: log(peak2/peak1) / log(N2/N1).
 *
 * Signatures (lessons/homework/homework.h)
 *   uint64_t hw04_peak_hbm_bytes(attn_algo algo, size_t N, size_t d, dtype_t dt, size_t M_bytes);
 *   uint64_t hw04_predict_peak_bytes(attn_algo algo, size_t N, size_t d, dtype_t dt);
 *   double hw04_growth_exponent(size_t N1, uint64_t peak1, size_t N2, uint64_t peak2);
 *   (B = H = 1 throughout.)
 *
 * What the tests check
 *   - your measurement equals the memory model's peak (standard, flash1, flash2; N from 1 to 4096; fp16 and fp32);
 *   - your formula equals the measurement for every algorithm, N, d in {3, 64, 80}, random (N, d) and dtype — and
 *     it must be a formula: while it runs, every measuring call (mem_create, attn_forward, ...) fails the test;
 *   - the exponent of two made-up measurements (peaks growing as N^1.37, say), and the growth exponents from your
 *     measurements at N = 16384 and 65536: about 2 for standard, 1 for FlashAttention.
 * Then: at what N would standard attention's S and P alone fill an 80 GB GPU for one head in fp16?
 *
 * Test:  make homework HW=04      (reference: docs/solutions/hw04_peak_memory.c; `make plots` draws figure 4)
 */
#include "homework.h"

uint64_t hw04_peak_hbm_bytes(attn_algo algo, size_t N, size_t d, dtype_t dt, size_t M_bytes)
{
    /* TODO: count-only model, blocks, attn_alloc, attn_forward, mem_hbm_peak, free. */
    (void)algo, (void)N, (void)d, (void)dt, (void)M_bytes;
    return 0;
}

uint64_t hw04_predict_peak_bytes(attn_algo algo, size_t N, size_t d, dtype_t dt)
{
    /* TODO: sum the bytes of the tensors alive at the peak. */
    (void)algo, (void)N, (void)d, (void)dt;
    return 0;
}

double hw04_growth_exponent(size_t N1, uint64_t peak1, size_t N2, uint64_t peak2)
{
    /* TODO */
    (void)N1, (void)peak1, (void)N2, (void)peak2;
    return 0;
}
