/* attn_standard.c — standard attention, honest under the SRAM limit: the FlashAttention paper's Algorithm 0
 * (forward) and Algorithm 3 (backward), their SRAM plans and closed-form ledgers.
 *
 * Forward: Algorithm 0 as three kernels, each tiled to fit in SRAM, each handing its result to the next through HBM
 * (attention.h lists each phase's buffers):
 *   phase "S"        S = scale Q K^T tile by tile (Qi, Kj -> Sij), written to HBM (B, H, N, N) in the storage dtype,
 *                    like PyTorch's fp16 matmul output
 *   phase "softmax"  each row of S read back, P = softmax(S) written; causal masking is applied here
 *   phase "PV"       O = P V tile by tile (Pij, Vj -> Oi)
 * A row of S fits in the softmax's buffer when N <= Br*Bc: one read. Otherwise safe softmax streams it in chunks,
 * three passes (max, sum, normalize), and reads S three times. No causal skipping: standard attention still
 * materializes and reads all N^2 scores, masked or not. S is freed after the softmax (so mem_hbm_peak is honest);
 * P stays in HBM for the backward pass.
 *
 * Backward: every line of Algorithm 3 is its own pass over tiles of Br query rows x Bc key rows, and everything
 * N x N (P, dP, dS) goes through HBM. Heads run in parallel.
 */
#include <string.h>

#include "attn_common.h"

/* ---- SRAM plans ----------------------------------------------------------------------------------------------- */

/* The forward phases' buffers, in allocation order; the code takes them by the same indices. */
enum { S_Qi, S_Kj, S_Sij };
enum { SM_Si };
enum { PV_Pij, PV_Vj, PV_Oi };

const char *const attn_standard_phase[ATTN_STANDARD_PHASES] = {"S", "softmax", "PV"};

void attn_standard_plan(int phase, size_t Br, size_t Bc, size_t d, dtype_t dt, sram_plan *out)
{
    *out = (sram_plan){.n = 0};
    switch (phase) {
    case 0:   /* S = scale Q K^T, tile by tile; Sij accumulates in fp32 and is stored rounded to dt */
        attn_plan_add(out, S_Qi, "Qi", Br, d, dt);
        attn_plan_add(out, S_Kj, "Kj", Bc, d, dt);
        attn_plan_add(out, S_Sij, "Sij", Br, Bc, DTYPE_FP32);
        break;
    case 1:   /* softmax: a row of S, or a chunk of Br*Bc of one, in fp32 (the row max and sum are registers) */
        attn_plan_add(out, SM_Si, "Si", Br, Bc, DTYPE_FP32);
        break;
    case 2:   /* O = P V, tile by tile; Oi accumulates in fp32 */
        attn_plan_add(out, PV_Pij, "Pij", Br, Bc, dt);
        attn_plan_add(out, PV_Vj, "Vj", Bc, d, dt);
        attn_plan_add(out, PV_Oi, "Oi", Br, d, DTYPE_FP32);
        break;
    default:
        fl_internal("standard attention has no phase %d", phase);
    }
}

/* Algorithm 3's five lines are five separate passes, each with its own buffers; tiles loaded from HBM keep the
 * storage dtype, tiles computed on chip and the accumulators are fp32. Lines 1, 4 and 5 share one shape: an
 * accumulator, a tile of an N x N tensor, and a block of rows of an N x d one. */
#define BWD_LINES 5
enum { ACC, TILE, ROWS };                     /* lines 1, 4, 5 */
enum { L2_dOi, L2_Vj, L2_dPij };              /* line 2 */
enum { L3_Di, L3_Pij, L3_dPij, L3_dSij };     /* line 3 */

