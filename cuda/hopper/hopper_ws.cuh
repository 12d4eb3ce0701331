/* hopper_ws.cuh — FlashAttention-3's structure: a producer warp feeding consumer warpgroups (v15 - v18).
 *
 * Warpgroup 0 is the producer: it gives registers back (setmaxnreg.dec to 24) and one thread issues every TMA copy.
 * Warpgroups 1 .. NWG are consumers of 64 query rows each (Br = 64 NWG); they take the registers (setmaxnreg.inc)
 * and run FA2's steps on wgmma. K and V pass through a ring of STAGES buffers, each with a "full" mbarrier (the copy
 * engine completes it with the byte count) and an "empty" one (each consumer warp arrives when its wgmma have read
 * the buffer), so the producer runs ahead as far as the ring allows, never waiting on the consumers' arithmetic.
 * The steps are template switches, so the ablation reads off one kernel as in the FA3 paper:
 *   PINGPONG  the two consumer warpgroups take turns on the tensor cores (named barriers 1, 2): a warpgroup waits
 *             for its turn, issues its products, hands the turn over, and runs its softmax while the other's
 *             products run. The loop is ordered so that one turn issues O += P(j-1) V(j-1) and S(j) = Q K(j)^T
 *             together.
 *   OVERLAP   inside a warpgroup: S(j) and P(j-1) V(j-1) are committed as two groups, the softmax of S(j) starts as
 *             soon as S(j) has landed (wgmma.wait_group 1) while P V still runs; only the O rescale waits for it.
 *   PERSIST   one block per SM walks tiles (query block, head): heads in order, within a head the last query block
 *             first (longest rows under a causal mask); the producer loads the next tile's K, Q while the
 *             consumers finish the current one (a Q "empty" barrier guards the single Q buffer).
 *             HP_STATIC: block b takes tiles b, b + grid, b + 2 grid, ... HP_DYNAMIC: the producer takes the next
 *             tile from a global counter (atomicAdd) and passes its index to the consumers in shared memory, with
 *             the Q "full" barrier; index -1 ends the block. The last block to finish resets the counter.
 *             The index has one slot per Q phase (tile parity): the producer writes it after its wait on
 *             "Q empty" and before its arrive on "Q full" (release); lane 0 of each consumer warp reads it after
 *             its wait on "Q full" (acquire) and broadcasts it (shfl), and that same lane arrives on "Q empty"
 *             when the warp is done with Qi, so the slot's next write (two tiles on) waits for it.
 *   LEAN      (v20) the O rescale skipped by a warp whose rows all kept their maximum (exact), POLY16 of every 16
 *             exponentials on the FMA pipe, and with SPLIT the softmax's chains split in partial ones
 *             (hp_softmax_lean).
 *   KAHEAD    (v20) the producer loads K one step ahead of V (K0, K1, V0, K2, V1, ...), the order the consumers
 *             take them in (a turn reads K(j) and V(j-1)), as FA3 does: K(j+1) no longer waits behind V(j), whose
 *             buffer is freed last (after a softmax), and the two copies are no longer in flight together.
 *   PIN       (v21) OVERLAP as it runs, not only as it is written: ptxas (nvcc 13.0) hoists wgmma.wait_group 0 above
 *             the whole softmax in every OVERLAP kernel of v17 - v20 (WARPGROUP.DEPBAR 0 before the first MUFU.EX2),
 *             so P(j-1) V(j-1) is waited for before the softmax starts. A shared-memory store of the row sums (one
 *             word per consumer thread, read by no one: wg_pin) between the softmax and the wait keeps the wait
 *             below it: ptxas does not move the wait above a shared-memory store (hopper_sass.py checks it).
 * Causal masking is applied only on the key blocks that need it (from jm on), so unmasked blocks run mask-free.
 */
#ifndef FLASHLAB_HOPPER_WS_CUH
#define FLASHLAB_HOPPER_WS_CUH

