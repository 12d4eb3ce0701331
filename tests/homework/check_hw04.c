/* check_hw04.c — grades hw04: peak HBM memory of standard attention and FlashAttention.
 * The measurement must be the memory model's own (it is deterministic: allocation, not timing), the formula must
 * predict it for every algorithm, N, d and dtype, and the growth exponents must come out near 2 and 1. */
#include "hw_check.h"

const char homework_name[] = "hw04";
const char homework_title[] = "peak memory: standard attention O(N^2) vs FlashAttention O(N)";

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

START_TEST(measures_the_memory_model)
{
    attn_algo a = (attn_algo)_i;
    for (size_t i = 0; i < sizeof NS / sizeof NS[0]; i++)
        for (size_t k = 0; k < sizeof DTS / sizeof DTS[0]; k++) {
            uint64_t want = measured(a, NS[i], 64, DTS[k]), got = hw04_peak_hbm_bytes(a, NS[i], 64, DTS[k], M_BYTES);
            ck_assert_msg(got == want, "%s N=%zu d=64 %s: you measured %llu bytes, the memory model's peak is %llu: "
                          "create the model, attn_alloc, attn_forward, then read mem_hbm_peak (before freeing)",
                          attn_algo_name(a), NS[i], dtype_name(DTS[k]), (unsigned long long)got,
                          (unsigned long long)want);
        }
}
END_TEST

START_TEST(formula_predicts_the_peak)
{
    attn_algo a = (attn_algo)_i;
    for (size_t i = 0; i < sizeof NS / sizeof NS[0]; i++)
        for (size_t j = 0; j < sizeof DS / sizeof DS[0]; j++)
            for (size_t k = 0; k < sizeof DTS / sizeof DTS[0]; k++) {
                uint64_t want = measured(a, NS[i], DS[j], DTS[k]);
                uint64_t got = hw04_predict_peak_bytes(a, NS[i], DS[j], DTS[k]);
                ck_assert_msg(got == want, "%s N=%zu d=%zu %s: your formula gives %llu bytes, the measured peak is "
                              "%llu (difference %lld). Which tensors are allocated at the peak, with which shape and "
                              "dtype? (attention.h: attn_tensors; standard also holds S while it computes P)",
                              attn_algo_name(a), NS[i], DS[j], dtype_name(DTS[k]), (unsigned long long)got,
                              (unsigned long long)want, (long long)(got - want));
            }
}
END_TEST

START_TEST(growth_exponent_formula)
{
    double e = hw04_growth_exponent(100, 1000, 400, 16000);
    ck_assert_msg(fabs(e - 2.0) < 1e-12, "hw04_growth_exponent(100, 1000, 400, 16000) = %g; 4x the N and 16x the "
                  "bytes is N^2: log(16000/1000) / log(400/100) = 2", e);
    e = hw04_growth_exponent(1000, 5000, 3000, 15000);
    ck_assert_msg(fabs(e - 1.0) < 1e-12, "hw04_growth_exponent(1000, 5000, 3000, 15000) = %g, expected 1", e);
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

Suite *homework_suite(void)
{
    Suite *s = suite_create(homework_name);
    TCase *tc = tcase_create("measures_the_memory_model");
    tcase_add_loop_test(tc, measures_the_memory_model, ATTN_STANDARD, ATTN_NALGOS);
    tcase_set_timeout(tc, HW_TIMEOUT_S);
    suite_add_tcase(s, tc);
    tc = tcase_create("formula_predicts_the_peak");
    tcase_add_loop_test(tc, formula_predicts_the_peak, ATTN_STANDARD, ATTN_NALGOS);
    tcase_set_timeout(tc, HW_TIMEOUT_S);
    suite_add_tcase(s, tc);
    tc = tcase_create("growth_exponent_formula");
    tcase_add_test(tc, growth_exponent_formula);
    tcase_set_timeout(tc, HW_TIMEOUT_S);
    suite_add_tcase(s, tc);
    tc = tcase_create("standard_N2_flash_N");
    tcase_add_test(tc, standard_quadratic_flash_linear);
    tcase_set_timeout(tc, HW_TIMEOUT_S);
    suite_add_tcase(s, tc);
    return s;
}
