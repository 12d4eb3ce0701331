/* bwd_test.c — the host logic of the tensor-core backward, on the CPU (make test runs it; no GPU, no nvcc): the
 * kernel's schedule walked on the host gives, per counter, exactly the simulator's flash2 backward ledger for the
 * kernel's blocks and its closed form (bwd_ledger.h's correspondence, dQ's atomics included), over ragged N, both
 * head dimensions, both configurations' blocks, causal and not; and a count that is off by one fails. */
#include <check.h>
#include <stdlib.h>

#include "bwd_ledger.h"
#include "check_util.h"   // defines: TCASE
#include "util.h"         // defines: ceil_div

/* (Br, Bc) of the kernel's configurations (attn_bwd.cu: Bc = 128; Br = 128 or 64 at d = 64, 64 at d = 128) */
static const size_t blocks[][2] = {{128, 128}, {64, 128}};
static const size_t Ns[] = {1, 17, 64, 100, 128, 129, 333, 1000, 1100};

START_TEST(schedule_is_the_ledger)
{
    for (size_t b = 0; b < sizeof blocks / sizeof blocks[0]; b++)
        for (size_t n = 0; n < sizeof Ns / sizeof Ns[0]; n++)
            for (int causal = 0; causal <= 1; causal++) {
                tc_bwd_shape s = {.B = 2, .N = Ns[n], .H = 3, .d = _i ? 128 : 64, .causal = causal, .dt = DTYPE_FP16};
                uint64_t kern[TC_BWD_NCOUNT];
                tc_bwd_schedule_counts(&s, blocks[b][0], blocks[b][1], kern);
                tc_bwd_ledger lg;
                tc_bwd_ledger_fill(&s, blocks[b][0], blocks[b][1], kern, &lg);
                for (int r = 0; r < TC_BWD_ROWS; r++)
                    ck_assert_msg(lg.row[r].kern == lg.row[r].sim && lg.row[r].sim == lg.row[r].closed,
                                  "N=%zu d=%zu Br=%zu causal=%d %s: schedule %llu, simulator %llu, closed form %llu",
                                  s.N, s.d, blocks[b][0], causal, lg.row[r].name,
                                  (unsigned long long)lg.row[r].kern, (unsigned long long)lg.row[r].sim,
                                  (unsigned long long)lg.row[r].closed);
                ck_assert(lg.ok);
            }
}
END_TEST

START_TEST(a_wrong_count_fails)
{
    tc_bwd_shape s = {.B = 1, .N = 333, .H = 2, .d = 64, .causal = true, .dt = DTYPE_FP16};
    uint64_t kern[TC_BWD_NCOUNT];
    tc_bwd_ledger lg;
    tc_bwd_ledger_fill(&s, 64, 128, NULL, &lg);
    ck_assert_msg(!lg.ok, "no kernel counters must not pass");
    for (int c = 0; c < TC_BWD_NCOUNT; c++) {
        tc_bwd_schedule_counts(&s, 64, 128, kern);
        kern[c] += 1;
        tc_bwd_ledger_fill(&s, 64, 128, kern, &lg);
        ck_assert_msg(!lg.ok, "counter %d off by one passed", c);
    }
}
END_TEST

/* Causal: the kernel starts key block j at query block floor(j Bc / Br), the first whose last query reaches key
 * j Bc; the visited tiles are the simulator's (attn_tile_skipped). */
START_TEST(causal_start_is_the_first_visited_block)
{
    for (size_t N = 1; N <= 700; N += 37) {
        attn_params p = {.algo = ATTN_FLASH2, .B = 1, .N = N, .H = 1, .d = 64, .causal = true,
                         .Br = N < 64 ? N : 64, .Bc = N < 128 ? N : 128};
        for (size_t j = 0; j < ceil_div(N, p.Bc); j++)
            for (size_t i = 0; i < ceil_div(N, p.Br); i++)
                ck_assert_msg(attn_tile_skipped(&p, i, j) == (i < j * p.Bc / p.Br), "N=%zu tile (%zu, %zu)", N, i, j);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tc_bwd");
    TCASE(s, "Ledger", 60, {schedule_is_the_ledger, .loops = 2}, {a_wrong_count_fails},
          {causal_start_is_the_first_visited_block});
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
