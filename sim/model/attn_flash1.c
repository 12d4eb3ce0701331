/* attn_flash1.c — FlashAttention (Dao et al. 2022): the forward pass, Algorithm 1, and the backward pass,
 * Algorithm 4 without dropout, line by line; their SRAM plans and closed-form ledgers.
 *
 * Forward: the outer loop walks key/value blocks j, the inner loop query blocks i. The running output Oi and the
 * running statistics li, mi live in HBM: every visited tile reads them (line 8) and writes them back (lines 12–13).
 * So Oi is rounded to the storage dtype after every key block: that is FlashAttention-1's real precision cost in
 * fp16, and it is kept. Heads run in parallel; the j loop carries Oi through HBM, so one head is one piece of work.
 *
 * Causal: tile (i, j) whose first key j*Bc is after its last query min((i+1)Br, N) - 1 is skipped (no loads, no
 * stores). Inside a visited tile, masked scores are -inf; a row masked entirely there has m~ij = -inf, and then 0
 * is subtracted instead (attn_sub: e^(-inf - 0) = 0), so e^(-inf - (-inf)) is never evaluated and no NaN appears.
 *
 * Backward: recompute Pij tile by tile from Qi, Kj and the saved m, l, so nothing N x N reaches HBM; the price is
 * dQ, accumulated across key blocks by read-modify-write in HBM. Arithmetic is float on SRAM tiles; stores round to
 * the tensor's dtype, so in fp16/bf16 dQ is rounded once per read-modify-write. Heads run in parallel (over (b, h)
 * only): each head's dQ is accumulated across its key blocks j, so running j in parallel would race on dQi.
 */
#include <string.h>

#include "attn_common.h"

/* ---- SRAM plans ----------------------------------------------------------------------------------------------- */

/* Buffers in allocation order; the code takes them by the same indices. */
enum { F_Kj, F_Vj, F_Qi, F_Oi, F_li, F_mi, F_Sij, F_mtij, F_ltij, F_mi_new, F_li_new, F_NBUF };
enum { B_Kj, B_Vj, B_dKj, B_dVj, B_Qi, B_Oi, B_dOi, B_dQi, B_li, B_mi, B_Sij, B_dPij, B_Di, B_NBUF };

/* Alg.1: tiles are copies of HBM (dt); scores and row statistics are fp32. */
static const attn_buf fwd_bufs[F_NBUF] = {
    [F_Kj] = {"Kj", 'c', 'd', ATTN_STORED},
    [F_Vj] = {"Vj", 'c', 'd', ATTN_STORED},
    [F_Qi] = {"Qi", 'r', 'd', ATTN_STORED},
    [F_Oi] = {"Oi", 'r', 'd', ATTN_STORED},
    [F_li] = {"li", 'r', '1', ATTN_FP32},
    [F_mi] = {"mi", 'r', '1', ATTN_FP32},
    [F_Sij] = {"Sij", 'r', 'c', ATTN_FP32},                         /* Sij, then P~ij in place */
    [F_mtij] = {"m~ij", 'r', '1', ATTN_FP32},
    [F_ltij] = {"l~ij", 'r', '1', ATTN_FP32},
    [F_mi_new] = {"mi_new", 'r', '1', ATTN_FP32},
    [F_li_new] = {"li_new", 'r', '1', ATTN_FP32},
};

static void fwd_plan(size_t Br, size_t Bc, size_t d, dtype_t dt, sram_plan *out)
{
    attn_plan_table(out, fwd_bufs, F_NBUF, Br, Bc, d, dt);
}

/* Alg.4: lines 7-8 (Kj, Vj, dKj~, dVj~), line 10 (Qi, Oi, dOi, dQi, li, mi), lines 11-20. */
static const attn_buf bwd_bufs[B_NBUF] = {
    ATTN_BWD_KV_BUFS,
    [B_Qi] = {"Qi", 'r', 'd', ATTN_STORED},
    [B_Oi] = {"Oi", 'r', 'd', ATTN_STORED},
    [B_dOi] = {"dOi", 'r', 'd', ATTN_STORED},
    [B_dQi] = {"dQi", 'r', 'd', ATTN_STORED},
    [B_li] = {"li", 'r', '1', ATTN_FP32},
    [B_mi] = {"mi", 'r', '1', ATTN_FP32},
    [B_Sij] = {"Sij", 'r', 'c', ATTN_FP32},                         /* Sij, then Pij in place */
    [B_dPij] = {"dPij", 'r', 'c', ATTN_FP32},                       /* dPij, then dSij in place */
    [B_Di] = {"Di", 'r', '1', ATTN_FP32},
};

