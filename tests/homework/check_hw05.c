/* check_hw05.c — grades hw05_flash2_forward: FlashAttention-2 (Dao 2023, Algorithm 1) on the memory model.
 * Correct O and L (log-sum-exp) on ragged shapes, causal or not (with Br > Bc some rows of a tile are entirely
 * masked: NaN is caught), several heads, large logits; O and L written exactly once; reads within the closed form,
 * which for causal counts only the key blocks a query block needs. */
#include "hw_check.h"

const char homework_name[] = "hw05";
const char homework_title[] = "FlashAttention-2 (Dao 2023, Algorithm 1): query blocks outside, O and L written once";

static const char HINT[] = "Check FA2 Alg.1 lines 9-10: m_new = max(mi, rowmax(Sij)), P~ij = exp(Sij - m_new), "
                           "li = e^(mi - m_new) li + rowsum(P~ij), Oi = diag(e^(mi - m_new)) Oi + P~ij Vj; then "
                           "line 12: Oi /= li once, at the end.";

static const hw_case SHAPES[] = {
    {1, 1, 1, 1, 1, 1, false, 1},      {1, 7, 1, 3, 2, 3, false, 1},      {1, 16, 1, 16, 4, 8, false, 1},
    {1, 33, 1, 5, 8, 4, false, 1},     {1, 100, 1, 80, 16, 32, false, 1}, {1, 129, 1, 64, 64, 32, false, 1},
    {1, 257, 1, 3, 17, 5, false, 1},   {1, 7, 1, 3, 2, 3, true, 1},       {1, 33, 1, 5, 8, 4, true, 1},
    {1, 100, 1, 80, 32, 16, true, 1},  {1, 129, 1, 64, 64, 32, true, 1},  {1, 257, 1, 3, 5, 17, true, 1},
    {1, 64, 1, 16, 16, 16, true, 1},
};
#define NSHAPES (sizeof SHAPES / sizeof SHAPES[0])

static void assert_lse(const hw_case *c, const hw_run *r)
{
    char cs[160];
    hw_case_str(c, cs, sizeof cs);
    if (r->lse.wr_elems == 0)
        ck_abort_msg("%s: L (t->lse) was never written: store Li = mi + log(li) (FA2 Alg.1 lines 13, 15)", cs);
    ck_assert_msg(r->nan_l == 0, "%s: %zu values of L are NaN: log of a zero sum, or a NaN mi?", cs, r->nan_l);
    ck_assert_msg(r->bad_l == 0, "%s: %zu values of L = mi + log(li) are wrong (worst |error| %.3g): L is the "
                  "log-sum-exp of the row's scaled scores — mi and li after the last key block", cs, r->bad_l,
                  r->max_err_l);
}

START_TEST(correct_on_shapes)
{
    hw_run r;
    hw_attn_run(&SHAPES[_i], ATTN_FLASH2, hw05_flash2_forward, 500 + (uint64_t)_i, &r);
    hw_assert_output(&SHAPES[_i], &r, SHAPES[_i].causal ? "Causal: score (row, key) is -inf when key > row." : HINT);
    assert_lse(&SHAPES[_i], &r);
}
END_TEST

START_TEST(correct_with_heads)
{
    static const hw_case c = {2, 19, 3, 8, 5, 4, true, 1};
    hw_run r;
    hw_attn_run(&c, ATTN_FLASH2, hw05_flash2_forward, 9, &r);
    hw_assert_output(&c, &r, "Every head (b, h) is its own attention: loop over b < p->B and h < p->H and use "
                             "hbm_head(t->q, b, h) and friends.");
    assert_lse(&c, &r);
}
END_TEST

START_TEST(correct_with_large_logits)
{
    static const hw_case c = {1, 70, 1, 16, 16, 8, true, 30};
    hw_run r;
    hw_attn_run(&c, ATTN_FLASH2, hw05_flash2_forward, 10, &r);
    hw_assert_output(&c, &r, "With logits in the thousands e^s overflows: subtract the running max before exp.");
    assert_lse(&c, &r);
}
END_TEST

