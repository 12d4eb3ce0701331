/* check_hw02.c — grades hw02_flash1_forward: FlashAttention's tiling (Algorithm 1) on the memory model.
 * Correct O on ragged shapes, d not a power of two, several heads and large logits; HBM traffic within the paper's
 * ledger; SRAM exactly the algorithm's plan (a larger tile stops the program: sram_alloc). */
#include "hw_check.h"

const char homework_name[] = "hw02";
const char homework_title[] = "FlashAttention's tiling (Algorithm 1) on the memory model";

static const char HINT[] = "Check Alg.1 lines 9-12: m_new = max(mi, m~ij), l_new = e^(mi-m_new) li + e^(m~ij-m_new) "
                           "l~ij, and Oi = diag(l_new)^-1 (diag(li) e^(mi-m_new) Oi + e^(m~ij-m_new) P~ij Vj).";

/* N, d ragged against the blocks; Br != Bc; a block as large as N; one row; one column. */
static const hw_case SHAPES[] = {
    {1, 1, 1, 1, 1, 1, false, 1},    {1, 7, 1, 3, 2, 3, false, 1},   {1, 16, 1, 16, 4, 8, false, 1},
    {1, 33, 1, 5, 8, 4, false, 1},   {1, 100, 1, 80, 16, 32, false, 1}, {1, 129, 1, 64, 32, 64, false, 1},
    {1, 50, 1, 7, 50, 50, false, 1}, {1, 257, 1, 3, 5, 17, false, 1},
};
#define NSHAPES (sizeof SHAPES / sizeof SHAPES[0])

START_TEST(correct_on_shapes)
{
    hw_run r;
    hw_attn_run(&SHAPES[_i], ATTN_FLASH1, hw02_flash1_forward, 100 + (uint64_t)_i, &r);
    hw_assert_output(&SHAPES[_i], &r, HINT);
}
END_TEST

START_TEST(correct_with_heads)
{
    static const hw_case c = {2, 19, 3, 8, 4, 5, false, 1};
    hw_run r;
    hw_attn_run(&c, ATTN_FLASH1, hw02_flash1_forward, 7, &r);
    hw_assert_output(&c, &r, "Every head (b, h) is its own attention: loop over b < p->B and h < p->H and use "
                             "hbm_head(t->q, b, h) and friends.");
}
END_TEST

START_TEST(correct_with_large_logits)
{
    static const hw_case c = {1, 70, 1, 16, 8, 16, false, 30};   /* logits in the thousands: e^s overflows */
    hw_run r;
    hw_attn_run(&c, ATTN_FLASH1, hw02_flash1_forward, 8, &r);
    hw_assert_output(&c, &r, "With logits in the thousands e^s overflows: subtract the running max before exp "
                             "(Alg.1 line 10: m~ij = rowmax(Sij), P~ij = exp(Sij - m~ij)).");
}
END_TEST

/* The ledger: every input read at least once, O written, and no more traffic than Algorithm 1's closed form. */
START_TEST(hbm_traffic_within_algorithm_1)
{
    const hw_case *c = &SHAPES[_i];
    hw_run r;
    char cs[160];
    hw_attn_run(c, ATTN_FLASH1, hw02_flash1_forward, 200 + (uint64_t)_i, &r);
    hw_case_str(c, cs, sizeof cs);
    uint64_t Nd = (uint64_t)c->B * c->H * c->N * c->d;
    ck_assert_msg(r.q.rd_elems >= Nd && r.k.rd_elems >= Nd && r.v.rd_elems >= Nd,
                  "%s: every element of Q, K and V must be loaded from HBM at least once (loaded: Q %llu, K %llu, "
                  "V %llu of %llu each) — use hbm_load_rows(m, Qi, hbm_head(t->q, b, h), row0, rows, \"Qi\")",
                  cs, (unsigned long long)r.q.rd_elems, (unsigned long long)r.k.rd_elems,
                  (unsigned long long)r.v.rd_elems, (unsigned long long)Nd);
    ck_assert_msg(r.o.wr_elems >= Nd, "%s: O was written %llu elements, fewer than its %llu: store Oi with "
                  "hbm_store_rows (Alg.1 line 12)", cs, (unsigned long long)r.o.wr_elems, (unsigned long long)Nd);
    ck_assert_msg(r.io.rd_elems <= r.cf.rd,
                  "%s: %llu elements read from HBM, more than Algorithm 1's %llu (Q %llu vs %llu, K %llu vs %llu, "
                  "V %llu vs %llu, O %llu vs %llu): load Kj, Vj once per outer step j (line 6) and Qi, Oi, li, mi once per inner "
                  "step i (line 8)", cs, (unsigned long long)r.io.rd_elems, (unsigned long long)r.cf.rd,
                  (unsigned long long)r.q.rd_elems, (unsigned long long)hw_cf(&r.cf, "Q").rd,
                  (unsigned long long)r.k.rd_elems, (unsigned long long)hw_cf(&r.cf, "K").rd,
                  (unsigned long long)r.v.rd_elems, (unsigned long long)hw_cf(&r.cf, "V").rd,
                  (unsigned long long)r.o.rd_elems, (unsigned long long)hw_cf(&r.cf, "O").rd);
    ck_assert_msg(r.io.wr_elems <= r.cf.wr,
                  "%s: %llu elements written to HBM, more than Algorithm 1's %llu (O %llu vs %llu): write Oi, li, "
                  "mi once per inner step (lines 12-13), after initializing them once (line 2)",
                  cs, (unsigned long long)r.io.wr_elems, (unsigned long long)r.cf.wr,
                  (unsigned long long)r.o.wr_elems, (unsigned long long)hw_cf(&r.cf, "O").wr);
}
END_TEST

Suite *homework_suite(void)
{
    Suite *s = suite_create(homework_name);
    TCase *tc = tcase_create("correct_on_shapes");
    tcase_add_loop_test(tc, correct_on_shapes, 0, (int)NSHAPES);
    tcase_set_timeout(tc, HW_TIMEOUT_S);
    suite_add_tcase(s, tc);
    tc = tcase_create("correct_with_heads");
    tcase_add_test(tc, correct_with_heads);
    tcase_set_timeout(tc, HW_TIMEOUT_S);
    suite_add_tcase(s, tc);
    tc = tcase_create("correct_with_large_logits");
    tcase_add_test(tc, correct_with_large_logits);
    tcase_set_timeout(tc, HW_TIMEOUT_S);
    suite_add_tcase(s, tc);
    tc = tcase_create("hbm_traffic_within_alg1");
    tcase_add_loop_test(tc, hbm_traffic_within_algorithm_1, 0, (int)NSHAPES);
    tcase_set_timeout(tc, HW_TIMEOUT_S);
    suite_add_tcase(s, tc);
    return s;
}
