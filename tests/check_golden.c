/* check_golden.c — fixtures that must not drift: lesson03's default output (the demo a learner sees first) equals
 * tests/golden/lesson03.txt byte for byte, and README.md names every lesson of lessons.def.
 * After an intended change to lesson03's output: ./lesson03 > tests/golden/lesson03.txt, read the diff, commit. */
#define _XOPEN_SOURCE 700
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proc.h"

#ifndef BIN_DIR
#define BIN_DIR "."
#endif

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s (tests run from the repository root)", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *buf = malloc((size_t)n + 1);
    ck_assert(fread(buf, 1, (size_t)n, f) == (size_t)n);
    buf[n] = 0;
    fclose(f);
    return buf;
}

START_TEST(lesson03_default_output)
{
    char *want = read_file("tests/golden/lesson03.txt");
    const char *args[] = {NULL};
    proc p = run_bin(BIN_DIR "/lesson03", args, NULL);
    ck_assert_msg(p.status == 0 && !p.timed_out, "lesson03 exited %d: %s", p.status, p.err);
    if (strcmp(p.out, want)) {   /* name the first line that differs */
        size_t line = 1, i = 0;
        while (p.out[i] && p.out[i] == want[i])
            line += p.out[i++] == '\n';
        size_t b = i;
        while (b > 0 && p.out[b - 1] != '\n')
            b--;
        ck_abort_msg("lesson03's output differs from tests/golden/lesson03.txt at line %zu:\n  got:  %.100s\n"
                     "  want: %.100s", line, p.out + b, want + b);
    }
    proc_free(&p);
    free(want);
}
END_TEST

START_TEST(readme_lists_every_lesson)
{
    char *readme = read_file("README.md");
#define LESSON(num, stem, kind, title) \
    ck_assert_msg(strstr(readme, "lesson" #num) != NULL, "README.md does not mention lesson" #num);
#include "lessons.def"
#undef LESSON
    free(readme);
}
END_TEST

Suite *golden_suite(void)
{
    Suite *s = suite_create("golden");
    TCase *tc = tcase_create("Fixtures");
    tcase_add_test(tc, lesson03_default_output);
    tcase_add_test(tc, readme_lists_every_lesson);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    return s;
}
