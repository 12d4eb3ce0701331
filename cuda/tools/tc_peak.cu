/* tc_peak.cu — the ceilings of the units the FA2 kernels use, measured once (make bench-gpu prints them):
 *   mma.sync m16n8k16 fp16 -> fp32 (the tensor-core instruction of v04-v08; wgmma is the faster Hopper path),
 *   ex2.approx.f32 and ex2.approx.f16x2 (softmax's exponentials, the special-function unit).
 * Each warp runs long chains of independent instructions on registers only, so nothing but the unit is measured.
 *
 *   ./build/rel/cuda/tc_peak     one line per unit: operations per second, and per clock per SM
 */
#include <stdio.h>

#include "cuda_check.h"
#include "gpu.h"   // defines: gpu_time_ms
#include "tc_common.cuh"

#define ITERS 4096
#define CHAINS 8   /* independent accumulators per warp: enough to cover the MMA latency */

/* Keep a result alive without storing it (the sum never equals the value): nothing is optimized away. */
__device__ __forceinline__ void keep(float s, float *sink)
{
    if (s == 1234.5f)
        sink[0] = s;
}

__global__ void mma_loop(float *sink)
{
    uint32_t a[4] = {threadIdx.x, threadIdx.x * 3u, threadIdx.x * 5u, threadIdx.x * 7u}, b0 = 0x3c003c00u, b1 = b0;
    float c[CHAINS][4] = {};
    for (int it = 0; it < ITERS; it++)
#pragma unroll
        for (int x = 0; x < CHAINS; x++)
            mma_16816<__half>(c[x], a, b0, b1);
    float s = 0;
#pragma unroll
    for (int x = 0; x < CHAINS; x++)
        s += c[x][0] + c[x][1] + c[x][2] + c[x][3];
    keep(s, sink);
}

__global__ void ex2_loop(float *sink)
{
    float v[CHAINS];
#pragma unroll
    for (int x = 0; x < CHAINS; x++)
        v[x] = -0.001f * (threadIdx.x + x);
    for (int it = 0; it < ITERS; it++)
#pragma unroll
        for (int x = 0; x < CHAINS; x++)
            v[x] = fast_exp2(v[x]) - 1.0f;
    float s = 0;
#pragma unroll
    for (int x = 0; x < CHAINS; x++)
        s += v[x];
    keep(s, sink);
}

__global__ void ex2h2_loop(float *sink)
{
    uint32_t v[CHAINS];
#pragma unroll
    for (int x = 0; x < CHAINS; x++)
        v[x] = 0xb800b800u + threadIdx.x + x;   /* about -0.5 in both halves */
    for (int it = 0; it < ITERS; it++)
#pragma unroll
        for (int x = 0; x < CHAINS; x++) {
            asm volatile("ex2.approx.f16x2 %0, %0;\n" : "+r"(v[x]));
            v[x] ^= 0x80008000u;                 /* keep the argument negative */
        }
    uint32_t s = 0;
#pragma unroll
    for (int x = 0; x < CHAINS; x++)
        s ^= v[x];
    if (s == 12345u)
        sink[0] = (float)s;
}

struct peak_launch {
    void (*k)(float *);
    int blocks, threads;
    float *sink;
};
static int launch_peak(void *ctx, char *err, size_t errlen)
{
    const peak_launch *l = (const peak_launch *)ctx;
    l->k<<<l->blocks, l->threads>>>(l->sink);
    CUDA_TRY(cudaGetLastError());
    return 0;
}

/* Median of 5 launches after one (gpu_time_ms, the benchmark timer), milliseconds. */
static int run(void (*k)(float *), int blocks, int threads, float *sink, double *ms, char *err, size_t errlen)
{
    peak_launch l = {k, blocks, threads, sink};
    return gpu_time_ms(launch_peak, &l, 1, 5, ms, err, errlen);
}

static int peaks(char *err, size_t errlen)
{
    int rc = cuda_need_device(err, errlen);
    if (rc)
        return rc;
    cudaDeviceProp p;
    CUDA_TRY(cudaGetDeviceProperties(&p, 0));
    int clk_khz;
    CUDA_TRY(cudaDeviceGetAttribute(&clk_khz, cudaDevAttrClockRate, 0));
    float *sink;
    CUDA_TRY(cudaMalloc(&sink, 4));
    const int blocks = p.multiProcessorCount * 8, threads = 256;   /* 64 warps per SM: every scheduler busy */
    const double warps = blocks * (threads / 32.0), sm = p.multiProcessorCount, ghz = clk_khz / 1e6;

    double ms;
    if ((rc = run(mma_loop, blocks, threads, sink, &ms, err, errlen)))
        return rc;
    double flops = warps * ITERS * CHAINS * 4096.0;
    printf("tc_peak: mma.sync m16n8k16 fp16->fp32: %.0f TFLOP/s = %.0f FLOP/clock/SM at the %.2f GHz boost clock\n",
           flops / ms / 1e9, flops / (ms * 1e-3) / sm / (ghz * 1e9), ghz);
    if ((rc = run(ex2_loop, blocks, threads, sink, &ms, err, errlen)))
        return rc;
    double ops = warps * 32 * ITERS * CHAINS;
    printf("tc_peak: ex2.approx.f32: %.0f G/s = %.1f per clock per SM\n", ops / ms / 1e6, ops / (ms * 1e-3) / sm / (ghz * 1e9));
    if ((rc = run(ex2h2_loop, blocks, threads, sink, &ms, err, errlen)))
        return rc;
    printf("tc_peak: ex2.approx.f16x2: %.0f G values/s = %.1f values per clock per SM\n", 2 * ops / ms / 1e6,
           2 * ops / (ms * 1e-3) / sm / (ghz * 1e9));
    CUDA_TRY(cudaFree(sink));
    return 0;
}

int main(void)
{
    char err[256];
    int rc = peaks(err, sizeof err);
    if (rc)
        fprintf(stderr, "tc_peak: error: %s\n", err);
    return rc;
}
