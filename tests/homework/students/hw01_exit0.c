/* Hostile hw01: the body calls exit(0). Check's fork mode took that for a pass.
 * expect: your code calls exit
 * expect-runtime: ended the test process with exit status 0
 */
#include <stdlib.h>

#include "homework.h"

void hw01_online_softmax(mem_t *m, hbm_tensor *x, hbm_tensor *y, size_t Br, size_t Bc)
{
    (void)m, (void)x, (void)y, (void)Br, (void)Bc;
    exit(0);
}
