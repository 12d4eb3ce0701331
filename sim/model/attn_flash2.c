/* attn_flash2.c — FlashAttention-2 (Dao 2023): the forward pass, Algorithm 1, and the backward pass, Algorithm 2,
 * line by line; their SRAM plans and closed-form ledgers.
 *
 * Forward: the loops are swapped against FlashAttention-1: the outer loop walks query blocks i, the inner loop
 * key/value blocks j. Qi is loaded once; Oi, li, mi stay on chip for the whole row block, and Oi stays
 * *unnormalized* (delayed rescaling): each step only multiplies it by e^(m_old - m_new); it is divided by li once,
 * at the end. Oi and the log-sum-exp Li = mi + log li are written to HBM once. No row block reads what another one
 * writes, so (batch, head, query block) triples are independent pieces of work and run in parallel.
 *
 * Br, Bc come from attn_choose_blocks: the paper's rule transposed (Br = ⌈M/4d⌉, Bc = min(Br, d)), because here the
 * resident block is Qi and K, V stream past it once per query block, so the query block is the one to make big.
 *
 * Causal: key blocks after the row block's last query are skipped (no loads, no work). Inside a visited tile masked
 * scores are -inf; every row has its own key 0 unmasked in the first block, so mi is finite from then on and a row
 * masked entirely in a later tile just gets P~ = 0 and a rescale factor of 1.
 *
 * Sliding window W (p->window, with causal): key j is visible to query i iff i - W < j <= i, so the key blocks
 * wholly before the row block's first query's window are skipped too, and each row block visits only the band of
 * key blocks around its diagonal: K and V are read about (W/Bc + 2) blocks per query block, linear in N. A row can
 * meet a visited tile before its own window starts, masked entirely while mi is still -inf; the subtrahend guard
 * (0 in place of -inf, tile_softmax_pv_update) makes that P~ = 0, factor e^(-inf) = 0, li = 0: nothing yet, no NaN.
 *
 * Backward: key blocks j outside, as in FlashAttention; Pij is recomputed from the saved L alone
 * (Pij = exp(Sij - Li)), and D = rowsum(dO o O) is computed once up front, in a pass of its own, so the main loop
 * never reads O. dQ is accumulated across key blocks by read-modify-write in HBM (rounded to the storage dtype each
 * time; FlashAttention-2's CUDA code keeps an fp32 dQ and uses atomicAdd instead). Heads run in parallel.
 */
#include <string.h>

#include "attn_common.h"

/* ---- SRAM plans ----------------------------------------------------------------------------------------------- */

/* Buffers in allocation order; the code takes them by the same indices. */
enum { F_Qi, F_Kj, F_Vj, F_Sij, F_Oi, F_mi, F_li, F_NBUF };
enum { B_Kj, B_Vj, B_dKj, B_dVj, B_Qi, B_dOi, B_dQi, B_Li, B_Di, B_Sij, B_dPij, B_NBUF };
enum { D_Oi, D_dOi, D_Di, D_NBUF };   /* backward lines 3-4, D = rowsum(dO o O) */

/* FA2 Alg.1: Oi stays on chip, unnormalized, in fp32 until it is written once. */
static void fwd_plan(size_t Br, size_t Bc, size_t d, dtype_t dt, sram_plan *out)
{
    *out = (sram_plan){.n = 0};
    attn_plan_add(out, F_Qi, "Qi", Br, d, dt);
    attn_plan_add(out, F_Kj, "Kj", Bc, d, dt);
    attn_plan_add(out, F_Vj, "Vj", Bc, d, dt);
    attn_plan_add(out, F_Sij, "Sij", Br, Bc, DTYPE_FP32);   /* Sij, then P~ij in place */
    attn_plan_add(out, F_Oi, "Oi", Br, d, DTYPE_FP32);
    attn_plan_add(out, F_mi, "mi", Br, 1, DTYPE_FP32);      /* holds Li = mi + log li before it is written */
    attn_plan_add(out, F_li, "li", Br, 1, DTYPE_FP32);
}

