/* check_hw04.c — grades hw04: peak HBM memory of standard attention and FlashAttention.
 * The measurement must be the memory model's own (it is deterministic: allocation, not timing) and must be made
 * (attn_forward, mem_hbm_peak); the formula must predict it for every algorithm, N, d and dtype without measuring
 * (every measuring call fails the test while the prediction runs: hw_guard.c's trap); the growth exponent must be
 * computed from the two measurements it is given — tried on peaks that grow as N^1.37 and the like, which no rule
 * choosing between 1 and 2 can answer — and come out near 2 and 1 from the student's own measurements. */
#include "hw_check.h"

const char homework_name[] = "hw04";
const char homework_title[] = "peak memory: standard attention O(N^2) vs FlashAttention O(N)";

const char *const homework_allowed[] = {
    "mem_create", "mem_destroy", "attn_choose_blocks", "attn_alloc", "attn_forward", "attn_free", "mem_hbm_peak",
    "fl_fatal", "attn_algo_name", NULL};

#define M_BYTES (192 * 1024)

/* The truth: the same measurement made here, independently of the student's code. */
static uint64_t measured(attn_algo a, size_t N, size_t d, dtype_t dt)
{
    attn_params p = {.algo = a, .B = 1, .N = N, .H = 1, .d = d, .threads = 1};
    block_choice ch;
    char err[256];
    ck_assert_msg(attn_choose_blocks(&p, false, M_BYTES, dt, 0, 0, &ch, err, sizeof err) == 0, "%s", err);
    mem_t *m = mem_create(M_BYTES, true);
    attn_tensors t = attn_alloc(m, &p, dt, false);
    attn_forward(m, &p, &t);
    uint64_t peak = mem_hbm_peak(m);
    attn_free(m, &t);
    mem_destroy(m);
    return peak;
}

static const size_t NS[] = {1, 17, 128, 1000, 4096};
static const size_t DS[] = {3, 64, 80};
static const dtype_t DTS[] = {DTYPE_FP16, DTYPE_FP32};
#define NRANDOM 40   /* random (N, d) per algorithm beyond the table: a formula, not a table of answers */

START_TEST(measures_the_memory_model)
{
    attn_algo a = (attn_algo)_i;
    for (size_t i = 0; i < sizeof NS / sizeof NS[0]; i++)
        for (size_t k = 0; k < sizeof DTS / sizeof DTS[0]; k++) {
            uint64_t want = measured(a, NS[i], 64, DTS[k]);
            hw_forward_calls_reset();
            uint64_t got = hw04_peak_hbm_bytes(a, NS[i], 64, DTS[k], M_BYTES);
            const hw_forward_log *log = hw_forward_calls();
            ck_assert_msg(got == want, "%s N=%zu d=64 %s: you measured %llu bytes, the memory model's peak is %llu: "
                          "create the model, attn_alloc, attn_forward, then read mem_hbm_peak (before freeing)",
                          attn_algo_name(a), NS[i], dtype_name(DTS[k]), (unsigned long long)got,
                          (unsigned long long)want);
            ck_assert_msg(log->n >= 1 && log->peaks >= 1, "%s N=%zu: hw04_peak_hbm_bytes returned the right number "
                          "without measuring (attn_forward called %zu times, mem_hbm_peak %zu): measure here — the "
                          "formula belongs in hw04_predict_peak_bytes", attn_algo_name(a), NS[i], log->n,
                          log->peaks);
        }
}
END_TEST

static void check_prediction(attn_algo a, size_t N, size_t d, dtype_t dt)
{
    uint64_t want = measured(a, N, d, dt);
    hw_trap_set("hw04_predict_peak_bytes");
    uint64_t got = hw04_predict_peak_bytes(a, N, d, dt);
    hw_trap_set(NULL);
    ck_assert_msg(got == want, "%s N=%zu d=%zu %s: your formula gives %llu bytes, the measured peak is %llu "
                  "(difference %lld). Which tensors are allocated at the peak, with which shape and dtype? "
                  "(attention.h: attn_tensors; standard also holds S while it computes P)", attn_algo_name(a), N, d,
                  dtype_name(dt), (unsigned long long)got, (unsigned long long)want, (long long)(got - want));
}

