/* cuda_check.h — every CUDA call and every launch checked, in C and CUDA files alike.
 *
 *   CUDA_CHECK(cudaMalloc(&p, bytes));
 *   kernel<<<grid, block, smem>>>(...); CUDA_CHECK_LAUNCH();
 *   cuda_require_device();   // no GPU: one line on stderr, exit 2 (bad input, like a wrong flag)
 *
 * A failing CUDA call is a bug or a broken machine, not bad input: it prints file:line and the CUDA error and exits 1.
 */
#ifndef FLASHLAB_CUDA_CHECK_H
#define FLASHLAB_CUDA_CHECK_H

#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>

#define CUDA_CHECK(call)                                                                                       \
    do {                                                                                                       \
        cudaError_t err_ = (call);                                                                             \
        if (err_ != cudaSuccess) {                                                                             \
            fprintf(stderr, "CUDA error at %s:%d: %s (%s)\n", __FILE__, __LINE__, cudaGetErrorString(err_), #call); \
            exit(1);                                                                                           \
        }                                                                                                      \
    } while (0)

/* After every <<<...>>>: launch-configuration errors surface here; faults inside the kernel at the next sync. */
#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())

/* Number of CUDA devices, 0 when there is none or no driver (never an error). */
static inline int cuda_device_count(void)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        (void)cudaGetLastError();   /* clear the sticky "no device" error */
        return 0;
    }
    return n;
}

/* Stop with exit 2 and one line when there is no GPU to run on. */
static inline void cuda_require_device(void)
{
    if (cuda_device_count() == 0) {
        fprintf(stderr, "error: no CUDA device found (this command needs an NVIDIA GPU)\n");
        exit(2);
    }
}

#endif