/* FA2 Alg.2: lines 6-7, line 9 (Qi, dOi, Li, Di), line 15 (dQi), lines 10-14. The pass of lines 3-4 needs less. */
static const attn_buf bwd_bufs[B_NBUF] = {
    ATTN_BWD_KV_BUFS,
    [B_Qi] = {"Qi", 'r', 'd', ATTN_STORED},
    [B_dOi] = {"dOi", 'r', 'd', ATTN_STORED},
    [B_dQi] = {"dQi", 'r', 'd', ATTN_STORED},
    [B_Li] = {"Li", 'r', '1', ATTN_FP32},
    [B_Di] = {"Di", 'r', '1', ATTN_FP32},
    [B_Sij] = {"Sij", 'r', 'c', ATTN_FP32},
    [B_dPij] = {"dPij", 'r', 'c', ATTN_FP32},
};

static void bwd_plan(size_t Br, size_t Bc, size_t d, dtype_t dt, sram_plan *out)
{
    attn_plan_table(out, bwd_bufs, B_NBUF, Br, Bc, d, dt);
}

static const attn_buf bwd_d_bufs[D_NBUF] = {
    [D_Oi] = {"Oi", 'r', 'd', ATTN_STORED},
    [D_dOi] = {"dOi", 'r', 'd', ATTN_STORED},
    [D_Di] = {"Di", 'r', '1', ATTN_FP32},
};

static void bwd_d_plan(size_t Br, size_t d, dtype_t dt, sram_plan *out)
{
    attn_plan_table(out, bwd_d_bufs, D_NBUF, Br, 0, d, dt);
}

/* Two sweeps: D = rowsum(dO o O) (lines 3-4), then the main loop (lines 5-18), whose plan is the larger. */
static size_t bwd_sweeps(size_t Br, size_t Bc, size_t d, dtype_t dt, sram_plan *out)
{
    bwd_d_plan(Br, d, dt, &out[0]);
    bwd_plan(Br, Bc, d, dt, &out[1]);
    return 2;
}

/* ---- forward: Algorithm 1 ------------------------------------------------------------------------------------- */

void attn_flash2_row_update(float *s, size_t kc, const float *Vj, size_t d, float *mi, float *li, float *oi)
{
    tile_softmax_pv_update(s, 1, kc, Vj, d, mi, li, oi);   /* the forward's own code, on one row */
}

/* Query block i of one head: Q, O, L hold p->N rows; K, V hold K.rows (N in attn_forward; ring attention passes
 * another device's chunk, and masks only the diagonal step, where K.rows = N). */