START_TEST(formula_predicts_the_peak)
{
    attn_algo a = (attn_algo)_i;
    for (size_t i = 0; i < sizeof NS / sizeof NS[0]; i++)
        for (size_t j = 0; j < sizeof DS / sizeof DS[0]; j++)
            for (size_t k = 0; k < sizeof DTS / sizeof DTS[0]; k++)
                check_prediction(a, NS[i], DS[j], DTS[k]);
    rng_t g;
    rng_seed(&g, 40 + (uint64_t)a);
    for (int i = 0; i < NRANDOM; i++)
        check_prediction(a, 1 + rng_below(&g, 5000), 1 + rng_below(&g, 256), DTS[i % 2]);
    check_prediction(a, 65536, 128, DTYPE_FP16);
}
END_TEST

START_TEST(growth_exponent_formula)
{
    double e = hw04_growth_exponent(100, 1000, 400, 16000);
    ck_assert_msg(fabs(e - 2.0) < 1e-12, "hw04_growth_exponent(100, 1000, 400, 16000) = %g; 4x the N and 16x the "
                  "bytes is N^2: log(16000/1000) / log(400/100) = 2", e);
    e = hw04_growth_exponent(1000, 5000, 3000, 15000);
    ck_assert_msg(fabs(e - 1.0) < 1e-12, "hw04_growth_exponent(1000, 5000, 3000, 15000) = %g, expected 1", e);
    /* Peaks that grow as N^x for x that are not 1 or 2 (a real peak is a sum, Q K V O + S P, and its exponent
     * between two N lies anywhere in between): the answer is the exponent the two points give, whatever it is. */
    rng_t g;
    rng_seed(&g, 44);
    for (int i = 0; i < 20; i++) {
        double x = 0.3 + 2.7 * rng_uniform(&g);
        size_t N1 = 16 + rng_below(&g, 4000), N2 = N1 * (2 + rng_below(&g, 30));
        uint64_t p1 = (uint64_t)llround(1000.0 * pow((double)N1, x)), p2 = (uint64_t)llround(1000.0 * pow((double)N2, x));
        double want = log((double)p2 / (double)p1) / log((double)N2 / (double)N1);
        e = hw04_growth_exponent(N1, p1, N2, p2);
        ck_assert_msg(fabs(e - want) <= 1e-9 * want, "hw04_growth_exponent(%zu, %llu, %zu, %llu) = %.6g, but the two "
                      "points grow as N^%.6g = log(peak2/peak1) / log(N2/N1). The exponent is computed from the "
                      "measurements, not chosen between 1 and 2.", N1, (unsigned long long)p1, N2,
                      (unsigned long long)p2, e, want);
    }
}
END_TEST

/* The law itself, from the student's own measurements at long sequences: standard ~N^2, flash ~N. */
START_TEST(standard_quadratic_flash_linear)
{
    static const struct { attn_algo a; double lo, hi; } LAW[] = {
        {ATTN_STANDARD, 1.9, 2.05}, {ATTN_FLASH1, 0.95, 1.05}, {ATTN_FLASH2, 0.95, 1.05}};
    for (size_t i = 0; i < 3; i++) {
        uint64_t p1 = hw04_peak_hbm_bytes(LAW[i].a, 16384, 64, DTYPE_FP16, M_BYTES);
        uint64_t p2 = hw04_peak_hbm_bytes(LAW[i].a, 65536, 64, DTYPE_FP16, M_BYTES);
        double e = hw04_growth_exponent(16384, p1, 65536, p2);
        ck_assert_msg(e >= LAW[i].lo && e <= LAW[i].hi, "%s: peak %llu bytes at N=16384, %llu at N=65536: growth "
                      "exponent %.3f, expected %.2f .. %.2f", attn_algo_name(LAW[i].a), (unsigned long long)p1,
                      (unsigned long long)p2, e, LAW[i].lo, LAW[i].hi);
    }
}
END_TEST

HW_TESTS(
    {"measures_the_memory_model", measures_the_memory_model, ATTN_NALGOS},
    {"formula_predicts_the_peak", formula_predicts_the_peak, ATTN_NALGOS},
    {"growth_exponent_formula", growth_exponent_formula, 1},
    {"standard_N2_flash_N", standard_quadratic_flash_linear, 1}
)
