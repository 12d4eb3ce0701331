/* gpu.h — what every CUDA program and runner in cuda/ shares on the host: the device it runs on, and the one
 * benchmark timer. Plain C (no CUDA headers), so the emulator and the tests can include it.
 *
 *   cuda_device dev;
 *   if ((rc = cuda_device_get(&dev, err, sizeof err))) ...         // FL_EXIT_USAGE: no GPU
 *   double ms;
 *   rc = gpu_time_ms(launch, ctx, 3, 20, &ms, err, sizeof err);     // median of 20 after 3 warm-ups
 *
 * Functions return 0 or an exit code (exitcode.h) with one line in err; none exits (cuda_check.h).
 */
#ifndef FLASHLAB_GPU_H
#define FLASHLAB_GPU_H

#include <stddef.h>
#include <stdlib.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    char name[256];
    int sms, cc_major, cc_minor;
    size_t smem_optin;       /* shared memory one block may use (cudaDevAttrMaxSharedMemoryPerBlockOptin): M */
    size_t l2_bytes, mem_total;
} cuda_device;

/* Device 0. FL_EXIT_USAGE (and err) when there is no GPU. */
int cuda_device_get(cuda_device *dev, char *err, size_t errlen);

/* One launch of whatever is timed, on the default stream: 0 or an exit code with err. */
typedef int (*gpu_launch_fn)(void *ctx, char *err, size_t errlen);

/* Median milliseconds of reps launches after warmup ones. The launches are queued back to back between CUDA events
 * on the default stream (no host gap is timed) and each interval is one launch's GPU time. reps >= 1. */
int gpu_time_ms(gpu_launch_fn launch, void *ctx, int warmup, int reps, double *ms, char *err, size_t errlen);

/* The median of x[0..n) (sorts x); n >= 1. Inline, so the emulator (no CUDA runtime) takes its median alike. */
static inline int median_cmp_(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
static inline double median_of(double *x, int n)
{
    qsort(x, (size_t)n, sizeof *x, median_cmp_);
    return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

#ifdef __cplusplus
}
#endif

#endif
