/* Hostile hw01: one call of the library's own online softmax — the old reference solution. Its loads are real and
 * counted, so at run time it passes: the symbol check is what refuses a library call.
 * expect: your code calls softmax_run
 * expect-runtime: -
 */
#include "homework.h"
#include "softmax.h"

void hw01_online_softmax(mem_t *m, hbm_tensor *x, hbm_tensor *y, size_t Br, size_t Bc)
{
    softmax_run(m, SOFTMAX_ONLINE, x, y, Br, Bc, NULL, NULL);
}
