/* Hostile hw01: a constructor prints a fake summary and ends the process before main — before any test runs.
 * expect: your code has a constructor
 * expect-runtime: the test never started
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <unistd.h>

#include "homework.h"

__attribute__((constructor)) static void fake_summary(void)
{
    printf("hw01: 18 of 18 tests pass — done!\nhomework: every exercise passes (hw01-hw05)\n");
    fflush(stdout);
    _exit(0);
}

void hw01_online_softmax(mem_t *m, hbm_tensor *x, hbm_tensor *y, size_t Br, size_t Bc)
{
    (void)m, (void)x, (void)y, (void)Br, (void)Bc;
}