/* Each line's buffers, at the indices above. */
static const attn_buf bwd_bufs[BWD_LINES][4] = {
    {[ACC] = {"dVj", 'c', 'd', ATTN_FP32}, [TILE] = {"Pij", 'r', 'c', ATTN_STORED},
     [ROWS] = {"dOi", 'r', 'd', ATTN_STORED}},
    {[L2_dOi] = {"dOi", 'r', 'd', ATTN_STORED}, [L2_Vj] = {"Vj", 'c', 'd', ATTN_STORED},
     [L2_dPij] = {"dPij", 'r', 'c', ATTN_FP32}},
    {[L3_Di] = {"Di", 'r', '1', ATTN_FP32}, [L3_Pij] = {"Pij", 'r', 'c', ATTN_STORED},
     [L3_dPij] = {"dPij", 'r', 'c', ATTN_STORED}, [L3_dSij] = {"dSij", 'r', 'c', ATTN_FP32}},
    {[ACC] = {"dQi", 'r', 'd', ATTN_FP32}, [TILE] = {"dSij", 'r', 'c', ATTN_STORED},
     [ROWS] = {"Kj", 'c', 'd', ATTN_STORED}},
    {[ACC] = {"dKj", 'c', 'd', ATTN_FP32}, [TILE] = {"dSij", 'r', 'c', ATTN_STORED},
     [ROWS] = {"Qi", 'r', 'd', ATTN_STORED}},
};

static void bwd_line_plan(int line, size_t Br, size_t Bc, size_t d, dtype_t dt, sram_plan *pl)
{
    if (line < 1 || line > BWD_LINES)
        fl_internal("standard attention's backward has no line %d", line);
    attn_plan_table(pl, bwd_bufs[line - 1], line == 3 ? 4 : 3, Br, Bc, d, dt);
}

/* Each phase (forward) or line (backward) is a sweep of its own, with its own buffers. */
static size_t fwd_sweeps(size_t Br, size_t Bc, size_t d, dtype_t dt, sram_plan *out)
{
    for (int ph = 0; ph < ATTN_STANDARD_PHASES; ph++)
        attn_standard_plan(ph, Br, Bc, d, dt, &out[ph]);
    return ATTN_STANDARD_PHASES;
}

static size_t bwd_sweeps(size_t Br, size_t Bc, size_t d, dtype_t dt, sram_plan *out)
{
    for (int line = 1; line <= BWD_LINES; line++)
        bwd_line_plan(line, Br, Bc, d, dt, &out[line - 1]);
    return BWD_LINES;
}

/* The peak is the hungriest of the sweeps (the first of equals). */
static void peak(size_t (*sweeps)(size_t, size_t, size_t, dtype_t, sram_plan *), size_t Br, size_t Bc, size_t d,
                 dtype_t dt, sram_plan *out)
{
    sram_plan x[ATTN_MAX_SWEEPS];
    size_t n = sweeps(Br, Bc, d, dt, x);
    *out = (sram_plan){.n = 0};
    for (size_t k = 0; k < n; k++)
        attn_plan_max(out, &x[k]);
}

static void fwd_plan(size_t Br, size_t Bc, size_t d, dtype_t dt, sram_plan *out)
{
    peak(fwd_sweeps, Br, Bc, d, dt, out);
}

static void bwd_plan(size_t Br, size_t Bc, size_t d, dtype_t dt, sram_plan *out)
{
    peak(bwd_sweeps, Br, Bc, d, dt, out);
}

/* ---- forward: Algorithm 0 ------------------------------------------------------------------------------------- */

/* Phase S, one head: for each Qi, stream every Kj; Sij = scale Qi Kj^T in fp32, stored rounded to the dtype. */
static void s_head(mem_t *m, const attn_params *p, attn_tensors *t, float *const *buf, size_t item)
{
    size_t b = item / p->H, h = item % p->H, N = p->N, d = p->d;
    hbm_mat Q = hbm_head(t->q, b, h), K = hbm_head(t->k, b, h), S = hbm_head(t->S, b, h);
    float *Qi = buf[S_Qi], *Kj = buf[S_Kj], *Sij = buf[S_Sij];
    float scale = attn_scale(p);
    bool real = !mem_count_only(m);

    for (size_t i = 0, q0 = 0; q0 < N; i++, q0 += p->Br) {
        size_t qr = min_size(p->Br, N - q0);
        hbm_load_rows(m, Qi, Q, q0, qr, "Qi");
        for (size_t j = 0, k0 = 0; k0 < N; j++, k0 += p->Bc) {
            size_t kc = min_size(p->Bc, N - k0);
            mem_step(m, (long)i, (long)j, "S tile");
            hbm_load_rows(m, Kj, K, k0, kc, "Kj");
            if (real)   /* no mask here: the softmax applies it */
                attn_scores(Sij, Qi, Kj, qr, kc, d, scale, false, q0, k0);
            mem_compute(m, "Sij = scale Qi Kj^T", 2 * (uint64_t)qr * kc * d + (uint64_t)qr * kc, 0);
            hbm_store_tile(m, S, q0, qr, k0, kc, Sij, "Sij");
        }
    }
}