static void bwd_plan(size_t Br, size_t Bc, size_t d, dtype_t dt, sram_plan *out)
{
    attn_plan_table(out, bwd_bufs, B_NBUF, Br, Bc, d, dt);
}

/* ---- forward: Algorithm 1 ------------------------------------------------------------------------------------- */

static void fwd_head(mem_t *m, const attn_params *p, attn_tensors *t, float *const *buf, size_t item)
{
    size_t b = item / p->H, h = item % p->H, N = p->N, d = p->d, Br = p->Br, Bc = p->Bc;
    size_t Tr = ceil_div(N, Br), Tc = ceil_div(N, Bc);
    hbm_mat Q = hbm_head(t->q, b, h), K = hbm_head(t->k, b, h), V = hbm_head(t->v, b, h),
            O = hbm_head(t->out, b, h), l = hbm_head(t->l, b, h), mm = hbm_head(t->m, b, h);
    float *Kj = buf[F_Kj], *Vj = buf[F_Vj], *Qi = buf[F_Qi], *Oi = buf[F_Oi], *li = buf[F_li], *mi = buf[F_mi],
          *Sij = buf[F_Sij], *mtij = buf[F_mtij], *ltij = buf[F_ltij], *mi_new = buf[F_mi_new],
          *li_new = buf[F_li_new];
    float scale = attn_scale(p);
    bool real = !mem_count_only(m);

    /* Alg.1 line 1: Br, Bc were set by attn_choose_blocks (Bc = ⌈M/4d⌉, Br = min(⌈M/4d⌉, d), fitted to M). */
    /* Alg.1 line 2: initialize O = (0)Nxd, l = (0)N, m = (-inf)N in HBM. */
    mem_note(m, "Alg.1 line 2: O = 0, l = 0, m = -inf in HBM (head b=%zu h=%zu)", b, h);
    hbm_fill_rows(m, O, 0, N, 0.0f, "O=0");
    hbm_fill_rows(m, l, 0, N, 0.0f, "l=0");
    hbm_fill_rows(m, mm, 0, N, -INFINITY, "m=-inf");

    /* Alg.1 lines 3-4: Q, O, l, m in Tr blocks of Br rows; K, V in Tc blocks of Bc rows (the last may be short). */
    for (size_t j = 0; j < Tc; j++) {                                   /* Alg.1 line 5 */
        size_t k0 = j * Bc, kc = min_size(Bc, N - k0);
        mem_note(m, "Alg.1 line 6: load K%zu, V%zu (rows %zu..%zu)", j, j, k0, k0 + kc - 1);
        hbm_load_rows(m, Kj, K, k0, kc, "Kj");
        hbm_load_rows(m, Vj, V, k0, kc, "Vj");
        for (size_t i = 0; i < Tr; i++) {                               /* Alg.1 line 7 */
            size_t q0 = i * Br, qr = min_size(Br, N - q0);
            if (attn_tile_skipped(p, i, j)) {                           /* causal: every key after every query */
                mem_step(m, (long)i, (long)j, ATTN_STEP_SKIP);
                continue;
            }
            mem_step(m, (long)i, (long)j, "Alg.1 lines 8-13");

            /* Alg.1 line 8: load Qi, Oi, li, mi from HBM to on-chip SRAM. */
            mem_note(m, "Alg.1 line 8: load Q%zu, O%zu, l%zu, m%zu (rows %zu..%zu)", i, i, i, i, q0, q0 + qr - 1);
            hbm_load_rows(m, Qi, Q, q0, qr, "Qi");
            hbm_load_rows(m, Oi, O, q0, qr, "Oi");
            hbm_load_rows(m, li, l, q0, qr, "li");
            hbm_load_rows(m, mi, mm, q0, qr, "mi");

            /* Alg.1 line 9: Sij = scale Qi Kj^T (Br x Bc), masked scores -inf. */
            if (real)
                attn_scores(Sij, Qi, Kj, qr, kc, d, scale, p->causal, q0, k0);
            mem_compute(m, "Alg.1 9: Sij = Qi Kj^T", 2 * (uint64_t)qr * kc * d + (uint64_t)qr * kc, 0);

            /* Alg.1 line 10: m~ij = rowmax(Sij), P~ij = exp(Sij - m~ij) (in place), l~ij = rowsum(P~ij). */
            if (real)
                for (size_t r = 0; r < qr; r++) {
                    mtij[r] = tile_row_max(Sij + r * kc, kc, -INFINITY);
                    ltij[r] = tile_exp_sub_sum(Sij + r * kc, kc, attn_sub(mtij[r]));
                }
            mem_compute(m, "Alg.1 10: m~ij P~ij l~ij", 3 * (uint64_t)qr * kc, (uint64_t)qr * kc);

            /* Alg.1 line 11: mi_new = max(mi, m~ij), li_new = e^(mi - mi_new) li + e^(m~ij - mi_new) l~ij.
             * Alg.1 line 12: Oi <- diag(li_new)^-1 (diag(li) e^(mi - mi_new) Oi + e^(m~ij - mi_new) P~ij Vj).
             * Both lines use the same two factors per row. Once li_new is known m~ij and l~ij are spent, so their
             * buffers take line 12's row factors: Oi = diag(li e^(mi - mi_new) / li_new) Oi
             * + diag(e^(m~ij - mi_new) / li_new) P~ij Vj (li_new = 0 only for a row with no unmasked key yet: 0). */
            if (real) {
                for (size_t r = 0; r < qr; r++) {
                    mi_new[r] = fmaxf(mi[r], mtij[r]);
                    float a = tile_exp1(mi[r] - attn_sub(mi_new[r])), e = tile_exp1(mtij[r] - attn_sub(mi_new[r]));
                    li_new[r] = a * li[r] + e * ltij[r];
                    mtij[r] = li_new[r] > 0 ? li[r] * a / li_new[r] : 0.0f;
                    ltij[r] = li_new[r] > 0 ? e / li_new[r] : 0.0f;
                }
                tile_pv_rescale(Sij, Vj, qr, kc, d, mtij, ltij, Oi);
            }
            mem_compute(m, "Alg.1 11: mi_new li_new", 6 * (uint64_t)qr, 2 * (uint64_t)qr);
            mem_rows(m, b, h, q0, qr, mi_new, li_new);                  /* for observers: the HTML replay */
            mem_compute(m, "Alg.1 12: P~ij Vj, new Oi", 2 * (uint64_t)qr * kc * d + 4 * (uint64_t)qr * d + qr, 0);
            mem_note(m, "Alg.1 lines 12-13: write O%zu, l%zu, m%zu back to HBM", i, i, i);
            hbm_store_rows(m, O, q0, qr, Oi, "Oi");                     /* rounded to the storage dtype */

            /* Alg.1 line 13: li <- li_new, mi <- mi_new, written to HBM. */
            hbm_store_rows(m, l, q0, qr, li_new, "li");
            hbm_store_rows(m, mm, q0, qr, mi_new, "mi");
        }
    }
}

