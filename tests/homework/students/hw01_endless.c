/* Hostile hw01: an endless loop. It calls nothing forbidden; only the time limit can stop it.
 * expect: did not finish in 5 s
 * expect-runtime: did not finish in 5 s
 */
#include "homework.h"

void hw01_online_softmax(mem_t *m, hbm_tensor *x, hbm_tensor *y, size_t Br, size_t Bc)
{
    (void)m, (void)x, (void)y;
    for (volatile size_t i = 0; i < Br + Bc; i += 0)   /* the loop variable never advances */
        ;
}
