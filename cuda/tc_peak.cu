/* tc_peak.cu — the ceilings of the units the FA2 kernels use, measured once (make bench-gpu prints them):
 *   mma.sync m16n8k16 fp16 -> fp32 (the tensor-core instruction of v04-v08; wgmma is the faster Hopper path),
 *   ex2.approx.f32 and ex2.approx.f16x2 (softmax's exponentials, the special-function unit).
 * Each warp runs long chains of independent instructions on registers only, so nothing but the unit is measured.
 *
 *   ./build/rel/tc_peak     one line per unit: operations per second, and per clock per SM
 */
#include <stdio.h>

#include "cuda_check.h"
#include "tc_common.cuh"

#define ITERS 4096
#define CHAINS 8   /* independent accumulators per warp: enough to cover the MMA latency */

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
    if (s == 1234.5f)
        sink[0] = s;
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
    if (s == 1234.5f)
        sink[0] = s;
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

static double run(void (*k)(float *), int blocks, int threads, float *sink)
{
    cudaEvent_t e0, e1;
    CUDA_CHECK(cudaEventCreate(&e0));
    CUDA_CHECK(cudaEventCreate(&e1));
    k<<<blocks, threads>>>(sink);
    CUDA_CHECK_LAUNCH();
    CUDA_CHECK(cudaEventRecord(e0));
    for (int r = 0; r < 5; r++)
        k<<<blocks, threads>>>(sink);
    CUDA_CHECK(cudaEventRecord(e1));
    CUDA_CHECK(cudaEventSynchronize(e1));
    CUDA_CHECK_LAUNCH();
    float ms;
    CUDA_CHECK(cudaEventElapsedTime(&ms, e0, e1));
    return ms / 5;
}

int main(void)
{
    cuda_require_device();
    cudaDeviceProp p;
    CUDA_CHECK(cudaGetDeviceProperties(&p, 0));
    int clk_khz;
    CUDA_CHECK(cudaDeviceGetAttribute(&clk_khz, cudaDevAttrClockRate, 0));
    float *sink;
    CUDA_CHECK(cudaMalloc(&sink, 4));
    const int blocks = p.multiProcessorCount * 8, threads = 256;   /* 64 warps per SM: every scheduler busy */
    const double warps = blocks * (threads / 32.0), sm = p.multiProcessorCount, ghz = clk_khz / 1e6;

    double ms = run(mma_loop, blocks, threads, sink);
    double flops = warps * ITERS * CHAINS * 4096.0;
    printf("tc_peak: mma.sync m16n8k16 fp16->fp32: %.0f TFLOP/s = %.0f FLOP/clock/SM at the %.2f GHz boost clock\n",
           flops / ms / 1e9, flops / (ms * 1e-3) / sm / (ghz * 1e9), ghz);
    ms = run(ex2_loop, blocks, threads, sink);
    double ops = warps * 32 * ITERS * CHAINS;
    printf("tc_peak: ex2.approx.f32: %.0f G/s = %.1f per clock per SM\n", ops / ms / 1e6, ops / (ms * 1e-3) / sm / (ghz * 1e9));
    ms = run(ex2h2_loop, blocks, threads, sink);
    printf("tc_peak: ex2.approx.f16x2: %.0f G values/s = %.1f values per clock per SM\n", 2 * ops / ms / 1e6,
           2 * ops / (ms * 1e-3) / sm / (ghz * 1e9));
    CUDA_CHECK(cudaFree(sink));
    return 0;
}
