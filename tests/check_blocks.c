/* check_blocks.c — blocks_choose (sim/model/blocks.c): the paper's rule Bc = ⌈M/4d⌉, Br = min(Bc, d) when it fits, the
 * largest blocks that fit when it does not, requested blocks kept, and one clear reason when nothing works; and
 * blocks_choose_rule's transposed rule for a query-outer loop (FlashAttention-2): Br = ⌈M/4d⌉, Bc = min(Br, d). */
#include <check.h>
#include <string.h>

#include "blocks.h"
#include "check_util.h"
#include "rng.h"
#include "tiled.h"
#include "util.h"

/* A footprint the paper's choice always fits: only Kj, Bc x d. */
static size_t need_kj(size_t Br, size_t Bc, size_t d, dtype_t dt)
{
    (void)Br;
    return Bc * d * dtype_size(dt);
}

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

/* A rule seen from its outer loop's block: the paper's sizes Bc = ⌈M/4d⌉ first and Br = min(Bc, d) from it; the
 * transposed rule the other way round. The same tests run on both. */
typedef struct {
    const char *name;
    block_rule rule;
    sram_need_fn fits_always;   /* a footprint the rule's choice always fits */
    sram_need_fn real;          /* a real footprint, which the rule's choice often overflows */
    uint64_t seed_fits, seed_fitted;
    const char *says;           /* in every sentence the rule gives (NULL: none asked) */
    const char *says_fits;      /* in the sentence when the rule's blocks fit */
    const char *says_shrunk;    /* in the sentence when they were shrunk to fit */
} rule_case;

static const rule_case KV_OUTER = {"the paper's rule (KV outer)", BLOCK_RULE_KV_OUTER, need_kj, tiled_sram_need,
                                   10000, 11000, NULL, "paper's rule", "shrunk"};
static const rule_case Q_OUTER = {"the transposed rule (Q outer)", BLOCK_RULE_Q_OUTER, need_qi, need_fa2, 12000, 13000,
                                  "transposed", "transposed", "shrunk to the largest Br"};

static bool q_outer(const rule_case *rc) { return rc->rule == BLOCK_RULE_Q_OUTER; }
static size_t outer(const rule_case *rc, size_t Br, size_t Bc) { return q_outer(rc) ? Br : Bc; }
static size_t inner(const rule_case *rc, size_t Br, size_t Bc) { return q_outer(rc) ? Bc : Br; }
/* The real footprint at an outer block o and an inner block i. */
static size_t real_at(const rule_case *rc, size_t o, size_t i, size_t d, dtype_t dt)
{
    return q_outer(rc) ? rc->real(o, i, d, dt) : rc->real(i, o, d, dt);
}

/* The paper's rule through blocks_choose, the transposed one through blocks_choose_rule. */
static int choose(const rule_case *rc, size_t M, size_t N, size_t d, dtype_t dt, sram_need_fn need, block_choice *b,
                  char *err, size_t len)
{
    if (rc->rule == BLOCK_RULE_KV_OUTER)
        return blocks_choose(M, N, d, dt, 0, 0, need, b, err, len);
    return blocks_choose_rule(M, N, d, dt, 0, 0, need, rc->rule, b, err, len);
}

/* When the rule's blocks fit: outer = min(⌈M/4d⌉, N), inner = min(outer, d, N), kept as they are. */
static void rule_when_it_fits(const rule_case *rc, int i)
{
    rng_t r;
    rng_seed(&r, rc->seed_fits + (uint64_t)i);
    for (int t = 0; t < 300; t++) {
        size_t N = 1 + rng_below(&r, 5000), d = 1 + rng_below(&r, 200), M = 4 * d * 4 + rng_below(&r, 1 << 18);
        dtype_t dt = (dtype_t)rng_below(&r, 3);
        size_t Mel = M / dtype_size(dt), o = min_size(ceil_div(Mel, 4 * d), N), in = min_size(min_size(o, d), N);
        block_choice b;
        char err[512];
        ck_assert_msg(choose(rc, M, N, d, dt, rc->fits_always, &b, err, sizeof err) == 0, "%s: N=%zu d=%zu M=%zu: %s",
                      rc->name, N, d, M, err);
        ck_assert_msg(outer(rc, b.paper_Br, b.paper_Bc) == o && inner(rc, b.paper_Br, b.paper_Bc) == in &&
                          outer(rc, b.Br, b.Bc) == o && inner(rc, b.Br, b.Bc) == in && !b.fitted &&
                          strstr(b.rule, rc->says_fits),
                      "%s: N=%zu d=%zu M=%zu %s: Br=%zu Bc=%zu (the rule's %zu, %zu), want outer %zu, inner %zu: %s",
                      rc->name, N, d, M, dtype_name(dt), b.Br, b.Bc, b.paper_Br, b.paper_Bc, o, in, b.rule);
    }
}