/* How many of the chunk's keys c0 .. c0+cc-1 are among the row's first `keys` (the unmasked ones). */
static size_t unmasked(size_t c0, size_t cc, size_t keys) { return keys <= c0 ? 0 : min_size(cc, keys - c0); }

/* Phase softmax, one head, row by row. Masked scores (key > query, causal) count as -inf. */
static void softmax_head(mem_t *m, const attn_params *p, attn_tensors *t, float *const *buf, size_t item)
{
    size_t b = item / p->H, h = item % p->H, N = p->N, C = p->Br * p->Bc;
    hbm_mat S = hbm_head(t->S, b, h), P = hbm_head(t->P, b, h);
    float *Si = buf[SM_Si];
    bool real = !mem_count_only(m);

    for (size_t q = 0; q < N; q++) {
        size_t keys = p->causal ? q + 1 : N;   /* unmasked keys of this row: the diagonal is never masked */
        if (N <= C) {
            /* The whole row fits: one read of S, one write of P. */
            hbm_load_tile(m, Si, S, q, 1, 0, N, "Si");
            if (real) {
                float mx = tile_row_max(Si, keys, -INFINITY);
                float sum = tile_exp_sub_sum(Si, keys, mx);   /* mx is subtracted only for stability */
                memset(Si + keys, 0, (N - keys) * sizeof *Si);
                tile_div(Si, keys, sum);
            }
            mem_compute(m, "P = softmax(S) row", 4 * (uint64_t)keys, keys);
            hbm_store_tile(m, P, q, 1, 0, N, Si, "Pi");
            continue;
        }
        /* The row does not fit: safe softmax in three streamed passes over chunks of C scores. */
        float mx = -INFINITY, sum = 0;
        mem_note(m, "softmax row %zu: N=%zu > Br*Bc=%zu, 3 passes (max, sum, normalize)", q, N, C);
        for (size_t c0 = 0; c0 < N; c0 += C) {                   /* pass 1: the row max */
            size_t cc = min_size(C, N - c0);
            hbm_load_tile(m, Si, S, q, 1, c0, cc, "Si");
            if (real)
                mx = tile_row_max(Si, unmasked(c0, cc, keys), mx);
            mem_compute(m, "max S", unmasked(c0, cc, keys), 0);
        }
        for (size_t c0 = 0; c0 < N; c0 += C) {                   /* pass 2: the sum of exponentials */
            size_t cc = min_size(C, N - c0);
            hbm_load_tile(m, Si, S, q, 1, c0, cc, "Si");
            if (real)   /* in place: this copy of the chunk is not needed again */
                sum += tile_exp_sub_sum(Si, unmasked(c0, cc, keys), mx);
            mem_compute(m, "sum exp(S - max)", 2 * unmasked(c0, cc, keys), unmasked(c0, cc, keys));
        }
        for (size_t c0 = 0; c0 < N; c0 += C) {                   /* pass 3: normalize and write P */
            size_t cc = min_size(C, N - c0);
            hbm_load_tile(m, Si, S, q, 1, c0, cc, "Si");
            if (real) {
                size_t u = unmasked(c0, cc, keys);
                tile_exp_affine(Si, u, 1.0f, mx, sum);
                memset(Si + u, 0, (cc - u) * sizeof *Si);
            }
            mem_compute(m, "P = exp(S - max) / sum", 2 * unmasked(c0, cc, keys), unmasked(c0, cc, keys));
            hbm_store_tile(m, P, q, 1, c0, cc, Si, "Pi");
        }
    }
}

