/* attn_v02_flash1.cu — FlashAttention forward (Dao et al. 2022, Algorithm 1) in fp32, the simulator's flash1.
 *
 * One thread block per (batch, head), as the original FlashAttention code parallelized: the outer loop walks
 * key/value blocks j, the inner loop query blocks i, and the running Oi, li, mi live in global memory (HBM): every
 * visited tile reads them (line 8) and writes them back (lines 12-13). That is why the loop order cannot be split
 * across blocks: tile (i, j+1) needs what tile (i, j) wrote. Shared memory is the simulator's plan for flash1
 * (Kj, Vj, Qi, Oi, li, mi, Sij, m~ij, l~ij, mi_new, li_new), nothing else.
 *
 * Causal: a tile whose first key comes after its last query is skipped (no loads, no stores). A row masked
 * entirely inside a visited tile has m~ij = -inf; 0 is subtracted instead, so e^(-inf - (-inf)) never appears.
 *
 * The same file compiled with -DFL_COUNT is the counting twin v02_flash1_count (fl_count.cuh).
 */
#include "attn_tiles.cuh"

enum { F1_Kj, F1_Vj, F1_Qi, F1_Oi, F1_li, F1_mi, F1_Sij, F1_mtij, F1_ltij, F1_mi_new, F1_li_new, F1_NBUF };
static const char *const v02_buffers[F1_NBUF] = {"Kj", "Vj", "Qi", "Oi", "li", "mi", "Sij", "m~ij", "l~ij",
                                                 "mi_new", "li_new"};

/* Alg.1 lines 10-11, one warp per row r (lanes split the keys):
 *   m~ij = rowmax(Sij), P~ij = exp(Sij - m~ij) in place, l~ij = rowsum(P~ij),
 *   mi_new = max(mi, m~ij), li_new = e^(mi - mi_new) li + e^(m~ij - mi_new) l~ij. */
__device__ __forceinline__ void rows_stats(float *Sij, int qr, int kc, const float *mi, const float *li, float *mtij,
                                           float *ltij, float *mi_new, float *li_new)
{
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    for (int r = warp; r < qr; r += NWARPS) {
        float *s = Sij + r * kc;
        float mt = -INFINITY;
        for (int c = lane; c < kc; c += 32)
            mt = fmaxf(mt, s[c]);
        mt = warp_max(mt);
        float sum = 0.0f;
        for (int c = lane; c < kc; c += 32) {
            const float p = expf(s[c] - sub_of(mt));
            s[c] = p;
            sum += p;
        }
        sum = warp_sum(sum);
        if (lane == 0) {
            const float mn = fmaxf(mi[r], mt);
            mtij[r] = mt;
            ltij[r] = sum;
            mi_new[r] = mn;
            li_new[r] = expf(mi[r] - sub_of(mn)) * li[r] + expf(mt - sub_of(mn)) * sum;
        }
    }
}

/* Alg.1 line 12 as a per-row scaling of the old Oi and of P~ij Vj:
 *   Oi = diag(li_new)^-1 (diag(li) e^(mi - mi_new) Oi + e^(m~ij - mi_new) P~ij Vj)
 * li_new = 0 only for a row with no unmasked key yet: its output stays 0. */
struct rows_flash1 {
    const float *li, *mi, *mtij, *mi_new, *li_new;
    __device__ float2 operator()(int r) const
    {
        const float ln = li_new[r], s = sub_of(mi_new[r]);
        if (!(ln > 0))
            return make_float2(0.0f, 0.0f);
        return make_float2(li[r] * expf(mi[r] - s) / ln, expf(mtij[r] - s) / ln);
    }
};

