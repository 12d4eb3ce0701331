/* Hostile hw01: the body calls _exit(0), which skips every atexit hook and stdio flush.
 * expect: your code calls _exit
 * expect-runtime: ended the test process with exit status 0
 */
#define _POSIX_C_SOURCE 200809L
#include <unistd.h>

#include "homework.h"

void hw01_online_softmax(mem_t *m, hbm_tensor *x, hbm_tensor *y, size_t Br, size_t Bc)
{
    (void)m, (void)x, (void)y, (void)Br, (void)Bc;
    _exit(0);
}