/* Phase PV, one head: for each query block, Oi = sum over j of Pij Vj in fp32, written once. */
static void pv_head(mem_t *m, const attn_params *p, attn_tensors *t, float *const *buf, size_t item)
{
    size_t b = item / p->H, h = item % p->H, N = p->N, d = p->d;
    hbm_mat P = hbm_head(t->P, b, h), V = hbm_head(t->v, b, h), O = hbm_head(t->out, b, h);
    float *Pij = buf[PV_Pij], *Vj = buf[PV_Vj], *Oi = buf[PV_Oi];
    bool real = !mem_count_only(m);

    for (size_t i = 0, q0 = 0; q0 < N; i++, q0 += p->Br) {
        size_t qr = min_size(p->Br, N - q0);
        if (real)
            for (size_t x = 0; x < qr * d; x++)
                Oi[x] = 0;
        for (size_t j = 0, k0 = 0; k0 < N; j++, k0 += p->Bc) {
            size_t kc = min_size(p->Bc, N - k0);
            mem_step(m, (long)i, (long)j, "PV tile");
            hbm_load_tile(m, Pij, P, q0, qr, k0, kc, "Pij");
            hbm_load_rows(m, Vj, V, k0, kc, "Vj");
            if (real)   /* the tile's kc keys summed in key order, then added to Oi */
                tile_pv_acc(Pij, Vj, qr, kc, d, NULL, Oi);
            mem_compute(m, "Oi += Pij Vj", 2 * (uint64_t)qr * kc * d, 0);
        }
        hbm_store_rows(m, O, q0, qr, Oi, "Oi");
    }
}

static void forward(mem_t *m, const attn_params *p, attn_tensors *t)
{
    static const attn_item_fn phase_fn[ATTN_STANDARD_PHASES] = {s_head, softmax_head, pv_head};
    dtype_t dt = hbm_dtype(t->q);
    size_t heads = p->B * p->H;

    attn_need(t->P, "P", "standard");
    t->S = hbm_alloc_bhnn(m, "S", dt, p->B, p->H, p->N);
    for (int ph = 0; ph < ATTN_STANDARD_PHASES; ph++) {
        sram_plan plan;
        attn_standard_plan(ph, p->Br, p->Bc, p->d, dt, &plan);
        mem_phase(m, attn_standard_phase[ph]);
        mem_note(m, ph == 0   ? "Alg.0 line 1: load Q, K by blocks, compute S = QK^T, write S to HBM"
                    : ph == 1 ? "Alg.0 line 2: read S, compute P = softmax(S), write P to HBM"
                              : "Alg.0 line 3: load P and V by blocks, compute O = PV, write O to HBM");
        attn_run(m, p, t, &plan, heads, phase_fn[ph]);
        if (ph == 1) {
            hbm_free(m, t->S);   /* S is dead once P exists */
            t->S = NULL;
        }
    }
}

/* ---- backward: Algorithm 3 ------------------------------------------------------------------------------------ */

/* Alg.3 lines 1, 4 and 5: an fp32 accumulator X for one block, summed over the tiles of its block column
 * (by_key: X = dVj or dKj, X += alpha Aij^T Bi over i) or block row (X = dQi, X += alpha Aij Bj over j), then
 * written once. A is N x N (P or dS), B is N x d (dO, K or Q). */