static void fwd_rows(mem_t *m, const attn_params *p, hbm_mat Q, hbm_mat K, hbm_mat V, hbm_mat O, hbm_mat L,
                     float *const *buf, size_t i)
{
    size_t N = p->N, Nk = K.rows, d = p->d, Br = p->Br, Bc = p->Bc, Tc = ceil_div(Nk, Bc), b = Q.b, h = Q.h;
    size_t q0 = i * Br, qr = min_size(Br, N - q0);
    float *Qi = buf[F_Qi], *Kj = buf[F_Kj], *Vj = buf[F_Vj], *Sij = buf[F_Sij], *Oi = buf[F_Oi], *mi = buf[F_mi],
          *li = buf[F_li];
    float scale = attn_scale(p);
    bool real = !mem_count_only(m);

    /* FA2 Alg.1 line 4: load Qi from HBM to on-chip SRAM. */
    mem_note(m, "FA2 line 4: load Q%zu (rows %zu..%zu, head b=%zu h=%zu)", i, q0, q0 + qr - 1, b, h);
    hbm_load_rows(m, Qi, Q, q0, qr, "Qi");
    /* FA2 Alg.1 line 5: on chip, Oi = (0)Br x d, li = (0)Br, mi = (-inf)Br. Nothing moves over HBM. */
    if (real)
        for (size_t r = 0; r < qr; r++) {
            mi[r] = -INFINITY;
            li[r] = 0;
            for (size_t x = 0; x < d; x++)
                Oi[r * d + x] = 0;
        }

    for (size_t j = 0; j < Tc; j++) {                                   /* FA2 Alg.1 line 6 */
        size_t k0 = j * Bc, kc = min_size(Bc, Nk - k0);
        if (attn_tile_skipped(p, i, j)) {                /* no visible pair: after the diagonal, before the window */
            mem_step(m, (long)i, (long)j, ATTN_STEP_SKIP);
            continue;
        }
        mem_step(m, (long)i, (long)j, "FA2 lines 7-10");
        /* FA2 Alg.1 line 7: load Kj, Vj from HBM to on-chip SRAM. */
        mem_note(m, "FA2 line 7: load K%zu, V%zu (rows %zu..%zu)", j, j, k0, k0 + kc - 1);
        hbm_load_rows(m, Kj, K, k0, kc, "Kj");
        hbm_load_rows(m, Vj, V, k0, kc, "Vj");

        /* FA2 Alg.1 line 8: Sij = scale Qi Kj^T, masked scores -inf. */
        if (real) {
            attn_scores(Sij, Qi, Kj, qr, kc, d, scale, p->causal, q0, k0);
            attn_mask_window(Sij, qr, kc, p->window, q0, k0);
        }
        mem_compute(m, "FA2 8: Sij = Qi Kj^T", 2 * (uint64_t)qr * kc * d + (uint64_t)qr * kc, 0);

        /* FA2 Alg.1 lines 9-10, per row (m_new and e^(mi - m_new) are per-row scalars: registers):
         *   m_new = max(mi, rowmax(Sij)), P~ij = exp(Sij - m_new), li = e^(mi - m_new) li + rowsum P~ij,
         *   Oi = diag(e^(mi - m_new)) Oi + P~ij Vj  (not divided by li: delayed rescaling). */
        if (real)
            tile_softmax_pv_update(Sij, qr, kc, Vj, d, mi, li, Oi);
        mem_compute(m, "FA2 9: mi P~ij li", (uint64_t)qr * (3 * kc + 2), (uint64_t)qr * kc + qr);
        mem_rows(m, b, h, q0, qr, mi, li);                              /* for observers: the HTML replay */
        mem_compute(m, "FA2 10: Oi = a Oi + P~ij Vj", 2 * (uint64_t)qr * kc * d + (uint64_t)qr * d, 0);
    }

    /* FA2 Alg.1 line 12: Oi = diag(li)^-1 Oi.  Line 13: Li = mi + log(li), kept in mi's buffer.
     * li = 0 only for a row that saw no unmasked key (not possible with top-left causal masking): O = 0, L = -inf. */
    if (real)
        for (size_t r = 0; r < qr; r++) {
            for (size_t x = 0; x < d; x++)
                Oi[r * d + x] = li[r] > 0 ? Oi[r * d + x] / li[r] : 0.0f;
            mi[r] = li[r] > 0 ? mi[r] + logf(li[r]) : -INFINITY;
        }
    mem_compute(m, "FA2 12-13: Oi /= li, Li", (uint64_t)qr * d + qr, qr);
    /* FA2 Alg.1 lines 14-15: write Oi and Li to HBM, once. */
    mem_note(m, "FA2 lines 14-15: write O%zu, L%zu to HBM, once", i, i);
    hbm_store_rows(m, O, q0, qr, Oi, "Oi");
    hbm_store_rows(m, L, q0, qr, mi, "Li");
}

static void fwd_block(mem_t *m, const attn_params *p, attn_tensors *t, float *const *buf, size_t item)
{
    size_t Tr = ceil_div(p->N, p->Br), i = item % Tr, b = item / Tr / p->H, h = item / Tr % p->H;
    fwd_rows(m, p, hbm_head(t->q, b, h), hbm_head(t->k, b, h), hbm_head(t->v, b, h), hbm_head(t->out, b, h),
             hbm_head(t->lse, b, h), buf, i);
}

