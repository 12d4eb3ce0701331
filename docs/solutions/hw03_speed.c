/* Reference solution of hw03 (lessons/homework/hw03_speed.c): the timing loop is sim/course/bench.c's bench_run, the speed
 * test runs both algorithms on the same inputs in the same run (plots/bench_runtime.c does the same for figure 5). */
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "homework.h"
#include "rng.h"
#include "util.h"

void hw03_benchmark(hw03_fn fn, void *ctx, int warmup, int reps, hw03_timing *out)
{
    bench_result r;
    bench_run(fn, ctx, warmup, reps, &r);
    out->warmup = r.warmup;
    out->reps = r.reps;
    memcpy(out->ms, r.ms, (size_t)reps * sizeof out->ms[0]);
    out->median_ms = r.median_ms;
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
    hbm_upload(c.t.q, q);
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