static void accumulate(mem_t *m, const attn_params *p, int line, hbm_mat A, hbm_mat B, hbm_mat X, float alpha,
                       bool by_key, const char *what)
{
    size_t N = p->N, d = p->d, Br = p->Br, Bc = p->Bc, Tr = ceil_div(N, Br), Tc = ceil_div(N, Bc);
    bool real = !mem_count_only(m);
    sram_plan pl;
    float *buf[3];
    bwd_line_plan(line, Br, Bc, d, hbm_dtype(A.t), &pl);
    attn_plan_alloc(m, &pl, buf);
    float *acc = buf[ACC], *Aij = buf[TILE], *Bk = buf[ROWS];
    size_t To = by_key ? Tc : Tr, Ti = by_key ? Tr : Tc, Bo = by_key ? Bc : Br;
    for (size_t o = 0; o < To; o++) {
        if (real)
            memset(acc, 0, Bo * d * sizeof *acc);
        for (size_t in = 0; in < Ti; in++) {
            size_t i = by_key ? in : o, j = by_key ? o : in;
            size_t r0 = i * Br, nr = min_size(Br, N - r0), c0 = j * Bc, nc = min_size(Bc, N - c0);
            mem_step(m, (long)i, (long)j, what);
            hbm_load_tile(m, Aij, A, r0, nr, c0, nc, pl.buf[TILE].name);
            if (by_key)
                hbm_load_rows(m, Bk, B, r0, nr, pl.buf[ROWS].name);
            else
                hbm_load_rows(m, Bk, B, c0, nc, pl.buf[ROWS].name);
            if (real && by_key)
                tile_atb_acc(acc, Aij, Bk, nr, nc, d, alpha);
            else if (real)
                tile_ab_acc(acc, Aij, Bk, nr, nc, d, alpha);
            mem_compute(m, what, 2 * (uint64_t)nr * nc * d + (line == 1 ? 0 : (uint64_t)(by_key ? nc : nr) * d), 0);
        }
        hbm_store_rows(m, X, o * Bo, min_size(Bo, N - o * Bo), acc, pl.buf[ACC].name);
    }
    attn_plan_free(m, &pl, buf);
}

/* Alg.3 line 1: load P, dO by blocks, compute dV = P^T dO, write dV. */
static void line1(mem_t *m, const attn_params *p, attn_tensors *t, float *const *unused, size_t item)
{
    size_t b = item / p->H, h = item % p->H;
    (void)unused;
    accumulate(m, p, 1, hbm_head(t->P, b, h), hbm_head(t->dout, b, h), hbm_head(t->dv, b, h), 1.0f, true,
               "dVj += Pij^T dOi");
}

/* Alg.3 line 2: load dO, V by blocks, compute dP = dO V^T, write dP. */
static void line2(mem_t *m, const attn_params *p, attn_tensors *t, float *const *unused, size_t item)
{
    size_t b = item / p->H, h = item % p->H, N = p->N, d = p->d, Br = p->Br, Bc = p->Bc;
    bool real = !mem_count_only(m);
    hbm_mat dO = hbm_head(t->dout, b, h), V = hbm_head(t->v, b, h), dP = hbm_head(t->dP, b, h);
    sram_plan pl;
    float *buf[3];
    (void)unused;
    bwd_line_plan(2, Br, Bc, d, hbm_dtype(t->q), &pl);
    attn_plan_alloc(m, &pl, buf);
    float *dOi = buf[L2_dOi], *Vj = buf[L2_Vj], *dPij = buf[L2_dPij];
    for (size_t i = 0, r0 = 0; r0 < N; i++, r0 += Br) {
        size_t nr = min_size(Br, N - r0);
        hbm_load_rows(m, dOi, dO, r0, nr, "dOi");
        for (size_t j = 0, c0 = 0; c0 < N; j++, c0 += Bc) {
            size_t nc = min_size(Bc, N - c0);
            mem_step(m, (long)i, (long)j, "dPij = dOi Vj^T");
            hbm_load_rows(m, Vj, V, c0, nc, "Vj");
            if (real)
                tile_qkt(dOi, Vj, nr, nc, d, 1.0f, dPij);
            mem_compute(m, "dPij = dOi Vj^T", 2 * (uint64_t)nr * nc * d, 0);
            hbm_store_tile(m, dP, r0, nr, c0, nc, dPij, "dPij");
        }
    }
    attn_plan_free(m, &pl, buf);
}

/* Alg.3 line 3: read P, dP, compute dS_ij = P_ij (dP_ij - sum_l P_il dP_il), write dS. When a row of P does not fit
 * in SRAM (Tc > 1), each block of rows takes two passes: the row sums D_i first, then dS. When it fits (Tc = 1), the
 * tiles of pass 1 are still resident and pass 2 loads nothing. */