void attn_flash2_forward_head(mem_t *m, const attn_params *p, hbm_mat q, hbm_mat k, hbm_mat v, hbm_mat out,
                              hbm_mat lse)
{
    if (!p->N || !k.rows || !p->Br || !p->Bc || q.rows != p->N || out.rows != p->N || lse.rows != p->N ||
        v.rows != k.rows || q.cols != p->d || k.cols != p->d || v.cols != p->d || out.cols != p->d || lse.cols != 1 ||
        (p->causal && k.rows != p->N) || (p->window && !p->causal))
        fl_internal("flash2 on windows: %zu queries, %zu keys, %zu values, %zu outputs, %zu statistics (d=%zu, "
                    "Br=%zu, Bc=%zu, causal=%d, window=%zu)", q.rows, k.rows, v.rows, out.rows, lse.rows, p->d, p->Br,
                    p->Bc, (int)p->causal, p->window);
    sram_plan plan;
    float *buf[F_NBUF];
    fwd_plan(p->Br, p->Bc, p->d, hbm_dtype(q.t), &plan);
    attn_plan_alloc(m, &plan, buf);
    for (size_t i = 0; i < ceil_div(p->N, p->Br); i++)
        fwd_rows(m, p, q, k, v, out, lse, buf, i);
    attn_plan_free(m, &plan, buf);
}

static void forward(mem_t *m, const attn_params *p, attn_tensors *t)
{
    sram_plan plan;
    attn_need(t->lse, "L", "flash2");
    fwd_plan(p->Br, p->Bc, p->d, hbm_dtype(t->q), &plan);
    mem_phase(m, "forward");
    attn_run(m, p, t, &plan, p->B * p->H * ceil_div(p->N, p->Br), fwd_block);
}

/* ---- backward: Algorithm 2 ------------------------------------------------------------------------------------ */

/* Lines 3-4, a pass of their own (FlashAttention-2's code runs them as a separate preprocessing kernel):
 * dQ = 0 in HBM, and D = rowsum(dO o O) by blocks of Br rows, written to HBM. */
static void bwd_d_head(mem_t *m, const attn_params *p, attn_tensors *t, float *const *unused, size_t item)
{
    size_t b = item / p->H, h = item % p->H, N = p->N, d = p->d, Br = p->Br;
    hbm_mat O = hbm_head(t->out, b, h), dO = hbm_head(t->dout, b, h), D = hbm_head(t->D, b, h),
            dQ = hbm_head(t->dq, b, h);
    (void)unused;
    hbm_fill_rows(m, dQ, 0, N, 0.0f, "dQ = 0");                            /* line 3 */
    sram_plan pl;
    float *buf[D_NBUF];
    bwd_d_plan(Br, d, hbm_dtype(t->q), &pl);
    attn_plan_alloc(m, &pl, buf);
    float *Oi = buf[D_Oi], *dOi = buf[D_dOi], *Di = buf[D_Di];
    for (size_t r0 = 0; r0 < N; r0 += Br) {                                /* line 4 */
        size_t nr = min_size(Br, N - r0);
        hbm_load_rows(m, Oi, O, r0, nr, "Oi");
        hbm_load_rows(m, dOi, dO, r0, nr, "dOi");
        if (!mem_count_only(m))
            tile_rowdot(Di, dOi, Oi, nr, d);
        mem_compute(m, "Di = rowsum(dOi o Oi)", 2 * (uint64_t)nr * d, 0);
        hbm_store_rows(m, D, r0, nr, Di, "Di");
    }
    attn_plan_free(m, &pl, buf);
}

