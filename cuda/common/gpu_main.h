/* gpu_main.h — for the main of a CUDA program only (never a library): an exit code returned by a runner becomes
 * the program's exit status, after one line on stderr.
 *
 *   gpu_or_exit(cuda_attn_open(&pl, q, k, v, &s, err, sizeof err), err);
 */
#ifndef FLASHLAB_GPU_MAIN_H
#define FLASHLAB_GPU_MAIN_H

#include <stdio.h>
#include <stdlib.h>

#include "util.h"

static inline void gpu_or_exit(int rc, const char *err)
{
    if (rc) {
        fprintf(stderr, "%s: error: %s\n", fl_progname(), err);
        exit(rc);
    }
}

#endif