static void line3(mem_t *m, const attn_params *p, attn_tensors *t, float *const *unused, size_t item)
{
    size_t b = item / p->H, h = item % p->H, N = p->N, Br = p->Br, Bc = p->Bc, Tc = ceil_div(N, Bc);
    bool real = !mem_count_only(m);
    hbm_mat P = hbm_head(t->P, b, h), dP = hbm_head(t->dP, b, h), dS = hbm_head(t->dS, b, h);
    sram_plan pl;
    float *buf[4];
    (void)unused;
    bwd_line_plan(3, Br, Bc, p->d, hbm_dtype(t->q), &pl);
    attn_plan_alloc(m, &pl, buf);
    float *Di = buf[L3_Di], *Pij = buf[L3_Pij], *dPij = buf[L3_dPij], *dSij = buf[L3_dSij];
    for (size_t i = 0, r0 = 0; r0 < N; i++, r0 += Br) {
        size_t nr = min_size(Br, N - r0);
        if (real)
            memset(Di, 0, Br * sizeof *Di);
        for (size_t j = 0, c0 = 0; c0 < N; j++, c0 += Bc) {   /* pass 1: D_i = sum_j P_ij dP_ij */
            size_t nc = min_size(Bc, N - c0);
            mem_step(m, (long)i, (long)j, "Di += rowsum(Pij o dPij)");
            hbm_load_tile(m, Pij, P, r0, nr, c0, nc, "Pij");
            hbm_load_tile(m, dPij, dP, r0, nr, c0, nc, "dPij");
            if (real)
                for (size_t r = 0; r < nr; r++)
                    Di[r] += tile_dot(Pij + r * nc, dPij + r * nc, nc);
            mem_compute(m, "Di += rowsum(Pij o dPij)", 2 * (uint64_t)nr * nc, 0);
        }
        for (size_t j = 0, c0 = 0; c0 < N; j++, c0 += Bc) {   /* pass 2: dS_ij = P_ij o (dP_ij - D_i) */
            size_t nc = min_size(Bc, N - c0);
            mem_step(m, (long)i, (long)j, "dSij = Pij o (dPij - Di)");
            if (Tc > 1) {   /* a row that fits is still in SRAM from pass 1 */
                hbm_load_tile(m, Pij, P, r0, nr, c0, nc, "Pij");
                hbm_load_tile(m, dPij, dP, r0, nr, c0, nc, "dPij");
            }
            if (real) {
                memcpy(dSij, dPij, nr * nc * sizeof *dSij);
                tile_dsoftmax(dSij, Pij, Di, nr, nc);
            }
            mem_compute(m, "dSij = Pij o (dPij - Di)", 2 * (uint64_t)nr * nc, 0);
            hbm_store_tile(m, dS, r0, nr, c0, nc, dSij, "dSij");
        }
    }
    attn_plan_free(m, &pl, buf);
}

/* Alg.3 line 4: load dS and K by blocks, compute dQ = scale * dS K, write dQ. */
static void line4(mem_t *m, const attn_params *p, attn_tensors *t, float *const *unused, size_t item)
{
    size_t b = item / p->H, h = item % p->H;
    (void)unused;
    accumulate(m, p, 4, hbm_head(t->dS, b, h), hbm_head(t->k, b, h), hbm_head(t->dq, b, h), attn_scale(p), false,
               "dQi += scale dSij Kj");
}

/* Alg.3 line 5: load dS and Q by blocks, compute dK = scale * dS^T Q, write dK. */
static void line5(mem_t *m, const attn_params *p, attn_tensors *t, float *const *unused, size_t item)
{
    size_t b = item / p->H, h = item % p->H;
    (void)unused;
    accumulate(m, p, 5, hbm_head(t->dS, b, h), hbm_head(t->q, b, h), hbm_head(t->dk, b, h), attn_scale(p), true,
               "dKj += scale dSij^T Qi");
}