/* FA2 Alg.2 lines 9-16 on tile (i, j); lines 5-8 and 18 around it are attn_bwd_sweep's. */
static void bwd_tile(const attn_tile *x)
{
    mem_t *m = x->m;
    size_t b = x->b, h = x->h, r0 = x->r0, nr = x->nr, c0 = x->c0, nc = x->nc, d = x->p->d;
    float scale = x->scale;
    hbm_mat Q = hbm_head(x->t->q, b, h), dO = hbm_head(x->t->dout, b, h), L = hbm_head(x->t->lse, b, h),
            D = hbm_head(x->t->D, b, h), dQ = hbm_head(x->t->dq, b, h);
    float *const *buf = x->buf;
    float *Kj = buf[B_Kj], *Vj = buf[B_Vj], *dKj = buf[B_dKj], *dVj = buf[B_dVj], *Qi = buf[B_Qi],
          *dOi = buf[B_dOi], *dQi = buf[B_dQi], *Li = buf[B_Li], *Di = buf[B_Di], *Sij = buf[B_Sij],
          *dPij = buf[B_dPij];

    hbm_load_rows(m, Qi, Q, r0, nr, "Qi");                              /* line 9: Qi, dOi, Li, Di (O is */
    hbm_load_rows(m, dOi, dO, r0, nr, "dOi");                           /* not needed: line 4 folded it */
    hbm_load_rows(m, Li, L, r0, nr, "Li");                              /* into D) */
    hbm_load_rows(m, Di, D, r0, nr, "Di");
    if (x->real) {
        attn_scores(Sij, Qi, Kj, nr, nc, d, scale, x->p->causal, r0, c0);   /* line 10, masked: exp(-inf) = 0 */
        for (size_t r = 0; r < nr; r++)
            tile_exp_affine(Sij + r * nc, nc, 1.0f, Li[r], 1.0f);       /* line 11: Pij = exp(Sij - Li) */
        tile_atb_acc(dVj, Sij, dOi, nr, nc, d, 1.0f);                   /* line 12: dVj += Pij^T dOi */
        tile_qkt(dOi, Vj, nr, nc, d, 1.0f, dPij);                       /* line 13: dPij = dOi Vj^T */
        tile_dsoftmax(dPij, Sij, Di, nr, nc);                           /* line 14: dSij = Pij o (dPij - Di) */
    }
    mem_compute(m, "Sij = scale Qi Kj^T; Pij", 2 * (uint64_t)nr * nc * d + 2 * (uint64_t)nr * nc, (uint64_t)nr * nc);
    mem_compute(m, "dVj += Pij^T dOi", 2 * (uint64_t)nr * nc * d, 0);
    mem_compute(m, "dPij = dOi Vj^T", 2 * (uint64_t)nr * nc * d, 0);
    mem_compute(m, "dSij = Pij o (dPij - Di)", 2 * (uint64_t)nr * nc, 0);
    hbm_load_rows(m, dQi, dQ, r0, nr, "dQi");                           /* line 15: load dQi, */
    if (x->real)
        tile_ab_acc(dQi, dPij, Kj, nr, nc, d, scale);                   /*   dQi += scale dSij Kj, */
    mem_compute(m, "dQi += scale dSij Kj", 2 * (uint64_t)nr * nc * d + (uint64_t)nr * d, 0);
    hbm_store_rows(m, dQ, r0, nr, dQi, "dQi");                          /*   write it back */
    if (x->real)
        tile_atb_acc(dKj, dPij, Qi, nr, nc, d, scale);                  /* line 16: dKj += scale dSij^T Qi */
    mem_compute(m, "dKj += scale dSij^T Qi", 2 * (uint64_t)nr * nc * d + (uint64_t)nc * d, 0);
}

static void bwd_head(mem_t *m, const attn_params *p, attn_tensors *t, float *const *unused, size_t item)
{
    (void)unused;
    sram_plan pl;
    bwd_plan(p->Br, p->Bc, p->d, hbm_dtype(t->q), &pl);
    attn_bwd_sweep(m, p, t, item, &pl, bwd_tile);                       /* FA2 Alg.2 lines 5-18 */
}

static void backward(mem_t *m, const attn_params *p, attn_tensors *t)
{
    attn_need(t->lse, "L", "flash2");
    t->D = hbm_alloc_bhn(m, "D", DTYPE_FP32, p->B, p->H, p->N);   /* O(N) per head, like L */
    mem_phase(m, "backward_D");
    mem_note(m, "FA2 Alg.2 lines 3-4: dQ = 0 in HBM; D = rowsum(dO o O), written to HBM");
    attn_run(m, p, t, NULL, p->B * p->H, bwd_d_head);
    mem_phase(m, "backward");
    mem_note(m, "FA2 Alg.2 lines 5-18: recompute Pij = exp(Sij - Li); dQi read-modify-written in HBM");
    attn_run(m, p, t, NULL, p->B * p->H, bwd_head);
    hbm_free(m, t->D);
    t->D = NULL;
}

