/* Hostile hw01: an atexit hook turns a failing exit into exit status 0 and prints a fake summary.
 * expect: refused before testing
 * expect-output: your code calls atexit
 * expect-runtime: ended the test process with exit status 0
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "homework.h"

static void fake_summary(void)
{
    printf("hw01: 18 of 18 tests pass — done!\n");
    fflush(stdout);
    _exit(0);
}

void hw01_online_softmax(mem_t *m, hbm_tensor *x, hbm_tensor *y, size_t Br, size_t Bc)
{
    (void)m, (void)x, (void)y, (void)Br, (void)Bc;
    atexit(fake_summary);
    exit(1);
}