static void forward(mem_t *m, const attn_params *p, attn_tensors *t)
{
    sram_plan plan;
    attn_need(t->m, "m", "flash1");
    attn_need(t->l, "l", "flash1");
    fwd_plan(p->Br, p->Bc, p->d, hbm_dtype(t->q), &plan);
    mem_phase(m, "forward");
    attn_run(m, p, t, &plan, p->B * p->H, fwd_head);
}

/* ---- backward: Algorithm 4 (no dropout) ----------------------------------------------------------------------- */

/* Alg.4 lines 10-22 on tile (i, j); lines 6-9 and 24 around it are attn_bwd_sweep's. */
static void bwd_tile(const attn_tile *x)
{
    mem_t *m = x->m;
    size_t b = x->b, h = x->h, r0 = x->r0, nr = x->nr, c0 = x->c0, nc = x->nc, d = x->p->d;
    float scale = x->scale;
    hbm_mat Q = hbm_head(x->t->q, b, h), O = hbm_head(x->t->out, b, h), dO = hbm_head(x->t->dout, b, h),
            dQ = hbm_head(x->t->dq, b, h), l = hbm_head(x->t->l, b, h), mm = hbm_head(x->t->m, b, h);
    float *const *buf = x->buf;
    float *Kj = buf[B_Kj], *Vj = buf[B_Vj], *dKj = buf[B_dKj], *dVj = buf[B_dVj], *Qi = buf[B_Qi], *Oi = buf[B_Oi],
          *dOi = buf[B_dOi], *dQi = buf[B_dQi], *li = buf[B_li], *mi = buf[B_mi], *Sij = buf[B_Sij],
          *dPij = buf[B_dPij], *Di = buf[B_Di];

    hbm_load_rows(m, Qi, Q, r0, nr, "Qi");                              /* line 10: Qi, Oi, dOi, dQi, li, mi */
    hbm_load_rows(m, Oi, O, r0, nr, "Oi");
    hbm_load_rows(m, dOi, dO, r0, nr, "dOi");
    hbm_load_rows(m, dQi, dQ, r0, nr, "dQi");
    hbm_load_rows(m, li, l, r0, nr, "li");
    hbm_load_rows(m, mi, mm, r0, nr, "mi");
    if (x->real) {
        attn_scores(Sij, Qi, Kj, nr, nc, d, scale, x->p->causal, r0, c0);   /* lines 11-12: Sij, masked */
        for (size_t r = 0; r < nr; r++)                                 /* line 13: */
            tile_exp_affine(Sij + r * nc, nc, 1.0f, mi[r], li[r]);      /* Pij = diag(li)^-1 exp(Sij - mi) */
        tile_atb_acc(dVj, Sij, dOi, nr, nc, d, 1.0f);                   /* line 16: dVj~ += Pij^T dOi */
        tile_qkt(dOi, Vj, nr, nc, d, 1.0f, dPij);                       /* line 17: dPij = dOi Vj^T */
        tile_rowdot(Di, dOi, Oi, nr, d);                                /* line 19: Di = rowsum(dOi o Oi) */
        tile_dsoftmax(dPij, Sij, Di, nr, nc);                           /* line 20: dSij = Pij o (dPij - Di) */
        tile_ab_acc(dQi, dPij, Kj, nr, nc, d, scale);                   /* line 21: dQi += scale dSij Kj */
        tile_atb_acc(dKj, dPij, Qi, nr, nc, d, scale);                  /* line 22: dKj~ += scale dSij^T Qi */
    }
    mem_compute(m, "Sij = scale Qi Kj^T; Pij", 2 * (uint64_t)nr * nc * d + 3 * (uint64_t)nr * nc, (uint64_t)nr * nc);
    mem_compute(m, "dVj += Pij^T dOi", 2 * (uint64_t)nr * nc * d, 0);
    mem_compute(m, "dPij = dOi Vj^T", 2 * (uint64_t)nr * nc * d, 0);
    mem_compute(m, "Di = rowsum(dOi o Oi)", 2 * (uint64_t)nr * d, 0);
    mem_compute(m, "dSij = Pij o (dPij - Di)", 2 * (uint64_t)nr * nc, 0);
    mem_compute(m, "dQi += scale dSij Kj", 2 * (uint64_t)nr * nc * d + (uint64_t)nr * d, 0);
    hbm_store_rows(m, dQ, r0, nr, dQi, "dQi");                           /* line 21: write dQi to HBM */
    mem_compute(m, "dKj += scale dSij^T Qi", 2 * (uint64_t)nr * nc * d + (uint64_t)nc * d, 0);
}

