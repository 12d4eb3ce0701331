/* bench.h — timing for benchmarks: warm-up calls first, then timed repeats, and their median.
 *
 * Speed in flashlab is shown by benchmarks (warm-up, median of repeats, every variant in the same run), never by
 * timed unit tests. A warm-up call pays for first touches of memory and cold caches, so the timed calls measure the
 * steady state; the median ignores the odd repeat a busy machine slows down.
 *
 *   bench_result r;
 *   bench_run(run_flash, &ctx, 1, 5, &r);            // 1 untimed call, then 5 timed ones
 *   printf("%.3f ms (median of %d)\n", r.median_ms, r.reps);
 */
#ifndef FLASHLAB_BENCH_H
#define FLASHLAB_BENCH_H

#include <stddef.h>

#define BENCH_MAX_REPS 64

typedef void (*bench_fn)(void *ctx);

typedef struct {
    int warmup, reps;              /* untimed calls, then timed calls */
    double ms[BENCH_MAX_REPS];     /* each timed call, in call order, milliseconds */
    double median_ms, min_ms, max_ms;
} bench_result;

double bench_now_ms(void);                               /* a monotonic clock, milliseconds */
double bench_median(const double *x, size_t n);          /* middle value (mean of the two middle ones), n >= 1 */
/* Call fn(ctx) warmup times untimed, then reps times (1..BENCH_MAX_REPS) each timed alone. */
void bench_run(bench_fn fn, void *ctx, int warmup, int reps, bench_result *out);

/* One line naming this machine for a plot title: CPU model, logical CPUs, compiler, OpenMP threads. */
const char *bench_machine(char *buf, size_t len);

#endif
