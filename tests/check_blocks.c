/* check_blocks.c — blocks_choose (sim/model/blocks.c): the paper's rule Bc = ⌈M/4d⌉, Br = min(Bc, d) when it fits, the
 * largest blocks that fit when it does not, requested blocks kept, and one clear reason when nothing works; and
 * blocks_choose_rule's transposed rule for a query-outer loop (FlashAttention-2): Br = ⌈M/4d⌉, Bc = min(Br, d). */
#include <check.h>
#include <string.h>

#include "blocks.h"
#include "rng.h"
#include "tiled.h"
#include "util.h"

/* A footprint the paper's choice always fits: only Kj, Bc x d. */
static size_t need_kj(size_t Br, size_t Bc, size_t d, dtype_t dt)
{
    (void)Br;
    return Bc * d * dtype_size(dt);
}

START_TEST(paper_rule_when_it_fits)
{
    rng_t r;
    rng_seed(&r, 10000 + (uint64_t)_i);
    for (int t = 0; t < 300; t++) {
        size_t N = 1 + rng_below(&r, 5000), d = 1 + rng_below(&r, 200), M = 4 * d * 4 + rng_below(&r, 1 << 18);
        dtype_t dt = (dtype_t)rng_below(&r, 3);
        size_t Mel = M / dtype_size(dt), bc = min_size(ceil_div(Mel, 4 * d), N), br = min_size(min_size(bc, d), N);
        block_choice b;
        char err[512];
        ck_assert_int_eq(blocks_choose(M, N, d, dt, 0, 0, need_kj, &b, err, sizeof err), 0);
        ck_assert_uint_eq(b.paper_Bc, bc);
        ck_assert_uint_eq(b.paper_Br, br);
        ck_assert_uint_eq(b.Bc, bc);
        ck_assert_uint_eq(b.Br, br);
        ck_assert(!b.fitted);
        ck_assert_ptr_nonnull(strstr(b.rule, "paper's rule"));
    }
}
END_TEST

/* With what tiled_qkv really keeps (Sij too), the paper's choice often overflows M: the largest Bc that fits is
 * taken, Br = min(Bc, d), and the rule says so. */
START_TEST(fitted_when_paper_overflows)
{
    rng_t r;
    rng_seed(&r, 11000 + (uint64_t)_i);
    int fitted = 0;
    for (int t = 0; t < 300; t++) {
        size_t N = 1 + rng_below(&r, 3000), d = 1 + rng_below(&r, 160), M = 64 + rng_below(&r, 1 << 17);
        dtype_t dt = (dtype_t)rng_below(&r, 3);
        block_choice b;
        char err[512];
        if (blocks_choose(M, N, d, dt, 0, 0, tiled_sram_need, &b, err, sizeof err)) {
            ck_assert(tiled_sram_need(1, 1, d, dt) > M);
            ck_assert_ptr_nonnull(strstr(err, "SRAM too small"));
            continue;
        }
        ck_assert(b.need_bytes <= M && b.need_bytes == tiled_sram_need(b.Br, b.Bc, d, dt));
        ck_assert(b.Bc <= b.paper_Bc || b.paper_Bc == 0);
        ck_assert_uint_eq(b.Br, min_size(min_size(b.Bc, d), N));
        if (b.fitted) {
            fitted++;
            size_t up = b.Bc + 1;   /* one wider no longer fits (within the paper's bound) */
            ck_assert(up > b.paper_Bc || tiled_sram_need(min_size(up, d), up, d, dt) > M);
            ck_assert(tiled_sram_need(b.paper_Br, b.paper_Bc, d, dt) > M);
            ck_assert_ptr_nonnull(strstr(b.rule, "shrunk"));
        }
    }
    ck_assert_int_gt(fitted, 50);   /* the case this test is about really happened */
}
END_TEST