/* ---- closed forms (one head) ---------------------------------------------------------------------------------- *
 * Causal, the forward's row block i (its outer loop) visits key blocks 0 .. ⌊last_i/Bc⌋, last_i = min((i+1)Br, N)-1.
 * For i < Tr-1, last_i = (i+1)Br - 1 and the key rows visited are min((⌊last_i/Bc⌋ + 1)*Bc, N); the last block
 * visits all Tc blocks, N keys:
 *     tiles = Tc + (Tr-1) + G,  G = Σ_{i<Tr-1} ⌊(i*Br + Br-1)/Bc⌋
 *     key rows visited C = N + Bc*((Tr-1) + G) - X*(Tc*Bc - N)
 * where X counts the blocks i < Tr-1 that reach the ragged last key block (⌊last_i/Bc⌋ = Tc-1), i.e.
 * i >= ⌊(Tc-1)*Bc/Br⌋: X = max(0, Tr-1 - ⌊(Tc-1)*Bc/Br⌋); for them min(., N) trims Tc*Bc - N rows. (The tiles are
 * the same set of pairs attn_kv_sweep counts by columns; the tests hold the two equal.)
 *
 * Sliding window W: row block i's queries q0 = i*Br .. last_i see the keys lo_i .. last_i, lo_i = max(0, q0+1 - W)
 * (attn_tile_mask), so it visits key blocks ⌊lo_i/Bc⌋ .. ⌊last_i/Bc⌋: its causal prefix less the first ⌊lo_i/Bc⌋
 * blocks, each a whole Bc keys (they end before lo_i <= N-1, so none is the ragged last block):
 *     tiles = tiles_causal - S,   C = C_causal - Bc*S,   S = Σ_i ⌊lo_i/Bc⌋
 * lo_i > 0 exactly when i*Br >= W, i.e. i >= i0 = ⌈W/Br⌉, and then lo_i = (i - i0)*Br + (i0*Br + 1 - W), so
 *     S = Σ_{x < Tr-i0} ⌊(x*Br + i0*Br + 1 - W)/Bc⌋   (attn_floor_sum; S = 0 when i0 >= Tr: W >= N is plain causal).
 * Per row block that is about (Br + W - 1)/Bc + 1 blocks: the reads grow as N·(W + Br + Bc)·d/Br, linear in N. */

/* Line 4 loads each Qi once (Nd); line 7 loads Kj, Vj for each visited tile (key rows * d each); lines 14-15 write
 * Oi and Li once (Nd + N). Non-causal: C = Tr*N. */
static void fwd_io(const attn_params *p, attn_io *io)
{
    const uint64_t N = p->N, d = p->d, Br = p->Br, Bc = p->Bc, W = p->window, Nd = N * d;
    const uint64_t Tr = ceil_div(p->N, p->Br), Tc = ceil_div(p->N, p->Bc);
    uint64_t tiles = Tr * Tc, C = Tr * N, jL = 0;   /* jL: the first key block the last row block visits */
    if (p->causal) {
        uint64_t G = attn_floor_sum(Tr - 1, Bc, Br, Br - 1);
        uint64_t f = (Tc - 1) * Bc / Br;
        uint64_t X = Tr - 1 > f ? Tr - 1 - f : 0;
        tiles = Tc + (Tr - 1) + G;
        C = N + Bc * ((Tr - 1) + G) - X * (Tc * Bc - N);
    }
    if (W) {
        uint64_t i0 = W / Br + (W % Br != 0), S = i0 < Tr ? attn_floor_sum(Tr - i0, Bc, Br, i0 * Br + 1 - W) : 0;
        jL = (Tr - 1) * Br + 1 > W ? ((Tr - 1) * Br + 1 - W) / Bc : 0;
        tiles -= S;
        C -= Bc * S;
    }
    attn_io_add(io, "Q", Nd, 0);
    attn_io_add(io, "K", C * d, 0);
    attn_io_add(io, "V", C * d, 0);
    attn_io_add(io, "O", 0, Nd);
    attn_io_add(io, "L", 0, N);
    io->tiles = tiles;
    io->skipped = Tr * Tc - tiles;
    /* Work. Row block i holds Br rows (the last qL = N - (Tr-1)Br); the last visits key blocks jL .. Tc-1, tL = Tc - jL
     * tiles and CL = N - Bc·jL keys (jL = 0 without a window: all of them). Over the visited tiles, rows
     * R = Br(tiles - tL) + qL·tL and scores E = Br(C - CL) + qL·CL, masked ones included, as causal counts them.
     * Lines 8 and 10 two products (4Ed); line 8's scale (E); line 9 max, subtract, sum (3E, E exps)
     * and per row e^(m_old - m_new)'s subtract, its multiply of li (2R, R exps); line 10 e^(m_old - m_new) Oi (Rd);
     * once per row block, line 12 Oi / li (Nd) and line 13 Li = mi + log li (N, N logs). */
    const uint64_t qL = N - (Tr - 1) * Br, tL = Tc - jL, CL = N - Bc * jL;
    const uint64_t R = Br * (tiles - tL) + qL * tL, E = attn_mul(Br, C - CL) + attn_mul(qL, CL);
    io->flops_mm = attn_mul(4 * E, d);
    io->flops_ew = 4 * E + 2 * R + attn_mul(R, d) + Nd + N;
    io->exps = E + R + N;
}

