/* attn_standard.c — Algorithm 0, standard attention, honest under the SRAM limit.
 *
 * The paper's Algorithm 0 as three kernels, each tiled to fit in SRAM, each handing its result to the next through
 * HBM (attention.h lists each phase's buffers):
 *   phase "S"        S = scale Q K^T tile by tile (Qi, Kj -> Sij), written to HBM (B, H, N, N) in the storage dtype,
 *                    like PyTorch's fp16 matmul output
 *   phase "softmax"  each row of S read back, P = softmax(S) written; causal masking is applied here
 *   phase "PV"       O = P V tile by tile (Pij, Vj -> Oi)
 * A row of S fits in the softmax's buffer when N <= Br*Bc: one read. Otherwise safe softmax streams it in chunks,
 * three passes (max, sum, normalize), and reads S three times. No causal skipping: standard attention still
 * materializes and reads all N^2 scores, masked or not. S is freed after the softmax (so mem_hbm_peak is honest);
 * P stays in HBM for the backward pass.
 */
#include <math.h>

#include "attn_internal.h"
#include "util.h"

/* Phase S, one head: for each Qi, stream every Kj; Sij = scale Qi Kj^T in fp32, stored rounded to the dtype. */
static void s_head(mem_t *m, const attn_params *p, attn_tensors *t, float *const *buf, size_t item)
{
    size_t b = item / p->H, h = item % p->H, N = p->N, d = p->d;
    hbm_mat Q = hbm_head(t->q, b, h), K = hbm_head(t->k, b, h), S = hbm_head(t->S, b, h);
    float *Qi = buf[STD_S_Qi], *Kj = buf[STD_S_Kj], *Sij = buf[STD_S_Sij];
    float scale = attn_scale(p);
    bool real = !mem_count_only(m);

    for (size_t i = 0, q0 = 0; q0 < N; i++, q0 += p->Br) {
        size_t qr = min_size(p->Br, N - q0);
        hbm_load_rows(m, Qi, Q, q0, qr, "Qi");
        for (size_t j = 0, k0 = 0; k0 < N; j++, k0 += p->Bc) {
            size_t kc = min_size(p->Bc, N - k0);
            mem_step(m, (long)i, (long)j, "S tile");
            hbm_load_rows(m, Kj, K, k0, kc, "Kj");
            if (real)
                for (size_t r = 0; r < qr; r++)
                    for (size_t c = 0; c < kc; c++) {
                        float acc = 0;
                        for (size_t x = 0; x < d; x++)
                            acc += Qi[r * d + x] * Kj[c * d + x];
                        Sij[r * kc + c] = scale * acc;
                    }
            mem_compute(m, "Sij = scale Qi Kj^T", 2 * (uint64_t)qr * kc * d, 0);
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
    float *Si = buf[STD_SM_Si];
    bool real = !mem_count_only(m);

    for (size_t q = 0; q < N; q++) {
        size_t keys = p->causal ? q + 1 : N;   /* unmasked keys of this row: the diagonal is never masked */
        if (N <= C) {
            /* The whole row fits: one read of S, one write of P. */
            hbm_load_tile(m, Si, S, q, 1, 0, N, "Si");
            if (real) {
                float mx = -INFINITY, sum = 0;
                for (size_t c = 0; c < keys; c++)
                    mx = fmaxf(mx, Si[c]);
                for (size_t c = 0; c < N; c++)
                    sum += (Si[c] = c < keys ? expf(Si[c] - mx) : 0.0f);  /* mx is subtracted only for stability */
                for (size_t c = 0; c < N; c++)
                    Si[c] /= sum;
            }
            mem_compute(m, "P = softmax(S) row", 0, keys);
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
                for (size_t c = 0; c < cc && c0 + c < keys; c++)
                    mx = fmaxf(mx, Si[c]);
        }
        for (size_t c0 = 0; c0 < N; c0 += C) {                   /* pass 2: the sum of exponentials */
            size_t cc = min_size(C, N - c0);
            hbm_load_tile(m, Si, S, q, 1, c0, cc, "Si");
            if (real)
                for (size_t c = 0; c < cc; c++)
                    sum += c0 + c < keys ? expf(Si[c] - mx) : 0.0f;
            mem_compute(m, "sum exp(S - max)", 0, unmasked(c0, cc, keys));
        }
        for (size_t c0 = 0; c0 < N; c0 += C) {                   /* pass 3: normalize and write P */
            size_t cc = min_size(C, N - c0);
            hbm_load_tile(m, Si, S, q, 1, c0, cc, "Si");
            if (real)
                for (size_t c = 0; c < cc; c++)
                    Si[c] = c0 + c < keys ? expf(Si[c] - mx) / sum : 0.0f;
            mem_compute(m, "P = exp(S - max) / sum", 0, unmasked(c0, cc, keys));
            hbm_store_tile(m, P, q, 1, c0, cc, Si, "Pi");
        }
    }
}

/* Phase PV, one head: for each query block, Oi = sum over j of Pij Vj in fp32, written once. */
static void pv_head(mem_t *m, const attn_params *p, attn_tensors *t, float *const *buf, size_t item)
{
    size_t b = item / p->H, h = item % p->H, N = p->N, d = p->d;
    hbm_mat P = hbm_head(t->P, b, h), V = hbm_head(t->v, b, h), O = hbm_head(t->out, b, h);
    float *Pij = buf[STD_PV_Pij], *Vj = buf[STD_PV_Vj], *Oi = buf[STD_PV_Oi];
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
            if (real)   /* summed key by key into Oi, in key order, like one plain dot product over all N keys */
                for (size_t r = 0; r < qr; r++)
                    for (size_t x = 0; x < d; x++)
                        for (size_t c = 0; c < kc; c++)
                            Oi[r * d + x] += Pij[r * kc + c] * Vj[c * d + x];
            mem_compute(m, "Oi += Pij Vj", 2 * (uint64_t)qr * kc * d, 0);
        }
        hbm_store_rows(m, O, q0, qr, Oi, "Oi");
    }
}

void standard_forward(mem_t *m, const attn_params *p, attn_tensors *t)
{
    static const attn_item_fn phase_fn[ATTN_STANDARD_PHASES] = {s_head, softmax_head, pv_head};
    dtype_t dt = hbm_dtype(t->q);
    size_t heads = p->B * p->H;

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