START_TEST(requested_blocks)
{
    block_choice b;
    char err[512];
    size_t need = tiled_sram_need(5, 7, 16, DTYPE_FP16);
    ck_assert_int_eq(blocks_choose(need, 100, 16, DTYPE_FP16, 5, 7, tiled_sram_need, &b, err, sizeof err), 0);
    ck_assert(b.Br == 5 && b.Bc == 7 && b.need_bytes == need && !b.fitted);
    ck_assert_int_eq(blocks_choose(need - 1, 100, 16, DTYPE_FP16, 5, 7, tiled_sram_need, &b, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "SRAM too small"));
    /* Br given: Bc is the largest that fits beside it, at most the paper's ⌈M/4d⌉ */
    ck_assert_int_eq(blocks_choose(4096, 100, 16, DTYPE_FP32, 3, 0, tiled_sram_need, &b, err, sizeof err), 0);
    ck_assert(b.Br == 3 && b.Bc == 16 && b.Bc == b.paper_Bc);
    ck_assert_int_eq(blocks_choose(4096, 100, 16, DTYPE_FP32, 16, 0, tiled_sram_need, &b, err, sizeof err), 0);
    ck_assert(b.Br == 16 && b.Bc == 10);   /* 192·Bc + 2048 <= 4096 */
    ck_assert(b.need_bytes <= 4096 && tiled_sram_need(16, b.Bc + 1, 16, DTYPE_FP32) > 4096);
    /* Bc given: Br is the largest (at most min(Bc, d)) that fits beside it */
    ck_assert_int_eq(blocks_choose(4096, 100, 16, DTYPE_FP32, 0, 20, tiled_sram_need, &b, err, sizeof err), 0);
    ck_assert_uint_eq(b.Bc, 20);
    ck_assert(b.need_bytes <= 4096 && (b.Br == 16 || tiled_sram_need(b.Br + 1, 20, 16, DTYPE_FP32) > 4096));
}
END_TEST

START_TEST(refusals)
{
    block_choice b;
    char err[512];
    ck_assert_int_eq(blocks_choose(1 << 20, 10, 4, DTYPE_FP32, 11, 0, tiled_sram_need, &b, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "larger than the sequence length"));
    ck_assert_int_eq(blocks_choose(1 << 20, 10, 4, DTYPE_FP32, 0, 11, tiled_sram_need, &b, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "larger than the sequence length"));
    size_t one = tiled_sram_need(1, 1, 64, DTYPE_FP32);   /* 2·64·4 + 2·64·4 + 4 = 1028 bytes */
    ck_assert_uint_eq(one, 1028);
    ck_assert_int_eq(blocks_choose(one - 1, 10, 64, DTYPE_FP32, 0, 0, tiled_sram_need, &b, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "1 x 1"));
    ck_assert_int_eq(blocks_choose(one, 10, 64, DTYPE_FP32, 0, 0, tiled_sram_need, &b, err, sizeof err), 0);
    ck_assert(b.Br == 1 && b.Bc == 1);
    ck_assert_int_eq(blocks_choose(1, 10, 64, DTYPE_FP32, 0, 0, tiled_sram_need, &b, err, sizeof err), -1);
}
END_TEST

/* A huge M: the paper's Bc is clamped to N, and Br = min(N, d). */
START_TEST(clamped_to_n)
{
    block_choice b;
    char err[512];
    ck_assert_int_eq(blocks_choose((size_t)1 << 40, 37, 8, DTYPE_FP32, 0, 0, tiled_sram_need, &b, err, sizeof err),
                     0);
    ck_assert(b.Bc == 37 && b.Br == 8 && !b.fitted);
    ck_assert_int_eq(blocks_choose((size_t)1 << 40, 5, 8, DTYPE_FP32, 0, 0, tiled_sram_need, &b, err, sizeof err), 0);
    ck_assert(b.Bc == 5 && b.Br == 5);
}
END_TEST

/* A footprint the transposed rule always fits: only Qi, Br x d. */
static size_t need_qi(size_t Br, size_t Bc, size_t d, dtype_t dt)
{
    (void)Bc;
    return Br * d * dtype_size(dt);
}