static void bwd_io(const attn_params *p, attn_io *io)
{
    const uint64_t N = p->N, d = p->d, Nd = attn_mul(N, d);
    uint64_t R, C, E;
    attn_kv_io(p, io, &R, &C, &E);
    /* Work: line 4 D = rowsum(dO o O) once (2Nd); per visited tile five products (S again, dV, dP, dQ, dK: 10Ed),
     * S's scale and P = exp(S - L)'s subtract (2E, E exps), dS's subtract and multiply (2E), the scale of dQ's and
     * dK's products (Rd + Cd). */
    io->flops_mm = attn_mul(10 * E, d);
    io->flops_ew = 4 * E + attn_mul(R, d) + attn_mul(C, d) + 2 * Nd;
    io->exps = E;
    /* line 3: dQ = 0 in HBM */
    attn_io_add(io, "dQ", 0, Nd);
    /* line 4: D = rowsum(dO o O): read O and dO once, write D (N) */
    attn_io_add(io, "O", Nd, 0);
    attn_io_add(io, "dO", Nd, 0);
    attn_io_add(io, "D", 0, N);
    /* line 6: Kj, Vj once per key block */
    attn_io_add(io, "K", Nd, 0);
    attn_io_add(io, "V", Nd, 0);
    /* line 9, per visited tile: Qi, dOi (r_i d each), Li, Di (r_i each) */
    attn_io_add(io, "Q", attn_mul(R, d), 0);
    attn_io_add(io, "dO", attn_mul(R, d), 0);
    attn_io_add(io, "L", R, 0);
    attn_io_add(io, "D", R, 0);
    /* line 15, per visited tile: dQi read and written back (r_i d each way) */
    attn_io_add(io, "dQ", attn_mul(R, d), attn_mul(R, d));
    /* line 18: write dKj, dVj once per key block */
    attn_io_add(io, "dK", 0, Nd);
    attn_io_add(io, "dV", 0, Nd);
}

/* ---- the row -------------------------------------------------------------------------------------------------- */

static void alloc_saved(mem_t *m, const attn_params *p, dtype_t dt, attn_tensors *t)
{
    (void)dt;   /* the log-sum-exp is fp32 in every storage dtype */
    t->lse = hbm_alloc_bhn(m, "L", DTYPE_FP32, p->B, p->H, p->N);
}

