/* check_tc.c — lesson09, the tensor-core kernel's lesson, from the outside: its ledger is the simulator's flash2
 * closed form for the blocks it reports, causal and not, d = 64 and 128; on a GPU machine its kernel counters match
 * and its check passes. Without nvcc lesson09 is not built and the suite says SKIPPED. */
#define _XOPEN_SOURCE 700
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "attention.h"
#include "check_util.h"   // defines: TCASE
#include "proc.h"
#include "summary.h"

#ifndef BIN_DIR
#define BIN_DIR "."
#endif

static unsigned long long key_u64(const char *line, const char *key)
{
    char v[64];
    ck_assert_msg(summary_get(line, key, v, sizeof v), "summary has no %s: %s", key, line);
    return strtoull(v, NULL, 10);
}

START_TEST(ledger_is_closed_form)
{
    char bin[PATH_MAX];
    snprintf(bin, sizeof bin, "%s/lesson09", BIN_DIR);
    if (access(bin, X_OK) != 0) {
        printf("check_tc: SKIPPED: %s not built (no nvcc)\n", bin);
        return;
    }
    /* ragged N (not a multiple of any block), both head dimensions, causal and not */
    static const char *const cases[][8] = {
        {"--quiet", "-N", "1000", "--batch", "2", "--heads", "3", NULL},
        {"--quiet", "-N", "1000", "--batch", "2", "--heads", "3", "--causal"},
        {"--quiet", "-N", "777", "-d", "128", "--heads", "2", "--causal"},
        {"--quiet", "-N", "777", "-d", "128", "--heads", "2", NULL}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const char *args[9] = {0};
        for (int x = 0; x < 8 && cases[c][x]; x++)
            args[x] = cases[c][x];
        proc p = run_bin(bin, args, NULL);
        ck_assert_msg(p.status == 0 && !p.timed_out, "lesson09 case %zu: exit %d: %s", c, p.status, p.err);
        const char *line = strstr(p.out, "summary:");
        ck_assert_msg(line, "lesson09 printed no summary: %s", p.out);
        attn_params ap = {.algo = ATTN_FLASH2, .B = key_u64(line, "B"), .N = key_u64(line, "N"),
                          .H = key_u64(line, "H"), .d = key_u64(line, "d"), .causal = key_u64(line, "causal"),
                          .Br = key_u64(line, "Br"), .Bc = key_u64(line, "Bc")};
        attn_io io;
        attn_io_closed_form(&ap, false, &io);
        static const char *const keys[][2] = {{"Q", "rd_Q"}, {"K", "rd_K"}, {"V", "rd_V"}, {"O", "wr_O"}, {"L", "wr_L"}};
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
            for (size_t r = 0; r < io.n; r++)
                if (!strcmp(io.row[r].tensor, keys[k][0])) {
                    unsigned long long want = keys[k][1][0] == 'r' ? io.row[r].rd : io.row[r].wr;
                    ck_assert_msg(key_u64(line, keys[k][1]) == want, "case %zu: %s = %llu, closed form %llu", c,
                                  keys[k][1], key_u64(line, keys[k][1]), want);
                }
        char gpu[64];
        ck_assert(summary_get(line, "gpu", gpu, sizeof gpu));
        if (strcmp(gpu, "no")) {   /* on a GPU machine the kernel itself is checked too */
            ck_assert_msg(key_u64(line, "kernel_counts_match") == 1, "case %zu: counters differ: %s", c, line);
            ck_assert_msg(key_u64(line, "check_ok") == 1, "case %zu: check failed: %s", c, line);
        } else if (c == 0) {
            printf("check_tc: no GPU: lesson09's kernel run SKIPPED, its predicted ledger checked\n");
        }
        proc_free(&p);
    }
}
END_TEST

Suite *tc_suite(void)
{
    Suite *s = suite_create("tc");
    TCASE(s, "Lesson09", 300, {ledger_is_closed_form});
    return s;
}
