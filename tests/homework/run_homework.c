/* run_homework.c — runs one exercise's Check suite and tells the student, test by test, what passes and why not.
 *
 * Each test runs in its own process (Check's fork mode) under a time limit, so a crash or an endless loop in the
 * student's code is reported as that test failing, never as a dead or hung harness.
 *
 *   build/rel/homework/hw02              grade lessons/homework/hw02_tiling.c (exit 0: every test passes)
 *   build/rel/homework/hw02 --expect-fail  CI against the untouched stub: exit 0 only if EVERY test fails
 *   CK_FORK=no gdb --args build/rel/homework/hw02   one process, to debug a crash
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hw_check.h"

#define HW_SHOW_FAILURES 3   /* failures printed per test case; the rest are counted */

Suite *homework_suite(void);
extern const char homework_name[], homework_title[];

/* Check's own words for a dead test, turned into something a student can act on. */
static void explain(const char *msg)
{
    if (strstr(msg, "timeout"))
        printf("      -> your code did not finish in time: an endless loop? (a loop variable that never advances, "
               "a bound that grows)\n");
    else if (strstr(msg, "signal 11") || strstr(msg, "Segmentation"))
        printf("      -> your code crashed (segmentation fault): an index outside an array or tile? To debug: "
               "CK_FORK=no gdb --args build/rel/homework/%s\n", homework_name);
    else if (strstr(msg, "signal"))
        printf("      -> your code was killed by a signal (abort, floating-point trap, ...): see the lines above\n");
    else if (strstr(msg, "Early exit with return value 2"))
        printf("      -> your code stopped the program with exit status 2: the 'error:' line above says why (e.g. "
               "'SRAM too small': allocate only the buffers your file's header lists)\n");
    else if (strstr(msg, "Early exit"))
        printf("      -> your code called exit(): return from the function instead\n");
}

int main(int argc, char **argv)
{
    bool expect_fail = argc > 1 && !strcmp(argv[1], "--expect-fail");
    if (argc > 2 || (argc == 2 && !expect_fail)) {
        fprintf(stderr, "usage: %s [--expect-fail]\n", argv[0]);
        return 2;
    }
    SRunner *sr = srunner_create(homework_suite());
    const char *fork_env = getenv("CK_FORK");
    if (!fork_env || strcmp(fork_env, "no"))
        srunner_set_fork_status(sr, CK_FORK);   /* a student's crash must not take the harness down */
    printf("== %s — %s\n", homework_name, homework_title);
    fflush(stdout);
    srunner_run_all(sr, CK_SILENT);

    /* One line per test case (a behaviour), loops over shapes folded in; the first few failures spelled out. */
    int n = srunner_ntests_run(sr), passed = 0;
    TestResult **res = srunner_results(sr);
    for (int i = 0; i < n;) {
        const char *tc = tr_tcname(res[i]);
        int end = i, ok = 0;
        while (end < n && !strcmp(tr_tcname(res[end]), tc))
            ok += tr_rtype(res[end++]) == CK_PASS;
        passed += ok;
        printf("  %s %-30s %d of %d\n", ok == end - i ? "PASS" : "FAIL", tc, ok, end - i);
        for (int k = i, shown = 0; k < end; k++) {
            if (tr_rtype(res[k]) == CK_PASS)
                continue;
            if (shown++ == HW_SHOW_FAILURES) {
                printf("      ... and %d more like these\n", end - i - ok - HW_SHOW_FAILURES);
                break;
            }
            printf("    - %s\n", tr_msg(res[k]));
            explain(tr_msg(res[k]));
        }
        i = end;
    }
    free(res);
    srunner_free(sr);

    if (expect_fail) {
        /* Against the untouched stub every test must fail: a test a stub passes checks nothing. */
        printf("%s: %d of %d tests fail against the stub%s\n", homework_name, n - passed, n,
               passed ? " — the tests marked PASS above are vacuous" : " (as they must)");
        return n > 0 && passed == 0 ? 0 : 1;
    }
    printf("%s: %d of %d tests pass%s\n", homework_name, passed, n, passed == n ? " — done!" : "");
    return n > 0 && passed == n ? 0 : 1;
}
