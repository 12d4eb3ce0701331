/* attn_flash2.c — FlashAttention-2 forward, Algorithm 1 of Dao 2023.
 *
 * The loops are swapped against FlashAttention-1: the outer loop walks query blocks i, the inner loop key/value
 * blocks j. Qi is loaded once; Oi, li, mi stay on chip for the whole row block, and Oi stays *unnormalized*
 * (delayed rescaling): each step only multiplies it by e^(m_old - m_new); it is divided by li once, at the end.
 * Oi and the log-sum-exp Li = mi + log li are written to HBM once. No row block reads what another one writes,
 * so (batch, head, query block) triples are independent pieces of work and run in parallel.
 *
 * Br, Bc come from attn_choose_blocks: the paper's rule transposed (Br = ⌈M/4d⌉, Bc = min(Br, d)), because here the
 * resident block is Qi and K, V stream past it once per query block, so the query block is the one to make big.
 *
 * Causal: key blocks after the row block's last query are skipped (the inner loop stops early). Inside a visited
 * tile masked scores are -inf; every row has its own key 0 unmasked in the first block, so mi is finite from then
 * on and a row masked entirely in a later tile just gets P~ = 0 and a rescale factor of 1. The subtrahend guard
 * (0 in place of -inf) keeps e^(-inf - (-inf)) from ever being evaluated anyway.
 */
#include <math.h>

#include "attn_internal.h"
#include "util.h"

static inline float sub(float m) { return m == -INFINITY ? 0.0f : m; }

static void flash2_block(mem_t *m, const attn_params *p, attn_tensors *t, float *const *buf, size_t item)
{
    size_t N = p->N, d = p->d, Br = p->Br, Bc = p->Bc, Tr = ceil_div(N, Br), Tc = ceil_div(N, Bc);
    size_t i = item % Tr, b = item / Tr / p->H, h = item / Tr % p->H;
    size_t q0 = i * Br, qr = min_size(Br, N - q0);
    hbm_mat Q = hbm_head(t->q, b, h), K = hbm_head(t->k, b, h), V = hbm_head(t->v, b, h),
            O = hbm_head(t->out, b, h), L = hbm_head(t->lse, b, h);
    float *Qi = buf[F2_Qi], *Kj = buf[F2_Kj], *Vj = buf[F2_Vj], *Sij = buf[F2_Sij], *Oi = buf[F2_Oi],
          *mi = buf[F2_mi], *li = buf[F2_li];
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
        size_t k0 = j * Bc, kc = min_size(Bc, N - k0);
        if (attn_tile_skipped(p, i, j)) {                               /* causal: this and every later block */
            for (; j < Tc; j++)
                mem_step(m, (long)i, (long)j, ATTN_STEP_SKIP);
            break;
        }
        mem_step(m, (long)i, (long)j, "FA2 lines 7-10");
        /* FA2 Alg.1 line 7: load Kj, Vj from HBM to on-chip SRAM. */
        mem_note(m, "FA2 line 7: load K%zu, V%zu (rows %zu..%zu)", j, j, k0, k0 + kc - 1);
        hbm_load_rows(m, Kj, K, k0, kc, "Kj");
        hbm_load_rows(m, Vj, V, k0, kc, "Vj");

        /* FA2 Alg.1 line 8: Sij = scale Qi Kj^T, masked scores -inf. */
        if (real)
            for (size_t r = 0; r < qr; r++)
                for (size_t c = 0; c < kc; c++) {
                    float acc = 0;
                    for (size_t x = 0; x < d; x++)
                        acc += Qi[r * d + x] * Kj[c * d + x];
                    Sij[r * kc + c] = p->causal && k0 + c > q0 + r ? -INFINITY : scale * acc;
                }
        mem_compute(m, "FA2 8: Sij = Qi Kj^T", 2 * (uint64_t)qr * kc * d, 0);

        /* FA2 Alg.1 line 9:  m_new = max(mi, rowmax(Sij)), P~ij = exp(Sij - m_new), li = e^(mi - m_new) li + rowsum P~ij.
         * FA2 Alg.1 line 10: Oi = diag(e^(mi - m_new)) Oi + P~ij Vj  (not divided by li: delayed rescaling).
         * Row by row, so m_new and the factor e^(mi - m_new) are per-row scalars (registers). */
        if (real)
            for (size_t r = 0; r < qr; r++) {
                float m_new = mi[r], sum = 0;
                for (size_t c = 0; c < kc; c++)
                    m_new = fmaxf(m_new, Sij[r * kc + c]);
                float alpha = expf(mi[r] - sub(m_new));
                for (size_t c = 0; c < kc; c++)
                    sum += (Sij[r * kc + c] = expf(Sij[r * kc + c] - sub(m_new)));
                li[r] = alpha * li[r] + sum;
                for (size_t x = 0; x < d; x++) {
                    float pv = 0;
                    for (size_t c = 0; c < kc; c++)
                        pv += Sij[r * kc + c] * Vj[c * d + x];
                    Oi[r * d + x] = alpha * Oi[r * d + x] + pv;
                }
                mi[r] = m_new;
            }
        mem_compute(m, "FA2 9: mi P~ij li", 0, (uint64_t)qr * kc + qr);
        mem_compute(m, "FA2 10: Oi = a Oi + P~ij Vj", 2 * (uint64_t)qr * kc * d, 0);
    }

    /* FA2 Alg.1 line 12: Oi = diag(li)^-1 Oi.  Line 13: Li = mi + log(li), kept in mi's buffer.
     * li = 0 only for a row that saw no unmasked key (not possible with top-left causal masking): O = 0, L = -inf. */
    if (real)
        for (size_t r = 0; r < qr; r++) {
            for (size_t x = 0; x < d; x++)
                Oi[r * d + x] = li[r] > 0 ? Oi[r * d + x] / li[r] : 0.0f;
            mi[r] = li[r] > 0 ? mi[r] + logf(li[r]) : -INFINITY;
        }
    mem_compute(m, "FA2 12-13: Oi /= li, Li", 0, 0);
    /* FA2 Alg.1 lines 14-15: write Oi and Li to HBM, once. */
    mem_note(m, "FA2 lines 14-15: write O%zu, L%zu to HBM, once", i, i);
    hbm_store_rows(m, O, q0, qr, Oi, "Oi");
    hbm_store_rows(m, L, q0, qr, mi, "Li");
}

void flash2_forward(mem_t *m, const attn_params *p, attn_tensors *t)
{
    sram_plan plan;
    attn_sram_plan(ATTN_FLASH2, false, p->Br, p->Bc, p->d, hbm_dtype(t->q), &plan);
    mem_phase(m, "forward");
    attn_run(m, p, t, &plan, p->B * p->H * ceil_div(p->N, p->Br), flash2_block);
}