/* With a real footprint the rule's choice often overflows M: the largest outer block that fits is taken, inner =
 * min(outer, d), and the rule says so. */
static void fitted_when_it_overflows(const rule_case *rc, int i)
{
    rng_t r;
    rng_seed(&r, rc->seed_fitted + (uint64_t)i);
    int fitted = 0;
    for (int t = 0; t < 300; t++) {
        size_t N = 1 + rng_below(&r, 3000), d = 1 + rng_below(&r, 160), M = 64 + rng_below(&r, 1 << 17);
        dtype_t dt = (dtype_t)rng_below(&r, 3);
        block_choice b;
        char err[512];
        if (choose(rc, M, N, d, dt, rc->real, &b, err, sizeof err)) {
            ck_assert_msg(rc->real(1, 1, d, dt) > M && strstr(err, "SRAM too small"),
                          "%s: N=%zu d=%zu M=%zu refused though 1 x 1 fits: %s", rc->name, N, d, M, err);
            continue;
        }
        size_t o = outer(rc, b.Br, b.Bc), paper_o = outer(rc, b.paper_Br, b.paper_Bc);
        size_t up = o + 1;   /* fitted: one larger no longer fits (within the rule's bound) */
        ck_assert_msg(b.need_bytes <= M && b.need_bytes == rc->real(b.Br, b.Bc, d, dt) &&
                          (o <= paper_o || paper_o == 0) && inner(rc, b.Br, b.Bc) == min_size(min_size(o, d), N) &&
                          (!rc->says || strstr(b.rule, rc->says)),
                      "%s: N=%zu d=%zu M=%zu %s: Br=%zu Bc=%zu need %zu bytes (the rule's %zu, %zu): %s", rc->name,
                      N, d, M, dtype_name(dt), b.Br, b.Bc, b.need_bytes, b.paper_Br, b.paper_Bc, b.rule);
        ck_assert_msg(!b.fitted || ((up > paper_o || real_at(rc, up, min_size(up, d), d, dt) > M) &&
                                    rc->real(b.paper_Br, b.paper_Bc, d, dt) > M && strstr(b.rule, rc->says_shrunk)),
                      "%s: N=%zu d=%zu M=%zu %s: shrunk to Br=%zu Bc=%zu from %zu, %zu: %s", rc->name, N, d, M,
                      dtype_name(dt), b.Br, b.Bc, b.paper_Br, b.paper_Bc, b.rule);
        fitted += b.fitted;
    }
    ck_assert_msg(fitted > 50, "%s: shrunk %d times of 300", rc->name, fitted);   /* the case really happened */
}

START_TEST(rules_when_they_fit)
{
    rule_when_it_fits(&KV_OUTER, _i);
    rule_when_it_fits(&Q_OUTER, _i);
}
END_TEST

/* With what tiled_qkv really keeps (Sij too) the paper's choice often overflows M, and with FlashAttention-2's real
 * footprint the transposed one does: the largest Bc (Br) that fits is taken, Br = min(Bc, d) (Bc = min(Br, d)), and
 * the rule says so. */
START_TEST(fitted_when_the_rule_overflows)
{
    fitted_when_it_overflows(&KV_OUTER, _i);
    fitted_when_it_overflows(&Q_OUTER, _i);
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
    TCASE(s, "Rules", 0, {rules_when_they_fit, .loops = 2}, {fitted_when_the_rule_overflows, .loops = 2},
          {requested_blocks}, {refusals}, {clamped_to_n});
    TCASE(s, "Transposed", 0, {transposed_requested_blocks}, {blocks_choose_is_the_kv_rule});
    return s;
}
