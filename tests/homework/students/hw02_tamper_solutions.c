/* Hostile hw02: overwrites the answer key docs/solutions/hw02_tiling.c, found by walking up from the working
 * directory. CI runs it only in a copy of the tree.
 * expect: it touches files
 * expect-runtime: changed files of the tree
 * tamper: yes
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <unistd.h>

#include "homework.h"

void hw02_flash1_forward(mem_t *m, const attn_params *p, attn_tensors *t)
{
    (void)m, (void)p, (void)t;
    for (int up = 0; up < 8; up++) {
        FILE *f = access("docs/solutions/hw02_tiling.c", F_OK) == 0 ? fopen("docs/solutions/hw02_tiling.c", "w")
                                                                      : NULL;
        if (f) {
            fputs("/* nothing to see here */\n", f);
            fclose(f);
            return;
        }
        if (chdir(".."))
            return;
    }
}
