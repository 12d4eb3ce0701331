/* hopper_sass_cal.cu — a kernel whose SASS order is known, for hopper_sass.py --calibration: the decoder (which
 * reads opcodes off the cubin without a disassembler) must find in it, in this order, a loop around
 * WARPGROUP.ARRIVE, an HGMMA from shared memory, an HGMMA with A from registers, WARPGROUP.DEPBAR 1, 32 MUFU.EX2,
 * WARPGROUP.DEPBAR 0. Compiled, never run (it multiplies whatever shared memory holds). */
#include "hopper_common.cuh"

extern "C" __global__ void __launch_bounds__(128, 1) hp_sass_cal(float *out, uint32_t sbase, int n, float sl2)
{
    float s[32], o[32];
    uint32_t a[4] = {0, 0, 0, 0};
#pragma unroll
    for (int x = 0; x < 32; x++)
        o[x] = 0.f;
#pragma unroll 1
    for (int j = 0; j < n; j++) {
        wg_fence();
        wgmma<64, __half>::ss(s, desc_k(sbase), desc_k(sbase + 8192), 0);
        wg_commit();
        wgmma<64, __half>::rs(o, a, desc_mn(sbase + 16384, 8192), 1);
        wg_commit();
        wg_wait<1>();
        reg_fence(s);
        float sum = 0.f;
#pragma unroll
        for (int x = 0; x < 32; x++)
            sum += s[x] = fast_exp2(s[x] * sl2);
        wg_pin(sbase + 24576 + 4 * threadIdx.x, sum);   /* keeps the wait below the exponentials */
        wg_wait<0>();
        reg_fence(o);
#pragma unroll
        for (int x = 0; x < 4; x++)
            a[x] = pack2<__half>(s[2 * x], s[2 * x + 1]);
    }
#pragma unroll
    for (int x = 0; x < 32; x++)
        out[32 * threadIdx.x + x] = o[x];
}
