/* Hostile hw01: the body calls abort().
 * expect: your code calls abort
 * expect-runtime: killed by signal 6
 */
#include <stdlib.h>

#include "homework.h"

void hw01_online_softmax(mem_t *m, hbm_tensor *x, hbm_tensor *y, size_t Br, size_t Bc)
{
    (void)m, (void)x, (void)y, (void)Br, (void)Bc;
    abort();
}
