/* check_util.h — how the suites of tests/ are put together: each tcase in one statement, its tests in a list.
 * Header-only (static inline): tests/ compiles only check_*.c files.
 *
 *   Suite *s = suite_create("mem");
 *   TCASE(s, "Counting", 0, {counts_match_closed_form}, {data_moves_and_rounds, .loops = 3});
 *   TCASE(s, "Capacity", 60, {sram_capacity_is_enforced, .status = 2}, {sram_exactly_full_is_fine});
 */
#ifndef FLASHLAB_TESTS_CHECK_UTIL_H
#define FLASHLAB_TESTS_CHECK_UTIL_H

#include <check.h>
#include <stddef.h>

/* One test of a tcase (a START_TEST name). */
typedef struct {
    const TTest *test;
    int loops;    /* 0: run once; n: a loop test, _i = 0 .. n-1 */
    int status;   /* 0: the test returns; else the exit status it must end the process with */
} ck_test;

/* Add a tcase called name to s, with a timeout in seconds (0: Check's default) and tests[0 .. n-1]. */
static inline void tcase_add_all(Suite *s, const char *name, int timeout_s, const ck_test *tests, size_t n)
{
    TCase *tc = tcase_create(name);
    if (timeout_s)
        tcase_set_timeout(tc, timeout_s);
    for (size_t k = 0; k < n; k++) {
        const ck_test *t = &tests[k];
        if (t->status)
            tcase_add_loop_exit_test(tc, t->test, t->status, 0, t->loops ? t->loops : 1);
        else
            tcase_add_loop_test(tc, t->test, 0, t->loops ? t->loops : 1);
    }
    suite_add_tcase(s, tc);
}

/* TCASE(suite, "Name", timeout_s, {test}, {test, .loops = n}, {test, .status = 2}, ...): a field left out is 0
 * (-Wmissing-field-initializers is for structs whose every field matters; here the defaults are the point). */
#define TCASE(s, name, timeout_s, ...)                                                                               \
    do {                                                                                                             \
        _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \"-Wmissing-field-initializers\"")             \
        const ck_test tests_[] = {__VA_ARGS__};                                                                      \
        _Pragma("GCC diagnostic pop")                                                                                \
        tcase_add_all((s), (name), (timeout_s), tests_, sizeof tests_ / sizeof tests_[0]);                           \
    } while (0)

#endif
