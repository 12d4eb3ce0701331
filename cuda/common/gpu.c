/* gpu.c — the device description and the benchmark timer of gpu.h. */
#include "gpu.h"

#include <stdlib.h>
#include <string.h>

#include "cuda_check.h"

int cuda_device_get(cuda_device *dev, char *err, size_t errlen)
{
    memset(dev, 0, sizeof *dev);
    int rc = cuda_need_device(err, errlen);
    if (rc)
        return rc;
    struct cudaDeviceProp prop;
    int optin = 0;
    CUDA_TRY(cudaGetDeviceProperties(&prop, 0));
    CUDA_TRY(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, 0));
    snprintf(dev->name, sizeof dev->name, "%s", prop.name);
    dev->sms = prop.multiProcessorCount;
    dev->cc_major = prop.major;
    dev->cc_minor = prop.minor;
    dev->smem_optin = (size_t)optin;
    dev->l2_bytes = (size_t)prop.l2CacheSize;
    dev->mem_total = prop.totalGlobalMem;
    return 0;
}

/* The events and intervals of one timing; freed on every path. */
static int time_into(gpu_launch_fn launch, void *ctx, int warmup, int reps, cudaEvent_t *ev, int *nev, double *t,
                     char *err, size_t errlen)
{
    int rc;
    for (int x = 0; x <= reps; x++, (*nev)++)
        CUDA_TRY(cudaEventCreate(&ev[x]));
    for (int x = 0; x < warmup; x++)
        if ((rc = launch(ctx, err, errlen)))
            return rc;
    CUDA_TRY(cudaEventRecord(ev[0], 0));
    for (int x = 0; x < reps; x++) {
        if ((rc = launch(ctx, err, errlen)))
            return rc;
        CUDA_TRY(cudaEventRecord(ev[x + 1], 0));
    }
    CUDA_TRY(cudaEventSynchronize(ev[reps]));
    for (int x = 0; x < reps; x++) {
        float ms;
        CUDA_TRY(cudaEventElapsedTime(&ms, ev[x], ev[x + 1]));
        t[x] = ms;
    }
    return 0;
}

int gpu_time_ms(gpu_launch_fn launch, void *ctx, int warmup, int reps, double *ms, char *err, size_t errlen)
{
    if (reps < 1) {
        snprintf(err, errlen, "gpu_time_ms: %d repeats (at least 1)", reps);
        return FL_EXIT_INTERNAL;
    }
    cudaEvent_t *ev = calloc((size_t)reps + 1, sizeof *ev);
    double *t = calloc((size_t)reps, sizeof *t);
    int nev = 0, rc = FL_EXIT_USAGE;
    if (!ev || !t)
        snprintf(err, errlen, "gpu_time_ms: out of host memory for %d repeats", reps);
    else if (!(rc = time_into(launch, ctx, warmup, reps, ev, &nev, t, err, errlen)))
        *ms = median_of(t, reps);
    for (int x = 0; x < nev; x++)
        (void)cudaEventDestroy(ev[x]);   /* after a failure this only echoes it: rc and err keep the first */
    free(ev);
    free(t);
    return rc;
}