#include <string.h>

#include "hopper_common.cuh"

/* Internal linkage: the counting twin (-DFL_COUNT) instantiates the same templates with other code. */
namespace {
namespace hp_ws {

enum { HP_ONE_TILE, HP_STATIC, HP_DYNAMIC };
/* The dynamic scheduler's counters: the next tile, and the blocks that have seen the last one. One pair per
 * translation unit, zero at load; launches on one stream follow each other, so they never overlap. */
__device__ int next_tile, blocks_done;

__device__ __forceinline__ void st_shared_s32(uint32_t a, int v) { asm volatile("st.shared.s32 [%0], %1;\n" ::"r"(a), "r"(v) : "memory"); }
__device__ __forceinline__ int ld_shared_s32(uint32_t a)
{
    int v;
    asm volatile("ld.shared.s32 %0, [%1];\n" : "=r"(v) : "r"(a) : "memory");
    return v;
}

/* Registers per thread after setmaxnreg. The pool setmaxnreg redistributes is the block's own, fixed at launch:
 * 65536 / threads rounded down to 8 per thread (168 x 384 = 64512 for two consumer warpgroups). Asking for more
 * (say 32 + 2 x 240 per 128 threads = 65536) makes setmaxnreg.inc wait forever: a hang, seen on the H100. */
template <int NWG> struct regs;
template <> struct regs<2> { static constexpr int producer = 24, consumer = 240; };
template <> struct regs<3> { static constexpr int producer = 24, consumer = 160; };
template <int NWG> constexpr bool regs_fit()
{
    return 128 * (regs<NWG>::producer + NWG * regs<NWG>::consumer) <= 65536 / (128 * (NWG + 1)) / 8 * 8 * 128 * (NWG + 1);
}
static_assert(regs_fit<2>() && regs_fit<3>(), "setmaxnreg asks for more registers than the block was launched with");

template <int D, typename T, bool CAUSAL, int BC, int NWG, int STAGES, bool PINGPONG, bool OVERLAP, int PERSIST,
          bool LEAN, int POLY16, bool KAHEAD, bool SPLIT, bool PIN, bool REREAD>
__global__ void __launch_bounds__((NWG + 1) * 128, 1) kernel(const __grid_constant__ hp_maps maps, const hp_params kp)
{
    constexpr int DP = (D + 63) / 64 * 64, KS = D / 16, BR = 64 * NWG;
    constexpr uint32_t QB = BR * DP * 2, KB = BC * DP * 2;
    static_assert(D % 16 == 0 && BC % 16 == 0 && BC <= 256 && D <= 256, "wgmma shapes");
    static_assert(!PINGPONG || NWG == 2, "ping-pong pairs two consumer warpgroups");
    static_assert(!PIN || OVERLAP, "PIN keeps the softmax between OVERLAP's two waits");
    static_assert(!REREAD || PERSIST == HP_DYNAMIC, "REREAD reads the tile index from the dynamic scheduler's slot");
    extern __shared__ __align__(1024) unsigned char smem[];
    const uint32_t sQ = hp_align1k(smem), sK = sQ + QB, sV = sK + STAGES * KB, bars = sV + STAGES * KB;
    /* mbarriers, 8 bytes each: Q full, Q empty, then per stage K full, K empty, V full, V empty */
    const uint32_t q_full = bars, q_empty = bars + 8, slot = bars + 16 + 32 * STAGES;   /* slot: 2 tile indices */
    const uint32_t pin = slot + 8;                  /* PIN: one word per consumer thread, written, never read */
    auto k_full = [&](int s) { return bars + 16 + 32 * s; };
    auto k_empty = [&](int s) { return bars + 24 + 32 * s; };
    auto v_full = [&](int s) { return bars + 32 + 32 * s; };
    auto v_empty = [&](int s) { return bars + 40 + 32 * s; };
    constexpr int CONSUMER_WARPS = 4 * NWG;
    const int tid = threadIdx.x, wg = tid / 128;
    /* With PIN, the key-block count and the lane are computed in each role, after its setmaxnreg: a value live
     * across setmaxnreg is one ptxas spills rather than keeps (Tc, then lane, stored before the split and reloaded
     * in the loop of the d = 128 PIN kernels at Bc = 176). The versions before keep the code they were measured with
     * (computing them late makes v19_sched's d = 256 causal kernel spill). */
    const int N = kp.N, Tc_all = PIN ? 0 : (N + BC - 1) / BC, lane_all = PIN ? 0 : tid % 32;
    auto key_blocks = [&]() { return PIN ? (N + BC - 1) / BC : Tc_all; };
    unsigned long long cnt[TC_NCOUNT] = {0, 0, 0, 0, 0};

    if (tid == 0) {
        mbar_init(q_full, 1);
        mbar_init(q_empty, CONSUMER_WARPS);
        for (int s = 0; s < STAGES; s++) {
            mbar_init(k_full(s), 1), mbar_init(k_empty(s), CONSUMER_WARPS);
            mbar_init(v_full(s), 1), mbar_init(v_empty(s), CONSUMER_WARPS);
        }
        mbar_init_fence();
    }
    __syncthreads();
    const int first = (int)blockIdx.x, step = PERSIST == HP_STATIC ? (int)gridDim.x : kp.ntiles;

    if (wg == 0) {
        /* ---- producer ---------------------------------------------------------------------------------------- */
        reg_dealloc<regs<NWG>::producer>();
        if (tid != 0)
            return;
        const int Tc = key_blocks();
        int it = 0, tc = 0;
        int tile = PERSIST == HP_DYNAMIC ? atomicAdd(&next_tile, 1) : first;
        for (; tile < kp.ntiles; tc++) {
            int i, bh;
            hp_tile(tile, kp.Tr, i, bh);
            const int b = bh / kp.H, h = bh % kp.H, q0 = i * BR;
            const int jend = CAUSAL ? min(Tc, (min(q0 + BR, N) - 1) / BC + 1) : Tc;
            auto load_v = [&](int jv, int itv) {                           /* FA2 Alg.1 line 7: Vj */
                const int s = itv % STAGES;
                mbar_wait(v_empty(s), ((uint32_t)(itv / STAGES) & 1) ^ 1);
                mbar_expect_tx(v_full(s), KB);
                tma_load_tile<DP>(sV + s * KB, &maps.v, BC, jv * BC, h, b, v_full(s));
                HP_COUNT(cnt[TC_CNT_V_RD], (size_t)min(BC, N - jv * BC) * D);
            };
            for (int j = 0; j < jend; j++, it++) {
                const int s = it % STAGES;
                const uint32_t ph = (uint32_t)(it / STAGES) & 1;
                const int k0 = j * BC;
                mbar_wait(k_empty(s), ph ^ 1);                             /* FA2 Alg.1 line 7: Kj */
                mbar_expect_tx(k_full(s), KB);
                tma_load_tile<DP>(sK + s * KB, &maps.k, BC, k0, h, b, k_full(s));
                HP_COUNT(cnt[TC_CNT_K_RD], (size_t)min(BC, N - k0) * D);
                if (j == 0) {                                              /* line 4: Qi, once the last tile's is free */
                    mbar_wait(q_empty, (uint32_t)(tc & 1) ^ 1);
                    if (PERSIST == HP_DYNAMIC)
                        st_shared_s32(slot + 4 * (tc & 1), tile);               /* released by the arrive below */
                    mbar_expect_tx(q_full, QB);
                    tma_load_tile<DP>(sQ, &maps.q, BR, q0, h, b, q_full);
                    HP_COUNT(cnt[TC_CNT_Q_RD], (size_t)min(BR, N - q0) * D);
                }
                if (!KAHEAD)
                    load_v(j, it);                                         /* and Vj */
                else if (j > 0)
                    load_v(j - 1, it - 1);         /* the order the consumers take them in: Kj with V(j-1) */
            }
            if (KAHEAD)
                load_v(jend - 1, it - 1);
            tile = PERSIST == HP_DYNAMIC ? atomicAdd(&next_tile, 1) : tile + step;
        }
        if (PERSIST == HP_DYNAMIC) {
            mbar_wait(q_empty, (uint32_t)(tc & 1) ^ 1);                    /* no next tile: index -1 */
            st_shared_s32(slot + 4 * (tc & 1), -1);
            mbar_arrive(q_full);
            if (atomicAdd(&blocks_done, 1) == (int)gridDim.x - 1) {       /* every block has fetched its last */
                atomicExch(&next_tile, 0);
                atomicExch(&blocks_done, 0);
            }
        }
        hp_count_flush(kp.count, cnt);
        return;
    }

    /* ---- consumers -------------------------------------------------------------------------------------------- */
    reg_alloc<regs<NWG>::consumer>();
    const int Tc = key_blocks(), lane = PIN ? tid % 32 : lane_all;
    const int c = wg - 1, warp = (tid % 128) / 32, g = lane / 4, t = lane % 4;
    const uint32_t qw = sQ + c * 64 * HP_PANEL_ROW;                      /* this warpgroup's rows of Qi */
    auto softmax = [&](float (&sc)[BC / 2], float (&m)[2], float (&l)[2], float (&al)[2]) {
        if constexpr (LEAN)
            hp_softmax_lean<BC, POLY16, SPLIT>(sc, m, l, al, kp.scale_log2);
        else
            hp_softmax<BC>(sc, m, l, al, kp.scale_log2);
    };
    const int my_turn = 1 + c, other_turn = 2 - c;                       /* named barriers of the ping-pong */
    if (PINGPONG && c == 1)
        bar_arrive(1, 256);                                             /* warpgroup 0 goes first */
    int it = 0;
    for (int tc = 0;; tc++) {
        int tile;
        if (PERSIST == HP_DYNAMIC) {
            /* Only lane 0 reads the slot: it is the lane that arrives on q_empty, so its own release orders the
             * read before the producer rewrites the slot two tiles on (what racecheck follows). */
            mbar_wait(q_full, (uint32_t)tc & 1);
            tile = __shfl_sync(0xffffffffu, lane == 0 ? ld_shared_s32(slot + 4 * (tc & 1)) : 0, 0);
        } else {
            tile = first + tc * step;
        }
        if (tile < 0 || tile >= kp.ntiles)
            break;
        int i, bh;
        hp_tile(tile, kp.Tr, i, bh);
        const int b = bh / kp.H, h = bh % kp.H, q0 = i * BR, wr0 = q0 + 64 * c, r0 = wr0 + 16 * warp + g;
        const int jend = CAUSAL ? min(Tc, (min(q0 + BR, N) - 1) / BC + 1) : Tc;
        const int jm_n = N % BC ? N / BC : Tc, jm = CAUSAL ? min((wr0 + 1) / BC, jm_n) : jm_n;
        const size_t ld = (size_t)kp.H * D, head = ((size_t)b * N * kp.H + h) * D;

        float o[D / 2], mi[2] = {-INFINITY, -INFINITY}, li[2] = {0, 0}, alpha[2];
#pragma unroll
        for (int x = 0; x < D / 2; x++)
            o[x] = 0;
        float s[BC / 2];
        uint32_t p[BC / 4];
        if (PERSIST != HP_DYNAMIC)
            mbar_wait(q_full, (uint32_t)tc & 1);

        if (!PINGPONG && !OVERLAP) {
            /* v15: FA2's step as it stands, S then softmax then P V, each product waited for. */
            for (int j = 0; j < jend; j++, it++) {
                const int st = it % STAGES;
                const uint32_t ph = (uint32_t)(it / STAGES) & 1;
                mbar_wait(k_full(st), ph);
                wg_fence();
                gemm_qk<BC, KS, T>(s, qw, BR, sK + st * KB);                 /* line 8 */
                wg_commit();
                wg_wait<0>();
                reg_fence(s);
                __syncwarp();
                if (lane == 0) {
                    mbar_arrive(k_empty(st));
                    if (j == jend - 1)
                        mbar_arrive(q_empty);
                }
                if (j >= jm)
                    hp_mask<BC, CAUSAL>(s, r0, j * BC, N, t);
                softmax(s, mi, li, alpha);                                  /* line 9 */
                o_rescale<D>(o, alpha);
                p_pack<BC, T>(p, s);
                mbar_wait(v_full(st), ph);
                wg_fence();
                gemm_pv<D, BC, T>(o, p, sV + st * KB, true);                /* line 10 */
                wg_commit();
                wg_wait<0>();
                reg_fence(o);
                __syncwarp();
                if (lane == 0)
                    mbar_arrive(v_empty(st));
            }
        } else {
            /* v16 - v18: one turn issues P(j-1) V(j-1) and S(j) together. */
            int st = it % STAGES;
            uint32_t ph = (uint32_t)(it / STAGES) & 1;
            mbar_wait(k_full(st), ph);
            if (PINGPONG)
                bar_sync(my_turn, 256);
            wg_fence();
            gemm_qk<BC, KS, T>(s, qw, BR, sK + st * KB);
            wg_commit();
            if (PINGPONG)
                bar_arrive(other_turn, 256);
            wg_wait<0>();
            reg_fence(s);
            __syncwarp();
            if (lane == 0) {
                mbar_arrive(k_empty(st));
                if (jend == 1)
                    mbar_arrive(q_empty);
            }
            if (0 >= jm)
                hp_mask<BC, CAUSAL>(s, r0, 0, N, t);
            softmax(s, mi, li, alpha);
            p_pack<BC, T>(p, s);
            for (int j = 1; j < jend; j++) {
                const int sp = st;                                          /* the stage of step j - 1 (its V) */
                const uint32_t pp = ph;
                it++;
                st = it % STAGES;
                ph = (uint32_t)(it / STAGES) & 1;
                mbar_wait(k_full(st), ph);
                mbar_wait(v_full(sp), pp);
                if (PINGPONG)
                    bar_sync(my_turn, 256);
                wg_fence();
                gemm_qk<BC, KS, T>(s, qw, BR, sK + st * KB);                 /* S(j) = Qi Kj^T */
                wg_commit();
                gemm_pv<D, BC, T>(o, p, sV + sp * KB, true);                /* O += P(j-1) V(j-1) */
                wg_commit();
                if (PINGPONG)
                    bar_arrive(other_turn, 256);
                if (OVERLAP)
                    wg_wait<1>();                                           /* S(j) has landed; P V may still run */
                else
                    wg_wait<0>();
                reg_fence(s);
                __syncwarp();
                if (lane == 0) {
                    mbar_arrive(k_empty(st));
                    if (j == jend - 1)
                        mbar_arrive(q_empty);
                }
                if (j >= jm)
                    hp_mask<BC, CAUSAL>(s, r0, j * BC, N, t);
                softmax(s, mi, li, alpha);
                if (PIN)
                    wg_pin(pin + 4 * (tid - 128), li[0] + li[1]);           /* the wait stays below the softmax */
                if (OVERLAP)
                    wg_wait<0>();                                           /* P(j-1) V(j-1) done: O, p free */
                reg_fence(o);
                reg_fence(p);
                __syncwarp();
                if (lane == 0)
                    mbar_arrive(v_empty(sp));
                if (!LEAN || o_rescale_needed(alpha))                       /* v20: alpha = 1 leaves O as it is */
                    o_rescale<D>(o, alpha);
                p_pack<BC, T>(p, s);
            }
            /* the last P V */
            mbar_wait(v_full(st), ph);
            if (PINGPONG)
                bar_sync(my_turn, 256);
            wg_fence();
            gemm_pv<D, BC, T>(o, p, sV + st * KB, true);
            wg_commit();
            if (PINGPONG)
                bar_arrive(other_turn, 256);
            wg_wait<0>();
            reg_fence(o);
            __syncwarp();
            if (lane == 0)
                mbar_arrive(v_empty(st));
            it++;
        }
        if constexpr (REREAD) {
            /* The tile's coordinates again, from its slot, instead of kept in registers across the key loop: at
             * d = 256 (O alone is 128 registers a thread) they are what spilled. The slot still holds this tile:
             * the producer rewrites it two tiles on, after every consumer warp has released Q of the next tile,
             * which this warp does after this epilogue; lane 0 reads it, as above. */
            const int again = __shfl_sync(0xffffffffu, lane == 0 ? ld_shared_s32(slot + 4 * (tc & 1)) : 0, 0);
            int i2, bh2;
            hp_tile(again, kp.Tr, i2, bh2);
            const size_t head2 = ((size_t)(bh2 / kp.H) * N * kp.H + bh2 % kp.H) * D;
            hp_epilogue<D, T>(o, mi, li, (T *)kp.o + head2, kp.lse + (size_t)bh2 * N, ld,
                              i2 * BR + 64 * c + 16 * warp + g, N, kp.scale, t, cnt[TC_CNT_O_WR], cnt[TC_CNT_L_WR]);
        } else {
            hp_epilogue<D, T>(o, mi, li, (T *)kp.o + head, kp.lse + (size_t)bh * N, ld, r0, N, kp.scale, t,
                              cnt[TC_CNT_O_WR], cnt[TC_CNT_L_WR]);
        }
    }
    if (PINGPONG && c == 0)
        bar_sync(1, 256);                                               /* warpgroup 1's last hand-over */
    hp_count_flush(kp.count, cnt);
}

}  // namespace hp_ws

/* One row of the climb: the kernel's switches, and its tile (Bc, consumer warpgroups) per head dimension (0: not
 * taken); at d = 256 the tile and PIN may differ under a causal mask (BC256C, 0: BC256's; PIN256C, -1: PIN's); d = 32
 * (BC32) rides in d = 64's panels, its columns 32..63 zero-filled by TMA and left out of both products. */
template <int STAGES, bool PINGPONG, bool OVERLAP, int PERSIST, int BC64, int BC96, int BC128, int BC256, int NWG64,
          bool LEAN = false, int POLY16 = 0, bool KAHEAD = false, bool SPLIT = true, bool PIN = false,
          bool REREAD = false, int BC256C = 0, int PIN256C = -1, int BC32 = 0>
struct hp_ws_version {
    /* Bc and the consumer warpgroups for head dimension d (Bc 0: d not taken); the kernels' template arguments and
     * the blocks the counters are held to both come from here. */
    static constexpr int bc_of(int d, bool causal)
    {
        return d == 32    ? BC32
               : d == 64  ? BC64
               : d == 96  ? BC96
               : d == 128 ? BC128
               : d != 256 ? 0
               : causal && BC256C ? BC256C : BC256;
    }
    static constexpr int nwg_of(int d) { return d == 64 ? NWG64 : 2; }
    template <int D, bool C> static constexpr int bc() { return bc_of(D, C); }
    template <int D> static constexpr int nwg() { return nwg_of(D); }
    template <int D, bool C> static constexpr bool pin() { return D == 256 && C && PIN256C >= 0 ? PIN256C : PIN; }
    template <int D, bool C> static constexpr size_t smem_bytes(int stages)
    {
        return (size_t)(64 * nwg<D>() + 2 * stages * bc<D, C>()) * ((D + 63) / 64 * 64) * 2 + 16 + 32 * stages + 8 +
               (pin<D, C>() ? 4 * 128 * nwg<D>() : 0) + 1024;
    }
    /* STAGES = 0: three K/V buffers where shared memory (227 KB per block) holds them, else two. */
    template <int D, bool C> static constexpr int stages()
    {
        return STAGES ? STAGES : smem_bytes<D, C>(3) <= 232448 ? 3 : 2;
    }
    static void blocks(int d, int causal, int *br, int *bc)
    {
        const int b = bc_of(d, causal);
        *br = b ? 64 * nwg_of(d) : 0, *bc = b;
    }
    template <int D, typename T, bool C>
    static int launch_case(const char *name, const tc_args *a, void *stream, char *err, size_t errlen)
    {
        constexpr int BC = bc<D, C>(), NWG = nwg<D>(), BR = 64 * NWG, S = stages<D, C>();
        void (*k)(const hp_maps, const hp_params) =
            hp_ws::kernel<D, T, C, BC, NWG, S, PINGPONG, OVERLAP, PERSIST, LEAN, POLY16, KAHEAD, SPLIT, pin<D, C>(),
                          REREAD>;
        const size_t smem = smem_bytes<D, C>(S);
        hp_params kp = hp_make_params(a, BR);
        hp_maps maps;
        if (hp_make_maps(&maps, a, BR, BC, err, errlen))
            return -1;
        if (hp_prepare(name, k, smem, (long long)kp.Tr * (long long)(a->B * a->H), err, errlen))
            return -1;
        int grid = kp.ntiles;
        if (PERSIST != hp_ws::HP_ONE_TILE) {
            static int sms;
            if (!sms) {
                int dev;
                if (cudaGetDevice(&dev) != cudaSuccess ||
                    cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess) {
                    snprintf(err, errlen, "%s: %s", name, cudaGetErrorString(cudaGetLastError()));
                    return -1;
                }
            }
            grid = min(grid, sms);
        }
        k<<<(unsigned)grid, (NWG + 1) * 128, smem, (cudaStream_t)stream>>>(maps, kp);
        return hp_launched(name, err, errlen);
    }
    template <int D, typename T>
    static int launch(const char *name, const tc_args *a, void *stream, char *err, size_t errlen)
    {
        return a->causal ? launch_case<D, T, true>(name, a, stream, err, errlen)
                         : launch_case<D, T, false>(name, a, stream, err, errlen);
    }
    static int forward(const char *name, const tc_args *a, void *stream, char *err, size_t errlen)
    {
        if (hp_check_args(name, a, err, errlen))
            return -1;
        int br, bcv;
        blocks((int)a->d, a->causal, &br, &bcv);
        if (!bcv) {
            snprintf(err, errlen, "%s: head dimension d = %zu not supported", name, a->d);
            return -1;
        }
        switch (a->d) {
        case 32: return launch_if<32>(name, a, stream, err, errlen);
        case 64: return launch_if<64>(name, a, stream, err, errlen);
        case 96: return launch_if<96>(name, a, stream, err, errlen);
        case 128: return launch_if<128>(name, a, stream, err, errlen);
        default: return launch_if<256>(name, a, stream, err, errlen);
        }
    }
    /* A head dimension is instantiated only where the version has a tile for it. */
    template <int D> static int launch_if(const char *name, const tc_args *a, void *stream, char *err, size_t errlen)
    {
        if constexpr (bc<D, false>() > 0)
            return a->dtype == DTYPE_BF16 ? launch<D, __nv_bfloat16>(name, a, stream, err, errlen)
                                          : launch<D, __half>(name, a, stream, err, errlen);
        snprintf(err, errlen, "%s: head dimension d = %d not supported", name, D);
        return -1;
    }
};
}  // namespace

#endif
