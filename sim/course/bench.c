/* bench.c — warm-up, timed repeats and medians for benchmarks (see include/course/bench.h). */
#define _POSIX_C_SOURCE 200809L
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "util.h"

double bench_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median(const double *x, size_t n)
{
    double s[BENCH_MAX_REPS];
    if (n == 0 || n > BENCH_MAX_REPS)
        fl_fatal("internal: bench_median of %zu values (1 to %d)", n, BENCH_MAX_REPS);
    memcpy(s, x, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_double);
    return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

void bench_run(bench_fn fn, void *ctx, int warmup, int reps, bench_result *out)
{
    if (warmup < 0 || reps < 1 || reps > BENCH_MAX_REPS)
        fl_fatal("internal: bench_run with %d warm-up calls and %d repeats (1 to %d)", warmup, reps, BENCH_MAX_REPS);
    *out = (bench_result){.warmup = warmup, .reps = reps};
    for (int i = 0; i < warmup; i++)
        fn(ctx);
    for (int i = 0; i < reps; i++) {
        double t0 = bench_now_ms();
        fn(ctx);
        out->ms[i] = bench_now_ms() - t0;
    }
    out->median_ms = bench_median(out->ms, (size_t)reps);
    out->min_ms = out->max_ms = out->ms[0];
    for (int i = 1; i < reps; i++) {
        out->min_ms = out->ms[i] < out->min_ms ? out->ms[i] : out->min_ms;
        out->max_ms = out->ms[i] > out->max_ms ? out->ms[i] : out->max_ms;
    }
}

const char *bench_machine(char *buf, size_t len)
{
    char model[128] = "unknown CPU", line[256];
    FILE *f = fopen("/proc/cpuinfo", "r");
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "model name", 10)) {
            const char *v = strchr(line, ':');
            if (v) {
                v += 1 + (v[1] == ' ');
                snprintf(model, sizeof model, "%.*s", (int)strcspn(v, "\n"), v);
            }
            break;
        }
    if (f)
        fclose(f);
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
#if defined(__clang__)
    const char *cc = "clang " __clang_version__;
#elif defined(__GNUC__)
    const char *cc = "gcc " __VERSION__;
#else
    const char *cc = "an unknown compiler";
#endif
    snprintf(buf, len, "%s, %ld logical CPUs, %s, %d OpenMP thread%s", model, cpus, cc, threads,
             threads == 1 ? "" : "s");
    return buf;
}