static void backward(mem_t *m, const attn_params *p, attn_tensors *t)
{
    /* The ledger's phases, one per line of Alg.3 (the forward's are "S", "softmax", "PV"). */
    static const char *const phase[BWD_LINES] = {"dV", "dP", "dS", "dQ", "dK"};
    static const attn_item_fn line[BWD_LINES] = {line1, line2, line3, line4, line5};
    static const char *const what[BWD_LINES] = {
        "Alg.3 line 1: load P, dO by blocks, compute dV = P^T dO, write dV",
        "Alg.3 line 2: load dO, V by blocks, compute dP = dO V^T, write dP (N x N)",
        "Alg.3 line 3: read P, dP, compute D = rowsum(P o dP) and dS = P o (dP - D), write dS (N x N)",
        "Alg.3 line 4: load dS, K by blocks, compute dQ = scale dS K, write dQ",
        "Alg.3 line 5: load dS, Q by blocks, compute dK = scale dS^T Q, write dK"};
    dtype_t dt = hbm_dtype(t->q);
    attn_need(t->P, "P", "standard");
    /* dP and dS are intermediates of the backward pass: allocated here, freed here, O(N^2) each. */
    t->dP = hbm_alloc_bhnn(m, "dP", dt, p->B, p->H, p->N);
    t->dS = hbm_alloc_bhnn(m, "dS", dt, p->B, p->H, p->N);
    for (int k = 0; k < BWD_LINES; k++) {
        mem_phase(m, phase[k]);
        mem_note(m, "%s", what[k]);
        attn_run(m, p, t, NULL, p->B * p->H, line[k]);
        if (k == 2) {
            hbm_free(m, t->dP);   /* nothing after line 3 reads dP */
            t->dP = NULL;
        }
    }
    hbm_free(m, t->dS);
    t->dS = NULL;
}

/* ---- closed forms (one head) ---------------------------------------------------------------------------------- */

/* Phase S: for each i, load Qi once and every Kj, write every Sij: Q Nd, K Tr*Nd, S N^2 written. Softmax: read each
 * row of S once if it fits in Si (N <= Br*Bc), else three passes (max, sum, normalize); write P: N^2. PV: for each
 * i, read every Pij and Vj, write Oi: P N^2, V Tr*Nd, O Nd. No causal skipping: all N^2 scores are materialized. */
static void fwd_io(const attn_params *p, attn_io *io)
{
    const uint64_t N = p->N, Tr = ceil_div(p->N, p->Br), Tc = ceil_div(p->N, p->Bc), Nd = N * p->d;
    unsigned passes = N <= (uint64_t)p->Br * p->Bc ? 1 : 3;
    io->softmax_passes = passes;
    /* Work: S = scale Q K^T (2N²d + N²: the scale), O = P V (2N²d). Softmax of a row's U unmasked scores: in one
     * pass max, subtract, sum, divide (4U) and U exps; in three, max (U), subtract and sum (2U, U exps), subtract and
     * divide (2U, U exps). U = N² without the mask, N(N+1)/2 with it. */
    uint64_t NN = attn_mul(N, N), U = p->causal ? N * (N + 1) / 2 : NN;
    io->flops_mm = attn_mul(4 * NN, p->d);
    io->flops_ew = NN + (passes == 1 ? 4 : 5) * U;
    io->exps = (passes == 1 ? 1 : 2) * U;
    attn_io_add(io, "Q", Nd, 0);
    attn_io_add(io, "K", Tr * Nd, 0);
    attn_io_add(io, "V", Tr * Nd, 0);
    attn_io_add(io, "O", 0, Nd);
    attn_io_add(io, "S", passes * N * N, N * N);
    attn_io_add(io, "P", N * N, N * N);
    io->tiles = Tr * Tc;
    io->skipped = 0;
}

/* Lines 1, 4 and 5 of Algorithm 3 (an accumulator over a tile of an N x N tensor and a block of rows of an N x d one):
 * the tile tensor read once in all (NN), the rows read once per block of the other loop (blocks x Nd), the
 * accumulator written once (Nd). */
static void acc_line_io(attn_io *io, const char *tile, const char *rows, uint64_t blocks, const char *acc, uint64_t NN,
                        uint64_t Nd)
{
    attn_io_add(io, tile, NN, 0);
    attn_io_add(io, rows, attn_mul(blocks, Nd), 0);
    attn_io_add(io, acc, 0, Nd);
}

