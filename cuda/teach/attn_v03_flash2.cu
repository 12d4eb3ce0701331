/* attn_v03_flash2.cu — FlashAttention-2 forward (Dao 2023, Algorithm 1) in fp32, the simulator's flash2 on a GPU.
 *
 * One thread block per (batch, head, query block i): FA2's loop order makes the query blocks independent, so the
 * grid has B*H*Tr blocks where FlashAttention-1 had B*H. The block loads Qi once, walks the key/value blocks j,
 * keeps Oi (unnormalized), mi, li in shared memory, and writes Oi and Li = mi + log li once. Shared memory is the
 * simulator's plan for flash2 (Qi, Kj, Vj, Sij, Oi, mi, li), nothing else. Causal: the j loop stops at the first
 * key block after the block's last query.
 *
 * The same file compiled with -DFL_COUNT is the counting twin v03_flash2_count (fl_count.cuh).
 */
#include "attn_tiles.cuh"

/* The plan's buffers, in the order this kernel names them. */
enum { F2_Qi, F2_Kj, F2_Vj, F2_Sij, F2_Oi, F2_mi, F2_li, F2_NBUF };
static const char *const v03_buffers[F2_NBUF] = {"Qi", "Kj", "Vj", "Sij", "Oi", "mi", "li"};

/* FA2 Alg.1 line 9 and the rescaling half of line 10, one warp per row r (lanes split the keys):
 *   m_new = max(mi, rowmax(Sij)),  P~ij = exp(Sij - m_new) in place,  li = e^(mi - m_new) li + rowsum(P~ij),
 *   Oi = diag(e^(mi - m_new)) Oi,  mi = m_new. */
__device__ __forceinline__ void rows_update(float *Sij, int qr, int kc, float *mi, float *li, float *Oi, int d)
{
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    for (int r = warp; r < qr; r += NWARPS) {
        float *s = Sij + r * kc;
        const float m_old = mi[r];
        float m_new = m_old;
        for (int c = lane; c < kc; c += 32)
            m_new = fmaxf(m_new, s[c]);
        m_new = warp_max(m_new);
        const float alpha = expf(m_old - sub_of(m_new));
        float sum = 0.0f;
        for (int c = lane; c < kc; c += 32) {
            const float p = expf(s[c] - sub_of(m_new));
            s[c] = p;
            sum += p;
        }
        sum = warp_sum(sum);
        for (int x = lane; x < d; x += 32)
            Oi[r * d + x] *= alpha;
        __syncwarp();   /* every lane has read mi[r] */
        if (lane == 0) {
            li[r] = alpha * li[r] + sum;
            mi[r] = m_new;
        }
    }
}

__global__ void __launch_bounds__(CUDA_ATTN_THREADS) FL_NAME(v03_flash2)(const attn_kargs a)
{
    ATTN_SMEM(smem);
    float *Qi = (float *)(smem + a.off[F2_Qi]), *Kj = (float *)(smem + a.off[F2_Kj]),
          *Vj = (float *)(smem + a.off[F2_Vj]), *Sij = (float *)(smem + a.off[F2_Sij]),
          *Oi = (float *)(smem + a.off[F2_Oi]), *mi = (float *)(smem + a.off[F2_mi]),
          *li = (float *)(smem + a.off[F2_li]);
    fl_counts cnt = {};

    const int N = a.N, d = a.d, Br = a.Br, Bc = a.Bc;
    const int i = (int)(blockIdx.x % (unsigned)a.Tr);
    const int64_t bh = blockIdx.x / (unsigned)a.Tr, head = bnhd_head(a, bh), ld = (int64_t)a.H * d;
    const int q0 = i * Br, qr = min(Br, N - q0);

    /* FA2 Alg.1 line 4: load Qi from HBM to on-chip SRAM. */
    load_rows_T<CT_Q>(Qi, Br, a.q + head + q0 * ld, ld, qr, d, cnt);
    /* FA2 Alg.1 line 5: on chip, Oi = 0, li = 0, mi = -inf. */
    for (int x = threadIdx.x; x < qr * d; x += NTHR)
        Oi[x] = 0.0f;
    for (int r = threadIdx.x; r < qr; r += NTHR) {
        mi[r] = -INFINITY;
        li[r] = 0.0f;
    }

    for (int j = 0; j < a.Tc; j++) {                                    /* FA2 Alg.1 line 6 */
        const int k0 = j * Bc, kc = min(Bc, N - k0);
        if (a.causal && k0 > q0 + qr - 1)                               /* causal: this and every later block */
            break;
        /* FA2 Alg.1 line 7: load Kj, Vj from HBM to on-chip SRAM. */
        load_rows_T<CT_K>(Kj, Bc, a.k + head + k0 * ld, ld, kc, d, cnt);
        load_rows<CT_V>(Vj, a.v + head + k0 * ld, ld, kc, d, cnt);
        __syncthreads();
        /* FA2 Alg.1 line 8: Sij = scale Qi Kj^T, masked scores -inf. */
        qk(Sij, Qi, Br, Kj, Bc, qr, kc, d, a.scale, a.causal, q0, k0);
        __syncthreads();
        /* FA2 Alg.1 line 9: m_new, P~ij, li; and Oi rescaled by e^(mi - m_new). */
        rows_update(Sij, qr, kc, mi, li, Oi, d);
        __syncthreads();
        /* FA2 Alg.1 line 10: Oi += P~ij Vj (not divided by li: delayed rescaling). */
        pv(Oi, Sij, Vj, qr, kc, d, rows_add());
        __syncthreads();
    }
    __syncthreads();

    /* FA2 Alg.1 line 12: Oi = diag(li)^-1 Oi.  Line 13: Li = mi + log(li), kept in mi's buffer. */
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    for (int r = warp; r < qr; r += NWARPS) {
        const float l = li[r];
        for (int x = lane; x < d; x += 32)
            Oi[r * d + x] = l > 0 ? Oi[r * d + x] / l : 0.0f;
        __syncwarp();
        if (lane == 0)
            mi[r] = l > 0 ? mi[r] + logf(l) : -INFINITY;
    }
    __syncthreads();
    /* FA2 Alg.1 lines 14-15: write Oi and Li to HBM, once. */
    store_rows<CT_O>(a.o + head + q0 * ld, ld, Oi, qr, d, cnt);
    store_vec<CT_L>(a.L + bh * N + q0, mi, qr, cnt);
    fl_flush(cnt, a.counters);
}

int FL_NAME(v03_prepare)(const cuda_attn_plan *pl, char *err, size_t errlen)
{
    return attn_prepare_launch((const void *)FL_NAME(v03_flash2), &pl->k[0], err, errlen);
}

int FL_NAME(v03_launch)(const attn_kargs &a0, const cuda_attn_plan *pl, cudaStream_t s, char *err, size_t errlen)
{
    attn_kargs a = a0;
    if (int rc = cuda_bind_smem(&pl->k[0], v03_buffers, F2_NBUF, a.off, err, errlen))
        return rc;
    ATTN_LAUNCH(FL_NAME(v03_flash2), &pl->k[0], s, a);
    return 0;
}
