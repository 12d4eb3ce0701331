/* check_hw03.c — grades hw03's benchmark. Speed is not graded (it depends on the machine); the method is:
 * warm-up calls are made and not timed, each timed call is timed alone, the median is the median, and the speed
 * test's numbers are well-formed and consistent (both algorithms timed, timings grow with N). */
#define _POSIX_C_SOURCE 200809L
#include <time.h>

#include "hw_check.h"

const char homework_name[] = "hw03";
const char homework_title[] = "speed test: standard attention vs FlashAttention-2 (warm-up, median of repeats)";

/* A benchmark harness may allocate, time and call the library's attention; the library's own benchmark loop
 * (bench_run, bench_median) is the answer, so it is not on the list. */
const char *const homework_allowed[] = {
    "clock_gettime", "timespec_get", "qsort", "malloc", "calloc", "free", "fl_xmalloc", "fl_xcalloc", "fl_fatal",
    "mem_create", "mem_destroy", "attn_choose_blocks", "attn_alloc", "attn_free", "attn_forward", "hbm_upload",
    "hbm_numel", "rng_seed", "rng_fill_normal", "rng_fill_uniform", "rng_normal", "rng_uniform", NULL};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* A callback that busy-waits a known time per call, so what a correct timer reports has a machine-free floor. */
typedef struct {
    int calls, warmup;
    double warm_ms, ms[HW03_MAX_REPS];
} spinner;

static void spin(void *ctx)
{
    spinner *s = ctx;
    double want = s->calls < s->warmup ? s->warm_ms : s->ms[s->calls - s->warmup];
    double t0 = now_ms();
    while (now_ms() - t0 < want)
        ;
    s->calls++;
}

static double median_of(const double *x, int n)
{
    double s[HW03_MAX_REPS];
    memcpy(s, x, (size_t)n * sizeof *s);
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && s[j - 1] > s[j]; j--) {
            double t = s[j];
            s[j] = s[j - 1];
            s[j - 1] = t;
        }
    return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

static void assert_timing(const hw03_timing *t, int warmup, int reps, const char *what)
{
    ck_assert_msg(t->warmup == warmup && t->reps == reps, "%s: out->warmup = %d and out->reps = %d, but %d warm-up "
                  "calls and %d repeats were asked for: fill both fields", what, t->warmup, t->reps, warmup, reps);
    for (int i = 0; i < reps; i++)
        ck_assert_msg(t->ms[i] > 0 && isfinite(t->ms[i]), "%s: ms[%d] = %g: every timed call takes a positive, "
                      "finite time (clock_gettime(CLOCK_MONOTONIC) before and after the call)", what, i, t->ms[i]);
    double med = median_of(t->ms, reps);
    ck_assert_msg(fabs(t->median_ms - med) <= 1e-9 * med, "%s: median_ms = %g, but the median of your ms[0..%d] is "
                  "%g: sort a copy and take the middle (the mean of the two middle values for an even count)", what,
                  t->median_ms, reps - 1, med);
}

/* Warm-up calls (200 ms each) come first and are not timed; each timed call (2 ms) is timed alone. */
START_TEST(warmup_is_not_timed)
{
    spinner s = {.warmup = 2, .warm_ms = 200};
    for (int i = 0; i < 5; i++)
        s.ms[i] = 2;
    hw03_timing t;
    memset(&t, 0, sizeof t);
    hw03_benchmark(spin, &s, 2, 5, &t);
    ck_assert_msg(s.calls == 7, "fn was called %d times; with 2 warm-up calls and 5 repeats it must be called 7 "
                  "times", s.calls);
    assert_timing(&t, 2, 5, "hw03_benchmark(fn, ctx, 2, 5, &out)");
    for (int i = 0; i < 5; i++) {
        ck_assert_msg(t.ms[i] >= 2.0, "ms[%d] = %.3f ms, but that call spun for 2 ms: time in milliseconds, around "
                      "the call alone", i, t.ms[i]);
        ck_assert_msg(t.ms[i] < 150.0, "ms[%d] = %.1f ms: the timed calls take 2 ms, the warm-up calls 200 ms — are "
                      "the warm-up calls inside the timing, or is the clock started once for all calls?", i, t.ms[i]);
    }
}
END_TEST

