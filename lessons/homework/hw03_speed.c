/* hw03 — speed test (the seed course, homework 3: "speed test of standard attention vs FlashAttention on long
 * sequences").
 *
 * What to implement
 *   1. hw03_benchmark: a timing loop done right. Call fn(ctx) `warmup` times without timing (the first calls pay
 *      for cold caches and first touches of memory), then `reps` times, timing EACH call alone with a monotonic
 *      clock (clock_gettime(CLOCK_MONOTONIC, ...); milliseconds), keep the times in call order, and report their
 *      median (robust to the odd slow repeat on a busy machine; the mean of the two middle values for an even count).
 *   2. hw03_speed_test: for each Ns[k], time attn_forward of standard attention (ATTN_STANDARD) and of
 *      FlashAttention-2 (ATTN_FLASH2) with your hw03_benchmark, on the same random inputs, in the same run:
 *      B = H = 1, head dim d, fp32, real arithmetic (mem_create(HW03_M_BYTES, false)), one thread (p.threads = 1),
 *      blocks from attn_choose_blocks. Fill rows[k]: N, both timings, speedup = standard / flash medians.
 *
 * Signatures (lessons/homework/homework.h)
 *   void hw03_benchmark(hw03_fn fn, void *ctx, int warmup, int reps, hw03_timing *out);
 *   void hw03_speed_test(const size_t *Ns, size_t n, size_t d, int warmup, int reps, hw03_row *rows);
 *
 * What the tests check (not your machine's speed — that is not a grade)
 *   - fn is called warmup + reps times; warm-up calls are not in the timings; each ms[i] is call i's own time
 *     (the test passes an fn that busy-waits a known time); median_ms is the median of ms[].
 *   - The speed test's rows are well-formed (N, warmup, reps echoed, times positive, speedup = the ratio) and
 *     consistent: both algorithms take longer at N = 256 than at N = 64; attn_forward of each algorithm is called
 *     warmup + reps times per N, on real data, on one thread. (The library's bench_run is not yours to call.)
 * Then look at your numbers: `make plots` draws the same comparison (figure 5) — is FlashAttention faster on a
 * CPU? Why might it not be, when its win on a GPU comes from HBM traffic? (docs/homework.md discusses it.)
 *
 * Tools: attn_params, attn_choose_blocks, attn_alloc, hbm_upload, attn_forward, attn_free (include/model/attention.h);
 *        rng_seed, rng_fill_normal (include/base/rng.h). <time.h> needs `#define _POSIX_C_SOURCE 200809L` first.
 *
 * Test:  make homework HW=03      (reference: docs/solutions/hw03_speed.c)
 */
#include "homework.h"

void hw03_benchmark(hw03_fn fn, void *ctx, int warmup, int reps, hw03_timing *out)
{
    /* TODO: warm-up calls, then timed calls, then the median. */
    (void)fn, (void)ctx, (void)warmup, (void)reps, (void)out;
}

void hw03_speed_test(const size_t *Ns, size_t n, size_t d, int warmup, int reps, hw03_row *rows)
{
    /* TODO: for each N: random q, k, v; time ATTN_STANDARD and ATTN_FLASH2; fill rows[k]. */
    (void)Ns, (void)n, (void)d, (void)warmup, (void)reps, (void)rows;
}