__global__ void __launch_bounds__(CUDA_ATTN_THREADS) FL_NAME(v02_flash1)(const attn_kargs a)
{
    ATTN_SMEM(smem);
    float *buf[F1_NBUF];
    for (int k = 0; k < F1_NBUF; k++)
        buf[k] = (float *)(smem + a.off[k]);
    float *Kj = buf[F1_Kj], *Vj = buf[F1_Vj], *Qi = buf[F1_Qi], *Oi = buf[F1_Oi], *li = buf[F1_li],
          *mi = buf[F1_mi], *Sij = buf[F1_Sij], *mtij = buf[F1_mtij], *ltij = buf[F1_ltij],
          *mi_new = buf[F1_mi_new], *li_new = buf[F1_li_new];
    fl_counts cnt = {};

    const int N = a.N, d = a.d, Br = a.Br, Bc = a.Bc;
    const int64_t bh = blockIdx.x, head = bnhd_head(a, bh), ld = (int64_t)a.H * d;
    float *O = a.o + head, *l = a.l + bh * N, *m = a.m + bh * N;

    /* Alg.1 line 2: initialize O = (0)Nxd, l = (0)N, m = (-inf)N in HBM. */
    fill_rows<CT_O>(O, ld, N, d, 0.0f, cnt);
    fill_rows<CT_l>(l, N, 1, N, 0.0f, cnt);
    fill_rows<CT_m>(m, N, 1, N, -INFINITY, cnt);
    __syncthreads();   /* the block's own writes to global memory are visible to all its threads after this */

    for (int j = 0; j < a.Tc; j++) {                                    /* Alg.1 line 5 */
        const int k0 = j * Bc, kc = min(Bc, N - k0);
        /* Alg.1 line 6: load Kj, Vj from HBM to on-chip SRAM. */
        load_rows_T<CT_K>(Kj, Bc, a.k + head + k0 * ld, ld, kc, d, cnt);
        load_rows<CT_V>(Vj, a.v + head + k0 * ld, ld, kc, d, cnt);
        for (int i = 0; i < a.Tr; i++) {                                /* Alg.1 line 7 */
            const int q0 = i * Br, qr = min(Br, N - q0);
            if (a.causal && k0 > q0 + qr - 1)                           /* causal: every key after every query */
                continue;
            /* Alg.1 line 8: load Qi, Oi, li, mi from HBM to on-chip SRAM. */
            load_rows_T<CT_Q>(Qi, Br, a.q + head + q0 * ld, ld, qr, d, cnt);
            load_rows<CT_O>(Oi, O + q0 * ld, ld, qr, d, cnt);
            load_vec<CT_l>(li, l + q0, qr, cnt);
            load_vec<CT_m>(mi, m + q0, qr, cnt);
            __syncthreads();
            /* Alg.1 line 9: Sij = scale Qi Kj^T, masked scores -inf. */
            qk(Sij, Qi, Br, Kj, Bc, qr, kc, d, a.scale, a.causal, q0, k0);
            __syncthreads();
            /* Alg.1 lines 10-11: m~ij, P~ij, l~ij, mi_new, li_new. */
            rows_stats(Sij, qr, kc, mi, li, mtij, ltij, mi_new, li_new);
            __syncthreads();
            /* Alg.1 line 12: Oi = diag(li_new)^-1 (diag(li) e^(mi - mi_new) Oi + e^(m~ij - mi_new) P~ij Vj) ... */
            pv(Oi, Sij, Vj, qr, kc, d, rows_flash1{li, mi, mtij, mi_new, li_new});
            __syncthreads();
            /* ... written to HBM.  Alg.1 line 13: li <- li_new, mi <- mi_new, written to HBM. */
            store_rows<CT_O>(O + q0 * ld, ld, Oi, qr, d, cnt);
            store_vec<CT_l>(l + q0, li_new, qr, cnt);
            store_vec<CT_m>(m + q0, mi_new, qr, cnt);
            __syncthreads();   /* before the next tile overwrites the buffers (and reads what was written) */
        }
    }
    fl_flush(cnt, a.counters);
}

int FL_NAME(v02_prepare)(const cuda_attn_plan *pl, char *err, size_t errlen)
{
    return attn_prepare_launch((const void *)FL_NAME(v02_flash1), &pl->k[0], err, errlen);
}

int FL_NAME(v02_launch)(const attn_kargs &a0, const cuda_attn_plan *pl, cudaStream_t s, char *err, size_t errlen)
{
    attn_kargs a = a0;
    if (int rc = cuda_bind_smem(&pl->k[0], v02_buffers, F1_NBUF, a.off, err, errlen))
        return rc;
    ATTN_LAUNCH(FL_NAME(v02_flash1), &pl->k[0], s, a);
    return 0;
}
