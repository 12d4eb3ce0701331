/* cuda_check.h — the one error path of every CUDA call in cuda/, in C and CUDA files alike.
 *
 * A function that calls CUDA takes `char *err, size_t errlen` and returns 0 or an exit code (exitcode.h). CUDA_TRY
 * turns a failing call into one line in err and returns its code; only a program's main turns the code into an
 * exit status, so no library (libflashlab_tc.so under Python, the runners under a lesson) ever exits.
 *
 *   int upload(float **d, const float *h, size_t n, char *err, size_t errlen)
 *   {
 *       CUDA_TRY(cudaMalloc((void **)d, n * sizeof **d));
 *       CUDA_TRY(cudaMemcpy(*d, h, n * sizeof **d, cudaMemcpyHostToDevice));
 *       return 0;
 *   }
 *   kernel<<<grid, block, smem, stream>>>(...);
 *   CUDA_TRY(cudaGetLastError());              // after every launch; faults inside it surface at the next sync
 *
 * Codes: no device, too old a driver or not enough device memory is the machine's answer to this input:
 * FL_EXIT_USAGE (2); any other failing call is a bug or a broken device: FL_EXIT_INTERNAL (4).
 */
#ifndef FLASHLAB_CUDA_CHECK_H
#define FLASHLAB_CUDA_CHECK_H

#include <cuda_runtime.h>
#include <stdio.h>

#include "exitcode.h"

static inline int cuda_error_code(cudaError_t e)
{
    return e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver || e == cudaErrorMemoryAllocation
               ? FL_EXIT_USAGE
               : FL_EXIT_INTERNAL;
}

/* err = "CUDA error: <what> in <call> (file:line)"; returns the code for e. */
static inline int cuda_fail(cudaError_t e, const char *call, const char *file, int line, char *err, size_t errlen)
{
    snprintf(err, errlen, "CUDA error: %s in %s (%s:%d)", cudaGetErrorString(e), call, file, line);
    return cuda_error_code(e);
}

#define CUDA_TRY(call)                                                                                       \
    do {                                                                                                     \
        cudaError_t err_ = (call);                                                                           \
        if (err_ != cudaSuccess)                                                                             \
            return cuda_fail(err_, #call, __FILE__, __LINE__, err, errlen);                                  \
    } while (0)

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

/* 0 when there is a GPU to run on, else FL_EXIT_USAGE and one line in err. */
static inline int cuda_need_device(char *err, size_t errlen)
{
    if (cuda_device_count() > 0)
        return 0;
    snprintf(err, errlen, "no CUDA device found (this command needs an NVIDIA GPU)");
    return FL_EXIT_USAGE;
}

#endif