/* Calls of 2, 12, 4, 8, 6 ms: each ms[i] belongs to call i, and the median is the middle one, about 6 ms. */
START_TEST(each_call_timed_and_median)
{
    static const double want[] = {2, 12, 4, 8, 6};
    spinner s = {.warmup = 1, .warm_ms = 1};
    memcpy(s.ms, want, sizeof want);
    hw03_timing t;
    memset(&t, 0, sizeof t);
    hw03_benchmark(spin, &s, 1, 5, &t);
    assert_timing(&t, 1, 5, "hw03_benchmark(fn, ctx, 1, 5, &out)");
    for (int i = 0; i < 5; i++)
        ck_assert_msg(t.ms[i] >= want[i], "ms[%d] = %.3f ms, but call %d spun for %.0f ms: keep the timings in call "
                      "order, one per call", i, t.ms[i], i, want[i]);
    /* Each ms[i] >= want[i], so the middle of the sorted ms[] is at least the middle want, 6 ms (no upper bound: a
     * busy machine stretches every call). assert_timing checked that median_ms is the middle of ms[]. */
    ck_assert_msg(t.median_ms >= 6.0, "median_ms = %.3f for calls of 2, 12, 4, 8 and 6 ms: the median is the middle "
                  "value (at least 6 ms here), not the mean or the minimum", t.median_ms);
}
END_TEST

START_TEST(speed_test_is_well_formed)
{
    static const size_t Ns[] = {64, 256};
    hw03_row rows[2];
    memset(rows, 0, sizeof rows);
    hw_forward_calls_reset();
    hw03_speed_test(Ns, 2, 32, 1, 3, rows);
    /* What was timed: attn_forward of both algorithms at both N, warm-up + repeats each, real arithmetic, 1 thread. */
    const hw_forward_log *log = hw_forward_calls();
    static const attn_algo TIMED[] = {ATTN_STANDARD, ATTN_FLASH2};
    for (int k = 0; k < 2; k++)
        for (int a = 0; a < 2; a++) {
            int calls = 0;
            for (size_t i = 0; i < log->n && i < HW_FORWARD_LOG; i++) {
                const hw_forward_call *f = &log->call[i];
                if (f->algo != TIMED[a] || f->N != Ns[k])
                    continue;
                calls++;
                ck_assert_msg(!f->count_only, "N=%zu %s: attn_forward ran on a count-only memory model, which skips "
                              "the arithmetic: time real work, mem_create(HW03_M_BYTES, false)", Ns[k],
                              attn_algo_name(f->algo));
                ck_assert_msg(f->threads == 1, "N=%zu %s: attn_forward ran with p.threads = %d; the speed test is "
                              "on one thread (p.threads = 1)", Ns[k], attn_algo_name(f->algo), f->threads);
            }
            ck_assert_msg(calls == 4, "N=%zu: attn_forward of %s was called %d times; with 1 warm-up call and 3 "
                          "repeats it must be called 4 times (through your hw03_benchmark)", Ns[k],
                          attn_algo_name(TIMED[a]), calls);
        }
    for (int k = 0; k < 2; k++) {
        char what[64];
        ck_assert_msg(rows[k].N == Ns[k], "rows[%d].N = %zu but Ns[%d] = %zu", k, rows[k].N, k, Ns[k]);
        snprintf(what, sizeof what, "N=%zu standard", Ns[k]);
        assert_timing(&rows[k].standard, 1, 3, what);
        snprintf(what, sizeof what, "N=%zu flash", Ns[k]);
        assert_timing(&rows[k].flash, 1, 3, what);
        double sp = rows[k].standard.median_ms / rows[k].flash.median_ms;
        ck_assert_msg(fabs(rows[k].speedup - sp) <= 1e-9 * sp, "N=%zu: speedup = %g, but standard.median_ms / "
                      "flash.median_ms = %g", Ns[k], rows[k].speedup, sp);
    }
    /* 4x the tokens is 16x the work of either algorithm: no machine times N=256 faster than N=64. */
    ck_assert_msg(rows[1].standard.median_ms > rows[0].standard.median_ms &&
                  rows[1].flash.median_ms > rows[0].flash.median_ms,
                  "standard: %.3f ms at N=64, %.3f ms at N=256; flash: %.3f, %.3f ms. Attention's work grows as N^2, "
                  "so the time must grow with N: are you timing attn_forward on real data (mem_create(M, false))?",
                  rows[0].standard.median_ms, rows[1].standard.median_ms, rows[0].flash.median_ms,
                  rows[1].flash.median_ms);
}
END_TEST

HW_TESTS(
    {"warmup_is_not_timed", warmup_is_not_timed, 1},
    {"each_call_timed_and_median", each_call_timed_and_median, 1},
    {"speed_test_is_well_formed", speed_test_is_well_formed, 1}
)