/* FlashAttention-2's point about writes: O and L leave SRAM once per row, never re-read. */
START_TEST(writes_o_and_l_exactly_once)
{
    const hw_case *c = &SHAPES[_i];
    hw_run r;
    char cs[160];
    hw_attn_run(c, ATTN_FLASH2, hw05_flash2_forward, 600 + (uint64_t)_i, &r);
    hw_case_str(c, cs, sizeof cs);
    uint64_t Nd = (uint64_t)c->B * c->H * c->N * c->d, NL = (uint64_t)c->B * c->H * c->N;
    ck_assert_msg(r.o.wr_elems == Nd, "%s: O written %llu elements; FlashAttention-2 writes each Oi once, after the "
                  "inner loop: exactly B*H*N*d = %llu", cs, (unsigned long long)r.o.wr_elems, (unsigned long long)Nd);
    ck_assert_msg(r.o.rd_elems == 0, "%s: O read %llu elements back from HBM; in FlashAttention-2 Oi stays in SRAM "
                  "for the whole inner loop and is never read", cs, (unsigned long long)r.o.rd_elems);
    ck_assert_msg(r.lse.wr_elems == NL, "%s: L written %llu elements; exactly B*H*N = %llu (once per row)", cs,
                  (unsigned long long)r.lse.wr_elems, (unsigned long long)NL);
    ck_assert_msg(r.io.wr_elems == Nd + NL, "%s: %llu elements written in all, but only O and L (%llu) should be",
                  cs, (unsigned long long)r.io.wr_elems, (unsigned long long)(Nd + NL));
}
END_TEST

START_TEST(reads_within_closed_form)
{
    const hw_case *c = &SHAPES[_i];
    hw_run r;
    char cs[160];
    hw_attn_run(c, ATTN_FLASH2, hw05_flash2_forward, 700 + (uint64_t)_i, &r);
    hw_case_str(c, cs, sizeof cs);
    uint64_t Nd = (uint64_t)c->B * c->H * c->N * c->d;
    ck_assert_msg(r.q.rd_elems == Nd, "%s: Q read %llu elements; FA2 loads each Qi once (line 4): %llu", cs,
                  (unsigned long long)r.q.rd_elems, (unsigned long long)Nd);
    ck_assert_msg(r.k.rd_elems >= Nd && r.v.rd_elems >= Nd, "%s: every element of K and V must be loaded at least "
                  "once (K %llu, V %llu of %llu)", cs, (unsigned long long)r.k.rd_elems,
                  (unsigned long long)r.v.rd_elems, (unsigned long long)Nd);
    ck_assert_msg(r.k.rd_elems <= hw_cf(&r.cf, "K").rd && r.v.rd_elems <= hw_cf(&r.cf, "V").rd,
                  "%s: K read %llu, V read %llu elements, more than FA2's %llu each: load Kj, Vj once per tile "
                  "(line 7)%s", cs, (unsigned long long)r.k.rd_elems, (unsigned long long)r.v.rd_elems,
                  (unsigned long long)hw_cf(&r.cf, "K").rd,
                  c->causal ? "; with the causal mask, stop the inner loop at the first key block that starts after "
                              "the query block's last row: those tiles are entirely masked" : "");
}
END_TEST

Suite *homework_suite(void)
{
    Suite *s = suite_create(homework_name);
    struct { const char *name; const TTest *test; int loop; } T[] = {
        {"correct_on_shapes", correct_on_shapes, (int)NSHAPES},
        {"correct_with_heads", correct_with_heads, 0},
        {"correct_with_large_logits", correct_with_large_logits, 0},
        {"writes_o_and_l_exactly_once", writes_o_and_l_exactly_once, (int)NSHAPES},
        {"reads_within_closed_form", reads_within_closed_form, (int)NSHAPES},
    };
    for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
        TCase *tc = tcase_create(T[i].name);
        if (T[i].loop)
            tcase_add_loop_test(tc, T[i].test, 0, T[i].loop);
        else
            tcase_add_test(tc, T[i].test);
        tcase_set_timeout(tc, HW_TIMEOUT_S);
        suite_add_tcase(s, tc);
    }
    return s;
}
