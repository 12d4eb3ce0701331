/* Reference solution of hw02 (lessons/homework/hw02_tiling.c): FlashAttention's forward pass, Algorithm 1 of Dao et
 * al. 2022, line by line on the memory model. The outer loop walks key blocks j, the inner loop query blocks i; Oi,
 * li and mi live in HBM between visits, so each (i, j) tile loads them and writes them back. SRAM holds exactly the
 * buffers of attn_sram_plan(ATTN_FLASH1, ...), in its order. lesson04 walks the same lines (sim/model/attn_flash1.c). */
#include <math.h>

#include "homework.h"

/* The subtrahend of e^(s - m): m, or 0 while m is still -inf, so e^(-inf - (-inf)) = NaN is never evaluated. */
static float sub(float m) { return m == -INFINITY ? 0.0f : m; }

static size_t min_size(size_t a, size_t b) { return a < b ? a : b; }

void hw02_flash1_forward(mem_t *m, const attn_params *p, attn_tensors *t)
{
    size_t N = p->N, d = p->d, Br = p->Br, Bc = p->Bc;
    size_t Tr = (N + Br - 1) / Br, Tc = (N + Bc - 1) / Bc;   /* Alg.1 lines 3-4: the last blocks may be ragged */
    float scale = (float)(p->scale ? p->scale : 1.0 / sqrt((double)d));
    dtype_t dt = hbm_dtype(t->q);
    float *Kj = sram_alloc(m, Bc * d, dt, "Kj"), *Vj = sram_alloc(m, Bc * d, dt, "Vj");
    float *Qi = sram_alloc(m, Br * d, dt, "Qi"), *Oi = sram_alloc(m, Br * d, dt, "Oi");
    float *li = sram_alloc(m, Br, DTYPE_FP32, "li"), *mi = sram_alloc(m, Br, DTYPE_FP32, "mi");
    float *Sij = sram_alloc(m, Br * Bc, DTYPE_FP32, "Sij");   /* P~ij overwrites it in place */
    float *mtij = sram_alloc(m, Br, DTYPE_FP32, "m~ij"), *ltij = sram_alloc(m, Br, DTYPE_FP32, "l~ij");
    float *mi_new = sram_alloc(m, Br, DTYPE_FP32, "mi_new"), *li_new = sram_alloc(m, Br, DTYPE_FP32, "li_new");

    for (size_t b = 0; b < p->B; b++)
        for (size_t h = 0; h < p->H; h++) {
            hbm_mat Q = hbm_head(t->q, b, h), K = hbm_head(t->k, b, h), V = hbm_head(t->v, b, h),
                    O = hbm_head(t->out, b, h), l = hbm_head(t->l, b, h), mm = hbm_head(t->m, b, h);
            /* Alg.1 line 2: O = (0)Nxd, l = (0)N, m = (-inf)N in HBM. */
            hbm_fill_rows(m, O, 0, N, 0.0f, "O=0");
            hbm_fill_rows(m, l, 0, N, 0.0f, "l=0");
            hbm_fill_rows(m, mm, 0, N, -INFINITY, "m=-inf");
            for (size_t j = 0; j < Tc; j++) {                         /* Alg.1 line 5 */
                size_t k0 = j * Bc, kc = min_size(Bc, N - k0);
                /* Alg.1 line 6: load Kj, Vj from HBM to on-chip SRAM. */
                hbm_load_rows(m, Kj, K, k0, kc, "Kj");
                hbm_load_rows(m, Vj, V, k0, kc, "Vj");
                for (size_t i = 0; i < Tr; i++) {                     /* Alg.1 line 7 */
                    size_t q0 = i * Br, qr = min_size(Br, N - q0);
                    /* Alg.1 line 8: load Qi, Oi, li, mi from HBM to on-chip SRAM. */
                    hbm_load_rows(m, Qi, Q, q0, qr, "Qi");
                    hbm_load_rows(m, Oi, O, q0, qr, "Oi");
                    hbm_load_rows(m, li, l, q0, qr, "li");
                    hbm_load_rows(m, mi, mm, q0, qr, "mi");
                    /* Alg.1 line 9: Sij = scale Qi Kj^T. */
                    for (size_t r = 0; r < qr; r++)
                        for (size_t c = 0; c < kc; c++) {
                            float acc = 0.0f;
                            for (size_t x = 0; x < d; x++)
                                acc += Qi[r * d + x] * Kj[c * d + x];
                            Sij[r * kc + c] = scale * acc;
                        }
                    mem_compute(m, "Alg.1 9: Sij = Qi Kj^T", 2 * (uint64_t)qr * kc * d, 0);
                    /* Alg.1 line 10: m~ij = rowmax(Sij), P~ij = exp(Sij - m~ij), l~ij = rowsum(P~ij). */
                    for (size_t r = 0; r < qr; r++) {
                        float mx = -INFINITY, sum = 0.0f;
                        for (size_t c = 0; c < kc; c++)
                            mx = fmaxf(mx, Sij[r * kc + c]);
                        for (size_t c = 0; c < kc; c++)
                            sum += (Sij[r * kc + c] = expf(Sij[r * kc + c] - sub(mx)));
                        mtij[r] = mx;
                        ltij[r] = sum;
                    }
                    mem_compute(m, "Alg.1 10: m~ij P~ij l~ij", 0, (uint64_t)qr * kc);
                    /* Alg.1 line 11: mi_new = max(mi, m~ij), li_new = e^(mi - mi_new) li + e^(m~ij - mi_new) l~ij.
                     * Alg.1 line 12: Oi = diag(li_new)^-1 (diag(li) e^(mi - mi_new) Oi + e^(m~ij - mi_new) P~ij Vj). */
                    for (size_t r = 0; r < qr; r++) {
                        mi_new[r] = fmaxf(mi[r], mtij[r]);
                        float a = expf(mi[r] - sub(mi_new[r])), e = expf(mtij[r] - sub(mi_new[r]));
                        li_new[r] = a * li[r] + e * ltij[r];
                        for (size_t x = 0; x < d; x++) {
                            float pv = 0.0f;
                            for (size_t c = 0; c < kc; c++)
                                pv += Sij[r * kc + c] * Vj[c * d + x];
                            Oi[r * d + x] = (li[r] * a * Oi[r * d + x] + e * pv) / li_new[r];
                        }
                    }
                    mem_compute(m, "Alg.1 11-12: mi_new li_new Oi", 2 * (uint64_t)qr * kc * d, 2 * (uint64_t)qr);
                    /* Alg.1 lines 12-13: write Oi, and li = li_new, mi = mi_new, to HBM. */
                    hbm_store_rows(m, O, q0, qr, Oi, "Oi");
                    hbm_store_rows(m, l, q0, qr, li_new, "li");
                    hbm_store_rows(m, mm, q0, qr, mi_new, "mi");
                }
            }
        }
    float *all[] = {li_new, mi_new, ltij, mtij, Sij, mi, li, Oi, Qi, Vj, Kj};
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
        sram_free(m, all[k]);
}