static void bwd_head(mem_t *m, const attn_params *p, attn_tensors *t, float *const *unused, size_t item)
{
    size_t b = item / p->H, h = item % p->H, N = p->N;
    (void)unused;
    /* Alg.4 line 5: dQ = 0, dK = 0, dV = 0 in HBM (dK, dV are overwritten at line 24; the paper zeroes them) */
    hbm_fill_rows(m, hbm_head(t->dq, b, h), 0, N, 0.0f, "dQ = 0");
    hbm_fill_rows(m, hbm_head(t->dk, b, h), 0, N, 0.0f, "dK = 0");
    hbm_fill_rows(m, hbm_head(t->dv, b, h), 0, N, 0.0f, "dV = 0");
    sram_plan pl;
    bwd_plan(p->Br, p->Bc, p->d, hbm_dtype(t->q), &pl);
    attn_bwd_sweep(m, p, t, item, &pl, bwd_tile);                       /* Alg.4 lines 6-24 */
}

static void backward(mem_t *m, const attn_params *p, attn_tensors *t)
{
    attn_need(t->m, "m", "flash1");
    attn_need(t->l, "l", "flash1");
    mem_phase(m, "backward");
    mem_note(m, "Alg.4: recompute Pij from Qi, Kj and the saved m, l; dQ accumulated in HBM across key blocks");
    attn_run(m, p, t, NULL, p->B * p->H, bwd_head);
}

/* ---- closed forms (one head) ---------------------------------------------------------------------------------- */

