/* Reference solution of hw03 (lessons/homework/hw03_speed.c): a timing loop done right — warm-up calls untimed,
 * each timed call timed alone with a monotonic clock, the median of the times — and a speed test that runs both
 * algorithms on the same inputs in the same run (plots/bench_cpu.c does the same for figure 5). */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "homework.h"
#include "rng.h"
#include "util.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

void hw03_benchmark(hw03_fn fn, void *ctx, int warmup, int reps, hw03_timing *out)
{
    out->warmup = warmup;
    out->reps = reps;
    for (int i = 0; i < warmup; i++)   /* cold caches, first touches of memory: not what we measure */
        fn(ctx);
    for (int i = 0; i < reps; i++) {
        double t0 = now_ms();
        fn(ctx);
        out->ms[i] = now_ms() - t0;
    }
    /* The median of a sorted copy (insertion sort: at most HW03_MAX_REPS values), robust to a slow repeat. */
    double s[HW03_MAX_REPS];
    memcpy(s, out->ms, (size_t)reps * sizeof s[0]);
    for (int i = 1; i < reps; i++)
        for (int j = i; j > 0 && s[j - 1] > s[j]; j--) {
            double x = s[j];
            s[j] = s[j - 1];
            s[j - 1] = x;
        }
    out->median_ms = reps % 2 ? s[reps / 2] : 0.5 * (s[reps / 2 - 1] + s[reps / 2]);
}

typedef struct {
    mem_t *m;
    attn_params p;
    attn_tensors t;
} forward_ctx;

static void forward(void *ctx)
{
    forward_ctx *c = ctx;
    attn_forward(c->m, &c->p, &c->t);
}

static void time_one(attn_algo a, size_t N, size_t d, const float *q, const float *k, const float *v, int warmup,
                     int reps, hw03_timing *out)
{
    forward_ctx c = {.m = mem_create(HW03_M_BYTES, false),
                     .p = {.algo = a, .B = 1, .N = N, .H = 1, .d = d, .threads = 1}};
    block_choice ch;
    char err[256];
    if (attn_choose_blocks(&c.p, false, HW03_M_BYTES, DTYPE_FP32, 0, 0, &ch, err, sizeof err))
        fl_fatal("%s", err);
    c.t = attn_alloc(c.m, &c.p, DTYPE_FP32, false);
    hbm_upload(c.t.q, q);   /* host to HBM before the "kernel", like cudaMemcpy: not part of the timing */
    hbm_upload(c.t.k, k);
    hbm_upload(c.t.v, v);
    hw03_benchmark(forward, &c, warmup, reps, out);
    attn_free(c.m, &c.t);
    mem_destroy(c.m);
}

void hw03_speed_test(const size_t *Ns, size_t n, size_t d, int warmup, int reps, hw03_row *rows)
{
    for (size_t i = 0; i < n; i++) {
        size_t N = Ns[i], nel = N * d;
        float *q = xmalloc(nel * sizeof *q), *k = xmalloc(nel * sizeof *k), *v = xmalloc(nel * sizeof *v);
        rng_t r;
        rng_seed(&r, 42);
        rng_fill_normal(&r, q, nel, 1.0f);
        rng_fill_normal(&r, k, nel, 1.0f);
        rng_fill_normal(&r, v, nel, 1.0f);
        rows[i].N = N;
        time_one(ATTN_STANDARD, N, d, q, k, v, warmup, reps, &rows[i].standard);
        time_one(ATTN_FLASH2, N, d, q, k, v, warmup, reps, &rows[i].flash);
        rows[i].speedup = rows[i].standard.median_ms / rows[i].flash.median_ms;
        free(q), free(k), free(v);
    }
}
