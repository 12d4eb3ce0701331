/* A student's hw05 that skips the causal key blocks but forgets to mask inside the diagonal tiles.
 * expect: NOT PASSING
 * expect-output: inside the tiles that are visited nothing is masked
 * expect-runtime: -
 */
#include <math.h>

#include "homework.h"

/* The subtrahend of e^(s - m): m, or 0 while m is still -inf, so e^(-inf - (-inf)) = NaN is never evaluated. */
static float sub(float m) { return m == -INFINITY ? 0.0f : m; }

static size_t min_size(size_t a, size_t b) { return a < b ? a : b; }

void hw05_flash2_forward(mem_t *m, const attn_params *p, attn_tensors *t)
{
    size_t N = p->N, d = p->d, Br = p->Br, Bc = p->Bc;
    size_t Tr = (N + Br - 1) / Br, Tc = (N + Bc - 1) / Bc;   /* Alg.1 lines 1-2: the last blocks may be ragged */
    float scale = (float)(p->scale ? p->scale : 1.0 / sqrt((double)d));
    dtype_t dt = hbm_dtype(t->q);
    float *Qi = sram_alloc(m, Br * d, dt, "Qi"), *Kj = sram_alloc(m, Bc * d, dt, "Kj");
    float *Vj = sram_alloc(m, Bc * d, dt, "Vj");
    float *Sij = sram_alloc(m, Br * Bc, DTYPE_FP32, "Sij");   /* P~ij overwrites it in place */
    float *Oi = sram_alloc(m, Br * d, DTYPE_FP32, "Oi");      /* the unnormalized accumulator */
    float *mi = sram_alloc(m, Br, DTYPE_FP32, "mi"), *li = sram_alloc(m, Br, DTYPE_FP32, "li");

    for (size_t b = 0; b < p->B; b++)
        for (size_t h = 0; h < p->H; h++) {
            hbm_mat Q = hbm_head(t->q, b, h), K = hbm_head(t->k, b, h), V = hbm_head(t->v, b, h),
                    O = hbm_head(t->out, b, h), L = hbm_head(t->lse, b, h);
            for (size_t i = 0; i < Tr; i++) {                         /* FA2 Alg.1 line 3 */
                size_t q0 = i * Br, qr = min_size(Br, N - q0);
                /* FA2 line 4: load Qi from HBM to on-chip SRAM. */
                hbm_load_rows(m, Qi, Q, q0, qr, "Qi");
                /* FA2 line 5: on chip, Oi = (0)Br x d, li = (0)Br, mi = (-inf)Br. */
                for (size_t r = 0; r < qr; r++) {
                    mi[r] = -INFINITY;
                    li[r] = 0.0f;
                    for (size_t x = 0; x < d; x++)
                        Oi[r * d + x] = 0.0f;
                }
                for (size_t j = 0; j < Tc; j++) {                     /* FA2 line 6 */
                    size_t k0 = j * Bc, kc = min_size(Bc, N - k0);
                    if (p->causal && k0 > q0 + qr - 1)                /* every key after every query: skip the rest */
                        break;
                    /* FA2 line 7: load Kj, Vj from HBM to on-chip SRAM. */
                    hbm_load_rows(m, Kj, K, k0, kc, "Kj");
                    hbm_load_rows(m, Vj, V, k0, kc, "Vj");
                    /* FA2 line 8: Sij = scale Qi Kj^T, masked scores (key after query) -inf. */
                    for (size_t r = 0; r < qr; r++)
                        for (size_t c = 0; c < kc; c++) {
                            float acc = 0.0f;
                            for (size_t x = 0; x < d; x++)
                                acc += Qi[r * d + x] * Kj[c * d + x];
                            Sij[r * kc + c] = scale * acc;   /* the mistake: no mask inside the tile */
                        }
                    mem_compute(m, "FA2 8: Sij = Qi Kj^T", 2 * (uint64_t)qr * kc * d, 0);
                    /* FA2 line 9:  mi_new = max(mi, rowmax(Sij)), P~ij = exp(Sij - mi_new),
                     *              li = e^(mi - mi_new) li + rowsum(P~ij).
                     * FA2 line 10: Oi = diag(e^(mi - mi_new)) Oi + P~ij Vj (not divided by li: delayed rescaling). */
                    for (size_t r = 0; r < qr; r++) {
                        float m_new = mi[r], sum = 0.0f;
                        for (size_t c = 0; c < kc; c++)
                            m_new = fmaxf(m_new, Sij[r * kc + c]);
                        float alpha = expf(mi[r] - sub(m_new));
                        for (size_t c = 0; c < kc; c++)
                            sum += (Sij[r * kc + c] = expf(Sij[r * kc + c] - sub(m_new)));
                        li[r] = alpha * li[r] + sum;
                        for (size_t x = 0; x < d; x++) {
                            float pv = 0.0f;
                            for (size_t c = 0; c < kc; c++)
                                pv += Sij[r * kc + c] * Vj[c * d + x];
                            Oi[r * d + x] = alpha * Oi[r * d + x] + pv;
                        }
                        mi[r] = m_new;
                    }
                    mem_compute(m, "FA2 9-10: mi li P~ij, Oi", 2 * (uint64_t)qr * kc * d, (uint64_t)qr * (kc + 1));
                }
                /* FA2 line 12: Oi = diag(li)^-1 Oi.  Line 13: Li = mi + log(li), kept in mi's buffer. */
                for (size_t r = 0; r < qr; r++) {
                    for (size_t x = 0; x < d; x++)
                        Oi[r * d + x] /= li[r];
                    mi[r] += logf(li[r]);
                }
                /* FA2 lines 14-15: write Oi and Li to HBM, once. */
                hbm_store_rows(m, O, q0, qr, Oi, "Oi");
                hbm_store_rows(m, L, q0, qr, mi, "Li");
            }
        }
    float *all[] = {li, mi, Oi, Sij, Vj, Kj, Qi};
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
        sram_free(m, all[k]);
}