/* FlashAttention-2's forward plan, written out (attention.h): Qi, Kj, Vj in dt; Sij, Oi, mi, li in fp32. */
static size_t need_fa2(size_t Br, size_t Bc, size_t d, dtype_t dt)
{
    return (Br + 2 * Bc) * d * dtype_size(dt) + 4 * (Br * Bc + Br * d + 2 * Br);
}

START_TEST(transposed_rule_when_it_fits)
{
    rng_t r;
    rng_seed(&r, 12000 + (uint64_t)_i);
    for (int t = 0; t < 300; t++) {
        size_t N = 1 + rng_below(&r, 5000), d = 1 + rng_below(&r, 200), M = 4 * d * 4 + rng_below(&r, 1 << 18);
        dtype_t dt = (dtype_t)rng_below(&r, 3);
        size_t Mel = M / dtype_size(dt), br = min_size(ceil_div(Mel, 4 * d), N), bc = min_size(min_size(br, d), N);
        block_choice b;
        char err[512];
        ck_assert_int_eq(blocks_choose_rule(M, N, d, dt, 0, 0, need_qi, BLOCK_RULE_Q_OUTER, &b, err, sizeof err), 0);
        ck_assert_uint_eq(b.paper_Br, br);
        ck_assert_uint_eq(b.paper_Bc, bc);
        ck_assert_uint_eq(b.Br, br);
        ck_assert_uint_eq(b.Bc, bc);
        ck_assert(!b.fitted);
        ck_assert_ptr_nonnull(strstr(b.rule, "transposed"));
    }
}
END_TEST

/* With FlashAttention-2's real footprint the transposed choice often overflows M: the largest Br that fits is
 * taken, Bc = min(Br, d), and the rule says so. */
START_TEST(transposed_fitted_when_it_overflows)
{
    rng_t r;
    rng_seed(&r, 13000 + (uint64_t)_i);
    int fitted = 0;
    for (int t = 0; t < 300; t++) {
        size_t N = 1 + rng_below(&r, 3000), d = 1 + rng_below(&r, 160), M = 64 + rng_below(&r, 1 << 17);
        dtype_t dt = (dtype_t)rng_below(&r, 3);
        block_choice b;
        char err[512];
        if (blocks_choose_rule(M, N, d, dt, 0, 0, need_fa2, BLOCK_RULE_Q_OUTER, &b, err, sizeof err)) {
            ck_assert(need_fa2(1, 1, d, dt) > M);
            ck_assert_ptr_nonnull(strstr(err, "SRAM too small"));
            continue;
        }
        ck_assert(b.need_bytes <= M && b.need_bytes == need_fa2(b.Br, b.Bc, d, dt));
        ck_assert(b.Br <= b.paper_Br || b.paper_Br == 0);
        ck_assert_uint_eq(b.Bc, min_size(min_size(b.Br, d), N));
        ck_assert_ptr_nonnull(strstr(b.rule, "transposed"));
        if (b.fitted) {
            fitted++;
            size_t up = b.Br + 1;   /* one taller no longer fits (within the rule's bound) */
            ck_assert(up > b.paper_Br || need_fa2(up, min_size(up, d), d, dt) > M);
            ck_assert(need_fa2(b.paper_Br, b.paper_Bc, d, dt) > M);
            ck_assert_ptr_nonnull(strstr(b.rule, "shrunk to the largest Br"));
        }
    }
    ck_assert_int_gt(fitted, 50);
}
END_TEST