/* Line 2 writes O, l, m once (Nd + 2N). Line 6 loads each Kj, Vj once (Nd each). Each visited tile loads Qi, Oi,
 * li, mi (line 8) and writes Oi, li, mi (lines 12-13): rows-of-Qi * (d, d, 1, 1) each way; R such rows in all. */
static void fwd_io(const attn_params *p, attn_io *io)
{
    const uint64_t N = p->N, d = p->d, Nd = N * d;
    uint64_t R, C, E;
    attn_kv_io(p, io, &R, &C, &E);
    /* Work over the E scores and R rows of the visited tiles: lines 9 and 12 two products (4Ed); line 9's scale (E);
     * line 10 max, subtract, sum (3E, E exps); line 11 max, two subtracts, two multiplies, an add per row (6R, 2R
     * exps); line 12 the rescale of both terms, the add and the divide by li_new (4Rd) and li e^(mi - mi_new) (R). */
    io->flops_mm = attn_mul(4 * E, d);
    io->flops_ew = 4 * E + 7 * R + attn_mul(4 * R, d);
    io->exps = E + 2 * R;
    attn_io_add(io, "Q", R * d, 0);
    attn_io_add(io, "K", Nd, 0);
    attn_io_add(io, "V", Nd, 0);
    attn_io_add(io, "O", R * d, Nd + R * d);
    attn_io_add(io, "m", R, N + R);
    attn_io_add(io, "l", R, N + R);
}

static void bwd_io(const attn_params *p, attn_io *io)
{
    const uint64_t N = p->N, d = p->d, Nd = attn_mul(N, d);
    uint64_t R, C, E;
    attn_kv_io(p, io, &R, &C, &E);
    /* Work per visited tile: five products (S again, dV, dP, dQ, dK: 10Ed); S's scale, P = exp(S - m) / l's subtract
     * and divide, dS's subtract and multiply (5E, E exps); D recomputed on every tile (2Rd); the scale of dQ's and
     * dK's products (Rd + Cd). */
    io->flops_mm = attn_mul(10 * E, d);
    io->flops_ew = 5 * E + attn_mul(3 * R, d) + attn_mul(C, d);
    io->exps = E;
    /* line 5: dQ, dK, dV = 0 in HBM */
    attn_io_add(io, "dQ", 0, Nd);
    attn_io_add(io, "dK", 0, Nd);
    attn_io_add(io, "dV", 0, Nd);
    /* line 7: Kj, Vj once per key block: N d each */
    attn_io_add(io, "K", Nd, 0);
    attn_io_add(io, "V", Nd, 0);
    /* line 10, per visited tile: Qi, Oi, dOi, dQi (r_i d each), li, mi (r_i each): R d and R in all */
    attn_io_add(io, "Q", attn_mul(R, d), 0);
    attn_io_add(io, "O", attn_mul(R, d), 0);
    attn_io_add(io, "dO", attn_mul(R, d), 0);
    attn_io_add(io, "dQ", attn_mul(R, d), 0);
    attn_io_add(io, "l", R, 0);
    attn_io_add(io, "m", R, 0);
    /* line 21, per visited tile: write dQi (r_i d) */
    attn_io_add(io, "dQ", 0, attn_mul(R, d));
    /* line 24: write dKj, dVj once per key block */
    attn_io_add(io, "dK", 0, Nd);
    attn_io_add(io, "dV", 0, Nd);
}

/* ---- the row -------------------------------------------------------------------------------------------------- */

static void alloc_saved(mem_t *m, const attn_params *p, dtype_t dt, attn_tensors *t)
{
    (void)dt;   /* the running statistics are fp32 in every storage dtype */
    t->m = hbm_alloc_bhn(m, "m", DTYPE_FP32, p->B, p->H, p->N);
    t->l = hbm_alloc_bhn(m, "l", DTYPE_FP32, p->B, p->H, p->N);
}

