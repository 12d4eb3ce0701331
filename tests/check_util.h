/* check_util.h — what the suites of tests/ share: each tcase put together in one statement, its tests in a list;
 * a counted ledger held to its closed form; substrings counted. Header-only (static inline): tests/ compiles only check_*.c files.
 *
 *   Suite *s = suite_create("mem");
 *   TCASE(s, "Counting", 0, {counts_match_closed_form}, {data_moves_and_rounds, .loops = 3});
 *   TCASE(s, "Capacity", 60, {sram_capacity_is_enforced, .status = 2}, {sram_exactly_full_is_fine});
 */
#ifndef FLASHLAB_TESTS_CHECK_UTIL_H
#define FLASHLAB_TESTS_CHECK_UTIL_H

#include <check.h>
#include <stddef.h>
#include <string.h>

#include "attention.h"   // defines: attn_io, attn_io_row
#include "mem.h"         // defines: mem_t, mem_io, io_count

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

/* How many times what occurs in s (overlapping occurrences too). */
static inline size_t str_count(const char *s, const char *what)
{
    size_t n = 0;
    for (const char *p = strstr(s, what); p; p = strstr(p + 1, what))
        n++;
    return n;
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

/* m's counted ledger is the closed form io: each tensor io names read and written exactly as io says (elements),
 * and the totals too, so no other tensor moved. what names the case in a failure. */
static inline void assert_ledger(const mem_t *m, const attn_io *io, const char *what)
{
    uint64_t rd = 0, wr = 0;
    for (size_t k = 0; k < io->n; k++) {
        const attn_io_row *row = &io->row[k];
        io_count c = mem_io(m, row->tensor, NULL);
        ck_assert_msg(c.rd_elems == row->rd && c.wr_elems == row->wr,
                      "%s: %s counted rd %llu wr %llu, closed form rd %llu wr %llu", what, row->tensor,
                      (unsigned long long)c.rd_elems, (unsigned long long)c.wr_elems, (unsigned long long)row->rd,
                      (unsigned long long)row->wr);
        rd += row->rd;
        wr += row->wr;
    }
    io_count tot = mem_io(m, NULL, NULL);
    ck_assert_msg(tot.rd_elems == io->rd && tot.wr_elems == io->wr && rd == io->rd && wr == io->wr,
                  "%s: totals counted rd %llu wr %llu, closed form rd %llu wr %llu (its rows: %llu, %llu)", what,
                  (unsigned long long)tot.rd_elems, (unsigned long long)tot.wr_elems, (unsigned long long)io->rd,
                  (unsigned long long)io->wr, (unsigned long long)rd, (unsigned long long)wr);
}

#endif
