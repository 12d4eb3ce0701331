/* hopper_probe.cu — the two products of the Hopper kernels on one tile, alone: S = Q K^T (descriptors, K-major) and
 * O = P V (P from the S registers, V MN-major), with no softmax, no pipeline, no barriers but one. If a kernel
 * fails its check, this says whether the shared-memory layouts and descriptors are at fault (hopper_check --probe).
 *
 *   hp_probe(64, 128, DTYPE_FP16, q, k, v, s, o, err, sizeof err)  q: 64 x d, k, v: Bc x d (device, row-major),
 *                                                                   s: 64 x Bc fp32, o: 64 x d fp32 (device)
 * O is computed from S rounded to the element type, as the kernels do with P.
 */
#include "hopper_common.cuh"

namespace {

/* rows x D row-major (global) -> DP-column panel tile (shared), zero past D; one warpgroup. */
template <int ROWS, int D, typename T> __device__ void probe_load(uint32_t dst, const T *src)
{
    constexpr int DP = (D + 63) / 64 * 64, CPR = DP / 8;
    for (int x = threadIdx.x; x < ROWS * CPR; x += 128) {
        const int r = x / CPR, c = x % CPR;
        uint4 val = make_uint4(0, 0, 0, 0);
        if (c * 8 < D)
            val = *reinterpret_cast<const uint4 *>(src + (size_t)r * D + c * 8);
        const uint32_t a = dst + (uint32_t)(c / 8) * ROWS * HP_PANEL_ROW + r * HP_PANEL_ROW + (((c % 8) ^ (r & 7)) << 4);
        asm volatile("st.shared.v4.u32 [%0], {%1, %2, %3, %4};\n" ::"r"(a), "r"(val.x), "r"(val.y), "r"(val.z), "r"(val.w));
    }
}

template <int D, int BC, typename T>
__global__ void __launch_bounds__(128) probe_kernel(const T *q, const T *k, const T *v, float *S, float *O)
{
    constexpr int DP = (D + 63) / 64 * 64;
    extern __shared__ __align__(1024) unsigned char smem[];
    const uint32_t sQ = hp_align1k(smem), sK = sQ + 64 * DP * 2, sV = sK + BC * DP * 2;
    probe_load<64, D>(sQ, q);
    probe_load<BC, D>(sK, k);
    probe_load<BC, D>(sV, v);
    fence_async_smem();
    __syncthreads();
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
    float s[BC / 2];
    wg_fence();
    gemm_qk<BC, D / 16, T>(s, sQ, 64, sK);
    wg_commit();
    wg_wait<0>();
    reg_fence(s);
    for (int x = 0; x < BC / 2; x++) {
        const int row = 16 * warp + g + 8 * ((x >> 1) & 1), col = 8 * (x >> 2) + 2 * t + (x & 1);
        S[row * BC + col] = s[x];
    }
    uint32_t p[BC / 4];
    p_pack<BC, T>(p, s);
    float o[D / 2];
    wg_fence();
    gemm_pv<D, BC, T>(o, p, sV, false);
    wg_commit();
    wg_wait<0>();
    reg_fence(o);
    for (int x = 0; x < D / 2; x++) {
        const int row = 16 * warp + g + 8 * ((x >> 1) & 1), col = 8 * (x >> 2) + 2 * t + (x & 1);
        O[row * D + col] = o[x];
    }
}

template <int D, int BC, typename T>
int probe_launch(const void *q, const void *k, const void *v, float *s, float *o, char *err, size_t errlen)
{
    constexpr int DP = (D + 63) / 64 * 64;
    const size_t smem = (size_t)(64 + 2 * BC) * DP * 2 + 1024;
    if (hp_prepare("probe", probe_kernel<D, BC, T>, smem, 1, err, errlen))
        return -1;
    probe_kernel<D, BC, T><<<1, 128, smem>>>((const T *)q, (const T *)k, (const T *)v, s, o);
    return hp_launched("probe", err, errlen);
}

template <typename T>
int probe_pick(int d, int bc, const void *q, const void *k, const void *v, float *s, float *o, char *err, size_t errlen)
{
    if (d == 32 && bc == 128) return probe_launch<32, 128, T>(q, k, v, s, o, err, errlen);
    if (d == 64 && bc == 64) return probe_launch<64, 64, T>(q, k, v, s, o, err, errlen);
    if (d == 64 && bc == 128) return probe_launch<64, 128, T>(q, k, v, s, o, err, errlen);
    if (d == 64 && bc == 192) return probe_launch<64, 192, T>(q, k, v, s, o, err, errlen);
    if (d == 96 && bc == 128) return probe_launch<96, 128, T>(q, k, v, s, o, err, errlen);
    if (d == 128 && bc == 128) return probe_launch<128, 128, T>(q, k, v, s, o, err, errlen);
    if (d == 128 && bc == 176) return probe_launch<128, 176, T>(q, k, v, s, o, err, errlen);
    if (d == 256 && bc == 64) return probe_launch<256, 64, T>(q, k, v, s, o, err, errlen);
    if (d == 256 && bc == 80) return probe_launch<256, 80, T>(q, k, v, s, o, err, errlen);
    snprintf(err, errlen, "probe: no instance for d=%d Bc=%d", d, bc);
    return -1;
}

}  // namespace

extern "C" int hp_probe(int d, int bc, int dtype, const void *q, const void *k, const void *v, float *s, float *o,
                        char *err, size_t errlen)
{
    return dtype == DTYPE_BF16 ? probe_pick<__nv_bfloat16>(d, bc, q, k, v, s, o, err, errlen)
                               : probe_pick<__half>(d, bc, q, k, v, s, o, err, errlen);
}