/* Nothing is skipped: P is 0 where masked and dS = P o (...) is 0 there, but every tile is still moved. */
static void bwd_io(const attn_params *p, attn_io *io)
{
    const uint64_t N = p->N, Tr = ceil_div(p->N, p->Br), Tc = ceil_div(p->N, p->Bc);
    const uint64_t Nd = attn_mul(N, p->d), NN = attn_mul(N, N);
    const unsigned passes = Tc == 1 ? 1 : 2;
    io->ds_passes = passes;
    /* Work: four products of 2N²d (lines 1, 2, 4, 5); line 3 D (multiply, add) and dS (subtract, multiply): 4N²;
     * the scale of lines 4 and 5 on each tile's product: nr·d per tile for dQ (Tc·Nd), nc·d for dK (Tr·Nd). */
    io->flops_mm = attn_mul(8 * NN, p->d);
    io->flops_ew = 4 * NN + attn_mul(Tc + Tr, Nd);
    /* line 1: per key block j (Tc of them), every query block i: P_ij (all N^2 once), dO_i (N d per j);
     *         write dV_j (N d in all) */
    acc_line_io(io, "P", "dO", Tc, "dV", NN, Nd);
    /* line 2: per query block i, dO_i once (N d); per (i, j), V_j (N d per i) and a dP_ij store (N^2) */
    attn_io_add(io, "dO", Nd, 0);
    attn_io_add(io, "V", attn_mul(Tr, Nd), 0);
    attn_io_add(io, "dP", 0, NN);
    /* line 3: two passes over every (i, j), P_ij and dP_ij each read twice; one when a row fits; dS_ij written once */
    attn_io_add(io, "P", passes * NN, 0);
    attn_io_add(io, "dP", passes * NN, 0);
    attn_io_add(io, "dS", 0, NN);
    /* line 4: per query block i, every (i, j): dS_ij (N^2 in all) and K_j (N d per i); write dQ_i */
    acc_line_io(io, "dS", "K", Tr, "dQ", NN, Nd);
    /* line 5: per key block j, every (i, j): dS_ij (N^2) and Q_i (N d per j); write dK_j */
    acc_line_io(io, "dS", "Q", Tc, "dK", NN, Nd);
    io->tiles = Tr * Tc;   /* the tile grid; every line walks all of it (line 3 twice, a row that fits once) */
    io->skipped = 0;
}

/* ---- the row -------------------------------------------------------------------------------------------------- */

static void alloc_saved(mem_t *m, const attn_params *p, dtype_t dt, attn_tensors *t)
{
    t->P = hbm_alloc_bhnn(m, "P", dt, p->B, p->H, p->N);   /* S is allocated and freed inside the forward pass */
}

static const char *const alg0[] = {
    "Load Q, K by blocks from HBM, compute S = QK^T, write S to HBM.",
    "Read S from HBM, compute P = softmax(S), write P to HBM.",
    "Load P and V by blocks from HBM, compute O = PV, write O to HBM.",
    "Return O.",
};

static const char *const alg3[] = {
    "Load P, dO by blocks from HBM, compute dV = P^T dO (N x d), write dV to HBM.",
    "Load dO, V by blocks from HBM, compute dP = dO V^T (N x N), write dP to HBM.",
    "Read P, dP from HBM, compute dS (N x N) where dSij = Pij (dPij - sum_l Pil dPil), write dS to HBM.",
    "Load dS and K by blocks from HBM, compute dQ = dS K, write dQ to HBM.",
    "Load dS and Q by blocks from HBM, compute dK = dS^T Q, write dK to HBM.",
    "Return dQ, dK, dV.",
};

const attn_algo_def attn_algo_standard = {
    .name = "standard",
    .alloc_saved = alloc_saved,
    .forward = {.run = forward, .plan = fwd_plan, .sweeps = fwd_sweeps, .closed_form = fwd_io,
                .rule = BLOCK_RULE_KV_OUTER,
                .code = {"Standard attention forward (FlashAttention paper, Algorithm 0)",
                         "Matrices Q, K, V (N x d) in HBM.", alg0, sizeof alg0 / sizeof alg0[0]}},
    .backward = {.run = backward, .plan = bwd_plan, .sweeps = bwd_sweeps, .closed_form = bwd_io,
                 .rule = BLOCK_RULE_KV_OUTER,
                 .code = {"Standard attention backward (FlashAttention paper, Algorithm 3)",
                          "Matrices Q, K, V, dO (N x d), P (N x N) in HBM.", alg3, sizeof alg3 / sizeof alg3[0]}},
};