/* One block given: the other is the largest that fits, at most what the transposed rule gives it. */
START_TEST(transposed_requested_blocks)
{
    block_choice b;
    char err[512];
    /* Bc given: Br walks down from ⌈M/4d⌉ = ⌈1024/64⌉ = 16 until need_fa2 = 184·Br + 1536 fits 4096 bytes */
    ck_assert_int_eq(blocks_choose_rule(4096, 100, 16, DTYPE_FP32, 0, 12, need_fa2, BLOCK_RULE_Q_OUTER, &b, err,
                                        sizeof err), 0);
    ck_assert_uint_eq(b.Bc, 12);
    ck_assert_uint_eq(b.paper_Br, 16);
    ck_assert_uint_eq(b.Br, 13);
    ck_assert(b.need_bytes <= 4096 && need_fa2(14, 12, 16, DTYPE_FP32) > 4096);
    /* Br given: Bc is the largest that fits beside it, at most min(Br, d) */
    ck_assert_int_eq(blocks_choose_rule(1 << 20, 100, 16, DTYPE_FP32, 50, 0, need_fa2, BLOCK_RULE_Q_OUTER, &b, err,
                                        sizeof err), 0);
    ck_assert(b.Br == 50 && b.Bc == 16);
    ck_assert_int_eq(blocks_choose_rule(1 << 20, 100, 16, DTYPE_FP32, 5, 0, need_fa2, BLOCK_RULE_Q_OUTER, &b, err,
                                        sizeof err), 0);
    ck_assert(b.Br == 5 && b.Bc == 5);
    /* both given: kept, whatever the rule */
    ck_assert_int_eq(blocks_choose_rule(1 << 20, 100, 16, DTYPE_FP32, 3, 70, need_fa2, BLOCK_RULE_Q_OUTER, &b, err,
                                        sizeof err), 0);
    ck_assert(b.Br == 3 && b.Bc == 70 && !b.fitted);
}
END_TEST

/* blocks_choose is the paper's rule: the same blocks and the same sentence as blocks_choose_rule(KV outer). */
START_TEST(blocks_choose_is_the_kv_rule)
{
    rng_t r;
    rng_seed(&r, 14000);
    for (int t = 0; t < 500; t++) {
        size_t N = 1 + rng_below(&r, 3000), d = 1 + rng_below(&r, 160), M = 64 + rng_below(&r, 1 << 17);
        size_t Br = rng_below(&r, 3) ? 0 : 1 + rng_below(&r, N), Bc = rng_below(&r, 3) ? 0 : 1 + rng_below(&r, N);
        dtype_t dt = (dtype_t)rng_below(&r, 3);
        block_choice a, b;
        char ea[512] = "", eb[512] = "";
        int ra = blocks_choose(M, N, d, dt, Br, Bc, tiled_sram_need, &a, ea, sizeof ea);
        int rb = blocks_choose_rule(M, N, d, dt, Br, Bc, tiled_sram_need, BLOCK_RULE_KV_OUTER, &b, eb, sizeof eb);
        ck_assert_int_eq(ra, rb);
        ck_assert_str_eq(ea, eb);
        if (!ra) {
            ck_assert(a.Br == b.Br && a.Bc == b.Bc && a.paper_Br == b.paper_Br && a.paper_Bc == b.paper_Bc);
            ck_assert_str_eq(a.rule, b.rule);
        }
    }
}
END_TEST

Suite *blocks_suite(void)
{
    Suite *s = suite_create("blocks");
    TCase *tc = tcase_create("Rules");
    tcase_add_loop_test(tc, paper_rule_when_it_fits, 0, 2);
    tcase_add_loop_test(tc, fitted_when_paper_overflows, 0, 2);
    tcase_add_test(tc, requested_blocks);
    tcase_add_test(tc, refusals);
    tcase_add_test(tc, clamped_to_n);
    suite_add_tcase(s, tc);
    tc = tcase_create("Transposed");
    tcase_add_loop_test(tc, transposed_rule_when_it_fits, 0, 2);
    tcase_add_loop_test(tc, transposed_fitted_when_it_overflows, 0, 2);
    tcase_add_test(tc, transposed_requested_blocks);
    tcase_add_test(tc, blocks_choose_is_the_kv_rule);
    suite_add_tcase(s, tc);
    return s;
}