static const char *const fa2_alg1[] = {
    "Divide Q into Tr = ⌈N/Br⌉ blocks Q1..QTr of Br x d each, and K, V into Tc = ⌈N/Bc⌉ blocks K1..KTc, V1..VTc "
    "of Bc x d each.",
    "Divide the output O (N x d) into Tr blocks O1..OTr of Br x d each, and the logsumexp L into Tr blocks "
    "L1..LTr of Br each.",
    "for 1 <= i <= Tr do",
    "  Load Qi from HBM to on-chip SRAM.",
    "  On chip, initialize Oi(0) = (0)Brxd, li(0) = (0)Br, mi(0) = (-inf)Br.",
    "  for 1 <= j <= Tc do",
    "    Load Kj, Vj from HBM to on-chip SRAM.",
    "    On chip, compute Sij(j) = Qi Kj^T (Br x Bc).",
    "    On chip, compute mi(j) = max(mi(j-1), rowmax(Sij(j))), P~ij(j) = exp(Sij(j) - mi(j)) (pointwise), "
    "li(j) = e^(mi(j-1) - mi(j)) li(j-1) + rowsum(P~ij(j)).",
    "    On chip, compute Oi(j) = diag(e^(mi(j-1) - mi(j))) Oi(j-1) + P~ij(j) Vj.",
    "  end for",
    "  On chip, compute Oi = diag(li(Tc))^-1 Oi(Tc).",
    "  On chip, compute Li = mi(Tc) + log(li(Tc)).",
    "  Write Oi to HBM as the i-th block of O.",
    "  Write Li to HBM as the i-th block of L.",
    "end for",
    "Return the output O and the logsumexp L.",
};

static const char *const fa2_alg2[] = {
    "Divide Q into Tr = ⌈N/Br⌉ blocks Q1..QTr of Br x d each, and K, V into Tc = ⌈N/Bc⌉ blocks K1..KTc, V1..VTc "
    "of Bc x d each.",
    "Divide O into Tr blocks O1..OTr of Br x d each, dO into Tr blocks dO1..dOTr of Br x d each, and L into Tr "
    "blocks L1..LTr of Br each.",
    "Initialize dQ = (0)Nxd in HBM and divide it into Tr blocks dQ1..dQTr of Br x d each. Divide dK, dV (N x d) "
    "into Tc blocks of Bc x d each.",
    "Compute D = rowsum(dO o O) (pointwise multiply), write D to HBM and divide it into Tr blocks D1..DTr of Br "
    "each.",
    "for 1 <= j <= Tc do",
    "  Load Kj, Vj from HBM to on-chip SRAM.",
    "  Initialize dKj = (0)Bcxd, dVj = (0)Bcxd on SRAM.",
    "  for 1 <= i <= Tr do",
    "    Load Qi, Oi, dOi, dQi, Li, Di from HBM to on-chip SRAM.",
    "    On chip, compute Sij(j) = Qi Kj^T (Br x Bc).",
    "    On chip, compute Pij(j) = exp(Sij - Li) (Br x Bc).",
    "    On chip, compute dVj <- dVj + (Pij(j))^T dOi (Bc x d).",
    "    On chip, compute dPij(j) = dOi Vj^T (Br x Bc).",
    "    On chip, compute dSij(j) = Pij(j) o (dPij(j) - Di) (Br x Bc).",
    "    Load dQi from HBM to SRAM, then on chip, update dQi <- dQi + dSij(j) Kj (Br x d), and write back to HBM.",
    "    On chip, compute dKj <- dKj + dSij(j)^T Qi (Bc x d).",
    "  end for",
    "  Write dKj, dVj to HBM.",
    "end for",
    "Return dQ, dK, dV.",
};

const attn_algo_def attn_algo_flash2 = {
    .name = "flash2",
    .alloc_saved = alloc_saved,
    .forward = {.run = forward, .plan = fwd_plan, .closed_form = fwd_io, .rule = BLOCK_RULE_Q_OUTER,
                .code = {"FlashAttention-2 forward (Dao 2023, Algorithm 1)",
                         "Matrices Q, K, V (N x d) in HBM, block sizes Bc, Br.", fa2_alg1,
                         sizeof fa2_alg1 / sizeof fa2_alg1[0]},
                .window = true},
    /* the backward's outer loop walks key blocks j, so Kj, Vj are resident: the paper's rule */
    .backward = {.run = backward, .plan = bwd_plan, .sweeps = bwd_sweeps, .closed_form = bwd_io,
                 .rule = BLOCK_RULE_KV_OUTER,
                 .code = {"FlashAttention-2 backward (Dao 2023, Algorithm 2)",
                          "Matrices Q, K, V, O, dO (N x d) in HBM, vector L (N) in HBM, block sizes Bc, Br.",
                          fa2_alg2, sizeof fa2_alg2 / sizeof fa2_alg2[0]}},
};
