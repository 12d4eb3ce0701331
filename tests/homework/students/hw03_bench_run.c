/* Hostile hw03: the timing loop is one call of the library's bench_run.
 * expect: your code calls bench_run
 * expect-runtime: -
 */
#include <string.h>

#include "bench.h"
#include "homework.h"

void hw03_benchmark(hw03_fn fn, void *ctx, int warmup, int reps, hw03_timing *out)
{
    bench_result r;
    bench_run(fn, ctx, warmup, reps, &r);
    out->warmup = r.warmup;
    out->reps = r.reps;
    memcpy(out->ms, r.ms, (size_t)reps * sizeof out->ms[0]);
    out->median_ms = r.median_ms;
}

void hw03_speed_test(const size_t *Ns, size_t n, size_t d, int warmup, int reps, hw03_row *rows)
{
    (void)Ns, (void)n, (void)d, (void)warmup, (void)reps, (void)rows;
}