static const char *const alg1[] = {
    "Set block sizes Bc = ⌈M/4d⌉, Br = min(⌈M/4d⌉, d).",
    "Initialize O = (0)Nxd, l = (0)N, m = (-inf)N in HBM.",
    "Divide Q into Tr = ⌈N/Br⌉ blocks Q1..QTr of Br x d each, and K, V into Tc = ⌈N/Bc⌉ blocks K1..KTc, V1..VTc "
    "of Bc x d each.",
    "Divide O into Tr blocks O1..OTr of Br x d each, l into Tr blocks l1..lTr and m into Tr blocks m1..mTr of Br "
    "each.",
    "for 1 <= j <= Tc do",
    "  Load Kj, Vj from HBM to on-chip SRAM.",
    "  for 1 <= i <= Tr do",
    "    Load Qi, Oi, li, mi from HBM to on-chip SRAM.",
    "    On chip, compute Sij = Qi Kj^T (Br x Bc).",
    "    On chip, compute m~ij = rowmax(Sij), P~ij = exp(Sij - m~ij) (pointwise), l~ij = rowsum(P~ij).",
    "    On chip, compute mi_new = max(mi, m~ij), li_new = e^(mi - mi_new) li + e^(m~ij - mi_new) l~ij.",
    "    Write Oi <- diag(li_new)^-1 (diag(li) e^(mi - mi_new) Oi + e^(m~ij - mi_new) P~ij Vj) to HBM.",
    "    Write li <- li_new, mi <- mi_new to HBM.",
    "  end for",
    "end for",
    "Return O.",
};

static const char *const alg4[] = {
    "Set the pseudo-random number generator state to R. (no dropout here: nothing to set)",
    "Set block sizes Bc = ⌈M/4d⌉, Br = min(⌈M/4d⌉, d).",
    "Divide Q into Tr = ⌈N/Br⌉ blocks Q1..QTr of Br x d each, and K, V into Tc = ⌈N/Bc⌉ blocks K1..KTc, V1..VTc "
    "of Bc x d each.",
    "Divide O, dO into Tr blocks of Br x d each, and l, m into Tr blocks of Br each.",
    "Initialize dQ = (0)Nxd in HBM, divided into Tr blocks dQ1..dQTr; initialize dK = (0)Nxd, dV = (0)Nxd in HBM, "
    "divided into Tc blocks.",
    "for 1 <= j <= Tc do",
    "  Load Kj, Vj from HBM to on-chip SRAM.",
    "  Initialize dKj~ = (0)Bcxd, dVj~ = (0)Bcxd on SRAM.",
    "  for 1 <= i <= Tr do",
    "    Load Qi, Oi, dOi, dQi, li, mi from HBM to on-chip SRAM.",
    "    On chip, compute Sij = tau Qi Kj^T (Br x Bc).",
    "    On chip, compute Sij_masked = MASK(Sij).",
    "    On chip, compute Pij = diag(li)^-1 exp(Sij_masked - mi).",
    "    On chip, compute the dropout mask Zij. (no dropout here: Zij = 1)",
    "    On chip, compute Pij_dropped = Pij o Zij. (= Pij)",
    "    On chip, compute dVj~ <- dVj~ + (Pij_dropped)^T dOi (Bc x d).",
    "    On chip, compute dPij_dropped = dOi Vj^T (Br x Bc).",
    "    On chip, compute dPij = dPij_dropped o Zij. (= dPij_dropped)",
    "    On chip, compute Di = rowsum(dOi o Oi) (Br).",
    "    On chip, compute dSij = Pij o (dPij - Di) (Br x Bc).",
    "    Write dQi <- dQi + tau dSij Kj (Br x d) to HBM.",
    "    On chip, compute dKj~ <- dKj~ + tau dSij^T Qi (Bc x d).",
    "  end for",
    "  Write dKj <- dKj~, dVj <- dVj~ to HBM.",
    "end for",
    "Return dQ, dK, dV.",
};

const attn_algo_def attn_algo_flash1 = {
    .name = "flash1",
    .alloc_saved = alloc_saved,
    .forward = {.run = forward, .plan = fwd_plan, .closed_form = fwd_io, .rule = BLOCK_RULE_KV_OUTER,
                .code = {"FlashAttention forward (Dao et al. 2022, Algorithm 1)",
                         "Matrices Q, K, V (N x d) in HBM, on-chip SRAM of size M.", alg1,
                         sizeof alg1 / sizeof alg1[0]}},
    .backward = {.run = backward, .plan = bwd_plan, .closed_form = bwd_io, .rule = BLOCK_RULE_KV_OUTER,
                 .code = {"FlashAttention backward (Dao et al. 2022, Algorithm 4, without dropout)",
                          "Matrices Q, K, V, O, dO (N x d) in HBM, vectors l, m (N) in HBM, on-chip SRAM of size M, "
                          "softmax scaling constant tau, masking function MASK.", alg4, sizeof alg4 / sizeof alg4[0]}},
};
